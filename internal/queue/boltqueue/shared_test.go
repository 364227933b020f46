package boltqueue_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/core"
	"bucketdesk/internal/core/porttest"
	"bucketdesk/internal/queue/boltqueue"
	"bucketdesk/internal/store/boltstore"
)

// sharedFile opens one bbolt file holding a store and a queue whose
// writes go through the store's group commit, as the local binary does.
func sharedFile(t *testing.T, opts *boltqueue.Options) (*boltstore.Store, *boltqueue.Queue) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "bucketdesk.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := boltstore.New(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := *opts
	o.Commit = st.Commit
	q, err := boltqueue.New(db, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return st, q
}

// The queue keeps every rule of the port when its writes share the
// store's commits.
func TestConformanceSharedCommits(t *testing.T) {
	porttest.RunQueueTests(t, func(t *testing.T, opts porttest.QueueOptions) porttest.QueueHarness {
		clk := clock.NewManual(epoch)
		_, q := sharedFile(t, &boltqueue.Options{Clock: clk, Visibility: opts.Visibility, MaxAttempts: opts.MaxAttempts})
		return harness(t, q, clk)
	})
}

// Concurrent enqueues, acks of stale receipts and store writes share
// commits: every enqueued job is delivered once, every stale ack is
// refused alone (ErrNotFound) without costing the others their write, and
// the store's writes all land.
func TestSharedCommitsUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	st, q := sharedFile(t, &boltqueue.Options{Clock: clock.NewManual(epoch)})
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, 3*n)
	for i := range n {
		wg.Add(3)
		go func() {
			defer wg.Done()
			errs <- q.Enqueue(ctx, job(fmt.Sprint(i)))
		}()
		go func() {
			defer wg.Done()
			// A well-formed receipt of a job that was never queued.
			err := q.Ack(ctx, "01ARZ3NDEKTSV4RRFFQ69G5FAV.x")
			if !errors.Is(err, core.ErrNotFound) {
				errs <- fmt.Errorf("ack of an unknown receipt: %v, want ErrNotFound", err)
				return
			}
			errs <- nil
		}()
		go func() {
			defer wg.Done()
			r := &core.Resource{Project: "demo", StackName: fmt.Sprintf("bd-demo-bucket-s%d", i), Kind: core.KindBucket, Name: fmt.Sprintf("s%d", i), Version: 1}
			errs <- st.PutResource(ctx, r, 0)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if g := st.GroupStats(); g.Writes < 3*n {
		t.Fatalf("group commit counted %d writes, want at least %d (the queue's enqueues and acks, the store's puts)", g.Writes, 3*n)
	}
	seen := map[string]bool{}
	for {
		ds, err := q.Receive(ctx, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			if seen[d.Job.OperationID] {
				t.Fatalf("job %s delivered twice", d.Job.OperationID)
			}
			seen[d.Job.OperationID] = true
			if err := q.Ack(ctx, d.Receipt); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(seen) != n {
		t.Fatalf("received %d jobs, want %d", len(seen), n)
	}
	rs, _, err := st.ListResources(ctx, "demo", core.Page{Limit: 1000})
	if err != nil || len(rs) != n {
		t.Fatalf("store holds %d resources (err %v), want %d", len(rs), err, n)
	}
}
