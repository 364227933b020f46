package engine_test

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/stacks"
)

// laggingList answers ListStacks with a listing taken earlier (while the
// stacks were still being created), as a listing that raced the stacks'
// last events would; every other call reaches the sandbox.
type laggingList struct {
	core.Cloud
	sums []core.StackSummary
}

func (l *laggingList) ListStacks(context.Context, core.Account, string) ([]core.StackSummary, error) {
	return slices.Clone(l.sums), nil
}

// countingPuts counts the history copies written.
type countingPuts struct {
	core.ResourceStore
	ops atomic.Int64
}

func (c *countingPuts) PutOperation(ctx context.Context, op *core.Operation) error {
	c.ops.Add(1)
	return c.ResourceStore.PutOperation(ctx, op)
}

// A pass over a converged project writes nothing and publishes nothing,
// even when every stack is described because the listing disagreed with
// the cache: a description that confirms what an item holds is not a
// change, and the history copies of the operations that just ended are
// already what the items hold.
func TestReconcilePassOverConvergedProjectIsQuiet(t *testing.T) {
	ctx := t.Context()
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	l.Start(ctx)
	names := []string{"quiet-a", "quiet-b", "quiet-c", "quiet-d"}
	for _, n := range names {
		if _, err := l.Engine.Service.Create(ctx, alice, "demo", bucket(n)); err != nil {
			t.Fatal(err)
		}
	}
	settleAndReconcile(t, l)
	assertMirrors(t, l, "demo")

	p, err := l.Store.GetProject(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	sums, err := l.Sandbox.ListStacks(ctx, p.Account(), stacks.Prefix("demo"))
	if err != nil || len(sums) != len(names) {
		t.Fatalf("listing: %d stacks, %v", len(sums), err)
	}
	for i := range sums {
		sums[i].Status = "CREATE_IN_PROGRESS"
	}
	versions := func() map[string]int64 {
		items, _, err := l.Store.ListResources(ctx, "demo", core.Page{})
		if err != nil {
			t.Fatal(err)
		}
		v := map[string]int64{}
		for _, r := range items {
			v[r.StackName] = r.Version
		}
		return v
	}
	before := versions()
	rec := record(t, l, "demo")
	cloud := &laggingList{Cloud: l.Sandbox, sums: sums}
	store := &countingPuts{ResourceStore: l.Store}
	e := engine.New(engine.Options{Resources: store, Projects: l.Store, Queue: l.Queue, Cloud: cloud, Hub: l.Hub, Logger: slog.New(slog.DiscardHandler)})
	for pass := range 3 {
		st, err := e.Reconciler.ReconcileProject(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Described != len(names) || st.Repaired != 0 || st.Adopted+st.Deleted != 0 {
			t.Fatalf("pass %d: %+v; want every stack described, nothing repaired", pass, st)
		}
	}
	if msgs := rec.stop(); len(msgs) != 0 {
		t.Fatalf("%d messages published by passes that changed nothing, first %+v", len(msgs), msgs[0])
	}
	if n := store.ops.Load(); n != 0 {
		t.Errorf("%d operation history copies rewritten, all equal to their items' operations", n)
	}
	after := versions()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: version %d became %d", k, v, after[k])
		}
	}
}
