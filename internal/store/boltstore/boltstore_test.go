package boltstore_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"

	"bucketdesk/internal/core"
	"bucketdesk/internal/core/porttest"
	"bucketdesk/internal/store/boltstore"
)

func TestConformance(t *testing.T) {
	conformance(t, func(t *testing.T) *boltstore.Store {
		return open(t, filepath.Join(t.TempDir(), "bucketdesk.db"))
	})
}

// TestConformanceSharedDB runs the suite on a Store made by New on a file
// that already holds another component's buckets, as the local queue's.
func TestConformanceSharedDB(t *testing.T) {
	conformance(t, func(t *testing.T) *boltstore.Store {
		db, err := bolt.Open(filepath.Join(t.TempDir(), "shared.db"), 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		err = db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("queue/jobs"))
			if err != nil {
				return err
			}
			return b.Put([]byte("p1\x00x"), []byte("not a store item"))
		})
		if err != nil {
			t.Fatal(err)
		}
		s, err := boltstore.New(db, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Close must leave a database it did not open alone.
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// conformance runs the suite of every port that Store implements, each
// subtest on a fresh store from newStore.
func conformance(t *testing.T, newStore func(t *testing.T) *boltstore.Store) {
	porttest.RunProjectStoreTests(t, func(t *testing.T) core.ProjectStore { return newStore(t) })
	porttest.RunResourceStoreTests(t, func(t *testing.T) core.ResourceStore { return newStore(t) })
	porttest.RunConnectionStoreTests(t, func(t *testing.T) core.ConnectionStore { return newStore(t) })
	porttest.RunTicketStoreTests(t, func(t *testing.T) core.TicketStore { return newStore(t) })
	porttest.RunAuditStoreTests(t, func(t *testing.T) core.AuditStore { return newStore(t) })
	porttest.RunShareLinkStoreTests(t, func(t *testing.T) core.ShareLinkStore { return newStore(t) })
}

func open(tb testing.TB, path string) *boltstore.Store {
	tb.Helper()
	s, err := boltstore.Open(path, &boltstore.Options{Timeout: time.Second})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

var base = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

func resource(project, stack string, version int64) *core.Resource {
	return &core.Resource{
		Project: project, Kind: core.KindBucket, Name: stack, StackName: stack,
		Spec:      core.Spec{Bucket: &core.BucketSpec{Name: stack, Encryption: core.Encryption{Type: core.EncryptionS3}, Tags: map[string]string{"team": "data"}}},
		Observed:  core.Observed{Phase: core.PhaseReady, StackStatus: "CREATE_COMPLETE", Outputs: map[string]string{"BucketArn": "arn:aws:s3:::" + stack}},
		LastEvent: core.EventRef{ID: "ev-1", Time: base},
		Version:   version, UpdatedAt: base,
	}
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "bucketdesk.db")
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutProject(ctx, &core.Project{ID: "p1", Name: "P1", AccountID: "123456789012", Region: "eu-west-1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutResource(ctx, resource("p1", "bd-p1-bucket-a", 1), 0); err != nil {
		t.Fatal(err)
	}
	op := &core.Operation{ID: "01JNJ5Y0R9ZK4T3V7Q8W2X6M1A", Project: "p1", StackName: "bd-p1-bucket-a", Status: core.OpQueued, Rev: 1}
	if err := s.PutOperation(ctx, op); err != nil {
		t.Fatal(err)
	}
	if err := s.PutConnection(ctx, &core.Connection{ID: "c1", Projects: []string{"p1"}, ExpiresAt: base.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTicket(ctx, &core.Ticket{Hash: "h1", User: "alice", ExpiresAt: base.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	if _, err := s.GetProject(ctx, "p1"); err != nil {
		t.Errorf("project after reopen: %v", err)
	}
	r, err := s.GetResource(ctx, core.ResourceKey{Project: "p1", StackName: "bd-p1-bucket-a"})
	if err != nil || r.Version != 1 || r.Observed.Outputs["BucketArn"] == "" {
		t.Errorf("resource after reopen = %+v, %v", r, err)
	}
	// The condition still holds against the reopened item.
	if err := s.PutResource(ctx, resource("p1", "bd-p1-bucket-a", 2), 1); err != nil {
		t.Errorf("update after reopen: %v", err)
	}
	if ops, _, err := s.ListOperations(ctx, "p1", core.Page{}); err != nil || len(ops) != 1 || ops[0].ID != op.ID {
		t.Errorf("operations after reopen = %v, %v", ops, err)
	}
	if cs, err := s.ListConnections(ctx, "p1", base); err != nil || len(cs) != 1 {
		t.Errorf("connections after reopen = %v, %v", cs, err)
	}
	if _, err := s.TakeTicket(ctx, "h1", base); err != nil {
		t.Errorf("ticket after reopen: %v", err)
	}
}

// TestOpenLocked: a second Open of a file in use fails after the timeout
// instead of hanging, with a retryable kind.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bucketdesk.db")
	open(t, path)
	_, err := boltstore.Open(path, &boltstore.Options{Timeout: 50 * time.Millisecond})
	if !core.Retryable(err) {
		t.Errorf("Open of a locked file error = %v, want ErrUnavailable", err)
	}
}

func TestBadInput(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "bucketdesk.db"))
	for _, r := range []*core.Resource{resource("", "a", 1), resource("p\x00", "a", 1), resource("p1", "", 1)} {
		if err := s.PutResource(ctx, r, 0); !isInvalid(err) {
			t.Errorf("PutResource(%q/%q) error = %v, want ErrInvalid", r.Project, r.StackName, err)
		}
	}
	if _, _, err := s.ListResources(ctx, "p1", core.Page{Cursor: "not base64!"}); !isInvalid(err) {
		t.Errorf("ListResources(bad cursor) error = %v, want ErrInvalid", err)
	}
}

// TestPurgeBatches: a purge longer than one transaction's batch goes on
// where the last batch stopped, walks past operations that have not
// ended, and stops at its limit in the middle of a batch.
func TestPurgeBatches(t *testing.T) {
	boltstore.SetPurgeBatch(t, 2)
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "bucketdesk.db"))
	cutoff := base.Add(time.Hour)
	var ended, running []*core.Operation
	for i := range 9 {
		at := base.Add(time.Duration(i) * time.Minute)
		op := operationAt("p1", at, core.OpSucceeded)
		if i%3 == 1 {
			op.Status = core.OpRunning
			running = append(running, op)
		} else {
			ended = append(ended, op)
		}
		if err := s.PutOperation(ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	young := operationAt("p1", cutoff, core.OpFailed)
	if err := s.PutOperation(ctx, young); err != nil {
		t.Fatal(err)
	}

	n, err := s.PurgeOperations(ctx, "p1", cutoff, 5)
	if err != nil || n != 5 {
		t.Fatalf("PurgeOperations(limit 5) = %d, %v; want 5, nil", n, err)
	}
	want := slices.Concat(running, ended[5:], []*core.Operation{young})
	if got := operationIDs(t, s); !slices.Equal(got, sortedIDs(want)) {
		t.Errorf("after a purge of 5 in batches of 2: operations %q, want %q", got, sortedIDs(want))
	}
	n, err = s.PurgeOperations(ctx, "p1", cutoff, 0)
	if err != nil || n != 1 {
		t.Fatalf("PurgeOperations(no limit) = %d, %v; want 1, nil", n, err)
	}
	want = append(running, young)
	if got := operationIDs(t, s); !slices.Equal(got, sortedIDs(want)) {
		t.Errorf("after a full purge: operations %q, want %q", got, sortedIDs(want))
	}
}

// TestPurgeNothingOldWritesNothing: a purge that finds nothing old makes
// no read-write transaction, which would cost a commit and an fsync.
func TestPurgeNothingOldWritesNothing(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "bucketdesk.db"))
	for i := range 3 {
		if err := s.PutOperation(ctx, operationAt("p1", base.Add(time.Duration(i)*time.Minute), core.OpSucceeded)); err != nil {
			t.Fatal(err)
		}
	}
	old := operationAt("p1", base.Add(-time.Hour), core.OpRunning)
	if err := s.PutOperation(ctx, old); err != nil {
		t.Fatal(err)
	}
	writes := pagesWritten(s)
	if n, err := s.PurgeOperations(ctx, "p1", base, 0); err != nil || n != 0 {
		t.Fatalf("PurgeOperations = %d, %v; want 0, nil", n, err)
	}
	if w := pagesWritten(s); w != writes {
		t.Errorf("a purge that deleted nothing wrote %d pages", w-writes)
	}
}

// pagesWritten is how many pages the database's read-write transactions
// have written (an empty commit writes its meta page).
func pagesWritten(s *boltstore.Store) int64 {
	st := s.DB().Stats()
	return st.TxStats.GetWrite()
}

func operationAt(project string, at time.Time, st core.OpStatus) *core.Operation {
	id := ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String()
	return &core.Operation{ID: id, Project: project, StackName: "bd-" + project + "-bucket-a", RequestedAt: at, Status: st, Rev: 1}
}

// operationIDs lists p1's operation ids, oldest first.
func operationIDs(t *testing.T, s *boltstore.Store) []string {
	t.Helper()
	ops, _, err := s.ListOperations(t.Context(), "p1", core.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, op := range ops {
		ids = append(ids, op.ID)
	}
	slices.Reverse(ids)
	return ids
}

func sortedIDs(ops []*core.Operation) []string {
	var ids []string
	for _, op := range ops {
		ids = append(ids, op.ID)
	}
	slices.Sort(ids)
	return ids
}

func isInvalid(err error) bool { return err != nil && errors.Is(err, core.ErrInvalid) }

func BenchmarkGet(b *testing.B) {
	ctx := b.Context()
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	fill(b, s, 200)
	key := core.ResourceKey{Project: "p1", StackName: stackName(100)}
	for b.Loop() {
		if _, err := s.GetResource(ctx, key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkList200(b *testing.B) {
	ctx := b.Context()
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	fill(b, s, 200)
	// Another project's items around p1's, so that the scan has to stop.
	for i := range 50 {
		if err := s.PutResource(ctx, resource("p2", stackName(i), 1), 0); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		rs, _, err := s.ListResources(ctx, "p1", core.Page{})
		if err != nil || len(rs) != 200 {
			b.Fatalf("ListResources = %d, %v", len(rs), err)
		}
	}
}

func BenchmarkPutResource(b *testing.B) {
	ctx := b.Context()
	s := open(b, filepath.Join(b.TempDir(), "bench.db"))
	fill(b, s, 200)
	r := resource("p1", stackName(100), 1)
	for b.Loop() {
		r.Version++
		if err := s.PutResource(ctx, r, r.Version-1); err != nil {
			b.Fatal(err)
		}
	}
}

func stackName(i int) string { return fmt.Sprintf("bd-p1-bucket-%04d", i) }

func fill(b *testing.B, s *boltstore.Store, n int) {
	b.Helper()
	for i := range n {
		if err := s.PutResource(b.Context(), resource("p1", stackName(i), 1), 0); err != nil {
			b.Fatal(err)
		}
	}
}

// ListVersions answers a read with no write since the last one without
// visiting the items, and still follows every write: through the store,
// and through the shared database by another component (any committed
// write makes it read the items again). Its answers are the caller's own.
func TestListVersionsFollowsEveryWrite(t *testing.T) {
	ctx := t.Context()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "shared.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := boltstore.New(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	put := func(stack string, version, expect int64) {
		t.Helper()
		r := &core.Resource{Project: "p", Kind: core.KindBucket, Name: stack, StackName: stack, Version: version,
			Spec: core.Spec{Bucket: &core.BucketSpec{Name: stack, Encryption: core.Encryption{Type: core.EncryptionS3}}}, Observed: core.Observed{Phase: core.PhaseReady}}
		if err := s.PutResource(ctx, r, expect); err != nil {
			t.Fatal(err)
		}
	}
	check := func(want ...core.ItemVersion) []core.ItemVersion {
		t.Helper()
		got, err := s.ListVersions(ctx, "p")
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("ListVersions = %v, %v; want %v", got, err, want)
		}
		return got
	}
	put("a", 1, 0)
	put("b", 1, 0)
	first := check(core.ItemVersion{StackName: "a", Version: 1}, core.ItemVersion{StackName: "b", Version: 1})
	first[0].Version = 99 // the caller's copy
	check(core.ItemVersion{StackName: "a", Version: 1}, core.ItemVersion{StackName: "b", Version: 1})
	put("a", 2, 1)
	check(core.ItemVersion{StackName: "a", Version: 2}, core.ItemVersion{StackName: "b", Version: 1})
	// Another component writes to the same file: read again, same answer.
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("queue/jobs"))
		if err != nil {
			return err
		}
		return b.Put([]byte("j"), []byte("x"))
	}); err != nil {
		t.Fatal(err)
	}
	check(core.ItemVersion{StackName: "a", Version: 2}, core.ItemVersion{StackName: "b", Version: 1})
	if err := s.DeleteResource(ctx, core.ResourceKey{Project: "p", StackName: "b"}, 1); err != nil {
		t.Fatal(err)
	}
	check(core.ItemVersion{StackName: "a", Version: 2})
}

// GetProject's answers are the caller's own, however often the project is
// read, and follow every change of it.
func TestGetProjectCopies(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "bucketdesk.db"))
	p := &core.Project{ID: "p", Name: "P", AccountID: "123456789012", Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/r", Members: []string{"alice", "bob"}}
	if err := s.PutProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := s.GetProject(ctx, "p")
		if err != nil || !slices.Equal(got.Members, []string{"alice", "bob"}) || got.Name != "P" {
			t.Fatalf("GetProject = %+v, %v", got, err)
		}
		got.Members[0], got.Name = "mallory", "changed by the caller"
	}
	p.Members = []string{"carol"}
	if err := s.PutProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetProject(ctx, "p"); err != nil || !slices.Equal(got.Members, []string{"carol"}) {
		t.Fatalf("after a change: %+v, %v", got, err)
	}
}
