package core

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"time"
)

// The mirror's rules (docs/engine.md), as pure functions on one resource item. The
// engine reads the item, applies one of these to a copy, bumps the version
// and writes it back with one conditional write.

// Applied tells what ApplyEvent changed.
type Applied struct {
	// Status: the stack status (and phase) changed.
	Status bool
	// Progress: the event was added to the current operation's progress.
	Progress bool
	// Finished: the current operation reached its end with this event.
	Finished bool
	// Bound: the event named the stack of the item's create, which the
	// item did not know yet.
	Bound bool
}

// Changed reports whether the item must be written.
func (a Applied) Changed() bool { return a.Status || a.Progress || a.Finished || a.Bound }

// ApplyEvent applies one stack event to r in place:
//
//   - idempotent: an event already applied changes nothing (progress is
//     deduplicated by event id, status by timestamp and status);
//   - monotonic: a stack-level event not newer than the last applied one
//     never overwrites the stack status; of two with the same timestamp,
//     the later in the stack status lifecycle is the newer
//     (laterThanLast);
//   - the terminal stack event of the current operation (matched by
//     ClientRequestToken) ends it and releases its lock, whatever the order
//     in which it arrives;
//   - bound to the stack: a stack name is reused, a stack id is not. An
//     event of another stack than the item's (a deleted predecessor's,
//     late or duplicated) is history and changes nothing. While the item
//     does not know its stack yet (a create just submitted), only the
//     events of its own operation, matched by ClientRequestToken, are its
//     stack's, and the first of them binds the item to that stack.
func ApplyEvent(r *Resource, ev StackEvent) Applied {
	var a Applied
	if ev.StackName != r.StackName {
		return a
	}
	op := r.Op
	// Events of the operation are its progress, also when they arrive
	// after its terminal event.
	mine := op != nil && ev.ClientRequestToken != "" && ev.ClientRequestToken == op.ID
	// An event that does not name its stack instance (no stack id, or an
	// ARN without the stack's unique id, as in AWS's documented EventBridge
	// examples) is the item's only by its operation's token, and never
	// binds the item.
	instance := namesInstance(ev.StackID)
	switch {
	case r.Observed.StackID == "":
		if !mine || !instance {
			return a
		}
		r.Observed.StackID = ev.StackID
		a.Bound = true
	case ev.StackID != r.Observed.StackID && !(!instance && mine):
		return a
	}
	current := mine && !op.Status.Terminal()
	if mine && addProgress(op, ev) {
		a.Progress = true
		if op.Status == OpFailed {
			refineFailure(r, ev)
		}
		if op.Status == OpQueued {
			op.Status = OpRunning
		}
		if op.StartedAt == nil {
			t := ev.Timestamp
			op.StartedAt = &t
		}
	}
	if NoteKeyCreated(r, ev) {
		a.Progress = true
	}
	if !ev.StackLevel() {
		return a
	}
	if laterThanLast(r, ev) {
		r.LastEvent = EventRef{ID: ev.EventID, Time: ev.Timestamp}
		setStatus(&r.Observed, ev.ResourceStatus, ev.StatusReason)
		a.Status = true
	}
	if current && Terminal(ev.ResourceStatus) {
		finish(r, ev.ResourceStatus, ev.StatusReason, ev.Timestamp)
		a.Finished = true
	}
	return a
}

// laterThanLast reports whether the stack-level event ev comes after the
// last one applied to r (or the last description), whose status is
// r.Observed.StackStatus. A later timestamp is later. Timestamps can be
// equal (EventBridge's have whole seconds: an UPDATE_COMPLETE_CLEANUP_IN_PROGRESS
// and its UPDATE_COMPLETE often share one, and arrive in any order); then
// the stack status lifecycle orders them (statusRank), strictly, so that a
// duplicate or an event of the same stage changes nothing. An event of
// another operation than the item's latest one is of an earlier operation
// (or of someone else's) and never wins a tie.
func laterThanLast(r *Resource, ev StackEvent) bool {
	if !ev.Timestamp.Equal(r.LastEvent.Time) {
		return ev.Timestamp.After(r.LastEvent.Time)
	}
	if ev.ClientRequestToken != "" && r.Op != nil && ev.ClientRequestToken != r.Op.ID {
		return false
	}
	return statusRank(ev.ResourceStatus) > statusRank(r.Observed.StackStatus)
}

// statusRank orders the stack statuses of one stack operation as
// CloudFormation moves through them: a status ranks above every status
// that can come before it in the same operation, so every in-progress
// status ranks below every terminal one. For example UPDATE_IN_PROGRESS <
// UPDATE_COMPLETE_CLEANUP_IN_PROGRESS < UPDATE_COMPLETE;
// UPDATE_ROLLBACK_IN_PROGRESS < UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS
// < UPDATE_ROLLBACK_COMPLETE; CREATE_IN_PROGRESS < ROLLBACK_IN_PROGRESS <
// CREATE_FAILED < ROLLBACK_COMPLETE; DELETE_IN_PROGRESS < DELETE_COMPLETE.
// An unknown status ranks as the first (in progress) or the last
// (terminal) of its kind; "" ranks lowest.
func statusRank(status string) int {
	switch status {
	case "":
		return 0
	case "REVIEW_IN_PROGRESS":
		return 1
	case "CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS", "IMPORT_IN_PROGRESS":
		return 2
	case "ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
		"IMPORT_ROLLBACK_IN_PROGRESS":
		return 3
	case "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS":
		return 4
	case "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED",
		"IMPORT_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_FAILED":
		return 6 // the end of a rollback, after the failure that started it
	}
	if InProgress(status) {
		return 2
	}
	return 5
}

// namesInstance reports whether a stack id names one stack instance: an
// ARN arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/UUID. "" and
// an ARN without the UUID (stack/NAME) name only a stack name, which a
// later stack can reuse. An id of another form is taken as it is.
func namesInstance(stackID string) bool {
	if stackID == "" {
		return false
	}
	i := strings.LastIndex(stackID, ":stack/")
	if i < 0 {
		return true
	}
	return strings.Contains(stackID[i+len(":stack/"):], "/")
}

// RecordEvent adds ev to the events of op, an operation that is no longer
// its resource's current one (a history copy), unless it is there
// already: a late event of an earlier operation is history, recorded
// where that operation's progress is read and never applied to the
// resource. It reports whether op changed.
func RecordEvent(op *Operation, ev StackEvent) bool {
	if ev.ClientRequestToken != op.ID || ev.StackName != op.StackName {
		return false
	}
	return addProgress(op, ev)
}

// addProgress inserts ev into op's events in time order unless it is
// already there, keeping the newest MaxOpEvents. It reports whether it was
// added.
func addProgress(op *Operation, ev StackEvent) bool {
	for _, e := range op.Events {
		if e.EventID == ev.EventID {
			return false
		}
	}
	i := sort.Search(len(op.Events), func(i int) bool { return op.Events[i].Timestamp.After(ev.Timestamp) })
	op.Events = append(op.Events, StackEvent{})
	copy(op.Events[i+1:], op.Events[i:])
	op.Events[i] = ev
	added := true
	if n := len(op.Events) - MaxOpEvents; n > 0 {
		op.Events = append(op.Events[:0], op.Events[n:]...)
		// An event so old that it falls off at once was not really added.
		added = i >= n
	}
	if added {
		op.Rev++
	}
	return added
}

func setStatus(o *Observed, status, reason string) {
	o.StackStatus = status
	o.StatusReason = reason
	o.Phase = PhaseOf(status)
	if o.Phase == PhaseDeleted {
		o.Outputs = nil
	}
}

// SucceededStatus is the stack status that means action succeeded.
func SucceededStatus(action Action) string {
	switch action {
	case ActionCreate:
		return "CREATE_COMPLETE"
	case ActionDelete:
		return "DELETE_COMPLETE"
	}
	return "UPDATE_COMPLETE"
}

// finish ends r's current operation given the terminal stack status and
// releases its lock.
func finish(r *Resource, status, reason string, at time.Time) {
	op := r.Op
	if status == SucceededStatus(op.Action) {
		FinishOp(r, OpSucceeded, "", at)
		if op.Action != ActionDelete {
			r.Spec = op.Spec.Clone()
			RecordChange(r, op, at)
		}
		r.Observed.LastFailure = ""
		return
	}
	why := FailureReason(op.Events, status, reason)
	FinishOp(r, OpFailed, why, at)
	if status == "UPDATE_ROLLBACK_COMPLETE" {
		r.Observed.LastFailure = why
	}
}

// refineFailure updates a failed operation's reason when a resource's
// failure event arrives after the stack's terminal event: events are
// applied in any order, and the reason must not depend on it.
func refineFailure(r *Resource, ev StackEvent) {
	op := r.Op
	if ev.StackLevel() || !strings.HasSuffix(ev.ResourceStatus, "_FAILED") {
		return
	}
	why := FailureReason(op.Events, "", op.Error)
	if why == op.Error {
		return
	}
	if r.Observed.LastFailure == op.Error && r.Observed.LastFailure != "" {
		r.Observed.LastFailure = why
	}
	op.Error = why
}

// FinishOp ends r's current operation with status and releases its lock.
func FinishOp(r *Resource, status OpStatus, reason string, at time.Time) {
	op := r.Op
	op.Status = status
	op.Error = reason
	op.FinishedAt = &at
	if op.StartedAt == nil {
		op.StartedAt = &at
	}
	op.Rev++
	if r.Lock != nil && r.Lock.OperationID == op.ID {
		r.Lock = nil
	}
}

// FailureReason picks the most useful reason an operation failed: the first
// resource that failed says why (e.g. "my-bucket already exists"); the
// stack's own reason only names the failed resources.
func FailureReason(events []StackEvent, status, reason string) string {
	for _, e := range events {
		if e.StackLevel() || !strings.HasSuffix(e.ResourceStatus, "_FAILED") {
			continue
		}
		if e.StatusReason == "" || strings.Contains(e.StatusReason, "cancelled") {
			continue
		}
		return e.LogicalResourceID + ": " + e.StatusReason
	}
	if reason != "" {
		return reason
	}
	return "the stack ended in " + status
}

// Observe applies what DescribeStacks reported at observedAt (taken before
// the call) to r in place, as the reconciler's relist does, and reports
// whether r changed. Like ApplyEvent it is bound to the stack: a
// description of another stack than the item's (its deleted predecessor,
// or a stack the item's create has not bound yet) is history and changes
// nothing. An item that already applied an event newer than the
// observation keeps its status. A running operation whose stack is no
// longer in progress ends here, so that a lost terminal event cannot leave
// a lock behind, but only if the stack was described after the operation
// started: an older description tells nothing of it. A queued operation is
// left to its worker.
//
// A description that only confirms what the item holds changes nothing,
// not even the time of the last applied observation: recording that time
// alone would write and publish a new version of an unchanged item on
// every pass of the reconciler. When the item changes anyway, the time is
// recorded with the change. An event stamped between the item's last
// applied one and such an unrecorded description can then still apply:
// it is of a stack operation that ended, by the description, in the
// status the item holds, so that operation's own later events, or the
// next description, bring the item back to it.
func Observe(r *Resource, st *Stack, observedAt time.Time) bool {
	if st.StackID != r.Observed.StackID {
		return false
	}
	if st.StackID == "" && r.Op != nil && !r.Op.Status.Terminal() {
		return false // its worker has not made the stack yet
	}
	before := r.Clone()
	if observedAt.After(r.LastEvent.Time) {
		r.LastEvent = EventRef{ID: "describe", Time: observedAt}
		setStatus(&r.Observed, st.Status, st.StatusReason)
		if r.Observed.Phase != PhaseDeleted {
			r.Observed.Outputs = cloneMap(st.Outputs)
		}
		r.Observed.Stale = false
	}
	op := r.Op
	if op != nil && op.Status == OpRunning && Terminal(st.Status) && op.StartedAt != nil && !observedAt.Before(*op.StartedAt) {
		finish(r, st.Status, st.StatusReason, observedAt)
		// The stack operation is over, so what was described is its
		// result, even when a newer event set the status.
		if r.Observed.Phase != PhaseDeleted && st.Status == r.Observed.StackStatus {
			r.Observed.Outputs = cloneMap(st.Outputs)
			r.Observed.Stale = false
		}
	}
	// Whether anything but the time of the last observation changed.
	last := r.LastEvent
	r.LastEvent = before.LastEvent
	if equalResource(before, r) {
		return false
	}
	r.LastEvent = last
	return true
}

// ObserveGone marks r deleted because CloudFormation does not know the
// stack stackID (any more), ending a running operation; stackID "" says
// that no stack has the item's name, for an item that never had a stack.
// Like Observe, it changes nothing when r is bound to another stack. It
// reports whether r changed.
func ObserveGone(r *Resource, stackID string, observedAt time.Time) bool {
	return Observe(r, &Stack{StackID: stackID, StackName: r.StackName, Status: "DELETE_COMPLETE"}, observedAt)
}

// EndWithoutStack ends r's running or queued delete as succeeded without a
// stack operation: the item never had a stack (its create failed before
// CloudFormation made one), so there is nothing to delete.
func EndWithoutStack(r *Resource, at time.Time) {
	if at.After(r.LastEvent.Time) {
		r.LastEvent = EventRef{ID: "no-stack", Time: at}
	}
	setStatus(&r.Observed, "DELETE_COMPLETE", "")
	FinishOp(r, OpSucceeded, "", at)
}

// SetOutputs records the outputs of a finished stack operation.
func SetOutputs(r *Resource, outputs map[string]string) {
	if r.Observed.Phase != PhaseDeleted {
		r.Observed.Outputs = cloneMap(outputs)
		pruneKeysCreated(r)
	}
	r.Observed.Stale = false
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Begin locks r for op: it fails with a *LockedError when another operation
// holds r, and otherwise records op as r's queued operation.
func Begin(r *Resource, op *Operation) error {
	if r.Lock != nil {
		return &LockedError{Lock: *r.Lock}
	}
	r.Lock = &Lock{OperationID: op.ID, Action: op.Action, By: op.RequestedBy, Since: op.RequestedAt}
	r.Op = op
	return nil
}

// equalResource compares two items by their stored form.
func equalResource(a, b *Resource) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
