package engine

import (
	"context"
	"errors"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
)

// Mirror applies CloudFormation stack events to the cache and pushes the
// changes to the project's subscribers. Events may come late, twice, out of
// order or never: the rules of core.ApplyEvent keep the cache right, and
// the Reconciler repairs what was lost.
type Mirror struct{ d *deps }

// Apply applies one stack event. Events of stacks that are not bucketdesk's
// or not in the cache are ignored (the Reconciler adopts unknown stacks).
// On the terminal event of an operation it reads the stack's outputs with
// one DescribeStacks; if that fails the item is marked stale for the
// Reconciler rather than holding the lock.
func (m *Mirror) Apply(ctx context.Context, ev core.StackEvent) error {
	project, ok := stacks.ProjectOf(ev.StackName)
	if !ok {
		return nil
	}
	key := core.ResourceKey{Project: project, StackName: ev.StackName}
	// The change's messages (resource, operation) and the event's go to
	// the hub together, once the write is durable.
	ctx, batch := withPublishBatch(ctx, project)
	defer m.d.flushPublish(ctx, batch)
	var (
		applied   core.Applied
		outputs   map[string]string
		described bool
		stale     bool
	)
	r, err := m.d.change(ctx, key, func(r *core.Resource) (bool, error) {
		if r.Version == 0 {
			return false, nil
		}
		applied = core.ApplyEvent(r, ev)
		if applied.Finished && r.Observed.Phase != core.PhaseDeleted {
			if !described {
				described = true
				outputs, stale = m.describe(ctx, project, r.Observed.StackID, ev.StackName)
			}
			if stale {
				r.Observed.Stale = true
			} else {
				core.SetOutputs(r, outputs)
			}
		}
		return applied.Changed(), nil
	})
	if err != nil {
		return err
	}
	if !applied.Changed() && ev.ClientRequestToken != "" && (r.Op == nil || r.Op.ID != ev.ClientRequestToken) {
		return m.recordHistory(ctx, ev)
	}
	if applied.Progress {
		e := ev
		m.d.publish(ctx, core.Message{Type: core.MsgEvent, Event: &e}, r)
		m.d.Logger.Debug("stack event", "stack", ev.StackName, "resource", ev.LogicalResourceID, "status", ev.ResourceStatus)
	}
	if applied.Finished {
		op := r.Op
		log := m.d.Logger.With("operation", op.ID, "action", op.Action, "kind", op.Kind, "name", op.Name, "status", op.Status,
			"stack_status", r.Observed.StackStatus, "took", op.FinishedAt.Sub(op.RequestedAt).Round(time.Millisecond))
		if op.Status == core.OpFailed {
			log.Warn("operation failed", "reason", op.Error)
		} else {
			log.Info("operation finished")
		}
	}
	return nil
}

// describe reads the outputs of the item's finished stack, by the id the
// item is bound to (an event's own id may lack the stack's unique part);
// stale reports failure.
func (m *Mirror) describe(ctx context.Context, project, stackID, stackName string) (outputs map[string]string, stale bool) {
	p, err := m.d.Projects.GetProject(ctx, project)
	if err == nil {
		var st *core.Stack
		id := stackID
		if id == "" {
			id = stackName
		}
		if st, err = m.d.Cloud.DescribeStack(ctx, p.Account(), id); err == nil {
			return st.Outputs, false
		}
	}
	m.d.Logger.Warn("outputs of a finished stack not read; the reconciler will", "stack", stackName, "err", err)
	return nil, true
}

// recordHistory adds a late event of an operation that is no longer its
// resource's current one — an earlier operation of the same stack, or one
// of the name's previous stack — to that operation's history copy. It
// never touches the resource: the event is history.
func (m *Mirror) recordHistory(ctx context.Context, ev core.StackEvent) error {
	op, err := m.d.Resources.GetOperation(ctx, ev.ClientRequestToken)
	if errors.Is(err, core.ErrNotFound) {
		return nil // not ours, or its history has ended
	}
	if err != nil {
		return err
	}
	if !core.RecordEvent(op, ev) {
		return nil
	}
	return m.d.Resources.PutOperation(ctx, op)
}
