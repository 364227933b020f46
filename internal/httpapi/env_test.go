package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"bucketdesk/internal/auth"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/httpapi"
	"bucketdesk/internal/setup"
)

// Passwords of the test users.
const (
	alicePassword = "correct horse battery staple"
)

// env is a local bucketdesk with the API in front of it: project demo
// (members alice and bob) and project other (member mallory), the real
// local issuer, verifier, login and tickets.
type env struct {
	t      testing.TB
	l      *setup.Local
	h      http.Handler
	issuer *auth.LocalIssuer
	// issuerDir holds the issuer's signing key.
	issuerDir string
	log       *syncBuffer
	tokens    map[string]string
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// envOptions tweak newEnv.
type envOptions struct {
	// start runs the workers and the mirror; without, writes are
	// accepted and stay queued, holding their locks.
	start bool
	// sandbox serves the local binary's sandbox routes.
	sandbox bool
	// admin serves the administration routes.
	admin bool
	tweak func(o *httpapi.Options)
	// tweakEnv, like tweak, changes the options, with the env being
	// built (its handler not yet made) at hand.
	tweakEnv func(o *httpapi.Options, e *env)
}

func newEnv(t testing.TB, eo envOptions) *env {
	t.Helper()
	ctx := t.Context()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := setup.OpenLocal(setup.LocalConfig{
		DataDir: t.TempDir(), Sandbox: simcloud.ZeroOptions(), CloudRate: -1,
		ReconcileEvery: 24 * time.Hour, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for _, p := range []*core.Project{
		setup.DemoProject([]string{"alice", "bob"}),
		{ID: "other", Name: "Other project", AccountID: "210987654321", Region: "eu-central-1", Members: []string{"mallory"}},
	} {
		if _, _, err := l.EnsureProject(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	issuerDir := t.TempDir()
	issuer, err := auth.OpenLocalIssuer(issuerDir, "https://bucketdesk.test", "bucketdesk-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.NewStaticKeySource(issuer.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPasswordCost(alicePassword, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users, err := auth.NewUsers([]auth.UserEntry{{Username: "alice", PasswordHash: hash}})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	o := httpapi.Options{
		Service: l.Engine.Service,
		Auth:    auth.NewVerifier(keys, issuer.VerifierConfig()),
		Login:   auth.NewLogin(users, issuer, &auth.LoginOptions{Limits: auth.LimitOptions{MaxFailures: 3}}).Login,
		JWKS:    issuer.JWKS(),
		Tickets: auth.NewTickets(l.Store, nil),
		Links:   engine.NewShareLinks(l.Engine.Service, engine.ShareLinkOptions{Store: l.Store}),
		Ready: func(ctx context.Context) error {
			_, err := l.Store.ListProjects(ctx)
			return err
		},
		Metrics: []func(io.Writer){func(w io.Writer) {
			io.WriteString(w, "# HELP bucketdesk_ws_connections Open WebSocket connections.\n# TYPE bucketdesk_ws_connections gauge\nbucketdesk_ws_connections 0\n")
		}},
		Logger:  slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Auditor: l.Auditor, AuditTrail: l.Auditor,
	}
	if eo.sandbox {
		o.Sandbox = l.Sandbox
	}
	if eo.admin {
		o.Admin = l.Admin(nil)
	}
	if eo.tweak != nil {
		eo.tweak(&o)
	}
	e := &env{t: t, l: l, issuer: issuer, issuerDir: issuerDir, log: logs, tokens: map[string]string{}}
	if eo.tweakEnv != nil {
		eo.tweakEnv(&o, e)
	}
	e.h = httpapi.New(o)
	if eo.start {
		l.Start(ctx)
	}
	return e
}

// token returns a valid token of user.
func (e *env) token(user string) string {
	e.t.Helper()
	if tok, ok := e.tokens[user]; ok {
		return tok
	}
	tok, err := e.issuer.Issue(core.Principal{User: user}, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	e.tokens[user] = tok
	return tok
}

// settle waits until every accepted operation has finished.
func (e *env) settle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), time.Minute)
	defer cancel()
	if err := e.l.Settle(ctx); err != nil {
		e.t.Fatalf("settle: %v", err)
	}
}

// req describes one request. A body is sent as application/json unless
// headers say otherwise.
type req struct {
	method, path string
	as           string // user whose token is sent; "" sends none
	body         string
	headers      []string // name, value, name, value…
}

// do sends r to the handler and returns the answer.
func (e *env) do(r req) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequestWithContext(e.t.Context(), r.method, r.path, body)
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.as != "" {
		hr.Header.Set("Authorization", "Bearer "+e.token(r.as))
	}
	for i := 0; i+1 < len(r.headers); i += 2 {
		if r.headers[i+1] == "" {
			hr.Header.Del(r.headers[i])
		} else {
			hr.Header.Set(r.headers[i], r.headers[i+1])
		}
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, hr)
	return w
}

// expect sends r and fails unless the answer has status; it decodes a JSON
// answer into out when out is not nil.
func (e *env) expect(r req, status int, out any) *httptest.ResponseRecorder {
	e.t.Helper()
	w := e.do(r)
	if w.Code != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", r.method, r.path, w.Code, status, w.Body)
	}
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", r.method, r.path, w.Body, err)
		}
	}
	return w
}

// problem is the problem+json document as a client reads it.
type problem struct {
	Type   string            `json:"type"`
	Title  string            `json:"title"`
	Status int               `json:"status"`
	Detail string            `json:"detail"`
	Errors []core.FieldError `json:"errors"`
	Lock   *core.Lock        `json:"lock"`
}

// expectProblem sends r and checks that the answer is a problem of status
// and kind with a detail; it returns the problem.
func (e *env) expectProblem(r req, status int, kind string) problem {
	e.t.Helper()
	w := e.do(r)
	return checkProblem(e.t, r.method+" "+r.path, w, status, kind)
}

func checkProblem(t testing.TB, what string, w *httptest.ResponseRecorder, status int, kind string) problem {
	t.Helper()
	if w.Code != status {
		t.Fatalf("%s: status %d, want %d; body %s", what, w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s: Content-Type %q, want application/problem+json", what, ct)
	}
	var p problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("%s: decode problem %s: %v", what, w.Body, err)
	}
	if p.Type != httpapi.ProblemTypePrefix+kind || p.Status != status || p.Title == "" || p.Detail == "" {
		t.Fatalf("%s: problem %+v, want kind %s and status %d with a title and a detail", what, p, kind, status)
	}
	return p
}

// state is everything the store holds of the demo project, to show that a
// refused request changed nothing.
func (e *env) state() string {
	e.t.Helper()
	ctx := e.t.Context()
	items, _, err := e.l.Store.ListResources(ctx, "demo", core.Page{})
	if err != nil {
		e.t.Fatal(err)
	}
	ops, _, err := e.l.Store.ListOperations(ctx, "demo", core.Page{})
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := json.Marshal([]any{items, ops})
	return string(b)
}

// bucketJSON is a valid bucket spec.
func bucketJSON(name string) string {
	return `{"name":"` + name + `","versioning":true,"encryption":{"type":"SSE-S3"},"tags":{"team":"geo"}}`
}
