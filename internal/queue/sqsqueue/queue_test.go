package sqsqueue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/core"
	"bucketdesk/internal/core/porttest"
	"bucketdesk/internal/queue/sqsqueue"
	"bucketdesk/internal/queue/sqsqueue/sqstest"
)

var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// fixture is a fake SQS on a manual clock with a job queue and its
// dead-letter queue, created through the SDK as the deploy template would.
type fixture struct {
	srv    *sqstest.Server
	clk    *clock.Manual
	client *sqs.Client
	url    string
	q      *sqsqueue.Queue
}

const (
	jobsQueue = "jobs"
	deadQueue = "jobs-dlq"
)

func newFixture(t *testing.T, visibility time.Duration, maxAttempts int, opts *sqsqueue.Options) *fixture {
	t.Helper()
	clk := clock.NewManual(epoch)
	srv := sqstest.NewServer(&sqstest.Options{Clock: clk})
	t.Cleanup(srv.Close)
	client := srv.Client()
	ctx := context.Background()
	if _, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(deadQueue)}); err != nil {
		t.Fatalf("CreateQueue(%s): %v", deadQueue, err)
	}
	redrive, _ := json.Marshal(map[string]any{
		"deadLetterTargetArn": srv.QueueARN(deadQueue),
		"maxReceiveCount":     strconv.Itoa(maxAttempts),
	})
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String(jobsQueue),
		Attributes: map[string]string{
			"VisibilityTimeout": strconv.Itoa(int(visibility / time.Second)),
			"RedrivePolicy":     string(redrive),
		},
	})
	if err != nil {
		t.Fatalf("CreateQueue(%s): %v", jobsQueue, err)
	}
	url := aws.ToString(out.QueueUrl)
	return &fixture{srv: srv, clk: clk, client: client, url: url, q: sqsqueue.New(client, url, opts)}
}

func (f *fixture) deadLetters(t *testing.T) []core.Job {
	t.Helper()
	var jobs []core.Job
	for _, m := range f.srv.Messages(deadQueue) {
		var j core.Job
		if err := json.Unmarshal([]byte(m.Body), &j); err != nil {
			t.Fatalf("dead letter %s: %v", m.ID, err)
		}
		jobs = append(jobs, j)
	}
	return jobs
}

func TestConformance(t *testing.T) {
	porttest.RunQueueTests(t, func(t *testing.T, opts porttest.QueueOptions) porttest.QueueHarness {
		f := newFixture(t, opts.Visibility, opts.MaxAttempts, nil)
		return porttest.QueueHarness{
			Queue:       f.q,
			Advance:     f.clk.Advance,
			DeadLetters: func() []core.Job { return f.deadLetters(t) },
			BlockUntil:  f.clk.BlockUntil,
		}
	})
}

func job(i int) core.Job {
	return core.Job{OperationID: fmt.Sprintf("01JOP%04d", i), Project: "demo", StackName: fmt.Sprintf("bd-demo-bucket-b%d", i)}
}

func TestErrorMapping(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 30*time.Second, 3, nil)

	for _, tc := range []struct {
		name   string
		inject sqstest.Error
		want   error
	}{
		{"ThrottlingException", sqstest.ThrottlingException, core.ErrThrottled},
		{"RequestThrottled", sqstest.RequestThrottled, core.ErrThrottled},
		{"InternalError", sqstest.InternalError, core.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.srv.FailNext("SendMessage", 1, tc.inject)
			err := f.q.Enqueue(ctx, job(1))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Enqueue with %s injected: %v, want %v", tc.name, err, tc.want)
			}
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != tc.inject.Code {
				t.Fatalf("Enqueue error %v does not keep the SDK's error with code %s", err, tc.inject.Code)
			}
			f.srv.FailNext("ReceiveMessage", 1, tc.inject)
			if _, err := f.q.Receive(ctx, 1, 0); !errors.Is(err, tc.want) {
				t.Fatalf("Receive with %s injected: %v, want %v", tc.name, err, tc.want)
			}
		})
	}
	if ds, err := f.q.Receive(ctx, 10, 0); err != nil || len(ds) != 0 {
		t.Fatalf("Receive after failed Enqueues = %+v, %v; want nothing stored", ds, err)
	}

	t.Run("QueueDoesNotExist", func(t *testing.T) {
		gone := sqsqueue.New(f.client, f.srv.QueueURL("no-such-queue"), nil)
		err := gone.Enqueue(ctx, job(1))
		if !errors.Is(err, core.ErrUnavailable) {
			t.Fatalf("Enqueue to a missing queue: %v, want ErrUnavailable", err)
		}
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "AWS.SimpleQueueService.NonExistentQueue" {
			t.Fatalf("Enqueue to a missing queue: %v, want the query code of QueueDoesNotExist", err)
		}
	})
	t.Run("MalformedReceipt", func(t *testing.T) {
		if err := f.q.Ack(ctx, "not-a-receipt"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("Ack of a malformed receipt: %v, want ErrNotFound", err)
		}
		if err := f.q.Retry(ctx, "not-a-receipt", time.Second); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("Retry of a malformed receipt: %v, want ErrNotFound", err)
		}
	})
	t.Run("AckedReceipt", func(t *testing.T) {
		if err := f.q.Enqueue(ctx, job(2)); err != nil {
			t.Fatal(err)
		}
		ds, err := f.q.Receive(ctx, 1, 0)
		if err != nil || len(ds) != 1 {
			t.Fatalf("Receive = %+v, %v", ds, err)
		}
		if err := f.q.Ack(ctx, ds[0].Receipt); err != nil {
			t.Fatal(err)
		}
		// Real SQS may answer a second delete with success; the fake
		// answers with the documented ReceiptHandleIsInvalid.
		if err := f.q.Ack(ctx, ds[0].Receipt); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("second Ack: %v, want ErrNotFound", err)
		}
	})
	t.Run("NotInflight", func(t *testing.T) {
		if err := f.q.Enqueue(ctx, job(3)); err != nil {
			t.Fatal(err)
		}
		ds, err := f.q.Receive(ctx, 1, 0)
		if err != nil || len(ds) != 1 {
			t.Fatalf("Receive = %+v, %v", ds, err)
		}
		f.clk.Advance(30 * time.Second)
		// Visible again but not received again: SQS answers
		// MessageNotInflight; the receipt no longer holds the job.
		if err := f.q.Retry(ctx, ds[0].Receipt, time.Second); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("Retry after the visibility timeout: %v, want ErrNotFound", err)
		}
		if err := f.q.Ack(ctx, ds[0].Receipt); err != nil {
			t.Fatalf("Ack by the latest receipt after the visibility timeout: %v (SQS deletes it)", err)
		}
	})
	t.Run("RealSQSStaleVisibilityChange", func(t *testing.T) {
		// What SQS itself answers to ChangeMessageVisibility with a receipt
		// handle whose message was deleted or received again.
		f.srv.FailNext("ChangeMessageVisibility", 1, sqstest.Error{Status: 400, Code: "InvalidParameterValue",
			Message: "Value AQEB for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."})
		if err := f.q.Retry(ctx, "AQEB", time.Second); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("Retry answered InvalidParameterValue on the receipt handle: %v, want ErrNotFound", err)
		}
		f.srv.FailNext("ChangeMessageVisibility", 1, sqstest.Error{Status: 400, Code: "InvalidParameterValue",
			Message: "Value 50000 for parameter VisibilityTimeout is invalid."})
		if err := f.q.Retry(ctx, "AQEB", time.Second); !errors.Is(err, core.ErrUnavailable) {
			t.Fatalf("Retry answered another InvalidParameterValue: %v, want ErrUnavailable", err)
		}
	})
	t.Run("OverLimit", func(t *testing.T) {
		f.srv.FailNext("ReceiveMessage", 1, sqstest.Error{Status: 403, Code: "OverLimit",
			Message: "The maximum number of in flight messages is reached"})
		if _, err := f.q.Receive(ctx, 1, 0); !errors.Is(err, core.ErrThrottled) {
			t.Fatalf("Receive answered OverLimit: %v, want ErrThrottled", err)
		}
	})
	t.Run("ServerDown", func(t *testing.T) {
		down := sqstest.NewServer(nil)
		client, url := down.Client(), down.QueueURL(jobsQueue)
		down.Close()
		err := sqsqueue.New(client, url, nil).Enqueue(ctx, job(4))
		if !errors.Is(err, core.ErrUnavailable) {
			t.Fatalf("Enqueue to a stopped server: %v, want ErrUnavailable", err)
		}
	})
	t.Run("Canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := f.q.Ack(cctx, "x"); !errors.Is(err, context.Canceled) || errors.Is(err, core.ErrUnavailable) {
			t.Fatalf("Ack with a canceled context: %v, want context.Canceled only", err)
		}
	})
}

// TestReceiveRounding checks the SQS limits the adapter keeps: at most 10
// messages, waits and delays in whole seconds rounded up.
func TestReceiveRounding(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 30*time.Second, 3, nil)
	for i := range 12 {
		if err := f.q.Enqueue(ctx, job(i)); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := f.q.Receive(ctx, 100, 0)
	if err != nil || len(ds) != 10 {
		t.Fatalf("Receive(max 100) = %d deliveries, %v; want SQS's 10", len(ds), err)
	}
	if err := f.q.Retry(ctx, ds[0].Receipt, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ms := f.srv.Messages(jobsQueue)
	for _, m := range ms {
		if m.ReceiveCount == 1 && m.VisibleAt.Sub(f.clk.Now()) == 2*time.Second {
			return
		}
	}
	t.Fatalf("Retry(1.5s) did not make a message visible in 2s: %+v", ms)
}
