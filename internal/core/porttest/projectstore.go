package porttest

import (
	"errors"
	"slices"
	"testing"

	"bucketdesk/internal/core"
)

// RunProjectStoreTests runs the conformance suite of core.ProjectStore.
// newStore must return a fresh, empty store for each subtest and register
// its own cleanup with t.Cleanup.
func RunProjectStoreTests(t *testing.T, newStore func(t *testing.T) core.ProjectStore) {
	runStoreTests(t, newStore, []storeTest[core.ProjectStore]{
		{"Projects/PutGetList", testProjectsPutGetList},
		{"Projects/Replace", testProjectsReplace},
		{"Projects/NotFound", testProjectsNotFound},
	})
}

func project(id, name string) *core.Project {
	return &core.Project{
		ID: id, Name: name, AccountID: "123456789012", Region: "eu-west-1",
		RoleARN:    "arn:aws:iam::123456789012:role/bucketdesk",
		ExternalID: "ext-" + id, TransferServerID: "s-0123456789abcdef0",
		Members: []string{"alice", "bob"},
	}
}

func testProjectsPutGetList(t *testing.T, s core.ProjectStore) {
	ctx := t.Context()
	if ps, err := s.ListProjects(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("ListProjects on an empty store = %d projects, %v; want none, nil", len(ps), err)
	}
	// "ab" prefixes "ab-c" and sorts before it; put out of order.
	ids := []string{"zeta", "ab-c", "alpha", "ab"}
	for _, id := range ids {
		if err := s.PutProject(ctx, project(id, "Project "+id)); err != nil {
			t.Fatalf("PutProject(%s): %v", id, err)
		}
	}
	for _, id := range ids {
		got, err := s.GetProject(ctx, id)
		if err != nil {
			t.Fatalf("GetProject(%s): %v", id, err)
		}
		sameJSON(t, "project "+id, got, project(id, "Project "+id))
	}
	ps, err := s.ListProjects(ctx)
	if err != nil {
		t.Fatalf("ListProjects: %v", err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.ID)
	}
	if want := []string{"ab", "ab-c", "alpha", "zeta"}; !slices.Equal(got, want) {
		t.Errorf("ListProjects ids = %q, want %q", got, want)
	}
}

func testProjectsReplace(t *testing.T, s core.ProjectStore) {
	ctx := t.Context()
	if err := s.PutProject(ctx, project("p1", "Old")); err != nil {
		t.Fatal(err)
	}
	p := project("p1", "New")
	p.Members = []string{"carol"}
	p.TransferServerID = ""
	if err := s.PutProject(ctx, p); err != nil {
		t.Fatalf("PutProject (replace): %v", err)
	}
	got, err := s.GetProject(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "replaced project", got, p)
	ps, err := s.ListProjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Errorf("ListProjects after a replace = %d projects, want 1", len(ps))
	}
}

func testProjectsNotFound(t *testing.T, s core.ProjectStore) {
	ctx := t.Context()
	if _, err := s.GetProject(ctx, "nope"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("GetProject(unknown) error = %v, want ErrNotFound", err)
	}
	if err := s.PutProject(ctx, project("ab-c", "x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetProject(ctx, "ab"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("GetProject(prefix of a known id) error = %v, want ErrNotFound", err)
	}
}
