package setup_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/crypto/bcrypt"

	"bucketdesk/internal/auth"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/setup"
	"bucketdesk/internal/wsapi"
)

// dialHello opens c's WebSocket and returns it with the projects of its
// hello frame.
func (c *client) dialHello() (*websocket.Conn, []string) {
	t := c.s.t
	t.Helper()
	r := c.do("POST", "/api/ws-ticket", nil, nil)
	if r.status != 201 {
		t.Fatalf("ticket: %d %s", r.status, r.body)
	}
	var tk struct{ URL string }
	r.json(t, &tk)
	conn, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(c.s.url, "http")+tk.URL, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	_, b, err := conn.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var hello struct{ Projects []string }
	if err := json.Unmarshal(b, &hello); err != nil {
		t.Fatal(err)
	}
	return conn, hello.Projects
}

// The demo administrator registers project geo over the API with alice
// and bob as members; removing bob closes bob's open WebSocket at once
// (4003) and not alice's, and bob's next connection no longer follows
// geo. Non-administrators are refused every administration route alike.
func TestAdminRemovingAMemberClosesTheirWebSocket(t *testing.T) {
	s := startServer(t, simcloud.ZeroOptions())
	admin, alice, bob := s.login(setup.DemoAdmin), s.login("alice"), s.login("bob")

	var me struct{ Admin bool }
	admin.do("GET", "/api/me", nil, nil).json(t, &me)
	if !me.Admin {
		t.Fatal("/api/me of the demo administrator does not say admin")
	}
	for _, c := range []*client{alice, s.login("mallory")} {
		for _, rq := range []struct{ method, path string }{
			{"GET", "/api/admin/projects"}, {"GET", "/api/admin/projects/demo"}, {"GET", "/api/admin/projects/nope"},
			{"DELETE", "/api/admin/projects/demo"},
		} {
			if r := c.do(rq.method, rq.path, nil, nil); r.status != 403 || !strings.Contains(string(r.body), "administrators only") {
				t.Errorf("%s %s %s: %d %s, want 403", c.user, rq.method, rq.path, r.status, r.body)
			}
		}
	}

	geo := map[string]any{
		"id": "geo", "name": "Geodata", "account_id": "333333333333", "region": "eu-west-1",
		"role": "bucketdesk-portal", "external_id": "geo-ext", "members": []string{"alice", "bob"},
	}
	if r := admin.do("POST", "/api/admin/projects", geo, nil); r.status != 201 || r.header.Get("Location") != "/api/admin/projects/geo" {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	bobConn, bobProjects := bob.dialHello()
	aliceConn, _ := alice.dialHello()
	if !slices.Contains(bobProjects, "geo") {
		t.Fatalf("bob's connection follows %v, want geo", bobProjects)
	}

	r := admin.do("POST", "/api/admin/projects/geo/members", map[string]any{"remove": []string{"bob"}}, nil)
	if r.status != 200 {
		t.Fatalf("remove bob: %d %s", r.status, r.body)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := bobConn.Read(ctx)
		if err == nil {
			continue // a frame published before the close
		}
		if code := websocket.CloseStatus(err); code != wsapi.CloseRevoked {
			t.Fatalf("bob's connection ended with %v (%d), want %d", err, code, wsapi.CloseRevoked)
		}
		break
	}
	// Alice's connection still answers the protocol's ping.
	if err := aliceConn.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`)); err != nil {
		t.Fatalf("alice's connection was closed too: %v", err)
	}
	for {
		_, b, err := aliceConn.Read(ctx)
		if err != nil {
			t.Fatalf("alice's connection was closed too: %v", err)
		}
		if strings.Contains(string(b), `"pong"`) {
			break
		}
	}
	if _, again := bob.dialHello(); slices.Contains(again, "geo") {
		t.Fatalf("bob's new connection still follows geo: %v", again)
	}
	if r := bob.do("GET", "/api/projects/geo", nil, nil); r.status != 404 {
		t.Fatalf("bob reads geo after removal: %d", r.status)
	}
	if r := alice.do("GET", "/api/projects/geo", nil, nil); r.status != 200 {
		t.Fatalf("alice reads geo: %d %s", r.status, r.body)
	}

	// Retiring closes alice's connection too, and geo leaves her list.
	if r := admin.do("DELETE", "/api/admin/projects/geo", nil, nil); r.status != 200 || !strings.Contains(string(r.body), `"retired":true`) {
		t.Fatalf("retire: %d %s", r.status, r.body)
	}
	for {
		_, _, err := aliceConn.Read(ctx)
		if err == nil {
			continue
		}
		if code := websocket.CloseStatus(err); code != wsapi.CloseRevoked {
			t.Fatalf("alice's connection ended with %v, want %d", err, wsapi.CloseRevoked)
		}
		break
	}
	var list struct{ Items []struct{ ID string } }
	alice.do("GET", "/api/projects", nil, nil).json(t, &list)
	for _, p := range list.Items {
		if p.ID == "geo" {
			t.Fatal("alice still lists retired geo")
		}
	}
}

// The demo logins: alice, bob and mallory are not administrators, admin
// is. A data directory from before the administrator, started again with
// BUCKETDESK_DEMO_PASSWORD, gets it, and keeps its other users and every
// flag (a disabled bob stays disabled).
func TestEnsureDemoUsersAddsTheAdministrator(t *testing.T) {
	dir := t.TempDir()
	h, err := auth.HashPasswordCost("old", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.WriteUsers(setup.UsersFile(dir), []auth.UserEntry{
		{Username: "alice", PasswordHash: h}, {Username: "bob", PasswordHash: h, Disabled: true}, {Username: "carol", PasswordHash: h},
	}); err != nil {
		t.Fatal(err)
	}
	if pw, err := setup.EnsureDemoUsers(dir, ""); err != nil || pw != "" {
		t.Fatalf("without a password the file stays: %q %v", pw, err)
	}
	if _, err := setup.EnsureDemoUsers(dir, demoPassword); err != nil {
		t.Fatal(err)
	}
	users, err := auth.LoadUsers(setup.UsersFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "mallory", setup.DemoAdmin} {
		p, err := users.Check(u, demoPassword)
		if err != nil || p.Admin != (u == setup.DemoAdmin) {
			t.Errorf("%s: %+v %v", u, p, err)
		}
	}
	if _, err := users.Check("bob", demoPassword); err == nil {
		t.Error("bob was enabled again")
	}
	if _, err := users.Check("carol", "old"); err != nil {
		t.Errorf("carol was lost: %v", err)
	}
}
