package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/retry"
	"bucketdesk/internal/stacks"
)

// Worker carries out queued operations: it renders the template and calls
// CloudFormation with the operation id as ClientRequestToken, so that a
// redelivered job never starts a second stack operation. The rest of the
// operation's life is the Mirror's.
type Worker struct{ d *deps }

// workerRetry paces the redeliveries of a job: CloudFormation's rate
// limits refill within seconds. The queue bounds the deliveries
// (Options.MaxAttempts).
var workerRetry = retry.Policy{Base: 250 * time.Millisecond, Max: 10 * time.Second}

// Handle carries out one delivery. nil means the job is done (acknowledge
// it); a *core.RetryAfterError means deliver it again after its Wait.
// Handle is idempotent.
func (w *Worker) Handle(ctx context.Context, d core.Delivery) error {
	key := core.ResourceKey{Project: d.Job.Project, StackName: d.Job.StackName}
	r, err := w.d.Resources.GetResource(ctx, key)
	if errors.Is(err, core.ErrNotFound) {
		w.d.Logger.Warn("job for an unknown resource dropped", "operation", d.Job.OperationID, "stack", d.Job.StackName)
		return nil
	}
	if err != nil {
		return w.retry(ctx, d, key, err)
	}
	op := r.Op
	if op == nil || op.ID != d.Job.OperationID || op.Status != core.OpQueued {
		// Running means CloudFormation accepted the call; the Mirror (or the
		// Reconciler) ends it. Anything else is a duplicate delivery.
		return nil
	}
	p, err := w.d.Projects.GetProject(ctx, key.Project)
	if err != nil {
		return w.retry(ctx, d, key, err)
	}
	acct := p.Account()
	log := w.d.Logger.With("operation", op.ID, "action", op.Action, "stack", key.StackName)

	// A stack name is reused, a stack id is not: an update or a delete
	// names the stack the item is bound to, so that it can never act on
	// another stack that took the name meanwhile.
	var stackID string
	switch op.Action {
	case core.ActionCreate, core.ActionUpdate, core.ActionRotateKey:
		target := key.StackName
		if op.Action != core.ActionCreate {
			if target = r.Observed.StackID; target == "" {
				w.d.fail(ctx, key, op.ID, "the "+string(op.Kind)+" has no stack to update: its create failed before CloudFormation made one")
				return nil
			}
		}
		tpl, caps, err := stacks.Render(p, op.Spec)
		if err != nil {
			w.d.fail(ctx, key, op.ID, "the template could not be rendered: "+err.Error())
			return nil
		}
		req := core.StackRequest{StackName: target, Template: tpl, Tags: stacks.Tags(p.ID, op.Kind, op.Name),
			Token: op.ID, Capabilities: caps}
		if w.d.TopicARN != "" {
			req.NotificationARNs = []string{w.d.TopicARN}
		}
		if op.Action == core.ActionCreate {
			stackID, err = w.d.Cloud.CreateStack(ctx, acct, req)
		} else {
			stackID, err = w.d.Cloud.UpdateStack(ctx, acct, req)
		}
		if errors.Is(err, core.ErrNoChange) {
			log.Info("no changes were needed")
			w.succeedWithoutChange(ctx, key, op.ID)
			return nil
		}
		if err != nil {
			return w.failOrRetry(ctx, d, key, op, err)
		}
	case core.ActionDelete:
		if r.Observed.StackID == "" {
			// The item's create failed before CloudFormation made a stack:
			// there is nothing of its own to delete. (A stack that has the
			// name without the item knowing it is not deleted blindly: the
			// reconciler adopts it, and a manager sees it.)
			w.endWithoutStack(ctx, key, op.ID)
			return nil
		}
		if err := w.d.Cloud.DeleteStack(ctx, acct, r.Observed.StackID, op.ID); err != nil {
			return w.failOrRetry(ctx, d, key, op, err)
		}
	default:
		w.d.fail(ctx, key, op.ID, fmt.Sprintf("unknown action %q", op.Action))
		return nil
	}
	log.Info("stack operation started")
	w.markRunning(ctx, key, op.ID, stackID)
	return nil
}

// failOrRetry classifies a cloud error: throttling is retried for ever
// (never shown as a failure), other transient errors and a stack busy with
// another change until the last attempt; anything else fails the operation
// with CloudFormation's reason.
func (w *Worker) failOrRetry(ctx context.Context, d core.Delivery, key core.ResourceKey, op *core.Operation, err error) error {
	busy := errors.Is(err, core.ErrConflict) && op.Action != core.ActionCreate
	if !core.Retryable(err) && !busy {
		w.d.fail(ctx, key, op.ID, err.Error())
		return nil
	}
	return w.retry(ctx, d, key, err)
}

func (w *Worker) retry(ctx context.Context, d core.Delivery, key core.ResourceKey, err error) error {
	if d.Attempt < w.d.MaxAttempts {
		return &core.RetryAfterError{Wait: workerRetry.Delay(d.Attempt, err), Err: err}
	}
	if errors.Is(err, core.ErrThrottled) {
		// The queue would dead-letter this delivery; a fresh job keeps the
		// operation going, since throttling only ever delays.
		if qerr := w.d.Queue.Enqueue(ctx, d.Job); qerr == nil {
			return nil
		}
	}
	w.d.fail(ctx, key, d.Job.OperationID, fmt.Sprintf("gave up after %d attempts: %v", d.Attempt, err))
	return nil
}

func (w *Worker) markRunning(ctx context.Context, key core.ResourceKey, id, stackID string) {
	_, err := w.d.change(ctx, key, func(r *core.Resource) (bool, error) {
		if r.Op == nil || r.Op.ID != id {
			return false, nil
		}
		changed := false
		if r.Op.Status == core.OpQueued {
			now := w.d.Clock.Now().UTC()
			r.Op.Status, r.Op.StartedAt = core.OpRunning, &now
			r.Op.Rev++
			changed = true
		}
		if stackID != "" && r.Observed.StackID == "" {
			r.Observed.StackID = stackID
			changed = true
		}
		return changed, nil
	})
	if err != nil {
		// The stack operation runs; its events will move the operation on.
		w.d.Logger.Warn("could not mark the operation running", "operation", id, "err", err)
	}
}

func (w *Worker) succeedWithoutChange(ctx context.Context, key core.ResourceKey, id string) {
	_, err := w.d.change(ctx, key, func(r *core.Resource) (bool, error) {
		if r.Op == nil || r.Op.ID != id || r.Op.Status.Terminal() {
			return false, nil
		}
		core.FinishOp(r, core.OpSucceeded, "", w.d.Clock.Now().UTC())
		r.Spec = r.Op.Spec.Clone()
		return true, nil
	})
	if err != nil {
		w.d.Logger.Error("could not finish an operation that needed no change", "operation", id, "err", err)
	}
}

func (w *Worker) endWithoutStack(ctx context.Context, key core.ResourceKey, id string) {
	_, err := w.d.change(ctx, key, func(r *core.Resource) (bool, error) {
		if r.Op == nil || r.Op.ID != id || r.Op.Status.Terminal() || r.Observed.StackID != "" {
			return false, nil
		}
		core.EndWithoutStack(r, w.d.Clock.Now().UTC())
		return true, nil
	})
	if err != nil {
		w.d.Logger.Error("could not finish a delete", "operation", id, "err", err)
	}
}

// Run receives jobs from the queue and handles them with n goroutines
// until ctx ends.
func (w *Worker) Run(ctx context.Context, n int) {
	done := make(chan struct{})
	for range n {
		go func() {
			defer func() { done <- struct{}{} }()
			for ctx.Err() == nil {
				ds, err := w.d.Queue.Receive(ctx, 1, 5*time.Second)
				if err != nil {
					if ctx.Err() == nil {
						w.d.Logger.Warn("queue receive failed", "err", err)
						select {
						case <-ctx.Done():
						case <-w.d.Clock.After(time.Second):
						}
					}
					continue
				}
				for _, d := range ds {
					w.settle(ctx, d, w.Handle(ctx, d))
				}
			}
		}()
	}
	for range n {
		<-done
	}
}

func (w *Worker) settle(ctx context.Context, d core.Delivery, err error) {
	if err == nil {
		if err := w.d.Queue.Ack(ctx, d.Receipt); err != nil && !errors.Is(err, core.ErrNotFound) {
			w.d.Logger.Warn("ack failed; the job will be delivered again", "operation", d.Job.OperationID, "err", err)
		}
		return
	}
	delay, ok := core.RetryAfter(err)
	if !ok {
		w.d.Logger.Error("job failed", "operation", d.Job.OperationID, "err", err)
		return
	}
	w.d.Logger.Info("operation retried", "operation", d.Job.OperationID, "attempt", d.Attempt, "delay", delay, "cause", err)
	if err := w.d.Queue.Retry(ctx, d.Receipt, delay); err != nil {
		w.d.Logger.Warn("retry failed; the job reappears after its visibility timeout", "operation", d.Job.OperationID, "err", err)
	}
}
