// Package sqsqueue is the job queue of the AWS setup: core.Queue on an
// Amazon SQS standard queue, and the worker Lambda's handler for the SQS
// event source with partial batch responses.
//
// The mapping is direct: Enqueue is SendMessage (the body is the job as
// JSON), Receive is ReceiveMessage (long polling, ApproximateReceiveCount
// as the attempt), Ack is DeleteMessage and Retry is
// ChangeMessageVisibility. The adapter does not retry; errors come back as
// core kinds wrapped with %w around the SDK's error: throttling is
// core.ErrThrottled, a receipt handle that no longer holds its message is
// core.ErrNotFound, anything else core.ErrUnavailable (a cancelled context
// stays context.Canceled).
//
// Dead letters are SQS's business, not this package's: give the queue a
// RedrivePolicy whose maxReceiveCount is the maximum number of attempts,
// and SQS moves a message that has been received that many times to the
// dead-letter queue when it would deliver it again. Nothing in code counts
// attempts.
//
// Differences from the contract worth knowing: SQS may accept a stale
// receipt handle on DeleteMessage without an error (and without deleting
// anything), so Ack may return nil where the local queue returns
// core.ErrNotFound — callers treat both as "done" — and a Receive waits at
// most 20 s (SQS's longest long poll) whatever wait it is given.
package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"bucketdesk/internal/core"
)

var _ core.Queue = (*Queue)(nil)

// Limits of the SQS API.
const (
	maxMessages   = 10
	maxWait       = 20 * time.Second
	maxVisibility = 12 * time.Hour
)

// DefaultConcurrency is how many records of a Lambda batch Handler
// handles at once unless Options says otherwise.
const DefaultConcurrency = 10

// Options configures a Queue. The zero value (or nil) means the defaults.
type Options struct {
	// Visibility, if set, is the visibility timeout asked for on each
	// ReceiveMessage (whole seconds, rounded up); default: the queue's
	// own VisibilityTimeout attribute.
	Visibility time.Duration
	// Concurrency bounds how many records of one Lambda batch Handler
	// handles at once; default DefaultConcurrency.
	Concurrency int
	// Logger receives what Handler cannot return: a record that failed
	// and why. Default: discard.
	Logger *slog.Logger
}

// Queue is core.Queue on one SQS standard queue.
type Queue struct {
	client      *sqs.Client
	url         string
	visibility  int32
	concurrency int
	log         *slog.Logger
}

// New returns the queue at queueURL, reached through client. The client
// is configured by the caller (region, credentials, endpoint, retries).
func New(client *sqs.Client, queueURL string, opts *Options) *Queue {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Queue{
		client:      client,
		url:         queueURL,
		visibility:  ceilSeconds(min(o.Visibility, maxVisibility)),
		concurrency: o.Concurrency,
		log:         o.Logger,
	}
}

// ceilSeconds rounds d up to whole seconds, so that a wait or a delay is
// never shorter than asked; negative is 0.
func ceilSeconds(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	return int32((d + time.Second - 1) / time.Second)
}

// Enqueue sends the job as one message. SQS has stored it durably when
// SendMessage answers.
func (q *Queue) Enqueue(ctx context.Context, job core.Job) error {
	// A cancelled call must store nothing; do not leave it to a race in
	// the HTTP client.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqsqueue: enqueue %s: %w", job.OperationID, err)
	}
	body, err := json.Marshal(job)
	if err != nil {
		return fmt.Errorf("sqsqueue: enqueue %s: %w: %w", job.OperationID, core.ErrInternal, err)
	}
	_, err = q.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(q.url),
		MessageBody: aws.String(string(body)),
	})
	if err != nil {
		return classify("enqueue "+job.OperationID, err)
	}
	return nil
}

// Receive long-polls for up to limit messages (at most 10), waiting up to
// wait rounded up to whole seconds and at most 20 s. A message whose body
// is not a job is skipped and left to the redrive policy, which moves it
// to the dead-letter queue after its last attempt.
func (q *Queue) Receive(ctx context.Context, limit int, wait time.Duration) ([]core.Delivery, error) {
	out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(q.url),
		MaxNumberOfMessages:         int32(min(max(limit, 1), maxMessages)),
		WaitTimeSeconds:             ceilSeconds(min(wait, maxWait)),
		VisibilityTimeout:           q.visibility,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, classify("receive", err)
	}
	ds := make([]core.Delivery, 0, len(out.Messages))
	for _, m := range out.Messages {
		d, err := delivery(aws.ToString(m.Body), aws.ToString(m.ReceiptHandle), m.Attributes["ApproximateReceiveCount"])
		if err != nil {
			q.log.Warn("message that is not a job left for the dead-letter queue", "message_id", aws.ToString(m.MessageId), "error", err)
			continue
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// delivery turns an SQS message into a core.Delivery.
func delivery(body, receipt, receiveCount string) (core.Delivery, error) {
	var job core.Job
	if err := json.Unmarshal([]byte(body), &job); err != nil {
		return core.Delivery{}, fmt.Errorf("body is not a job: %w", err)
	}
	if job.OperationID == "" {
		return core.Delivery{}, errors.New("body is not a job: no operation_id")
	}
	attempt, err := strconv.Atoi(receiveCount)
	if err != nil || attempt < 1 {
		attempt = 1 // the attribute was not returned; the first delivery is the safe guess
	}
	return core.Delivery{Job: job, Receipt: receipt, Attempt: attempt}, nil
}

// Ack deletes the delivered message.
func (q *Queue) Ack(ctx context.Context, receipt string) error {
	_, err := q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{
		QueueUrl:      aws.String(q.url),
		ReceiptHandle: aws.String(receipt),
	})
	if err != nil {
		return classify("ack", err)
	}
	return nil
}

// Retry changes the message's visibility timeout to delay (whole seconds,
// rounded up, at most 12 hours) from now.
func (q *Queue) Retry(ctx context.Context, receipt string, delay time.Duration) error {
	_, err := q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(q.url),
		ReceiptHandle:     aws.String(receipt),
		VisibilityTimeout: ceilSeconds(min(delay, maxVisibility)),
	})
	if err != nil {
		return classify("retry", err)
	}
	return nil
}

// Error codes as the SDK reports them. SQS answers in its JSON protocol
// with the code of its older query protocol in x-amzn-query-error, and
// the SDK prefers that one, so both spellings are listed.
var (
	throttledCodes = map[string]bool{
		"ThrottlingException": true, "Throttling": true, "RequestThrottled": true,
		"AWS.SimpleQueueService.RequestThrottled": true, "OverLimit": true,
		"KMS.ThrottlingException": true, "KmsThrottled": true,
	}
	// A receipt handle that does not hold its message (any more).
	goneCodes = map[string]bool{
		"ReceiptHandleIsInvalid": true, "MessageNotInflight": true,
		"AWS.SimpleQueueService.MessageNotInflight": true,
	}
)

// classify wraps an SDK error in its core kind.
func classify(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sqsqueue: %s: %w", op, err)
	}
	kind := core.ErrUnavailable
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		switch {
		case throttledCodes[code]:
			kind = core.ErrThrottled
		case goneCodes[code]:
			kind = core.ErrNotFound
		case code == "InvalidParameterValue" && strings.Contains(api.ErrorMessage(), "ReceiptHandle"):
			// SQS's answer to ChangeMessageVisibility with a receipt
			// handle whose message was deleted or received again.
			kind = core.ErrNotFound
		}
	}
	return fmt.Errorf("sqsqueue: %s: %w: %w", op, kind, err)
}
