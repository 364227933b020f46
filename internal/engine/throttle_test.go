package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/setup"
)

// With the sandbox throttling at a low rate and bucketdesk not pacing
// itself, a burst of 50 operations all succeed: throttling only delays.
func TestThrottledBurstAllSucceed(t *testing.T) {
	sb := simcloud.ZeroOptions()
	sb.RateLimit = simcloud.RateLimit{PerSecond: 25, Burst: 5}
	clk := clock.NewManual(time.Now())
	sb.Clock = clk
	retries := &countingHandler{msg: "operation retried"}
	l := open(t, t.TempDir(), sb, func(c *setup.LocalConfig) {
		c.Workers = 8
		c.Logger = slog.New(retries)
	})
	ctx := t.Context()
	// The sandbox's limiter runs on a clock that stands still until a
	// call was throttled and retried, so throttling does not depend on how
	// fast this machine is; then it runs in step with real time.
	acct := setup.DemoProject(nil).Account()
	for {
		if _, err := l.Sandbox.ListStacks(ctx, acct, "none-"); errors.Is(err, core.ErrThrottled) {
			break // the bucket is empty
		}
	}
	var ops []*core.Operation
	for i := range 50 {
		ops = append(ops, must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", bucket(fmt.Sprintf("burst-%02d", i)))))
	}
	l.Start(ctx)
	for deadline := time.Now().Add(time.Minute); retries.count.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no call was throttled and retried while the sandbox's bucket was empty")
		}
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				clk.Advance(5 * time.Millisecond)
			}
		}
	}()
	settleAndReconcile(t, l)
	for _, op := range ops {
		h, err := l.Engine.Service.Operation(ctx, alice, op.ID)
		if err != nil {
			t.Fatal(err)
		}
		if h.Status != core.OpSucceeded {
			t.Errorf("%s %s: %s %q", op.Name, op.ID, h.Status, h.Error)
		}
	}
	if n := retries.count.Load(); n == 0 {
		t.Fatal("no operation was ever throttled and retried: the test did not test throttling")
	} else {
		t.Logf("%d throttled calls retried, 50 operations succeeded", n)
	}
	assertMirrors(t, l, "demo")
}

// countingHandler counts the log records with one message.
type countingHandler struct {
	msg   string
	count atomic.Int64
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.count.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
