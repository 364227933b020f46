package wsapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/coder/websocket"

	"bucketdesk/internal/wsapi"
)

// A text frame that is not valid UTF-8 closes the connection with 1007;
// a binary frame is not text and is ignored as before.
func TestInvalidUTF8TextCloses1007(t *testing.T) {
	e := newEnv(t, wsapi.Limits{})
	c := e.connect(t, "alice", "a")
	ctx := t.Context()
	if err := c.Write(ctx, websocket.MessageBinary, []byte{0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if b := read(t, c); string(b) != `{"type":"pong"}` {
		t.Fatalf("got %s, want a pong", b)
	}
	// coder/websocket writes a text message's bytes as they are.
	if err := c.Write(ctx, websocket.MessageText, []byte("{\"type\":\"ping\",\"x\":\"\xff\xfe\"}")); err != nil {
		t.Fatal(err)
	}
	if code, reason := closeStatus(t, c); code != websocket.StatusInvalidFramePayloadData {
		t.Fatalf("closed with %d %q, want 1007", code, reason)
	}
}

// Every answer of the endpoint carries X-Content-Type-Options: nosniff,
// and every refusal before the upgrade is a problem+json document that
// is not stored, the refusals of websocket.Accept included.
func TestRefusalsAreProblemsWithNosniff(t *testing.T) {
	e := newEnv(t, wsapi.Limits{})
	upgrade := map[string]string{
		"Connection": "Upgrade", "Upgrade": "websocket",
		"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
	}
	with := func(extra map[string]string) map[string]string {
		h := map[string]string{}
		for k, v := range upgrade {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	cases := []struct {
		name    string
		method  string
		ticket  string
		headers map[string]string
		status  int
		kind    string
	}{
		{"wrong method", "POST", "", nil, http.StatusMethodNotAllowed, "method-not-allowed"},
		{"plain request", "GET", "", nil, http.StatusUpgradeRequired, "upgrade-required"},
		{"no ticket", "GET", "", upgrade, http.StatusUnauthorized, "unauthenticated"},
		{"unknown ticket", "GET", "tkt-unknown", upgrade, http.StatusUnauthorized, "unauthenticated"},
		{"bad handshake", "GET", e.tickets.issue("alice", "a"), with(map[string]string{"Sec-WebSocket-Version": "12"}), http.StatusBadRequest, "invalid"},
		{"no key", "GET", e.tickets.issue("alice", "a"), with(map[string]string{"Sec-WebSocket-Key": ""}), http.StatusBadRequest, "invalid"},
		{"foreign origin", "GET", e.tickets.issue("alice", "a"), with(map[string]string{"Origin": "https://evil.example"}), http.StatusForbidden, "forbidden"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), c.method, e.srv.URL+"/ws?ticket="+c.ticket, nil)
			for k, v := range c.headers {
				if v != "" {
					req.Header.Set(k, v)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			checkRefusal(t, resp, c.status, c.kind)
		})
	}

	// The upgrade itself carries nosniff too.
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, e.url(e.tickets.issue("alice", "a")), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.CloseNow()
	if got := resp.Header.Get("X-Content-Type-Options"); resp.StatusCode != http.StatusSwitchingProtocols || got != "nosniff" {
		t.Fatalf("upgrade: %d, X-Content-Type-Options %q", resp.StatusCode, got)
	}

	// And so does the refusal of a server shutting down.
	e.h.Close()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.srv.URL+"/ws?ticket=x", nil)
	for k, v := range upgrade {
		req.Header.Set(k, v)
	}
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Body.Close()
	checkRefusal(t, r2, http.StatusServiceUnavailable, "unavailable")
}

func checkRefusal(t *testing.T, resp *http.Response, status int, kind string) {
	t.Helper()
	h := resp.Header
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d", resp.StatusCode, status)
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "no-store" || h.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("headers %v", h)
	}
	var p struct {
		Type, Title, Detail string
		Status              int
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatalf("not a problem: %v", err)
	}
	if p.Type != "urn:bucketdesk:problem:"+kind || p.Status != status || p.Title == "" || p.Detail == "" {
		t.Fatalf("problem %+v, want kind %s", p, kind)
	}
}
