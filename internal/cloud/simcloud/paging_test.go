package simcloud_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
)

// ListStacks reads the account's stacks a page of ListPageSize at a time,
// each page one request of the rate limit, and filters by prefix on every
// page: 250 stacks are three requests, whatever the prefix.
func TestListStacksPages(t *testing.T) {
	clk := clock.NewManual(start)
	opts := simcloud.ZeroOptions()
	opts.Clock = clk
	s, path := open(t, opts)
	ctx := t.Context()
	n := 2*simcloud.ListPageSize + 50
	var want []string
	for i := range n {
		prefix := "odd"
		if i%2 == 0 {
			prefix = "even"
			want = append(want, fmt.Sprintf("even-%04d", i))
		}
		name := fmt.Sprintf("%s-%04d", prefix, i)
		if _, err := s.CreateStack(ctx, acct, bucketReq(name, fmt.Sprintf("paging-%04d", i), "t"+name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	var waits int
	sums, err := s.ListStacksPaced(ctx, acct, "even-", func(context.Context) error { waits++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range sums {
		got = append(got, st.StackName)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("listed %d stacks, want the %d even ones in order", len(got), len(want))
	}
	if waits != 3 {
		t.Fatalf("%d pages paced, want 3 (%d stacks of %d a page)", waits, n, simcloud.ListPageSize)
	}

	// Each page is one request of the account's rate limit: with room for
	// two requests, a listing of three pages is throttled.
	opts = simcloud.ZeroOptions()
	opts.Clock = clk
	opts.RateLimit = simcloud.RateLimit{PerSecond: 1, Burst: 3}
	s.Close()
	limited := reopen(t, path, opts)
	if _, err := limited.ListStacks(ctx, acct, ""); err != nil {
		t.Fatalf("three pages within a burst of three: %v", err)
	}
	if _, err := limited.ListStacks(ctx, acct, "even-"); !errors.Is(err, core.ErrThrottled) {
		t.Fatalf("a second listing of three pages at once: %v, want ErrThrottled", err)
	}
	if _, err := limited.ListStacks(ctx, other, ""); err != nil {
		t.Fatalf("an empty account lists in one request: %v", err)
	}
}
