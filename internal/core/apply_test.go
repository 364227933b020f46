package core

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

const stackName = "bd-demo--b-data"

// stackID is the id of the stack the tests' events come from; oldStackID
// is the id of a deleted stack that had the same name before it.
const (
	stackID    = "arn:aws:cloudformation:eu-west-1:123456789012:stack/" + stackName + "/1"
	oldStackID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/" + stackName + "/0"
)

func ev(i int, token, logical, typ, status, reason string) StackEvent {
	return StackEvent{
		StackID: stackID, StackName: stackName,
		EventID: fmt.Sprintf("e%d", i), Timestamp: t0.Add(time.Duration(i) * time.Second),
		LogicalResourceID: logical, ResourceType: typ, ResourceStatus: status, StatusReason: reason,
		ClientRequestToken: token,
	}
}

func stackEv(i int, token, status, reason string) StackEvent {
	return ev(i, token, stackName, StackResourceType, status, reason)
}

func lockedResource(action Action, spec Spec) *Resource {
	r := &Resource{Project: "demo", Kind: KindBucket, Name: "data", StackName: stackName, Version: 1}
	if action != ActionCreate {
		r.Observed = Observed{Phase: PhaseReady, StackID: stackID, StackStatus: "CREATE_COMPLETE"}
	}
	op := &Operation{ID: "op1", Action: action, Spec: spec, RequestedBy: "alice", RequestedAt: t0, Status: OpQueued}
	if err := Begin(r, op); err != nil {
		panic(err)
	}
	return r
}

func bucketSpec(versioning bool) Spec {
	return Spec{Bucket: &BucketSpec{Name: "data", Versioning: versioning, Encryption: Encryption{Type: EncryptionS3}}}
}

func createEvents(token string) []StackEvent {
	return []StackEvent{
		stackEv(1, token, "CREATE_IN_PROGRESS", "User Initiated"),
		ev(2, token, "Bucket", "AWS::S3::Bucket", "CREATE_IN_PROGRESS", ""),
		ev(3, token, "Bucket", "AWS::S3::Bucket", "CREATE_COMPLETE", ""),
		ev(4, token, "BucketPolicy", "AWS::S3::BucketPolicy", "CREATE_IN_PROGRESS", ""),
		ev(5, token, "BucketPolicy", "AWS::S3::BucketPolicy", "CREATE_COMPLETE", ""),
		stackEv(6, token, "CREATE_COMPLETE", ""),
	}
}

func TestBeginLocked(t *testing.T) {
	r := lockedResource(ActionCreate, bucketSpec(false))
	err := Begin(r, &Operation{ID: "op2", Action: ActionUpdate})
	le, ok := err.(*LockedError)
	if !ok || le.Lock.OperationID != "op1" || le.Lock.By != "alice" {
		t.Fatalf("err = %v, want locked by alice's op1", err)
	}
}

func TestApplyInAnyOrderConverges(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 1))
		r := lockedResource(ActionCreate, bucketSpec(true))
		evs := createEvents("op1")
		// duplicate some, then shuffle
		for _, e := range evs {
			if rng.IntN(3) == 0 {
				evs = append(evs, e)
			}
		}
		rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
		finished := 0
		for _, e := range evs {
			if ApplyEvent(r, e).Finished {
				finished++
			}
		}
		if finished != 1 {
			t.Fatalf("seed %d: finished %d times", seed, finished)
		}
		if r.Observed.StackStatus != "CREATE_COMPLETE" || r.Observed.Phase != PhaseReady {
			t.Fatalf("seed %d: status %s phase %s", seed, r.Observed.StackStatus, r.Observed.Phase)
		}
		if r.Lock != nil || r.Op.Status != OpSucceeded {
			t.Fatalf("seed %d: lock %v op %s", seed, r.Lock, r.Op.Status)
		}
		if len(r.Op.Events) != 6 {
			t.Fatalf("seed %d: %d progress events, want 6 (deduplicated)", seed, len(r.Op.Events))
		}
		for i := 1; i < len(r.Op.Events); i++ {
			if r.Op.Events[i].Timestamp.Before(r.Op.Events[i-1].Timestamp) {
				t.Fatalf("seed %d: progress not in time order", seed)
			}
		}
		if !r.Spec.Bucket.Versioning {
			t.Fatalf("seed %d: spec not applied", seed)
		}
	}
}

func TestApplySameEventTwiceChangesNothing(t *testing.T) {
	r := lockedResource(ActionCreate, bucketSpec(false))
	e := createEvents("op1")[1]
	if !ApplyEvent(r, e).Changed() {
		t.Fatal("first apply changed nothing")
	}
	before := r.Clone()
	if ApplyEvent(r, e).Changed() || !equalResource(before, r) {
		t.Fatal("second apply changed the item")
	}
}

func TestOlderStackEventNeverOverwrites(t *testing.T) {
	r := lockedResource(ActionCreate, bucketSpec(false))
	ApplyEvent(r, stackEv(6, "op1", "CREATE_COMPLETE", ""))
	a := ApplyEvent(r, stackEv(1, "op1", "CREATE_IN_PROGRESS", ""))
	if a.Status || r.Observed.StackStatus != "CREATE_COMPLETE" {
		t.Fatalf("older event overwrote: %s", r.Observed.StackStatus)
	}
}

func TestUpdateRollbackKeepsReasonAndOldSpec(t *testing.T) {
	r := lockedResource(ActionUpdate, bucketSpec(true))
	r.Spec = bucketSpec(false)
	r.Observed = Observed{Phase: PhaseReady, StackStatus: "CREATE_COMPLETE"}
	r.LastEvent = EventRef{ID: "e0", Time: t0}
	for _, e := range []StackEvent{
		stackEv(1, "op1", "UPDATE_IN_PROGRESS", "User Initiated"),
		ev(2, "op1", "Bucket", "AWS::S3::Bucket", "UPDATE_FAILED", "Encountered unsupported property Foo"),
		stackEv(3, "op1", "UPDATE_ROLLBACK_IN_PROGRESS", "The following resource(s) failed to update: [Bucket]."),
		stackEv(4, "op1", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", ""),
		stackEv(5, "op1", "UPDATE_ROLLBACK_COMPLETE", ""),
	} {
		ApplyEvent(r, e)
	}
	if r.Lock != nil || r.Op.Status != OpFailed {
		t.Fatalf("lock %v status %s", r.Lock, r.Op.Status)
	}
	if !strings.Contains(r.Op.Error, "unsupported property Foo") || r.Observed.LastFailure != r.Op.Error {
		t.Fatalf("error %q last failure %q", r.Op.Error, r.Observed.LastFailure)
	}
	if r.Observed.Phase != PhaseReady || r.Spec.Bucket.Versioning {
		t.Fatalf("phase %s, versioning %v: want ready with the old spec", r.Observed.Phase, r.Spec.Bucket.Versioning)
	}
}

func TestEventsOfAnotherOperationDoNotEndTheLock(t *testing.T) {
	r := lockedResource(ActionUpdate, bucketSpec(true))
	a := ApplyEvent(r, stackEv(3, "other-token", "UPDATE_COMPLETE", ""))
	if !a.Status || a.Finished || r.Lock == nil {
		t.Fatalf("applied %+v lock %v", a, r.Lock)
	}
}

func TestObserve(t *testing.T) {
	st := &Stack{StackID: stackID, StackName: stackName, Status: "UPDATE_COMPLETE", Outputs: map[string]string{"BucketArn": "arn:aws:s3:::data"}}

	// A running operation whose terminal event was lost ends.
	r := lockedResource(ActionUpdate, bucketSpec(true))
	run(r, t0)
	if !Observe(r, st, t0.Add(time.Minute)) || r.Lock != nil || r.Op.Status != OpSucceeded || r.Observed.Outputs["BucketArn"] == "" {
		t.Fatalf("running op not ended: lock %v op %s", r.Lock, r.Op.Status)
	}
	if Observe(r, st, t0.Add(time.Minute)) {
		t.Fatal("observing the same state twice changed the item")
	}

	// A queued operation is left to its worker.
	r = lockedResource(ActionUpdate, bucketSpec(true))
	Observe(r, st, t0.Add(time.Minute))
	if r.Lock == nil || r.Op.Status != OpQueued {
		t.Fatal("queued op was ended by a describe")
	}

	// An event newer than the observation keeps its status.
	r = lockedResource(ActionUpdate, bucketSpec(true))
	ApplyEvent(r, stackEv(100, "op1", "UPDATE_IN_PROGRESS", ""))
	Observe(r, st, t0.Add(time.Second))
	if r.Observed.StackStatus != "UPDATE_IN_PROGRESS" {
		t.Fatalf("older observation overwrote a newer event: %s", r.Observed.StackStatus)
	}

	// A vanished stack is deleted.
	r = lockedResource(ActionDelete, bucketSpec(true))
	run(r, t0)
	ObserveGone(r, stackID, t0.Add(time.Hour))
	if r.Observed.Phase != PhaseDeleted || r.Lock != nil || r.Op.Status != OpSucceeded {
		t.Fatalf("gone: phase %s lock %v op %s", r.Observed.Phase, r.Lock, r.Op.Status)
	}
}

func TestProgressKeepsNewest(t *testing.T) {
	r := lockedResource(ActionUpdate, bucketSpec(true))
	for i := range MaxOpEvents + 10 {
		ApplyEvent(r, ev(i+10, "op1", "Bucket", "AWS::S3::Bucket", "UPDATE_IN_PROGRESS", ""))
	}
	if n := len(r.Op.Events); n != MaxOpEvents {
		t.Fatalf("%d events kept", n)
	}
	// A duplicate of an event that fell off is not re-added.
	if ApplyEvent(r, ev(10, "op1", "Bucket", "AWS::S3::Bucket", "UPDATE_IN_PROGRESS", "")).Progress {
		t.Fatal("an old event that fell off came back")
	}
}

// The reason of a failure does not depend on the order of its events.
func TestFailureReasonArrivesAfterTheEnd(t *testing.T) {
	r := lockedResource(ActionUpdate, bucketSpec(true))
	r.LastEvent = EventRef{ID: "e0", Time: t0}
	ApplyEvent(r, stackEv(5, "op1", "UPDATE_ROLLBACK_COMPLETE", ""))
	if r.Op.Status != OpFailed || r.Lock != nil {
		t.Fatalf("op %s lock %v", r.Op.Status, r.Lock)
	}
	ApplyEvent(r, ev(2, "op1", "Bucket", "AWS::S3::Bucket", "UPDATE_FAILED", "Access Denied"))
	if !strings.Contains(r.Op.Error, "Access Denied") || r.Observed.LastFailure != r.Op.Error {
		t.Fatalf("error %q, last failure %q", r.Op.Error, r.Observed.LastFailure)
	}
}

// run marks r's operation running since at, as the worker does.
func run(r *Resource, at time.Time) {
	r.Op.Status, r.Op.StartedAt = OpRunning, &at
}

// A stack name is reused; a stack id is not. Whatever arrives of a
// deleted predecessor — its events late or twice, a description — is
// history: it never changes the item bound to the current stack.
func TestPreviousStackNeverActsOnTheCurrentOne(t *testing.T) {
	old := func(i int, token, status string) StackEvent {
		e := stackEv(i, token, status, "")
		e.StackID = oldStackID
		return e
	}

	// The item is bound to the current stack and an update runs on it;
	// the predecessor's DELETE_COMPLETE, duplicated and later than every
	// event applied, arrives.
	r := lockedResource(ActionUpdate, bucketSpec(true))
	run(r, t0)
	ApplyEvent(r, stackEv(2, "op1", "UPDATE_IN_PROGRESS", ""))
	before := r.Clone()
	for _, e := range []StackEvent{old(50, "delete-op", "DELETE_COMPLETE"), old(50, "op1", "DELETE_COMPLETE"), old(60, "", "CREATE_COMPLETE")} {
		if a := ApplyEvent(r, e); a.Changed() {
			t.Fatalf("event of the previous stack applied: %+v", a)
		}
	}
	if !equalResource(before, r) {
		t.Fatal("the item changed")
	}
	// Nor does a description of the previous stack, however recent.
	if Observe(r, &Stack{StackID: oldStackID, StackName: stackName, Status: "DELETE_COMPLETE"}, t0.Add(time.Hour)) ||
		ObserveGone(r, oldStackID, t0.Add(time.Hour)) || !equalResource(before, r) {
		t.Fatal("a description of the previous stack changed the item")
	}
	if r.Op.Status != OpRunning || r.Lock == nil || r.Observed.Phase != PhaseUpdating {
		t.Fatalf("op %s lock %v phase %s", r.Op.Status, r.Lock, r.Observed.Phase)
	}
}

// A create just submitted does not know its stack: only its own events,
// by ClientRequestToken, bind it; the predecessor's are ignored.
func TestCreateBindsItsStackByToken(t *testing.T) {
	r := lockedResource(ActionCreate, bucketSpec(false))
	late := stackEv(90, "old-delete", "DELETE_COMPLETE", "")
	late.StackID = oldStackID
	if ApplyEvent(r, late).Changed() || r.Observed.StackID != "" {
		t.Fatal("an event of another operation bound the item")
	}
	noToken := stackEv(1, "", "CREATE_IN_PROGRESS", "")
	if ApplyEvent(r, noToken).Changed() {
		t.Fatal("an event without the create's token bound the item")
	}
	// A description by name cannot tell whose the stack is: the worker
	// or the create's events will bind it.
	if Observe(r, &Stack{StackID: stackID, StackName: stackName, Status: "CREATE_COMPLETE"}, t0.Add(time.Hour)) || ObserveGone(r, "", t0.Add(time.Hour)) {
		t.Fatal("a description changed an item whose create is queued")
	}
	evs := createEvents("op1")
	a := ApplyEvent(r, evs[3])
	if !a.Bound || r.Observed.StackID != stackID {
		t.Fatalf("the create's own event did not bind the stack: %+v", a)
	}
	for _, e := range evs {
		ApplyEvent(r, e)
	}
	if r.Op.Status != OpSucceeded || r.Observed.Phase != PhaseReady || r.Lock != nil {
		t.Fatalf("op %s phase %s lock %v", r.Op.Status, r.Observed.Phase, r.Lock)
	}
}

// A description taken before an operation started tells nothing of it:
// it never ends the operation, however terminal the status it shows.
func TestObservationOlderThanTheOperationDoesNotEndIt(t *testing.T) {
	r := lockedResource(ActionUpdate, bucketSpec(true))
	run(r, t0.Add(time.Minute))
	st := &Stack{StackID: stackID, StackName: stackName, Status: "CREATE_COMPLETE"}
	Observe(r, st, t0.Add(30*time.Second))
	if r.Op.Status != OpRunning || r.Lock == nil {
		t.Fatalf("a description from before the update ended it: op %s lock %v", r.Op.Status, r.Lock)
	}
	st.Status = "UPDATE_COMPLETE"
	if !Observe(r, st, t0.Add(2*time.Minute)) || r.Op.Status != OpSucceeded || r.Lock != nil {
		t.Fatalf("a later description did not end it: op %s lock %v", r.Op.Status, r.Lock)
	}
}

// An item whose create failed before CloudFormation made a stack has
// nothing to delete.
func TestEndWithoutStack(t *testing.T) {
	r := lockedResource(ActionDelete, bucketSpec(false))
	r.Observed = Observed{Phase: PhaseFailed, StatusReason: "AlreadyExistsException"}
	EndWithoutStack(r, t0.Add(time.Minute))
	if r.Observed.Phase != PhaseDeleted || r.Op.Status != OpSucceeded || r.Lock != nil {
		t.Fatalf("phase %s op %s lock %v", r.Observed.Phase, r.Op.Status, r.Lock)
	}
}

// EventBridge timestamps have whole seconds: a stack's
// UPDATE_COMPLETE_CLEANUP_IN_PROGRESS and UPDATE_COMPLETE often share one
// and arrive in either order. The stack status lifecycle orders them.
func TestSameSecondFollowsTheLifecycle(t *testing.T) {
	at := func(e StackEvent) StackEvent { e.Timestamp = t0.Add(5 * time.Second); return e }
	cleanup := at(stackEv(4, "op1", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", ""))
	complete := at(stackEv(5, "op1", "UPDATE_COMPLETE", ""))
	for _, order := range [][]StackEvent{{cleanup, complete}, {complete, cleanup}} {
		r := lockedResource(ActionUpdate, bucketSpec(true))
		run(r, t0)
		ApplyEvent(r, stackEv(1, "op1", "UPDATE_IN_PROGRESS", ""))
		for _, e := range order {
			ApplyEvent(r, e)
		}
		if r.Observed.StackStatus != "UPDATE_COMPLETE" || r.Observed.Phase != PhaseReady || r.Op.Status != OpSucceeded || r.Lock != nil {
			t.Fatalf("%s then %s: status %s phase %s op %s", order[0].ResourceStatus, order[1].ResourceStatus,
				r.Observed.StackStatus, r.Observed.Phase, r.Op.Status)
		}
		// A duplicate of either changes nothing; the same status under
		// another id (the same event from SNS and EventBridge) is progress
		// only.
		before := r.Clone()
		for _, e := range []StackEvent{cleanup, complete} {
			if a := ApplyEvent(r, e); a.Changed() || !equalResource(before, r) {
				t.Fatalf("%s applied again: %+v", e.ResourceStatus, a)
			}
		}
		again := complete
		again.EventID = "from-the-other-source"
		if a := ApplyEvent(r, again); a.Status || a.Finished || r.Observed.StackStatus != "UPDATE_COMPLETE" || r.LastEvent != before.LastEvent {
			t.Fatalf("the same status under another id applied: %+v", a)
		}
	}
}

func TestStatusRankFollowsCloudFormation(t *testing.T) {
	for _, seq := range [][]string{
		{"UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE"},
		{"UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"},
		{"UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_FAILED"},
		{"UPDATE_IN_PROGRESS", "UPDATE_FAILED"},
		{"REVIEW_IN_PROGRESS", "CREATE_IN_PROGRESS", "CREATE_COMPLETE"},
		{"CREATE_IN_PROGRESS", "CREATE_FAILED"},
		{"CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE"},
		{"CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "ROLLBACK_FAILED"},
		{"CREATE_IN_PROGRESS", "CREATE_FAILED", "ROLLBACK_COMPLETE"},
		{"DELETE_IN_PROGRESS", "DELETE_COMPLETE"},
		{"DELETE_IN_PROGRESS", "DELETE_FAILED"},
		{"IMPORT_IN_PROGRESS", "IMPORT_COMPLETE"},
		{"IMPORT_IN_PROGRESS", "IMPORT_ROLLBACK_IN_PROGRESS", "IMPORT_ROLLBACK_COMPLETE"},
		{"", "SOME_NEW_IN_PROGRESS", "SOME_NEW_COMPLETE"},
	} {
		for i := 1; i < len(seq); i++ {
			if statusRank(seq[i-1]) >= statusRank(seq[i]) {
				t.Errorf("%s does not rank below %s", seq[i-1], seq[i])
			}
		}
	}
	// Every in-progress status ranks below every terminal one.
	var inProgress, terminal []string
	for _, s := range []string{"CREATE_IN_PROGRESS", "REVIEW_IN_PROGRESS", "ROLLBACK_IN_PROGRESS", "UPDATE_IN_PROGRESS",
		"UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
		"DELETE_IN_PROGRESS", "IMPORT_IN_PROGRESS", "IMPORT_ROLLBACK_IN_PROGRESS",
		"CREATE_COMPLETE", "CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_COMPLETE", "UPDATE_FAILED",
		"UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED", "DELETE_COMPLETE", "DELETE_FAILED", "IMPORT_COMPLETE",
		"IMPORT_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_FAILED"} {
		if InProgress(s) {
			inProgress = append(inProgress, s)
		} else {
			terminal = append(terminal, s)
		}
	}
	for _, p := range inProgress {
		for _, q := range terminal {
			if statusRank(p) >= statusRank(q) {
				t.Errorf("in progress %s does not rank below terminal %s", p, q)
			}
		}
	}
}

// A tie is broken by the lifecycle only within the item's latest
// operation: an event of another one is of an earlier operation (or of
// someone else's) and never wins it.
func TestSameSecondOfAnotherOperationNeverWins(t *testing.T) {
	r := lockedResource(ActionUpdate, bucketSpec(true))
	run(r, t0)
	ApplyEvent(r, stackEv(5, "op1", "UPDATE_IN_PROGRESS", ""))
	before := r.Clone()
	if a := ApplyEvent(r, stackEv(5, "op0", "UPDATE_COMPLETE", "")); a.Changed() || !equalResource(before, r) {
		t.Fatalf("an earlier operation's event of the same second applied: %+v", a)
	}
	// Without a token, the lifecycle decides.
	if a := ApplyEvent(r, stackEv(5, "", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "")); !a.Status {
		t.Fatalf("a later status of the same second did not apply: %+v", a)
	}
	// An older event never overwrites a newer one, whatever its status.
	if a := ApplyEvent(r, stackEv(4, "op1", "UPDATE_COMPLETE", "")); a.Status || r.Observed.StackStatus != "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS" {
		t.Fatalf("an older event overwrote the status: %+v, %s", a, r.Observed.StackStatus)
	}
}

// opEvents returns the events of one stack operation of action, ending in
// terminal, with strictly increasing millisecond times from start, in the
// order CloudFormation emits them.
func opEvents(rng *rand.Rand, action Action, terminal, token string, start time.Time) []StackEvent {
	var stack []string
	res := "UPDATE"
	switch action {
	case ActionCreate:
		res = "CREATE"
		stack = []string{"CREATE_IN_PROGRESS"}
		if terminal == "ROLLBACK_COMPLETE" {
			stack = append(stack, "ROLLBACK_IN_PROGRESS")
		}
	case ActionDelete:
		res = "DELETE"
		stack = []string{"DELETE_IN_PROGRESS"}
	default:
		stack = []string{"UPDATE_IN_PROGRESS"}
		if terminal == "UPDATE_COMPLETE" {
			stack = append(stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
		} else {
			stack = append(stack, "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
		}
	}
	stack = append(stack, terminal)
	failed := strings.Contains(terminal, "ROLLBACK")
	at := start
	var evs []StackEvent
	add := func(logical, typ, status, reason string) {
		at = at.Add(time.Duration(1+rng.IntN(700)) * time.Millisecond)
		evs = append(evs, StackEvent{
			StackID: stackID, StackName: stackName, EventID: fmt.Sprintf("%s-%d", token, len(evs)), Timestamp: at,
			LogicalResourceID: logical, ResourceType: typ, ResourceStatus: status, StatusReason: reason,
			ClientRequestToken: token,
		})
	}
	for i, s := range stack {
		add(stackName, StackResourceType, s, "")
		if i == 0 {
			// The resources' events, between the first stack event and the next.
			for _, l := range []string{"Bucket", "BucketPolicy"} {
				add(l, "AWS::S3::Bucket", res+"_IN_PROGRESS", "")
				if failed && l == "BucketPolicy" {
					add(l, "AWS::S3::Bucket", res+"_FAILED", "Access Denied")
				} else {
					add(l, "AWS::S3::Bucket", res+"_COMPLETE", "")
				}
			}
		}
	}
	return evs
}

// Timestamps truncated to whole seconds, as EventBridge sends them, in any
// order and with duplicates: the item ends in the operation's terminal
// status and the operation ends exactly once.
func TestApplyWholeSecondsAnyOrderConverges(t *testing.T) {
	cases := []struct {
		action   Action
		terminal string
		phase    Phase
		status   OpStatus
	}{
		{ActionCreate, "CREATE_COMPLETE", PhaseReady, OpSucceeded},
		{ActionCreate, "ROLLBACK_COMPLETE", PhaseFailed, OpFailed},
		{ActionUpdate, "UPDATE_COMPLETE", PhaseReady, OpSucceeded},
		{ActionUpdate, "UPDATE_ROLLBACK_COMPLETE", PhaseReady, OpFailed},
		{ActionDelete, "DELETE_COMPLETE", PhaseDeleted, OpSucceeded},
	}
	for seed := range uint64(500) {
		rng := rand.New(rand.NewPCG(seed, 2))
		c := cases[int(seed)%len(cases)]
		r := lockedResource(c.action, bucketSpec(true))
		if c.action != ActionCreate {
			// The previous operation's terminal event, in the second the
			// new one starts.
			r.LastEvent = EventRef{ID: "e0", Time: t0}
			run(r, t0)
		}
		evs := opEvents(rng, c.action, c.terminal, "op1", t0.Add(time.Duration(rng.IntN(1000))*time.Millisecond))
		for i := range evs {
			evs[i].Timestamp = evs[i].Timestamp.Truncate(time.Second)
		}
		n := len(evs)
		for _, e := range evs[:n] {
			if rng.IntN(3) == 0 {
				evs = append(evs, e)
			}
		}
		rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
		finished := 0
		for _, e := range evs {
			if ApplyEvent(r, e).Finished {
				finished++
			}
		}
		if finished != 1 {
			t.Fatalf("seed %d %s: finished %d times", seed, c.terminal, finished)
		}
		if r.Observed.StackStatus != c.terminal || r.Observed.Phase != c.phase {
			t.Fatalf("seed %d: status %s phase %s, want %s", seed, r.Observed.StackStatus, r.Observed.Phase, c.terminal)
		}
		if r.Lock != nil || r.Op.Status != c.status || len(r.Op.Events) != n {
			t.Fatalf("seed %d: lock %v op %s, %d events of %d", seed, r.Lock, r.Op.Status, len(r.Op.Events), n)
		}
		if c.status == OpFailed && !strings.Contains(r.Op.Error, "Access Denied") {
			t.Fatalf("seed %d: error %q", seed, r.Op.Error)
		}
		// Everything delivered once more changes nothing.
		before := r.Clone()
		for _, e := range evs {
			if a := ApplyEvent(r, e); a.Changed() {
				t.Fatalf("seed %d: %s applied again: %+v", seed, e.ResourceStatus, a)
			}
		}
		if !equalResource(before, r) {
			t.Fatalf("seed %d: a redelivery changed the item", seed)
		}
	}
}

// AWS's documented EventBridge examples name the stack by an ARN without
// its unique id. Such an event is the item's only by its operation's
// token, and never binds an item to a stack.
func TestEventWithoutStackUUID(t *testing.T) {
	byName := "arn:aws:cloudformation:eu-west-1:123456789012:stack/" + stackName
	named := func(i int, token, status string) StackEvent {
		e := stackEv(i, token, status, "")
		e.StackID = byName
		return e
	}
	if !namesInstance(stackID) || namesInstance(byName) || namesInstance("") || !namesInstance("some-id") {
		t.Fatal("namesInstance")
	}

	// A create: the id without a UUID does not bind it.
	r := lockedResource(ActionCreate, bucketSpec(false))
	if ApplyEvent(r, named(1, "op1", "CREATE_IN_PROGRESS")).Changed() || r.Observed.StackID != "" {
		t.Fatal("an event without the stack's UUID bound the item")
	}

	// A bound item: the operation's own event applies, another's does not.
	r = lockedResource(ActionUpdate, bucketSpec(true))
	run(r, t0)
	for _, e := range []StackEvent{named(2, "other", "UPDATE_COMPLETE"), named(2, "", "UPDATE_COMPLETE")} {
		if ApplyEvent(r, e).Changed() {
			t.Fatalf("an event of %q without the stack's UUID applied", e.ClientRequestToken)
		}
	}
	ApplyEvent(r, named(1, "op1", "UPDATE_IN_PROGRESS"))
	if a := ApplyEvent(r, named(3, "op1", "UPDATE_COMPLETE")); !a.Finished || r.Observed.StackID != stackID || r.Observed.StackStatus != "UPDATE_COMPLETE" {
		t.Fatalf("the operation's own event did not end it: %+v, %s", a, r.Observed.StackStatus)
	}
}

// A description that only confirms what a converged item holds changes
// nothing, however much later it is taken: the reconciler then writes and
// publishes nothing. A description that does change the item records its
// time, so that an older event does not undo it.
func TestObserveConfirmingChangesNothing(t *testing.T) {
	r := lockedResource(ActionCreate, bucketSpec(false))
	for _, e := range createEvents("op1") {
		ApplyEvent(r, e)
	}
	SetOutputs(r, map[string]string{"BucketArn": "arn:aws:s3:::data"})
	if r.Lock != nil || r.Observed.StackStatus != "CREATE_COMPLETE" {
		t.Fatalf("not converged: %+v", r.Observed)
	}
	st := &Stack{StackID: stackID, StackName: stackName, Status: "CREATE_COMPLETE", Outputs: map[string]string{"BucketArn": "arn:aws:s3:::data"}}
	before := r.Clone()
	for _, later := range []time.Duration{time.Minute, time.Hour, 48 * time.Hour} {
		if Observe(r, st, t0.Add(later)) {
			t.Fatalf("a confirming description %s later changed the item", later)
		}
		if !equalResource(before, r) {
			t.Fatalf("a confirming description %s later altered the item: last event %+v", later, r.LastEvent)
		}
	}

	// A description that changes the status records its time: an event
	// older than it no longer overwrites it.
	st.Status = "UPDATE_COMPLETE"
	at := t0.Add(time.Hour)
	if !Observe(r, st, at) || r.Observed.StackStatus != "UPDATE_COMPLETE" || !r.LastEvent.Time.Equal(at) {
		t.Fatalf("a changing description: status %s, last event %+v", r.Observed.StackStatus, r.LastEvent)
	}
	late := stackEv(1800, "other", "UPDATE_IN_PROGRESS", "") // 30 min after t0, before the description
	if ApplyEvent(r, late).Status || r.Observed.StackStatus != "UPDATE_COMPLETE" {
		t.Fatalf("an event older than the description overwrote it: %s", r.Observed.StackStatus)
	}
}
