package simcloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/cfnevent"
	"bucketdesk/internal/clock"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/core/porttest"
	"bucketdesk/internal/stacks"
)

var (
	acct  = core.Account{ID: "111111111111", Region: "eu-west-1"}
	other = core.Account{ID: "222222222222", Region: "eu-west-1"}
	start = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

// open returns a sandbox on a fresh file with opts (nil: ZeroOptions),
// closed at the end of the test.
func open(t *testing.T, opts *simcloud.Options) (*simcloud.Sandbox, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sandbox.db")
	return reopen(t, path, opts), path
}

func reopen(t *testing.T, path string, opts *simcloud.Options) *simcloud.Sandbox {
	t.Helper()
	if opts == nil {
		opts = simcloud.ZeroOptions()
	}
	opts.NoSync = true
	s, err := simcloud.New(path, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	porttest.RunCloudTests(t, func(t *testing.T) porttest.CloudHarness {
		s, _ := open(t, nil)
		return porttest.CloudHarness{Cloud: s, Account: acct, Other: other, Settle: s.WaitIdle, Hold: s.Hold}
	})
}

// recorder subscribes to a sandbox and keeps every notification body.
type recorder struct {
	mu     sync.Mutex
	bodies [][]byte
}

func record(s *simcloud.Sandbox) *recorder {
	r := &recorder{}
	s.Subscribe(func(b []byte) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.bodies = append(r.bodies, b)
	})
	return r
}

// events parses every body received so far with cfnevent.ParseSNS.
func (r *recorder) events(t *testing.T) []core.StackEvent {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []core.StackEvent
	for _, b := range r.bodies {
		e, err := cfnevent.ParseSNS(b)
		if err != nil {
			t.Fatalf("ParseSNS: %v\n%s", err, b)
		}
		out = append(out, e)
	}
	return out
}

func (r *recorder) all() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Join(r.bodies, []byte("\n"))
}

func settle(t *testing.T, s *simcloud.Sandbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := s.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
}

const bucketTpl = `{
  "Resources": {
    "Bucket": {
      "Type": "AWS::S3::Bucket",
      "Properties": {
        "BucketName": %q,
        "VersioningConfiguration": {"Status": "Enabled"}
      }
    },
    "BucketPolicy": {
      "Type": "AWS::S3::BucketPolicy",
      "Properties": {
        "Bucket": {"Ref": "Bucket"},
        "PolicyDocument": {"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*",
          "Resource": [{"Fn::GetAtt": ["Bucket", "Arn"]}, {"Fn::Sub": "${Bucket.Arn}/*"}]%s}]}
      }
    }
  },
  "Outputs": {"BucketName": {"Value": {"Ref": "Bucket"}}}
}`

func bucketReq(stack, bucket, token string) core.StackRequest {
	return core.StackRequest{StackName: stack, Template: fmt.Sprintf(bucketTpl, bucket, ""), Token: token}
}

// seq renders events as "Logical STATUS" lines; stack-level ones as
// "stack STATUS".
func seq(evs []core.StackEvent) []string {
	var out []string
	for _, e := range evs {
		who := e.LogicalResourceID
		if e.StackLevel() {
			who = "stack"
		}
		out = append(out, who+" "+e.ResourceStatus)
	}
	return out
}

// checkSequence checks that a stack's events since index from are want,
// that the subscriber got exactly those (no chaos), each parsed from its
// SNS notification and carrying token, with strictly increasing times.
func checkSequence(t *testing.T, s *simcloud.Sandbox, rec *recorder, stack string, from int, token string, want []string) []core.StackEvent {
	t.Helper()
	all, err := s.Events(acct, stack)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	evs := all[from:]
	if got := seq(evs); !slices.Equal(got, want) {
		t.Fatalf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	var delivered []core.StackEvent
	for _, e := range rec.events(t) {
		if e.StackName == stack {
			delivered = append(delivered, e)
		}
	}
	delivered = delivered[from:]
	for i, e := range evs {
		if i >= len(delivered) {
			t.Fatalf("only %d of %d events delivered", len(delivered), len(evs))
		}
		d := delivered[i]
		if !d.Timestamp.Equal(e.Timestamp) {
			t.Errorf("delivered event %d time %v, stored %v", i, d.Timestamp, e.Timestamp)
		}
		d.Timestamp = e.Timestamp
		if d != e {
			t.Errorf("delivered event %d = %+v\nstored %+v", i, d, e)
		}
		if e.ClientRequestToken != token {
			t.Errorf("event %s %s token %q, want %q", e.LogicalResourceID, e.ResourceStatus, e.ClientRequestToken, token)
		}
		if i > 0 && !e.Timestamp.After(evs[i-1].Timestamp) {
			t.Errorf("event %d time %v not after %v", i, e.Timestamp, evs[i-1].Timestamp)
		}
		if e.StackLevel() && (e.PhysicalResourceID != e.StackID || e.ResourceType != core.StackResourceType) {
			t.Errorf("stack event %+v", e)
		}
		if e.EventID == "" {
			t.Errorf("event %d has no id", i)
		}
	}
	if len(delivered) != len(evs) {
		t.Errorf("%d events delivered, %d stored", len(delivered), len(evs))
	}
	return evs
}

func mustCreate(t *testing.T, s *simcloud.Sandbox, a core.Account, req core.StackRequest) {
	t.Helper()
	if _, err := s.CreateStack(t.Context(), a, req); err != nil {
		t.Fatalf("CreateStack(%s): %v", req.StackName, err)
	}
	settle(t, s)
}

func status(t *testing.T, s *simcloud.Sandbox, a core.Account, stack string) *core.Stack {
	t.Helper()
	st, err := s.DescribeStack(t.Context(), a, stack)
	if err != nil {
		t.Fatalf("DescribeStack(%s): %v", stack, err)
	}
	return st
}

func TestEventsCreate(t *testing.T) {
	s, _ := open(t, nil)
	rec := record(s)
	mustCreate(t, s, acct, bucketReq("bd-demo--b-logs", "demo-logs", "tok-create"))
	evs := checkSequence(t, s, rec, "bd-demo--b-logs", 0, "tok-create", []string{
		"stack CREATE_IN_PROGRESS",
		"Bucket CREATE_IN_PROGRESS",
		"Bucket CREATE_IN_PROGRESS",
		"Bucket CREATE_COMPLETE",
		"BucketPolicy CREATE_IN_PROGRESS",
		"BucketPolicy CREATE_IN_PROGRESS",
		"BucketPolicy CREATE_COMPLETE",
		"stack CREATE_COMPLETE",
	})
	if evs[0].StatusReason != "User Initiated" {
		t.Errorf("first event reason %q", evs[0].StatusReason)
	}
	if evs[1].PhysicalResourceID != "" || evs[2].StatusReason != "Resource creation Initiated" || evs[2].PhysicalResourceID != "demo-logs" {
		t.Errorf("bucket's IN_PROGRESS events %+v, %+v", evs[1], evs[2])
	}
	if evs[3].PhysicalResourceID != "demo-logs" || evs[3].ResourceType != "AWS::S3::Bucket" {
		t.Errorf("bucket event %+v", evs[3])
	}
	// ResourceProperties are the template's, unresolved.
	if body := rec.all(); !bytes.Contains(body, []byte(`Fn::GetAtt`)) || !bytes.Contains(body, []byte(`Subject`)) {
		t.Errorf("notifications lack the unresolved properties:\n%s", body)
	}
	if st := status(t, s, acct, "bd-demo--b-logs"); st.Status != "CREATE_COMPLETE" || st.Outputs["BucketName"] != "demo-logs" {
		t.Errorf("stack = %+v", st)
	}
}

func TestEventsUpdateWithReplacement(t *testing.T) {
	s, _ := open(t, nil)
	rec := record(s)
	mustCreate(t, s, acct, bucketReq("stk", "old-name", "t1"))
	n := len(rec.events(t))
	if _, err := s.UpdateStack(t.Context(), acct, bucketReq("stk", "new-name", "t2")); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	evs := checkSequence(t, s, rec, "stk", n, "t2", []string{
		"stack UPDATE_IN_PROGRESS",
		"Bucket UPDATE_IN_PROGRESS",
		"Bucket UPDATE_IN_PROGRESS",
		"Bucket UPDATE_COMPLETE",
		"BucketPolicy UPDATE_IN_PROGRESS",
		"BucketPolicy UPDATE_IN_PROGRESS",
		"BucketPolicy UPDATE_COMPLETE",
		"stack UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
		"BucketPolicy DELETE_IN_PROGRESS",
		"BucketPolicy DELETE_COMPLETE",
		"Bucket DELETE_IN_PROGRESS",
		"Bucket DELETE_COMPLETE",
		"stack UPDATE_COMPLETE",
	})
	if !strings.Contains(evs[1].StatusReason, "requires the creation of a new physical resource") {
		t.Errorf("replacement reason %q", evs[1].StatusReason)
	}
	if evs[2].StatusReason != "Resource creation Initiated" || evs[3].PhysicalResourceID != "new-name" || evs[11].PhysicalResourceID != "old-name" {
		t.Errorf("physical ids: new %q, deleted %q", evs[3].PhysicalResourceID, evs[11].PhysicalResourceID)
	}
	if st := status(t, s, acct, "stk"); st.Outputs["BucketName"] != "new-name" {
		t.Errorf("outputs %v", st.Outputs)
	}
	// The old name is free again, the new one is taken.
	mustCreate(t, s, other, bucketReq("reuse", "old-name", "t3"))
	mustCreate(t, s, other, bucketReq("clash", "new-name", "t4"))
	if got := status(t, s, other, "reuse").Status; got != "CREATE_COMPLETE" {
		t.Errorf("creating the freed name: %s", got)
	}
	if got := status(t, s, other, "clash"); got.Status != "ROLLBACK_COMPLETE" || !strings.Contains(got.StatusReason, "failed to create: [Bucket]") {
		t.Errorf("creating the taken name: %+v", got)
	}
	ev, _ := s.Events(other, "clash")
	if ev[2].ResourceStatus != "CREATE_FAILED" || !handlerSaid(ev[2].StatusReason, "new-name already exists (Service: S3, Status Code: 0, Request ID: null)", "AlreadyExists") {
		t.Errorf("clash event %+v", ev[2])
	}
}

func TestEventsFailedUpdateRollsBack(t *testing.T) {
	s, _ := open(t, nil)
	rec := record(s)
	first := bucketReq("stk", "first-name", "t1")
	mustCreate(t, s, acct, first)
	n := len(rec.events(t))
	// The bucket is replaced, then the policy fails on a bad property.
	bad := core.StackRequest{StackName: "stk", Token: "t2", Template: fmt.Sprintf(bucketTpl, "second-name", `, "Bogus": 1`)}
	bad.Template = strings.Replace(bad.Template, `"Bucket": {"Ref": "Bucket"},`, `"Bucket": {"Ref": "Bucket"}, "Color": "red",`, 1)
	if _, err := s.UpdateStack(t.Context(), acct, bad); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	evs := checkSequence(t, s, rec, "stk", n, "t2", []string{
		"stack UPDATE_IN_PROGRESS",
		"Bucket UPDATE_IN_PROGRESS",
		"Bucket UPDATE_IN_PROGRESS",
		"Bucket UPDATE_COMPLETE",
		"BucketPolicy UPDATE_IN_PROGRESS",
		"BucketPolicy UPDATE_FAILED",
		"stack UPDATE_ROLLBACK_IN_PROGRESS",
		"BucketPolicy UPDATE_IN_PROGRESS",
		"BucketPolicy UPDATE_COMPLETE",
		"Bucket UPDATE_IN_PROGRESS",
		"Bucket UPDATE_COMPLETE",
		"stack UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
		"Bucket DELETE_IN_PROGRESS",
		"Bucket DELETE_COMPLETE",
		"stack UPDATE_ROLLBACK_COMPLETE",
	})
	if evs[5].StatusReason != "Encountered unsupported property Color" {
		t.Errorf("failure reason %q", evs[5].StatusReason)
	}
	if !strings.Contains(evs[6].StatusReason, "failed to update: [BucketPolicy]") {
		t.Errorf("rollback reason %q", evs[6].StatusReason)
	}
	if evs[10].PhysicalResourceID != "first-name" || evs[13].PhysicalResourceID != "second-name" {
		t.Errorf("restored %q, cleaned up %q", evs[10].PhysicalResourceID, evs[13].PhysicalResourceID)
	}
	st := status(t, s, acct, "stk")
	if st.Outputs["BucketName"] != "first-name" || st.StatusReason == "" {
		t.Errorf("after rollback: %+v", st)
	}
	body, _ := s.GetTemplate(t.Context(), acct, "stk")
	if body != first.Template {
		t.Errorf("GetTemplate after rollback is not the previous template")
	}
	// Updatable again, and the rolled-back name is free.
	if _, err := s.UpdateStack(t.Context(), acct, bucketReq("stk", "second-name", "t3")); err != nil {
		t.Fatalf("update after rollback: %v", err)
	}
	settle(t, s)
	if st := status(t, s, acct, "stk"); st.Status != "UPDATE_COMPLETE" || st.Outputs["BucketName"] != "second-name" {
		t.Errorf("after the next update: %+v", st)
	}
}

func TestEventsFailedCreateRollsBack(t *testing.T) {
	opts := simcloud.ZeroOptions()
	opts.FailTypes = map[string]string{"AWS::S3::BucketPolicy": "Access Denied"}
	s, _ := open(t, opts)
	rec := record(s)
	mustCreate(t, s, acct, bucketReq("stk", "doomed", "t1"))
	evs := checkSequence(t, s, rec, "stk", 0, "t1", []string{
		"stack CREATE_IN_PROGRESS",
		"Bucket CREATE_IN_PROGRESS",
		"Bucket CREATE_IN_PROGRESS",
		"Bucket CREATE_COMPLETE",
		"BucketPolicy CREATE_IN_PROGRESS",
		"BucketPolicy CREATE_FAILED",
		"stack ROLLBACK_IN_PROGRESS",
		"BucketPolicy DELETE_IN_PROGRESS",
		"BucketPolicy DELETE_COMPLETE",
		"Bucket DELETE_IN_PROGRESS",
		"Bucket DELETE_COMPLETE",
		"stack ROLLBACK_COMPLETE",
	})
	if evs[5].StatusReason != "Access Denied" {
		t.Errorf("reason %q", evs[5].StatusReason)
	}
	want := "The following resource(s) failed to create: [BucketPolicy]. Rollback requested by user."
	if evs[6].StatusReason != want {
		t.Errorf("rollback reason %q, want %q", evs[6].StatusReason, want)
	}
	if core.PhaseOf(status(t, s, acct, "stk").Status) != core.PhaseFailed {
		t.Error("ROLLBACK_COMPLETE is not failed")
	}
	// Only deletable.
	_, err := s.UpdateStack(t.Context(), acct, bucketReq("stk", "doomed2", "t2"))
	if !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "is in ROLLBACK_COMPLETE state and can not be updated") {
		t.Errorf("update of a ROLLBACK_COMPLETE stack: %v", err)
	}
	if err := s.DeleteStack(t.Context(), acct, "stk", "t3"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	checkSequence(t, s, rec, "stk", len(evs), "t3", []string{"stack DELETE_IN_PROGRESS", "stack DELETE_COMPLETE"})
}

func TestEventsDeleteNonEmptyBucket(t *testing.T) {
	s, _ := open(t, nil)
	rec := record(s)
	mustCreate(t, s, acct, bucketReq("stk", "full-bucket", "t1"))
	putObjects(t, s, acct, "full-bucket", 3)
	n := len(rec.events(t))
	if err := s.DeleteStack(t.Context(), acct, "stk", "t2"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	evs := checkSequence(t, s, rec, "stk", n, "t2", []string{
		"stack DELETE_IN_PROGRESS",
		"BucketPolicy DELETE_IN_PROGRESS",
		"BucketPolicy DELETE_COMPLETE",
		"Bucket DELETE_IN_PROGRESS",
		"Bucket DELETE_FAILED",
		"stack DELETE_FAILED",
	})
	if !strings.Contains(evs[4].StatusReason, "BucketNotEmpty") {
		t.Errorf("bucket reason %q", evs[4].StatusReason)
	}
	const want = "The following resource(s) failed to delete: [Bucket]. " // with its trailing space, as CloudFormation writes it
	st := status(t, s, acct, "stk")
	if st.Status != "DELETE_FAILED" || st.StatusReason != want || evs[5].StatusReason != want {
		t.Errorf("stack %s %q, event %q; want DELETE_FAILED %q", st.Status, st.StatusReason, evs[5].StatusReason, want)
	}
	// Still listed, and the same token does not start another delete.
	if l, _ := s.ListStacks(t.Context(), acct, ""); len(l) != 1 || l[0].Status != "DELETE_FAILED" {
		t.Errorf("ListStacks %+v", l)
	}
	if err := s.DeleteStack(t.Context(), acct, "stk", "t2"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if got := status(t, s, acct, "stk").Status; got != "DELETE_FAILED" {
		t.Errorf("after a same-token retry: %s", got)
	}
	emptyBucket(t, s, acct, "full-bucket")
	if err := s.DeleteStack(t.Context(), acct, "stk", "t3"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	checkSequence(t, s, rec, "stk", n+len(evs), "t3", []string{
		"stack DELETE_IN_PROGRESS",
		"Bucket DELETE_IN_PROGRESS",
		"Bucket DELETE_COMPLETE",
		"stack DELETE_COMPLETE",
	})
	if _, err := s.DescribeStack(t.Context(), acct, "stk"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("DescribeStack after delete: %v", err)
	}
}

func TestInvalidProperties(t *testing.T) {
	s, _ := open(t, nil)
	for _, tc := range []struct{ name, props, reason string }{
		{"unsupported", `"BucketName": "ok-name", "Colour": "red"`, "Encountered unsupported property Colour"},
		{"enum", `"BucketName": "ok-name", "VersioningConfiguration": {"Status": "Sometimes"}`, "#/VersioningConfiguration/Status: failed validation constraint for keyword [enum]"},
		{"nested key", `"BucketName": "ok-name", "VersioningConfiguration": {"Status": "Enabled", "MFADelete": "x"}`, "extraneous key [MFADelete] is not permitted"},
		{"uppercase", `"BucketName": "Not-OK"`, "Bucket name should not contain uppercase characters"},
		{"short", `"BucketName": "ab"`, "Bucket name should be between 3 and 63 characters long"},
		{"type", `"BucketName": {"a": 1}`, "expected type: String, found: JSONObject"},
	} {
		tpl := `{"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {` + tc.props + `}}}}`
		name := "stk-" + strings.ReplaceAll(tc.name, " ", "-")
		mustCreate(t, s, acct, core.StackRequest{StackName: name, Template: tpl, Token: name})
		evs, _ := s.Events(acct, name)
		if got := seq(evs); len(got) < 3 || got[2] != "Bucket CREATE_FAILED" || !strings.Contains(evs[2].StatusReason, tc.reason) {
			t.Errorf("%s: events %v, reason %q; want Bucket CREATE_FAILED with %q", tc.name, got, evs[2].StatusReason, tc.reason)
		}
		if st := status(t, s, acct, name).Status; st != "ROLLBACK_COMPLETE" {
			t.Errorf("%s: %s", tc.name, st)
		}
	}
}

func TestTemplateErrors(t *testing.T) {
	s, _ := open(t, nil)
	for _, tc := range []struct{ tpl, msg string }{
		{`{`, "Template format error: JSON not well-formed."},
		{`{"Resources": {"A": {"Type": "AWS::Foo::Bar"}}}`, "Unrecognized resource types: [AWS::Foo::Bar]"},
		{`{"Resources": {"A": {"Type": "AWS::IAM::User", "Properties": {"Path": {"Fn::GetAtt": ["A", "Arn"]}}}}}`, "Circular dependency"},
		{`{"Resources": {"A": {"Type": "AWS::IAM::User", "DependsOn": "B"}, "B": {"Type": "AWS::IAM::User", "DependsOn": "A"}}}`, "Circular dependency between resources: [A, B]"},
		{`{"Resources": {"A": {"Type": "AWS::S3::Bucket"}}, "Outputs": {"X": {"Value": {"Fn::GetAtt": ["A", "Nope"]}}}}`, "does not support attribute type Nope"},
		{`{"Resources": {"A": {"Type": "AWS::S3::Bucket"}}, "Outputs": {"X": {"Value": {"Ref": "B"}}}}`, "Unresolved resource dependencies [B]"},
		{`{"Resources": {"A": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}}}}`, "Requires capabilities : [CAPABILITY_IAM]"},
	} {
		_, err := s.CreateStack(t.Context(), acct, core.StackRequest{StackName: "bad", Template: tc.tpl, Token: "x"})
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("template %s: error %v, want ErrInvalid with %q", tc.tpl, err, tc.msg)
		}
	}
	if ops := s.Operations(); len(ops) != 0 {
		t.Errorf("rejected creates recorded operations: %v", ops)
	}
}

// TestRenderedTemplates runs the templates package stacks renders, with
// every option, through create, update and delete.
func TestRenderedTemplates(t *testing.T) {
	s, _ := open(t, nil)
	rec := record(s)
	p := &core.Project{ID: "demo", Name: "Demo", AccountID: acct.ID, Region: acct.Region, TransferServerID: "s-0123456789abcdef0", Members: []string{"alice"}}
	bucket := &core.BucketSpec{Name: "demo-raw", Versioning: true, Encryption: core.Encryption{Type: core.EncryptionKMS, KMSKeyARN: "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab"}, ExpiryDays: 30, Tags: map[string]string{"team": "data"}}
	user := &core.UserSpec{
		Name:       "partner",
		Grants:     []core.Grant{{Bucket: "demo-raw", Access: core.AccessReadWrite, Prefix: "in/"}},
		AccessKeys: 2, KeySerials: []int{1, 1},
		SFTP: core.SFTP{Enabled: true, SSHKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@example.com"}},
	}
	apply := func(spec core.Spec, token string, update bool) *core.Stack {
		t.Helper()
		tpl, caps, err := stacks.Render(p, spec)
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		kind, name := core.KindBucket, ""
		if spec.User != nil {
			kind, name = core.KindUser, spec.User.Name
		} else {
			name = spec.Bucket.Name
		}
		req := core.StackRequest{StackName: stacks.StackName(p.ID, kind, name), Template: tpl, Capabilities: caps, Token: token, Tags: stacks.Tags(p.ID, kind, name)}
		if update {
			_, err = s.UpdateStack(t.Context(), acct, req)
		} else {
			_, err = s.CreateStack(t.Context(), acct, req)
		}
		if err != nil {
			t.Fatalf("%s: %v", token, err)
		}
		settle(t, s)
		st := status(t, s, acct, req.StackName)
		if st.Status != "CREATE_COMPLETE" && st.Status != "UPDATE_COMPLETE" {
			evs, _ := s.Events(acct, req.StackName)
			for _, e := range evs {
				t.Logf("%s %s %s", e.LogicalResourceID, e.ResourceStatus, e.StatusReason)
			}
			t.Fatalf("%s: stack %s %s", token, st.Status, st.StatusReason)
		}
		return st
	}
	apply(core.Spec{Bucket: bucket}, "b1", false)
	st := apply(core.Spec{User: user}, "u1", false)
	for _, k := range []string{"UserName", "UserArn", "AccessKey1Id", "AccessKey2Id", "AccessKey1SecretArn", "AccessKey2SecretArn", "SftpServerId", "SftpUserName"} {
		if st.Outputs[k] == "" {
			t.Errorf("output %s missing: %v", k, st.Outputs)
		}
	}
	secret, err := s.GetSecretValue(t.Context(), acct, st.Outputs["AccessKey2SecretArn"])
	if err != nil || !strings.Contains(secret, st.Outputs["AccessKey2Id"]) {
		t.Fatalf("GetSecretValue = %v", err)
	}
	var pair struct{ SecretAccessKey string }
	_ = json.Unmarshal([]byte(secret), &pair)

	// Drop key 2 and SFTP, then rotate key 1 (IAM's two keys per user
	// leave no room to rotate one of two), then change the bucket.
	user.AccessKeys, user.KeySerials = 1, []int{1}
	user.SFTP = core.SFTP{}
	st2 := apply(core.Spec{User: user}, "u2", true)
	if st2.Outputs["AccessKey1Id"] != st.Outputs["AccessKey1Id"] || st2.Outputs["AccessKey2Id"] != "" {
		t.Errorf("dropping key 2: key1 %s→%s key2 %s→%s", st.Outputs["AccessKey1Id"], st2.Outputs["AccessKey1Id"], st.Outputs["AccessKey2Id"], st2.Outputs["AccessKey2Id"])
	}
	if st2.Outputs["SftpUserName"] != "" {
		t.Errorf("SFTP outputs remain: %v", st2.Outputs)
	}
	user.KeySerials = []int{2}
	if st3 := apply(core.Spec{User: user}, "u3", true); st3.Outputs["AccessKey1Id"] == st2.Outputs["AccessKey1Id"] {
		t.Errorf("key 1 not rotated: %s", st3.Outputs["AccessKey1Id"])
	}
	bucket.Versioning, bucket.ExpiryDays = false, 0
	apply(core.Spec{Bucket: bucket}, "b2", true)
	if bytes.Contains(rec.all(), []byte(pair.SecretAccessKey)) {
		t.Error("a notification holds a secret access key")
	}
	for _, name := range []string{stacks.StackName(p.ID, core.KindUser, "partner"), stacks.StackName(p.ID, core.KindBucket, "demo-raw")} {
		if err := s.DeleteStack(t.Context(), acct, name, "d-"+name); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, s)
	if l, _ := s.ListStacks(t.Context(), acct, stacks.Prefix(p.ID)); len(l) != 0 {
		t.Errorf("stacks left: %+v", l)
	}
}

const userTpl = `{
  "Resources": {
    "User": {"Type": "AWS::IAM::User", "Properties": {"UserName": "carol", "Path": "/bucketdesk/"}},
    "AccessKey1": {"Type": "AWS::IAM::AccessKey", "Properties": {"UserName": {"Ref": "User"}, "Serial": 1, "Status": "Active"}},
    "AccessKey1Secret": {"Type": "AWS::SecretsManager::Secret", "Properties": {
      "Name": "bucketdesk/demo/carol/key1",
      "SecretString": {"Fn::Sub": "{\"AccessKeyId\":\"${AccessKey1}\",\"SecretAccessKey\":\"${AccessKey1.SecretAccessKey}\"}"}}}
  },
  "Outputs": {"AccessKey1SecretArn": {"Value": {"Ref": "AccessKey1Secret"}}}
}`

func TestSecretSealedAtRest(t *testing.T) {
	s, path := open(t, nil)
	rec := record(s)
	mustCreate(t, s, acct, core.StackRequest{StackName: "user", Template: userTpl, Token: "t1", Capabilities: []string{"CAPABILITY_NAMED_IAM"}})
	arn := status(t, s, acct, "user").Outputs["AccessKey1SecretArn"]
	secret, err := s.GetSecretValue(t.Context(), acct, arn)
	if err != nil {
		t.Fatal(err)
	}
	var pair struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(secret), &pair); err != nil || len(pair.SecretAccessKey) != 40 {
		t.Fatalf("secret %v", err)
	}
	if bytes.Contains(rec.all(), []byte(pair.SecretAccessKey)) {
		t.Error("a notification holds the secret access key")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(pair.SecretAccessKey)) {
		t.Error("the bbolt file holds the secret access key in plaintext")
	}
	if !bytes.Contains(b, []byte(pair.AccessKeyId)) {
		t.Error("the bbolt file lacks the access key id: is the scan looking at the right file?")
	}
	if fi, err := os.Stat(path + ".key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi, err)
	}
	s2 := reopen(t, path, nil)
	if got, err := s2.GetSecretValue(t.Context(), acct, arn); err != nil || got != secret {
		t.Errorf("GetSecretValue after reopening: %v", err)
	}
}

func TestRestartResumesOperation(t *testing.T) {
	clk := clock.NewManual(start)
	opts := simcloud.ZeroOptions()
	opts.Clock, opts.ResourceDuration = clk, time.Second
	s, path := open(t, opts)
	rec1 := record(s)
	if _, err := s.CreateStack(t.Context(), acct, bucketReq("stk", "resumed", "t1")); err != nil {
		t.Fatal(err)
	}
	clk.BlockUntil(1) // the bucket is being created
	if got := status(t, s, acct, "stk").Status; got != "CREATE_IN_PROGRESS" {
		t.Fatalf("status %s", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	opts2 := simcloud.ZeroOptions()
	opts2.Clock = clk
	s2 := reopen(t, path, opts2)
	rec2 := record(s2)
	settle(t, s2)
	evs, err := s2.Events(acct, "stk")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"stack CREATE_IN_PROGRESS",
		"Bucket CREATE_IN_PROGRESS",
		"Bucket CREATE_IN_PROGRESS",
		"Bucket CREATE_COMPLETE",
		"BucketPolicy CREATE_IN_PROGRESS",
		"BucketPolicy CREATE_IN_PROGRESS",
		"BucketPolicy CREATE_COMPLETE",
		"stack CREATE_COMPLETE",
	}
	if got := seq(evs); !slices.Equal(got, want) {
		t.Fatalf("events after restart %v, want %v", got, want)
	}
	seen := map[string]bool{}
	for _, e := range append(rec1.events(t), rec2.events(t)...) {
		seen[e.EventID] = true // one stack: ids are unique
	}
	for _, e := range evs {
		if e.ClientRequestToken != "t1" {
			t.Errorf("event %v without the token", e)
		}
		if !seen[e.EventID] {
			t.Errorf("event %s %s never delivered", e.LogicalResourceID, e.ResourceStatus)
		}
	}
	if st := status(t, s2, acct, "stk"); st.Status != "CREATE_COMPLETE" || st.Outputs["BucketName"] != "resumed" {
		t.Errorf("stack %+v", st)
	}
	if ops := s2.Operations(); len(ops) != 1 || ops[0].Token != "t1" || ops[0].Action != "CREATE" {
		t.Errorf("operations after restart %+v", ops)
	}
}

func TestOneOperationPerToken(t *testing.T) {
	s, path := open(t, nil)
	ctx := t.Context()
	for range 2 {
		if _, err := s.CreateStack(ctx, acct, bucketReq("stk", "tokens", "t1")); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, s)
	upd := bucketReq("stk", "tokens", "t2")
	upd.Tags = map[string]string{"v": "2"}
	for range 2 {
		if _, err := s.UpdateStack(ctx, acct, upd); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, s)
	for range 2 {
		if err := s.DeleteStack(ctx, acct, "stk", "t3"); err != nil {
			t.Fatal(err)
		}
	}
	settle(t, s)
	check := func(ops []simcloud.OpRecord) {
		t.Helper()
		var got []string
		for _, o := range ops {
			got = append(got, o.Token+" "+o.Action)
		}
		if want := []string{"t1 CREATE", "t2 UPDATE", "t3 DELETE"}; !slices.Equal(got, want) {
			t.Errorf("operations %v, want %v", got, want)
		}
	}
	check(s.Operations())
	s.Close()
	check(reopen(t, path, nil).Operations())
}

func TestThrottling(t *testing.T) {
	clk := clock.NewManual(start)
	opts := simcloud.ZeroOptions()
	opts.Clock = clk
	opts.RateLimit = simcloud.RateLimit{PerSecond: 1, Burst: 3}
	s, _ := open(t, opts)
	ctx := t.Context()
	for i := range 3 {
		if _, err := s.DescribeStack(ctx, acct, "none"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	_, err := s.DescribeStack(ctx, acct, "none")
	if !errors.Is(err, core.ErrThrottled) || !strings.Contains(err.Error(), "Rate exceeded") || !core.Retryable(err) {
		t.Fatalf("call beyond the burst: %v, want ErrThrottled (Rate exceeded)", err)
	}
	if _, err := s.CreateStack(ctx, acct, bucketReq("stk", "throttled", "t1")); !errors.Is(err, core.ErrThrottled) {
		t.Fatalf("CreateStack beyond the rate: %v", err)
	}
	if len(s.Operations()) != 0 {
		t.Error("a throttled call started an operation")
	}
	if _, err := s.DescribeStack(ctx, other, "none"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("another account is throttled too: %v", err)
	}
	if _, err := s.GetSecretValue(ctx, acct, "none"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("GetSecretValue is CloudFormation-throttled: %v", err)
	}
	clk.Advance(time.Second)
	if _, err := s.ListStacks(ctx, acct, ""); err != nil {
		t.Errorf("after a second: %v", err)
	}
	if _, err := s.ListStacks(ctx, acct, ""); !errors.Is(err, core.ErrThrottled) {
		t.Errorf("second call after a second: %v, want ErrThrottled", err)
	}
}

// chaosRun creates n bucket stacks one after another and returns the
// stored events and how often each was delivered, in delivery order.
func chaosRun(t *testing.T, chaos simcloud.Chaos, n int) ([]core.StackEvent, []core.StackEvent) {
	opts := simcloud.ZeroOptions()
	opts.Chaos = chaos
	s, _ := open(t, opts)
	rec := record(s)
	var stored []core.StackEvent
	for i := range n {
		name := fmt.Sprintf("stk-%d", i)
		mustCreate(t, s, acct, bucketReq(name, fmt.Sprintf("chaos-%d", i), name))
		evs, _ := s.Events(acct, name)
		stored = append(stored, evs...)
	}
	return stored, rec.events(t)
}

func TestChaosDropDuplicate(t *testing.T) {
	stored, delivered := chaosRun(t, simcloud.Chaos{Seed: 42, Drop: 0.2, Duplicate: 0.2}, 40)
	count := map[string]int{}
	for _, e := range stored {
		count[e.StackID+" "+e.EventID] = 0
	}
	for _, e := range delivered {
		if _, ok := count[e.StackID+" "+e.EventID]; !ok {
			t.Fatalf("delivered an unknown event %+v", e)
		}
		count[e.StackID+" "+e.EventID]++
	}
	var dropped, dup int
	for id, c := range count {
		switch c {
		case 0:
			dropped++
		case 1:
		case 2:
			dup++
		default:
			t.Errorf("event %s delivered %d times", id, c)
		}
	}
	total := len(stored)
	dropRate := float64(dropped) / float64(total)
	dupRate := float64(dup) / float64(total-dropped)
	t.Logf("%d events: %d dropped (%.2f), %d duplicated (%.2f)", total, dropped, dropRate, dup, dupRate)
	if dropRate < 0.12 || dropRate > 0.28 {
		t.Errorf("drop rate %.2f, configured 0.2", dropRate)
	}
	if dupRate < 0.12 || dupRate > 0.28 {
		t.Errorf("duplicate rate %.2f, configured 0.2", dupRate)
	}
}

func TestChaosReorder(t *testing.T) {
	stored, delivered := chaosRun(t, simcloud.Chaos{Seed: 7, Reorder: 0.3}, 10)
	var a, b []string
	for _, e := range stored {
		a = append(a, e.StackID+" "+e.EventID)
	}
	for _, e := range delivered {
		b = append(b, e.StackID+" "+e.EventID)
	}
	if slices.Equal(a, b) {
		t.Error("reordering left the order unchanged")
	}
	slices.Sort(a)
	slices.Sort(b)
	if !slices.Equal(a, b) {
		t.Errorf("reordering lost or duplicated events: %d stored, %d delivered", len(a), len(b))
	}
}

func TestChaosDelay(t *testing.T) {
	clk := clock.NewManual(start)
	opts := simcloud.ZeroOptions()
	opts.Clock = clk
	opts.Chaos = simcloud.Chaos{Seed: 3, MaxDelay: time.Second}
	s, _ := open(t, opts)
	rec := record(s)
	if _, err := s.CreateStack(t.Context(), acct, bucketReq("stk", "delayed", "t1")); err != nil {
		t.Fatal(err)
	}
	clk.BlockUntil(8) // each of the 8 notifications waits for the clock
	if n := len(rec.events(t)); n != 0 {
		t.Fatalf("%d notifications delivered before the clock moved", n)
	}
	clk.Advance(time.Second)
	settle(t, s)
	if n := len(rec.events(t)); n != 8 {
		t.Errorf("%d notifications delivered, want 8", n)
	}
}

func TestHoldAndDeleteDuringCreate(t *testing.T) {
	s, _ := open(t, nil)
	release := s.Hold()
	if _, err := s.CreateStack(t.Context(), acct, bucketReq("stk", "held", "t1")); err != nil {
		t.Fatal(err)
	}
	if got := status(t, s, acct, "stk").Status; got != "CREATE_IN_PROGRESS" {
		t.Fatalf("held create: %s", got)
	}
	if err := s.DeleteStack(t.Context(), acct, "stk", "t2"); !errors.Is(err, core.ErrConflict) {
		t.Errorf("DeleteStack during create: %v, want ErrConflict", err)
	}
	if err := s.DeleteStack(t.Context(), acct, "stk", "t1"); err != nil {
		t.Errorf("DeleteStack with the token of the create in progress: %v", err)
	}
	release()
	release() // a second call is harmless
	settle(t, s)
	if got := status(t, s, acct, "stk").Status; got != "CREATE_COMPLETE" {
		t.Errorf("after release: %s", got)
	}
}

// TestRestartAtEveryStep closes and reopens the sandbox at every resource
// step of an update that replaces the bucket, fails on the policy and
// rolls back: every phase resumes from its persisted state.
func TestRestartAtEveryStep(t *testing.T) {
	clk := clock.NewManual(start)
	opts := func() *simcloud.Options {
		o := simcloud.ZeroOptions()
		o.Clock, o.ResourceDuration = clk, time.Second
		return o
	}
	s, path := open(t, opts())
	var recs []*recorder
	recs = append(recs, record(s))
	if _, err := s.CreateStack(t.Context(), acct, bucketReq("stk", "first-name", "t1")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		clk.BlockUntil(1)
		clk.Advance(time.Second)
	}
	settle(t, s)
	n := 8
	bad := bucketReq("stk", "second-name", "t2")
	bad.Template = strings.Replace(bad.Template, `"Bucket": {"Ref": "Bucket"},`, `"Bucket": {"Ref": "Bucket"}, "Color": "red",`, 1)
	if _, err := s.UpdateStack(t.Context(), acct, bad); err != nil {
		t.Fatal(err)
	}
	// Five resource steps: replace Bucket, fail BucketPolicy, restore
	// both, delete the new bucket.
	for i := range 5 {
		// Each closed sandbox leaves its abandoned timer on the clock.
		clk.BlockUntil(i + 1)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = reopen(t, path, opts())
		recs = append(recs, record(s))
	}
	settle(t, s)
	evs, _ := s.Events(acct, "stk")
	want := []string{
		"stack UPDATE_IN_PROGRESS",
		"Bucket UPDATE_IN_PROGRESS",
		"Bucket UPDATE_IN_PROGRESS",
		"Bucket UPDATE_COMPLETE",
		"BucketPolicy UPDATE_IN_PROGRESS",
		"BucketPolicy UPDATE_FAILED",
		"stack UPDATE_ROLLBACK_IN_PROGRESS",
		"BucketPolicy UPDATE_IN_PROGRESS",
		"BucketPolicy UPDATE_COMPLETE",
		"Bucket UPDATE_IN_PROGRESS",
		"Bucket UPDATE_COMPLETE",
		"stack UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
		"Bucket DELETE_IN_PROGRESS",
		"Bucket DELETE_COMPLETE",
		"stack UPDATE_ROLLBACK_COMPLETE",
	}
	if got := seq(evs[n:]); !slices.Equal(got, want) {
		t.Fatalf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	seen := map[string]bool{}
	for _, r := range recs {
		for _, e := range r.events(t) {
			seen[e.EventID] = true
		}
	}
	for i, e := range evs {
		if !seen[e.EventID] {
			t.Errorf("event %s %s never delivered", e.LogicalResourceID, e.ResourceStatus)
		}
		if i > 0 && !e.Timestamp.After(evs[i-1].Timestamp) {
			t.Errorf("event %d not after the previous one", i)
		}
	}
	st := status(t, s, acct, "stk")
	if st.Status != "UPDATE_ROLLBACK_COMPLETE" || st.Outputs["BucketName"] != "first-name" {
		t.Errorf("stack %+v", st)
	}
	// Nothing leaked: the replacement's name is free.
	clk.Advance(time.Second) // fire the abandoned timers
	if _, err := s.CreateStack(t.Context(), other, bucketReq("again", "second-name", "t3")); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		clk.BlockUntil(1)
		clk.Advance(time.Second)
	}
	settle(t, s)
	if got := status(t, s, other, "again").Status; got != "CREATE_COMPLETE" {
		t.Errorf("second-name after the rollback: %s", got)
	}
}

func TestAPILatencyOnClock(t *testing.T) {
	clk := clock.NewManual(start)
	opts := simcloud.ZeroOptions()
	opts.Clock, opts.APILatency = clk, 100*time.Millisecond
	s, _ := open(t, opts)
	done := make(chan error, 1)
	go func() {
		_, err := s.ListStacks(context.Background(), acct, "")
		done <- err
	}()
	clk.BlockUntil(1)
	select {
	case err := <-done:
		t.Fatalf("the call returned before the clock moved: %v", err)
	default:
	}
	clk.Advance(100 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		_, err := s.ListStacks(ctx, acct, "")
		done <- err
	}()
	clk.BlockUntil(1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled call: %v", err)
	}
}

func TestDemoOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "demo.db")
	s, err := simcloud.New(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.ListStacks(t.Context(), acct, ""); !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("call after Close: %v", err)
	}
	bad := simcloud.ZeroOptions()
	bad.Chaos.Drop = 2
	if _, err := simcloud.New(filepath.Join(t.TempDir(), "x.db"), bad); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("New with a probability of 2: %v", err)
	}
}

func TestIAMNamesPerAccount(t *testing.T) {
	s, _ := open(t, nil)
	req := core.StackRequest{StackName: "user", Template: userTpl, Token: "t1", Capabilities: []string{"CAPABILITY_NAMED_IAM"}}
	mustCreate(t, s, acct, req)
	mustCreate(t, s, other, req) // same user and secret names in another account
	req.StackName, req.Token = "user2", "t2"
	mustCreate(t, s, acct, req)
	if got := status(t, s, other, "user").Status; got != "CREATE_COMPLETE" {
		t.Errorf("the same names in another account: %s", got)
	}
	evs, _ := s.Events(acct, "user2")
	if st := status(t, s, acct, "user2"); st.Status != "ROLLBACK_COMPLETE" || len(evs) < 3 ||
		evs[2].ResourceStatus != "CREATE_FAILED" || !strings.Contains(evs[2].StatusReason, "with identifier 'carol' already exists") {
		t.Errorf("a second user carol in one account: %s, events %v", st.Status, seq(evs))
	}
}
