package core

import (
	"context"
	"time"
)

// AuditStore keeps the audit trail: each project's records, append-only.
// No method changes or deletes one record; only PurgeAudit removes
// records, and only those past the retention. Adapters do not retry: a
// transient failure is a wrapped ErrUnavailable or ErrThrottled that the
// caller classifies.
type AuditStore interface {
	// AppendAudit stores r under r.Project. r.ID must be a canonical ULID
	// (IsOperationID; its time is what orders and purges records) and
	// r.Project non-empty, or it is ErrInvalid. It is idempotent by ID: a
	// record whose ID is stored already is kept as it is, and nil
	// returned.
	AppendAudit(ctx context.Context, r *AuditRecord) error
	// ListAudit returns a project's records that match f, newest first
	// (by ID), at most page.Limit of them (0: all), and the cursor of the
	// next page ("" at the end). A cursor that is not one of the store's
	// is ErrInvalid.
	ListAudit(ctx context.Context, project string, f AuditFilter, page Page) ([]*AuditRecord, string, error)
	// PurgeAudit deletes a project's records whose ID time is before
	// before, oldest first, at most limit of them (0: no limit), and
	// returns how many it deleted. It is idempotent; a negative limit is
	// ErrInvalid.
	PurgeAudit(ctx context.Context, project string, before time.Time, limit int) (int, error)
}

// AuditFilter selects audit records; its zero value selects all. Every
// field that is set must match.
type AuditFilter struct {
	Actor  string
	Action AuditAction
	Kind   Kind
	Name   string
	// From and To bound the records' times (of their IDs, to the
	// millisecond): From included, To excluded; zero leaves a side open.
	From, To time.Time
}

// Match reports whether r passes every condition of f but the time range,
// which stores apply to the records' IDs.
func (f AuditFilter) Match(r *AuditRecord) bool {
	return (f.Actor == "" || r.Actor == f.Actor) &&
		(f.Action == "" || r.Action == f.Action) &&
		(f.Kind == "" || r.Kind == f.Kind) &&
		(f.Name == "" || r.Name == f.Name)
}

// IDRange returns the IDs of records in f's time range as string bounds:
// lo included ("" for none) and hi excluded ("" for none). empty is true
// when no ID can be in the range.
func (f AuditFilter) IDRange() (lo, hi string, empty bool) {
	if !f.From.IsZero() {
		b, ok := OperationIDBound(f.From)
		if ok {
			lo = b
		}
	}
	if !f.To.IsZero() {
		b, ok := OperationIDBound(f.To)
		if !ok {
			return "", "", true // nothing is before the epoch
		}
		hi = b
	}
	return lo, hi, lo != "" && hi != "" && lo >= hi
}
