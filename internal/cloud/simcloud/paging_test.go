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

// A bucket name stays taken across accounts and across a reopen of the
// file, and is free again once its stack is deleted: the index of
// physical resources answers as a walk of every stack would.
func TestBucketNameTakenAcrossReopen(t *testing.T) {
	s, path := open(t, nil)
	ctx := t.Context()
	status := func(s *simcloud.Sandbox, a core.Account, name string) string {
		t.Helper()
		if err := s.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := s.DescribeStack(ctx, a, name)
		if err != nil {
			t.Fatal(err)
		}
		return st.Status
	}
	if _, err := s.CreateStack(ctx, acct, bucketReq("first", "shared-name", "t1")); err != nil {
		t.Fatal(err)
	}
	if got := status(s, acct, "first"); got != "CREATE_COMPLETE" {
		t.Fatalf("first: %s", got)
	}
	s.Close()
	s = reopen(t, path, nil)
	if _, err := s.CreateStack(ctx, other, bucketReq("second", "shared-name", "t2")); err != nil {
		t.Fatal(err)
	}
	if got := status(s, other, "second"); got != "ROLLBACK_COMPLETE" {
		t.Fatalf("a bucket name taken in another account, after a reopen: second is %s", got)
	}
	if err := s.DeleteStack(ctx, acct, "first", "t3"); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateStack(ctx, other, bucketReq("third", "shared-name", "t4")); err != nil {
		t.Fatal(err)
	}
	if got := status(s, other, "third"); got != "CREATE_COMPLETE" {
		t.Fatalf("a bucket name freed by its stack's delete: third is %s", got)
	}
}
