// Package httpapi is bucketdesk's REST API (docs/api.md) as one
// http.Handler: the same handler serves the local binary and, on AWS, runs
// in Lambda behind API Gateway.
//
// It owns routing (one route table, from which the mux, the 405 answers
// and the OpenAPI test are all derived), bearer-token authentication of
// /api/*, request decoding, RFC 9457 problem+json answers through the one
// error → status table (statusOf), the access log and the /metrics
// exposition. It holds no domain logic: every request is one call of the
// Service it is given (the engine's, wired by internal/setup).
package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"bucketdesk/internal/core"
)

// Authenticator verifies a bearer token and tells who presented it
// (auth.Verifier). A bad token is an error wrapping core.ErrUnauthenticated.
type Authenticator interface {
	Verify(ctx context.Context, token string) (core.Principal, error)
}

// LoginFunc checks a username and password and issues a token
// (auth.Login.Login). Bad credentials wrap core.ErrUnauthenticated; too
// many failures wrap core.ErrThrottled and may carry a
// *core.RetryAfterError, whose Wait becomes the Retry-After.
type LoginFunc func(ctx context.Context, username, password, clientAddr string) (token string, expiresIn time.Duration, user string, err error)

// RefreshingLoginFunc is a LoginFunc that also answers how the web UI
// renews the session without the password (auth.CognitoLogin.LoginWithRefresh).
type RefreshingLoginFunc func(ctx context.Context, username, password, clientAddr string) (token string, expiresIn time.Duration, user string, refresh *core.SessionRefresh, err error)

// TicketIssuer issues single-use WebSocket tickets (auth.Tickets).
type TicketIssuer interface {
	Issue(ctx context.Context, who core.Principal, projects []string) (string, time.Duration, error)
}

// Service is what the API asks of the engine: reads from the cache and
// writes accepted as operations, each checked against the caller's
// projects. engine.Service implements it.
type Service interface {
	Projects(ctx context.Context, who core.Principal) ([]*core.Project, error)
	Project(ctx context.Context, who core.Principal, id string) (*core.Project, error)
	List(ctx context.Context, who core.Principal, project string, kind core.Kind) ([]*core.Resource, error)
	Versions(ctx context.Context, who core.Principal, project string) ([]core.ItemVersion, error)
	Get(ctx context.Context, who core.Principal, project string, kind core.Kind, name string) (*core.Resource, error)
	Operation(ctx context.Context, who core.Principal, id string) (*core.Operation, error)
	Operations(ctx context.Context, who core.Principal, project string, page core.Page) ([]*core.Operation, string, error)
	Create(ctx context.Context, who core.Principal, project string, spec core.Spec) (*core.Operation, error)
	Update(ctx context.Context, who core.Principal, project string, spec core.Spec, ifMatch int64) (*core.Operation, error)
	Delete(ctx context.Context, who core.Principal, project string, kind core.Kind, name string, ifMatch int64) (*core.Operation, error)
	RotateKey(ctx context.Context, who core.Principal, project, name string, slot int, ifMatch int64) (*core.Operation, error)
	RevealKey(ctx context.Context, who core.Principal, project, user string, key int) (accessKeyID, secret string, err error)
}

// Options configure the handler. Service and Auth are required.
type Options struct {
	Service Service
	Auth    Authenticator
	// Login serves POST /auth/login; nil (on AWS, where Cognito logs users
	// in) leaves the route out.
	Login LoginFunc
	// LoginWithRefresh, when set, serves POST /auth/login instead of
	// Login, its answer with the refresh that renews the session (on AWS,
	// Cognito's refresh token).
	LoginWithRefresh RefreshingLoginFunc
	// JWKS is served at /.well-known/jwks.json; nil leaves the route out.
	JWKS []byte
	// Tickets serves POST /api/ws-ticket; nil leaves the route out.
	Tickets TicketIssuer
	// Admin serves /api/admin/…, the administrators' routes; nil leaves
	// them out.
	Admin AdminService
	// LocalUsers serves /api/admin/users/…, the administrators' routes
	// for the logins the server manages itself (the local binary's users
	// file); nil (on AWS, where Cognito holds the users) leaves them out.
	LocalUsers LocalUsers
	// Sandbox serves the dev-only routes of the local binary that put
	// objects into a project's buckets and empty them; nil (on AWS) leaves
	// them out.
	Sandbox SandboxObjects
	// Links serves the one-time share links: the managers' routes under
	// /api/projects/{p}/users/{name}/links and the recipient's page under
	// /s/; nil leaves them out.
	Links ShareLinks
	// Ready is the readiness probe (the store answers); nil is always
	// ready.
	Ready func(ctx context.Context) error
	// Metrics write extra Prometheus text (such as WebSocket statistics)
	// after the HTTP metrics on /metrics.
	Metrics []func(w io.Writer)
	// Logger receives the access log and the causes of 5xx answers;
	// nil discards them.
	Logger *slog.Logger
	// MaxBody limits request bodies (default 64 KiB).
	MaxBody int64
	// TrustProxyHeaders takes the client's address (for the login rate
	// limiter and the audit trail) from the last X-Forwarded-For entry
	// (the one the trusted proxy added) instead of the connection's peer.
	TrustProxyHeaders bool
	// Auditor records logins, successful or not, in the portal's trail
	// (core.PortalProject); nil records none.
	Auditor core.Auditor
	// AuditTrail serves the audit routes (docs/api.md, "Audit trail"); nil
	// leaves them out.
	AuditTrail AuditTrail
}

// DefaultMaxBody is the request body limit of docs/api.md.
const DefaultMaxBody = 64 << 10

// server holds what the handlers share.
type server struct {
	svc     Service
	opts    Options
	log     *slog.Logger
	metrics *metrics
	lists   listCache
}

// handlerFunc is a route's handler: it writes a success answer or returns
// the error that fail turns into a problem.
type handlerFunc func(s *server, w http.ResponseWriter, r *http.Request) error

// route is one row of the route table.
type route struct {
	method string
	path   string
	// public routes need no bearer token.
	public bool
	// enabled says whether the options provide what the route needs; nil
	// means always.
	enabled func(o *Options) bool
	handle  handlerFunc
}

// pattern is the route's http.ServeMux pattern and its metrics label.
func (rt route) pattern() string { return rt.method + " " + rt.path }

// routes is the route table: the mux, the Allow headers of 405 answers and
// the OpenAPI test all come from it.
func routes() []route {
	hasLogin := func(o *Options) bool { return o.Login != nil || o.LoginWithRefresh != nil }
	hasJWKS := func(o *Options) bool { return o.JWKS != nil }
	hasTickets := func(o *Options) bool { return o.Tickets != nil }
	hasSandbox := func(o *Options) bool { return o.Sandbox != nil }
	hasAudit := func(o *Options) bool { return o.AuditTrail != nil }
	hasLinks := func(o *Options) bool { return o.Links != nil }
	hasAdmin := func(o *Options) bool { return o.Admin != nil }
	hasLocalUsers := func(o *Options) bool { return o.LocalUsers != nil }
	return []route{
		{method: "GET", path: "/healthz", public: true, handle: (*server).healthz},
		{method: "GET", path: "/readyz", public: true, handle: (*server).readyz},
		{method: "GET", path: "/metrics", public: true, handle: (*server).serveMetrics},
		{method: "GET", path: "/api/openapi.yaml", public: true, handle: (*server).openAPI},
		{method: "POST", path: "/auth/login", public: true, enabled: hasLogin, handle: (*server).login},
		{method: "GET", path: "/.well-known/jwks.json", public: true, enabled: hasJWKS, handle: (*server).jwks},

		{method: "GET", path: "/api/me", handle: (*server).me},
		{method: "GET", path: "/api/projects", handle: (*server).projects},
		{method: "GET", path: "/api/projects/{p}", handle: (*server).project},

		{method: "GET", path: "/api/projects/{p}/buckets", handle: list(core.KindBucket)},
		{method: "POST", path: "/api/projects/{p}/buckets", handle: create(core.KindBucket)},
		{method: "GET", path: "/api/projects/{p}/buckets/{name}", handle: get(core.KindBucket)},
		{method: "PUT", path: "/api/projects/{p}/buckets/{name}", handle: update(core.KindBucket)},
		{method: "DELETE", path: "/api/projects/{p}/buckets/{name}", handle: remove(core.KindBucket)},

		{method: "GET", path: "/api/projects/{p}/users", handle: list(core.KindUser)},
		{method: "POST", path: "/api/projects/{p}/users", handle: create(core.KindUser)},
		{method: "GET", path: "/api/projects/{p}/users/{name}", handle: get(core.KindUser)},
		{method: "PUT", path: "/api/projects/{p}/users/{name}", handle: update(core.KindUser)},
		{method: "DELETE", path: "/api/projects/{p}/users/{name}", handle: remove(core.KindUser)},
		{method: "POST", path: "/api/projects/{p}/users/{name}/keys", handle: (*server).rotateKey},
		{method: "POST", path: "/api/projects/{p}/users/{name}/keys/{key}/reveal", handle: (*server).revealKey},

		{method: "GET", path: "/api/projects/{p}/users/{name}/links", enabled: hasLinks, handle: (*server).links},
		{method: "POST", path: "/api/projects/{p}/users/{name}/links", enabled: hasLinks, handle: (*server).createLink},
		{method: "POST", path: "/api/projects/{p}/users/{name}/links/{id}/revoke", enabled: hasLinks, handle: (*server).revokeLink},
		{method: "GET", path: "/s/{token}", public: true, enabled: hasLinks, handle: secretPage((*server).sharePageGet)},
		{method: "POST", path: "/s/{token}/open", public: true, enabled: hasLinks, handle: secretPage((*server).sharePageOpen)},
		{method: "GET", path: "/s/_/share.js", public: true, enabled: hasLinks, handle: secretPage(shareAsset("share.js", "text/javascript; charset=utf-8"))},
		{method: "GET", path: "/s/_/share.css", public: true, enabled: hasLinks, handle: secretPage(shareAsset("share.css", "text/css; charset=utf-8"))},

		{method: "GET", path: "/api/projects/{p}/operations", handle: (*server).operations},
		{method: "GET", path: "/api/operations/{id}", handle: (*server).operation},
		{method: "POST", path: "/api/ws-ticket", enabled: hasTickets, handle: (*server).wsTicket},
		{method: "GET", path: "/api/projects/{p}/audit", enabled: hasAudit, handle: (*server).audit},
		{method: "GET", path: "/api/audit", enabled: hasAudit, handle: (*server).audit},

		{method: "GET", path: "/api/admin/projects", enabled: hasAdmin, handle: adminOnly((*server).adminProjects)},
		{method: "POST", path: "/api/admin/projects", enabled: hasAdmin, handle: adminOnly((*server).adminRegister)},
		{method: "GET", path: "/api/admin/projects/{p}", enabled: hasAdmin, handle: adminOnly((*server).adminProject)},
		{method: "PUT", path: "/api/admin/projects/{p}", enabled: hasAdmin, handle: adminOnly((*server).adminUpdate)},
		{method: "DELETE", path: "/api/admin/projects/{p}", enabled: hasAdmin, handle: adminOnly((*server).adminRetire)},
		{method: "POST", path: "/api/admin/projects/{p}/members", enabled: hasAdmin, handle: adminOnly((*server).adminMembers)},
		{method: "GET", path: "/api/admin/users", enabled: hasLocalUsers, handle: adminOnly((*server).adminUsers)},
		{method: "POST", path: "/api/admin/users", enabled: hasLocalUsers, handle: adminOnly((*server).adminAddUser)},
		{method: "PUT", path: "/api/admin/users/{name}/password", enabled: hasLocalUsers, handle: adminOnly((*server).adminUserPassword)},
		{method: "POST", path: "/api/admin/users/{name}/disable", enabled: hasLocalUsers, handle: adminOnly(adminUserDisabled(true))},
		{method: "POST", path: "/api/admin/users/{name}/enable", enabled: hasLocalUsers, handle: adminOnly(adminUserDisabled(false))},

		{method: "GET", path: "/api/projects/{p}/sandbox/buckets/{name}/objects", enabled: hasSandbox, handle: (*server).sandboxObjects},
		{method: "POST", path: "/api/projects/{p}/sandbox/buckets/{name}/objects", enabled: hasSandbox, handle: (*server).sandboxPutObject},
		{method: "DELETE", path: "/api/projects/{p}/sandbox/buckets/{name}/objects", enabled: hasSandbox, handle: (*server).sandboxDeleteObjects},
	}
}

// New returns the API as one handler. It panics when Service or Auth is
// missing, which is a wiring bug.
func New(o Options) http.Handler {
	if o.Service == nil || o.Auth == nil {
		panic("httpapi.New: Service and Auth are required")
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &server{svc: o.Service, opts: o, log: log}

	var table []route
	for _, rt := range routes() {
		if rt.enabled == nil || rt.enabled(&o) {
			table = append(table, rt)
		}
	}
	// Paths in first-seen order with their methods, for the 405 answers.
	var paths []string
	allowed := map[string][]string{}
	for _, rt := range table {
		if allowed[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		allowed[rt.path] = append(allowed[rt.path], rt.method)
	}
	const notFoundAPI, notFoundOther = "/api/", "/"
	labels := []string{notFoundAPI, notFoundOther}
	for _, rt := range table {
		labels = append(labels, rt.pattern())
	}
	for _, p := range paths {
		labels = append(labels, p)
	}
	s.metrics = newMetrics(labels)

	mux := http.NewServeMux()
	for _, rt := range table {
		h := rt.handle
		if !rt.public {
			h = authenticated(h)
		}
		mux.Handle(rt.pattern(), s.instrument(rt.pattern(), h))
	}
	// A pattern without a method is less specific than the same path with
	// one, so these catch exactly the other methods.
	for _, p := range paths {
		mux.Handle(p, s.instrument(p, methodNotAllowed(allowed[p])))
	}
	mux.Handle(notFoundAPI, s.instrument(notFoundAPI, notFound))
	mux.Handle(notFoundOther, s.instrument(notFoundOther, notFound))
	return withHeaders(mux)
}

// withHeaders sets the headers every answer carries before next (even the
// mux's own redirects) writes it: X-Content-Type-Options: nosniff on all,
// and Cache-Control: no-store on /api/…, /auth/… and /s/…, errors included (a
// handler may set a different Cache-Control, as the JWKS does).
func withHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if noStore(r.URL.Path) {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// noStore says whether answers on path must not be stored by any cache:
// those of the API, of logins and of share links.
func noStore(path string) bool {
	for _, p := range []string{"/api", "/auth", "/s"} {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// methodNotAllowed answers 405 with the Allow header of a path.
func methodNotAllowed(methods []string) handlerFunc {
	allow := append([]string(nil), methods...)
	for _, m := range methods {
		if m == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
	}
	header := strings.Join(allow, ", ")
	return func(s *server, w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", header)
		return kindError(errMethod, "%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, header)
	}
}

// notFound answers every path no route matches.
func notFound(s *server, w http.ResponseWriter, r *http.Request) error {
	return kindError(core.ErrNotFound, "no route %s", r.URL.Path)
}
