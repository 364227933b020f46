package boltqueue_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/core"
	"bucketdesk/internal/core/porttest"
	"bucketdesk/internal/queue/boltqueue"
)

var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func TestConformance(t *testing.T) {
	porttest.RunQueueTests(t, func(t *testing.T, opts porttest.QueueOptions) porttest.QueueHarness {
		clk := clock.NewManual(epoch)
		q, err := boltqueue.Open(filepath.Join(t.TempDir(), "queue.db"), &boltqueue.Options{
			Clock:       clk,
			Visibility:  opts.Visibility,
			MaxAttempts: opts.MaxAttempts,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		return harness(t, q, clk)
	})
}

// harness is what the port's conformance tests need of q on clk.
func harness(t *testing.T, q *boltqueue.Queue, clk *clock.Manual) porttest.QueueHarness {
	return porttest.QueueHarness{
		Queue:   q,
		Advance: clk.Advance,
		DeadLetters: func() []core.Job {
			jobs, err := q.DeadLetters(context.Background())
			if err != nil {
				t.Fatalf("DeadLetters: %v", err)
			}
			return jobs
		},
		BlockUntil: clk.BlockUntil,
	}
}

func job(id string) core.Job {
	return core.Job{OperationID: id, Project: "demo", StackName: "bd-demo-bucket-" + id}
}

func receive(t *testing.T, q *boltqueue.Queue) []core.Delivery {
	t.Helper()
	ds, err := q.Receive(context.Background(), 10, 0)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return ds
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "queue.db")
	clk := clock.NewManual(epoch)
	opts := &boltqueue.Options{Clock: clk, Visibility: time.Minute}

	q, err := boltqueue.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if err := q.Enqueue(ctx, job(id)); err != nil {
			t.Fatal(err)
		}
	}
	first, err := q.Receive(ctx, 1, 0)
	if err != nil || len(first) != 1 {
		t.Fatalf("Receive = %v, %v; want one delivery", first, err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if err := q.Enqueue(ctx, job("c")); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Enqueue after Close: %v, want ErrUnavailable", err)
	}

	q, err = boltqueue.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	// The job received before the restart stays invisible until its
	// deadline; the other one is there at once.
	ds := receive(t, q)
	if len(ds) != 1 || ds[0].Job == first[0].Job || ds[0].Attempt != 1 {
		t.Fatalf("after reopen: %+v, want the job not received before, at attempt 1", ds)
	}
	if err := q.Ack(ctx, ds[0].Receipt); err != nil {
		t.Fatal(err)
	}
	// A receipt from before the restart still holds its job.
	if err := q.Retry(ctx, first[0].Receipt, 0); err != nil {
		t.Fatalf("Retry with a receipt from before the restart: %v", err)
	}
	ds = receive(t, q)
	if len(ds) != 1 || ds[0].Job != first[0].Job || ds[0].Attempt != 2 {
		t.Fatalf("after Retry: %+v, want %s at attempt 2", ds, first[0].Job.OperationID)
	}
	clk.Advance(time.Minute)
	ds = receive(t, q)
	if len(ds) != 1 || ds[0].Job != first[0].Job || ds[0].Attempt != 3 {
		t.Fatalf("after the visibility timeout: %+v, want %s at attempt 3", ds, first[0].Job.OperationID)
	}
}

func TestInvisibleBecomesVisibleWhileWaiting(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewManual(epoch)
	q, err := boltqueue.Open(filepath.Join(t.TempDir(), "queue.db"), &boltqueue.Options{Clock: clk, Visibility: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if err := q.Enqueue(ctx, job("a")); err != nil {
		t.Fatal(err)
	}
	if ds := receive(t, q); len(ds) != 1 {
		t.Fatalf("Receive = %+v", ds)
	}

	got := make(chan []core.Delivery, 1)
	go func() {
		ds, err := q.Receive(ctx, 1, time.Hour)
		if err != nil {
			t.Error(err)
		}
		got <- ds
	}()
	clk.BlockUntil(2) // the job's visibility deadline and the wait
	clk.Advance(time.Minute)
	if ds := <-got; len(ds) != 1 || ds[0].Attempt != 2 {
		t.Fatalf("waiting Receive = %+v, want the job again at attempt 2", ds)
	}
}

func TestSharedFileAndRedrive(t *testing.T) {
	ctx := context.Background()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "shared.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The store's buckets live in the same file.
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("store/resources"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(epoch)
	jobs, err := boltqueue.New(db, &boltqueue.Options{Clock: clk, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	other, err := boltqueue.New(db, &boltqueue.Options{Clock: clk, Name: "other"})
	if err != nil {
		t.Fatal(err)
	}

	if err := jobs.Enqueue(ctx, job("a")); err != nil {
		t.Fatal(err)
	}
	if ds := receive(t, other); len(ds) != 0 {
		t.Fatalf("queue %q received a job of another queue: %+v", "other", ds)
	}
	ds := receive(t, jobs)
	if len(ds) != 1 {
		t.Fatalf("Receive = %+v", ds)
	}
	if err := jobs.Retry(ctx, ds[0].Receipt, 0); err != nil {
		t.Fatal(err)
	}
	if ds := receive(t, jobs); len(ds) != 0 {
		t.Fatalf("a job past MaxAttempts was delivered: %+v", ds)
	}
	dead, err := jobs.DeadLetters(ctx)
	if err != nil || len(dead) != 1 || dead[0] != job("a") {
		t.Fatalf("DeadLetters = %+v, %v", dead, err)
	}
	if err := jobs.Ack(ctx, ds[0].Receipt); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Ack of a dead letter's receipt: %v, want ErrNotFound", err)
	}

	n, err := jobs.Redrive(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Redrive = %d, %v; want 1", n, err)
	}
	if dead, _ := jobs.DeadLetters(ctx); len(dead) != 0 {
		t.Fatalf("DeadLetters after Redrive = %+v", dead)
	}
	ds = receive(t, jobs)
	if len(ds) != 1 || ds[0].Job != job("a") || ds[0].Attempt != 1 {
		t.Fatalf("after Redrive: %+v, want a at attempt 1", ds)
	}
	if err := jobs.Ack(ctx, ds[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Ack(ctx, "not-a-receipt"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Ack of a malformed receipt: %v, want ErrNotFound", err)
	}
}

// BenchmarkEnqueueReceiveAck measures one job's round trip: three synced
// bbolt transactions (plus a read one), on the real clock.
func BenchmarkEnqueueReceiveAck(b *testing.B) {
	for _, sync := range []bool{true, false} {
		name := "sync"
		if !sync {
			name = "nosync"
		}
		b.Run(name, func(b *testing.B) {
			db, err := bolt.Open(filepath.Join(b.TempDir(), "queue.db"), 0o600, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			db.NoSync = !sync
			q, err := boltqueue.New(db, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			j := job("01JBENCH")
			b.ReportAllocs()
			for b.Loop() {
				if err := q.Enqueue(ctx, j); err != nil {
					b.Fatal(err)
				}
				ds, err := q.Receive(ctx, 1, time.Second)
				if err != nil || len(ds) != 1 {
					b.Fatalf("Receive = %v, %v", ds, err)
				}
				if err := q.Ack(ctx, ds[0].Receipt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
