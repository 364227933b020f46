package apigwhub_test

import (
	"context"
	"slices"
	"testing"

	"bucketdesk/internal/core"
)

// Disconnect closes, through @connections, the connections of a project's
// removed users (of everyone when asked) and forgets them; connections of
// other users or of other projects only stay open and registered.
func TestDisconnectClosesAUsersConnectionsOfAProject(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, c := range []struct {
		id, user string
		projects []string
	}{
		{"bob-geo", "bob", []string{"geo", "demo"}},
		{"bob-demo", "bob", []string{"demo"}},
		{"alice-geo", "alice", []string{"geo"}},
		{"carol-geo", "carol", []string{"geo"}},
	} {
		e.fake.Register(c.id)
		if err := e.store.PutConnection(ctx, &core.Connection{ID: c.id, User: c.user, Projects: c.projects, ConnectedAt: e.now, ExpiresAt: e.now.Add(3600e9)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.hub.Disconnect(ctx, "geo", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	if e.fake.Open("bob-geo") || !e.fake.Open("bob-demo") || !e.fake.Open("alice-geo") {
		t.Fatalf("open after removing bob: bob-geo %v, bob-demo %v, alice-geo %v", e.fake.Open("bob-geo"), e.fake.Open("bob-demo"), e.fake.Open("alice-geo"))
	}
	if got := e.listed(t, "geo"); !slices.Equal(got, []string{"alice-geo", "carol-geo"}) {
		t.Fatalf("geo's connections: %v", got)
	}
	if got := e.listed(t, "demo"); !slices.Equal(got, []string{"bob-demo"}) {
		t.Fatalf("demo's connections: %v", got)
	}
	// A connection already gone is forgotten all the same.
	e.fake.Close("carol-geo")
	if err := e.hub.Disconnect(ctx, "geo", nil); err != nil {
		t.Fatal(err)
	}
	if e.fake.Open("alice-geo") || len(e.listed(t, "geo")) != 0 || !e.fake.Open("bob-demo") {
		t.Fatalf("after closing everyone's: geo %v, bob-demo open %v", e.listed(t, "geo"), e.fake.Open("bob-demo"))
	}
}
