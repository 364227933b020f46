package boltstore_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/store/boltstore"
)

// TestConformanceNoGroupCommit runs the suite with one transaction per
// write, the mode the benchmark compares group commit with.
func TestConformanceNoGroupCommit(t *testing.T) {
	conformance(t, func(t *testing.T) *boltstore.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "bucketdesk.db"), &boltstore.Options{Timeout: time.Second, NoGroupCommit: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestGroupCommitConcurrentWriters runs many writers at once, each with
// the engine's read-modify-write loop: some on keys of their own, all on
// one hot key, and some writing operation copies. Every write a writer
// was told succeeded must be readable at once and after reopening the
// file; every conflict must be a real one (another writer's write took
// the version); nothing may be lost or written twice.
func TestGroupCommitConcurrentWriters(t *testing.T) {
	for _, noGroup := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoGroupCommit=%v", noGroup), func(t *testing.T) {
			concurrentWriters(t, noGroup)
		})
	}
}

func concurrentWriters(t *testing.T, noGroup bool) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "bucketdesk.db")
	s, err := boltstore.Open(path, &boltstore.Options{Timeout: time.Second, NoGroupCommit: noGroup})
	if err != nil {
		t.Fatal(err)
	}
	const (
		writers = 48
		own     = 8 // versions each writer writes to its own key
		hot     = 6 // successful writes each writer makes to the hot key
	)
	hotKey := core.ResourceKey{Project: "p1", StackName: "bd-p1-bucket-hot"}

	var (
		mu sync.Mutex
		// won[v] is the writer whose write of the hot key's version v
		// succeeded: two winners of one version would be a lost update.
		won       = map[int64]int{}
		conflicts int
		wg        sync.WaitGroup
		errs      = make(chan error, writers*(own+hot+1))
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := fmt.Sprintf("bd-p1-bucket-%03d", w)
			for v := int64(1); v <= own; v++ {
				if err := s.PutResource(ctx, resource("p1", mine, v), v-1); err != nil {
					errs <- fmt.Errorf("writer %d, own key version %d: %w", w, v, err)
					return
				}
				// Acknowledged means readable.
				got, err := s.GetResource(ctx, core.ResourceKey{Project: "p1", StackName: mine})
				if err != nil || got.Version != v {
					errs <- fmt.Errorf("writer %d read its own key after writing version %d: %v, %v", w, v, got, err)
					return
				}
				// A stale write of the own key is refused and changes nothing.
				if err := s.PutResource(ctx, resource("p1", mine, v+1), v-1); !errors.Is(err, core.ErrConflict) {
					errs <- fmt.Errorf("writer %d, stale write of version %d: %v, want a conflict", w, v+1, err)
					return
				}
			}
			for done := 0; done < hot; {
				cur, err := s.GetResource(ctx, hotKey)
				var prev int64
				switch {
				case errors.Is(err, core.ErrNotFound):
				case err != nil:
					errs <- err
					return
				default:
					prev = cur.Version
				}
				r := resource("p1", hotKey.StackName, prev+1)
				r.Observed.StackStatus = fmt.Sprintf("writer-%d", w)
				err = s.PutResource(ctx, r, prev)
				if errors.Is(err, core.ErrConflict) {
					mu.Lock()
					conflicts++
					mu.Unlock()
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if other, ok := won[prev+1]; ok {
					errs <- fmt.Errorf("hot key version %d written by writers %d and %d", prev+1, other, w)
				}
				won[prev+1] = w
				mu.Unlock()
				done++
			}
			op := &core.Operation{ID: fmt.Sprintf("01JNJ5Y0R9ZK4T3V7Q8W2X%04d", w), Project: "p1", StackName: mine, Status: core.OpSucceeded, Rev: 2}
			if err := s.PutOperation(ctx, op); err != nil {
				errs <- err
			}
			// An older copy never replaces a newer one.
			old := *op
			old.Rev, old.Status = 1, core.OpRunning
			if err := s.PutOperation(ctx, &old); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	total := int64(writers * hot)
	for v := int64(1); v <= total; v++ {
		if _, ok := won[v]; !ok {
			t.Errorf("hot key version %d written by nobody", v)
		}
	}
	stats := s.GroupStats()
	t.Logf("%d hot-key conflicts; %d writes in %d group commits", conflicts, stats.Writes, stats.Commits)
	if noGroup {
		if stats != (boltstore.GroupStats{}) {
			t.Errorf("GroupStats = %+v without group commit, want zero", stats)
		}
	} else {
		// Every resource and operation write went through a group;
		// refusals count too (they ran in a committed transaction).
		if want := int64(writers*(2*own+hot+2) + conflicts); stats.Writes != want {
			t.Errorf("GroupStats.Writes = %d, want %d", stats.Writes, want)
		}
		if stats.Commits < 1 || stats.Commits > stats.Writes {
			t.Errorf("GroupStats.Commits = %d for %d writes", stats.Commits, stats.Writes)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Everything acknowledged is in the file.
	s = open(t, path)
	r, err := s.GetResource(ctx, hotKey)
	if err != nil || r.Version != total || r.Observed.StackStatus != fmt.Sprintf("writer-%d", won[total]) {
		t.Errorf("hot key after reopen = %+v, %v; want version %d by writer %d", r, err, total, won[total])
	}
	items, _, err := s.ListResources(ctx, "p1", core.Page{})
	if err != nil || len(items) != writers+1 {
		t.Fatalf("%d items after reopen (%v), want %d", len(items), err, writers+1)
	}
	for _, it := range items {
		if it.StackName != hotKey.StackName && it.Version != own {
			t.Errorf("%s at version %d after reopen, want %d", it.StackName, it.Version, own)
		}
	}
	ops, _, err := s.ListOperations(ctx, "p1", core.Page{})
	if err != nil || len(ops) != writers {
		t.Fatalf("%d operations after reopen (%v), want %d", len(ops), err, writers)
	}
	for _, op := range ops {
		if op.Rev != 2 || op.Status != core.OpSucceeded {
			t.Errorf("operation %s after reopen: rev %d %s, want rev 2 succeeded", op.ID, op.Rev, op.Status)
		}
	}
}

// TestGroupCommitDeleteConflict: a delete with a stale version is refused
// with a conflict and deletes nothing, also among concurrent writes.
func TestGroupCommitDeleteConflict(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "bucketdesk.db"))
	key := core.ResourceKey{Project: "p1", StackName: "bd-p1-bucket-a"}
	if err := s.PutResource(ctx, resource("p1", key.StackName, 1), 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.PutResource(ctx, resource("p1", fmt.Sprintf("bd-p1-bucket-x%02d", i), 1), 0); err != nil {
				t.Error(err)
			}
		}()
	}
	if err := s.DeleteResource(ctx, key, 7); !errors.Is(err, core.ErrConflict) {
		t.Errorf("stale delete: %v, want a conflict", err)
	}
	wg.Wait()
	if _, err := s.GetResource(ctx, key); err != nil {
		t.Errorf("item after a refused delete: %v", err)
	}
	if err := s.DeleteResource(ctx, key, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetResource(ctx, key); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("item after delete: %v, want not found", err)
	}
}
