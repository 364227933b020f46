package simcloud_test

import (
	"fmt"
	"strings"
	"testing"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
)

var taggedReqs int

// taggedBucketReq is a bucket stack whose bucket carries tags.
func taggedBucketReq(t *testing.T, stack, bucket string, tags map[string]string) core.StackRequest {
	taggedReqs++
	t.Helper()
	p := &core.Project{ID: "demo", AccountID: acct.ID, Region: acct.Region}
	tpl, caps, err := stacks.Render(p, core.Spec{Bucket: &core.BucketSpec{Name: bucket, Encryption: core.Encryption{Type: core.EncryptionS3}, Tags: tags}})
	if err != nil {
		t.Fatal(err)
	}
	return core.StackRequest{StackName: stack, Template: tpl, Capabilities: caps, Token: fmt.Sprintf("t-%s-%d", stack, taggedReqs)}
}

// A manager trying the product makes a bucket fail on purpose with the
// sandbox-fail tag: "create" fails its create (the stack rolls back),
// "update" fails any update of its stack (which rolls back with the tag).
func TestFailTag(t *testing.T) {
	s, _ := open(t, nil)
	ctx := t.Context()

	mustCreate(t, s, acct, taggedBucketReq(t, "fail-create", "fail-create-b", map[string]string{simcloud.FailTag: "create"}))
	st := status(t, s, acct, "fail-create")
	if st.Status != "ROLLBACK_COMPLETE" {
		t.Fatalf("tagged create: %s", st.Status)
	}
	evs, err := s.Events(acct, "fail-create")
	if err != nil {
		t.Fatal(err)
	}
	if !hasFailure(evs, "Bucket", "CREATE_FAILED", "tag sandbox-fail=create") {
		t.Fatalf("no CREATE_FAILED of the bucket naming the tag: %v", seq(evs))
	}

	mustCreate(t, s, acct, taggedBucketReq(t, "fail-update", "fail-update-b", map[string]string{"team": "a"}))
	if _, err := s.UpdateStack(ctx, acct, taggedBucketReq(t, "fail-update", "fail-update-b", map[string]string{"team": "a", simcloud.FailTag: "update"})); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if st := status(t, s, acct, "fail-update"); st.Status != "UPDATE_ROLLBACK_COMPLETE" {
		t.Fatalf("tagged update: %s", st.Status)
	}
	// The rollback took the tag away: the next update goes through.
	if _, err := s.UpdateStack(ctx, acct, taggedBucketReq(t, "fail-update", "fail-update-b", map[string]string{"team": "b"})); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if st := status(t, s, acct, "fail-update"); st.Status != "UPDATE_COMPLETE" {
		t.Fatalf("update after the rollback: %s", st.Status)
	}
}

// With a failure rate of 1 every operation of that action fails, with a
// reason that says it was on purpose; a rate of 0 fails nothing.
func TestFailRate(t *testing.T) {
	opts := simcloud.ZeroOptions()
	opts.FailRate = simcloud.FailRate{Create: 1}
	s, _ := open(t, opts)
	mustCreate(t, s, acct, bucketReq("rate-create", "rate-create-b", "c1"))
	if st := status(t, s, acct, "rate-create"); st.Status != "ROLLBACK_COMPLETE" {
		t.Fatalf("create at rate 1: %s", st.Status)
	}
	evs, _ := s.Events(acct, "rate-create")
	if !hasFailure(evs, "Bucket", "CREATE_FAILED", "--sandbox-fail-rate") {
		t.Fatalf("no failure naming the rate: %v", seq(evs))
	}

	opts = simcloud.ZeroOptions()
	opts.FailRate = simcloud.FailRate{Delete: 1}
	s, _ = open(t, opts)
	mustCreate(t, s, acct, bucketReq("rate-delete", "rate-delete-b", "c2"))
	if err := s.DeleteStack(t.Context(), acct, "rate-delete", "d2"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if st := status(t, s, acct, "rate-delete"); st.Status != "DELETE_FAILED" || !strings.Contains(st.StatusReason, "failed to delete") {
		t.Fatalf("delete at rate 1: %s %q", st.Status, st.StatusReason)
	}

	opts = simcloud.ZeroOptions()
	opts.FailRate = simcloud.FailRate{Create: 1.5}
	if _, err := simcloud.New(t.TempDir()+"/x.db", opts); err == nil {
		t.Fatal("a rate above 1 was accepted")
	}
}

func hasFailure(evs []core.StackEvent, logical, status, why string) bool {
	for _, e := range evs {
		if e.LogicalResourceID == logical && e.ResourceStatus == status && strings.Contains(e.StatusReason, why) && strings.Contains(e.StatusReason, "on purpose") {
			return true
		}
	}
	return false
}
