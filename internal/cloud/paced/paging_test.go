package paced

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
)

// A ListStacks of several pages takes a token per page: with a burst of
// three and no refill to speak of, a listing of three pages passes and the
// next one waits (here until its context gives up).
func TestPacedListingTakesATokenPerPage(t *testing.T) {
	opts := simcloud.ZeroOptions()
	opts.NoSync = true
	sb, err := simcloud.New(filepath.Join(t.TempDir(), "sandbox.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	acct := core.Account{ID: "123456789012", Region: "eu-west-1"}
	ctx := t.Context()
	n := 2*simcloud.ListPageSize + 1
	for i := range n {
		name := fmt.Sprintf("bd-p--b-s%04d", i)
		req := core.StackRequest{StackName: name, Token: "t" + name,
			Template: `{"Resources":{"B":{"Type":"AWS::S3::Bucket","Properties":{"BucketName":"paced-` + fmt.Sprint(i) + `"}}}}`}
		if _, err := sb.CreateStack(ctx, acct, req); err != nil {
			t.Fatal(err)
		}
	}
	if err := sb.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	c := Wrap(sb, 0.001, 3)
	sums, err := c.ListStacks(ctx, acct, "bd-p--")
	if err != nil || len(sums) != n {
		t.Fatalf("first listing: %d stacks, %v", len(sums), err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.ListStacks(short, acct, "bd-p--"); !errors.Is(err, core.ErrThrottled) {
		t.Fatalf("second listing: %v, want it to wait for a token", err)
	}
}
