package setup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/setup"
	"bucketdesk/internal/wsapi"
)

const demoPassword = "correct-horse-battery-staple"

// server is the whole local bucketdesk behind httptest.
type server struct {
	t   *testing.T
	url string
	l   *setup.Local
}

func startServer(t *testing.T, sb *simcloud.Options) *server {
	t.Helper()
	dir := t.TempDir()
	l, err := setup.OpenLocal(setup.LocalConfig{
		DataDir: dir, Sandbox: sb, CloudRate: -1, ReconcileEvery: 24 * time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx := t.Context()
	if _, _, err := l.EnsureProject(ctx, setup.DemoProject([]string{"alice", "bob"})); err != nil {
		t.Fatal(err)
	}
	if _, err := setup.EnsureDemoUsers(dir, demoPassword); err != nil {
		t.Fatal(err)
	}
	srv, err := l.Server(setup.ServerConfig{WS: wsapi.Limits{MaxAge: time.Minute, IdleTimeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	l.Start(ctx)
	return &server{t: t, url: hs.URL, l: l}
}

// client is one manager's browser, as far as HTTP goes.
type client struct {
	s     *server
	user  string
	token string
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (s *server) login(user string) *client {
	s.t.Helper()
	c := &client{s: s, user: user}
	r := c.do("POST", "/auth/login", map[string]string{"username": user, "password": demoPassword}, nil)
	if r.status != 200 {
		s.t.Fatalf("login %s: %d %s", user, r.status, r.body)
	}
	var tok struct{ Token string }
	r.json(s.t, &tok)
	c.token = tok.Token
	return c
}

func (c *client) do(method, path string, body any, header map[string]string) response {
	c.s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		rd = bytes.NewReader(js)
	}
	req, _ := http.NewRequestWithContext(c.s.t.Context(), method, c.s.url+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// live is a WebSocket connection that collects messages.
type live struct {
	hello struct {
		Type     string
		User     string
		Projects []string
	}
	msgs chan core.Message
	conn *websocket.Conn
}

func (c *client) connect() *live {
	t := c.s.t
	t.Helper()
	r := c.do("POST", "/api/ws-ticket", nil, nil)
	if r.status != 201 {
		t.Fatalf("ticket: %d %s", r.status, r.body)
	}
	var tk struct{ Ticket, URL string }
	r.json(t, &tk)
	conn, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(c.s.url, "http")+tk.URL, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	lv := &live{msgs: make(chan core.Message, 4096), conn: conn}
	_, b, err := conn.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &lv.hello); err != nil || lv.hello.Type != "hello" {
		t.Fatalf("first frame %s: %v", b, err)
	}
	go func() {
		defer close(lv.msgs)
		for {
			_, b, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var m core.Message
			if json.Unmarshal(b, &m) == nil {
				lv.msgs <- m
			}
		}
	}()
	return lv
}

// until reads messages until one satisfies done, failing after a minute.
func (lv *live) until(t *testing.T, done func(core.Message) bool) []core.Message {
	t.Helper()
	var got []core.Message
	deadline := time.After(time.Minute)
	for {
		select {
		case m, ok := <-lv.msgs:
			if !ok {
				t.Fatalf("connection closed after %d messages", len(got))
			}
			got = append(got, m)
			if done(m) {
				return got
			}
		case <-deadline:
			t.Fatalf("no expected message within a minute; got %d messages", len(got))
		}
	}
}

func bucketBody(name string) map[string]any {
	return map[string]any{"name": name, "encryption": map[string]any{"type": "SSE-S3"}, "versioning": true}
}

type problem struct {
	Type, Title, Detail string
	Status              int
	Errors              []core.FieldError
	Lock                *core.Lock
}

func (r response) problem(t *testing.T) problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("status %d with content type %q: %s", r.status, ct, r.body)
	}
	var p problem
	r.json(t, &p)
	if p.Status != r.status || !strings.HasPrefix(p.Type, "urn:bucketdesk:problem:") || p.Detail == "" {
		t.Fatalf("problem %+v for status %d", p, r.status)
	}
	return p
}

// Alice creates; Bob sees it live, locked by Alice, then ready, in version
// order; Bob's change while it is locked is refused naming Alice; Mallory
// sees nothing of it, also not over the WebSocket.
func TestManagersSeeEachOthersChangesLive(t *testing.T) {
	sb := simcloud.ZeroOptions()
	sb.ResourceDuration = 30 * time.Millisecond // long enough for a racing request to meet the lock
	s := startServer(t, sb)
	alice, bob, mallory := s.login("alice"), s.login("bob"), s.login("mallory")
	bobLive, malloryLive := bob.connect(), mallory.connect()
	if fmt.Sprint(bobLive.hello.Projects) != "[demo]" || len(malloryLive.hello.Projects) != 0 {
		t.Fatalf("hello: bob %v, mallory %v", bobLive.hello.Projects, malloryLive.hello.Projects)
	}

	r := alice.do("POST", "/api/projects/demo/buckets", bucketBody("live-reports"), nil)
	if r.status != 202 || !strings.HasPrefix(r.header.Get("Location"), "/api/operations/") {
		t.Fatalf("create: %d %s %v", r.status, r.body, r.header)
	}
	var op core.Operation
	r.json(t, &op)

	// Bob, racing while the stack is being created, is told who holds it.
	r = bob.do("PUT", "/api/projects/demo/buckets/live-reports", bucketBody("live-reports"), nil)
	if r.status != 409 {
		t.Fatalf("bob's update during the create: %d %s", r.status, r.body)
	}
	if p := r.problem(t); p.Lock == nil || p.Lock.By != "alice" || p.Lock.OperationID != op.ID || !strings.Contains(p.Detail, "alice") {
		t.Fatalf("locked problem %+v", p)
	}

	msgs := bobLive.until(t, func(m core.Message) bool {
		return m.Type == core.MsgResource && m.Name == "live-reports" && m.Resource.Observed.Phase == core.PhaseReady && m.Resource.Lock == nil
	})
	var versions []int64
	sawLocked, sawEvent := false, false
	for _, m := range msgs {
		if m.Name != "live-reports" {
			continue
		}
		if m.Type == core.MsgEvent {
			sawEvent = true
		}
		if m.Type != core.MsgResource {
			continue
		}
		if n := len(versions); n > 0 && m.Version <= versions[n-1] {
			t.Fatalf("bob got version %d after %d", m.Version, versions[n-1])
		}
		versions = append(versions, m.Version)
		if m.Resource.Lock != nil && m.Resource.Lock.By == "alice" && m.Resource.Lock.OperationID == op.ID {
			sawLocked = true
		}
	}
	if !sawLocked || !sawEvent || len(versions) < 3 {
		t.Fatalf("bob saw locked %v, events %v, versions %v", sawLocked, sawEvent, versions)
	}

	// The operation ended, readable by both managers.
	r = bob.do("GET", "/api/operations/"+op.ID, nil, nil)
	var done core.Operation
	r.json(t, &done)
	if r.status != 200 || done.Status != core.OpSucceeded || len(done.Events) == 0 {
		t.Fatalf("operation: %d %+v", r.status, done)
	}

	// Mallory sees nothing of project demo.
	for _, path := range []string{"/api/projects/demo", "/api/projects/demo/buckets", "/api/projects/demo/buckets/live-reports", "/api/operations/" + op.ID, "/api/projects/demo/operations"} {
		if r := mallory.do("GET", path, nil, nil); r.status != 404 || strings.Contains(string(r.body), "live-reports") {
			t.Errorf("mallory GET %s: %d %s", path, r.status, r.body)
		}
	}
	if r := mallory.do("DELETE", "/api/projects/demo/buckets/live-reports", nil, nil); r.status != 404 {
		t.Errorf("mallory DELETE: %d", r.status)
	}
	r = mallory.do("GET", "/api/projects", nil, nil)
	if r.status != 200 || strings.Contains(string(r.body), "demo") {
		t.Errorf("mallory's projects: %d %s", r.status, r.body)
	}
	select {
	case m := <-malloryLive.msgs:
		t.Fatalf("mallory received %+v", m)
	default:
	}
}

// A table of bad requests: each gets a 4xx problem, and nothing changes.
func TestBadRequestsAreProblemsAndChangeNothing(t *testing.T) {
	s := startServer(t, simcloud.ZeroOptions())
	alice := s.login("alice")
	if r := alice.do("POST", "/api/projects/demo/buckets", bucketBody("kept-bucket"), nil); r.status != 202 {
		t.Fatalf("setup: %d %s", r.status, r.body)
	}
	if err := s.l.Settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		b := alice.do("GET", "/api/projects/demo/buckets", nil, nil).body
		u := alice.do("GET", "/api/projects/demo/users", nil, nil).body
		o := alice.do("GET", "/api/projects/demo/operations", nil, nil).body
		return string(b) + string(u) + string(o)
	}
	before := state()
	nobody := &client{s: s}
	forged := &client{s: s, token: alice.token[:len(alice.token)-4] + "AAAA"}
	cases := []struct {
		name   string
		c      *client
		method string
		path   string
		body   any
		header map[string]string
		status int
	}{
		{"no token", nobody, "GET", "/api/projects", nil, nil, 401},
		{"forged token", forged, "POST", "/api/projects/demo/buckets", bucketBody("forged-bucket"), nil, 401},
		{"invalid bucket name", alice, "POST", "/api/projects/demo/buckets", bucketBody("Bad_Name"), nil, 400},
		{"kms without key", alice, "POST", "/api/projects/demo/buckets", map[string]any{"name": "kms-bucket", "encryption": map[string]any{"type": "SSE-KMS"}}, nil, 400},
		{"unknown field", alice, "POST", "/api/projects/demo/buckets", map[string]any{"name": "x-bucket", "encryption": map[string]any{"type": "SSE-S3"}, "public": true}, nil, 400},
		{"not json", alice, "POST", "/api/projects/demo/buckets", "{", nil, 400},
		{"wrong content type", alice, "POST", "/api/projects/demo/buckets", "name=x", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"too large", alice, "POST", "/api/projects/demo/buckets", map[string]any{"name": "big-bucket", "encryption": map[string]any{"type": "SSE-S3"}, "tags": map[string]string{"k": strings.Repeat("v", 100<<10)}}, nil, 413},
		{"existing bucket", alice, "POST", "/api/projects/demo/buckets", bucketBody("kept-bucket"), nil, 409},
		{"name differs from path", alice, "PUT", "/api/projects/demo/buckets/kept-bucket", bucketBody("other-bucket"), nil, 400},
		{"stale If-Match", alice, "PUT", "/api/projects/demo/buckets/kept-bucket", bucketBody("kept-bucket"), map[string]string{"If-Match": `"1"`}, 412},
		{"update of nothing", alice, "PUT", "/api/projects/demo/buckets/ghost-bucket", bucketBody("ghost-bucket"), nil, 404},
		{"delete of nothing", alice, "DELETE", "/api/projects/demo/users/ghost", nil, nil, 404},
		{"grant of an unknown bucket", alice, "POST", "/api/projects/demo/users", map[string]any{"name": "u1", "access_keys": 1, "grants": []map[string]any{{"bucket": "no-such-bucket", "access": "read"}}}, nil, 400},
		{"three keys", alice, "POST", "/api/projects/demo/users", map[string]any{"name": "u2", "access_keys": 3}, nil, 400},
		{"unknown project", alice, "GET", "/api/projects/nope/buckets", nil, nil, 404},
		{"wrong method", alice, "PATCH", "/api/projects/demo/buckets/kept-bucket", bucketBody("kept-bucket"), nil, 405},
		{"rotate a key of nothing", alice, "POST", "/api/projects/demo/users/ghost/keys", map[string]any{"key": 1}, nil, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.c.do(c.method, c.path, c.body, c.header)
			if r.status != c.status {
				t.Fatalf("%s %s: %d, want %d: %s", c.method, c.path, r.status, c.status, r.body)
			}
			p := r.problem(t)
			if c.status == 400 && strings.Contains(c.name, "name") && len(p.Errors) == 0 && !strings.Contains(p.Detail, "name") {
				t.Errorf("problem says nothing of the field: %+v", p)
			}
		})
	}
	if after := state(); after != before {
		t.Fatalf("bad requests changed the state:\nbefore %s\nafter  %s", before, after)
	}
}

// /metrics carries the Go runtime's memory figures next to bucketdesk's
// own, so that an operator (and the soak) can tell the heap from the
// mapped bbolt files in the resident set.
func TestMetricsIncludeRuntimeMemory(t *testing.T) {
	s := startServer(t, simcloud.ZeroOptions())
	c := &client{s: s}
	r := c.do("GET", "/metrics", nil, nil)
	if r.status != 200 {
		t.Fatalf("GET /metrics: %d", r.status)
	}
	for _, name := range []string{"go_memory_classes_heap_objects_bytes", "go_memory_classes_total_bytes", "go_gc_heap_goal_bytes", "go_sched_goroutines_goroutines", "bucketdesk_ws_connections"} {
		var v float64
		found := false
		for _, line := range strings.Split(string(r.body), "\n") {
			if rest, ok := strings.CutPrefix(line, name+" "); ok {
				if _, err := fmt.Sscan(rest, &v); err != nil {
					t.Errorf("%s: %q", name, line)
				}
				found = true
			}
		}
		if !found || (strings.HasPrefix(name, "go_") && v <= 0) {
			t.Errorf("%s: found %v, value %v", name, found, v)
		}
	}
}
