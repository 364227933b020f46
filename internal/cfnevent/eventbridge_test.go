package cfnevent

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"bucketdesk/internal/core"
)

// ebStack is the documented example of a stack status change, for our stack.
const ebStack = `{
  "version": "0",
  "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
  "detail-type": "CloudFormation Stack Status Change",
  "source": "aws.cloudformation",
  "account": "123456789012",
  "time": "2026-11-27T10:00:26Z",
  "region": "eu-west-1",
  "resources": ["arn:aws:cloudformation:eu-west-1:123456789012:stack/bd-demo-bucket-logs/0cc76cc0-f1b9-11e8-b3db-0a473bf201de"],
  "detail": {
    "stack-id": "arn:aws:cloudformation:eu-west-1:123456789012:stack/bd-demo-bucket-logs/0cc76cc0-f1b9-11e8-b3db-0a473bf201de",
    "status-details": {"status": "CREATE_COMPLETE", "status-reason": ""},
    "client-request-token": "01JDX3Q7ZK8M2V4N6P8R0T2W4Y"
  }
}`

// ebResource is the documented example of a resource status change.
const ebResource = `{
  "version": "0",
  "id": "01234567-0123-0123-0123-0123456789ab",
  "detail-type": "CloudFormation Resource Status Change",
  "source": "aws.cloudformation",
  "account": "123456789012",
  "time": "2026-11-27T10:00:25Z",
  "region": "eu-west-1",
  "resources": ["arn:aws:cloudformation:eu-west-1:123456789012:stack/bd-demo-bucket-logs/0cc76cc0-f1b9-11e8-b3db-0a473bf201de"],
  "detail": {
    "stack-id": "arn:aws:cloudformation:eu-west-1:123456789012:stack/bd-demo-bucket-logs/0cc76cc0-f1b9-11e8-b3db-0a473bf201de",
    "logical-resource-id": "Bucket",
    "physical-resource-id": "bd-demo-logs",
    "status-details": {"status": "CREATE_COMPLETE", "status-reason": ""},
    "resource-type": "AWS::S3::Bucket",
    "client-request-token": "01JDX3Q7ZK8M2V4N6P8R0T2W4Y"
  }
}`

func TestParseEventBridge(t *testing.T) {
	tests := []struct {
		name string
		body string
		want core.StackEvent
	}{
		{"stack status change", ebStack, core.StackEvent{
			StackID: testStackID, StackName: testStack, Timestamp: ts("2026-11-27T10:00:26Z"),
			LogicalResourceID: testStack, PhysicalResourceID: testStackID, ResourceType: core.StackResourceType,
			ResourceStatus: "CREATE_COMPLETE", ClientRequestToken: testToken}},
		{"resource status change", ebResource, core.StackEvent{
			StackID: testStackID, StackName: testStack, Timestamp: ts("2026-11-27T10:00:25Z"),
			LogicalResourceID: "Bucket", PhysicalResourceID: "bd-demo-logs", ResourceType: "AWS::S3::Bucket",
			ResourceStatus: "CREATE_COMPLETE", ClientRequestToken: testToken}},
		{"stack rollback with reason", strings.NewReplacer(
			`"status": "CREATE_COMPLETE", "status-reason": ""`,
			`"status": "UPDATE_ROLLBACK_IN_PROGRESS", "status-reason": "The following resource(s) failed to update: [Policy]. "`,
		).Replace(ebStack), core.StackEvent{
			StackID: testStackID, StackName: testStack, Timestamp: ts("2026-11-27T10:00:26Z"),
			LogicalResourceID: testStack, PhysicalResourceID: testStackID, ResourceType: core.StackResourceType,
			ResourceStatus: "UPDATE_ROLLBACK_IN_PROGRESS", StatusReason: "The following resource(s) failed to update: [Policy]. ",
			ClientRequestToken: testToken}},
		{"resource in progress, no physical id, no token", strings.NewReplacer(
			`"physical-resource-id": "bd-demo-logs",`, "",
			`"status": "CREATE_COMPLETE"`, `"status": "CREATE_IN_PROGRESS"`,
			`"client-request-token": "01JDX3Q7ZK8M2V4N6P8R0T2W4Y"`, `"client-request-token": ""`,
		).Replace(ebResource), core.StackEvent{
			StackID: testStackID, StackName: testStack, Timestamp: ts("2026-11-27T10:00:25Z"),
			LogicalResourceID: "Bucket", ResourceType: "AWS::S3::Bucket", ResourceStatus: "CREATE_IN_PROGRESS"}},
	}
	idForm := regexp.MustCompile(`^eb-[0-9a-f]{32}$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEventBridge([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if !idForm.MatchString(got.EventID) {
				t.Errorf("EventID %q is not eb- and 32 hex digits", got.EventID)
			}
			id := got.EventID
			got.EventID = ""
			if got != tt.want {
				t.Fatalf("ParseEventBridge:\n got %+v\nwant %+v", got, tt.want)
			}
			again, _ := ParseEventBridge([]byte(tt.body))
			if again.EventID != id {
				t.Errorf("EventID of a redelivery %q, first %q", again.EventID, id)
			}
		})
	}
}

func TestParseEventBridgeStackLevel(t *testing.T) {
	s, err := ParseEventBridge([]byte(ebStack))
	if err != nil {
		t.Fatal(err)
	}
	if !s.StackLevel() {
		t.Error("stack status change is not stack-level")
	}
	r, err := ParseEventBridge([]byte(ebResource))
	if err != nil {
		t.Fatal(err)
	}
	if r.StackLevel() {
		t.Error("resource status change is stack-level")
	}
}

func TestParseEventBridgeEventID(t *testing.T) {
	base, err := ParseEventBridge([]byte(ebResource))
	if err != nil {
		t.Fatal(err)
	}
	// The stack's own resource status change is the same change as the
	// stack status change: same id.
	stackAsResource := strings.NewReplacer(
		`"logical-resource-id": "Bucket"`, `"logical-resource-id": "`+testStack+`"`,
		`"physical-resource-id": "bd-demo-logs"`, `"physical-resource-id": "`+testStackID+`"`,
		`"resource-type": "AWS::S3::Bucket"`, `"resource-type": "AWS::CloudFormation::Stack"`,
		`"time": "2026-11-27T10:00:25Z"`, `"time": "2026-11-27T10:00:26Z"`,
		`"id": "01234567-0123-0123-0123-0123456789ab"`, `"id": "another-delivery"`,
	).Replace(ebResource)
	a, err := ParseEventBridge([]byte(stackAsResource))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := ParseEventBridge([]byte(ebStack))
	if a.EventID != s.EventID || a != s {
		t.Errorf("stack change as resource %+v, as stack %+v", a, s)
	}
	// Fields outside the event (EventBridge's own id, region, resources)
	// do not change the id.
	other := strings.NewReplacer(`"id": "01234567-0123-0123-0123-0123456789ab"`, `"id": "x"`, `"version": "0"`, `"version": "1"`).Replace(ebResource)
	if o, _ := ParseEventBridge([]byte(other)); o.EventID != base.EventID {
		t.Errorf("EventID depends on the EventBridge envelope: %q vs %q", o.EventID, base.EventID)
	}
	// Any field of the event does, including the reason (two
	// UPDATE_IN_PROGRESS of one replacement can share a second).
	for _, r := range [][2]string{
		{`"time": "2026-11-27T10:00:25Z"`, `"time": "2026-11-27T10:00:25.001Z"`},
		{`"status-reason": ""`, `"status-reason": "Resource creation Initiated"`},
		{`"status": "CREATE_COMPLETE"`, `"status": "CREATE_IN_PROGRESS"`},
		{`"physical-resource-id": "bd-demo-logs"`, `"physical-resource-id": "bd-demo-logs-2"`},
		{`"logical-resource-id": "Bucket"`, `"logical-resource-id": "Bucket2"`},
		{`"client-request-token": "01JDX3Q7ZK8M2V4N6P8R0T2W4Y"`, `"client-request-token": "other"`},
		{`0cc76cc0-f1b9-11e8-b3db-0a473bf201de`, `1cc76cc0-f1b9-11e8-b3db-0a473bf201de`},
	} {
		e, err := ParseEventBridge([]byte(strings.ReplaceAll(ebResource, r[0], r[1])))
		if err != nil {
			t.Fatal(err)
		}
		if e.EventID == base.EventID {
			t.Errorf("changing %s to %s keeps the EventID", r[0], r[1])
		}
	}
}

func TestParseEventBridgeErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"not JSON", "Type=x", "not a JSON object"},
		{"source", strings.Replace(ebStack, `"source": "aws.cloudformation"`, `"source": "aws.s3"`, 1), `source "aws.s3", not "aws.cloudformation"`},
		{"detail type", strings.Replace(ebStack, "CloudFormation Stack Status Change", "CloudFormation Drift Detection Status Change", 1), `detail-type "CloudFormation Drift Detection Status Change"`},
		{"no detail", `{"source":"aws.cloudformation","detail-type":"CloudFormation Stack Status Change","time":"2026-11-27T10:00:26Z"}`, "has no detail"},
		{"no stack id, status or time", `{"source":"aws.cloudformation","detail-type":"CloudFormation Stack Status Change","detail":{}}`,
			"missing detail.stack-id, detail.status-details.status, time"},
		{"resource without logical id and type", strings.NewReplacer(`"logical-resource-id": "Bucket",`, "", `"resource-type": "AWS::S3::Bucket",`, "").Replace(ebResource),
			"missing detail.logical-resource-id, detail.resource-type"},
		{"stack id not an ARN", strings.Replace(ebStack, `"stack-id": "arn:aws:cloudformation:eu-west-1:123456789012:stack/bd-demo-bucket-logs/0cc76cc0-f1b9-11e8-b3db-0a473bf201de"`, `"stack-id": "bd-demo-bucket-logs"`, 1),
			"detail.stack-id is not a CloudFormation stack ARN"},
		{"stack id with an empty uuid", strings.Replace(ebStack, `stack/bd-demo-bucket-logs/0cc76cc0-f1b9-11e8-b3db-0a473bf201de"`, `stack/bd-demo-bucket-logs/"`, -1),
			"detail.stack-id is not a CloudFormation stack ARN"},
		{"stack id without a name", strings.Replace(ebStack, `stack/bd-demo-bucket-logs/0cc76cc0-f1b9-11e8-b3db-0a473bf201de"`, `stack/"`, -1),
			"detail.stack-id is not a CloudFormation stack ARN"},
		{"bad time", strings.Replace(ebStack, "2026-11-27T10:00:26Z", "yesterday", 1), "time is not an RFC 3339 time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseEventBridge([]byte(tt.body))
			if err == nil {
				t.Fatal("ParseEventBridge succeeded")
			}
			if !errors.Is(err, core.ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestStackNameOf(t *testing.T) {
	for _, tt := range []struct {
		id, name string
		ok       bool
	}{
		{testStackID, testStack, true},
		{"arn:aws-cn:cloudformation:cn-north-1:123456789012:stack/s/u", "s", true},
		{"arn:aws:cloudformation:eu-west-1:123456789012:stackset/s/u", "", false},
		{"arn:aws:cloudformation:eu-west-1:123456789012:stack//u", "", false},
		{"arn:aws:cloudformation:eu-west-1:123456789012:stack/s/", "", false},
		{"arn:aws:cloudformation:us-west-1:111122223333:stack/teststack", "teststack", true},
		{"arn:aws:cloudformation:eu-west-1:123456789012:stack/", "", false},
		{"arn:aws:sns:eu-west-1:123456789012:stack/s/u", "", false},
		{"", "", false},
	} {
		name, ok := stackNameOf(tt.id)
		if name != tt.name || ok != tt.ok {
			t.Errorf("stackNameOf(%q) = %q, %v; want %q, %v", tt.id, name, ok, tt.name, tt.ok)
		}
	}
}

// AWS's documented example events name the stack by an ARN without the
// stack's unique id (testdata/eventbridge/README.md).
func TestParseEventBridgeDocumentedExamples(t *testing.T) {
	const stackID = "arn:aws:cloudformation:us-west-1:111122223333:stack/teststack"
	stack := core.StackEvent{
		StackID: stackID, StackName: "teststack", Timestamp: ts("2017-12-22T18:43:48Z"),
		LogicalResourceID: "teststack", PhysicalResourceID: stackID, ResourceType: core.StackResourceType,
		ResourceStatus: "CREATE_COMPLETE"}
	tests := []struct {
		file string
		fix  func(string) string
		want core.StackEvent
	}{
		{"docs-stack-status-change.json", nil, stack},
		{"docs-resource-status-change.json", nil, core.StackEvent{
			StackID: stackID, StackName: "teststack", Timestamp: ts("2017-12-22T18:43:48Z"),
			LogicalResourceID: "my-s3-bucket", PhysicalResourceID: "arn:aws:s3:::my-s3-bucket-us-east-1",
			ResourceType: "AWS::S3::Bucket", ResourceStatus: "CREATE_COMPLETE"}},
		{"docs-eventbridge-user-guide.json", func(s string) string { return strings.Replace(s, "2022-04-31", "2022-04-30", 1) },
			core.StackEvent{
				StackID: "arn:aws:cloudformation:us-west-1:123456789012:stack/teststack", StackName: "teststack",
				Timestamp: ts("2022-04-30T17:00:00Z"), LogicalResourceID: "teststack",
				PhysicalResourceID: "arn:aws:cloudformation:us-west-1:123456789012:stack/teststack",
				ResourceType:       core.StackResourceType, ResourceStatus: "CREATE_COMPLETE"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "eventbridge", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			body := string(b)
			if tt.fix != nil {
				// As published, the example's time is no date.
				if _, err := ParseEventBridge(b); err == nil || !strings.Contains(err.Error(), "time is not an RFC 3339 time") {
					t.Fatalf("the example as published: %v, want its time refused", err)
				}
				body = tt.fix(body)
			}
			got, err := ParseEventBridge([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if got.EventID == "" {
				t.Error("no EventID")
			}
			got.EventID = ""
			if got != tt.want {
				t.Fatalf("ParseEventBridge:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
