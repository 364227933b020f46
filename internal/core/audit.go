package core

import (
	"context"
	"time"
)

// AuditAction names what an audit record records.
type AuditAction string

// The actions of the audit trail. A change is recorded when it is accepted
// (or refused) and again with its outcome when its operation ends.
const (
	AuditCreate    AuditAction = "create"
	AuditUpdate    AuditAction = "update"
	AuditDelete    AuditAction = "delete"
	AuditRotateKey AuditAction = "rotate-key"
	AuditReveal    AuditAction = "reveal"

	AuditLinkCreate AuditAction = "link-create"
	AuditLinkOpen   AuditAction = "link-open"
	AuditLinkReveal AuditAction = "link-reveal"
	AuditLinkRevoke AuditAction = "link-revoke"
	AuditLinkExpire AuditAction = "link-expire"

	AuditLogin       AuditAction = "login"
	AuditLoginFailed AuditAction = "login-failed"

	AuditProjectRegister AuditAction = "project-register"
	AuditProjectUpdate   AuditAction = "project-update"
	AuditProjectRetire   AuditAction = "project-retire"
	AuditMembers         AuditAction = "members"

	// The local binary's logins (its users file), recorded under
	// PortalProject with the login as Name; never with a password.
	AuditUserAdd      AuditAction = "user-add"
	AuditUserPassword AuditAction = "user-password"
	AuditUserDisable  AuditAction = "user-disable"
	AuditUserEnable   AuditAction = "user-enable"
)

// Outcomes of audit records.
const (
	OutcomeAccepted  = "accepted"  // a change accepted with 202, its operation queued
	OutcomeRefused   = "refused"   // refused before anything changed (4xx)
	OutcomeSucceeded = "succeeded" // an operation that ended well, a reveal, a login
	OutcomeFailed    = "failed"    // an operation or a login that failed
)

// PortalProject is the project id under which what belongs to no project
// (logins) is recorded; administrators see it.
const PortalProject = "*"

// AuditRecord is one entry of a project's audit trail. It never holds a
// secret: no secret access key, token, ticket, link token, link key or
// passphrase, in any field.
type AuditRecord struct {
	// ID orders records in time (a ULID, core.NewOperationID's form) and
	// makes writing a record idempotent.
	ID      string      `json:"id"`
	Project string      `json:"project"`
	At      time.Time   `json:"at"`
	Actor   string      `json:"actor"` // the user, or "anonymous" for a share link's recipient
	Action  AuditAction `json:"action"`
	Kind    Kind        `json:"kind,omitempty"`
	Name    string      `json:"name,omitempty"`
	// OperationID links a change's records (accepted, then its outcome).
	OperationID string `json:"operation_id,omitempty"`
	Outcome     string `json:"outcome"`
	// Reason says why a change was refused or failed.
	Reason    string `json:"reason,omitempty"`
	SourceIP  string `json:"source_ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	// LinkID names a share link by its public id (never its token).
	LinkID string `json:"link_id,omitempty"`
	// Detail holds what else the action tells (the key number of a
	// reveal, the members added), never a secret.
	Detail map[string]string `json:"detail,omitempty"`
}

// Auditor records audit records. Recording is best effort for the caller:
// an Auditor logs what it cannot write and never fails the action it
// records. A nil Auditor records nothing (see Audit).
type Auditor interface {
	Record(ctx context.Context, r AuditRecord)
}

// Audit records r with a, when a is not nil.
func Audit(ctx context.Context, a Auditor, r AuditRecord) {
	if a != nil {
		a.Record(ctx, r)
	}
}

// RequestInfo is what an audit record tells of the request that made it:
// the client's address and user agent. Adapters that serve requests put
// it in the context (WithRequestInfo); the engine reads it.
type RequestInfo struct {
	SourceIP  string
	UserAgent string
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying ri.
func WithRequestInfo(ctx context.Context, ri RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

// RequestInfoFrom returns the request info ctx carries, or the zero value.
func RequestInfoFrom(ctx context.Context) RequestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return ri
}
