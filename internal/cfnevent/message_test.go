package cfnevent

import (
	"errors"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/core"
)

const (
	testStackID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/bd-demo-bucket-logs/0cc76cc0-f1b9-11e8-b3db-0a473bf201de"
	testStack   = "bd-demo-bucket-logs"
	testToken   = "01JDX3Q7ZK8M2V4N6P8R0T2W4Y"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// msg builds a message in CloudFormation's layout from key, value pairs.
func msg(kv ...string) string {
	var b strings.Builder
	for i := 0; i < len(kv); i += 2 {
		b.WriteString(kv[i] + "='" + kv[i+1] + "'\n")
	}
	return b.String()
}

// stackMsg is a stack-level message as CloudFormation sends it.
func stackMsg(eventID, at, status, reason, token string) string {
	return msg(
		"StackId", testStackID,
		"Timestamp", at,
		"EventId", eventID,
		"LogicalResourceId", testStack,
		"Namespace", "123456789012",
		"PhysicalResourceId", testStackID,
		"PrincipalId", "AROATED2KAVBSKYSYPNVX:bucketdesk-worker",
		"ResourceProperties", "null",
		"ResourceStatus", status,
		"ResourceStatusReason", reason,
		"ResourceType", "AWS::CloudFormation::Stack",
		"StackName", testStack,
		"ClientRequestToken", token,
	)
}

// resourceMsg is a resource-level message as CloudFormation sends it.
func resourceMsg(logical, physical, typ, at, status, reason, props string) string {
	return msg(
		"StackId", testStackID,
		"Timestamp", at,
		"EventId", logical+"-"+status+"-"+at,
		"LogicalResourceId", logical,
		"Namespace", "123456789012",
		"PhysicalResourceId", physical,
		"PrincipalId", "AROATED2KAVBSKYSYPNVX:bucketdesk-worker",
		"ResourceProperties", props,
		"ResourceStatus", status,
		"ResourceStatusReason", reason,
		"ResourceType", typ,
		"StackName", testStack,
		"ClientRequestToken", testToken,
	)
}

func stackEvent(eventID, at, status, reason, token string) core.StackEvent {
	return core.StackEvent{
		StackID: testStackID, StackName: testStack, EventID: eventID, Timestamp: ts(at),
		LogicalResourceID: testStack, PhysicalResourceID: testStackID,
		ResourceType: core.StackResourceType, ResourceStatus: status, StatusReason: reason,
		ClientRequestToken: token,
	}
}

func resourceEvent(logical, physical, typ, at, status, reason string) core.StackEvent {
	return core.StackEvent{
		StackID: testStackID, StackName: testStack, EventID: logical + "-" + status + "-" + at,
		Timestamp: ts(at), LogicalResourceID: logical, PhysicalResourceID: physical,
		ResourceType: typ, ResourceStatus: status, StatusReason: reason,
		ClientRequestToken: testToken,
	}
}

const bucketProps = `{"BucketName":"bd-demo-logs","VersioningConfiguration":{"Status":"Enabled"},"Tags":[{"Value":"demo","Key":"bucketdesk:project"},{"Value":"logs","Key":"bucketdesk:name"}]}`

// prettyProps spans several lines, holds quotes, equal signs and a
// StackName=' look-alike inside a JSON string, and ends with a newline
// before the closing quote, as CloudFormation writes some documents.
const prettyProps = `{
  "BucketName": "bd-demo-logs",
  "Tags": [
    {"Key": "note", "Value": "it's a=b 'quoted' value"},
    {"Key": "trap", "Value": "x'\nStackName='evil'"}
  ],
  "Policy": "a'b"
}
`

func TestParseMessage(t *testing.T) {
	const bucket = "AWS::S3::Bucket"
	tests := []struct {
		name string
		msg  string
		want core.StackEvent
	}{
		// A create: stack in progress, resource in progress twice, resource
		// complete, stack complete.
		{"create/stack in progress",
			stackMsg("48286210-f1b9-11e8-96f5-503ac9ec2461", "2026-11-27T10:00:00.123Z", "CREATE_IN_PROGRESS", "User Initiated", testToken),
			stackEvent("48286210-f1b9-11e8-96f5-503ac9ec2461", "2026-11-27T10:00:00.123Z", "CREATE_IN_PROGRESS", "User Initiated", testToken)},
		{"create/resource in progress, no physical id",
			resourceMsg("Bucket", "", bucket, "2026-11-27T10:00:02.001Z", "CREATE_IN_PROGRESS", "", bucketProps),
			resourceEvent("Bucket", "", bucket, "2026-11-27T10:00:02.001Z", "CREATE_IN_PROGRESS", "")},
		{"create/resource creation initiated",
			resourceMsg("Bucket", "bd-demo-logs", bucket, "2026-11-27T10:00:03.500Z", "CREATE_IN_PROGRESS", "Resource creation Initiated", bucketProps),
			resourceEvent("Bucket", "bd-demo-logs", bucket, "2026-11-27T10:00:03.500Z", "CREATE_IN_PROGRESS", "Resource creation Initiated")},
		{"create/resource complete, multi-line properties",
			resourceMsg("Bucket", "bd-demo-logs", bucket, "2026-11-27T10:00:25.000Z", "CREATE_COMPLETE", "", prettyProps),
			resourceEvent("Bucket", "bd-demo-logs", bucket, "2026-11-27T10:00:25.000Z", "CREATE_COMPLETE", "")},
		{"create/stack complete",
			stackMsg("5a4a2443-a2ed-55b2-b58b-7035fa52062e", "2026-11-27T10:00:26.640Z", "CREATE_COMPLETE", "", testToken),
			stackEvent("5a4a2443-a2ed-55b2-b58b-7035fa52062e", "2026-11-27T10:00:26.640Z", "CREATE_COMPLETE", "", testToken)},
		// An update that fails and rolls back.
		{"update/stack in progress",
			stackMsg("e1", "2026-11-28T09:00:00.000Z", "UPDATE_IN_PROGRESS", "User Initiated", testToken),
			stackEvent("e1", "2026-11-28T09:00:00.000Z", "UPDATE_IN_PROGRESS", "User Initiated", testToken)},
		{"update/resource failed, reason with quotes",
			resourceMsg("Policy", "bd-demo-policy", "AWS::S3::BucketPolicy", "2026-11-28T09:00:04.120Z", "UPDATE_FAILED",
				"Resource handler returned message: \"Policy has invalid resource 'arn:aws:s3:::x'\" (RequestToken: 1, HandlerErrorCode: InvalidRequest)", "{\"Bucket\":\"bd-demo-logs\"}"),
			resourceEvent("Policy", "bd-demo-policy", "AWS::S3::BucketPolicy", "2026-11-28T09:00:04.120Z", "UPDATE_FAILED",
				"Resource handler returned message: \"Policy has invalid resource 'arn:aws:s3:::x'\" (RequestToken: 1, HandlerErrorCode: InvalidRequest)")},
		{"update/stack rollback in progress",
			stackMsg("e3", "2026-11-28T09:00:05.000Z", "UPDATE_ROLLBACK_IN_PROGRESS", "The following resource(s) failed to update: [Policy]. ", testToken),
			stackEvent("e3", "2026-11-28T09:00:05.000Z", "UPDATE_ROLLBACK_IN_PROGRESS", "The following resource(s) failed to update: [Policy]. ", testToken)},
		{"update/stack rollback complete",
			stackMsg("e4", "2026-11-28T09:00:30.999Z", "UPDATE_ROLLBACK_COMPLETE", "", testToken),
			stackEvent("e4", "2026-11-28T09:00:30.999Z", "UPDATE_ROLLBACK_COMPLETE", "", testToken)},
		// A create that fails and rolls back.
		{"rollback/resource create failed, no physical id",
			resourceMsg("Bucket", "", bucket, "2026-11-29T08:00:01.000Z", "CREATE_FAILED", "bd-demo-logs already exists", bucketProps),
			resourceEvent("Bucket", "", bucket, "2026-11-29T08:00:01.000Z", "CREATE_FAILED", "bd-demo-logs already exists")},
		{"rollback/stack rollback complete",
			stackMsg("e6", "2026-11-29T08:00:09.000Z", "ROLLBACK_COMPLETE", "", testToken),
			stackEvent("e6", "2026-11-29T08:00:09.000Z", "ROLLBACK_COMPLETE", "", testToken)},
		// A delete started from the console.
		{"delete/stack in progress, console token",
			stackMsg("e7", "2026-11-30T12:00:00.000Z", "DELETE_IN_PROGRESS", "User Initiated", "Console-DeleteStack-67a344a9-0134-d672-74bb-de4975d5051d"),
			stackEvent("e7", "2026-11-30T12:00:00.000Z", "DELETE_IN_PROGRESS", "User Initiated", "Console-DeleteStack-67a344a9-0134-d672-74bb-de4975d5051d")},
		{"delete/resource skipped",
			resourceMsg("Bucket", "bd-demo-logs", bucket, "2026-11-30T12:00:01.000Z", "DELETE_SKIPPED", "", bucketProps),
			resourceEvent("Bucket", "bd-demo-logs", bucket, "2026-11-30T12:00:01.000Z", "DELETE_SKIPPED", "")},
		{"delete/stack complete, token null",
			stackMsg("e9", "2026-11-30T12:00:02.000Z", "DELETE_COMPLETE", "", "null"),
			stackEvent("e9", "2026-11-30T12:00:02.000Z", "DELETE_COMPLETE", "", "")},

		{"null everywhere optional",
			msg("StackId", testStackID, "Timestamp", "2026-11-27T10:00:00.123Z", "EventId", "e",
				"LogicalResourceId", "null", "Namespace", "null", "PhysicalResourceId", "null",
				"PrincipalId", "null", "ResourceProperties", "null", "ResourceStatus", "CREATE_COMPLETE",
				"ResourceStatusReason", "null", "ResourceType", "null", "StackName", testStack,
				"ClientRequestToken", "null"),
			core.StackEvent{StackID: testStackID, StackName: testStack, EventID: "e",
				Timestamp: ts("2026-11-27T10:00:00.123Z"), ResourceStatus: "CREATE_COMPLETE"}},
		{"None everywhere optional",
			msg("StackId", testStackID, "Timestamp", "2026-11-27T10:00:00.123Z", "EventId", "e",
				"LogicalResourceId", "None", "Namespace", "None", "PhysicalResourceId", "None",
				"PrincipalId", "None", "ResourceProperties", "None", "ResourceStatus", "CREATE_COMPLETE",
				"ResourceStatusReason", "None", "ResourceType", "None", "StackName", testStack,
				"ClientRequestToken", "None"),
			core.StackEvent{StackID: testStackID, StackName: testStack, EventID: "e",
				Timestamp: ts("2026-11-27T10:00:00.123Z"), ResourceStatus: "CREATE_COMPLETE"}},
		{"None and null mixed, stack id without its uuid",
			msg("StackId", "arn:aws:cloudformation:us-west-1:111122223333:stack/teststack", "Timestamp", "2017-12-22T18:43:48.000Z",
				"EventId", "e", "LogicalResourceId", "teststack", "Namespace", "111122223333",
				"PhysicalResourceId", "None", "PrincipalId", "null", "ResourceProperties", "None",
				"ResourceStatus", "CREATE_COMPLETE", "ResourceStatusReason", "null", "ResourceType", "AWS::CloudFormation::Stack",
				"StackName", "teststack", "ClientRequestToken", "None"),
			core.StackEvent{StackID: "arn:aws:cloudformation:us-west-1:111122223333:stack/teststack", StackName: "teststack",
				EventID: "e", Timestamp: ts("2017-12-22T18:43:48Z"), LogicalResourceID: "teststack",
				ResourceType: core.StackResourceType, ResourceStatus: "CREATE_COMPLETE"}},
		{"None is absent, not a prefix",
			msg("StackId", testStackID, "Timestamp", "2026-11-27T10:00:00.123Z", "EventId", "e",
				"ResourceStatus", "CREATE_FAILED", "ResourceStatusReason", "None of the resources were created", "StackName", testStack,
				"ClientRequestToken", "none"),
			core.StackEvent{StackID: testStackID, StackName: testStack, EventID: "e", Timestamp: ts("2026-11-27T10:00:00.123Z"),
				ResourceStatus: "CREATE_FAILED", StatusReason: "None of the resources were created", ClientRequestToken: "none"}},
		{"old key order, empty ResourceProperties, no Namespace",
			"StackName='" + testStack + "'\nStackId='" + testStackID + "'\nEventId='9afc1e30'\nLogicalResourceId='" + testStack +
				"'\nPhysicalResourceId='" + testStackID + "'\nResourceType='AWS::CloudFormation::Stack'\nTimestamp='2014-02-26T16:04:00.438Z'\nResourceStatus='CREATE_COMPLETE'\nResourceStatusReason=''\nResourceProperties=''\n",
			stackEvent("9afc1e30", "2014-02-26T16:04:00.438Z", "CREATE_COMPLETE", "", "")},
		{"unknown keys are skipped (Service Catalog, a typo)",
			msg("StackId", testStackID, "Timestamp", "2026-11-27T10:00:00.123Z", "EventId", "e",
				"LogicalResourceId", testStack, "PincipalId", "AIDA", "ResourceStatus", "CREATE_COMPLETE",
				"ResourceType", "AWS::CloudFormation::Stack", "ProductVersionId", "vers-1234", "StackName", testStack),
			core.StackEvent{StackID: testStackID, StackName: testStack, EventID: "e", LogicalResourceID: testStack,
				Timestamp: ts("2026-11-27T10:00:00.123Z"), ResourceStatus: "CREATE_COMPLETE", ResourceType: core.StackResourceType}},
		{"no final newline",
			strings.TrimSuffix(stackMsg("e", "2026-11-27T10:00:00.123Z", "CREATE_COMPLETE", "", "t"), "\n"),
			stackEvent("e", "2026-11-27T10:00:00.123Z", "CREATE_COMPLETE", "", "t")},
		{"last value holds a quote and a newline",
			msg("StackId", testStackID, "Timestamp", "2026-11-27T10:00:00Z", "EventId", "e",
				"ResourceStatus", "CREATE_FAILED", "StackName", testStack, "ResourceStatusReason", "it's\nbroken'\n"),
			core.StackEvent{StackID: testStackID, StackName: testStack, EventID: "e",
				Timestamp: ts("2026-11-27T10:00:00Z"), ResourceStatus: "CREATE_FAILED", StatusReason: "it's\nbroken'\n"}},
		{"look-alike on one line inside a value",
			msg("StackId", testStackID, "Timestamp", "2026-11-27T10:00:00.5+01:00", "EventId", "e",
				"ResourceStatus", "CREATE_FAILED", "StackName", testStack,
				"ResourceProperties", `{"Note":"StackName='evil' EventId='x'"}`,
				"ResourceStatusReason", "bad value 'x' for StackName='y'"),
			core.StackEvent{StackID: testStackID, StackName: testStack, EventID: "e",
				Timestamp: ts("2026-11-27T09:00:00.5Z"), ResourceStatus: "CREATE_FAILED", StatusReason: "bad value 'x' for StackName='y'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMessage(tt.msg)
			if err != nil {
				t.Fatalf("ParseMessage: %v", err)
			}
			if got != tt.want {
				t.Fatalf("ParseMessage:\n got %+v\nwant %+v", got, tt.want)
			}
			if got.Timestamp.Location() != time.UTC {
				t.Errorf("Timestamp in %v, want UTC", got.Timestamp.Location())
			}
		})
	}
}

func TestParseMessageStackLevel(t *testing.T) {
	e, err := ParseMessage(stackMsg("e", "2026-11-27T10:00:00.123Z", "CREATE_COMPLETE", "", testToken))
	if err != nil {
		t.Fatal(err)
	}
	if !e.StackLevel() {
		t.Error("stack event is not stack-level")
	}
	e, err = ParseMessage(resourceMsg("Bucket", "b", "AWS::S3::Bucket", "2026-11-27T10:00:00.123Z", "CREATE_COMPLETE", "", bucketProps))
	if err != nil {
		t.Fatal(err)
	}
	if e.StackLevel() {
		t.Error("resource event is stack-level")
	}
}

func TestParseMessageErrors(t *testing.T) {
	valid := stackMsg("e", "2026-11-27T10:00:00.123Z", "CREATE_COMPLETE", "", testToken)
	secret := `{"Secret":"s3cr3t-value"}`
	tests := []struct {
		name string
		msg  string
		want string // in the error text
	}{
		{"empty", "", "missing StackId, StackName, ResourceStatus, Timestamp, EventId"},
		{"not key value", "hello world", "does not start with Key='Value'"},
		{"JSON instead", `{"StackId":"x"}`, "does not start with Key='Value'"},
		{"leading newline", "\n" + valid, "does not start with Key='Value'"},
		{"unterminated value", "StackId='" + testStackID + "'\nResourceProperties='" + secret, "value of ResourceProperties has no closing quote"},
		{"unterminated first value", "StackId='" + testStackID + "\nResourceProperties='" + secret, "value of StackId has no closing quote"},
		{"missing StackId", strings.Replace(valid, "StackId='"+testStackID+"'\n", "", 1), "missing StackId"},
		{"null StackName", strings.Replace(valid, "StackName='"+testStack+"'", "StackName='null'", 1), "missing StackName"},
		{"empty status", strings.Replace(valid, "ResourceStatus='CREATE_COMPLETE'", "ResourceStatus=''", 1), "missing ResourceStatus"},
		{"no EventId", strings.Replace(valid, "EventId='e'", "EventId='null'", 1), "missing EventId"},
		{"None for every required field", strings.NewReplacer("StackId='"+testStackID+"'", "StackId='None'", "StackName='"+testStack+"'", "StackName='None'",
			"ResourceStatus='CREATE_COMPLETE'", "ResourceStatus='None'", "Timestamp='2026-11-27T10:00:00.123Z'", "Timestamp='None'",
			"EventId='e'", "EventId='None'").Replace(valid), "missing StackId, StackName, ResourceStatus, Timestamp, EventId"},
		{"no Timestamp", strings.Replace(valid, "Timestamp='2026-11-27T10:00:00.123Z'", "Timestamp='null'", 1), "missing Timestamp"},
		{"bad Timestamp", strings.Replace(valid, "2026-11-27T10:00:00.123Z", "27/11/2026 10:00", 1), "Timestamp is not an RFC 3339 time"},
		{"Timestamp out of range", strings.Replace(valid, "2026-11-27T10:00:00.123Z", "0000-01-01T00:00:00+01:00", 1), "Timestamp is not an RFC 3339 time"},
		{"repeated key", valid + "ResourceStatus='DELETE_COMPLETE'\n", "ResourceStatus appears twice"},
		{"garbage after value", strings.Replace(valid, "ResourceStatus='CREATE_COMPLETE'\n", "ResourceStatus='CREATE_COMPLETE' trailing\n", 1) + "ResourceProperties='" + secret, "has no closing quote"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMessage(tt.msg)
			if err == nil {
				t.Fatal("ParseMessage succeeded")
			}
			if !errors.Is(err, core.ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "arn:aws") {
				t.Errorf("error %q quotes the message", err)
			}
		})
	}
}

func TestFormatMessage(t *testing.T) {
	n := Notification{
		Event: core.StackEvent{
			StackID: testStackID, StackName: testStack, EventID: "Bucket-CREATE_COMPLETE-2026-11-27T10:00:25.000Z",
			Timestamp:         time.Date(2026, 11, 27, 11, 0, 25, 0, time.FixedZone("CET", 3600)),
			LogicalResourceID: "Bucket", PhysicalResourceID: "bd-demo-logs", ResourceType: "AWS::S3::Bucket",
			ResourceStatus: "CREATE_COMPLETE",
		},
		Namespace:          "123456789012",
		PrincipalID:        "AROATED2KAVBSKYSYPNVX:bucketdesk-worker",
		ResourceProperties: "{\"BucketName\":\"bd-demo-logs\"}\n",
	}
	want := "StackId='" + testStackID + "'\n" +
		"Timestamp='2026-11-27T10:00:25.000Z'\n" +
		"EventId='Bucket-CREATE_COMPLETE-2026-11-27T10:00:25.000Z'\n" +
		"LogicalResourceId='Bucket'\n" +
		"Namespace='123456789012'\n" +
		"PhysicalResourceId='bd-demo-logs'\n" +
		"PrincipalId='AROATED2KAVBSKYSYPNVX:bucketdesk-worker'\n" +
		"ResourceProperties='{\"BucketName\":\"bd-demo-logs\"}\n'\n" +
		"ResourceStatus='CREATE_COMPLETE'\n" +
		"ResourceStatusReason=''\n" +
		"ResourceType='AWS::S3::Bucket'\n" +
		"StackName='" + testStack + "'\n" +
		"ClientRequestToken='null'\n"
	if got := FormatMessage(n); got != want {
		t.Errorf("FormatMessage:\n%s\nwant:\n%s", got, want)
	}

	// Empty values: 'null', but empty quotes where CloudFormation writes them.
	got := FormatMessage(Notification{})
	want = "StackId='null'\nTimestamp='null'\nEventId='null'\nLogicalResourceId='null'\nNamespace='null'\n" +
		"PhysicalResourceId=''\nPrincipalId='null'\nResourceProperties='null'\nResourceStatus='null'\n" +
		"ResourceStatusReason=''\nResourceType='null'\nStackName='null'\nClientRequestToken='null'\n"
	if got != want {
		t.Errorf("FormatMessage of nothing:\n%s\nwant:\n%s", got, want)
	}
}

func TestFormatTime(t *testing.T) {
	for _, tt := range []struct {
		in   time.Time
		want string
	}{
		{time.Time{}, ""},
		{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "2026-01-02T03:04:05.000Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 120e6, time.UTC), "2026-01-02T03:04:05.120Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), "2026-01-02T03:04:05.123456789Z"},
		{time.Date(2026, 1, 2, 3, 4, 5, 1000, time.UTC), "2026-01-02T03:04:05.000001Z"},
	} {
		if got := formatTime(tt.in); got != tt.want {
			t.Errorf("formatTime(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// ambiguous matches what makes a formatted value unreadable: a quote, a
// newline and Key=' inside it (the value's own closing quote included).
var ambiguous = regexp.MustCompile(`'\n[A-Za-z][A-Za-z0-9]*='`)

// randomEvent returns an event with values drawn from an alphabet rich in
// the format's own characters.
func randomEvent(r *rand.Rand) core.StackEvent {
	const alphabet = "ab Z09'=\n\"{}:-_/é"
	str := func(min int) string {
		for {
			n := min + r.IntN(12)
			var b strings.Builder
			for range n {
				c := []rune(alphabet)
				b.WriteRune(c[r.IntN(len(c))])
			}
			s := b.String()
			if s != null && !ambiguous.MatchString(s+"'") {
				return s
			}
		}
	}
	at := time.Unix(r.Int64N(1<<35), 0).UTC()
	switch r.IntN(3) {
	case 0:
		at = at.Add(time.Duration(r.IntN(1000)) * time.Millisecond)
	case 1:
		at = at.Add(time.Duration(r.IntN(1e9)))
	}
	return core.StackEvent{
		StackID: str(1), StackName: str(1), EventID: str(1), Timestamp: at,
		LogicalResourceID: str(0), PhysicalResourceID: str(0), ResourceType: str(0),
		ResourceStatus: str(1), StatusReason: str(0), ClientRequestToken: str(0),
	}
}

func TestFormatParseRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		e := randomEvent(r)
		n := Notification{Event: e, Namespace: "123456789012", PrincipalID: "p"}
		if i%2 == 0 {
			n.ResourceProperties = prettyProps
		}
		text := FormatMessage(n)
		got, err := ParseMessage(text)
		if err != nil {
			t.Fatalf("ParseMessage(FormatMessage(%+v)): %v\n%s", e, err, text)
		}
		if got != e {
			t.Fatalf("round trip:\n got %+v\nwant %+v\n%s", got, e, text)
		}
	}
}
