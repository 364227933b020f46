package core

import (
	"strings"
	"time"
)

// Phase is the coarse state of a resource, derived from its stack status.
// It reads like Service Catalog's provisioned-product states.
type Phase string

// Phases.
const (
	PhaseCreating Phase = "creating"
	PhaseReady    Phase = "ready"
	PhaseUpdating Phase = "updating"
	PhaseDeleting Phase = "deleting"
	PhaseFailed   Phase = "failed"
	PhaseDeleted  Phase = "deleted"
)

// PhaseOf derives the phase from a CloudFormation stack status. Every status
// CloudFormation documents has a phase; an unknown one is failed.
func PhaseOf(status string) Phase {
	switch status {
	case "CREATE_IN_PROGRESS", "REVIEW_IN_PROGRESS", "ROLLBACK_IN_PROGRESS":
		return PhaseCreating
	case "CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
		"IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE":
		return PhaseReady
	case "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
		"UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
		"IMPORT_IN_PROGRESS", "IMPORT_ROLLBACK_IN_PROGRESS":
		return PhaseUpdating
	case "DELETE_IN_PROGRESS":
		return PhaseDeleting
	case "DELETE_COMPLETE":
		return PhaseDeleted
	case "CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED",
		"UPDATE_FAILED", "UPDATE_ROLLBACK_FAILED", "IMPORT_ROLLBACK_FAILED":
		return PhaseFailed
	}
	return PhaseFailed
}

// InProgress reports whether a stack (or resource) status is still moving.
func InProgress(status string) bool { return strings.HasSuffix(status, "_IN_PROGRESS") }

// Terminal reports whether a stack status ends a stack operation.
func Terminal(status string) bool { return status != "" && !InProgress(status) }

// ResourceKey identifies a cached resource. StackName is derived from
// (project, kind, name) by package stacks and is what stack events carry.
type ResourceKey struct {
	Project   string
	StackName string
}

// Lock is held by the operation that is changing a resource.
type Lock struct {
	OperationID string    `json:"operation_id"`
	Action      Action    `json:"action"`
	By          string    `json:"by"`
	Since       time.Time `json:"since"`
}

// EventRef names the last stack-level event applied to a resource.
type EventRef struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

// Observed is what CloudFormation last reported about a resource's stack.
type Observed struct {
	Phase        Phase  `json:"phase"`
	StackID      string `json:"stack_id,omitempty"`
	StackStatus  string `json:"stack_status,omitempty"`
	StatusReason string `json:"status_reason,omitempty"`
	// Outputs are the stack's outputs: ARNs, access key ids, secret ARNs.
	// Never a secret value.
	Outputs map[string]string `json:"outputs,omitempty"`
	// LastFailure is the reason of the last operation that failed and was
	// rolled back, kept while the resource is ready again (TAINTED).
	LastFailure string `json:"last_failure,omitempty"`
	// Stale is set when the observed state may lag CloudFormation (a
	// describe failed); the reconciler refreshes it.
	Stale bool `json:"stale,omitempty"`
}

// Resource is one cached item: a bucket or user and its stack.
type Resource struct {
	Project   string   `json:"project"`
	Kind      Kind     `json:"kind"`
	Name      string   `json:"name"`
	StackName string   `json:"stack_name"`
	Spec      Spec     `json:"spec"`
	Observed  Observed `json:"observed"`
	LastEvent EventRef `json:"last_event"`
	// Version increases by one on every write; it is the ETag.
	Version int64 `json:"version"`
	// Lock is held while Op is queued or running.
	Lock *Lock `json:"lock,omitempty"`
	// Op is the resource's latest operation, the source of truth for it
	// while it runs; history items are copies written after.
	Op *Operation `json:"operation,omitempty"`
	// Revealed lists the access key ids whose secret has been shown once;
	// a secret is never shown twice.
	Revealed  []string  `json:"revealed_keys,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	// CreatedBy and CreatedAt are who asked for the resource's create and
	// when it succeeded; ChangedBy and ChangedAt the same of its latest
	// succeeded create, update or rotate-key (SystemActor's deactivation
	// included). Empty for a stack the reconciler adopted until its next
	// change. Kept by the mirror's rules (RecordChange).
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	ChangedBy string    `json:"changed_by,omitempty"`
	ChangedAt time.Time `json:"changed_at,omitzero"`
	// KeysCreated maps a user's access key ids to when CloudFormation
	// created them (the key's CREATE_COMPLETE event); ids no longer in
	// the outputs are dropped (NoteKeyCreated, SetOutputs).
	KeysCreated map[string]time.Time `json:"keys_created,omitempty"`
}

// Key returns the resource's store key.
func (r *Resource) Key() ResourceKey { return ResourceKey{Project: r.Project, StackName: r.StackName} }

// Clone returns a deep copy, so that a caller may change it freely.
func (r *Resource) Clone() *Resource {
	if r == nil {
		return nil
	}
	c := *r
	c.Spec = r.Spec.Clone()
	if r.Observed.Outputs != nil {
		c.Observed.Outputs = make(map[string]string, len(r.Observed.Outputs))
		for k, v := range r.Observed.Outputs {
			c.Observed.Outputs[k] = v
		}
	}
	if r.Lock != nil {
		l := *r.Lock
		c.Lock = &l
	}
	c.Op = r.Op.Clone()
	c.Revealed = append([]string(nil), r.Revealed...)
	if r.KeysCreated != nil {
		c.KeysCreated = make(map[string]time.Time, len(r.KeysCreated))
		for k, v := range r.KeysCreated {
			c.KeysCreated[k] = v
		}
	}
	return &c
}

// WithLatestEvent returns r as a "resource" message shows it: its
// operation keeps only its latest stack event (the full progress is one
// read of the resource or the operation away). The copy shares
// everything else with r, which it leaves unchanged; r itself is returned
// when there is nothing to cut.
func (r *Resource) WithLatestEvent() *Resource {
	if r.Op == nil || len(r.Op.Events) <= 1 {
		return r
	}
	c := *r
	op := *r.Op
	op.Events = op.Events[len(op.Events)-1:]
	c.Op = &op
	return &c
}

// Clone returns a deep copy of the spec.
func (s Spec) Clone() Spec {
	var c Spec
	if s.Bucket != nil {
		b := *s.Bucket
		if s.Bucket.Tags != nil {
			b.Tags = make(map[string]string, len(s.Bucket.Tags))
			for k, v := range s.Bucket.Tags {
				b.Tags[k] = v
			}
		}
		c.Bucket = &b
	}
	if s.User != nil {
		u := *s.User
		u.Grants = append([]Grant(nil), s.User.Grants...)
		u.KeySerials = append([]int(nil), s.User.KeySerials...)
		u.SFTP.SSHKeys = append([]string(nil), s.User.SFTP.SSHKeys...)
		c.User = &u
	}
	return c
}

// Action is what an operation does to a resource.
type Action string

// Actions.
const (
	ActionCreate    Action = "create"
	ActionUpdate    Action = "update"
	ActionDelete    Action = "delete"
	ActionRotateKey Action = "rotate-key"
)

// OpStatus is where an operation is in its life.
type OpStatus string

// Operation statuses. Succeeded and failed are terminal.
const (
	OpQueued    OpStatus = "queued"
	OpRunning   OpStatus = "running"
	OpSucceeded OpStatus = "succeeded"
	OpFailed    OpStatus = "failed"
)

// Terminal reports whether s is an end state.
func (s OpStatus) Terminal() bool { return s == OpSucceeded || s == OpFailed }

// MaxOpEvents is how many stack events an operation keeps as progress.
const MaxOpEvents = 25

// Operation is one requested change of one resource. Its id is a ULID and
// the CloudFormation ClientRequestToken of the stack operation.
type Operation struct {
	ID          string     `json:"id"`
	Project     string     `json:"project"`
	Kind        Kind       `json:"kind"`
	Name        string     `json:"name"`
	StackName   string     `json:"stack_name"`
	Action      Action     `json:"action"`
	Spec        Spec       `json:"spec"`
	RequestedBy string     `json:"requested_by"`
	RequestedAt time.Time  `json:"requested_at"`
	Status      OpStatus   `json:"status"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	Error       string     `json:"error,omitempty"`
	// Events are the latest stack events of this operation, oldest first.
	Events []StackEvent `json:"events,omitempty"`
	// Rev increases on every change of the operation; a history write
	// never replaces a higher Rev.
	Rev int64 `json:"rev"`
}

// Clone returns a deep copy.
func (o *Operation) Clone() *Operation {
	if o == nil {
		return nil
	}
	c := *o
	c.Spec = o.Spec.Clone()
	c.Events = append([]StackEvent(nil), o.Events...)
	if o.StartedAt != nil {
		t := *o.StartedAt
		c.StartedAt = &t
	}
	if o.FinishedAt != nil {
		t := *o.FinishedAt
		c.FinishedAt = &t
	}
	return &c
}

// StackResourceType is the ResourceType of a stack-level event.
const StackResourceType = "AWS::CloudFormation::Stack"

// StackEvent is one CloudFormation stack event, from an SNS notification,
// an EventBridge event or DescribeStackEvents.
type StackEvent struct {
	StackID            string    `json:"stack_id"`
	StackName          string    `json:"stack_name"`
	EventID            string    `json:"event_id"`
	Timestamp          time.Time `json:"timestamp"`
	LogicalResourceID  string    `json:"logical_resource_id"`
	PhysicalResourceID string    `json:"physical_resource_id,omitempty"`
	ResourceType       string    `json:"resource_type"`
	ResourceStatus     string    `json:"resource_status"`
	StatusReason       string    `json:"status_reason,omitempty"`
	ClientRequestToken string    `json:"client_request_token,omitempty"`
}

// StackLevel reports whether the event is about the stack itself rather
// than one of its resources.
func (e *StackEvent) StackLevel() bool {
	return e.ResourceType == StackResourceType && e.LogicalResourceID == e.StackName
}

// Partition returns the ARN partition of an AWS region: China's and
// GovCloud's regions have their own, so their ARNs differ.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}
