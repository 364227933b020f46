package simcloud_test

// S3's lifecycle rules, as PutBucketLifecycleConfiguration checks them
// after CloudFormation resolved the template: the bucket fails its CREATE or
// UPDATE with S3's InvalidArgument.

import (
	"encoding/json"
	"strings"
	"testing"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
)

// lifecycleBucket renders a bucket stack of spec and lets edit change the
// bucket's lifecycle rules (as generic JSON) before it is sent.
func lifecycleBucket(t *testing.T, b *core.BucketSpec, token string, edit func(rules []any) []any) core.StackRequest {
	t.Helper()
	tpl, caps, err := stacks.Render(rulesProject, core.Spec{Bucket: b})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if edit != nil {
		var m map[string]any
		if err := json.Unmarshal([]byte(tpl), &m); err != nil {
			t.Fatal(err)
		}
		props := m["Resources"].(map[string]any)["Bucket"].(map[string]any)["Properties"].(map[string]any)
		lc := props["LifecycleConfiguration"].(map[string]any)
		lc["Rules"] = edit(lc["Rules"].([]any))
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		tpl = string(out)
	}
	return core.StackRequest{StackName: stacks.StackName(rulesProject.ID, core.KindBucket, b.Name), Template: tpl,
		Capabilities: caps, Token: token, Tags: stacks.Tags(rulesProject.ID, core.KindBucket, b.Name)}
}

func s3Reason(msg string) string {
	return msg + " (Service: S3, Status Code: 400, Error Code: InvalidArgument)"
}

// wantBucketFailed checks that the Bucket resource failed with status and
// S3's message msg, reported as a handler's InvalidRequest.
func wantBucketFailed(t *testing.T, s *simcloud.Sandbox, stack, status, msg string) {
	t.Helper()
	reason, ok := failure(t, s, stack, "Bucket", status)
	if !ok || !strings.Contains(reason, `"`+s3Reason(msg)+`"`) || !strings.Contains(reason, "HandlerErrorCode: InvalidRequest") {
		t.Errorf("%s: Bucket %s %v with %q, want S3's %q", stack, status, ok, reason, msg)
	}
}

const markerWithDays = "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy"

// What bucketdesk renders passes: the abort rule, the expiry with its
// noncurrent versions, the delete markers in their own rule; enabled,
// suspended and never versioned; on create and on update.
func TestLifecycleRulesAsRendered(t *testing.T) {
	s, _ := open(t, nil)
	s3 := core.Encryption{Type: core.EncryptionS3}
	for i, b := range []*core.BucketSpec{
		{Name: "lc-plain", Encryption: s3},
		{Name: "lc-expiry", Encryption: s3, ExpiryDays: 30},
		{Name: "lc-versioned", Encryption: s3, Versioning: true, ExpiryDays: 1},
		{Name: "lc-suspended", Encryption: s3, VersioningSuspended: true, ExpiryDays: core.MaxExpiryDays},
	} {
		req := lifecycleBucket(t, b, "c"+b.Name, nil)
		mustCreate(t, s, acct, req)
		if st := status(t, s, acct, req.StackName); st.Status != "CREATE_COMPLETE" {
			t.Fatalf("%s: stack %s %s", b.Name, st.Status, st.StatusReason)
		}
		// Turn versioning on, then off (suspended), changing the rules.
		next := *b
		next.Versioning, next.VersioningSuspended = i%2 == 0, i%2 == 1
		next.ExpiryDays = 7
		up := lifecycleBucket(t, &next, "u"+b.Name, nil)
		if _, err := s.UpdateStack(t.Context(), acct, up); err != nil {
			t.Fatal(err)
		}
		settle(t, s)
		if st := status(t, s, acct, up.StackName); st.Status != "UPDATE_COMPLETE" {
			t.Fatalf("%s: update: stack %s %s", b.Name, st.Status, st.StatusReason)
		}
	}
}

// ExpiredObjectDeleteMarker in the rule that has ExpirationInDays or
// ExpirationDate fails the bucket, on create and on update.
func TestLifecycleDeleteMarkerWithDaysOrDate(t *testing.T) {
	s, _ := open(t, nil)
	b := &core.BucketSpec{Name: "lc-marker", Encryption: core.Encryption{Type: core.EncryptionS3}, Versioning: true, ExpiryDays: 30}
	// Merge the delete-marker rule into the expiry rule.
	merged := func(rules []any) []any {
		rules[1].(map[string]any)["ExpiredObjectDeleteMarker"] = true
		return rules[:2]
	}
	req := lifecycleBucket(t, b, "c1", merged)
	mustCreate(t, s, acct, req)
	wantBucketFailed(t, s, req.StackName, "CREATE_FAILED", markerWithDays)
	if st := status(t, s, acct, req.StackName).Status; st != "ROLLBACK_COMPLETE" {
		t.Errorf("create: stack %s, want ROLLBACK_COMPLETE", st)
	}

	// A date instead of days, even with the marker false.
	b.Name = "lc-marker-date"
	ok := lifecycleBucket(t, b, "c2", nil)
	mustCreate(t, s, acct, ok)
	if st := status(t, s, acct, ok.StackName); st.Status != "CREATE_COMPLETE" {
		t.Fatalf("stack %s %s", st.Status, st.StatusReason)
	}
	up := lifecycleBucket(t, b, "u2", func(rules []any) []any {
		r := rules[1].(map[string]any)
		delete(r, "ExpirationInDays")
		r["ExpirationDate"] = "2030-01-01T00:00:00Z"
		r["ExpiredObjectDeleteMarker"] = false
		return rules
	})
	if _, err := s.UpdateStack(t.Context(), acct, up); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	wantBucketFailed(t, s, up.StackName, "UPDATE_FAILED", markerWithDays)
	if st := status(t, s, acct, up.StackName).Status; st != "UPDATE_ROLLBACK_COMPLETE" {
		t.Errorf("update: stack %s, want UPDATE_ROLLBACK_COMPLETE", st)
	}
}

// DaysAfterInitiation and NoncurrentDays must be positive.
func TestLifecycleDaysArePositive(t *testing.T) {
	s, _ := open(t, nil)
	tests := []struct {
		name string
		edit func(rules []any) []any
		want string
	}{
		{"abort 0", func(rules []any) []any {
			rules[0].(map[string]any)["AbortIncompleteMultipartUpload"] = map[string]any{"DaysAfterInitiation": 0}
			return rules
		}, "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer"},
		{"noncurrent 0", func(rules []any) []any {
			rules[1].(map[string]any)["NoncurrentVersionExpiration"] = map[string]any{"NoncurrentDays": "0"}
			return rules
		}, "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"},
		{"noncurrent negative", func(rules []any) []any {
			rules[1].(map[string]any)["NoncurrentVersionExpiration"] = map[string]any{"NoncurrentDays": -3}
			return rules
		}, "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer"},
		{"expiry 0", func(rules []any) []any {
			rules[1].(map[string]any)["ExpirationInDays"] = 0
			return rules
		}, "'Days' for Expiration action must be a positive integer"},
	}
	for i, tt := range tests {
		b := &core.BucketSpec{Name: "lc-days-" + string(rune('a'+i)), Encryption: core.Encryption{Type: core.EncryptionS3}, Versioning: true, ExpiryDays: 30}
		req := lifecycleBucket(t, b, "c-"+b.Name, tt.edit)
		mustCreate(t, s, acct, req)
		wantBucketFailed(t, s, req.StackName, "CREATE_FAILED", tt.want)
	}
}

// The schema holds the rule properties CloudFormation has, and no others.
func TestLifecycleSchema(t *testing.T) {
	s, _ := open(t, nil)
	b := &core.BucketSpec{Name: "lc-schema", Encryption: core.Encryption{Type: core.EncryptionS3}, Versioning: true, ExpiryDays: 30}
	req := lifecycleBucket(t, b, "c1", func(rules []any) []any {
		rules[2].(map[string]any)["ExpiredObjectDeleteMarker"] = "yes"
		return rules
	})
	mustCreate(t, s, acct, req)
	reason, ok := failure(t, s, req.StackName, "Bucket", "CREATE_FAILED")
	if want := "#/LifecycleConfiguration/Rules/2/ExpiredObjectDeleteMarker: expected type: Boolean, found: String"; !ok || !strings.Contains(reason, want) {
		t.Errorf("Bucket CREATE_FAILED %v with %q, want %q", ok, reason, want)
	}
	b.Name = "lc-schema-2"
	req = lifecycleBucket(t, b, "c2", func(rules []any) []any {
		rules[1].(map[string]any)["NoncurrentVersionExpiration"] = map[string]any{"Days": 3}
		return rules
	})
	mustCreate(t, s, acct, req)
	reason, ok = failure(t, s, req.StackName, "Bucket", "CREATE_FAILED")
	if want := "#/LifecycleConfiguration/Rules/1/NoncurrentVersionExpiration: required key [NoncurrentDays] not found"; !ok || !strings.Contains(reason, want) {
		t.Errorf("Bucket CREATE_FAILED %v with %q, want %q", ok, reason, want)
	}
}

// A bucket's HTTPS-only policy outlives a delete that fails because the
// bucket holds objects: CloudFormation skips the policy (its
// DeletionPolicy), fails on the bucket, and a retry after emptying it
// deletes the stack.
func TestBucketPolicyRetainedOnFailedDelete(t *testing.T) {
	s, _ := open(t, nil)
	ctx := t.Context()
	id, err := s.CreateStack(ctx, acct, taggedBucketReq(t, "keep-policy", "keep-policy-b", nil))
	if err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	putObjects(t, s, acct, "keep-policy-b", 2)
	if err := s.DeleteStack(ctx, acct, "keep-policy", "d1"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if st := status(t, s, acct, "keep-policy"); st.Status != "DELETE_FAILED" {
		t.Fatalf("delete of a bucket with objects: %s", st.Status)
	}
	evs, _ := s.Events(acct, "keep-policy")
	got := strings.Join(seq(evs), ", ")
	if !strings.Contains(got, "BucketPolicy DELETE_SKIPPED, Bucket DELETE_IN_PROGRESS, Bucket DELETE_FAILED") || strings.Contains(got, "BucketPolicy DELETE_COMPLETE") {
		t.Fatalf("events: %s", got)
	}
	emptyBucket(t, s, acct, "keep-policy-b")
	if err := s.DeleteStack(ctx, acct, "keep-policy", "d2"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if st := status(t, s, acct, id); st.Status != "DELETE_COMPLETE" {
		t.Fatalf("retry after emptying: %s", st.Status)
	}
}
