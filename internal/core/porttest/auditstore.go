package porttest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"bucketdesk/internal/core"
)

// RunAuditStoreTests runs the conformance suite of core.AuditStore.
// newStore must return a fresh, empty store for each subtest and register
// its own cleanup with t.Cleanup.
//
// The suite needs no TTL expiry: a store may also let its records expire
// on its own, but only PurgeAudit is relied upon.
func RunAuditStoreTests(t *testing.T, newStore func(t *testing.T) core.AuditStore) {
	runStoreTests(t, newStore, []storeTest[core.AuditStore]{
		{"Audit/AppendRoundTrip", testAuditRoundTrip},
		{"Audit/AppendIdempotent", testAuditIdempotent},
		{"Audit/AppendInvalid", testAuditInvalid},
		{"Audit/ListNewestFirst", testAuditNewestFirst},
		{"Audit/ListPaging", testAuditPaging},
		{"Audit/ListFilters", testAuditFilters},
		{"Audit/ListTimeRange", testAuditTimeRange},
		{"Audit/ListFilteredPaging", testAuditFilteredPaging},
		{"Audit/ListBadCursor", testAuditBadCursor},
		{"Audit/ProjectIsolation", testAuditIsolation},
		{"Audit/Purge", testAuditPurge},
		{"Audit/PurgeLimitOldestFirst", testAuditPurgeLimit},
	})
}

// auditID returns the ULID of a record made at t, its entropy from n so
// that records of one millisecond differ and sort by n.
func auditID(t time.Time, n int) string {
	var u ulid.ULID
	if err := u.SetTime(ulid.Timestamp(t)); err != nil {
		panic(err)
	}
	u[15] = byte(n)
	u[14] = byte(n >> 8)
	return u.String()
}

// auditRecord returns record n of a project, n seconds after base.
func auditRecord(project string, n int) *core.AuditRecord {
	at := base.Add(time.Duration(n) * time.Second)
	return &core.AuditRecord{
		ID: auditID(at, n), Project: project, At: at, Actor: "alice", Action: core.AuditCreate,
		Kind: core.KindBucket, Name: fmt.Sprintf("b%d", n), Outcome: core.OutcomeAccepted,
	}
}

func mustAppend(t *testing.T, s core.AuditStore, rs ...*core.AuditRecord) {
	t.Helper()
	for _, r := range rs {
		if err := s.AppendAudit(t.Context(), r); err != nil {
			t.Fatalf("AppendAudit(%s): %v", r.ID, err)
		}
	}
}

func listAudit(t *testing.T, s core.AuditStore, project string, f core.AuditFilter, limit int) []*core.AuditRecord {
	t.Helper()
	return listAll(t, "ListAudit", project, limit, func(p core.Page) ([]*core.AuditRecord, string, error) {
		return s.ListAudit(t.Context(), project, f, p)
	})
}

func auditNames(rs []*core.AuditRecord) []string {
	names := make([]string, 0, len(rs))
	for _, r := range rs {
		names = append(names, r.Name)
	}
	return names
}

func wantAuditNames(t *testing.T, what string, rs []*core.AuditRecord, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got := auditNames(rs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func utcAudit(r *core.AuditRecord) *core.AuditRecord {
	u := *r
	u.At = r.At.UTC()
	return &u
}

func testAuditRoundTrip(t *testing.T, s core.AuditStore) {
	at := base.In(time.FixedZone("CET", 3600))
	r := &core.AuditRecord{
		ID: auditID(at, 1), Project: "p1", At: at, Actor: "alice", Action: core.AuditRotateKey,
		Kind: core.KindUser, Name: "etl", OperationID: "01JNJ5Y0R9ZK4T3V7Q8W2X6M1A", Outcome: core.OutcomeFailed,
		Reason: "Resource handler returned message: \"quota\"", SourceIP: "203.0.113.9", UserAgent: "Mozilla/5.0 (X11)",
		LinkID: "lnk-1", Detail: map[string]string{"key": "2", "access_key_id": "AKIAEXAMPLE"},
	}
	mustAppend(t, s, r)
	got := listAudit(t, s, "p1", core.AuditFilter{}, 0)
	if len(got) != 1 {
		t.Fatalf("ListAudit returned %d records, want 1", len(got))
	}
	sameJSON(t, "audit record", utcAudit(got[0]), utcAudit(r))
	// The caller's record is not the store's: changing it changes nothing.
	r.Actor = "mallory"
	sameJSON(t, "audit record after the caller changed its copy", listAudit(t, s, "p1", core.AuditFilter{}, 0)[0].Actor, "alice")
}

func testAuditIdempotent(t *testing.T, s core.AuditStore) {
	r := auditRecord("p1", 1)
	mustAppend(t, s, r)
	again := *r
	again.Actor = "mallory"
	again.Outcome = core.OutcomeRefused
	// The same ID again: kept as first written, not an error, not doubled.
	mustAppend(t, s, &again)
	got := listAudit(t, s, "p1", core.AuditFilter{}, 0)
	if len(got) != 1 {
		t.Fatalf("after appending the same ID twice ListAudit returned %d records, want 1", len(got))
	}
	sameJSON(t, "record appended twice", utcAudit(got[0]), utcAudit(r))
}

func testAuditInvalid(t *testing.T, s core.AuditStore) {
	noID := auditRecord("p1", 1)
	noID.ID = ""
	notULID := auditRecord("p1", 2)
	notULID.ID = "not-a-ulid"
	noProject := auditRecord("", 3)
	for _, r := range []*core.AuditRecord{noID, notULID, noProject} {
		if err := s.AppendAudit(t.Context(), r); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("AppendAudit(id %q, project %q) error = %v, want ErrInvalid", r.ID, r.Project, err)
		}
	}
	wantAuditNames(t, "records after invalid appends", listAudit(t, s, "p1", core.AuditFilter{}, 0))
}

func testAuditNewestFirst(t *testing.T, s core.AuditStore) {
	// Appended out of order: the order is the IDs'.
	for _, n := range []int{3, 1, 5, 2, 4} {
		mustAppend(t, s, auditRecord("p1", n))
	}
	// Two records of the same millisecond sort by the rest of their ID.
	same := auditRecord("p1", 6)
	same.ID, same.Name = auditID(base.Add(5*time.Second), 7), "b5bis"
	mustAppend(t, s, same)
	wantAuditNames(t, "ListAudit", listAudit(t, s, "p1", core.AuditFilter{}, 0), "b5bis", "b5", "b4", "b3", "b2", "b1")
}

func testAuditPaging(t *testing.T, s core.AuditStore) {
	var want []string
	for n := 1; n <= 7; n++ {
		mustAppend(t, s, auditRecord("p1", n))
		want = append([]string{fmt.Sprintf("b%d", n)}, want...)
	}
	for _, limit := range []int{1, 2, 3, 7, 8} {
		wantAuditNames(t, fmt.Sprintf("ListAudit by %d", limit), listAudit(t, s, "p1", core.AuditFilter{}, limit), want...)
	}
	// A last page that is full has no cursor: the next one would be empty.
	page, next, err := s.ListAudit(t.Context(), "p1", core.AuditFilter{}, core.Page{Limit: 7})
	if err != nil || len(page) != 7 || next != "" {
		t.Errorf("ListAudit(Limit 7) of 7 = %d records, cursor %q, err %v; want 7, \"\", nil", len(page), next, err)
	}
}

func testAuditFilters(t *testing.T, s core.AuditStore) {
	rs := []*core.AuditRecord{auditRecord("p1", 1), auditRecord("p1", 2), auditRecord("p1", 3), auditRecord("p1", 4), auditRecord("p1", 5)}
	rs[1].Actor = "bob"
	rs[2].Kind, rs[2].Name = core.KindUser, "b1" // a user with a bucket's name
	rs[3].Action, rs[3].Outcome = core.AuditDelete, core.OutcomeSucceeded
	rs[4].Name = "b1"
	mustAppend(t, s, rs...)
	cases := []struct {
		f    core.AuditFilter
		want []string
	}{
		{core.AuditFilter{Actor: "bob"}, []string{"b2"}},
		{core.AuditFilter{Actor: "alice"}, []string{"b1", "b4", "b1", "b1"}},
		{core.AuditFilter{Kind: core.KindBucket, Name: "b1"}, []string{"b1", "b1"}},
		{core.AuditFilter{Kind: core.KindUser}, []string{"b1"}},
		{core.AuditFilter{Action: core.AuditDelete}, []string{"b4"}},
		{core.AuditFilter{Actor: "alice", Action: core.AuditCreate, Kind: core.KindBucket, Name: "b1"}, []string{"b1", "b1"}},
		{core.AuditFilter{Actor: "nobody"}, nil},
	}
	for _, c := range cases {
		wantAuditNames(t, fmt.Sprintf("ListAudit(%+v)", c.f), listAudit(t, s, "p1", c.f, 0), c.want...)
	}
}

func testAuditTimeRange(t *testing.T, s core.AuditStore) {
	for n := 1; n <= 6; n++ {
		mustAppend(t, s, auditRecord("p1", n))
	}
	at := func(n int) time.Time { return base.Add(time.Duration(n) * time.Second) }
	cases := []struct {
		f    core.AuditFilter
		want []string
	}{
		// From included, To excluded, to the millisecond of the IDs.
		{core.AuditFilter{From: at(2).Truncate(time.Millisecond), To: at(5).Truncate(time.Millisecond)}, []string{"b4", "b3", "b2"}},
		{core.AuditFilter{From: at(5).Truncate(time.Millisecond)}, []string{"b6", "b5"}},
		{core.AuditFilter{To: at(2).Truncate(time.Millisecond)}, []string{"b1"}},
		{core.AuditFilter{From: at(4), To: at(4)}, nil},
		{core.AuditFilter{From: at(6), To: at(2)}, nil},
		{core.AuditFilter{From: at(10)}, nil},
		{core.AuditFilter{To: base}, nil},
		{core.AuditFilter{From: at(3).Truncate(time.Millisecond), Actor: "alice", Kind: core.KindBucket}, []string{"b6", "b5", "b4", "b3"}},
	}
	for _, c := range cases {
		for _, limit := range []int{0, 1, 2} {
			wantAuditNames(t, fmt.Sprintf("ListAudit(from %s, to %s, Limit %d)", c.f.From.Format(time.StampMilli), c.f.To.Format(time.StampMilli), limit),
				listAudit(t, s, "p1", c.f, limit), c.want...)
		}
	}
}

func testAuditFilteredPaging(t *testing.T, s core.AuditStore) {
	// Many records that do not match between few that do: a page is full
	// of matches, and no page is empty while a cursor says more.
	var want []string
	for n := 1; n <= 40; n++ {
		r := auditRecord("p1", n)
		if n%9 == 0 {
			r.Actor = "bob"
			want = append([]string{r.Name}, want...)
		}
		mustAppend(t, s, r)
	}
	for _, limit := range []int{1, 2, 4, 5} {
		wantAuditNames(t, fmt.Sprintf("ListAudit(actor bob) by %d", limit), listAudit(t, s, "p1", core.AuditFilter{Actor: "bob"}, limit), want...)
	}
}

func testAuditBadCursor(t *testing.T, s core.AuditStore) {
	mustAppend(t, s, auditRecord("p1", 1), auditRecord("p1", 2), auditRecord("p2", 3))
	for _, c := range []string{"%%%", "bm90LWEtY3Vyc29y"} {
		if _, _, err := s.ListAudit(t.Context(), "p1", core.AuditFilter{}, core.Page{Limit: 1, Cursor: c}); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("ListAudit(cursor %q) error = %v, want ErrInvalid", c, err)
		}
	}
}

func testAuditIsolation(t *testing.T, s core.AuditStore) {
	mustAppend(t, s, auditRecord("ab", 1), auditRecord("ab-c", 2), auditRecord("abc", 3), auditRecord(core.PortalProject, 4))
	wantAuditNames(t, "ListAudit(ab)", listAudit(t, s, "ab", core.AuditFilter{}, 0), "b1")
	wantAuditNames(t, "ListAudit(ab-c)", listAudit(t, s, "ab-c", core.AuditFilter{}, 0), "b2")
	wantAuditNames(t, "ListAudit(portal)", listAudit(t, s, core.PortalProject, core.AuditFilter{}, 0), "b4")
	wantAuditNames(t, "ListAudit(a)", listAudit(t, s, "a", core.AuditFilter{}, 0))
	n, err := s.PurgeAudit(t.Context(), "ab", base.Add(time.Hour), 0)
	if err != nil || n != 1 {
		t.Fatalf("PurgeAudit(ab) = %d, %v; want 1, nil", n, err)
	}
	wantAuditNames(t, "ListAudit(ab-c) after a purge of ab", listAudit(t, s, "ab-c", core.AuditFilter{}, 0), "b2")
	wantAuditNames(t, "ListAudit(abc) after a purge of ab", listAudit(t, s, "abc", core.AuditFilter{}, 0), "b3")
}

func testAuditPurge(t *testing.T, s core.AuditStore) {
	for n := 1; n <= 5; n++ {
		mustAppend(t, s, auditRecord("p1", n))
	}
	cut := base.Add(3 * time.Second).Truncate(time.Millisecond)
	n, err := s.PurgeAudit(t.Context(), "p1", cut, 0)
	if err != nil || n != 2 {
		t.Fatalf("PurgeAudit(before record 3) = %d, %v; want 2, nil", n, err)
	}
	wantAuditNames(t, "after the purge", listAudit(t, s, "p1", core.AuditFilter{}, 0), "b5", "b4", "b3")
	if n, err := s.PurgeAudit(t.Context(), "p1", cut, 0); err != nil || n != 0 {
		t.Errorf("the same PurgeAudit again = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.PurgeAudit(t.Context(), "p1", base, 0); err != nil || n != 0 {
		t.Errorf("PurgeAudit with nothing old = %d, %v; want 0, nil", n, err)
	}
	if _, err := s.PurgeAudit(t.Context(), "p1", cut, -1); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("PurgeAudit(limit -1) error = %v, want ErrInvalid", err)
	}
}

func testAuditPurgeLimit(t *testing.T, s core.AuditStore) {
	for n := 1; n <= 6; n++ {
		mustAppend(t, s, auditRecord("p1", n))
	}
	n, err := s.PurgeAudit(t.Context(), "p1", base.Add(time.Hour), 2)
	if err != nil || n != 2 {
		t.Fatalf("PurgeAudit(limit 2) = %d, %v; want 2, nil", n, err)
	}
	wantAuditNames(t, "after a purge of 2", listAudit(t, s, "p1", core.AuditFilter{}, 0), "b6", "b5", "b4", "b3")
	n, err = s.PurgeAudit(t.Context(), "p1", base.Add(time.Hour), 0)
	if err != nil || n != 4 {
		t.Fatalf("PurgeAudit(no limit) = %d, %v; want 4, nil", n, err)
	}
	wantAuditNames(t, "after purging all", listAudit(t, s, "p1", core.AuditFilter{}, 0))
}
