package paced

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
)

// Paced at the sandbox's own rate, a burst far over it is never throttled.
func TestPacedStaysUnderTheLimit(t *testing.T) {
	opts := simcloud.ZeroOptions()
	opts.RateLimit = simcloud.RateLimit{PerSecond: 50, Burst: 5}
	sb, err := simcloud.New(filepath.Join(t.TempDir(), "sandbox.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	c := Wrap(sb, 40, 5)
	acct := core.Account{ID: "123456789012", Region: "eu-west-1"}
	for i := range 60 {
		if _, err := c.ListStacks(context.Background(), acct, "bd-"); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if Wrap(sb, 0, 0) != core.Cloud(sb) {
		t.Fatal("a zero rate should leave the cloud unwrapped")
	}
}

// A call that gives up waiting for a token is throttled, says why, and
// calls nothing.
func TestPacedHonoursContext(t *testing.T) {
	sb, err := simcloud.New(filepath.Join(t.TempDir(), "sandbox.db"), simcloud.ZeroOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	c := Wrap(sb, 0.001, 1)
	acct := core.Account{ID: "123456789012", Region: "eu-west-1"}
	if _, err := c.ListStacks(t.Context(), acct, "bd-"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = c.ListStacks(ctx, acct, "bd-")
	if !errors.Is(err, core.ErrThrottled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("ListStacks without a token = %v, want ErrThrottled and context.Canceled", err)
	}
}
