package cfnevent

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/core"
)

const testTopic = "arn:aws:sns:eu-west-1:123456789012:bucketdesk-stack-events"

// realHTTPBody is an SNS HTTP notification as SNS sends it: the layout of
// the SNS documentation, the message of a CloudFormation stack event.
const realHTTPBody = `{
  "Type" : "Notification",
  "MessageId" : "ac3de2f1-e1a7-5875-bf0a-b2a8d1d8fe1e",
  "TopicArn" : "arn:aws:sns:eu-west-1:123456789012:bucketdesk-stack-events",
  "Subject" : "AWS CloudFormation Notification",
  "Message" : "StackId='arn:aws:cloudformation:eu-west-1:123456789012:stack/bd-demo-bucket-logs/0cc76cc0-f1b9-11e8-b3db-0a473bf201de'\nTimestamp='2026-11-27T10:00:25.159Z'\nEventId='Bucket-CREATE_COMPLETE-2026-11-27T10:00:25.159Z'\nLogicalResourceId='Bucket'\nNamespace='123456789012'\nPhysicalResourceId='bd-demo-logs'\nPrincipalId='AROATED2KAVBSKYSYPNVX:bucketdesk-worker'\nResourceProperties='{\"BucketName\":\"bd-demo-logs\",\"Tags\":[{\"Value\":\"it's\",\"Key\":\"a=b\"}]}\n'\nResourceStatus='CREATE_COMPLETE'\nResourceStatusReason=''\nResourceType='AWS::S3::Bucket'\nStackName='bd-demo-bucket-logs'\nClientRequestToken='01JDX3Q7ZK8M2V4N6P8R0T2W4Y'\n",
  "Timestamp" : "2026-11-27T10:00:25.198Z",
  "SignatureVersion" : "1",
  "Signature" : "KeVdbQ8zc+7SMxN0DZZXuhvyUQYMaF9CB0rQL5E3dSFpN2CybOh2hY+L+CeDwy9ixoXvQk1Uv0vyvbgg0QYCiqGjii7ANxDdSQsTxV+s+0L3atHh8silnFn5AYkRB1jplflm66i/lJoV5Y3OZ+rdXzSgbBZjvLSPoK1QuWnTocw9BeZetAJgzj7cytSlTcBfnK0Mla9+ias2YF0YlGYp0cGB89rg7jCMd6cXwe4fgmgCC0YvtPK09tc2blGVtPKB4tuHa7fi3Yf3TWzlLJBlP7kY==",
  "SigningCertURL" : "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-b95095beb82e8f6a046b3aafc7f4149a.pem",
  "UnsubscribeURL" : "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:eu-west-1:123456789012:bucketdesk-stack-events:d4625af1-126c-4fce-a812-834d59c7d854"
}`

// realLambdaRecord is one record of the SNS event Lambda receives.
const realLambdaRecord = `{
  "EventSource": "aws:sns",
  "EventVersion": "1.0",
  "EventSubscriptionArn": "arn:aws:sns:eu-west-1:123456789012:bucketdesk-stack-events:d4625af1-126c-4fce-a812-834d59c7d854",
  "Sns": {
    "Type": "Notification",
    "MessageId": "5a4a2443-a2ed-55b2-b58b-7035fa52062e",
    "TopicArn": "arn:aws:sns:eu-west-1:123456789012:bucketdesk-stack-events",
    "Subject": "AWS CloudFormation Notification",
    "Message": "StackId='arn:aws:cloudformation:eu-west-1:123456789012:stack/bd-demo-bucket-logs/0cc76cc0-f1b9-11e8-b3db-0a473bf201de'\nTimestamp='2026-11-27T10:00:26.640Z'\nEventId='48286210-f1b9-11e8-96f5-503ac9ec2461'\nLogicalResourceId='bd-demo-bucket-logs'\nNamespace='123456789012'\nPhysicalResourceId='arn:aws:cloudformation:eu-west-1:123456789012:stack/bd-demo-bucket-logs/0cc76cc0-f1b9-11e8-b3db-0a473bf201de'\nPrincipalId='AROATED2KAVBSKYSYPNVX:bucketdesk-worker'\nResourceProperties='null'\nResourceStatus='CREATE_COMPLETE'\nResourceStatusReason=''\nResourceType='AWS::CloudFormation::Stack'\nStackName='bd-demo-bucket-logs'\nClientRequestToken='01JDX3Q7ZK8M2V4N6P8R0T2W4Y'\n",
    "Timestamp": "2026-11-27T10:00:26.671Z",
    "SignatureVersion": "1",
    "Signature": "JPUnYOXqUMODdKdeqqfuq68rKd5==",
    "SigningCertUrl": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-b95095beb82e8f6a046b3aafc7f4149a.pem",
    "UnsubscribeUrl": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:eu-west-1:123456789012:bucketdesk-stack-events:d4625af1-126c-4fce-a812-834d59c7d854",
    "MessageAttributes": {}
  }
}`

func TestParseSNS(t *testing.T) {
	tests := []struct {
		name string
		body string
		want core.StackEvent
	}{
		{"HTTP notification", realHTTPBody,
			resourceEvent("Bucket", "bd-demo-logs", "AWS::S3::Bucket", "2026-11-27T10:00:25.159Z", "CREATE_COMPLETE", "")},
		{"Lambda record", realLambdaRecord,
			stackEvent("48286210-f1b9-11e8-96f5-503ac9ec2461", "2026-11-27T10:00:26.640Z", "CREATE_COMPLETE", "", testToken)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSNS([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ParseSNS:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}

	// The Lambda record's Sns object alone is the envelope too.
	var rec struct{ Sns json.RawMessage }
	if err := json.Unmarshal([]byte(realLambdaRecord), &rec); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseSNS(rec.Sns); err != nil {
		t.Errorf("ParseSNS(Lambda Sns object): %v", err)
	}
}

func TestParseSNSErrors(t *testing.T) {
	env := func(typ, message string) string {
		b, _ := json.Marshal(map[string]any{"Type": typ, "Message": message, "MessageId": "m"})
		return string(b)
	}
	secret := "ResourceProperties='{\"Password\":\"s3cr3t\"}'\n"
	tests := []struct {
		name string
		body string
		want string
	}{
		{"empty", "", "not a JSON object"},
		{"not JSON", "StackId='x'", "not a JSON object"},
		{"array", "[]", "not a JSON object"},
		{"no Type", `{"Message":"x"}`, "has no Type"},
		{"subscription confirmation", env("SubscriptionConfirmation", "You have chosen to subscribe"), `Type "SubscriptionConfirmation", not "Notification"`},
		{"no Message", `{"Type":"Notification"}`, "has no Message"},
		{"Lambda record without message", `{"EventSource":"aws:sns","Sns":{"Type":"Notification"}}`, "has no Message"},
		{"message of another kind", env("Notification", "hello"), "does not start with Key='Value'"},
		{"message missing fields", env("Notification", secret), "missing StackId, StackName, ResourceStatus, Timestamp, EventId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSNS([]byte(tt.body))
			if err == nil {
				t.Fatal("ParseSNS succeeded")
			}
			if !errors.Is(err, core.ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error %q quotes the message", err)
			}
		})
	}
}

func TestFormatSNS(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 0, 25, 198e6, time.UTC)
	n := Notification{
		Event:              resourceEvent("Bucket", "bd-demo-logs", "AWS::S3::Bucket", "2026-11-27T10:00:25.159Z", "CREATE_COMPLETE", ""),
		Namespace:          "123456789012",
		PrincipalID:        "AROATED2KAVBSKYSYPNVX:bucketdesk-worker",
		ResourceProperties: "{\"BucketName\":\"bd-demo-logs\",\"Tags\":[{\"Value\":\"it's\",\"Key\":\"a=b\"}]}\n",
	}
	b, err := FormatSNS(n, testTopic, "ac3de2f1-e1a7-5875-bf0a-b2a8d1d8fe1e", at)
	if err != nil {
		t.Fatal(err)
	}
	// The layout and every field but the signature and the two URLs'
	// derived parts are those of the real notification.
	norm := regexp.MustCompile(`("Signature" : ")[^"]*|(SimpleNotificationService-)[0-9a-f]{32}|(bucketdesk-stack-events:)[0-9a-f-]{36}`)
	strip := func(s string) string { return norm.ReplaceAllString(s, "$1$2$3") }
	if got, want := strip(string(b)), strip(realHTTPBody); got != want {
		t.Errorf("FormatSNS:\n%s\nwant:\n%s", got, want)
	}

	var env map[string]string
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("FormatSNS wrote no JSON object of strings: %v", err)
	}
	if sig := env["Signature"]; len(sig) != 344 {
		t.Errorf("Signature has %d characters, want 344 like an RSA-2048 signature", len(sig))
	}
	if !regexp.MustCompile(`^https://sns\.eu-west-1\.amazonaws\.com/SimpleNotificationService-[0-9a-f]{32}\.pem$`).MatchString(env["SigningCertURL"]) {
		t.Errorf("SigningCertURL = %q", env["SigningCertURL"])
	}
	if !regexp.MustCompile(`^https://sns\.eu-west-1\.amazonaws\.com/\?Action=Unsubscribe&SubscriptionArn=` +
		regexp.QuoteMeta(testTopic) + `:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(env["UnsubscribeURL"]) {
		t.Errorf("UnsubscribeURL = %q", env["UnsubscribeURL"])
	}
	if env["Message"] != FormatMessage(n) {
		t.Errorf("Message is not FormatMessage's")
	}

	again, _ := FormatSNS(n, testTopic, "ac3de2f1-e1a7-5875-bf0a-b2a8d1d8fe1e", at)
	if string(again) != string(b) {
		t.Error("FormatSNS is not deterministic")
	}
	cn, err := FormatSNS(n, "arn:aws-cn:sns:cn-north-1:123456789012:t", "m", at)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cn), `"https://sns.cn-north-1.amazonaws.com.cn/`) {
		t.Errorf("China partition URLs: %s", cn)
	}
}

func TestFormatSNSErrors(t *testing.T) {
	good := Notification{Event: stackEvent("e", "2026-11-27T10:00:00.123Z", "CREATE_COMPLETE", "", "")}
	noStatus := good
	noStatus.Event.ResourceStatus = ""
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name, topic, id string
		n               Notification
		want            string
	}{
		{"topic not an ARN", "bucketdesk-stack-events", "m", good, "topic ARN is malformed"},
		{"topic of SQS", "arn:aws:sqs:eu-west-1:123456789012:q", "m", good, "topic ARN is malformed"},
		{"topic without region", "arn:aws:sns::123456789012:t", "m", good, "topic ARN is malformed"},
		{"no message id", testTopic, "", good, "message id is empty"},
		{"no status", testTopic, "m", noStatus, "missing ResourceStatus"},
		{"nothing", testTopic, "m", Notification{}, "missing StackId, StackName, ResourceStatus, Timestamp, EventId"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FormatSNS(tt.n, tt.topic, tt.id, at)
			if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("FormatSNS: %v, want ErrInvalid saying %q", err, tt.want)
			}
		})
	}
}

func TestFormatSNSParseSNSRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for range 2000 {
		e := randomEvent(r)
		b, err := FormatSNS(Notification{Event: e, Namespace: "123456789012", ResourceProperties: prettyProps}, testTopic, "m", at)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseSNS(b)
		if err != nil {
			t.Fatalf("ParseSNS(FormatSNS(%+v)): %v", e, err)
		}
		if got != e {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, e)
		}
	}
}

func BenchmarkParseSNS(b *testing.B) {
	for _, bm := range []struct{ name, body string }{
		{"stack", realLambdaRecord},
		{"resource", realHTTPBody},
	} {
		b.Run(bm.name, func(b *testing.B) {
			body := []byte(bm.body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseSNS(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
