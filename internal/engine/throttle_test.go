package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/setup"
)

// With the sandbox throttling at a low rate and bucketdesk not pacing
// itself, a burst of 50 operations all succeed: throttling only delays.
func TestThrottledBurstAllSucceed(t *testing.T) {
	sb := simcloud.ZeroOptions()
	sb.RateLimit = simcloud.RateLimit{PerSecond: 25, Burst: 5}
	retries := &countingHandler{msg: "operation retried"}
	l := open(t, t.TempDir(), sb, func(c *setup.LocalConfig) {
		c.Workers = 8
		c.Logger = slog.New(retries)
	})
	ctx := t.Context()
	l.Start(ctx)
	var ops []*core.Operation
	for i := range 50 {
		ops = append(ops, must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", bucket(fmt.Sprintf("burst-%02d", i)))))
	}
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
