package simcloud

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"bucketdesk/internal/cfnevent"
	"bucketdesk/internal/core"
)

// principalID is the PrincipalId of every notification: the role the
// backend assumes in project accounts.
const principalID = "AROASANDBOXBUCKETDESK:bucketdesk"

const creationInitiated = "Resource creation Initiated"

const replacementReason = "Requested update requires the creation of a new physical resource; hence creating one."

// run carries out st's operation, one step at a time, until it ends or
// the sandbox closes.
func (s *Sandbox) run(st *stack) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		for s.work.holds > 0 && !s.closed {
			ch := s.work.released
			s.mu.Unlock()
			select {
			case <-ch:
			case <-s.quit:
			}
			s.mu.Lock()
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		c := &change{stacks: []*stack{st}}
		s.expire(c) // before the step: st itself is never forgotten in its own commit
		wait, done := s.advance(c, st)
		err := s.commit(c)
		if done || err != nil {
			s.work.inflight--
			s.broadcast()
		}
		s.mu.Unlock()
		if done || err != nil {
			return
		}
		if wait > 0 {
			select {
			case <-s.clock.After(wait):
			case <-s.quit:
				return
			}
		}
	}
}

// advance takes one step of st's operation; s.mu is held. It returns how
// long the step's work takes and whether the operation ended.
func (s *Sandbox) advance(c *change, st *stack) (time.Duration, bool) {
	switch st.Status {
	case "CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS":
		return s.stepApply(c, st)
	case "UPDATE_ROLLBACK_IN_PROGRESS":
		return s.stepRestore(c, st)
	default: // ROLLBACK_, DELETE_, and both cleanup phases
		return s.stepDelete(c, st)
	}
}

func (s *Sandbox) resolver(st *stack) *resolver { return &resolver{s: s, st: st, tpl: st.template()} }

// emitStack emits a stack-level event.
func (s *Sandbox) emitStack(c *change, st *stack, status, reason string) {
	s.emit(c, st, st.Name, st.ID, core.StackResourceType, status, reason, nil)
}

// emit records an event of st and queues its SNS notification. Per stack,
// timestamps strictly increase (by a millisecond, CloudFormation's
// precision, when the clock has not moved).
func (s *Sandbox) emit(c *change, st *stack, logical, physical, typ, status, reason string, props json.RawMessage) {
	ts := s.clock.Now().UTC().Truncate(time.Millisecond)
	if !ts.After(st.LastEvent) {
		ts = st.LastEvent.Add(time.Millisecond)
	}
	st.LastEvent = ts
	id := uuid()
	if typ != core.StackResourceType || logical != st.Name {
		id = logical + "-" + status + "-" + ts.Format("2006-01-02T15:04:05.000Z")
	}
	var token string
	if st.Op != nil {
		token = st.Op.Token
	}
	ev := core.StackEvent{
		StackID: st.ID, StackName: st.Name, EventID: id, Timestamp: ts,
		LogicalResourceID: logical, PhysicalResourceID: physical, ResourceType: typ,
		ResourceStatus: status, StatusReason: reason, ClientRequestToken: token,
	}
	c.events = append(c.events, ev)
	st.nevents++
	s.store.nevents++
	n := cfnevent.Notification{Event: ev, Namespace: st.Account, PrincipalID: principalID, ResourceProperties: string(props)}
	if body, err := cfnevent.FormatSNS(n, st.Topic, uuid(), ts); err == nil {
		c.out = append(c.out, body)
	}
}

// emitRecord emits an event about a resource record.
func (s *Sandbox) emitRecord(c *change, st *stack, r *record, status, reason string) {
	s.emit(c, st, r.Logical, r.Physical, r.Type, status, reason, r.Props)
}

// finish ends the operation with a terminal stack status.
func (s *Sandbox) finish(c *change, st *stack, status, reason string) (time.Duration, bool) {
	st.Status, st.Reason = status, reason
	evReason := ""
	if strings.HasSuffix(status, "_FAILED") {
		evReason = reason
	}
	s.emitStack(c, st, status, evReason)
	st.Op = nil
	if status == "DELETE_COMPLETE" {
		st.Deleted = true
		st.DeletedAt = st.LastEvent // the DELETE_COMPLETE event's time
		st.Reason = ""
		st.Resources = map[string]*record{}
		st.Retired = nil
		st.Tokens = nil // a deleted stack is never retried: only a live one is looked up by name
		// The parsed template is most of a stack's memory and a deleted
		// stack is only ever described; it is parsed again if needed.
		st.tpl = nil
		delete(s.store.byName, st.Account+"\x00"+st.Name)
		s.store.expiry = append(s.store.expiry, expiring{at: st.DeletedAt, id: st.ID})
	}
	return 0, true
}

// stepApply creates or updates the next resource of the template.
func (s *Sandbox) stepApply(c *change, st *stack) (time.Duration, bool) {
	op := st.Op
	tpl := st.template()
	if len(op.Queue) == 0 {
		st.Outputs = s.resolver(st).outputs()
		if op.Action == actionCreate {
			return s.finish(c, st, "CREATE_COMPLETE", "")
		}
		op.Queue = s.cleanupAfterUpdate(st)
		st.Status = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
		s.emitStack(c, st, st.Status, "")
		return 0, false
	}
	logical := op.Queue[0]
	tr := tpl.Resources[logical]
	cur := st.Resources[logical]
	if op.Head == "" {
		decision := "create"
		if cur != nil {
			decision = s.decide(st, logical, cur)
		}
		switch decision {
		case "skip":
			if !bytes.Equal(cur.Props, tr.raw) {
				r := *cur
				r.Props = tr.raw
				st.Resources[logical] = &r
			}
			op.Queue = op.Queue[1:]
			return 0, false
		case "create":
			s.emit(c, st, logical, "", tr.Type, "CREATE_IN_PROGRESS", "", tr.raw)
		case "update":
			s.emit(c, st, logical, cur.Physical, tr.Type, "UPDATE_IN_PROGRESS", "", tr.raw)
		case "replace":
			s.emit(c, st, logical, cur.Physical, tr.Type, "UPDATE_IN_PROGRESS", replacementReason, tr.raw)
		}
		op.Head = decision
		return s.opts.ResourceDuration, false
	}

	head := op.Head
	op.Head, op.Queue = "", op.Queue[1:]
	op.Touched = append(op.Touched, logical)
	r, err := s.apply(c, st, logical, head, cur)
	if err != nil {
		verb, status, physical := "update", "UPDATE_FAILED", ""
		if cur != nil {
			physical = cur.Physical
		}
		if head == "create" {
			verb, status, physical = "create", "CREATE_FAILED", ""
			st.Resources[logical] = &record{ID: st.newRecordID(logical), Logical: logical, Type: tr.Type, Props: tr.raw}
		}
		s.emit(c, st, logical, physical, tr.Type, status, err.Error(), tr.raw)
		return s.rollback(c, st, verb, logical)
	}
	status := "UPDATE_COMPLETE"
	if head == "create" {
		status = "CREATE_COMPLETE"
	}
	// CloudFormation reports a second IN_PROGRESS event, with the new
	// physical id, once the handler has started making the resource.
	switch head {
	case "create":
		s.emit(c, st, logical, r.Physical, tr.Type, "CREATE_IN_PROGRESS", creationInitiated, tr.raw)
	case "replace":
		s.emit(c, st, logical, r.Physical, tr.Type, "UPDATE_IN_PROGRESS", creationInitiated, tr.raw)
	}
	if head == "replace" {
		st.retire(cur)
	}
	st.Resources[logical] = r
	s.emitRecord(c, st, r, status, "")
	return 0, false
}

// decide tells what an update does to an existing resource: skip,
// update (in place) or replace.
func (s *Sandbox) decide(st *stack, logical string, cur *record) string {
	tr := st.template().Resources[logical]
	if cur.Physical == "" {
		return "create"
	}
	if cur.Type != tr.Type {
		return "replace"
	}
	p, err := s.resolver(st).resolveProps(tr.Properties)
	if err != nil {
		return "update" // the failure shows when it is applied
	}
	if s.hash(p) == cur.Hash {
		return "skip"
	}
	var old map[string]any
	_ = decodeNumber(cur.Resolved, &old)
	for _, k := range types[tr.Type].replace {
		a, _ := json.Marshal(old[k])
		b, _ := json.Marshal(p[k])
		if !bytes.Equal(a, b) {
			return "replace"
		}
	}
	return "update"
}

// apply resolves and checks a resource's properties and creates, updates
// in place or creates the replacement of the resource. The error's text
// is the resource's status reason.
func (s *Sandbox) apply(c *change, st *stack, logical, head string, cur *record) (*record, error) {
	tr := st.template().Resources[logical]
	rt := types[tr.Type]
	p, err := s.resolver(st).resolveProps(tr.Properties)
	if err != nil {
		return nil, err
	}
	if err := validateProps(logical, rt, p); err != nil {
		return nil, err
	}
	if reason, ok := s.opts.FailTypes[tr.Type]; ok {
		return nil, errors.New(reason)
	}
	if err := s.failOnPurpose(st, p); err != nil {
		return nil, err
	}
	public := make(map[string]any, len(p))
	for k, v := range p {
		if !contains(rt.secret, k) {
			public[k] = v
		}
	}
	resolved, _ := json.Marshal(public)
	r := &record{Logical: logical, Type: tr.Type, Props: tr.raw, Resolved: resolved, Hash: s.hash(p)}
	rc := &rctx{s: s, st: st, c: c, logical: logical}
	if head == "update" {
		r.ID, r.Physical, r.Attrs, r.Sealed = cur.ID, cur.Physical, cur.Attrs, cur.Sealed
		err = rt.update(rc, r, p)
	} else {
		r.ID = st.newRecordID(logical)
		err = rt.create(rc, r, p)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// rollback turns a failed create or update into its rollback.
func (s *Sandbox) rollback(c *change, st *stack, verb, logical string) (time.Duration, bool) {
	op := st.Op
	op.Queue = nil
	if op.Action == actionCreate {
		st.Status = "ROLLBACK_IN_PROGRESS"
		op.Reason = fmt.Sprintf("The following resource(s) failed to create: [%s]. Rollback requested by user.", logical)
		s.emitStack(c, st, st.Status, op.Reason)
		for i := len(op.Touched) - 1; i >= 0; i-- {
			if r := st.Resources[op.Touched[i]]; r != nil {
				op.Queue = append(op.Queue, r.ID)
			}
		}
		return 0, false
	}
	st.Status = "UPDATE_ROLLBACK_IN_PROGRESS"
	op.Reason = fmt.Sprintf("The following resource(s) failed to %s: [%s]. ", verb, logical)
	s.emitStack(c, st, st.Status, op.Reason)
	for i := len(op.Touched) - 1; i >= 0; i-- {
		if l := op.Touched[i]; op.Old[l] != nil {
			op.Queue = append(op.Queue, l)
		}
	}
	return 0, false
}

// stepRestore puts back the previous version of a resource changed by a
// failed update.
func (s *Sandbox) stepRestore(c *change, st *stack) (time.Duration, bool) {
	op := st.Op
	if len(op.Queue) == 0 {
		st.Template, st.tpl = op.OldTemplate, nil
		st.Outputs, st.Tags = op.OldOutputs, op.OldTags
		st.Status = "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"
		s.emitStack(c, st, st.Status, "")
		for i := len(op.Touched) - 1; i >= 0; i-- {
			l := op.Touched[i]
			if op.Old[l] == nil {
				if r := st.Resources[l]; r != nil {
					op.Queue = append(op.Queue, r.ID)
				}
			} else if id := op.RolledBack[l]; id != "" {
				op.Queue = append(op.Queue, id)
			}
		}
		return 0, false
	}
	l := op.Queue[0]
	old := op.Old[l]
	if op.Head == "" {
		s.emitRecord(c, st, old, "UPDATE_IN_PROGRESS", "")
		op.Head = "restore"
		return s.opts.ResourceDuration, false
	}
	if cur := st.Resources[l]; cur != nil && cur.ID != old.ID {
		st.retire(cur)
		if op.RolledBack == nil {
			op.RolledBack = map[string]string{}
		}
		op.RolledBack[l] = cur.ID
	}
	for i, r := range st.Retired {
		if r.ID == old.ID {
			st.Retired = append(st.Retired[:i:i], st.Retired[i+1:]...)
			break
		}
	}
	st.Resources[l] = old
	s.emitRecord(c, st, old, "UPDATE_COMPLETE", "")
	op.Head, op.Queue = "", op.Queue[1:]
	return 0, false
}

// cleanupAfterUpdate lists what a successful update deletes: the old
// versions of replaced resources and the resources no longer in the
// template, in reverse dependency order of the old template.
func (s *Sandbox) cleanupAfterUpdate(st *stack) []string {
	op := st.Op
	tpl := st.template()
	oldTpl, err := parseTemplate(op.OldTemplate)
	if err != nil {
		oldTpl = &template{}
	}
	var q []string
	seen := map[string]bool{}
	for i := len(oldTpl.order) - 1; i >= 0; i-- {
		l := oldTpl.order[i]
		old := op.Old[l]
		if old == nil {
			continue
		}
		seen[l] = true
		if tpl.Resources[l] == nil {
			if r := st.Resources[l]; r != nil {
				q = append(q, r.ID)
			}
			continue
		}
		if cur := st.Resources[l]; cur == nil || cur.ID != old.ID {
			q = append(q, old.ID)
		}
	}
	var rest []string
	for l, r := range st.Resources {
		if tpl.Resources[l] == nil && !seen[l] {
			rest = append(rest, r.ID)
		}
	}
	sort.Strings(rest)
	return append(q, rest...)
}

// stepDelete deletes the next resource of a rollback, a cleanup or a
// stack deletion, and ends the phase when none is left.
func (s *Sandbox) stepDelete(c *change, st *stack) (time.Duration, bool) {
	op := st.Op
	if len(op.Queue) == 0 {
		return s.endDeletePhase(c, st)
	}
	id := op.Queue[0]
	r := st.findRecord(id)
	if r == nil {
		op.Head, op.Queue = "", op.Queue[1:]
		return 0, false
	}
	if op.Head == "" {
		if st.Status == "DELETE_IN_PROGRESS" && s.blocked(st, r) {
			op.Queue = op.Queue[1:]
			return 0, false
		}
		if retained(st, r) {
			// CloudFormation leaves the resource where it is and forgets it.
			st.dropRecord(id)
			s.emitRecord(c, st, r, "DELETE_SKIPPED", "")
			op.Queue = op.Queue[1:]
			return 0, false
		}
		s.emitRecord(c, st, r, "DELETE_IN_PROGRESS", "")
		op.Head = "delete"
		return s.opts.ResourceDuration, false
	}
	op.Head, op.Queue = "", op.Queue[1:]
	var err error
	switch {
	case r.Physical == "":
	case st.Status == "DELETE_IN_PROGRESS" && op.FailNext:
		op.FailNext = false
		err = errors.New(onPurpose("delete", "--sandbox-fail-rate"))
	default:
		err = types[r.Type].delete(&rctx{s: s, st: st, c: c, logical: r.Logical}, r)
	}
	if err != nil {
		s.emitRecord(c, st, r, "DELETE_FAILED", err.Error())
		op.Failed = append(op.Failed, r.Logical)
		if cur := st.Resources[r.Logical]; cur != nil && cur.ID == r.ID && st.template().Resources[r.Logical] == nil {
			st.retire(r)
		}
		return 0, false
	}
	st.dropRecord(id)
	s.emitRecord(c, st, r, "DELETE_COMPLETE", "")
	return 0, false
}

// blocked reports whether a resource must stay because one that depends
// on it failed to delete.
func (s *Sandbox) blocked(st *stack, r *record) bool {
	if cur := st.Resources[r.Logical]; cur == nil || cur.ID != r.ID {
		return false
	}
	tpl := st.template()
	for _, f := range st.Op.Failed {
		if tpl.dependencies(f)[r.Logical] {
			return true
		}
	}
	return false
}

func failedList(names []string) string {
	u := map[string]bool{}
	var out []string
	for _, n := range names {
		if !u[n] {
			u[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func (s *Sandbox) endDeletePhase(c *change, st *stack) (time.Duration, bool) {
	op := st.Op
	switch st.Status {
	case "ROLLBACK_IN_PROGRESS":
		if len(op.Failed) > 0 {
			return s.finish(c, st, "ROLLBACK_FAILED", fmt.Sprintf("The following resource(s) failed to delete: [%s]. ", failedList(op.Failed)))
		}
		return s.finish(c, st, "ROLLBACK_COMPLETE", op.Reason)
	case "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS":
		return s.finish(c, st, "UPDATE_COMPLETE", "")
	case "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS":
		return s.finish(c, st, "UPDATE_ROLLBACK_COMPLETE", op.Reason)
	default: // DELETE_IN_PROGRESS
		if len(op.Failed) > 0 {
			return s.finish(c, st, "DELETE_FAILED", fmt.Sprintf("The following resource(s) failed to delete: [%s]. ", failedList(op.Failed)))
		}
		return s.finish(c, st, "DELETE_COMPLETE", "")
	}
}

// failOnPurpose fails the create or update of a resource when the
// operation drew a failure (Options.FailRate) or the resource's Tags ask
// for one (FailTag).
func (s *Sandbox) failOnPurpose(st *stack, props map[string]any) error {
	verb := strings.ToLower(st.Op.Action)
	if st.Op.FailNext {
		st.Op.FailNext = false
		return errors.New(onPurpose(verb, "--sandbox-fail-rate"))
	}
	tags, _ := props["Tags"].([]any)
	for _, t := range tags {
		m, _ := t.(map[string]any)
		if m["Key"] == FailTag && m["Value"] == verb {
			return errors.New(onPurpose(verb, "tag "+FailTag+"="+verb))
		}
	}
	return nil
}

// onPurpose is the reason of a failure the sandbox made on purpose,
// shaped as CloudFormation reports a resource handler's failure.
func onPurpose(verb, why string) string {
	return fmt.Sprintf(`Resource handler returned message: "The sandbox failed this %s on purpose (%s)" (HandlerErrorCode: GeneralServiceException)`, verb, why)
}

// retained reports whether deleting r now is skipped because of its
// template's policies: DeletionPolicy Retain keeps it when the stack is
// deleted and when a failed create rolls back, RetainExceptOnCreate only
// when the stack is deleted; UpdateReplacePolicy Retain keeps the old
// resource an update replaced.
func retained(st *stack, r *record) bool {
	tr := st.template().Resources[r.Logical]
	if tr == nil {
		return false
	}
	if cur := st.Resources[r.Logical]; cur == nil || cur.ID != r.ID {
		return st.Status == "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS" && tr.UpdateReplacePolicy == "Retain"
	}
	switch tr.DeletionPolicy {
	case "Retain":
		return st.Status == "DELETE_IN_PROGRESS" || st.Status == "ROLLBACK_IN_PROGRESS"
	case "RetainExceptOnCreate":
		return st.Status == "DELETE_IN_PROGRESS"
	}
	return false
}
