package cfntest_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"bucketdesk/internal/cloud/cfncloud/cfntest"
	"bucketdesk/internal/cloud/simcloud"
)

const role = "arn:aws:iam::111111111111:role/bucketdesk-project"

func newServer(t *testing.T) *cfntest.Server {
	t.Helper()
	sb, err := simcloud.New(filepath.Join(t.TempDir(), "sandbox.db"), simcloud.ZeroOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	srv := cfntest.New(sb, &cfntest.Options{ExternalIDs: map[string]string{role: "ext"}, PageSize: 1})
	t.Cleanup(srv.Close)
	return srv
}

// post sends a query-protocol request signed (in name only) by key.
func post(t *testing.T, srv *cfntest.Server, key, token string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+key+"/20260101/eu-west-1/cloudformation/aws4_request, SignedHeaders=host, Signature=00")
	if token != "" {
		req.Header.Set("X-Amz-Security-Token", token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestWireShapes(t *testing.T) {
	srv := newServer(t)
	assume := url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"}, "RoleArn": {role}, "RoleSessionName": {"test"}, "ExternalId": {"wrong"}}
	status, body := post(t, srv, cfntest.BaseAccessKeyID, "", assume)
	if status != 403 || !strings.Contains(body, `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: `) ||
		!strings.Contains(body, "is not authorized to perform: sts:AssumeRole on resource: "+role) {
		t.Fatalf("AssumeRole with a wrong external id = %d %s", status, body)
	}

	assume.Set("ExternalId", "ext")
	status, body = post(t, srv, cfntest.BaseAccessKeyID, "", assume)
	var ar struct {
		Key     string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
		Token   string `xml:"AssumeRoleResult>Credentials>SessionToken"`
		Expires string `xml:"AssumeRoleResult>Credentials>Expiration"`
		Arn     string `xml:"AssumeRoleResult>AssumedRoleUser>Arn"`
	}
	if err := xml.Unmarshal([]byte(body), &ar); status != 200 || err != nil || !strings.HasPrefix(ar.Key, "ASIA") || ar.Token == "" || ar.Expires == "" ||
		ar.Arn != "arn:aws:sts::111111111111:assumed-role/bucketdesk-project/test" || !strings.Contains(body, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">`) {
		t.Fatalf("AssumeRole = %d %s (%v)", status, body, err)
	}

	create := url.Values{"Action": {"CreateStack"}, "Version": {"2010-05-15"}, "StackName": {"wire"}, "ClientRequestToken": {"t1"},
		"TemplateBody":      {`{"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "wire-bucket"}}}}`},
		"Tags.member.1.Key": {"k"}, "Tags.member.1.Value": {"v"}}
	status, body = post(t, srv, ar.Key, ar.Token, create)
	if status != 200 || !strings.Contains(body, `<CreateStackResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><CreateStackResult><StackId>arn:aws:cloudformation:eu-west-1:111111111111:stack/wire/`) ||
		!strings.Contains(body, "<ResponseMetadata><RequestId>") {
		t.Fatalf("CreateStack = %d %s", status, body)
	}
	create.Set("ClientRequestToken", "t2")
	status, body = post(t, srv, ar.Key, ar.Token, create)
	if status != 400 || !strings.Contains(body, "<Error><Type>Sender</Type><Code>AlreadyExistsException</Code><Message>Stack [wire] already exists</Message></Error><RequestId>") {
		t.Fatalf("CreateStack of an existing stack = %d %s", status, body)
	}
	status, body = post(t, srv, "ASIAUNKNOWN000000000", "x", url.Values{"Action": {"DescribeStacks"}, "Version": {"2010-05-15"}, "StackName": {"wire"}})
	if status != 403 || !strings.Contains(body, "<Code>InvalidClientTokenId</Code>") {
		t.Fatalf("DescribeStacks with an unknown key = %d %s", status, body)
	}
	status, body = post(t, srv, ar.Key, ar.Token, url.Values{"Action": {"DescribeStacks"}, "Version": {"2010-05-15"}, "StackName": {"nope"}})
	if status != 400 || !strings.Contains(body, "<Code>ValidationError</Code><Message>Stack with id nope does not exist</Message>") {
		t.Fatalf("DescribeStacks of a missing stack = %d %s", status, body)
	}
	status, body = post(t, srv, ar.Key, ar.Token, url.Values{"Action": {"DescribeStacks"}, "Version": {"2010-05-15"}, "StackName": {"wire"}})
	if status != 200 || !strings.Contains(body, "<Tags><member><Key>k</Key><Value>v</Value></member></Tags>") {
		t.Fatalf("DescribeStacks = %d %s", status, body)
	}
	// Pages of one: the events of the create come with a NextToken.
	status, body = post(t, srv, ar.Key, ar.Token, url.Values{"Action": {"DescribeStackEvents"}, "Version": {"2010-05-15"}, "StackName": {"wire"}})
	if status != 200 || strings.Count(body, "<member>") != 1 || !strings.Contains(body, "<NextToken>1</NextToken>") || !strings.Contains(body, "<ClientRequestToken>t1</ClientRequestToken>") {
		t.Fatalf("DescribeStackEvents = %d %s", status, body)
	}
	if srv.Calls("CreateStack") != 2 || srv.Errors("AlreadyExistsException") != 1 || srv.Sessions() != 1 {
		t.Errorf("calls %d, AlreadyExists %d, sessions %d; want 2, 1, 1", srv.Calls("CreateStack"), srv.Errors("AlreadyExistsException"), srv.Sessions())
	}
}
