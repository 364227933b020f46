package engine_test

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/hub/localhub"
	"bucketdesk/internal/setup"
	"bucketdesk/internal/store/boltstore"
)

// The reconciler removes tombstones older than TombstoneTTL, and keeps
// younger ones and live items.
func TestReconcilerPurgesOldTombstones(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	store, err := boltstore.Open(filepath.Join(dir, "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sb, err := simcloud.New(filepath.Join(dir, "sandbox.db"), simcloud.ZeroOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clk := clock.NewManual(now)
	e := engine.New(engine.Options{Resources: store, Projects: store, Cloud: sb, Hub: localhub.New(), Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := store.PutProject(ctx, setup.DemoProject([]string{"alice"})); err != nil {
		t.Fatal(err)
	}
	put := func(name string, phase core.Phase, age time.Duration) core.ResourceKey {
		r := &core.Resource{Project: "demo", Kind: core.KindBucket, Name: name, StackName: "bd-demo--b-" + name,
			Observed: core.Observed{Phase: phase, StackID: "arn:aws:cloudformation:eu-west-1:123456789012:stack/bd-demo--b-" + name + "/gone"},
			Version:  3, UpdatedAt: now.Add(-age)}
		if phase == core.PhaseDeleted {
			r.Observed.StackStatus = "DELETE_COMPLETE"
		}
		if err := store.PutResource(ctx, r, 0); err != nil {
			t.Fatal(err)
		}
		return r.Key()
	}
	old := put("old-tomb", core.PhaseDeleted, engine.TombstoneTTL+time.Hour)
	young := put("young-tomb", core.PhaseDeleted, time.Hour)
	st, err := e.Reconciler.Reconcile(ctx)
	if err != nil || st.Purged != 1 {
		t.Fatalf("stats %+v, err %v", st, err)
	}
	if _, err := store.GetResource(ctx, old); err == nil {
		t.Fatal("old tombstone kept")
	}
	if _, err := store.GetResource(ctx, young); err != nil {
		t.Fatalf("young tombstone: %v", err)
	}
}

// The reconciler deletes the history of operations older than the
// retention, also the one a resource's item still holds, and keeps what
// is younger; the item keeps its latest operation.
func TestReconcilerPurgesOldHistory(t *testing.T) {
	ctx := t.Context()
	start := time.Now().UTC()
	clk := clock.NewManual(start)
	l := open(t, t.TempDir(), simcloud.ZeroOptions(), func(c *setup.LocalConfig) { c.Clock = clk })
	e := engine.New(engine.Options{Resources: l.Store, Projects: l.Store, Queue: l.Queue, Cloud: l.Sandbox, Hub: l.Hub, Clock: clk,
		HistoryRetention: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	run := func(op *core.Operation, err error) *core.Operation {
		t.Helper()
		must{t}.op(op, err)
		ds, err := l.Queue.Receive(ctx, 1, 0)
		if err != nil || len(ds) != 1 {
			t.Fatalf("receive: %v %v", ds, err)
		}
		if err := e.Worker.Handle(ctx, ds[0]); err != nil {
			t.Fatal(err)
		}
		_ = l.Queue.Ack(ctx, ds[0].Receipt)
		if err := l.Sandbox.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		// The stack events are not delivered (nobody subscribed): the
		// reconciler ends the operation.
		if _, err := e.Reconciler.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := e.Service.Operation(ctx, alice, op.ID)
		if err != nil || got.Status != core.OpSucceeded {
			t.Fatalf("operation %+v %v", got, err)
		}
		return op
	}
	first := run(e.Service.Create(ctx, alice, "demo", bucket("history-a")))
	clk.Advance(45 * time.Minute)
	second := run(e.Service.Create(ctx, alice, "demo", bucket("history-b")))
	clk.Advance(30 * time.Minute)
	st, err := e.Reconciler.Reconcile(ctx)
	if err != nil || st.History != 1 {
		t.Fatalf("stats %+v, err %v; want one history copy purged", st, err)
	}
	if _, err := l.Store.GetOperation(ctx, first.ID); err == nil {
		t.Error("an operation older than the retention is still in the history")
	}
	if _, err := l.Store.GetOperation(ctx, second.ID); err != nil {
		t.Errorf("a younger operation: %v", err)
	}
	// A second pass neither deletes more nor writes the copy back.
	if st, err := e.Reconciler.Reconcile(ctx); err != nil || st.History != 0 {
		t.Fatalf("second pass: %+v %v", st, err)
	}
	if _, err := l.Store.GetOperation(ctx, first.ID); err == nil {
		t.Error("the purged copy was written back")
	}
	r, err := e.Service.Get(ctx, alice, "demo", core.KindBucket, "history-a")
	if err != nil || r.Op == nil || r.Op.ID != first.ID {
		t.Fatalf("the item lost its latest operation: %+v %v", r, err)
	}
}
