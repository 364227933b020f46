package sqsqueue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"bucketdesk/internal/core"
	"bucketdesk/internal/queue/sqsqueue"
)

// lambdaEvent receives up to 10 messages as Lambda's SQS poller does and
// returns them as the JSON payload Lambda hands to the function.
func lambdaEvent(t *testing.T, f *fixture) (string, []types.Message) {
	t.Helper()
	out, err := f.client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(f.url),
		MaxNumberOfMessages:         10,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil {
		t.Fatalf("ReceiveMessage: %v", err)
	}
	type record struct {
		MessageID              string            `json:"messageId"`
		ReceiptHandle          string            `json:"receiptHandle"`
		Body                   string            `json:"body"`
		Attributes             map[string]string `json:"attributes"`
		MessageAttributes      map[string]any    `json:"messageAttributes"`
		MD5OfBody              string            `json:"md5OfBody"`
		MD5OfMessageAttributes *string           `json:"md5OfMessageAttributes"`
		EventSource            string            `json:"eventSource"`
		EventSourceARN         string            `json:"eventSourceARN"`
		AWSRegion              string            `json:"awsRegion"`
	}
	var recs []record
	for _, m := range out.Messages {
		recs = append(recs, record{
			MessageID: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
			Attributes: m.Attributes, MessageAttributes: map[string]any{}, MD5OfBody: aws.ToString(m.MD5OfBody),
			EventSource: "aws:sqs", EventSourceARN: f.srv.QueueARN(jobsQueue), AWSRegion: "us-east-1",
		})
	}
	payload, err := json.MarshalIndent(map[string]any{"Records": recs}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(payload), out.Messages
}

func decodeEvent(t *testing.T, payload string) events.SQSEvent {
	t.Helper()
	var ev events.SQSEvent
	if err := json.Unmarshal([]byte(payload), &ev); err != nil {
		t.Fatalf("decoding the Lambda payload: %v", err)
	}
	return ev
}

func TestHandler(t *testing.T) {
	ctx := context.Background()
	const visibility, delay = 30 * time.Second, 45 * time.Second
	f := newFixture(t, visibility, 5, nil)
	okJob, retryJob, failJob := job(1), job(2), job(3)
	for _, j := range []core.Job{okJob, retryJob, failJob} {
		if err := f.q.Enqueue(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(f.url), MessageBody: aws.String("not a job")}); err != nil {
		t.Fatal(err)
	}
	payload, msgs := lambdaEvent(t, f)
	if len(msgs) != 4 {
		t.Fatalf("received %d messages, want 4", len(msgs))
	}
	ids := map[string]string{} // operation id or body → message id
	receipts := map[string]string{}
	for _, m := range msgs {
		key := aws.ToString(m.Body)
		var j core.Job
		if json.Unmarshal([]byte(key), &j) == nil {
			key = j.OperationID
		}
		ids[key] = aws.ToString(m.MessageId)
		receipts[key] = aws.ToString(m.ReceiptHandle)
	}

	var mu sync.Mutex
	seen := map[string]core.Delivery{}
	handle := func(ctx context.Context, d core.Delivery) error {
		mu.Lock()
		seen[d.Job.OperationID] = d
		mu.Unlock()
		switch d.Job.OperationID {
		case retryJob.OperationID:
			return fmt.Errorf("worker: %w", &core.RetryAfterError{Wait: delay, Err: core.ErrThrottled})
		case failJob.OperationID:
			return errors.New("boom")
		}
		return nil
	}
	resp, err := f.q.Handler(handle)(ctx, decodeEvent(t, payload))
	if err != nil {
		t.Fatalf("handler: %v", err)
	}

	if len(seen) != 3 {
		t.Fatalf("handle called for %d jobs, want 3 (not for the body that is no job)", len(seen))
	}
	for op, d := range seen {
		if d.Attempt != 1 || d.Receipt != receipts[op] {
			t.Errorf("delivery of %s = attempt %d receipt %q; want attempt 1 and the record's receipt handle", op, d.Attempt, d.Receipt)
		}
	}

	// The partial batch response, as Lambda reads it.
	got, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, m := range msgs { // in record order
		if id := aws.ToString(m.MessageId); id != ids[okJob.OperationID] {
			want = append(want, fmt.Sprintf(`{"itemIdentifier":%q}`, id))
		}
	}
	if w := `{"batchItemFailures":[` + strings.Join(want, ",") + `]}`; string(got) != w {
		t.Fatalf("response = %s\nwant       %s", got, w)
	}

	// Lambda deletes the records that succeeded.
	if _, err := f.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(f.url), ReceiptHandle: aws.String(receipts[okJob.OperationID])}); err != nil {
		t.Fatalf("deleting the succeeded record: %v", err)
	}
	// The plain failure and the bad body come back after the queue's
	// visibility timeout; the retry after its own delay.
	f.clk.Advance(visibility)
	if ds := receiveAll(t, f.q); !sameJobs(ds, failJob) {
		t.Fatalf("after the visibility timeout: %+v, want only %s", ds, failJob.OperationID)
	}
	f.clk.Advance(delay - visibility - time.Second)
	if ds := receiveAll(t, f.q); len(ds) != 0 {
		t.Fatalf("before the retry delay: %+v, want none", ds)
	}
	f.clk.Advance(time.Second)
	ds := receiveAll(t, f.q)
	if !sameJobs(ds, retryJob) || ds[0].Attempt != 2 {
		t.Fatalf("after the retry delay: %+v, want %s at attempt 2", ds, retryJob.OperationID)
	}
}

func receiveAll(t *testing.T, q *sqsqueue.Queue) []core.Delivery {
	t.Helper()
	ds, err := q.Receive(context.Background(), 10, 0)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return ds
}

func sameJobs(ds []core.Delivery, jobs ...core.Job) bool {
	if len(ds) != len(jobs) {
		return false
	}
	for i := range ds {
		if ds[i].Job != jobs[i] {
			return false
		}
	}
	return true
}

func TestHandlerEmptyBatch(t *testing.T) {
	f := newFixture(t, 30*time.Second, 3, nil)
	resp, err := f.q.Handler(func(context.Context, core.Delivery) error { return nil })(context.Background(), events.SQSEvent{})
	if err != nil {
		t.Fatal(err)
	}
	// An empty list, not null: Lambda reads null as a malformed response.
	if got, _ := json.Marshal(resp); string(got) != `{"batchItemFailures":[]}` {
		t.Fatalf("response = %s", got)
	}
}

// TestHandlerConcurrency checks that records are handled concurrently and
// never more than Options.Concurrency at once.
func TestHandlerConcurrency(t *testing.T) {
	const bound, records = 2, 7
	f := newFixture(t, 30*time.Second, 3, &sqsqueue.Options{Concurrency: bound})
	var ev events.SQSEvent
	for i := range records {
		body, _ := json.Marshal(job(i))
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: fmt.Sprintf("m%d", i), ReceiptHandle: fmt.Sprintf("r%d", i), Body: string(body),
			Attributes: map[string]string{"ApproximateReceiveCount": "3"},
		})
	}
	var (
		mu            sync.Mutex
		inFlight, top int
		// The first bound records wait for one another: with less
		// concurrency than the bound they would never all arrive.
		arrived = make(chan struct{}, bound)
		all     = make(chan struct{})
		once    sync.Once
	)
	handle := func(ctx context.Context, d core.Delivery) error {
		mu.Lock()
		inFlight++
		top = max(top, inFlight)
		mu.Unlock()
		defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
		if d.Attempt != 3 {
			return fmt.Errorf("attempt %d, want 3", d.Attempt)
		}
		select {
		case arrived <- struct{}{}:
			if len(arrived) == bound {
				once.Do(func() { close(all) })
			}
			select {
			case <-all:
			case <-time.After(time.Minute): // only turns a deadlock into a failure
				return errors.New("the other records never started")
			}
		default:
		}
		return nil
	}
	resp, err := f.q.Handler(handle)(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handler = %+v, %v; want no failures", resp, err)
	}
	if top > bound {
		t.Fatalf("%d records handled at once, bound %d", top, bound)
	}
}

func TestHandlerCanceled(t *testing.T) {
	f := newFixture(t, 30*time.Second, 3, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	body, _ := json.Marshal(job(1))
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", ReceiptHandle: "r1", Body: string(body)}}}
	called := false
	resp, err := f.q.Handler(func(context.Context, core.Delivery) error { called = true; return nil })(ctx, ev)
	if err != nil || called || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m1" {
		t.Fatalf("handler out of time = %+v, %v, called %v; want m1 failed and not handled", resp, err, called)
	}
}
