package simcloud_test

// Server access logging: S3's PutBucketLogging accepts a destination bucket
// only if it exists, in the source bucket's account and Region; the
// sandbox fails the bucket with S3's answer otherwise, on create and on
// update (docs/sandbox-fidelity.md, "Server access logging").

import (
	"encoding/json"
	"strings"
	"testing"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
)

// The log buckets of the tests, made outside any stack as
// deploy/project-account.yaml makes a project's.
const (
	logsHere        = "bucketdesk-logs-111111111111-eu-west-1"
	logsOtherRegion = "bucketdesk-logs-111111111111-us-east-1"
	logsOtherOwner  = "bucketdesk-logs-222222222222-eu-west-1"
)

const (
	reasonLogTargetMissing    = "The target bucket for logging does not exist (Service: S3, Status Code: 400, Error Code: InvalidTargetBucketForLogging)"
	reasonLogTargetOtherOwner = "The owner for the bucket to be logged and the target bucket must be the same. (Service: S3, Status Code: 400, Error Code: InvalidTargetBucketForLogging)"
	reasonLogTargetOtherPlace = "Cross-location logging not allowed. Buckets in one geographic location cannot log information to a bucket in another location. (Service: S3, Status Code: 403, Error Code: CrossLocationLoggingProhibited)"
)

func loggingSandbox(t *testing.T) *simcloud.Sandbox {
	t.Helper()
	o := simcloud.ZeroOptions()
	o.OutsideBuckets = []simcloud.OutsideBucket{
		{Account: acct.ID, Region: acct.Region, Name: logsHere},
		{Account: acct.ID, Region: "us-east-1", Name: logsOtherRegion},
		{Account: other.ID, Region: other.Region, Name: logsOtherOwner},
	}
	s, _ := open(t, o)
	return s
}

// loggedBucket renders bucket in a project whose log bucket is logBucket
// ("" for none); edit, if given, changes the bucket's properties (as
// generic JSON) before the request is made.
func loggedBucket(t *testing.T, logBucket, bucket, token string, edit func(props map[string]any)) core.StackRequest {
	t.Helper()
	p := *rulesProject
	p.LogBucket = logBucket
	tpl, caps, err := stacks.Render(&p, core.Spec{Bucket: &core.BucketSpec{Name: bucket, Encryption: core.Encryption{Type: core.EncryptionS3}}})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if edit != nil {
		var m map[string]any
		if err := json.Unmarshal([]byte(tpl), &m); err != nil {
			t.Fatal(err)
		}
		edit(m["Resources"].(map[string]any)["Bucket"].(map[string]any)["Properties"].(map[string]any))
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		tpl = string(b)
	}
	return core.StackRequest{StackName: stacks.StackName(p.ID, core.KindBucket, bucket), Template: tpl,
		Capabilities: caps, Token: token, Tags: stacks.Tags(p.ID, core.KindBucket, bucket)}
}

// What bucketdesk renders for a project with a log bucket in its account
// and Region is created, and S3 keeps the prefix as rendered; a
// destination that is a stack's bucket of the same account and Region
// works too.
func TestLoggingIntoProjectLogBucket(t *testing.T) {
	s := loggingSandbox(t)
	req := loggedBucket(t, logsHere, "demo-logged", "c1", nil)
	if !strings.Contains(req.Template, `"LogFilePrefix": "demo-logged/"`) {
		t.Fatalf("the rendered template has no per-bucket prefix:\n%s", req.Template)
	}
	mustCreate(t, s, acct, req)
	if st := status(t, s, acct, req.StackName); st.Status != "CREATE_COMPLETE" {
		t.Fatalf("stack %s %s", st.Status, st.StatusReason)
	}
	// Another bucket logs into the one just created (a stack's bucket).
	next := loggedBucket(t, "demo-logged", "demo-second", "c2", nil)
	mustCreate(t, s, acct, next)
	if st := status(t, s, acct, next.StackName); st.Status != "CREATE_COMPLETE" {
		t.Fatalf("logging into a stack's bucket: %s %s", st.Status, st.StatusReason)
	}
}

// A destination that does not exist, belongs to another account or is in
// another Region fails the bucket's create with S3's answer, and the stack
// rolls back.
func TestLoggingDestinationRefusedOnCreate(t *testing.T) {
	s := loggingSandbox(t)
	for i, tc := range []struct {
		dest, reason, code string
	}{
		{"bucketdesk-logs-nowhere", reasonLogTargetMissing, "InvalidRequest"},
		{logsOtherOwner, reasonLogTargetOtherOwner, "InvalidRequest"},
		{logsOtherRegion, reasonLogTargetOtherPlace, "AccessDenied"},
	} {
		name := "demo-refused-" + string(rune('a'+i))
		req := loggedBucket(t, tc.dest, name, "c-"+name, nil)
		mustCreate(t, s, acct, req)
		reason, ok := failure(t, s, req.StackName, "Bucket", "CREATE_FAILED")
		if !ok || !handlerSaid(reason, tc.reason, tc.code) {
			t.Errorf("%s: Bucket CREATE_FAILED %v with %q, want %q from handler code %s", tc.dest, ok, reason, tc.reason, tc.code)
		}
		if st := status(t, s, acct, req.StackName).Status; st != "ROLLBACK_COMPLETE" {
			t.Errorf("%s: stack %s, want ROLLBACK_COMPLETE", tc.dest, st)
		}
	}
	// The other account's bucket is fine for the other account's buckets.
	p := *rulesProject
	p.AccountID, p.LogBucket = other.ID, logsOtherOwner
	tpl, caps, err := stacks.Render(&p, core.Spec{Bucket: &core.BucketSpec{Name: "other-logged", Encryption: core.Encryption{Type: core.EncryptionS3}}})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, other, core.StackRequest{StackName: "other-logged", Template: tpl, Capabilities: caps, Token: "o1"})
	if st := status(t, s, other, "other-logged"); st.Status != "CREATE_COMPLETE" {
		t.Errorf("the other account logging into its own log bucket: %s %s", st.Status, st.StatusReason)
	}
}

// Turning logging on, or moving it, is checked on update too: a wrong
// destination fails the update, which rolls back to the working one.
func TestLoggingDestinationRefusedOnUpdate(t *testing.T) {
	s := loggingSandbox(t)
	req := loggedBucket(t, "", "demo-update", "c1", nil)
	mustCreate(t, s, acct, req)
	update := func(logBucket, token string) *core.Stack {
		t.Helper()
		if _, err := s.UpdateStack(t.Context(), acct, loggedBucket(t, logBucket, "demo-update", token, nil)); err != nil {
			t.Fatalf("UpdateStack(%s): %v", token, err)
		}
		settle(t, s)
		return status(t, s, acct, req.StackName)
	}
	if st := update(logsHere, "u1"); st.Status != "UPDATE_COMPLETE" {
		t.Fatalf("turning logging on: %s %s", st.Status, st.StatusReason)
	}
	if st := update("bucketdesk-logs-gone", "u2"); st.Status != "UPDATE_ROLLBACK_COMPLETE" {
		t.Fatalf("moving logging to a missing bucket: %s, want UPDATE_ROLLBACK_COMPLETE", st.Status)
	}
	if reason, ok := failure(t, s, req.StackName, "Bucket", "UPDATE_FAILED"); !ok || !handlerSaid(reason, reasonLogTargetMissing, "InvalidRequest") {
		t.Errorf("Bucket UPDATE_FAILED %v with %q, want %q", ok, reason, reasonLogTargetMissing)
	}
	if st := update(logsOtherRegion, "u3"); st.Status != "UPDATE_ROLLBACK_COMPLETE" {
		t.Fatalf("moving logging to another Region: %s, want UPDATE_ROLLBACK_COMPLETE", st.Status)
	}
	if st := update("", "u4"); st.Status != "UPDATE_COMPLETE" {
		t.Fatalf("turning logging off: %s %s", st.Status, st.StatusReason)
	}
}

// S3 lets a bucket log into itself, named or by leaving
// DestinationBucketName out (CloudFormation's default), and so does the
// sandbox; bucketdesk's render is what refuses it.
func TestLoggingIntoItselfAsS3Allows(t *testing.T) {
	s := loggingSandbox(t)
	for _, tc := range []struct {
		name string
		lc   map[string]any
	}{
		{"demo-self-named", map[string]any{"DestinationBucketName": "demo-self-named", "LogFilePrefix": "logs/"}},
		{"demo-self-default", map[string]any{"LogFilePrefix": "logs/"}},
		{"demo-self-empty", map[string]any{}},
	} {
		req := loggedBucket(t, "", tc.name, "c-"+tc.name, func(props map[string]any) { props["LoggingConfiguration"] = tc.lc })
		mustCreate(t, s, acct, req)
		if st := status(t, s, acct, req.StackName); st.Status != "CREATE_COMPLETE" {
			t.Errorf("%s: %s %s", tc.name, st.Status, st.StatusReason)
		}
	}
	p := *rulesProject
	p.LogBucket = "demo-self"
	if _, _, err := stacks.Render(&p, core.Spec{Bucket: &core.BucketSpec{Name: "demo-self", Encryption: core.Encryption{Type: core.EncryptionS3}}}); err == nil ||
		!strings.Contains(err.Error(), "cannot log into itself") {
		t.Errorf("Render of the log bucket as a project bucket: %v, want it refused", err)
	}
}

// LoggingConfiguration is checked against CloudFormation's schema.
func TestLoggingConfigurationSchema(t *testing.T) {
	s := loggingSandbox(t)
	for i, tc := range []struct {
		lc     any
		reason string
	}{
		{map[string]any{"DestinationBucketName": logsHere, "TargetPrefix": "x/"}, "#/LoggingConfiguration: extraneous key [TargetPrefix] is not permitted"},
		{map[string]any{"DestinationBucketName": logsHere, "LogFilePrefix": map[string]any{"a": 1}}, "#/LoggingConfiguration/LogFilePrefix: expected type: String, found: JSONObject"},
		{"on", "#/LoggingConfiguration: expected type: JSONObject, found: String"},
		{map[string]any{"TargetObjectKeyFormat": map[string]any{"PartitionedPrefix": map[string]any{"PartitionDateSource": "Tomorrow"}}},
			"#/LoggingConfiguration/TargetObjectKeyFormat/PartitionedPrefix/PartitionDateSource: failed validation constraint for keyword [enum]"},
	} {
		name := "demo-schema-" + string(rune('a'+i))
		req := loggedBucket(t, "", name, "c-"+name, func(props map[string]any) { props["LoggingConfiguration"] = tc.lc })
		mustCreate(t, s, acct, req)
		want := "Properties validation failed for resource Bucket with message: " + tc.reason
		if reason, ok := failure(t, s, req.StackName, "Bucket", "CREATE_FAILED"); !ok || reason != want {
			t.Errorf("%v: Bucket CREATE_FAILED %v with %q, want %q", tc.lc, ok, reason, want)
		}
	}
	req := loggedBucket(t, "", "demo-schema-ok", "c-ok", func(props map[string]any) {
		props["LoggingConfiguration"] = map[string]any{"DestinationBucketName": logsHere, "LogFilePrefix": "demo-schema-ok/",
			"TargetObjectKeyFormat": map[string]any{"PartitionedPrefix": map[string]any{"PartitionDateSource": "EventTime"}}}
	})
	mustCreate(t, s, acct, req)
	if st := status(t, s, acct, req.StackName); st.Status != "CREATE_COMPLETE" {
		t.Errorf("a partitioned prefix: %s %s", st.Status, st.StatusReason)
	}
}

// An outside bucket's name is taken: no stack of any account can create a
// bucket of that name.
func TestOutsideBucketNameTaken(t *testing.T) {
	s := loggingSandbox(t)
	for _, a := range []core.Account{acct, other} {
		stack := "taken-" + a.ID
		mustCreate(t, s, a, core.StackRequest{StackName: stack, Template: `{"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "` + logsHere + `"}}}}`, Token: stack})
		want := logsHere + " already exists (Service: S3, Status Code: 0, Request ID: null)"
		evs, err := s.Events(a, stack)
		if err != nil {
			t.Fatal(err)
		}
		var reason string
		for _, e := range evs {
			if e.LogicalResourceID == "Bucket" && e.ResourceStatus == "CREATE_FAILED" {
				reason = e.StatusReason
			}
		}
		if !handlerSaid(reason, want, "AlreadyExists") {
			t.Errorf("account %s: Bucket CREATE_FAILED with %q, want %q", a.ID, reason, want)
		}
		if st := status(t, s, a, stack).Status; st != "ROLLBACK_COMPLETE" {
			t.Errorf("account %s: stack %s, want ROLLBACK_COMPLETE", a.ID, st)
		}
	}
}
