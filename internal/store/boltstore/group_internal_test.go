package boltstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"bucketdesk/internal/core"
)

// holdWriter starts a read-write transaction that holds bbolt's writer
// lock until release is called, so that the writes made meanwhile queue.
func holdWriter(t *testing.T, db *bolt.DB) (release func()) {
	entered, done := make(chan struct{}), make(chan struct{})
	var once sync.Once
	go func() {
		_ = db.Update(func(*bolt.Tx) error {
			close(entered)
			<-done
			return nil
		})
	}()
	<-entered
	release = func() { once.Do(func() { close(done) }) }
	t.Cleanup(release)
	return release
}

// waitQueued waits until n calls wait in the committer's queue.
func waitQueued(t *testing.T, c *committer, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		got := len(c.queue)
		c.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", got, n)
		}
	}
}

// waitLeading waits until a leader has taken the queue and commits (here:
// waits for bbolt's writer lock).
func waitLeading(t *testing.T, c *committer) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		ok := c.busy && len(c.queue) == 0
		c.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no leader took the queue")
		}
	}
}

func testResource(stack string, version int64) *core.Resource {
	return &core.Resource{
		Project: "p1", Kind: core.KindBucket, Name: stack, StackName: stack,
		Spec:    core.Spec{Bucket: &core.BucketSpec{Name: stack, Encryption: core.Encryption{Type: core.EncryptionS3}}},
		Version: version,
	}
}

// TestGroupCommitGroups: the writes that arrive while a commit is in
// progress are committed together in the next transaction, in order of
// arrival; a conflict inside the group is reported to its writer only,
// and the others' writes are committed.
func TestGroupCommitGroups(t *testing.T) {
	ctx := t.Context()
	// The first write leads and waits for bbolt's writer lock; the next
	// ones queue behind it.
	s, release, first := withLeader(t)

	const n = 20
	errs := make([]chan error, n)
	for i := range n {
		errs[i] = make(chan error, 1)
		// Two writers create the same item: the first to arrive wins.
		stack := fmt.Sprintf("bd-p1-bucket-%02d", i)
		if i == 1 {
			stack = "bd-p1-bucket-00"
		}
		go func() { errs[i] <- s.PutResource(ctx, testResource(stack, 1), 0) }()
		waitQueued(t, s.group, i+1)
	}
	before := s.GroupStats()
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		err := <-errs[i]
		switch {
		case i == 1 && !errors.Is(err, core.ErrConflict):
			t.Errorf("second create of one item: %v, want a conflict", err)
		case i != 1 && err != nil:
			t.Errorf("write %d: %v", i, err)
		}
	}
	after := s.GroupStats()
	if got := after.Commits - before.Commits; got != 2 {
		t.Errorf("%d commits for a lead write and %d queued writes, want 2", got, n)
	}
	if got := after.Writes - before.Writes; got != n+1 {
		t.Errorf("%d writes committed, want %d", got, n+1)
	}
	items, _, err := s.ListResources(ctx, "p1", core.Page{})
	if err != nil || len(items) != n {
		t.Errorf("%d items (%v), want %d", len(items), err, n)
	}
}

// TestGroupCommitFailureIsolated: a function of a group that fails after
// writing rolls back only its own writes; its caller gets its error and
// the rest of the group is committed. A panic reaches its own caller.
func TestGroupCommitFailureIsolated(t *testing.T) {
	s, release, lead := withLeader(t)

	boom := errors.New("boom")
	var runs sync.Map // stack → times its function ran
	put := func(stack string, fail error, panics bool) func(*bolt.Tx) error {
		return func(tx *bolt.Tx) error {
			n, _ := runs.LoadOrStore(stack, new(int))
			*n.(*int)++
			if err := tx.Bucket(bucketResources).Put(resourceKey(core.ResourceKey{Project: "p1", StackName: stack}), []byte(`{"version":1}`)); err != nil {
				return err
			}
			if panics {
				panic("kaboom")
			}
			return fail
		}
	}
	type result struct {
		err      error
		panicked any
	}
	calls := []struct {
		stack  string
		fail   error
		panics bool
	}{
		{"bd-p1-bucket-a", nil, false},
		{"bd-p1-bucket-bad", boom, false},
		{"bd-p1-bucket-b", nil, false},
		{"bd-p1-bucket-panic", nil, true},
		{"bd-p1-bucket-c", nil, false},
	}
	results := make([]chan result, len(calls))
	for i, c := range calls {
		results[i] = make(chan result, 1)
		go func() {
			var r result
			defer func() {
				r.panicked = recover()
				results[i] <- r
			}()
			r.err = s.group.do(put(c.stack, c.fail, c.panics))
		}()
		waitQueued(t, s.group, i+1)
	}
	release()
	if err := <-lead; err != nil {
		t.Fatal(err)
	}
	for i, c := range calls {
		r := <-results[i]
		switch {
		case c.fail != nil:
			if !errors.Is(r.err, boom) || r.panicked != nil {
				t.Errorf("%s: %v, %v; want its own error", c.stack, r.err, r.panicked)
			}
		case c.panics:
			if r.panicked != "kaboom" {
				t.Errorf("%s: panic %v, err %v; want its own panic", c.stack, r.panicked, r.err)
			}
		default:
			if r.err != nil || r.panicked != nil {
				t.Errorf("%s: %v, %v", c.stack, r.err, r.panicked)
			}
		}
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		for _, c := range calls {
			v := tx.Bucket(bucketResources).Get(resourceKey(core.ResourceKey{Project: "p1", StackName: c.stack}))
			if failed := c.fail != nil || c.panics; (v == nil) != failed {
				t.Errorf("%s stored: %v; its function failed: %v", c.stack, v != nil, failed)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The group ran once with all, once without the failing call, once
	// without the panicking one: the first write of the group ran three
	// times, yet wrote once.
	if n, _ := runs.Load("bd-p1-bucket-a"); *n.(*int) != 3 {
		t.Errorf("first function ran %d times, want 3", *n.(*int))
	}
	if st := s.GroupStats(); st.Writes != 4 || st.Commits != 2 {
		t.Errorf("GroupStats = %+v, want 4 writes in 2 commits", st)
	}
}

// withLeader opens a store, holds bbolt's writer lock and starts a write
// that leads the next group and waits for the lock: the writes that
// follow queue behind it. release lets the leader commit; lead receives
// its result.
func withLeader(t *testing.T) (s *Store, release func(), lead chan error) {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "bucketdesk.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	release = holdWriter(t, s.db)
	lead = make(chan error, 1)
	go func() { lead <- s.PutResource(t.Context(), testResource("bd-p1-bucket-lead", 1), 0) }()
	waitLeading(t, s.group)
	return s, release, lead
}
