package porttest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"bucketdesk/internal/core"
)

// RunShareLinkStoreTests runs the conformance suite of
// core.ShareLinkStore. newStore must return a fresh, empty store for each
// subtest and register its own cleanup with t.Cleanup.
func RunShareLinkStoreTests(t *testing.T, newStore func(t *testing.T) core.ShareLinkStore) {
	runStoreTests(t, newStore, []storeTest[core.ShareLinkStore]{
		{"ShareLinks/RoundTrip", testLinksRoundTrip},
		{"ShareLinks/Conditional", testLinksConditional},
		{"ShareLinks/ConcurrentReveal", testLinksConcurrentReveal},
		{"ShareLinks/ListByProject", testLinksList},
	})
}

func shareLink(id, project string) *core.ShareLink {
	return &core.ShareLink{
		ID: id, Project: project, User: "partner-upload", Key: 1, AccessKeyID: "AKIAEXAMPLE",
		CreatedBy: "alice", CreatedAt: base, ExpiresAt: base.Add(core.DefaultLinkTTL),
		State: core.LinkCreated, VerifierHash: "ab12", PassphraseHash: "$2a$10$x",
		Ciphertext: []byte{0, 1, 2, 0xff}, Version: 1,
	}
}

func utcLink(l *core.ShareLink) *core.ShareLink {
	c := l.Clone()
	c.CreatedAt, c.ExpiresAt, c.EndedAt = c.CreatedAt.UTC(), c.ExpiresAt.UTC(), c.EndedAt.UTC()
	for _, v := range []*core.LinkVisit{c.Opened, c.Revealed} {
		if v != nil {
			v.At = v.At.UTC()
		}
	}
	return c
}

func testLinksRoundTrip(t *testing.T, s core.ShareLinkStore) {
	ctx := t.Context()
	l := shareLink("01JLINK0000000000000000001", "p1")
	if err := s.PutShareLink(ctx, l, 0); err != nil {
		t.Fatalf("PutShareLink: %v", err)
	}
	got, err := s.GetShareLink(ctx, l.ID)
	if err != nil {
		t.Fatalf("GetShareLink: %v", err)
	}
	sameJSON(t, "link", utcLink(got), utcLink(l))
	if _, err := s.GetShareLink(ctx, "01JLINK0000000000000000099"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("GetShareLink(unknown) error = %v, want ErrNotFound", err)
	}
	// A later version with visits, an end and no ciphertext.
	next := l.Clone()
	next.State, next.Version, next.Ciphertext = core.LinkRevealed, 2, nil
	next.Opened = &core.LinkVisit{At: base.Add(time.Minute), SourceIP: "192.0.2.1", UserAgent: "curl/8"}
	next.Revealed = &core.LinkVisit{At: base.Add(2 * time.Minute), SourceIP: "192.0.2.1", UserAgent: "curl/8"}
	next.EndedAt = base.Add(2 * time.Minute)
	if err := s.PutShareLink(ctx, next, 1); err != nil {
		t.Fatalf("PutShareLink v2: %v", err)
	}
	got, err = s.GetShareLink(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "link v2", utcLink(got), utcLink(next))
	if got.Ciphertext != nil {
		t.Errorf("ciphertext = %v after it was dropped, want nil", got.Ciphertext)
	}
}

func testLinksConditional(t *testing.T, s core.ShareLinkStore) {
	ctx := t.Context()
	l := shareLink("01JLINK0000000000000000001", "p1")
	if err := s.PutShareLink(ctx, l, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.PutShareLink(ctx, l, 0); !errors.Is(err, core.ErrConflict) {
		t.Errorf("create of an existing link error = %v, want ErrConflict", err)
	}
	stale := l.Clone()
	stale.Version, stale.State = 3, core.LinkRevoked
	if err := s.PutShareLink(ctx, stale, 2); !errors.Is(err, core.ErrConflict) {
		t.Errorf("write from a wrong version error = %v, want ErrConflict", err)
	}
	got, err := s.GetShareLink(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != core.LinkCreated || got.Version != 1 {
		t.Errorf("after refused writes: state %s version %d, want created 1", got.State, got.Version)
	}
	missing := shareLink("01JLINK0000000000000000002", "p1")
	missing.Version = 2
	if err := s.PutShareLink(ctx, missing, 1); !errors.Is(err, core.ErrConflict) {
		t.Errorf("update of a missing link error = %v, want ErrConflict", err)
	}
}

// Of concurrent reveals from the same version, exactly one wins: what
// makes a link single-use.
func testLinksConcurrentReveal(t *testing.T, s core.ShareLinkStore) {
	ctx := t.Context()
	l := shareLink("01JLINK0000000000000000001", "p1")
	if err := s.PutShareLink(ctx, l, 0); err != nil {
		t.Fatal(err)
	}
	errs := race(racers, func(i int) error {
		next := l.Clone()
		next.State, next.Version, next.Ciphertext = core.LinkRevealed, 2, nil
		next.Revealed = &core.LinkVisit{At: base, SourceIP: fmt.Sprintf("192.0.2.%d", i)}
		return s.PutShareLink(ctx, next, 1)
	})
	w := oneWinner(t, errs)
	got, err := s.GetShareLink(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Revealed == nil || got.Revealed.SourceIP != fmt.Sprintf("192.0.2.%d", w) {
		t.Errorf("stored reveal %+v, want the winner's (%d)", got.Revealed, w)
	}
}

func testLinksList(t *testing.T, s core.ShareLinkStore) {
	ctx := t.Context()
	ids := []string{"01JLINK0000000000000000001", "01JLINK0000000000000000003", "01JLINK0000000000000000002"}
	for _, id := range ids {
		if err := s.PutShareLink(ctx, shareLink(id, "ab"), 0); err != nil {
			t.Fatal(err)
		}
	}
	// A project whose id starts with the other's.
	if err := s.PutShareLink(ctx, shareLink("01JLINK0000000000000000004", "ab-c"), 0); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListShareLinks(ctx, "ab")
	if err != nil {
		t.Fatal(err)
	}
	var gotIDs []string
	for _, l := range got {
		gotIDs = append(gotIDs, l.ID)
	}
	want := []string{"01JLINK0000000000000000003", "01JLINK0000000000000000002", "01JLINK0000000000000000001"}
	if fmt.Sprint(gotIDs) != fmt.Sprint(want) {
		t.Errorf("ListShareLinks(ab) = %v, want %v (newest first, no other project's)", gotIDs, want)
	}
	if len(got) > 0 {
		sameJSON(t, "listed link", utcLink(got[2]), utcLink(shareLink(ids[0], "ab")))
	}
	none, err := s.ListShareLinks(ctx, "zz")
	if err != nil || len(none) != 0 {
		t.Errorf("ListShareLinks(zz) = %v, %v; want none", none, err)
	}
}
