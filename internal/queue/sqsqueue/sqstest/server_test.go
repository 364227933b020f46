package sqstest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/queue/sqsqueue/sqstest"
)

var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func newServer(t *testing.T) (*sqstest.Server, *clock.Manual, *sqs.Client) {
	t.Helper()
	clk := clock.NewManual(epoch)
	s := sqstest.NewServer(&sqstest.Options{Clock: clk})
	t.Cleanup(s.Close)
	return s, clk, s.Client()
}

func createQueue(t *testing.T, c *sqs.Client, name string, attrs map[string]string) string {
	t.Helper()
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("CreateQueue(%s): %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

// post sends a raw JSON-protocol request, signed in name only.
func post(t *testing.T, s *sqstest.Server, target, body string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20250102/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: response %q is not JSON: %v", target, raw, err)
	}
	return resp, out
}

// TestErrorShapes checks the documented error response: status, __type,
// message and x-amzn-query-error.
func TestErrorShapes(t *testing.T) {
	s, _, c := newServer(t)
	url := createQueue(t, c, "q", nil)
	missing := s.QueueURL("missing")
	for _, tc := range []struct {
		name, target, body     string
		status                 int
		typ, queryError, inMsg string
	}{
		{"QueueDoesNotExist", "AmazonSQS.SendMessage", `{"QueueUrl":"` + missing + `","MessageBody":"x"}`,
			400, "com.amazonaws.sqs#QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue;Sender", "does not exist"},
		{"UnknownTarget", "AmazonSQS.PutMessage", `{}`, 400, "com.amazonaws.sqs#InvalidAction", "InvalidAction;Sender", "PutMessage"},
		{"NoTarget", "", `{}`, 400, "com.amazonaws.sqs#InvalidAction", "InvalidAction;Sender", "not valid"},
		{"OtherService", "DynamoDB_20120810.GetItem", `{}`, 400, "com.amazonaws.sqs#InvalidAction", "InvalidAction;Sender", "GetItem"},
		{"BadJSON", "AmazonSQS.SendMessage", `{"QueueUrl":`, 400, "com.amazonaws.sqs#SerializationException", "SerializationException;Sender", "JSON"},
		{"WrongType", "AmazonSQS.ReceiveMessage", `{"QueueUrl":"` + url + `","MaxNumberOfMessages":"ten"}`,
			400, "com.amazonaws.sqs#SerializationException", "SerializationException;Sender", "MaxNumberOfMessages"},
		{"MissingQueueUrl", "AmazonSQS.ReceiveMessage", `{}`, 400, "com.amazonaws.sqs#MissingParameter", "MissingParameter;Sender", "QueueUrl"},
		{"MissingBody", "AmazonSQS.SendMessage", `{"QueueUrl":"` + url + `"}`, 400, "com.amazonaws.sqs#MissingParameter", "MissingParameter;Sender", "MessageBody"},
		{"MaxTooLarge", "AmazonSQS.ReceiveMessage", `{"QueueUrl":"` + url + `","MaxNumberOfMessages":11}`,
			400, "com.amazonaws.sqs#InvalidParameterValue", "InvalidParameterValue;Sender", "MaxNumberOfMessages"},
		{"WaitTooLong", "AmazonSQS.ReceiveMessage", `{"QueueUrl":"` + url + `","WaitTimeSeconds":21}`,
			400, "com.amazonaws.sqs#InvalidParameterValue", "InvalidParameterValue;Sender", "WaitTimeSeconds"},
		{"BadReceipt", "AmazonSQS.DeleteMessage", `{"QueueUrl":"` + url + `","ReceiptHandle":"abc"}`,
			400, "com.amazonaws.sqs#ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid;Sender", "abc"},
		{"NoVisibility", "AmazonSQS.ChangeMessageVisibility", `{"QueueUrl":"` + url + `","ReceiptHandle":"abc"}`,
			400, "com.amazonaws.sqs#MissingParameter", "MissingParameter;Sender", "VisibilityTimeout"},
		{"VisibilityTooLong", "AmazonSQS.ChangeMessageVisibility", `{"QueueUrl":"` + url + `","ReceiptHandle":"abc","VisibilityTimeout":43201}`,
			400, "com.amazonaws.sqs#InvalidParameterValue", "InvalidParameterValue;Sender", "VisibilityTimeout"},
		{"BadAttribute", "AmazonSQS.CreateQueue", `{"QueueName":"other","Attributes":{"Colour":"blue"}}`,
			400, "com.amazonaws.sqs#InvalidAttributeName", "InvalidAttributeName;Sender", "Colour"},
		{"BadName", "AmazonSQS.CreateQueue", `{"QueueName":"a b"}`,
			400, "com.amazonaws.sqs#InvalidParameterValue", "InvalidParameterValue;Sender", "alphanumeric"},
		{"NameExists", "AmazonSQS.CreateQueue", `{"QueueName":"q","Attributes":{"VisibilityTimeout":"5"}}`,
			400, "com.amazonaws.sqs#QueueNameExists", "QueueAlreadyExists;Sender", "different"},
		{"BadBody", "AmazonSQS.SendMessage", `{"QueueUrl":"` + url + `","MessageBody":"\u0001"}`,
			400, "com.amazonaws.sqs#InvalidMessageContents", "InvalidMessageContents;Sender", "Invalid characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := post(t, s, tc.target, tc.body)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if out["__type"] != tc.typ {
				t.Errorf("__type %v, want %s", out["__type"], tc.typ)
			}
			if msg, _ := out["message"].(string); !strings.Contains(msg, tc.inMsg) {
				t.Errorf("message %q does not mention %q", msg, tc.inMsg)
			}
			if got := resp.Header.Get("x-amzn-query-error"); got != tc.queryError {
				t.Errorf("x-amzn-query-error %q, want %q", got, tc.queryError)
			}
			if resp.Header.Get("x-amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId")
			}
		})
	}

	t.Run("Unsigned", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/", strings.NewReader(`{}`))
		req.Header.Set("X-Amz-Target", "AmazonSQS.ListQueues")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("unsigned request: status %d, want 403", resp.StatusCode)
		}
	})
}

// TestSDKErrors checks that the SDK turns the fake's errors into its
// modelled types, with the query codes as ErrorCode.
func TestSDKErrors(t *testing.T) {
	s, _, c := newServer(t)
	ctx := context.Background()
	_, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("missing")})
	var qdne *types.QueueDoesNotExist
	if !errors.As(err, &qdne) || qdne.ErrorCode() != "AWS.SimpleQueueService.NonExistentQueue" {
		t.Fatalf("GetQueueUrl(missing): %v, want QueueDoesNotExist", err)
	}
	url := createQueue(t, c, "q", nil)
	_, err = c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: aws.String("nope")})
	var rhi *types.ReceiptHandleIsInvalid
	if !errors.As(err, &rhi) {
		t.Fatalf("DeleteMessage(bad handle): %v, want ReceiptHandleIsInvalid", err)
	}
	s.FailNext("", 1, sqstest.RequestThrottled)
	_, err = c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("q")})
	var rt *types.RequestThrottled
	if !errors.As(err, &rt) {
		t.Fatalf("GetQueueUrl with RequestThrottled injected: %v", err)
	}
	s.FailNext("GetQueueUrl", 1, sqstest.InternalError)
	_, err = c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("q")})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InternalError" || api.ErrorFault() != smithy.FaultServer {
		t.Fatalf("GetQueueUrl with InternalError injected: %v, want a server fault", err)
	}
	if out, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("q")}); err != nil || aws.ToString(out.QueueUrl) != url {
		t.Fatalf("GetQueueUrl after the faults = %v, %v; want %s", out, err, url)
	}
}

func TestCreateQueueIdempotentAndAttributes(t *testing.T) {
	s, clk, c := newServer(t)
	ctx := context.Background()
	createQueue(t, c, "dlq", nil)
	attrs := map[string]string{
		"VisibilityTimeout": "10",
		"DelaySeconds":      "5",
		"RedrivePolicy":     `{"deadLetterTargetArn":"` + s.QueueARN("dlq") + `","maxReceiveCount":2}`,
	}
	url := createQueue(t, c, "q", attrs)
	if again := createQueue(t, c, "q", attrs); again != url {
		t.Fatalf("CreateQueue again = %s, want %s", again, url)
	}
	_, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("r"),
		Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:nope","maxReceiveCount":2}`}})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidParameterValue" {
		t.Fatalf("CreateQueue with a missing dead-letter target: %v", err)
	}

	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("hello")}); err != nil {
		t.Fatal(err)
	}
	get := func() map[string]string {
		out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll}})
		if err != nil {
			t.Fatal(err)
		}
		return out.Attributes
	}
	a := get()
	if a["VisibilityTimeout"] != "10" || a["DelaySeconds"] != "5" || a["QueueArn"] != s.QueueARN("q") ||
		a["ApproximateNumberOfMessagesDelayed"] != "1" || !strings.Contains(a["RedrivePolicy"], `"maxReceiveCount":2`) {
		t.Fatalf("attributes = %v", a)
	}
	clk.Advance(5 * time.Second)
	if a := get(); a["ApproximateNumberOfMessages"] != "1" || a["ApproximateNumberOfMessagesDelayed"] != "0" {
		t.Fatalf("after the delay: %v", a)
	}
}

func TestReceiveAttributesAndRedrive(t *testing.T) {
	s, clk, c := newServer(t)
	ctx := context.Background()
	createQueue(t, c, "dlq", nil)
	url := createQueue(t, c, "q", map[string]string{
		"VisibilityTimeout": "10",
		"RedrivePolicy":     `{"deadLetterTargetArn":"` + s.QueueARN("dlq") + `","maxReceiveCount":"2"}`,
	})
	sent, err := c.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: []types.SendMessageBatchRequestEntry{
		{Id: aws.String("a"), MessageBody: aws.String("first")},
		{Id: aws.String("b"), MessageBody: aws.String("second"), DelaySeconds: 30},
	}})
	if err != nil || len(sent.Successful) != 2 || len(sent.Failed) != 0 {
		t.Fatalf("SendMessageBatch = %+v, %v", sent, err)
	}
	receive := func() []types.Message {
		t.Helper()
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{
				types.MessageSystemAttributeNameApproximateReceiveCount, types.MessageSystemAttributeNameSentTimestamp}})
		if err != nil {
			t.Fatal(err) // the SDK has checked MD5OfBody
		}
		return out.Messages
	}
	ms := receive()
	if len(ms) != 1 || aws.ToString(ms[0].Body) != "first" || ms[0].Attributes["ApproximateReceiveCount"] != "1" ||
		ms[0].Attributes["SentTimestamp"] != "1735787045000" {
		t.Fatalf("first receive = %+v", ms)
	}
	if _, ok := ms[0].Attributes["SenderId"]; ok {
		t.Fatal("an attribute that was not asked for was returned")
	}
	clk.Advance(10 * time.Second)
	if ms := receive(); len(ms) != 1 || ms[0].Attributes["ApproximateReceiveCount"] != "2" {
		t.Fatalf("second receive = %+v", ms)
	}
	clk.Advance(20 * time.Second)
	// "first" has been received maxReceiveCount times: it moves to the
	// dead-letter queue instead; "second" is due now.
	ms = receive()
	if len(ms) != 1 || aws.ToString(ms[0].Body) != "second" {
		t.Fatalf("third receive = %+v, want only second", ms)
	}
	dead := s.Messages("dlq")
	if len(dead) != 1 || dead[0].Body != "first" || dead[0].ID != aws.ToString(sent.Successful[0].MessageId) {
		t.Fatalf("dead letters = %+v", dead)
	}
}

// TestLongPollWakesOnVisibility: a waiting ReceiveMessage returns the
// message whose visibility timeout ends during the wait.
func TestLongPollWakesOnVisibility(t *testing.T) {
	_, clk, c := newServer(t)
	ctx := context.Background()
	url := createQueue(t, c, "q", map[string]string{"VisibilityTimeout": "10"})
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("m")}); err != nil {
		t.Fatal(err)
	}
	if out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url)}); err != nil || len(out.Messages) != 1 {
		t.Fatalf("first receive = %v, %v", out, err)
	}
	got := make(chan int, 1)
	go func() {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 20})
		if err != nil {
			t.Error(err)
		}
		got <- len(out.Messages)
	}()
	clk.BlockUntil(2) // the wait and the message's visibility deadline
	clk.Advance(10 * time.Second)
	if n := <-got; n != 1 {
		t.Fatalf("long poll returned %d messages, want the message whose timeout ended", n)
	}
}
