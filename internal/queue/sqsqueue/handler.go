package sqsqueue

import (
	"context"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"bucketdesk/internal/core"
)

// Handler returns the worker Lambda's handler for batches of this queue's
// messages, with partial batch responses: the event source mapping must
// set FunctionResponseTypes to ReportBatchItemFailures, or Lambda ignores
// the failures reported and deletes the whole batch.
//
// Each record becomes a core.Delivery (Receipt is the receipt handle,
// Attempt the ApproximateReceiveCount) and is handed to handle, at most
// Options.Concurrency at once. When handle returns:
//
//   - nil: the record succeeded and Lambda deletes the message;
//   - an error with a retry-after hint (a *core.RetryAfterError anywhere in
//     its chain, as the engine's worker returns): the message's visibility
//     is set to that delay and the record is reported as failed, so SQS delivers it
//     again after the delay;
//   - another error: the record is reported as failed and SQS delivers it
//     again when its visibility timeout ends.
//
// A record whose body is not a job is reported as failed without calling
// handle; the queue's redrive policy moves it to the dead-letter queue
// after its last attempt. The handler itself never fails the invocation:
// that would make Lambda retry the records that succeeded too.
func (q *Queue) Handler(handle func(ctx context.Context, d core.Delivery) error) func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		failed := make([]bool, len(ev.Records))
		sem := make(chan struct{}, q.concurrency)
		var wg sync.WaitGroup
		for i, rec := range ev.Records {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				failed[i] = !q.handleRecord(ctx, rec, handle)
			})
		}
		wg.Wait()

		resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
		for i, rec := range ev.Records {
			if failed[i] {
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
			}
		}
		return resp, nil
	}
}

// handleRecord handles one record and reports whether it succeeded.
func (q *Queue) handleRecord(ctx context.Context, rec events.SQSMessage, handle func(context.Context, core.Delivery) error) bool {
	log := q.log.With("message_id", rec.MessageId)
	if err := ctx.Err(); err != nil {
		// Out of time: leave the message for the next invocation.
		log.Warn("record not handled", "error", err)
		return false
	}
	d, err := delivery(rec.Body, rec.ReceiptHandle, rec.Attributes["ApproximateReceiveCount"])
	if err != nil {
		log.Error("record is not a job", "error", err)
		return false
	}
	log = log.With("operation", d.Job.OperationID, "attempt", d.Attempt)
	err = handle(ctx, d)
	if err == nil {
		return true
	}
	if delay, ok := core.RetryAfter(err); ok {
		if verr := q.Retry(ctx, d.Receipt, delay); verr != nil {
			// The message comes back after the queue's visibility timeout
			// instead: later, not lost.
			log.Warn("retry delay not set", "delay", delay, "error", verr)
		}
		log.Info("job to be retried", "delay", delay, "error", err)
		return false
	}
	log.Warn("job failed; SQS delivers it again", "error", err)
	return false
}
