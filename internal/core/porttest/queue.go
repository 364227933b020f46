package porttest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/core"
)

// QueueOptions configures the queue that a harness builds for one test.
type QueueOptions struct {
	// Visibility is the visibility timeout of a received job.
	Visibility time.Duration
	// MaxAttempts is the number of deliveries after which a job is moved
	// to the dead-letter queue.
	MaxAttempts int
}

// QueueHarness is one fresh, empty queue under test and the controls the
// suite needs around it.
type QueueHarness struct {
	Queue core.Queue
	// Advance moves the queue's clock forward (manual clock) so visibility timeouts and retry delays pass without sleeping.
	Advance func(d time.Duration)
	// DeadLetters returns the jobs moved to the dead-letter queue.
	DeadLetters func() []core.Job
	// BlockUntil, if set, blocks until at least n timers are pending on
	// the queue's clock (clock.Manual.BlockUntil), so that the suite
	// advances the clock only once a receiver waits on it. The suite calls
	// it on a fresh harness only, where every pending timer belongs to the
	// receivers it started. When nil, the suite advances the clock again
	// until the waiting receiver returns.
	BlockUntil func(n int)
}

// Queue settings used by the suite unless a test says otherwise.
const (
	queueVisibility  = 30 * time.Second
	queueMaxAttempts = 3
	// longWait is a Receive wait that a test never lets pass on the clock.
	longWait = time.Hour
	// hangGuard only turns a deadlock into a readable failure; it is
	// real time and far longer than any correct run needs.
	hangGuard = time.Minute
)

// RunQueueTests runs the conformance suite of core.Queue. newHarness
// returns a fresh, empty queue configured by opts, with its own clock;
// it registers its cleanup with t.
func RunQueueTests(t *testing.T, newHarness func(t *testing.T, opts QueueOptions) QueueHarness) {
	t.Helper()
	defaults := QueueOptions{Visibility: queueVisibility, MaxAttempts: queueMaxAttempts}
	fresh := func(t *testing.T) QueueHarness { return newHarness(t, defaults) }

	t.Run("EnqueueReceiveAck", func(t *testing.T) { testQueueEnqueueReceiveAck(t, fresh(t)) })
	t.Run("ReceiveEmptyNoWait", func(t *testing.T) { testQueueReceiveEmptyNoWait(t, fresh(t)) })
	t.Run("ReceiveEmptyAfterWait", func(t *testing.T) { testQueueReceiveEmptyAfterWait(t, fresh(t)) })
	t.Run("ReceiveWakesOnEnqueue", func(t *testing.T) { testQueueReceiveWakesOnEnqueue(t, fresh(t)) })
	t.Run("ReceiveCanceled", func(t *testing.T) { testQueueReceiveCanceled(t, fresh(t)) })
	t.Run("MaxRespected", func(t *testing.T) { testQueueMaxRespected(t, fresh(t)) })
	t.Run("VisibilityTimeout", func(t *testing.T) { testQueueVisibilityTimeout(t, fresh(t)) })
	t.Run("StaleReceipt", func(t *testing.T) { testQueueStaleReceipt(t, fresh(t)) })
	t.Run("RetryDelay", func(t *testing.T) { testQueueRetryDelay(t, fresh(t)) })
	t.Run("DeadLetter", func(t *testing.T) { testQueueDeadLetter(t, fresh(t)) })
	t.Run("ConcurrentReceivers", func(t *testing.T) { testQueueConcurrentReceivers(t, fresh(t)) })
	t.Run("EnqueueCanceled", func(t *testing.T) { testQueueEnqueueCanceled(t, fresh(t)) })
}

func testJob(i int) core.Job {
	return core.Job{
		OperationID: fmt.Sprintf("01J0000000000000000000%04d", i),
		Project:     "demo",
		StackName:   fmt.Sprintf("bd-demo-bucket-b%d", i),
	}
}

func enqueue(t *testing.T, q core.Queue, jobs ...core.Job) {
	t.Helper()
	for _, j := range jobs {
		if err := q.Enqueue(context.Background(), j); err != nil {
			t.Fatalf("Enqueue(%s): %v", j.OperationID, err)
		}
	}
}

// receiveNow receives without waiting: what is visible at the clock's now.
func receiveNow(t *testing.T, q core.Queue, max int) []core.Delivery {
	t.Helper()
	ds, err := q.Receive(context.Background(), max, 0)
	if err != nil {
		t.Fatalf("Receive(max %d, no wait): %v", max, err)
	}
	if len(ds) > max {
		t.Fatalf("Receive(max %d) returned %d deliveries", max, len(ds))
	}
	return ds
}

func receiveNone(t *testing.T, q core.Queue, why string) {
	t.Helper()
	if ds := receiveNow(t, q, 10); len(ds) != 0 {
		t.Fatalf("%s: Receive returned %d deliveries (first %+v), want none", why, len(ds), ds[0])
	}
}

// receiveOne receives without waiting and wants exactly job, at attempt.
func receiveOne(t *testing.T, q core.Queue, job core.Job, attempt int) core.Delivery {
	t.Helper()
	ds := receiveNow(t, q, 10)
	if len(ds) != 1 {
		t.Fatalf("Receive returned %d deliveries, want 1 (%s)", len(ds), job.OperationID)
	}
	d := ds[0]
	if d.Job != job {
		t.Fatalf("Receive: job %+v, want %+v", d.Job, job)
	}
	if d.Attempt != attempt {
		t.Fatalf("Receive: attempt %d, want %d", d.Attempt, attempt)
	}
	if d.Receipt == "" {
		t.Fatal("Receive: empty receipt")
	}
	return d
}

func ack(t *testing.T, q core.Queue, d core.Delivery) {
	t.Helper()
	if err := q.Ack(context.Background(), d.Receipt); err != nil {
		t.Fatalf("Ack(%s attempt %d): %v", d.Job.OperationID, d.Attempt, err)
	}
}

type receiveResult struct {
	ds  []core.Delivery
	err error
}

// receiveAsync starts a Receive in a goroutine and returns where its result
// arrives.
func receiveAsync(ctx context.Context, q core.Queue, max int, wait time.Duration) <-chan receiveResult {
	ch := make(chan receiveResult, 1)
	go func() {
		ds, err := q.Receive(ctx, max, wait)
		ch <- receiveResult{ds, err}
	}()
	return ch
}

// await returns the result of an asynchronous Receive. The guard is not a
// timing assertion: it only reports a receiver that never returns.
func await(t *testing.T, ch <-chan receiveResult, what string) receiveResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(hangGuard):
		t.Fatalf("%s: Receive never returned", what)
		return receiveResult{}
	}
}

func testQueueEnqueueReceiveAck(t *testing.T, h QueueHarness) {
	q := h.Queue
	job := testJob(1)
	enqueue(t, q, job)
	d := receiveOne(t, q, job, 1)
	ack(t, q, d)
	h.Advance(2 * queueVisibility)
	receiveNone(t, q, "after Ack and the visibility timeout")
}

func testQueueReceiveEmptyNoWait(t *testing.T, h QueueHarness) {
	receiveNone(t, h.Queue, "empty queue")
}

func testQueueReceiveEmptyAfterWait(t *testing.T, h QueueHarness) {
	const wait = 20 * time.Second
	ch := receiveAsync(context.Background(), h.Queue, 1, wait)
	var r receiveResult
	if h.BlockUntil != nil {
		h.BlockUntil(1)
		h.Advance(wait)
		r = await(t, ch, "after the wait passed")
	} else {
		// Without a way to see the receiver wait, move the clock until
		// its timer, wherever it was set, has passed.
	loop:
		for {
			select {
			case r = <-ch:
				break loop
			default:
				h.Advance(wait)
				runtime.Gosched()
			}
		}
	}
	if r.err != nil {
		t.Fatalf("Receive on an empty queue after its wait: %v, want no error", r.err)
	}
	if len(r.ds) != 0 {
		t.Fatalf("Receive on an empty queue returned %d deliveries", len(r.ds))
	}
}

func testQueueReceiveWakesOnEnqueue(t *testing.T, h QueueHarness) {
	q := h.Queue
	ch := receiveAsync(context.Background(), q, 10, longWait)
	if h.BlockUntil != nil {
		h.BlockUntil(1) // the receiver waits; Enqueue must wake it
	}
	job := testJob(1)
	enqueue(t, q, job)
	r := await(t, ch, "after Enqueue, with the clock standing still")
	if r.err != nil {
		t.Fatalf("Receive: %v", r.err)
	}
	if len(r.ds) != 1 || r.ds[0].Job != job || r.ds[0].Attempt != 1 {
		t.Fatalf("Receive woken by Enqueue returned %+v, want %s at attempt 1", r.ds, job.OperationID)
	}
	ack(t, q, r.ds[0])
}

func testQueueReceiveCanceled(t *testing.T, h QueueHarness) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := receiveAsync(ctx, h.Queue, 1, longWait)
	if h.BlockUntil != nil {
		h.BlockUntil(1)
	}
	cancel()
	r := await(t, ch, "after its context was canceled")
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Receive with a canceled context: %v, want context.Canceled", r.err)
	}
}

func testQueueMaxRespected(t *testing.T, h QueueHarness) {
	q := h.Queue
	const n, max = 5, 2
	want := map[core.Job]bool{}
	for i := range n {
		enqueue(t, q, testJob(i))
		want[testJob(i)] = true
	}
	got := map[core.Job]bool{}
	for len(got) < n {
		ds := receiveNow(t, q, max) // fails when more than max come
		if len(ds) == 0 {
			t.Fatalf("Receive returned nothing after %d of %d jobs", len(got), n)
		}
		for _, d := range ds {
			if !want[d.Job] {
				t.Fatalf("Receive returned unknown job %+v", d.Job)
			}
			if got[d.Job] {
				t.Fatalf("job %s delivered twice while invisible", d.Job.OperationID)
			}
			got[d.Job] = true
		}
	}
	receiveNone(t, q, "every job received")
}

func testQueueVisibilityTimeout(t *testing.T, h QueueHarness) {
	q := h.Queue
	job := testJob(1)
	enqueue(t, q, job)
	d1 := receiveOne(t, q, job, 1)
	receiveNone(t, q, "received and not acked")
	h.Advance(queueVisibility - time.Second)
	receiveNone(t, q, "before the visibility timeout")
	h.Advance(time.Second)
	d2 := receiveOne(t, q, job, 2)
	if d2.Receipt == d1.Receipt {
		t.Fatalf("redelivery kept receipt %q; every delivery needs its own", d1.Receipt)
	}
	ack(t, q, d2)
}

func testQueueStaleReceipt(t *testing.T, h QueueHarness) {
	q := h.Queue
	job := testJob(1)
	enqueue(t, q, job)
	d1 := receiveOne(t, q, job, 1)
	h.Advance(queueVisibility)
	d2 := receiveOne(t, q, job, 2)

	if err := q.Ack(context.Background(), d1.Receipt); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Ack with the receipt of an earlier delivery: %v, want ErrNotFound", err)
	}
	if err := q.Retry(context.Background(), d1.Receipt, 0); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Retry with the receipt of an earlier delivery: %v, want ErrNotFound", err)
	}
	receiveNone(t, q, "stale Retry must not make the job visible")
	// The current delivery still holds the job.
	ack(t, q, d2)
	h.Advance(2 * queueVisibility)
	receiveNone(t, q, "after Ack of the current delivery")
}

func testQueueRetryDelay(t *testing.T, h QueueHarness) {
	q := h.Queue
	job := testJob(1)
	enqueue(t, q, job)
	d1 := receiveOne(t, q, job, 1)

	const delay = 10 * time.Second // shorter than the visibility timeout
	if err := q.Retry(context.Background(), d1.Receipt, delay); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	receiveNone(t, q, "right after Retry")
	h.Advance(delay - time.Second)
	receiveNone(t, q, "before the retry delay passed")
	h.Advance(time.Second)
	d2 := receiveOne(t, q, job, 2)

	if err := q.Retry(context.Background(), d2.Receipt, 0); err != nil {
		t.Fatalf("Retry without delay: %v", err)
	}
	d3 := receiveOne(t, q, job, 3)
	ack(t, q, d3)
}

func testQueueDeadLetter(t *testing.T, h QueueHarness) {
	q := h.Queue
	job := testJob(1)
	enqueue(t, q, job)
	for attempt := 1; attempt <= queueMaxAttempts; attempt++ {
		d := receiveOne(t, q, job, attempt)
		if attempt%2 == 0 {
			if err := q.Retry(context.Background(), d.Receipt, 0); err != nil {
				t.Fatalf("Retry: %v", err)
			}
		} else {
			h.Advance(queueVisibility)
		}
	}
	h.Advance(queueVisibility)
	// Like SQS, a queue may move the job when it would deliver it again,
	// so look before asking for the dead letters.
	receiveNone(t, q, fmt.Sprintf("after %d deliveries", queueMaxAttempts))
	dead := h.DeadLetters()
	if len(dead) != 1 || dead[0] != job {
		t.Fatalf("DeadLetters = %+v, want [%+v]", dead, job)
	}
	h.Advance(10 * queueVisibility)
	receiveNone(t, q, "a dead letter is not delivered again")

	// The queue goes on with other jobs.
	other := testJob(2)
	enqueue(t, q, other)
	ack(t, q, receiveOne(t, q, other, 1))
	if dead := h.DeadLetters(); len(dead) != 1 {
		t.Fatalf("DeadLetters = %+v, want only %s", dead, job.OperationID)
	}
}

func testQueueConcurrentReceivers(t *testing.T, h QueueHarness) {
	q := h.Queue
	const receivers, jobs = 10, 200
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		mu        sync.Mutex
		holder    = map[core.Job]int{} // job → receiver holding it now
		delivered = map[core.Job]int{}
		acked     int
		failures  []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
		cancel()
	}

	var wg sync.WaitGroup
	for r := range receivers {
		wg.Go(func() {
			for ctx.Err() == nil {
				// The clock stands still, so nothing becomes visible
				// again: every delivery must be the first of its job.
				ds, err := q.Receive(ctx, 5, longWait)
				if err != nil {
					if ctx.Err() == nil {
						fail("receiver %d: Receive: %v", r, err)
					}
					return
				}
				for _, d := range ds {
					mu.Lock()
					if other, ok := holder[d.Job]; ok {
						mu.Unlock()
						fail("job %s delivered to receivers %d and %d at once", d.Job.OperationID, other, r)
						return
					}
					holder[d.Job] = r
					delivered[d.Job]++
					mu.Unlock()

					if err := q.Ack(context.Background(), d.Receipt); err != nil {
						fail("receiver %d: Ack(%s): %v", r, d.Job.OperationID, err)
						return
					}

					mu.Lock()
					delete(holder, d.Job)
					acked++
					done := acked == jobs
					mu.Unlock()
					if done {
						cancel()
					}
				}
			}
		})
	}

	// Enqueue while the receivers run, from several goroutines.
	var enq sync.WaitGroup
	for w := range 4 {
		enq.Go(func() {
			for i := w; i < jobs; i += 4 {
				if err := q.Enqueue(context.Background(), testJob(i)); err != nil {
					fail("Enqueue(%d): %v", i, err)
					return
				}
			}
		})
	}
	enq.Wait()

	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(hangGuard):
		mu.Lock()
		n := acked
		mu.Unlock()
		t.Fatalf("receivers still running after %d of %d jobs acked", n, jobs)
	}

	for _, f := range failures {
		t.Error(f)
	}
	if t.Failed() {
		return
	}
	for i := range jobs {
		if n := delivered[testJob(i)]; n != 1 {
			t.Errorf("job %d delivered %d times, want 1", i, n)
		}
	}
	receiveNone(t, q, "every job acked")
}

func testQueueEnqueueCanceled(t *testing.T, h QueueHarness) {
	q := h.Queue
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Enqueue(ctx, testJob(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Enqueue with a canceled context: %v, want context.Canceled", err)
	}
	receiveNone(t, q, "a canceled Enqueue stores nothing")
}
