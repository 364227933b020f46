package simcloud_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
)

// manualOpts returns ZeroOptions on clk with the given retention (0: the
// default, 90 days).
func manualOpts(clk *clock.Manual, retention time.Duration) *simcloud.Options {
	o := simcloud.ZeroOptions()
	o.Clock, o.Retention = clk, retention
	return o
}

func opsOf(s *simcloud.Sandbox, id string) int {
	n := 0
	for _, o := range s.Operations() {
		if o.StackID == id {
			n++
		}
	}
	return n
}

func countEvents(t *testing.T, s *simcloud.Sandbox, stacks ...string) int {
	t.Helper()
	n := 0
	for _, name := range stacks {
		evs, err := s.Events(acct, name)
		if err != nil {
			t.Fatalf("Events(%s): %v", name, err)
		}
		n += len(evs)
	}
	return n
}

// Deleted stacks are kept 90 days by default, as CloudFormation keeps
// them, then forgotten in memory and in the file; live stacks never are.
func TestDeletedStackForgottenAfterRetention(t *testing.T) {
	const retention = 90 * 24 * time.Hour
	clk := clock.NewManual(start)
	s, path := open(t, manualOpts(clk, 0))
	s.Subscribe(func([]byte) {}) // the outbox empties: Stats counts nothing there
	ctx := t.Context()
	mustCreate(t, s, acct, bucketReq("live", "live-bucket", "t-live"))
	mustCreate(t, s, acct, bucketReq("old", "old-bucket", "t-old"))
	id := status(t, s, acct, "old").StackID
	if err := s.DeleteStack(ctx, acct, "old", "t-del"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)

	clk.Advance(retention - time.Second)
	mustCreate(t, s, acct, bucketReq("next", "next-bucket", "t-next")) // sweeps, too early
	if st := status(t, s, acct, id); st.Status != "DELETE_COMPLETE" {
		t.Fatalf("deleted stack before the retention ends: %s", st.Status)
	}
	evs, err := s.Events(acct, id)
	if err != nil || len(evs) == 0 || evs[len(evs)-1].ResourceStatus != "DELETE_COMPLETE" {
		t.Fatalf("events of the deleted stack: %v %v", seq(evs), err)
	}
	if _, err := s.GetTemplate(ctx, acct, id); err != nil {
		t.Errorf("GetTemplate of the deleted stack: %v", err)
	}
	if n := opsOf(s, id); n != 2 {
		t.Errorf("%d operations of the deleted stack, want 2", n)
	}
	if got := s.Stats(); got.Stacks != 3 || got.DeletedStacks != 1 {
		t.Errorf("stats before the retention ends: %+v", got)
	}

	// The DELETE_COMPLETE event is a few milliseconds after the clock:
	// two seconds are past it.
	clk.Advance(2 * time.Second)
	if _, err := s.DescribeStack(ctx, acct, id); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("DescribeStack past the retention, before a sweep: %v, want ErrNotFound", err)
	}
	upd := bucketReq("live", "live-bucket", "t-upd")
	upd.Tags = map[string]string{"v": "2"}
	if _, err := s.UpdateStack(ctx, acct, upd); err != nil { // sweeps
		t.Fatal(err)
	}
	settle(t, s)

	forgotten := func(s *simcloud.Sandbox) {
		t.Helper()
		if _, err := s.DescribeStack(ctx, acct, id); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("DescribeStack of a forgotten stack: %v, want ErrNotFound", err)
		}
		if _, err := s.GetTemplate(ctx, acct, id); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("GetTemplate of a forgotten stack: %v, want ErrNotFound", err)
		}
		for _, name := range []string{id, "old"} {
			if evs, err := s.Events(acct, name); !errors.Is(err, core.ErrNotFound) {
				t.Errorf("Events(%s) of a forgotten stack: %v %v, want ErrNotFound", name, seq(evs), err)
			}
		}
		if n := opsOf(s, id); n != 0 {
			t.Errorf("%d operations of the forgotten stack remain", n)
		}
		// A live stack is never forgotten, however old.
		if st := status(t, s, acct, "live"); st.Status != "UPDATE_COMPLETE" {
			t.Errorf("the live stack after 90 days: %s", st.Status)
		}
		want := simcloud.Stats{Stacks: 2, Events: countEvents(t, s, "live", "next"), OpRecords: 3}
		if got := s.Stats(); got != want {
			t.Errorf("stats %+v, want %+v", got, want)
		}
	}
	forgotten(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	forgotten(reopen(t, path, manualOpts(clk, 0))) // Events counts every bucket in the file
}

// A stack that expired while the sandbox was closed is forgotten when it
// opens; one deleted before DeletedAt existed expires after its last
// event.
func TestExpiredStackForgottenAtOpen(t *testing.T) {
	clk := clock.NewManual(start)
	s, path := open(t, manualOpts(clk, time.Hour))
	s.Subscribe(func([]byte) {})
	ctx := t.Context()
	mustCreate(t, s, acct, bucketReq("old", "old-bucket", "t1"))
	id := status(t, s, acct, "old").StackID
	if err := s.DeleteStack(ctx, acct, "old", "t2"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	stripDeletedAt(t, path, id)

	clk.Advance(time.Hour - time.Second)
	s = reopen(t, path, manualOpts(clk, time.Hour))
	if st := status(t, s, acct, id); st.Status != "DELETE_COMPLETE" {
		t.Fatalf("before the retention ends: %s", st.Status)
	}
	if got := s.Stats(); got.DeletedStacks != 1 || got.OpRecords != 2 {
		t.Errorf("stats before the retention ends: %+v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	clk.Advance(2 * time.Second)
	s = reopen(t, path, manualOpts(clk, time.Hour))
	if got := s.Stats(); got != (simcloud.Stats{}) {
		t.Errorf("stats after opening past the retention: %+v, want nothing kept", got)
	}
	if _, err := s.DescribeStack(ctx, acct, id); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("DescribeStack: %v, want ErrNotFound", err)
	}
}

// stripDeletedAt rewrites a stack's record as the sandbox wrote it before
// it recorded deletion times.
func stripDeletedAt(t *testing.T, path, id string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("stacks"))
		var m map[string]any
		if err := json.Unmarshal(b.Get([]byte(id)), &m); err != nil {
			return err
		}
		if _, ok := m["deleted_at"]; !ok {
			return fmt.Errorf("no deleted_at in %v", m)
		}
		delete(m, "deleted_at")
		v, _ := json.Marshal(m)
		return b.Put([]byte(id), v)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Under churn (the same stack created and deleted again and again) what
// the sandbox keeps, in memory and in its file, levels off.
func TestChurnStaysBounded(t *testing.T) {
	const (
		retention = time.Minute
		step      = 10 * time.Second
		rounds    = 200
		maxKept   = int(retention/step) + 2 // deleted stacks within the retention, and the one just deleted
	)
	clk := clock.NewManual(start)
	s, path := open(t, manualOpts(clk, retention))
	s.Subscribe(func([]byte) {}) // as the portal does: the outbox empties
	ctx := t.Context()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var early int64
	for i := range rounds {
		mustCreate(t, s, acct, bucketReq("churn", "churn-bucket", fmt.Sprintf("c%d", i)))
		if err := s.DeleteStack(ctx, acct, "churn", fmt.Sprintf("d%d", i)); err != nil {
			t.Fatal(err)
		}
		settle(t, s)
		clk.Advance(step)
		st := s.Stats()
		if st.Stacks > maxKept || st.DeletedStacks > maxKept || st.OpRecords > 2*maxKept || st.Events > 20*maxKept || st.Outbox != 0 {
			t.Fatalf("round %d keeps %+v; at most %d stacks", i, st, maxKept)
		}
		if i == rounds/4 {
			early = size()
		}
	}
	t.Logf("file %d bytes at round %d, %d at the end; %+v", early, rounds/4, size(), s.Stats())
	if late := size(); late > early {
		t.Errorf("the file grew from %d to %d bytes between rounds %d and %d", early, late, rounds/4, rounds)
	}
	if n := len(s.Operations()); n > 2*maxKept {
		t.Errorf("Operations returns %d records", n)
	}
}

// A stack updated for ever remembers its last 100 operations: their
// records and tokens, so recent retries stay idempotent.
func TestLiveStackKeepsLastOperations(t *testing.T) {
	const updates = 120
	s, path := open(t, nil)
	ctx := t.Context()
	mustCreate(t, s, acct, bucketReq("stk", "busy-bucket", "create"))
	for i := range updates {
		upd := bucketReq("stk", "busy-bucket", fmt.Sprintf("u%d", i))
		upd.Tags = map[string]string{"v": fmt.Sprint(i)}
		if _, err := s.UpdateStack(ctx, acct, upd); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		settle(t, s)
	}
	id := status(t, s, acct, "stk").StackID
	if n := opsOf(s, id); n != 100 {
		t.Fatalf("%d operations kept, want the last 100", n)
	}
	if ops := s.Operations(); ops[0].Token != "u20" || ops[len(ops)-1].Token != fmt.Sprintf("u%d", updates-1) {
		t.Errorf("operations kept from %s to %s, want u20 to u%d", ops[0].Token, ops[len(ops)-1].Token, updates-1)
	}
	// The oldest token kept still makes a retry idempotent.
	retry := bucketReq("stk", "busy-bucket", "u20")
	retry.Tags = map[string]string{"v": "20"}
	if _, err := s.UpdateStack(ctx, acct, retry); err != nil {
		t.Errorf("retry with a kept token: %v", err)
	}
	if n := opsOf(s, id); n != 100 {
		t.Errorf("the retry started an operation: %d kept", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := opsOf(reopen(t, path, nil), id); n != 100 {
		t.Errorf("%d operations after reopening, want 100", n)
	}
}

func TestNegativeRetention(t *testing.T) {
	bad := simcloud.ZeroOptions()
	bad.Retention = -time.Second
	if _, err := simcloud.New(filepath.Join(t.TempDir(), "x.db"), bad); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("New with a negative retention: %v, want ErrInvalid", err)
	}
}
