package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"bucketdesk/internal/core"
)

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%w: encode answer: %v", core.ErrInternal, err)
	}
	writeJSONBytes(w, status, b)
	return nil
}

// writeJSONBytes writes an encoded JSON answer.
func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	writeJSONParts(w, status, b, newline)
}

var newline = []byte{'\n'}

// writeJSONParts sends parts, one after the other, as a JSON answer (or
// its encoding, when the caller set Content-Encoding).
func writeJSONParts(w http.ResponseWriter, status int, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(n))
	w.WriteHeader(status)
	for _, p := range parts {
		w.Write(p)
	}
}

// healthz answers the liveness probe.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers the readiness probe: the store answers.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Ready != nil {
		if err := s.opts.Ready(r.Context()); err != nil {
			s.log.WarnContext(r.Context(), "not ready", "err", err)
			return kindError(core.ErrUnavailable, "not ready")
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// openAPI serves the embedded OpenAPI document.
func (s *server) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Content-Length", strconv.Itoa(len(OpenAPI)))
	w.WriteHeader(http.StatusOK)
	w.Write(OpenAPI)
	return nil
}

// jwks serves the local issuer's public keys.
func (s *server) jwks(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSONBytes(w, http.StatusOK, s.opts.JWKS)
	return nil
}

// loginRequest is the body of POST /auth/login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// loginResponse is the answer of a successful login.
type loginResponse struct {
	Token     string `json:"token"`
	TokenType string `json:"token_type"`
	ExpiresIn int64  `json:"expires_in"`
	User      string `json:"user"`
	// Refresh renews the session without the password (AWS only).
	Refresh *core.SessionRefresh `json:"refresh,omitempty"`
}

// login answers POST /auth/login.
func (s *server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := s.decode(w, r, &req, false); err != nil {
		return err
	}
	v := &core.ValidationError{}
	if req.Username == "" {
		v.Problems = append(v.Problems, core.FieldError{Field: "username", Message: "is required"})
	}
	if req.Password == "" {
		v.Problems = append(v.Problems, core.FieldError{Field: "password", Message: "is required"})
	}
	if len(v.Problems) > 0 {
		return v
	}
	var (
		token   string
		ttl     time.Duration
		user    string
		refresh *core.SessionRefresh
		err     error
	)
	if s.opts.LoginWithRefresh != nil {
		token, ttl, user, refresh, err = s.opts.LoginWithRefresh(r.Context(), req.Username, req.Password, s.clientAddr(r))
	} else {
		token, ttl, user, err = s.opts.Login(r.Context(), req.Username, req.Password, s.clientAddr(r))
	}
	s.auditLogin(r, req.Username, user, err)
	if err != nil {
		// Here, and only here, a throttle is the caller's own doing.
		if errors.Is(err, core.ErrThrottled) {
			return &detailed{kind: errRateLimited, detail: "too many failed logins; wait before trying again", cause: err}
		}
		if errors.Is(err, core.ErrUnauthenticated) {
			return kindError(core.ErrUnauthenticated, "wrong username or password")
		}
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, loginResponse{Token: token, TokenType: "Bearer", ExpiresIn: int64(ttl / time.Second), User: user, Refresh: refresh})
}

// clientAddr is the client's address, for the login rate limiter and
// the audit trail: the connection's peer, or behind a trusted proxy the last X-Forwarded-For
// entry, the one that proxy added (earlier ones are the client's word).
func (s *server) clientAddr(r *http.Request) string {
	if s.opts.TrustProxyHeaders {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if a := strings.TrimSpace(parts[len(parts)-1]); a != "" {
				return a
			}
		}
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// meResponse is the answer of GET /api/me.
type meResponse struct {
	User     string   `json:"user"`
	Groups   []string `json:"groups"`
	Projects []string `json:"projects"`
	// Sandbox: this is the local binary, whose sandbox routes exist.
	Sandbox bool `json:"sandbox,omitempty"`
	// Admin: the user administers the portal (/api/admin/…).
	Admin bool `json:"admin,omitempty"`
}

// me answers GET /api/me.
func (s *server) me(w http.ResponseWriter, r *http.Request) error {
	who := principal(r)
	ps, err := s.svc.Projects(r.Context(), who)
	if err != nil {
		return err
	}
	resp := meResponse{User: who.User, Groups: who.Groups, Projects: make([]string, 0, len(ps)), Sandbox: s.opts.Sandbox != nil, Admin: who.Admin && s.opts.Admin != nil}
	if resp.Groups == nil {
		resp.Groups = []string{}
	}
	for _, p := range ps {
		resp.Projects = append(resp.Projects, p.ID)
	}
	return writeJSON(w, http.StatusOK, resp)
}

// projectView is a project as the API shows it: never the role or its
// external id.
type projectView struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	AccountID string `json:"account_id"`
	Region    string `json:"region"`
	SFTP      bool   `json:"sftp"`
	// LogBucket receives the server access logs of the project's buckets.
	LogBucket string   `json:"log_bucket,omitempty"`
	Members   []string `json:"members"`
}

func viewOf(p *core.Project) projectView {
	m := p.Members
	if m == nil {
		m = []string{}
	}
	return projectView{ID: p.ID, Name: p.Name, AccountID: p.AccountID, Region: p.Region, SFTP: p.TransferServerID != "", LogBucket: p.LogBucket, Members: m}
}

// items is the shape of every list answer.
type items[T any] struct {
	Items []T `json:"items"`
}

// projects answers GET /api/projects.
func (s *server) projects(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.svc.Projects(r.Context(), principal(r))
	if err != nil {
		return err
	}
	out := items[projectView]{Items: make([]projectView, 0, len(ps))}
	for _, p := range ps {
		out.Items = append(out.Items, viewOf(p))
	}
	return writeJSON(w, http.StatusOK, out)
}

// project answers GET /api/projects/{p}.
func (s *server) project(w http.ResponseWriter, r *http.Request) error {
	p, err := s.svc.Project(r.Context(), principal(r), r.PathValue("p"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, viewOf(p))
}

// list answers GET /api/projects/{p}/buckets and …/users.
func list(kind core.Kind) handlerFunc {
	return func(s *server, w http.ResponseWriter, r *http.Request) error {
		project := r.PathValue("p")
		// The versions first (they also check membership): unchanged, the
		// encoded answer is reused without reading the resources.
		versions, err := s.svc.Versions(r.Context(), principal(r), project)
		if err != nil {
			return err
		}
		e, ok := s.lists.lookup(project, kind, versions)
		if !ok {
			rs, err := s.svc.List(r.Context(), principal(r), project, kind)
			if err != nil {
				return err
			}
			if e, err = s.lists.encode(project, kind, versions, rs); err != nil {
				return err
			}
		}
		writeList(w, r, e)
		return nil
	}
}

// gzipFrom is the size from which a list is sent gzip-encoded to a client
// that accepts it: below it the encoding costs more than it saves.
const gzipFrom = 1024

// writeList sends a list entry: 304 Not Modified when the client holds it
// already (If-None-Match), gzip-encoded when the client accepts gzip. The
// entity tag names the list at its versions, whatever its encoding.
func writeList(w http.ResponseWriter, r *http.Request, e *listEntry) {
	h := w.Header()
	h.Set("ETag", e.etag)
	h.Add("Vary", "Accept-Encoding")
	if etagMatches(r.Header.Values("If-None-Match"), e.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if len(e.body) < gzipFrom || !acceptsGzip(r.Header.Values("Accept-Encoding")) {
		writeJSONBytes(w, http.StatusOK, e.body)
		return
	}
	h.Set("Content-Encoding", "gzip")
	writeJSONParts(w, http.StatusOK, e.gzipped())
}

// etagMatches reports whether If-None-Match values name etag, comparing
// weakly (RFC 9110, section 13.1.2): "*" or a tag equal but for W/.
func etagMatches(values []string, etag string) bool {
	want := strings.TrimPrefix(etag, "W/")
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == want {
				return true
			}
		}
	}
	return false
}

// acceptsGzip reports whether Accept-Encoding values accept gzip: named
// (or "*") with a q-value above zero (RFC 9110, section 12.5.3).
func acceptsGzip(values []string) bool {
	ok := false
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding != "gzip" && coding != "x-gzip" && coding != "*" {
				continue
			}
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					}
				}
			}
			if coding == "*" {
				if !ok && q > 0 {
					ok = true
				}
				continue
			}
			return q > 0 // gzip named: its own q decides
		}
	}
	return ok
}

// get answers GET /api/projects/{p}/buckets/{name} and …/users/{name}.
func get(kind core.Kind) handlerFunc {
	return func(s *server, w http.ResponseWriter, r *http.Request) error {
		res, err := s.svc.Get(r.Context(), principal(r), r.PathValue("p"), kind, r.PathValue("name"))
		if err != nil {
			return err
		}
		w.Header().Set("ETag", etag(res.Version))
		return writeJSON(w, http.StatusOK, res)
	}
}

// etag is the ETag of a resource version.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// decodeSpec reads a BucketSpec or UserSpec body.
func (s *server) decodeSpec(w http.ResponseWriter, r *http.Request, kind core.Kind) (core.Spec, error) {
	var spec core.Spec
	switch kind {
	case core.KindBucket:
		spec.Bucket = &core.BucketSpec{}
		if err := s.decode(w, r, spec.Bucket, false); err != nil {
			return spec, err
		}
	default:
		spec.User = &core.UserSpec{}
		if err := s.decode(w, r, spec.User, false); err != nil {
			return spec, err
		}
	}
	return spec, nil
}

// accepted answers a write: 202, the operation and its Location.
func accepted(w http.ResponseWriter, op *core.Operation) error {
	w.Header().Set("Location", "/api/operations/"+url.PathEscape(op.ID))
	return writeJSON(w, http.StatusAccepted, op)
}

// create answers POST /api/projects/{p}/buckets and …/users.
func create(kind core.Kind) handlerFunc {
	return func(s *server, w http.ResponseWriter, r *http.Request) error {
		spec, err := s.decodeSpec(w, r, kind)
		if err != nil {
			return err
		}
		op, err := s.svc.Create(r.Context(), principal(r), r.PathValue("p"), spec)
		if err != nil {
			return err
		}
		return accepted(w, op)
	}
}

// update answers PUT /api/projects/{p}/buckets/{name} and …/users/{name}.
// The body's name, if given, must be the path's.
func update(kind core.Kind) handlerFunc {
	return func(s *server, w http.ResponseWriter, r *http.Request) error {
		version, err := ifMatch(r)
		if err != nil {
			return err
		}
		spec, err := s.decodeSpec(w, r, kind)
		if err != nil {
			return err
		}
		name := r.PathValue("name")
		switch {
		case spec.Bucket != nil && spec.Bucket.Name == "":
			spec.Bucket.Name = name
		case spec.User != nil && spec.User.Name == "":
			spec.User.Name = name
		}
		if got := spec.Name(); got != name {
			return invalid("name", "is %q but the path names %q; a resource cannot be renamed", got, name)
		}
		op, err := s.svc.Update(r.Context(), principal(r), r.PathValue("p"), spec, version)
		if err != nil {
			return err
		}
		return accepted(w, op)
	}
}

// remove answers DELETE /api/projects/{p}/buckets/{name} and
// …/users/{name}.
func remove(kind core.Kind) handlerFunc {
	return func(s *server, w http.ResponseWriter, r *http.Request) error {
		version, err := ifMatch(r)
		if err != nil {
			return err
		}
		op, err := s.svc.Delete(r.Context(), principal(r), r.PathValue("p"), kind, r.PathValue("name"), version)
		if err != nil {
			return err
		}
		return accepted(w, op)
	}
}

// rotateRequest is the body of POST …/users/{name}/keys.
type rotateRequest struct {
	// Key is the access key to rotate, 1 or 2.
	Key int `json:"key"`
}

// rotateKey answers POST /api/projects/{p}/users/{name}/keys.
func (s *server) rotateKey(w http.ResponseWriter, r *http.Request) error {
	version, err := ifMatch(r)
	if err != nil {
		return err
	}
	req := rotateRequest{Key: 1}
	if err := s.decode(w, r, &req, true); err != nil {
		return err
	}
	if req.Key < 1 || req.Key > core.MaxAccessKeys {
		return invalid("key", "must be 1 or 2, got %d", req.Key)
	}
	op, err := s.svc.RotateKey(r.Context(), principal(r), r.PathValue("p"), r.PathValue("name"), req.Key-1, version)
	if err != nil {
		return err
	}
	return accepted(w, op)
}

// revealResponse carries a secret: never cached, never logged.
type revealResponse struct {
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

// revealKey answers POST /api/projects/{p}/users/{name}/keys/{key}/reveal.
func (s *server) revealKey(w http.ResponseWriter, r *http.Request) error {
	// Exactly "1" or "2": Atoi would also take "01", "+1" or "002", and a
	// resource has one name.
	var key int
	switch r.PathValue("key") {
	case "1":
		key = 1
	case "2":
		key = 2
	default:
		return invalid("key", "must be 1 or 2, got %q", r.PathValue("key"))
	}
	id, secret, err := s.svc.RevealKey(r.Context(), principal(r), r.PathValue("p"), r.PathValue("name"), key)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	return writeJSON(w, http.StatusOK, revealResponse{AccessKeyID: id, SecretAccessKey: secret})
}

// operationsResponse is one page of a project's operations.
type operationsResponse struct {
	Items []*core.Operation `json:"items"`
	Next  string            `json:"next"`
}

// Paging of GET /api/projects/{p}/operations.
const (
	defaultOpsLimit = 50
	maxOpsLimit     = 100
)

// operations answers GET /api/projects/{p}/operations.
func (s *server) operations(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit := defaultOpsLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxOpsLimit {
			return invalid("limit", "must be a number from 1 to %d, got %q", maxOpsLimit, v)
		}
		limit = n
	}
	cursor := q.Get("cursor")
	ops, next, err := s.svc.Operations(r.Context(), principal(r), r.PathValue("p"), core.Page{Limit: limit, Cursor: cursor})
	if errors.Is(err, core.ErrInvalid) && cursor != "" {
		return invalid("cursor", "is not the next of an earlier page")
	}
	if err != nil {
		return err
	}
	if ops == nil {
		ops = []*core.Operation{}
	}
	return writeJSON(w, http.StatusOK, operationsResponse{Items: ops, Next: next})
}

// operation answers GET /api/operations/{id}.
func (s *server) operation(w http.ResponseWriter, r *http.Request) error {
	op, err := s.svc.Operation(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, op)
}

// ticketResponse is the answer of POST /api/ws-ticket.
type ticketResponse struct {
	Ticket    string `json:"ticket"`
	ExpiresIn int64  `json:"expires_in"`
	URL       string `json:"url"`
}

// wsTicket answers POST /api/ws-ticket with a ticket for the caller's
// projects.
func (s *server) wsTicket(w http.ResponseWriter, r *http.Request) error {
	who := principal(r)
	ps, err := s.svc.Projects(r.Context(), who)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(ps))
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	ticket, ttl, err := s.opts.Tickets.Issue(r.Context(), who, ids)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, ticketResponse{
		Ticket: ticket, ExpiresIn: int64(ttl / time.Second), URL: "/ws?ticket=" + url.QueryEscape(ticket),
	})
}
