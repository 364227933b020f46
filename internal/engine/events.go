package engine

import (
	"context"
	"fmt"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/retry"
)

// Parse reads the stack event that one notification's body carries, in one
// of CloudFormation's wire formats (cfnevent.ParseSNS, ParseEventBridge,
// ParseMessage). An unreadable body is an error wrapping core.ErrInvalid.
type Parse func(body []byte) (core.StackEvent, error)

// eventRetry retries, in process, a stack event whose apply failed
// transiently (a lost race, a throttled store), before the event is handed
// back to its source.
var eventRetry = retry.Policy{Attempts: 3, Base: 100 * time.Millisecond, Max: time.Second}

// Consume is the stack-event loop, the same for every source of
// notifications (SNS, EventBridge, the sandbox's subscription): it parses
// body with parse, applies the event (Apply) and retries a transient
// failure a few times with backoff.
//
// It returns nil when the event was applied, and when it never will be: an
// unreadable body, or an event that fails for good, is logged and dropped,
// and the Reconciler repairs what it would have changed. It returns an
// error, naming the stack and the event, when the event still fails
// transiently after its retries (or ctx ended): a source that redelivers
// (Lambda retrying an asynchronous invocation by SNS or EventBridge)
// should be asked to; one that cannot leaves the event to the Reconciler.
func (m *Mirror) Consume(ctx context.Context, parse Parse, body []byte) error {
	ev, err := parse(body)
	if err != nil {
		m.d.Logger.Warn("unreadable stack notification dropped", "err", err)
		return nil
	}
	p := eventRetry
	p.Clock = m.d.Clock
	err = p.Do(ctx, func(ctx context.Context) error { return m.Apply(ctx, ev) })
	switch {
	case err == nil:
		return nil
	case ctx.Err() == nil && !core.Retryable(err):
		m.d.Logger.Warn("stack event not applied; the reconciler will repair", "stack", ev.StackName, "event", ev.EventID, "err", err)
		return nil
	}
	return fmt.Errorf("stack event %s of %s not applied: %w", ev.EventID, ev.StackName, err)
}
