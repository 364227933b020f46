package simcloud

import (
	"encoding/json"
	"fmt"
	"time"

	"bucketdesk/internal/core"
)

// Stack actions as OpRecord and the operation state name them.
const (
	actionCreate = "CREATE"
	actionUpdate = "UPDATE"
	actionDelete = "DELETE"
)

// OpRecord is one stack operation the sandbox accepted and started. A
// retry answered as an idempotent success is not recorded again, so a test
// can assert that no token started two operations.
type OpRecord struct {
	Token     string    `json:"token"`
	Account   string    `json:"account"`
	StackName string    `json:"stack_name"`
	StackID   string    `json:"stack_id"`
	Action    string    `json:"action"` // CREATE, UPDATE or DELETE
	At        time.Time `json:"at"`
}

// APIError is an error the simulated service answers, with
// CloudFormation's (or Secrets Manager's) error code and message text. It
// wraps one of core's error kinds.
type APIError struct {
	Code    string
	Message string
	Kind    error
}

// Error returns "Code: Message", as the AWS SDKs print an API error.
func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// Unwrap returns the error kind, so that errors.Is classifies the error.
func (e *APIError) Unwrap() error { return e.Kind }

func apiErr(kind error, code, format string, args ...any) error {
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...), Kind: kind}
}

func validationErr(kind error, format string, args ...any) error {
	return apiErr(kind, "ValidationError", format, args...)
}

// stack is one stack, persisted as one JSON record. Its records are
// treated as immutable: a change replaces a record, so that snapshots
// (operation.Old) may share them.
type stack struct {
	ID        string             `json:"id"`
	Name      string             `json:"name"`
	Account   string             `json:"account"`
	Region    string             `json:"region"`
	Status    string             `json:"status"`
	Reason    string             `json:"reason,omitempty"`
	Template  string             `json:"template"`
	Tags      map[string]string  `json:"tags,omitempty"`
	Topic     string             `json:"topic,omitempty"`
	Outputs   map[string]string  `json:"outputs,omitempty"`
	Created   time.Time          `json:"created"`
	Updated   time.Time          `json:"updated,omitzero"`
	LastEvent time.Time          `json:"last_event,omitzero"`
	Resources map[string]*record `json:"resources,omitempty"`
	// Retired holds physical resources that left Resources but still
	// exist: replaced ones awaiting cleanup, ones that failed to delete.
	Retired []*record `json:"retired,omitempty"`
	// Tokens maps the ClientRequestToken of each of the stack's last
	// keptOps operations to its action; nil once the stack is deleted.
	Tokens  map[string]string `json:"tokens,omitempty"`
	Op      *operation        `json:"op,omitempty"`
	Deleted bool              `json:"deleted,omitempty"`
	// DeletedAt is the time of the DELETE_COMPLETE event: the stack is
	// forgotten Options.Retention later.
	DeletedAt time.Time `json:"deleted_at,omitzero"`
	Seq       int       `json:"seq"`

	tpl *template // parsed Template, cached
	// opSeqs are the keys of the stack's OpRecords in the ops bucket,
	// oldest first, and nevents counts its events; both are rebuilt at
	// load, to forget the stack without a scan.
	opSeqs  []uint64
	nevents int
}

// record is one physical resource (or the trace of one that failed to be
// created: Physical ""). Secret values live only in Sealed.
type record struct {
	ID       string `json:"id"`
	Logical  string `json:"logical"`
	Type     string `json:"type"`
	Physical string `json:"physical,omitempty"`
	// Props are the template properties as written (unresolved).
	Props json.RawMessage `json:"props,omitempty"`
	// Resolved are the resolved properties without secret ones.
	Resolved json.RawMessage `json:"resolved,omitempty"`
	// Hash is a keyed hash of all resolved properties, secret ones too,
	// to tell whether an update changes anything.
	Hash   string            `json:"hash,omitempty"`
	Attrs  map[string]string `json:"attrs,omitempty"`
	Sealed map[string]string `json:"sealed,omitempty"`
}

// operation is the persisted progress of a stack operation: which phase
// (the stack status) it is in and what remains to do, so that it resumes
// after a restart.
type operation struct {
	Token  string `json:"token"`
	Action string `json:"action"`
	// Queue holds logical ids (create, update and restore phases) or
	// record ids (delete phases) still to process, head first.
	Queue []string `json:"queue"`
	// Head is what the head of Queue is doing once its IN_PROGRESS event
	// was emitted: create, update, replace, restore or delete.
	Head string `json:"head,omitempty"`
	// FailNext makes the next resource the operation creates, updates or
	// deletes fail (Options.FailRate).
	FailNext bool     `json:"fail_next,omitempty"`
	Failed   []string `json:"failed,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	// Touched lists the logical ids changed by a create or update, in
	// order, for rollback.
	Touched []string `json:"touched,omitempty"`
	// Update only: the state before, to restore on rollback.
	Old         map[string]*record `json:"old,omitempty"`
	OldTemplate string             `json:"old_template,omitempty"`
	OldOutputs  map[string]string  `json:"old_outputs,omitempty"`
	OldTags     map[string]string  `json:"old_tags,omitempty"`
	// RolledBack maps a logical id whose replacement was undone to the
	// record id of the replacement, to delete in cleanup.
	RolledBack map[string]string `json:"rolled_back,omitempty"`
}

// template returns the parsed current template.
func (st *stack) template() *template {
	if st.tpl == nil || st.tpl.body != st.Template {
		t, err := parseTemplate(st.Template)
		if err != nil {
			// Only valid templates are ever stored.
			t = &template{body: st.Template, Resources: map[string]*tmplResource{}}
		}
		st.tpl = t
	}
	return st.tpl
}

// newRecordID returns a fresh record id for a logical id.
func (st *stack) newRecordID(logical string) string {
	st.Seq++
	return fmt.Sprintf("%s.%d", logical, st.Seq)
}

// findRecord returns the record with id, current or retired.
func (st *stack) findRecord(id string) *record {
	for _, r := range st.Resources {
		if r.ID == id {
			return r
		}
	}
	for _, r := range st.Retired {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// dropRecord removes the record with id from Resources or Retired.
func (st *stack) dropRecord(id string) {
	for l, r := range st.Resources {
		if r.ID == id {
			delete(st.Resources, l)
			return
		}
	}
	for i, r := range st.Retired {
		if r.ID == id {
			st.Retired = append(st.Retired[:i:i], st.Retired[i+1:]...)
			return
		}
	}
}

// retire moves r out of Resources into Retired.
func (st *stack) retire(r *record) {
	if cur := st.Resources[r.Logical]; cur != nil && cur.ID == r.ID {
		delete(st.Resources, r.Logical)
	}
	st.Retired = append(st.Retired, r)
}

// live calls fn for every physical resource of the stack.
func (st *stack) live(fn func(r *record) bool) bool {
	for _, r := range st.Resources {
		if r.Physical != "" && !fn(r) {
			return false
		}
	}
	for _, r := range st.Retired {
		if r.Physical != "" && !fn(r) {
			return false
		}
	}
	return true
}

// describe returns what DescribeStacks tells.
func (st *stack) describe() *core.Stack {
	return &core.Stack{
		StackID:         st.ID,
		StackName:       st.Name,
		Status:          st.Status,
		StatusReason:    st.Reason,
		Outputs:         cloneMap(st.Outputs),
		Tags:            cloneMap(st.Tags),
		CreationTime:    st.Created,
		LastUpdatedTime: st.Updated,
	}
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
