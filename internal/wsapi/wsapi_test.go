package wsapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"bucketdesk/internal/core"
	"bucketdesk/internal/hub/localhub"
	"bucketdesk/internal/wsapi"
)

// wait bounds every wait on an event; it is a deadline for a broken test,
// not a timing assertion.
const wait = 30 * time.Second

// fakeTickets is a TicketRedeemer over a map; a ticket works once.
type fakeTickets struct {
	mu sync.Mutex
	m  map[string]grant
	n  int
}

type grant struct {
	who      core.Principal
	projects []string
}

func (f *fakeTickets) issue(user string, projects ...string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	t := fmt.Sprintf("tkt-secret-%d", f.n)
	if f.m == nil {
		f.m = map[string]grant{}
	}
	f.m[t] = grant{core.Principal{User: user}, projects}
	return t
}

func (f *fakeTickets) Redeem(_ context.Context, ticket string) (core.Principal, []string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.m[ticket]
	if !ok {
		return core.Principal{}, nil, fmt.Errorf("fake: no such ticket: %w", core.ErrUnauthenticated)
	}
	delete(f.m, ticket)
	return g.who, g.projects, nil
}

type env struct {
	hub     *localhub.Hub
	h       *wsapi.Handler
	srv     *httptest.Server
	tickets *fakeTickets
	logs    *syncBuffer
}

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

func newEnv(t testing.TB, l wsapi.Limits) *env {
	t.Helper()
	e := &env{hub: localhub.New(), tickets: &fakeTickets{}, logs: &syncBuffer{}}
	e.h = wsapi.NewHandler(wsapi.Options{
		Tickets: e.tickets,
		Subscribe: func(projects []string, sink wsapi.Sink) wsapi.Subscription {
			return e.hub.SubscribeSink(projects, sink)
		},
		Limits: l,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	mux := http.NewServeMux()
	mux.Handle("/ws", e.h)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		e.h.Close()
		e.srv.Close()
	})
	return e
}

func (e *env) url(ticket string) string {
	return "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ws?ticket=" + ticket
}

// connect dials with a new ticket and reads the hello frame.
func (e *env) connect(t testing.TB, user string, projects ...string) *websocket.Conn {
	t.Helper()
	c := e.dial(t, e.tickets.issue(user, projects...), nil)
	var h struct {
		Type     string   `json:"type"`
		User     string   `json:"user"`
		Projects []string `json:"projects"`
		Limits   struct {
			MaxFrame     int   `json:"max_frame"`
			IdleTimeoutS int64 `json:"idle_timeout_s"`
			MaxAgeS      int64 `json:"max_age_s"`
		} `json:"limits"`
	}
	readJSON(t, c, &h)
	if h.Type != "hello" || h.User != user || strings.Join(h.Projects, ",") != strings.Join(projects, ",") || h.Limits.MaxFrame <= 0 {
		t.Fatalf("hello = %+v", h)
	}
	return c
}

func (e *env) dial(t testing.TB, ticket string, o *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, e.url(ticket), o)
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	c.SetReadLimit(-1)
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func read(t testing.TB, c *websocket.Conn) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		t.Fatalf("frame type %v", typ)
	}
	return b
}

func readJSON(t testing.TB, c *websocket.Conn, v any) {
	t.Helper()
	if b := read(t, c); json.Unmarshal(b, v) != nil {
		t.Fatalf("not JSON: %q", b)
	}
}

func readMessage(t testing.TB, c *websocket.Conn) core.Message {
	t.Helper()
	var m core.Message
	readJSON(t, c, &m)
	return m
}

// closeStatus reads (discarding frames) until the connection ends and
// returns its close status, -1 when it ended without a close frame.
func closeStatus(t testing.TB, c *websocket.Conn) (websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatal("the server did not close the connection")
			}
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, ce.Reason
			}
			return -1, err.Error()
		}
	}
}

func msg(project string, v int64) core.Message {
	return core.Message{Type: core.MsgResource, Project: project, Kind: "bucket", Name: "b1", Version: v}
}

func TestHelloThenMessagesInPublishOrder(t *testing.T) {
	e := newEnv(t, wsapi.Limits{})
	c := e.connect(t, "alice", "a", "b")
	for v := int64(1); v <= 100; v++ {
		p := "a"
		if v%3 == 0 {
			p = "b"
		}
		e.hub.Publish(t.Context(), p, msg(p, v))
	}
	for v := int64(1); v <= 100; v++ {
		m := readMessage(t, c)
		if m.Version != v || m.Type != core.MsgResource || m.Name != "b1" {
			t.Fatalf("message %d = %+v", v, m)
		}
	}
	if s := e.h.Stats(); s.Connections != 1 || s.ConnectionsTotal != 1 {
		t.Fatalf("stats %+v", s)
	}
	go func() { // read on, which answers the close handshake
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	e.h.Close() // the connection's goroutines are done: counters are final
	if s := e.h.Stats(); s.Connections != 0 || s.ConnectionsTotal != 1 || s.MessagesSent != 100 {
		t.Fatalf("stats after Close %+v", s)
	}
}

func TestProjectsAreIsolated(t *testing.T) {
	e := newEnv(t, wsapi.Limits{})
	ca := e.connect(t, "alice", "a")
	cb := e.connect(t, "bob", "b")
	e.hub.Publish(t.Context(), "b", msg("b", 1))
	e.hub.Publish(t.Context(), "a", msg("a", 2))
	e.hub.Publish(t.Context(), "b", msg("b", 3))
	e.hub.Publish(t.Context(), "c", msg("c", 4))
	e.hub.Publish(t.Context(), "a", msg("a", 5))
	for _, want := range []int64{2, 5} {
		if m := readMessage(t, ca); m.Project != "a" || m.Version != want {
			t.Fatalf("a's connection got %+v, want version %d", m, want)
		}
	}
	for _, want := range []int64{1, 3} {
		if m := readMessage(t, cb); m.Project != "b" || m.Version != want {
			t.Fatalf("b's connection got %+v, want version %d", m, want)
		}
	}
}

func TestBadTicketIsRefusedBeforeTheUpgrade(t *testing.T) {
	e := newEnv(t, wsapi.Limits{})
	used := e.tickets.issue("alice", "a")
	first := e.dial(t, used, nil)
	read(t, first) // hello: the server has counted the connection
	first.CloseNow()
	for name, ticket := range map[string]string{"unknown": "tkt-secret-unknown", "used": used, "missing": ""} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), wait)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, e.url(ticket), nil)
			if err == nil {
				c.CloseNow()
				t.Fatal("upgraded with a bad ticket")
			}
			if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("response %v, err %v", resp, err)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q", ct)
			}
			// The client library has consumed the body; ask again over
			// plain HTTP with upgrade headers to read it.
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/ws?ticket="+ticket, nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			r2, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Body.Close()
			var p struct {
				Type, Title, Detail string
				Status              int
			}
			if err := json.NewDecoder(r2.Body).Decode(&p); err != nil {
				t.Fatal(err)
			}
			if r2.StatusCode != 401 || p.Type != "urn:bucketdesk:problem:unauthenticated" || p.Title != "Unauthenticated" || p.Status != 401 || p.Detail == "" {
				t.Fatalf("%d %+v", r2.StatusCode, p)
			}
		})
	}
	if s := e.h.Stats(); s.ConnectionsTotal != 1 {
		t.Fatalf("stats %+v", s)
	}
	if strings.Contains(e.logs.String(), "tkt-secret") {
		t.Fatalf("a ticket was logged:\n%s", e.logs.String())
	}
}

func TestPlainRequestKeepsTheTicket(t *testing.T) {
	e := newEnv(t, wsapi.Limits{})
	ticket := e.tickets.issue("alice", "a")
	resp, err := http.Get(e.srv.URL + "/ws?ticket=" + ticket)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("status %d", resp.StatusCode)
	}
	e.dial(t, ticket, nil) // still valid
}

func TestSlowConsumerIsClosedOthersKeepReceiving(t *testing.T) {
	e := newEnv(t, wsapi.Limits{SendQueue: 8})
	slow := e.connect(t, "slow", "p")
	fast := e.connect(t, "fast", "p")
	big := strings.Repeat("x", 16<<10)
	m := func(v int64) core.Message {
		x := msg("p", v)
		x.Name = big
		return x
	}
	// slow reads nothing from here on: its socket buffers fill, then its
	// queue, then the hub drops it. fast reads every message meanwhile.
	v := int64(0)
	for e.hub.Subscribers("p") == 2 {
		if v == 100000 {
			t.Fatal("the slow consumer was never dropped")
		}
		v++
		e.hub.Publish(t.Context(), "p", m(v))
		if got := readMessage(t, fast); got.Version != v {
			t.Fatalf("fast got version %d, want %d", got.Version, v)
		}
	}
	if code, reason := closeStatus(t, slow); code != wsapi.CloseSlowConsumer || reason != "slow consumer" {
		t.Fatalf("slow closed with %d %q", code, reason)
	}
	for range 20 {
		v++
		e.hub.Publish(t.Context(), "p", m(v))
		if got := readMessage(t, fast); got.Version != v {
			t.Fatalf("after the drop fast got version %d, want %d", got.Version, v)
		}
	}
	if s := e.h.Stats(); s.SlowConsumerDisconnects != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestMaxAge(t *testing.T) {
	e := newEnv(t, wsapi.Limits{MaxAge: 100 * time.Millisecond})
	c := e.connect(t, "alice", "a")
	if code, reason := closeStatus(t, c); code != wsapi.CloseMaxAge || reason != "max age" {
		t.Fatalf("closed with %d %q", code, reason)
	}
}

// The client answers the server's WebSocket pings (the library does it
// while reading) but sends no message: that is idle.
func TestIdle(t *testing.T) {
	e := newEnv(t, wsapi.Limits{IdleTimeout: 150 * time.Millisecond, PingInterval: 20 * time.Millisecond})
	c := e.connect(t, "alice", "a")
	if code, reason := closeStatus(t, c); code != wsapi.CloseIdle || reason != "idle" {
		t.Fatalf("closed with %d %q", code, reason)
	}
}

// The web console's heartbeat: a client that sends {"type":"ping"} more
// often than the idle timeout gets every pong and is never closed as idle,
// however long it stays.
func TestClientHeartbeatKeepsConnectionOpen(t *testing.T) {
	const idle = 150 * time.Millisecond
	e := newEnv(t, wsapi.Limits{IdleTimeout: idle, PingInterval: 20 * time.Millisecond})
	c := e.connect(t, "alice", "a")
	for range 10 { // 4 idle timeouts
		time.Sleep(idle / 3)
		if err := c.Write(t.Context(), websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		if b := read(t, c); string(b) != `{"type":"pong"}` {
			t.Fatalf("got %s, want a pong", b)
		}
	}
	e.hub.Publish(t.Context(), "a", msg("a", 3))
	if m := readMessage(t, c); m.Version != 3 {
		t.Fatalf("got %+v", m)
	}
}

func TestPingPongAndUnknownMessagesIgnored(t *testing.T) {
	e := newEnv(t, wsapi.Limits{})
	c := e.connect(t, "alice", "a")
	ctx := t.Context()
	for _, s := range []string{`{"type":"subscribe","project":"x"}`, `not json`, `{"type":"ping"}`} {
		if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Write(ctx, websocket.MessageBinary, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if b := read(t, c); string(b) != `{"type":"pong"}` {
			t.Fatalf("got %s, want a pong", b)
		}
	}
	e.hub.Publish(ctx, "a", msg("a", 9))
	if m := readMessage(t, c); m.Version != 9 {
		t.Fatalf("got %+v", m)
	}
}

func TestClientFrameOverTheLimit(t *testing.T) {
	e := newEnv(t, wsapi.Limits{MaxFrame: 1024})
	c := e.connect(t, "alice", "a")
	// The write may fail once the server has closed: the close is what
	// matters.
	c.Write(t.Context(), websocket.MessageText, bytes.Repeat([]byte("y"), 2048))
	if code, _ := closeStatus(t, c); code != websocket.StatusMessageTooBig {
		t.Fatalf("closed with %d", code)
	}
}

func TestFrameLimit(t *testing.T) {
	const limit = 4096
	e := newEnv(t, wsapi.Limits{MaxFrame: limit})
	c := e.connect(t, "alice", "a")
	events := make([]core.StackEvent, 60)
	for i := range events {
		events[i] = core.StackEvent{EventID: fmt.Sprint(i), LogicalResourceID: "Bucket", ResourceStatus: "UPDATE_IN_PROGRESS", StatusReason: "User Initiated"}
	}
	op := &core.Operation{ID: "01OP", Project: "a", Kind: "bucket", Name: "b1", Status: core.OpStatus("running"), Events: events}
	res := &core.Resource{Project: "a", Kind: "bucket", Name: "b1", Version: 4, Op: op}

	e.hub.Publish(t.Context(), "a", core.Message{Type: core.MsgOperation, Project: "a", Kind: "bucket", Name: "b1", Version: 3, Operation: op})
	e.hub.Publish(t.Context(), "a", core.Message{Type: core.MsgResource, Project: "a", Kind: "bucket", Name: "b1", Version: 4, Resource: res})
	small := &core.Operation{ID: "01OP", Events: events[:2]}
	e.hub.Publish(t.Context(), "a", core.Message{Type: core.MsgOperation, Project: "a", Version: 5, Operation: small})
	e.hub.Publish(t.Context(), "a", core.Message{Type: core.MsgResource, Project: "a", Name: strings.Repeat("n", limit), Version: 6})

	b := read(t, c)
	var m core.Message
	json.Unmarshal(b, &m)
	if len(b) > limit || m.Version != 3 || m.Operation == nil || m.Operation.ID != "01OP" || len(m.Operation.Events) != 0 {
		t.Fatalf("operation message (%d bytes) = %s", len(b), b)
	}
	b = read(t, c)
	m = core.Message{}
	json.Unmarshal(b, &m)
	if len(b) > limit || m.Version != 4 || m.Resource == nil || m.Resource.Op == nil || len(m.Resource.Op.Events) != 0 {
		t.Fatalf("resource message (%d bytes) = %s", len(b), b)
	}
	if m := readMessage(t, c); m.Version != 5 || len(m.Operation.Events) != 2 {
		t.Fatalf("a message under the limit was changed: %+v", m)
	}
	if b := read(t, c); string(b) != `{"type":"resync","project":"a"}` {
		t.Fatalf("got %s, want a resync", b)
	}
	// The published message itself was not changed for other subscribers.
	if len(op.Events) != 60 || len(res.Op.Events) != 60 {
		t.Fatal("stripping changed the published message")
	}
}

func TestUnansweredPingDrops(t *testing.T) {
	e := newEnv(t, wsapi.Limits{PingInterval: 20 * time.Millisecond, WriteTimeout: 100 * time.Millisecond})
	c := e.dial(t, e.tickets.issue("alice", "a"), &websocket.DialOptions{
		OnPingReceived: func(context.Context, []byte) bool { return false }, // never pong
	})
	read(t, c) // hello
	if code, _ := closeStatus(t, c); code != -1 {
		t.Fatalf("closed with %d, want a dropped connection", code)
	}
}

func TestCloseGoesAwayAndRefusesNewConnections(t *testing.T) {
	e := newEnv(t, wsapi.Limits{})
	cs := []*websocket.Conn{e.connect(t, "a", "a"), e.connect(t, "b", "b"), e.connect(t, "c", "a", "b")}
	codes := make(chan websocket.StatusCode, len(cs))
	for _, c := range cs {
		go func() {
			// Read until the end, which also answers the close handshake.
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			for {
				if _, _, err := c.Read(ctx); err != nil {
					codes <- websocket.CloseStatus(err)
					return
				}
			}
		}()
	}
	e.h.Close()
	for range cs {
		if code := <-codes; code != websocket.StatusGoingAway {
			t.Fatalf("closed with %d", code)
		}
	}
	if s := e.h.Stats(); s.Connections != 0 {
		t.Fatalf("stats after Close %+v", s)
	}
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, e.url(e.tickets.issue("d", "a")), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Close: %v %v", resp, err)
	}
}

func TestDefaultLimits(t *testing.T) {
	l := wsapi.DefaultLimits()
	if l.MaxAge != 2*time.Hour || l.IdleTimeout != 10*time.Minute || l.PingInterval != 30*time.Second ||
		l.MaxFrame != 32768 || l.SendQueue != 256 || l.WriteTimeout != 10*time.Second {
		t.Fatalf("%+v", l)
	}
}
