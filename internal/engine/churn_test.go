package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/cfnevent"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/setup"
	"bucketdesk/internal/stacks"
)

// stepper drives an engine by hand, one step at a time, over the adapters
// of a local bucketdesk that is not started: the test decides when jobs
// run and when stack events arrive, so that a race happens every time.
type stepper struct {
	t   *testing.T
	l   *setup.Local
	eng *engine.Engine
	hc  *hookCloud

	mu     sync.Mutex
	events []core.StackEvent // delivered by the sandbox, not yet applied
}

func newStepper(t *testing.T) *stepper {
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	s := &stepper{t: t, l: l, hc: &hookCloud{Cloud: l.Sandbox}}
	s.eng = engine.New(engine.Options{Resources: l.Store, Projects: l.Store, Queue: l.Queue, Cloud: s.hc, Objects: l.Sandbox, Hub: l.Hub,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	cancel := l.Sandbox.Subscribe(func(body []byte) {
		ev, err := cfnevent.ParseSNS(body)
		if err != nil {
			t.Errorf("notification: %v", err)
			return
		}
		s.mu.Lock()
		s.events = append(s.events, ev)
		s.mu.Unlock()
	})
	t.Cleanup(cancel)
	return s
}

// work carries out every queued job and waits until the sandbox's stack
// operations have ended and their events were delivered (not applied).
func (s *stepper) work() {
	s.t.Helper()
	ctx := s.t.Context()
	for {
		ds, err := s.l.Queue.Receive(ctx, 10, 0)
		if err != nil {
			s.t.Fatal(err)
		}
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			if err := s.eng.Worker.Handle(ctx, d); err != nil {
				s.t.Fatalf("job %s: %v", d.Job.OperationID, err)
			}
			if err := s.l.Queue.Ack(ctx, d.Receipt); err != nil {
				s.t.Fatal(err)
			}
		}
	}
	if err := s.l.Sandbox.WaitIdle(ctx); err != nil {
		s.t.Fatal(err)
	}
}

// take returns the delivered events not applied yet.
func (s *stepper) take() []core.StackEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs := s.events
	s.events = nil
	return evs
}

func (s *stepper) apply(evs []core.StackEvent) {
	s.t.Helper()
	for _, ev := range evs {
		if err := s.eng.Mirror.Apply(s.t.Context(), ev); err != nil {
			s.t.Fatal(err)
		}
	}
}

// submit runs one request and everything that follows from it: its job,
// its stack operation and its events.
func (s *stepper) submit(op *core.Operation, err error) *core.Operation {
	s.t.Helper()
	must{s.t}.op(op, err)
	s.work()
	s.apply(s.take())
	return op
}

func (s *stepper) item(name string) *core.Resource {
	s.t.Helper()
	r, err := s.l.Store.GetResource(s.t.Context(), core.ResourceKey{Project: "demo", StackName: stacks.StackName("demo", core.KindBucket, name)})
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

func (s *stepper) operation(id string) *core.Operation {
	s.t.Helper()
	op, err := s.eng.Service.Operation(s.t.Context(), alice, id)
	if err != nil {
		s.t.Fatal(err)
	}
	return op
}

// hookCloud is the sandbox with a chance to act in the middle of a call:
// before ListStacks, and between DescribeStack's answer and its return to
// the caller (so that the caller holds an answer that is already old).
type hookCloud struct {
	core.Cloud
	mu            sync.Mutex
	beforeList    func()
	afterDescribe func(stack string)
}

func (h *hookCloud) ListStacks(ctx context.Context, a core.Account, prefix string) ([]core.StackSummary, error) {
	h.mu.Lock()
	f := h.beforeList
	h.beforeList = nil
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return h.Cloud.ListStacks(ctx, a, prefix)
}

func (h *hookCloud) DescribeStack(ctx context.Context, a core.Account, stack string) (*core.Stack, error) {
	st, err := h.Cloud.DescribeStack(ctx, a, stack)
	h.mu.Lock()
	f := h.afterDescribe
	h.afterDescribe = nil
	h.mu.Unlock()
	if f != nil {
		f(stack)
	}
	return st, err
}

func (h *hookCloud) onList(f func())                 { h.mu.Lock(); h.beforeList = f; h.mu.Unlock() }
func (h *hookCloud) onDescribe(f func(stack string)) { h.mu.Lock(); h.afterDescribe = f; h.mu.Unlock() }

// The reconciler reads a bucket while its stack is being deleted and
// describes that stack by id; before the answer reaches it, the delete
// ends and the manager creates the bucket again. The answer
// (DELETE_COMPLETE) is about the previous stack: it must neither fail the
// new create nor make the bucket look deleted (a GET answering 404 while
// the new stack lives, then a create failing with AlreadyExists).
func TestStaleDescribeOfThePreviousStack(t *testing.T) {
	s := newStepper(t)
	ctx := t.Context()
	s.submit(s.eng.Service.Create(ctx, alice, "demo", bucket("churn-a")))
	first := s.item("churn-a").Observed.StackID

	must{t}.op(s.eng.Service.Delete(ctx, alice, "demo", core.KindBucket, "churn-a", 0))
	s.work()
	held := s.take() // the delete's events are late

	var create *core.Operation
	s.hc.onDescribe(func(stack string) {
		if stack != first {
			t.Errorf("reconciler described %s, want the deleted stack %s", stack, first)
		}
		s.apply(held)
		// The new stack is being created; its events are not in yet.
		create = must{t}.op(s.eng.Service.Create(ctx, bob, "demo", bucket("churn-a")))
		s.work()
	})
	if _, err := s.eng.Reconciler.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if create == nil {
		t.Fatal("the reconciler did not describe the deleted stack")
	}
	if r := s.item("churn-a"); r.Observed.Phase != core.PhaseCreating || r.Op.Status != core.OpRunning {
		t.Fatalf("while the new stack is created: phase %s, operation %s %s", r.Observed.Phase, r.Op.Status, r.Op.Error)
	}
	s.apply(s.take())
	r := s.item("churn-a")
	if op := s.operation(create.ID); op.Status != core.OpSucceeded {
		t.Fatalf("the new create ended %s: %s", op.Status, op.Error)
	}
	if r.Observed.StackID == first || r.Observed.Phase != core.PhaseReady || r.Lock != nil {
		t.Fatalf("item bound to %s (previous %s), phase %s, lock %v", r.Observed.StackID, first, r.Observed.Phase, r.Lock)
	}
	if _, err := s.eng.Service.Get(ctx, alice, "demo", core.KindBucket, "churn-a"); err != nil {
		t.Fatalf("GET of a bucket whose stack lives: %v", err)
	}
	assertMirrors(t, s.l, "demo")
}

// The reconciler lists a stack the cache it read does not know (the bucket
// was created again meanwhile) and adopts it from a description that is
// already old: the stack was deleted in between. The tombstone of that
// very stack must stay a tombstone (not a bucket whose stack is gone, on
// which an update fails with "does not exist").
func TestStaleAdoptionOfADeletedStack(t *testing.T) {
	s := newStepper(t)
	ctx := t.Context()
	s.submit(s.eng.Service.Create(ctx, alice, "demo", bucket("churn-b")))
	s.submit(s.eng.Service.Delete(ctx, alice, "demo", core.KindBucket, "churn-b", 0))

	var second string
	s.hc.onList(func() {
		s.submit(s.eng.Service.Create(ctx, alice, "demo", bucket("churn-b")))
		second = s.item("churn-b").Observed.StackID
		s.hc.onDescribe(func(string) {
			s.submit(s.eng.Service.Delete(ctx, alice, "demo", core.KindBucket, "churn-b", 0))
		})
	})
	if _, err := s.eng.Reconciler.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	r := s.item("churn-b")
	if r.Observed.StackID != second || r.Observed.Phase != core.PhaseDeleted {
		t.Fatalf("item bound to %s phase %s, want the deleted %s", r.Observed.StackID, r.Observed.Phase, second)
	}
	if _, err := s.eng.Service.Get(ctx, alice, "demo", core.KindBucket, "churn-b"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("GET of a bucket whose stack is gone: %v", err)
	}
	assertMirrors(t, s.l, "demo")
}

// A describe taken before an update started must not end the update with
// the status it saw (the stack looked finished then).
func TestDescribeBeforeAnUpdateDoesNotEndIt(t *testing.T) {
	s := newStepper(t)
	ctx := t.Context()
	s.submit(s.eng.Service.Create(ctx, alice, "demo", bucket("churn-c")))
	// Mark the item stale so that the reconciler describes its stack.
	r := s.item("churn-c")
	r.Observed.Stale = true
	if err := s.l.Store.PutResource(ctx, stampVersion(r), r.Version); err != nil {
		t.Fatal(err)
	}
	up := bucket("churn-c")
	up.Bucket.Versioning = true
	var update *core.Operation
	release := func() {}
	s.hc.onDescribe(func(string) {
		release = s.l.Sandbox.Hold() // the update stays in progress
		update = must{t}.op(s.eng.Service.Update(ctx, alice, "demo", up, 0))
		ds, err := s.l.Queue.Receive(ctx, 1, 0)
		if err != nil || len(ds) != 1 {
			t.Fatalf("receive: %v %v", ds, err)
		}
		if err := s.eng.Worker.Handle(ctx, ds[0]); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := s.eng.Reconciler.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if op := s.operation(update.ID); op.Status != core.OpRunning {
		t.Fatalf("a description from before the update ended it: %s %s", op.Status, op.Error)
	}
	release()
	s.work()
	s.apply(s.take())
	if op := s.operation(update.ID); op.Status != core.OpSucceeded {
		t.Fatalf("update ended %s: %s", op.Status, op.Error)
	}
	assertMirrors(t, s.l, "demo")
}

// stampVersion returns a copy of r at the next version.
func stampVersion(r *core.Resource) *core.Resource {
	c := r.Clone()
	c.Version++
	return c
}

// A job delivered again after its operation ended does nothing, also when
// the name has a new stack by then.
func TestRedeliveredJobOfAFinishedOperation(t *testing.T) {
	s := newStepper(t)
	ctx := t.Context()
	create := s.submit(s.eng.Service.Create(ctx, alice, "demo", bucket("churn-d")))
	del := s.submit(s.eng.Service.Delete(ctx, alice, "demo", core.KindBucket, "churn-d", 0))
	s.submit(s.eng.Service.Create(ctx, alice, "demo", bucket("churn-d")))
	before := s.item("churn-d")
	for _, op := range []*core.Operation{create, del} {
		if err := s.l.Queue.Enqueue(ctx, core.Job{OperationID: op.ID, Project: "demo", StackName: op.StackName}); err != nil {
			t.Fatal(err)
		}
	}
	n := len(s.l.Sandbox.Operations())
	s.work()
	s.apply(s.take())
	if got := len(s.l.Sandbox.Operations()); got != n {
		t.Fatalf("redelivered jobs started %d stack operations", got-n)
	}
	if after := s.item("churn-d"); after.Version != before.Version {
		t.Fatalf("redelivered jobs changed the item: version %d → %d", before.Version, after.Version)
	}
}

// Churn: each client cycles through names of its own, creating a missing
// one and otherwise updating or deleting it, without waiting for
// operations, while SNS shuffles, duplicates, drops and delays the events
// (so those of a name's previous stack arrive after its next one exists),
// the reconciler runs all along, and jobs of finished operations are
// delivered again. Nothing fails in this sandbox, so every accepted
// operation must succeed for its own stack; after one reconcile the cache
// equals the sandbox for every name.
func TestConvergenceUnderChurn(t *testing.T) {
	runs := 12
	if testing.Short() {
		runs = 3
	}
	for seed := 1; seed <= runs; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			churn(t, seed)
		})
	}
}

func churn(t *testing.T, seed int) {
	sb := simcloud.ZeroOptions()
	sb.ResourceDuration = time.Millisecond
	sb.Chaos = simcloud.Chaos{Seed: int64(seed), Duplicate: 0.2, Drop: 0.05, Reorder: 0.3, MaxDelay: 15 * time.Millisecond}
	l := open(t, t.TempDir(), sb, func(c *setup.LocalConfig) { c.ReconcileEvery = 15 * time.Millisecond })
	ctx := t.Context()
	rec := record(t, l, "demo")
	l.Start(ctx)

	const clients, names, perClient = 3, 3, 25
	type accepted struct {
		op      *core.Operation
		afterNF bool // a create sent because GET answered 404
	}
	var (
		mu   sync.Mutex
		all  []accepted
		wg   sync.WaitGroup
		name = func(c, i int) string { return fmt.Sprintf("ch-%d-%d-%d", seed, c, i) }
	)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(c)))
			mine := 0
			for round := 0; mine < perClient && round < 20000; round++ {
				n := name(c, rng.IntN(names))
				var op *core.Operation
				var err error
				cur, gerr := l.Engine.Service.Get(ctx, alice, "demo", core.KindBucket, n)
				switch {
				case gerr == nil && cur.Lock != nil:
					// Being changed: the console disables its controls.
				case errors.Is(gerr, core.ErrNotFound):
					op, err = l.Engine.Service.Create(ctx, alice, "demo", bucket(n))
				case gerr != nil:
					t.Errorf("GET %s: %v", n, gerr)
					return
				case rng.IntN(3) == 0:
					op, err = l.Engine.Service.Delete(ctx, alice, "demo", core.KindBucket, n, 0)
				default:
					up := bucket(n)
					up.Bucket.Tags = map[string]string{"round": fmt.Sprint(round)}
					op, err = l.Engine.Service.Update(ctx, alice, "demo", up, 0)
				}
				var locked *core.LockedError
				switch {
				case op == nil && err == nil:
				case errors.As(err, &locked):
				case err != nil:
					t.Errorf("request on %s refused: %v", n, err)
				default:
					mine++
					mu.Lock()
					all = append(all, accepted{op: op, afterNF: errors.Is(gerr, core.ErrNotFound)})
					// Now and then, a job of an earlier operation comes
					// back, as SQS may deliver it again.
					if old := all[rng.IntN(len(all))].op; rng.IntN(4) == 0 {
						_ = l.Queue.Enqueue(ctx, core.Job{OperationID: old.ID, Project: "demo", StackName: old.StackName})
					}
					mu.Unlock()
				}
				select {
				case <-time.After(time.Duration(rng.IntN(4)) * time.Millisecond): // pace like a client, not a test wait
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	settleAndReconcile(t, l)

	failed := 0
	for _, a := range all {
		op, err := l.Engine.Service.Operation(ctx, alice, a.op.ID)
		if err != nil {
			t.Fatal(err)
		}
		if op.Status != core.OpSucceeded {
			failed++
			what := ""
			if a.afterNF {
				what = " (sent after GET answered 404)"
			}
			t.Errorf("%s %s%s ended %s: %s", op.Action, op.Name, what, op.Status, op.Error)
		}
	}
	if len(all) < clients*perClient {
		t.Fatalf("only %d operations accepted", len(all))
	}
	t.Logf("%d operations accepted, %d not succeeded", len(all), failed)
	assertMirrors(t, l, "demo")
	assertMonotonic(t, rec.stop())
	assertOneStackOperationPerToken(t, l.Sandbox)
	// GET answers for the live stack of every name, and 404 for no other.
	p, err := l.Store.GetProject(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	sums, err := patiently(func() ([]core.StackSummary, error) {
		return l.Sandbox.ListStacks(ctx, p.Account(), stacks.Prefix("demo"))
	})
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]string{}
	for _, s := range sums {
		live[s.StackName] = s.StackID
	}
	for c := range clients {
		for i := range names {
			n := name(c, i)
			r, err := l.Engine.Service.Get(ctx, alice, "demo", core.KindBucket, n)
			id, alive := live[stacks.StackName("demo", core.KindBucket, n)]
			switch {
			case alive && err != nil:
				t.Errorf("GET %s: %v, while its stack %s lives", n, err, id)
			case !alive && !errors.Is(err, core.ErrNotFound):
				t.Errorf("GET %s: %v %v, while it has no stack", n, r, err)
			case alive && r.Observed.StackID != id:
				t.Errorf("GET %s: stack %s, CloudFormation's is %s", n, r.Observed.StackID, id)
			}
		}
	}
	if t.Failed() {
		t.Logf("operations: %s", describeOps(all, func(a accepted) *core.Operation { return a.op }))
	}
}

func describeOps[T any](xs []T, op func(T) *core.Operation) string {
	var b strings.Builder
	for _, x := range xs {
		o := op(x)
		fmt.Fprintf(&b, "\n  %s %s %s", o.ID, o.Action, o.Name)
	}
	return b.String()
}

// A late event of the name's previous stack is history: it is recorded
// in the history of the operation it belongs to, and changes nothing of
// the resource that now stands on the next stack.
func TestLateEventOfThePreviousStackIsHistory(t *testing.T) {
	s := newStepper(t)
	ctx := t.Context()
	s.submit(s.eng.Service.Create(ctx, alice, "demo", bucket("churn-e")))
	del := must{t}.op(s.eng.Service.Delete(ctx, alice, "demo", core.KindBucket, "churn-e", 0))
	s.work()
	var terminal, late []core.StackEvent
	for _, ev := range s.take() {
		if ev.StackLevel() && ev.ResourceStatus == "DELETE_COMPLETE" {
			terminal = append(terminal, ev)
		} else {
			late = append(late, ev)
		}
	}
	if len(terminal) != 1 || len(late) == 0 {
		t.Fatalf("delete events: %d terminal, %d others", len(terminal), len(late))
	}
	s.apply(terminal)
	s.submit(s.eng.Service.Create(ctx, alice, "demo", bucket("churn-e")))
	before := s.item("churn-e")

	s.apply(late)
	s.apply(late) // and again, as SNS may deliver them
	if after := s.item("churn-e"); after.Version != before.Version {
		t.Fatalf("late events of the previous stack changed the resource: version %d → %d", before.Version, after.Version)
	}
	op := s.operation(del.ID)
	if op.Status != core.OpSucceeded || len(op.Events) != len(late)+1 {
		t.Fatalf("delete %s with %d events, want %d: %+v", op.Status, len(op.Events), len(late)+1, op.Events)
	}
	for i := 1; i < len(op.Events); i++ {
		if op.Events[i].Timestamp.Before(op.Events[i-1].Timestamp) {
			t.Fatal("the delete's events are not in time order")
		}
	}
}

// A bucket that users have grants on is not deleted: the request is
// refused before it is accepted, naming the users; once their grants are
// gone it is deleted.
func TestDeleteOfAGrantedBucketIsRefused(t *testing.T) {
	s := newStepper(t)
	ctx := t.Context()
	s.submit(s.eng.Service.Create(ctx, alice, "demo", bucket("granted-b")))
	s.submit(s.eng.Service.Create(ctx, alice, "demo", user("reader-u", 1, "granted-b")))
	before := s.item("granted-b")
	_, err := s.eng.Service.Delete(ctx, alice, "demo", core.KindBucket, "granted-b", 0)
	if !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), `"reader-u"`) {
		t.Fatalf("delete of a granted bucket: %v, want a conflict naming reader-u", err)
	}
	if after := s.item("granted-b"); after.Version != before.Version || after.Lock != nil {
		t.Fatal("the refused delete changed the bucket")
	}
	s.submit(s.eng.Service.Update(ctx, alice, "demo", user("reader-u", 1), 0))
	del := s.submit(s.eng.Service.Delete(ctx, alice, "demo", core.KindBucket, "granted-b", 0))
	if op := s.operation(del.ID); op.Status != core.OpSucceeded {
		t.Fatalf("delete after the grant was removed: %s %s", op.Status, op.Error)
	}
}

// A bucket whose delete failed (a writer put objects into it after the
// emptiness check) can only be deleted again: an update is refused before
// it is accepted, with what to do; a delete is refused while the bucket
// holds objects, with their count, and goes through once it is empty.
func TestDeleteFailedBucketCanOnlyBeDeletedAgain(t *testing.T) {
	s := newStepper(t)
	ctx := t.Context()
	acct := setup.DemoProject(nil).Account()
	s.submit(s.eng.Service.Create(ctx, alice, "demo", bucket("full-b")))
	op, err := s.eng.Service.Delete(ctx, alice, "demo", core.KindBucket, "full-b", 0)
	for i := range 3 { // after the check, before CloudFormation's delete
		if _, err := s.l.Sandbox.PutObject(ctx, acct, "full-b", fmt.Sprintf("late-%d", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	del := s.submit(op, err)
	if op := s.operation(del.ID); op.Status != core.OpFailed || s.item("full-b").Observed.StackStatus != "DELETE_FAILED" {
		t.Fatalf("delete of a bucket with objects: %s, stack %s", op.Status, s.item("full-b").Observed.StackStatus)
	}
	up := bucket("full-b")
	up.Bucket.Versioning = true
	if _, err := s.eng.Service.Update(ctx, alice, "demo", up, 0); !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "delete it again") {
		t.Fatalf("update of a DELETE_FAILED bucket: %v", err)
	}
	if _, err := s.eng.Service.Delete(ctx, alice, "demo", core.KindBucket, "full-b", 0); !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "holds 3 object versions") {
		t.Fatalf("delete again while it holds objects: %v", err)
	}
	if _, err := s.l.Sandbox.EmptyBucket(ctx, acct, "full-b"); err != nil {
		t.Fatal(err)
	}
	again := s.submit(s.eng.Service.Delete(ctx, alice, "demo", core.KindBucket, "full-b", 0))
	if op := s.operation(again.ID); op.Status != core.OpSucceeded {
		t.Fatalf("delete after emptying: %s %s", op.Status, op.Error)
	}
}

// The delete of a bucket that holds objects, versions or delete markers is
// refused before it is accepted, with what it holds, and changes nothing.
func TestDeleteOfANonEmptyBucketIsRefused(t *testing.T) {
	s := newStepper(t)
	ctx := t.Context()
	acct := setup.DemoProject(nil).Account()
	spec := bucket("kept-b")
	spec.Bucket.Versioning = true
	s.submit(s.eng.Service.Create(ctx, alice, "demo", spec))
	if _, err := s.l.Sandbox.PutObject(ctx, acct, "kept-b", "a.csv", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.l.Sandbox.DeleteObject(ctx, acct, "kept-b", "a.csv", ""); err != nil {
		t.Fatal(err)
	}
	before := s.item("kept-b")
	_, err := s.eng.Service.Delete(ctx, alice, "demo", core.KindBucket, "kept-b", 0)
	if !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), `bucket "kept-b" is not empty: it holds 1 object version and 1 delete marker`) {
		t.Fatalf("delete of a bucket holding a version and a marker: %v", err)
	}
	if after := s.item("kept-b"); after.Version != before.Version || after.Lock != nil {
		t.Errorf("a refused delete changed the item: version %d → %d, lock %v", before.Version, after.Version, after.Lock)
	}
	if ds, _ := s.l.Queue.Receive(ctx, 10, 0); len(ds) != 0 {
		t.Errorf("a refused delete queued %d jobs", len(ds))
	}
}
