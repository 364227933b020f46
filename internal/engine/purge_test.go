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
	e := engine.New(engine.Options{Store: store, Cloud: sb, Hub: localhub.New(), Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
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
