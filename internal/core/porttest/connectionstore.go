package porttest

import (
	"slices"
	"testing"
	"time"

	"bucketdesk/internal/core"
)

// RunConnectionStoreTests runs the conformance suite of
// core.ConnectionStore. newStore must return a fresh, empty store for each
// subtest and register its own cleanup with t.Cleanup.
//
// The suite needs no TTL expiry: expiry is always decided by the now
// passed in.
func RunConnectionStoreTests(t *testing.T, newStore func(t *testing.T) core.ConnectionStore) {
	runStoreTests(t, newStore, []storeTest[core.ConnectionStore]{
		{"Connections/ListByProject", testConnectionsList},
		{"Connections/ReplaceDropsProject", testConnectionsReplace},
		{"Connections/Delete", testConnectionsDelete},
		{"Connections/Expired", testConnectionsExpired},
	})
}

func connection(id string, projects ...string) *core.Connection {
	return &core.Connection{
		ID: id, User: "user-" + id, Projects: projects,
		ConnectedAt: base, ExpiresAt: base.Add(2 * time.Hour),
	}
}

func testConnectionsList(t *testing.T, s core.ConnectionStore) {
	ctx := t.Context()
	for _, c := range []*core.Connection{
		connection("c1", "ab", "ab-c"),
		connection("c2", "ab"),
		connection("c3", "abc"),
		connection("c4", "ab-c", "zz"),
	} {
		if err := s.PutConnection(ctx, c); err != nil {
			t.Fatalf("PutConnection(%s): %v", c.ID, err)
		}
	}
	now := base.Add(time.Minute)
	wantConnections(t, s, "ab", now, "c1", "c2")
	wantConnections(t, s, "ab-c", now, "c1", "c4")
	wantConnections(t, s, "abc", now, "c3")
	wantConnections(t, s, "zz", now, "c4")
	wantConnections(t, s, "a", now)

	cs, err := s.ListConnections(ctx, "ab-c", now)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.ID == "c1" {
			sameJSON(t, "connection c1", utcConnection(c), utcConnection(connection("c1", "ab", "ab-c")))
		}
	}
}

func testConnectionsReplace(t *testing.T, s core.ConnectionStore) {
	ctx := t.Context()
	if err := s.PutConnection(ctx, connection("c1", "p1", "p2", "p3")); err != nil {
		t.Fatal(err)
	}
	repl := connection("c1", "p1", "p4")
	repl.User = "someone-else"
	if err := s.PutConnection(ctx, repl); err != nil {
		t.Fatalf("PutConnection (replace): %v", err)
	}
	now := base.Add(time.Minute)
	wantConnections(t, s, "p1", now, "c1")
	wantConnections(t, s, "p2", now)
	wantConnections(t, s, "p3", now)
	wantConnections(t, s, "p4", now, "c1")
	cs, err := s.ListConnections(ctx, "p1", now)
	if err != nil || len(cs) != 1 {
		t.Fatalf("ListConnections(p1) = %d, %v; want 1, nil", len(cs), err)
	}
	sameJSON(t, "replaced connection", utcConnection(cs[0]), utcConnection(repl))
}

func testConnectionsDelete(t *testing.T, s core.ConnectionStore) {
	ctx := t.Context()
	for _, c := range []*core.Connection{connection("c1", "p1", "p2"), connection("c2", "p1")} {
		if err := s.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteConnection(ctx, "c1"); err != nil {
		t.Fatalf("DeleteConnection: %v", err)
	}
	now := base.Add(time.Minute)
	wantConnections(t, s, "p1", now, "c2")
	wantConnections(t, s, "p2", now)
	for _, id := range []string{"c1", "unknown"} {
		if err := s.DeleteConnection(ctx, id); err != nil {
			t.Errorf("DeleteConnection(%s) of an unknown id: %v, want nil", id, err)
		}
	}
	wantConnections(t, s, "p1", now, "c2")
}

func testConnectionsExpired(t *testing.T, s core.ConnectionStore) {
	ctx := t.Context()
	short := connection("short", "p1")
	short.ExpiresAt = base.Add(10 * time.Minute)
	long := connection("long", "p1")
	long.ExpiresAt = base.Add(2 * time.Hour)
	for _, c := range []*core.Connection{short, long} {
		if err := s.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	wantConnections(t, s, "p1", base.Add(9*time.Minute), "long", "short")
	wantConnections(t, s, "p1", base.Add(11*time.Minute), "long")
	wantConnections(t, s, "p1", base.Add(3*time.Hour))
}

func wantConnections(t *testing.T, s core.ConnectionStore, project string, now time.Time, ids ...string) {
	t.Helper()
	cs, err := s.ListConnections(t.Context(), project, now)
	if err != nil {
		t.Fatalf("ListConnections(%q): %v", project, err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, c.ID)
		if !slices.Contains(c.Projects, project) {
			t.Errorf("ListConnections(%q) returned %s registered for %q", project, c.ID, c.Projects)
		}
	}
	slices.Sort(got) // the order of connections is not part of the contract
	if !slices.Equal(got, ids) {
		t.Errorf("ListConnections(%q, %s) = %q, want %q", project, now.Format(time.TimeOnly), got, ids)
	}
}

// utcConnection also sorts the projects: an adapter may keep them as a
// set (a DynamoDB string set has no order).
func utcConnection(c *core.Connection) *core.Connection {
	u := *c
	u.Projects = slices.Sorted(slices.Values(c.Projects))
	u.ConnectedAt = c.ConnectedAt.UTC()
	u.ExpiresAt = c.ExpiresAt.UTC()
	return &u
}
