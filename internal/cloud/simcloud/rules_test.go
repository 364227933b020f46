package simcloud_test

// AWS's own rules that a resource's properties break only once
// CloudFormation resolved them: the sandbox fails that resource (and rolls
// the stack back) with AWS's reason, at the point where AWS does.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
)

var rulesProject = &core.Project{ID: "demo", Name: "Demo", AccountID: acct.ID, Region: acct.Region,
	TransferServerID: "s-0123456789abcdef0", Members: []string{"alice"}}

const rulesSSHKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@example.com"

// rulesUser renders a valid user stack named placeholder and returns its
// request with every occurrence of each old string replaced: a template
// bucketdesk itself would refuse to render.
func rulesUser(t *testing.T, u *core.UserSpec, replace ...string) core.StackRequest {
	t.Helper()
	tpl, caps, err := stacks.Render(rulesProject, core.Spec{User: u})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	tpl = strings.NewReplacer(replace...).Replace(tpl)
	return core.StackRequest{StackName: stacks.StackName(rulesProject.ID, core.KindUser, u.Name), Template: tpl,
		Capabilities: caps, Token: "t-" + u.Name, Tags: stacks.Tags(rulesProject.ID, core.KindUser, u.Name)}
}

// failure returns the reason of the logical resource's event with status.
func failure(t *testing.T, s *simcloud.Sandbox, stack, logical, status string) (string, bool) {
	t.Helper()
	evs, err := s.Events(acct, stack)
	if err != nil {
		t.Fatalf("Events: %v", err)
	}
	for _, e := range evs {
		if e.LogicalResourceID == logical && e.ResourceStatus == status {
			return e.StatusReason, true
		}
	}
	return "", false
}

func sftpUser(name string) *core.UserSpec {
	return &core.UserSpec{Name: name, Grants: []core.Grant{{Bucket: "demo-raw", Access: core.AccessRead, Prefix: "in/"}},
		SFTP: core.SFTP{Enabled: true, SSHKeys: []string{rulesSSHKey}}}
}

// AWS::Transfer::User.UserName must match ^[\w][\w@.-]{2,99}$; IAM's
// names (which allow + = , and one character) are wider. CloudFormation
// checks the resolved value against the resource schema, so the IAM user
// is created and the Transfer user fails.
func TestTransferUserNameRule(t *testing.T) {
	s, _ := open(t, nil)
	for _, name := range []string{"acme+partner@example.com", "ab", "x=y", "@acme", "-acme", ".acme"} {
		req := rulesUser(t, sftpUser("placeholder"), "placeholder", name)
		mustCreate(t, s, acct, req)
		reason, ok := failure(t, s, req.StackName, "SftpUser", "CREATE_FAILED")
		want := "Properties validation failed for resource SftpUser with message: #/UserName: failed validation constraint for keyword [pattern]"
		if !ok || reason != want {
			t.Errorf("%q: SftpUser CREATE_FAILED %v with %q, want %q", name, ok, reason, want)
		}
		if _, ok := failure(t, s, req.StackName, "User", "CREATE_COMPLETE"); !ok {
			t.Errorf("%q: the IAM user (a valid IAM name) was not created first", name)
		}
		if st := status(t, s, acct, req.StackName).Status; st != "ROLLBACK_COMPLETE" {
			t.Errorf("%q: stack %s, want ROLLBACK_COMPLETE", name, st)
		}
	}
	for _, name := range []string{"acme.partner@example.com", "abc", "_svc", strings.Repeat("x", 64)} {
		req := rulesUser(t, sftpUser(name))
		mustCreate(t, s, acct, req)
		if st := status(t, s, acct, req.StackName); st.Status != "CREATE_COMPLETE" {
			t.Errorf("%q: stack %s %s", name, st.Status, st.StatusReason)
		}
	}
}

const iamCharsReason = `1 validation error detected: Value at 'policyDocument' failed to satisfy constraint: Member must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u00FF]+ (Service: Iam, Status Code: 400, Error Code: ValidationError)`

// IAM policy documents hold only tab, LF, CR and U+0020 to U+00FF: an inline
// policy with a grant prefix beyond Latin-1 fails the resource carrying it,
// on create and on update.
func TestIAMPolicyCharacters(t *testing.T) {
	s, _ := open(t, nil)
	u := &core.UserSpec{Name: "reader", Grants: []core.Grant{{Bucket: "demo-raw", Access: core.AccessRead, Prefix: "in/"}}}

	req := rulesUser(t, u, "demo-raw/in/", "demo-raw/日本/")
	req.StackName, req.Token = "bd-demo--u-japan", "c1"
	mustCreate(t, s, acct, req)
	if reason, ok := failure(t, s, req.StackName, "User", "CREATE_FAILED"); !ok || reason != iamCharsReason {
		t.Errorf("create: User CREATE_FAILED %v with %q, want %q", ok, reason, iamCharsReason)
	}
	if st := status(t, s, acct, req.StackName).Status; st != "ROLLBACK_COMPLETE" {
		t.Errorf("create: stack %s", st)
	}

	// Latin-1 is allowed.
	latin := rulesUser(t, u, "demo-raw/in/", "demo-raw/é ÿ~/")
	mustCreate(t, s, acct, latin)
	if st := status(t, s, acct, latin.StackName); st.Status != "CREATE_COMPLETE" {
		t.Fatalf("Latin-1 prefix: stack %s %s", st.Status, st.StatusReason)
	}
	upd := rulesUser(t, u, "demo-raw/in/", "demo-raw/in/😀/")
	upd.Token = "u1"
	if _, err := s.UpdateStack(t.Context(), acct, upd); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if reason, ok := failure(t, s, upd.StackName, "User", "UPDATE_FAILED"); !ok || reason != iamCharsReason {
		t.Errorf("update: User UPDATE_FAILED %v with %q, want %q", ok, reason, iamCharsReason)
	}
	if st := status(t, s, acct, upd.StackName).Status; st != "UPDATE_ROLLBACK_COMPLETE" {
		t.Errorf("update: stack %s", st)
	}

	// A role's inline policies and its trust policy follow the same rule.
	for _, tc := range []struct{ props, reason string }{
		{`"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "transfer.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
		  "Policies": [{"PolicyName": "p", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/日本/*"}]}}]`,
			iamCharsReason},
		{`"AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{"Sid": "Ω", "Effect": "Allow", "Principal": {"Service": "transfer.amazonaws.com"}, "Action": "sts:AssumeRole"}]}`,
			strings.Replace(iamCharsReason, "'policyDocument'", "'assumeRolePolicyDocument'", 1)},
	} {
		tpl := `{"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {` + tc.props + `}}}}`
		mustCreate(t, s, acct, core.StackRequest{StackName: "role", Template: tpl, Token: "r-" + tc.reason[strings.Index(tc.reason, "at"):][4:10], Capabilities: []string{"CAPABILITY_IAM"}})
		if reason, ok := failure(t, s, "role", "Role", "CREATE_FAILED"); !ok || reason != tc.reason {
			t.Errorf("role: CREATE_FAILED %v with %q, want %q", ok, reason, tc.reason)
		}
		if err := s.DeleteStack(t.Context(), acct, "role", "d"); err != nil {
			t.Fatal(err)
		}
		settle(t, s)
	}
}

// Transfer parses SSH keys: a blob that does not decode to a key of the
// declared type fails the Transfer user.
func TestTransferSSHKeysParsed(t *testing.T) {
	s, _ := open(t, nil)
	for i, bad := range []string{
		"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC3 ci@acme", // truncated RSA key
		"ssh-rsa " + strings.Fields(rulesSSHKey)[1],        // an ed25519 blob declared RSA
		"ssh-dss AAAAB3NzaC1kc3M=",
		`command="/bin/sh" ` + rulesSSHKey,
	} {
		name := "sftp-key-" + string(rune('a'+i))
		req := rulesUser(t, sftpUser(name), rulesSSHKey, strings.ReplaceAll(bad, `"`, `\"`))
		mustCreate(t, s, acct, req)
		want := "Unsupported or invalid SSH public key format (Service: Transfer, Status Code: 400, Error Code: InvalidRequestException)"
		if reason, ok := failure(t, s, req.StackName, "SftpUser", "CREATE_FAILED"); !ok || !handlerSaid(reason, want, "InvalidRequest") {
			t.Errorf("%q: SftpUser CREATE_FAILED %v with %q, want %q", bad, ok, reason, want)
		}
	}
}

// IAM allows two access keys per user, and CloudFormation makes a
// replacement key before it deletes the old one: rotating one of two keys
// needs a third and fails with IAM's LimitExceeded; rotating the only key
// works.
func TestAccessKeysPerUser(t *testing.T) {
	s, _ := open(t, nil)
	ctx := t.Context()
	u := &core.UserSpec{Name: "keys-user", AccessKeys: 1}
	req := rulesUser(t, u)
	mustCreate(t, s, acct, req)
	update := func(u *core.UserSpec, token string) *core.Stack {
		t.Helper()
		r := rulesUser(t, u)
		r.Token = token
		if _, err := s.UpdateStack(ctx, acct, r); err != nil {
			t.Fatal(err)
		}
		settle(t, s)
		return status(t, s, acct, req.StackName)
	}
	u.KeySerials = []int{2}
	if st := update(u, "rotate-1"); st.Status != "UPDATE_COMPLETE" {
		t.Fatalf("rotating the only key: %s %s", st.Status, st.StatusReason)
	}
	u.AccessKeys, u.KeySerials = 2, []int{2, 1}
	if st := update(u, "add-2"); st.Status != "UPDATE_COMPLETE" {
		t.Fatalf("adding key 2: %s %s", st.Status, st.StatusReason)
	}
	u.KeySerials = []int{3, 1}
	if st := update(u, "rotate-1-of-2"); st.Status != "UPDATE_ROLLBACK_COMPLETE" {
		t.Fatalf("rotating one of two keys: %s, want UPDATE_ROLLBACK_COMPLETE", st.Status)
	}
	why, ok := failure(t, s, req.StackName, "AccessKey1", "CREATE_FAILED")
	if !ok {
		why, ok = failure(t, s, req.StackName, "AccessKey1", "UPDATE_FAILED")
	}
	if !ok || !strings.Contains(why, "Cannot exceed quota for AccessKeysPerUser: 2") || !strings.Contains(why, "LimitExceeded") {
		t.Fatalf("the third key's failure: %q (found %v)", why, ok)
	}
}

// handlerSaid reports whether reason is a resource handler's failure with
// the service's message msg and the handler's error code, as
// CloudFormation reports it.
func handlerSaid(reason, msg, code string) bool {
	return strings.HasPrefix(reason, `Resource handler returned message: "`+msg+`" (RequestToken: `) &&
		strings.HasSuffix(reason, ", HandlerErrorCode: "+code+")")
}

const malformedPolicy = "Syntax errors in policy. (Service: Iam, Status Code: 400, Error Code: MalformedPolicyDocument)"

// IAM's date condition operators take an ISO 8601 date or date-time (or
// epoch seconds): an end date that is not one fails the policy's resource
// with MalformedPolicyDocument; bucketdesk's own end date passes.
func TestIAMDateConditionSyntax(t *testing.T) {
	s, _ := open(t, nil)
	u := &core.UserSpec{Name: "until", Grants: []core.Grant{{Bucket: "demo-raw", Access: core.AccessRead, Prefix: "in/"}},
		AccessUntil: time.Date(2027, 3, 31, 17, 30, 0, 0, time.UTC)}
	ok := rulesUser(t, u)
	mustCreate(t, s, acct, ok)
	if st := status(t, s, acct, ok.StackName); st.Status != "CREATE_COMPLETE" {
		t.Fatalf("bucketdesk's end date: stack %s %s", st.Status, st.StatusReason)
	}
	for i, v := range []string{"31/03/2027", "2027-03-31 17:30", "tomorrow", "2027-13-01T00:00:00Z", "${aws:CurrentTime}"} {
		req := rulesUser(t, &core.UserSpec{Name: fmt.Sprintf("bad%d", i), Grants: u.Grants, AccessUntil: u.AccessUntil}, "2027-03-31T17:30:00Z", v)
		req.Token = fmt.Sprintf("bad-%d", i)
		mustCreate(t, s, acct, req)
		if reason, ok := failure(t, s, req.StackName, "User", "CREATE_FAILED"); !ok || reason != malformedPolicy {
			t.Errorf("%q: User CREATE_FAILED %v with %q, want %q", v, ok, reason, malformedPolicy)
		}
	}
	// Other ISO 8601 forms and epoch seconds are dates to IAM.
	for i, v := range []string{"2027-03-31", "2027-03-31T17:30:00+02:00", "1806513000"} {
		req := rulesUser(t, &core.UserSpec{Name: fmt.Sprintf("good%d", i), Grants: u.Grants, AccessUntil: u.AccessUntil}, "2027-03-31T17:30:00Z", v)
		req.Token = fmt.Sprintf("good-%d", i)
		mustCreate(t, s, acct, req)
		if st := status(t, s, acct, req.StackName); st.Status != "CREATE_COMPLETE" {
			t.Errorf("%q: stack %s %s", v, st.Status, st.StatusReason)
		}
	}
}
