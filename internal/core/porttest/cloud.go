package porttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/core"
)

// CloudHarness is what RunCloudTests needs of a core.Cloud adapter.
type CloudHarness struct {
	Cloud core.Cloud
	// Account and Other are two different accounts of the same cloud.
	Account, Other core.Account
	// Settle waits until every stack operation started so far has ended.
	Settle func(ctx context.Context) error
	// Hold, optional, pauses stack operations until release is called, so
	// that the suite can act while one is in progress. Without it the
	// tests that need an operation in progress are skipped.
	Hold func() (release func())
}

// RunCloudTests runs the conformance suite of core.Cloud. newHarness must
// return a harness on a fresh cloud for each subtest and register its own
// cleanup with t.Cleanup.
//
// The suite uses small hand-written templates of the resource types of
// docs/templates.md: a bucket with a policy, and an IAM user with an
// access key whose pair is kept in a Secrets Manager secret.
func RunCloudTests(t *testing.T, newHarness func(t *testing.T) CloudHarness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h CloudHarness)
	}{
		{"Create/CompleteWithOutputs", testCloudCreate},
		{"Create/SameTokenRetryIsSuccess", testCloudCreateRetry},
		{"Create/OtherTokenConflicts", testCloudCreateConflict},
		{"Create/InvalidTemplate", testCloudCreateInvalid},
		{"Create/MissingCapabilities", testCloudCreateCapabilities},
		{"Create/BucketNameTakenInOtherAccount", testCloudBucketTaken},
		{"Update/NoChange", testCloudUpdateNoChange},
		{"Update/Complete", testCloudUpdate},
		{"Update/Missing", testCloudUpdateMissing},
		{"Update/InProgressConflicts", testCloudUpdateInProgress},
		{"Update/RollbackCompleteConflicts", testCloudUpdateRollbackComplete},
		{"Delete/Complete", testCloudDelete},
		{"Delete/MissingIsSuccess", testCloudDeleteMissing},
		{"ByID/OnlyThatStack", testCloudByID},
		{"Describe/Missing", testCloudDescribeMissing},
		{"List/PrefixAndAccount", testCloudList},
		{"Template/Current", testCloudTemplate},
		{"Secret/KeyPairNotInOutputs", testCloudSecret},
		{"Secret/RotatedBySerial", testCloudSecretRotate},
		{"Secret/Missing", testCloudSecretMissing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newHarness(t)) })
	}
}

// cloudTimeout bounds every wait of the suite.
const cloudTimeout = 30 * time.Second

// cloudSuffix returns a random suffix so that bucket names, which are
// global, do not collide between subtests or runs.
func cloudSuffix() string { return fmt.Sprintf("%08x", rand.Uint32()) }

func cloudBucketTemplate(bucket, versioning string) string {
	return fmt.Sprintf(`{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Description": "porttest bucket",
  "Resources": {
    "Bucket": {
      "Type": "AWS::S3::Bucket",
      "Properties": {
        "BucketName": %q,
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        "VersioningConfiguration": {"Status": %q},
        "Tags": [{"Key": "team", "Value": "porttest"}]
      }
    },
    "BucketPolicy": {
      "Type": "AWS::S3::BucketPolicy",
      "Properties": {
        "Bucket": {"Ref": "Bucket"},
        "PolicyDocument": {
          "Version": "2012-10-17",
          "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [{"Fn::GetAtt": ["Bucket", "Arn"]}, {"Fn::Sub": "${Bucket.Arn}/*"}],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
          }]
        }
      }
    }
  },
  "Outputs": {
    "BucketName": {"Value": {"Ref": "Bucket"}},
    "BucketArn": {"Value": {"Fn::GetAtt": ["Bucket", "Arn"]}}
  }
}`, bucket, versioning)
}

func cloudUserTemplate(user string, serial int) string {
	return fmt.Sprintf(`{
  "AWSTemplateFormatVersion": "2010-09-09",
  "Resources": {
    "User": {
      "Type": "AWS::IAM::User",
      "Properties": {"UserName": %q, "Path": "/bucketdesk/"}
    },
    "AccessKey1": {
      "Type": "AWS::IAM::AccessKey",
      "Properties": {"UserName": {"Ref": "User"}, "Serial": %d, "Status": "Active"}
    },
    "AccessKey1Secret": {
      "Type": "AWS::SecretsManager::Secret",
      "Properties": {
        "Name": {"Fn::Join": ["/", ["bucketdesk", "porttest", %q, "key1"]]},
        "Description": "porttest key",
        "SecretString": {"Fn::Sub": "{\"AccessKeyId\":\"${AccessKey1}\",\"SecretAccessKey\":\"${AccessKey1.SecretAccessKey}\"}"}
      }
    }
  },
  "Outputs": {
    "UserName": {"Value": {"Ref": "User"}},
    "UserArn": {"Value": {"Fn::GetAtt": ["User", "Arn"]}},
    "AccessKey1Id": {"Value": {"Ref": "AccessKey1"}},
    "AccessKey1SecretArn": {"Value": {"Ref": "AccessKey1Secret"}}
  }
}`, user, serial, user)
}

var cloudNamedIAM = []string{"CAPABILITY_NAMED_IAM"}

func cloudToken(name string) string { return name + "-" + cloudSuffix() }

func cloudSettle(t *testing.T, h CloudHarness) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cloudTimeout)
	defer cancel()
	if err := h.Settle(ctx); err != nil {
		t.Fatalf("Settle: %v", err)
	}
}

func cloudBucketRequest(stack, bucket, versioning, token string) core.StackRequest {
	return core.StackRequest{
		StackName: stack,
		Template:  cloudBucketTemplate(bucket, versioning),
		Tags:      map[string]string{"bucketdesk:project": "porttest", "bucketdesk:kind": "bucket", "bucketdesk:name": bucket},
		Token:     token,
	}
}

// cloudCreateBucket creates a bucket stack and waits for it.
func cloudCreateBucket(t *testing.T, h CloudHarness, a core.Account, stack, bucket string) (string, core.StackRequest) {
	t.Helper()
	req := cloudBucketRequest(stack, bucket, "Enabled", cloudToken("create"))
	id, err := h.Cloud.CreateStack(t.Context(), a, req)
	if err != nil {
		t.Fatalf("CreateStack(%s): %v", stack, err)
	}
	cloudSettle(t, h)
	return id, req
}

func cloudDescribe(t *testing.T, h CloudHarness, a core.Account, stack string) *core.Stack {
	t.Helper()
	st, err := h.Cloud.DescribeStack(t.Context(), a, stack)
	if err != nil {
		t.Fatalf("DescribeStack(%s): %v", stack, err)
	}
	return st
}

func cloudWantStatus(t *testing.T, h CloudHarness, a core.Account, stack, want string) *core.Stack {
	t.Helper()
	st := cloudDescribe(t, h, a, stack)
	if st.Status != want {
		t.Fatalf("stack %s status = %s (%s), want %s", stack, st.Status, st.StatusReason, want)
	}
	return st
}

func cloudWantErr(t *testing.T, what string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: error = %v, want %v", what, err, kind)
	}
}

func cloudSameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func testCloudCreate(t *testing.T, h CloudHarness) {
	bucket := "porttest-create-" + cloudSuffix()
	id, req := cloudCreateBucket(t, h, h.Account, "pt-create", bucket)
	if !strings.HasPrefix(id, "arn:") || !strings.Contains(id, ":stack/pt-create/") {
		t.Errorf("stack id = %q, want a stack ARN", id)
	}
	st := cloudWantStatus(t, h, h.Account, "pt-create", "CREATE_COMPLETE")
	if st.StackID != id || st.StackName != "pt-create" {
		t.Errorf("DescribeStack = id %q name %q, want %q pt-create", st.StackID, st.StackName, id)
	}
	if st.Outputs["BucketName"] != bucket || st.Outputs["BucketArn"] != "arn:aws:s3:::"+bucket {
		t.Errorf("outputs = %v, want BucketName %s and its ARN", st.Outputs, bucket)
	}
	for k, v := range req.Tags {
		if st.Tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, st.Tags[k], v)
		}
	}
	if st.CreationTime.IsZero() {
		t.Error("CreationTime is zero")
	}
	// By id too.
	if byID := cloudDescribe(t, h, h.Account, id); byID.StackName != "pt-create" {
		t.Errorf("DescribeStack by id = %s, want pt-create", byID.StackName)
	}
}

func testCloudCreateRetry(t *testing.T, h CloudHarness) {
	ctx := t.Context()
	req := cloudBucketRequest("pt-retry", "porttest-retry-"+cloudSuffix(), "Enabled", cloudToken("create"))
	id, err := h.Cloud.CreateStack(ctx, h.Account, req)
	if err != nil {
		t.Fatalf("CreateStack: %v", err)
	}
	id2, err := h.Cloud.CreateStack(ctx, h.Account, req)
	if err != nil || id2 != id {
		t.Fatalf("CreateStack retried with the same token = %q, %v; want %q, nil", id2, err, id)
	}
	cloudSettle(t, h)
	id3, err := h.Cloud.CreateStack(ctx, h.Account, req)
	if err != nil || id3 != id {
		t.Fatalf("CreateStack retried after completion = %q, %v; want %q, nil", id3, err, id)
	}
	cloudSettle(t, h)
	cloudWantStatus(t, h, h.Account, "pt-retry", "CREATE_COMPLETE")
}

func testCloudCreateConflict(t *testing.T, h CloudHarness) {
	_, req := cloudCreateBucket(t, h, h.Account, "pt-conflict", "porttest-conflict-"+cloudSuffix())
	req.Token = cloudToken("other")
	_, err := h.Cloud.CreateStack(t.Context(), h.Account, req)
	cloudWantErr(t, "CreateStack of an existing stack with another token", err, core.ErrConflict)
}

func testCloudCreateInvalid(t *testing.T, h CloudHarness) {
	ctx := t.Context()
	for name, body := range map[string]string{
		"malformed":    `{"Resources": `,
		"no resources": `{"Resources": {}}`,
		"unknown type": `{"Resources": {"Thing": {"Type": "AWS::Nope::Thing"}}}`,
		"unresolved":   `{"Resources": {"P": {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": {"Ref": "Missing"}, "PolicyDocument": {"Statement": []}}}}}`,
	} {
		_, err := h.Cloud.CreateStack(ctx, h.Account, core.StackRequest{StackName: "pt-invalid", Template: body, Token: cloudToken("c")})
		cloudWantErr(t, "CreateStack with a template "+name, err, core.ErrInvalid)
	}
	if _, err := h.Cloud.DescribeStack(ctx, h.Account, "pt-invalid"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("DescribeStack after rejected creates: %v, want ErrNotFound", err)
	}
}

func testCloudCreateCapabilities(t *testing.T, h CloudHarness) {
	req := core.StackRequest{StackName: "pt-caps", Template: cloudUserTemplate("pt-caps-"+cloudSuffix(), 1), Token: cloudToken("c")}
	_, err := h.Cloud.CreateStack(t.Context(), h.Account, req)
	cloudWantErr(t, "CreateStack of named IAM resources without CAPABILITY_NAMED_IAM", err, core.ErrInvalid)
}

func testCloudBucketTaken(t *testing.T, h CloudHarness) {
	ctx := t.Context()
	bucket := "porttest-taken-" + cloudSuffix()
	cloudCreateBucket(t, h, h.Account, "pt-first", bucket)
	req := cloudBucketRequest("pt-second", bucket, "Enabled", cloudToken("create"))
	if _, err := h.Cloud.CreateStack(ctx, h.Other, req); err != nil {
		t.Fatalf("CreateStack in the other account: %v (the name clash shows while the stack is created)", err)
	}
	cloudSettle(t, h)
	cloudWantStatus(t, h, h.Other, "pt-second", "ROLLBACK_COMPLETE")
	cloudWantStatus(t, h, h.Account, "pt-first", "CREATE_COMPLETE")
	// The failed stack can only be deleted.
	if err := h.Cloud.DeleteStack(ctx, h.Other, "pt-second", cloudToken("delete")); err != nil {
		t.Fatalf("DeleteStack of a ROLLBACK_COMPLETE stack: %v", err)
	}
	cloudSettle(t, h)
	if _, err := h.Cloud.DescribeStack(ctx, h.Other, "pt-second"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("DescribeStack after delete: %v, want ErrNotFound", err)
	}
	cloudWantStatus(t, h, h.Account, "pt-first", "CREATE_COMPLETE")
}

func testCloudUpdateNoChange(t *testing.T, h CloudHarness) {
	_, req := cloudCreateBucket(t, h, h.Account, "pt-nochange", "porttest-nochange-"+cloudSuffix())
	req.Token = cloudToken("update")
	_, err := h.Cloud.UpdateStack(t.Context(), h.Account, req)
	cloudWantErr(t, "UpdateStack with the same template and tags", err, core.ErrNoChange)
	cloudWantStatus(t, h, h.Account, "pt-nochange", "CREATE_COMPLETE")
}

func testCloudUpdate(t *testing.T, h CloudHarness) {
	ctx := t.Context()
	bucket := "porttest-update-" + cloudSuffix()
	id, _ := cloudCreateBucket(t, h, h.Account, "pt-update", bucket)
	req := cloudBucketRequest("pt-update", bucket, "Suspended", cloudToken("update"))
	got, err := h.Cloud.UpdateStack(ctx, h.Account, req)
	if err != nil || got != id {
		t.Fatalf("UpdateStack = %q, %v; want %q, nil", got, err, id)
	}
	cloudSettle(t, h)
	st := cloudWantStatus(t, h, h.Account, "pt-update", "UPDATE_COMPLETE")
	if st.Outputs["BucketName"] != bucket {
		t.Errorf("outputs after update = %v", st.Outputs)
	}
	if st.LastUpdatedTime.IsZero() {
		t.Error("LastUpdatedTime is zero after an update")
	}
	body, err := h.Cloud.GetTemplate(ctx, h.Account, "pt-update")
	if err != nil || !cloudSameJSON(body, req.Template) {
		t.Errorf("GetTemplate after update = %v; want the new template", err)
	}
	// A retry of the same update is success and starts nothing.
	if got, err := h.Cloud.UpdateStack(ctx, h.Account, req); err != nil || got != id {
		t.Fatalf("UpdateStack retried with the same token = %q, %v; want %q, nil", got, err, id)
	}
	cloudSettle(t, h)
	cloudWantStatus(t, h, h.Account, "pt-update", "UPDATE_COMPLETE")
}

func testCloudUpdateMissing(t *testing.T, h CloudHarness) {
	req := cloudBucketRequest("pt-missing", "porttest-missing-"+cloudSuffix(), "Enabled", cloudToken("update"))
	_, err := h.Cloud.UpdateStack(t.Context(), h.Account, req)
	cloudWantErr(t, "UpdateStack of a missing stack", err, core.ErrNotFound)
}

func testCloudUpdateInProgress(t *testing.T, h CloudHarness) {
	if h.Hold == nil {
		t.Skip("the harness cannot hold an operation in progress (CloudHarness.Hold is nil)")
	}
	ctx := t.Context()
	bucket := "porttest-busy-" + cloudSuffix()
	cloudCreateBucket(t, h, h.Account, "pt-busy", bucket)
	release := h.Hold()
	defer release()
	req := cloudBucketRequest("pt-busy", bucket, "Suspended", cloudToken("update"))
	if _, err := h.Cloud.UpdateStack(ctx, h.Account, req); err != nil {
		t.Fatalf("UpdateStack: %v", err)
	}
	cloudWantStatus(t, h, h.Account, "pt-busy", "UPDATE_IN_PROGRESS")
	if _, err := h.Cloud.UpdateStack(ctx, h.Account, req); err != nil {
		t.Errorf("UpdateStack retried while its own update runs: %v, want nil", err)
	}
	other := cloudBucketRequest("pt-busy", bucket, "Enabled", cloudToken("other"))
	other.Tags = map[string]string{"changed": "yes"}
	_, err := h.Cloud.UpdateStack(ctx, h.Account, other)
	cloudWantErr(t, "UpdateStack while another update is in progress", err, core.ErrConflict)
	err = h.Cloud.DeleteStack(ctx, h.Account, "pt-busy", cloudToken("delete"))
	cloudWantErr(t, "DeleteStack while an update is in progress", err, core.ErrConflict)
	release()
	cloudSettle(t, h)
	cloudWantStatus(t, h, h.Account, "pt-busy", "UPDATE_COMPLETE")
}

func testCloudUpdateRollbackComplete(t *testing.T, h CloudHarness) {
	ctx := t.Context()
	bucket := "porttest-rbc-" + cloudSuffix()
	cloudCreateBucket(t, h, h.Account, "pt-owner", bucket)
	if _, err := h.Cloud.CreateStack(ctx, h.Account, cloudBucketRequest("pt-failed", bucket, "Enabled", cloudToken("create"))); err != nil {
		t.Fatalf("CreateStack: %v", err)
	}
	cloudSettle(t, h)
	cloudWantStatus(t, h, h.Account, "pt-failed", "ROLLBACK_COMPLETE")
	_, err := h.Cloud.UpdateStack(ctx, h.Account, cloudBucketRequest("pt-failed", "porttest-rbc2-"+cloudSuffix(), "Enabled", cloudToken("update")))
	cloudWantErr(t, "UpdateStack of a ROLLBACK_COMPLETE stack", err, core.ErrConflict)
}

func testCloudDelete(t *testing.T, h CloudHarness) {
	ctx := t.Context()
	id, _ := cloudCreateBucket(t, h, h.Account, "pt-delete", "porttest-delete-"+cloudSuffix())
	token := cloudToken("delete")
	if err := h.Cloud.DeleteStack(ctx, h.Account, "pt-delete", token); err != nil {
		t.Fatalf("DeleteStack: %v", err)
	}
	if err := h.Cloud.DeleteStack(ctx, h.Account, "pt-delete", token); err != nil {
		t.Errorf("DeleteStack retried with the same token: %v, want nil", err)
	}
	cloudSettle(t, h)
	list, err := h.Cloud.ListStacks(ctx, h.Account, "pt-")
	if err != nil {
		t.Fatalf("ListStacks: %v", err)
	}
	for _, s := range list {
		if s.StackName == "pt-delete" {
			t.Errorf("ListStacks after delete shows %+v", s)
		}
	}
	byID, err := h.Cloud.DescribeStack(ctx, h.Account, id)
	if err != nil || byID.Status != "DELETE_COMPLETE" {
		t.Errorf("DescribeStack by id after delete = %+v, %v; want DELETE_COMPLETE", byID, err)
	}
	_, err = h.Cloud.DescribeStack(ctx, h.Account, "pt-delete")
	cloudWantErr(t, "DescribeStack by name after delete", err, core.ErrNotFound)
	_, err = h.Cloud.GetTemplate(ctx, h.Account, "pt-delete")
	cloudWantErr(t, "GetTemplate by name after delete", err, core.ErrNotFound)
	if err := h.Cloud.DeleteStack(ctx, h.Account, "pt-delete", cloudToken("again")); err != nil {
		t.Errorf("DeleteStack of a deleted stack: %v, want nil", err)
	}
	// The name is free again.
	cloudCreateBucket(t, h, h.Account, "pt-delete", "porttest-delete-"+cloudSuffix())
	cloudWantStatus(t, h, h.Account, "pt-delete", "CREATE_COMPLETE")
}

// A stack name is reused, a stack id is not: an update or a delete by the
// id of a deleted stack never touches the stack that has its name now.
func testCloudByID(t *testing.T, h CloudHarness) {
	ctx := t.Context()
	old, _ := cloudCreateBucket(t, h, h.Account, "pt-byid", "porttest-byid-"+cloudSuffix())
	if err := h.Cloud.DeleteStack(ctx, h.Account, old, cloudToken("delete")); err != nil {
		t.Fatalf("DeleteStack by id: %v", err)
	}
	cloudSettle(t, h)
	cloudWantStatus(t, h, h.Account, old, "DELETE_COMPLETE")
	bucket := "porttest-byid-" + cloudSuffix()
	cur, _ := cloudCreateBucket(t, h, h.Account, "pt-byid", bucket)
	if cur == old {
		t.Fatalf("the new stack has the deleted one's id %s", cur)
	}
	_, err := h.Cloud.UpdateStack(ctx, h.Account, cloudBucketRequest(old, bucket, "Enabled", cloudToken("update")))
	cloudWantErr(t, "UpdateStack by the deleted stack's id", err, core.ErrNotFound)
	if err := h.Cloud.DeleteStack(ctx, h.Account, old, cloudToken("delete")); err != nil {
		t.Errorf("DeleteStack by the deleted stack's id: %v, want nil", err)
	}
	cloudSettle(t, h)
	if st := cloudWantStatus(t, h, h.Account, "pt-byid", "CREATE_COMPLETE"); st.StackID != cur {
		t.Errorf("the name's stack is %s, want %s", st.StackID, cur)
	}
	if _, err := h.Cloud.UpdateStack(ctx, h.Account, cloudBucketRequest(cur, bucket, "Suspended", cloudToken("update"))); err != nil {
		t.Fatalf("UpdateStack by id: %v", err)
	}
	cloudSettle(t, h)
	cloudWantStatus(t, h, h.Account, cur, "UPDATE_COMPLETE")
}

func testCloudDeleteMissing(t *testing.T, h CloudHarness) {
	if err := h.Cloud.DeleteStack(t.Context(), h.Account, "pt-never", cloudToken("delete")); err != nil {
		t.Fatalf("DeleteStack of a missing stack: %v, want nil", err)
	}
}

func testCloudDescribeMissing(t *testing.T, h CloudHarness) {
	ctx := t.Context()
	_, err := h.Cloud.DescribeStack(ctx, h.Account, "pt-never")
	cloudWantErr(t, "DescribeStack of a missing stack", err, core.ErrNotFound)
	_, err = h.Cloud.GetTemplate(ctx, h.Account, "pt-never")
	cloudWantErr(t, "GetTemplate of a missing stack", err, core.ErrNotFound)
}

func testCloudList(t *testing.T, h CloudHarness) {
	ctx := t.Context()
	s := cloudSuffix()
	cloudCreateBucket(t, h, h.Account, "pt-list-b", "porttest-lb-"+s)
	cloudCreateBucket(t, h, h.Account, "pt-list-a", "porttest-la-"+s)
	cloudCreateBucket(t, h, h.Account, "pt-other", "porttest-lo-"+s)
	// The same stack name in another account is another stack.
	cloudCreateBucket(t, h, h.Other, "pt-list-a", "porttest-lx-"+s)
	list, err := h.Cloud.ListStacks(ctx, h.Account, "pt-list-")
	if err != nil {
		t.Fatalf("ListStacks: %v", err)
	}
	var names []string
	for _, st := range list {
		names = append(names, st.StackName)
		if st.Status != "CREATE_COMPLETE" || !strings.HasPrefix(st.StackID, "arn:") {
			t.Errorf("ListStacks row %+v", st)
		}
	}
	if strings.Join(names, ",") != "pt-list-a,pt-list-b" {
		t.Errorf("ListStacks(pt-list-) = %v, want [pt-list-a pt-list-b]", names)
	}
	other, err := h.Cloud.ListStacks(ctx, h.Other, "")
	if err != nil || len(other) != 1 || other[0].StackName != "pt-list-a" {
		t.Errorf("ListStacks of the other account = %+v, %v; want its one stack", other, err)
	}
}

func testCloudTemplate(t *testing.T, h CloudHarness) {
	_, req := cloudCreateBucket(t, h, h.Account, "pt-template", "porttest-template-"+cloudSuffix())
	body, err := h.Cloud.GetTemplate(t.Context(), h.Account, "pt-template")
	if err != nil {
		t.Fatalf("GetTemplate: %v", err)
	}
	if !cloudSameJSON(body, req.Template) {
		t.Errorf("GetTemplate = %s, want the template created with", body)
	}
}

// cloudCreateUser creates a user stack and returns its outputs and the
// secret's value.
func cloudCreateUser(t *testing.T, h CloudHarness, stack, user string) (map[string]string, map[string]string) {
	t.Helper()
	req := core.StackRequest{StackName: stack, Template: cloudUserTemplate(user, 1), Token: cloudToken("create"), Capabilities: cloudNamedIAM}
	if _, err := h.Cloud.CreateStack(t.Context(), h.Account, req); err != nil {
		t.Fatalf("CreateStack(%s): %v", stack, err)
	}
	cloudSettle(t, h)
	st := cloudWantStatus(t, h, h.Account, stack, "CREATE_COMPLETE")
	return st.Outputs, cloudKeyPair(t, h, st.Outputs["AccessKey1SecretArn"])
}

func cloudKeyPair(t *testing.T, h CloudHarness, arn string) map[string]string {
	t.Helper()
	v, err := h.Cloud.GetSecretValue(t.Context(), h.Account, arn)
	if err != nil {
		t.Fatalf("GetSecretValue(%s): %v", arn, err)
	}
	var pair map[string]string
	if err := json.Unmarshal([]byte(v), &pair); err != nil {
		t.Fatalf("secret value is not the JSON key pair: %v", err)
	}
	return pair
}

func testCloudSecret(t *testing.T, h CloudHarness) {
	user := "pt-user-" + cloudSuffix()
	out, pair := cloudCreateUser(t, h, "pt-user", user)
	if out["UserName"] != user || !strings.HasSuffix(out["UserArn"], ":user/bucketdesk/"+user) {
		t.Errorf("user outputs = %v", out)
	}
	id := out["AccessKey1Id"]
	if !strings.HasPrefix(id, "AKIA") || len(id) != 20 {
		t.Errorf("AccessKey1Id = %q, want AKIA and 16 more characters", id)
	}
	if !strings.HasPrefix(out["AccessKey1SecretArn"], "arn:aws:secretsmanager:") {
		t.Errorf("AccessKey1SecretArn = %q", out["AccessKey1SecretArn"])
	}
	if pair["AccessKeyId"] != id || len(pair["SecretAccessKey"]) != 40 {
		t.Fatalf("secret = id %q and a secret of %d characters; want %q and 40", pair["AccessKeyId"], len(pair["SecretAccessKey"]), id)
	}
	for k, v := range out {
		if strings.Contains(v, pair["SecretAccessKey"]) {
			t.Errorf("output %s holds the secret access key", k)
		}
	}
	body, err := h.Cloud.GetTemplate(t.Context(), h.Account, "pt-user")
	if err != nil || strings.Contains(body, pair["SecretAccessKey"]) {
		t.Errorf("GetTemplate = %v, or it holds the secret", err)
	}
	_, err = h.Cloud.GetSecretValue(t.Context(), h.Other, out["AccessKey1SecretArn"])
	cloudWantErr(t, "GetSecretValue from another account", err, core.ErrNotFound)
}

func testCloudSecretRotate(t *testing.T, h CloudHarness) {
	user := "pt-rotate-" + cloudSuffix()
	out, pair := cloudCreateUser(t, h, "pt-rotate", user)
	req := core.StackRequest{StackName: "pt-rotate", Template: cloudUserTemplate(user, 2), Token: cloudToken("rotate"), Capabilities: cloudNamedIAM}
	if _, err := h.Cloud.UpdateStack(t.Context(), h.Account, req); err != nil {
		t.Fatalf("UpdateStack (new serial): %v", err)
	}
	cloudSettle(t, h)
	st := cloudWantStatus(t, h, h.Account, "pt-rotate", "UPDATE_COMPLETE")
	if st.Outputs["AccessKey1Id"] == out["AccessKey1Id"] {
		t.Errorf("AccessKey1Id unchanged after a new serial: %s", out["AccessKey1Id"])
	}
	if st.Outputs["AccessKey1SecretArn"] != out["AccessKey1SecretArn"] {
		t.Errorf("the secret was replaced: %s → %s", out["AccessKey1SecretArn"], st.Outputs["AccessKey1SecretArn"])
	}
	np := cloudKeyPair(t, h, st.Outputs["AccessKey1SecretArn"])
	if np["AccessKeyId"] != st.Outputs["AccessKey1Id"] || np["SecretAccessKey"] == pair["SecretAccessKey"] {
		t.Errorf("secret after rotation holds id %s (want %s), secret changed %v",
			np["AccessKeyId"], st.Outputs["AccessKey1Id"], np["SecretAccessKey"] != pair["SecretAccessKey"])
	}
}

func testCloudSecretMissing(t *testing.T, h CloudHarness) {
	arn := "arn:aws:secretsmanager:" + h.Account.Region + ":" + h.Account.ID + ":secret:nope-AbCdEf"
	_, err := h.Cloud.GetSecretValue(t.Context(), h.Account, arn)
	cloudWantErr(t, "GetSecretValue of a missing secret", err, core.ErrNotFound)
}
