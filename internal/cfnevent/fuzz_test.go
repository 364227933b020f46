package cfnevent

import (
	"testing"
)

// FuzzParseMessage checks that ParseMessage never panics and that what it
// reads survives FormatMessage: formatting a parsed event and parsing it
// again gives the same event.
func FuzzParseMessage(f *testing.F) {
	const bucket = "AWS::S3::Bucket"
	for _, s := range []string{
		stackMsg("48286210-f1b9-11e8-96f5-503ac9ec2461", "2026-11-27T10:00:00.123Z", "CREATE_IN_PROGRESS", "User Initiated", testToken),
		stackMsg("e", "2026-11-30T12:00:02.000Z", "DELETE_COMPLETE", "", "null"),
		resourceMsg("Bucket", "", bucket, "2026-11-27T10:00:02.001Z", "CREATE_IN_PROGRESS", "", bucketProps),
		resourceMsg("Bucket", "bd-demo-logs", bucket, "2026-11-27T10:00:25.000Z", "CREATE_COMPLETE", "", prettyProps),
		resourceMsg("Policy", "p", "AWS::S3::BucketPolicy", "2026-11-28T09:00:04.120Z", "UPDATE_FAILED", "invalid resource 'arn:aws:s3:::x'", "{\"Bucket\":\"b\"}\n"),
		msg("StackId", "s", "Timestamp", "2026-11-27T10:00:00.5+01:00", "EventId", "e", "LogicalResourceId", "null",
			"Namespace", "null", "PhysicalResourceId", "null", "PrincipalId", "null", "ResourceProperties", "null",
			"ResourceStatus", "CREATE_FAILED", "ResourceStatusReason", "it's\nbroken'\n", "ResourceType", "null",
			"StackName", "n", "ProductVersionId", "vers-1", "ClientRequestToken", "null"),
		msg("StackId", "arn:aws:cloudformation:us-west-1:111122223333:stack/teststack", "Timestamp", "2017-12-22T18:43:48Z",
			"EventId", "e", "LogicalResourceId", "None", "PhysicalResourceId", "None", "ResourceStatus", "CREATE_COMPLETE",
			"ResourceStatusReason", "None", "StackName", "teststack", "ClientRequestToken", "None"),
		"StackName='s'\nStackId='i'\nEventId='e'\nTimestamp='2014-02-26T16:04:00.438Z'\nResourceStatus='CREATE_COMPLETE'\nResourceProperties=''",
		"StackId='x'\nStackId='y'\n",
		"StackId='unterminated\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := ParseMessage(in)
		if err != nil {
			return
		}
		text := FormatMessage(Notification{Event: e, Namespace: "123456789012", PrincipalID: "p", ResourceProperties: prettyProps})
		again, err := ParseMessage(text)
		if err != nil {
			t.Fatalf("ParseMessage of the formatted %+v: %v\n%s", e, err, text)
		}
		if again != e {
			t.Fatalf("format and parse again:\n got %+v\nwant %+v\n%s", again, e, text)
		}
	})
}
