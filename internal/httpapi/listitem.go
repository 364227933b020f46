package httpapi

import (
	"time"

	"bucketdesk/internal/core"
)

// listItem is a resource as a list shows it: what a table row of the
// console needs (its name, status, lock, spec, access key ids and the
// progress of the change that holds it, and who changed it last, which an
// open edit form names when the resource changes under it), not the
// details (stack id and name, ARNs, who created it, when it was changed,
// when its keys were made): those
// are one GET of the resource away. A row is about an eighth of the whole
// resource; see docs/api.md ("Lists") and the ListItem schema of
// openapi.yaml, which must name the same fields (TestListItemDocumented).
type listItem struct {
	Kind    core.Kind `json:"kind"`
	Name    string    `json:"name"`
	Version int64     `json:"version"`
	// Spec is whole: the table shows most of it, and the edit forms and
	// bulk changes start from it.
	Spec     core.Spec     `json:"spec"`
	Observed listObserved  `json:"observed"`
	Lock     *core.Lock    `json:"lock,omitempty"`
	Op       *listProgress `json:"operation,omitempty"`
	Revealed []string      `json:"revealed_keys,omitempty"`
	// ChangedBy is who asked for the last change that succeeded.
	ChangedBy string `json:"changed_by,omitempty"`
}

// listObserved is the part of core.Observed a row shows.
type listObserved struct {
	Phase        core.Phase `json:"phase"`
	StackStatus  string     `json:"stack_status,omitempty"`
	StatusReason string     `json:"status_reason,omitempty"`
	LastFailure  string     `json:"last_failure,omitempty"`
	Stale        bool       `json:"stale,omitempty"`
	// Outputs keeps a user's access key ids only (AccessKey1Id,
	// AccessKey2Id): its row shows them.
	Outputs map[string]string `json:"outputs,omitempty"`
}

// listProgress is the operation holding a row's lock, as the row and its
// progress panel start from it: no spec, only its latest stack event.
type listProgress struct {
	ID          string        `json:"id"`
	Kind        core.Kind     `json:"kind"`
	Name        string        `json:"name"`
	Action      core.Action   `json:"action"`
	Status      core.OpStatus `json:"status"`
	RequestedBy string        `json:"requested_by"`
	RequestedAt time.Time     `json:"requested_at"`
	StartedAt   *time.Time    `json:"started_at,omitempty"`
	Events      []listEvent   `json:"events,omitempty"`
	Rev         int64         `json:"rev"`
}

// listEvent is a stack event as a row's progress note and a progress
// panel show it: no stack id or physical id.
type listEvent struct {
	EventID            string    `json:"event_id"`
	StackName          string    `json:"stack_name"`
	Timestamp          time.Time `json:"timestamp"`
	LogicalResourceID  string    `json:"logical_resource_id"`
	ResourceType       string    `json:"resource_type"`
	ResourceStatus     string    `json:"resource_status"`
	StatusReason       string    `json:"status_reason,omitempty"`
	ClientRequestToken string    `json:"client_request_token,omitempty"`
}

// rowOutputs are the stack outputs a row shows.
var rowOutputs = []string{"AccessKey1Id", "AccessKey2Id"}

// listItemOf returns r as a list shows it. It shares r's spec, lock and
// revealed keys (the caller encodes it at once and changes none of them).
func listItemOf(r *core.Resource) listItem {
	o := r.Observed
	it := listItem{
		Kind: r.Kind, Name: r.Name, Version: r.Version, Spec: r.Spec, Lock: r.Lock, Revealed: r.Revealed, ChangedBy: r.ChangedBy,
		Observed: listObserved{Phase: o.Phase, StackStatus: o.StackStatus, StatusReason: o.StatusReason, LastFailure: o.LastFailure, Stale: o.Stale},
	}
	for _, k := range rowOutputs {
		if v, ok := o.Outputs[k]; ok {
			if it.Observed.Outputs == nil {
				it.Observed.Outputs = make(map[string]string, len(rowOutputs))
			}
			it.Observed.Outputs[k] = v
		}
	}
	// The operation only while it holds the lock: a row shows no other.
	if op := r.Op; op != nil && r.Lock != nil && r.Lock.OperationID == op.ID {
		p := &listProgress{
			ID: op.ID, Kind: op.Kind, Name: op.Name, Action: op.Action, Status: op.Status,
			RequestedBy: op.RequestedBy, RequestedAt: op.RequestedAt, StartedAt: op.StartedAt, Rev: op.Rev,
		}
		if n := len(op.Events); n > 0 {
			e := op.Events[n-1]
			p.Events = []listEvent{{
				EventID: e.EventID, StackName: e.StackName, Timestamp: e.Timestamp, LogicalResourceID: e.LogicalResourceID,
				ResourceType: e.ResourceType, ResourceStatus: e.ResourceStatus, StatusReason: e.StatusReason, ClientRequestToken: e.ClientRequestToken,
			}}
		}
		it.Op = p
	}
	return it
}

// listView returns the resources as a list shows them.
func listView(rs []*core.Resource) []listItem {
	out := make([]listItem, len(rs))
	for i, r := range rs {
		out[i] = listItemOf(r)
	}
	return out
}
