package core

import (
	"maps"
	"strings"
	"time"
)

// The details of a resource that its detail view shows beyond its spec
// and stack: who created and last changed it, and when its access keys
// were made. These are rules of the mirror (ApplyEvent), like the others
// in apply.go.

// AccessKeyType is the CloudFormation type of an IAM access key.
const AccessKeyType = "AWS::IAM::AccessKey"

// RecordChange records op, a create, update or rotate-key that succeeded
// at at, as r's latest change, and a create as its creation too.
func RecordChange(r *Resource, op *Operation, at time.Time) {
	if op.Action == ActionDelete {
		return
	}
	if op.Action == ActionCreate {
		r.CreatedBy, r.CreatedAt = op.RequestedBy, at
	}
	r.ChangedBy, r.ChangedAt = op.RequestedBy, at
}

// NoteKeyCreated records when an access key of r's stack was created, from
// the key's CREATE_COMPLETE event (whose physical id is the key id), and
// reports whether it changed r. Only the first such event of a key counts.
func NoteKeyCreated(r *Resource, ev StackEvent) bool {
	if ev.ResourceType != AccessKeyType || ev.ResourceStatus != "CREATE_COMPLETE" || ev.PhysicalResourceID == "" {
		return false
	}
	if _, ok := r.KeysCreated[ev.PhysicalResourceID]; ok {
		return false
	}
	if r.KeysCreated == nil {
		r.KeysCreated = map[string]time.Time{}
	}
	r.KeysCreated[ev.PhysicalResourceID] = ev.Timestamp
	return true
}

// pruneKeysCreated drops the creation times of keys that r's outputs no
// longer name (a rotated or removed key).
func pruneKeysCreated(r *Resource) {
	if len(r.KeysCreated) == 0 {
		return
	}
	current := map[string]bool{}
	for k, v := range r.Observed.Outputs {
		if strings.HasPrefix(k, "AccessKey") && strings.HasSuffix(k, "Id") {
			current[v] = true
		}
	}
	maps.DeleteFunc(r.KeysCreated, func(id string, _ time.Time) bool { return !current[id] })
	if len(r.KeysCreated) == 0 {
		r.KeysCreated = nil
	}
}
