package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/oklog/ulid/v2"

	"bucketdesk/internal/core"
)

// DefaultAuditRetention keeps audit records for 400 days: a year and the
// time to look back on it.
const DefaultAuditRetention = 400 * 24 * time.Hour

// auditWriteTimeout bounds the write of one record, which outlives the
// request that made it (a client that hangs up does not erase its trail).
const auditWriteTimeout = 10 * time.Second

// AuditorOptions wire an Auditor.
type AuditorOptions struct {
	// Store keeps the records; required.
	Store core.AuditStore
	// Projects tells who may read a project's trail; required by List.
	Projects core.ProjectStore
	// Hub, when set, receives each stored record as a core.MsgAudit
	// message to the record's project.
	Hub core.Hub
	// Clock defaults to the system clock.
	Clock core.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Auditor is the audit trail: it records (core.Auditor) and reads (List)
// the records of each project. Recording never fails the action it
// records: a record that cannot be written is logged (without anything
// else of the request) and dropped.
type Auditor struct {
	o   AuditorOptions
	ids *idSource
}

var _ core.Auditor = (*Auditor)(nil)

// NewAuditor returns an Auditor over o. It panics without a Store, which
// is a wiring bug.
func NewAuditor(o AuditorOptions) *Auditor {
	if o.Store == nil {
		panic("engine.NewAuditor: Store is required")
	}
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Auditor{o: o, ids: &idSource{clock: o.Clock}}
}

// Record completes r and appends it to its project's trail, then
// publishes it to the project's live subscribers. What r leaves empty is
// filled in: ID (a new ULID of At), At (now), and the source address and
// user agent of the request in ctx (core.RequestInfoFrom).
func (a *Auditor) Record(ctx context.Context, r core.AuditRecord) {
	if r.At.IsZero() {
		r.At = a.o.Clock.Now()
	}
	r.At = r.At.UTC()
	if r.ID == "" {
		r.ID = a.ids.at(r.At)
	}
	ri := core.RequestInfoFrom(ctx)
	if r.SourceIP == "" {
		r.SourceIP = ri.SourceIP
	}
	if r.UserAgent == "" {
		r.UserAgent = ri.UserAgent
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditWriteTimeout)
	defer cancel()
	if err := a.o.Store.AppendAudit(wctx, &r); err != nil {
		a.o.Logger.Error("audit record not written", "id", r.ID, "project", r.Project, "action", r.Action,
			"actor", r.Actor, "kind", r.Kind, "name", r.Name, "outcome", r.Outcome, "err", err)
		return
	}
	if a.o.Hub == nil || r.Project == core.PortalProject {
		return
	}
	msg := core.Message{Type: core.MsgAudit, Project: r.Project, Kind: r.Kind, Name: r.Name, Audit: &r}
	if err := a.o.Hub.Publish(wctx, r.Project, msg); err != nil {
		a.o.Logger.Warn("publish failed", "project", r.Project, "type", msg.Type, "err", err)
	}
}

// List returns the records of project that match f, newest first, paged.
// A project's trail is for its members; the portal's (core.PortalProject:
// logins) for administrators. Others get ErrForbidden, and an unknown
// project ErrNotFound.
func (a *Auditor) List(ctx context.Context, who core.Principal, project string, f core.AuditFilter, page core.Page) ([]*core.AuditRecord, string, error) {
	if project == core.PortalProject {
		if !who.Admin {
			return nil, "", fmt.Errorf("%w: only administrators read the portal's audit trail", core.ErrForbidden)
		}
	} else {
		if a.o.Projects == nil {
			return nil, "", fmt.Errorf("%w: the auditor has no project store", core.ErrInternal)
		}
		p, err := a.o.Projects.GetProject(ctx, project)
		if err != nil {
			return nil, "", err
		}
		if !p.IsMember(who) {
			return nil, "", fmt.Errorf("%w: %s is not a member of project %s", core.ErrForbidden, who.User, project)
		}
	}
	return a.o.Store.ListAudit(ctx, project, f, page)
}

// at returns a new ULID of time t.
func (s *idSource) at(t time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entropy == nil {
		s.entropy = ulid.Monotonic(rand.Reader, 0)
	}
	return ulid.MustNew(ulid.Timestamp(t), s.entropy).String()
}

// endedAuditID is the id of the record of op's end: derived from the
// operation, so that recording the same end twice (two processes, a
// retry) writes one record.
func endedAuditID(op *core.Operation, at time.Time) string {
	sum := sha256.Sum256([]byte("ended/" + op.ID))
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(at)) // at is after the epoch: the operation ended
	copy(u[6:], sum[:10])
	return u.String()
}

// auditAction is the audit action of a resource action: the same word.
func auditAction(a core.Action) core.AuditAction { return core.AuditAction(a) }

// auditRequest records a change request of req: accepted as op, or
// refused with err. A request for a project that does not exist leaves no
// record: there is no trail to put it in.
func (d *deps) auditRequest(ctx context.Context, req request, op *core.Operation, err error) {
	rec := core.AuditRecord{
		Project: req.project, Actor: req.who.User, Action: auditAction(req.action), Kind: req.kind, Name: req.name,
	}
	switch {
	case err == nil:
		rec.ID, rec.At, rec.OperationID, rec.Outcome = op.ID, op.RequestedAt, op.ID, core.OutcomeAccepted
	case errors.Is(err, core.ErrNotFound) && !d.projectExists(ctx, req.project):
		return
	default:
		rec.Outcome, rec.Reason = core.OutcomeRefused, err.Error()
	}
	if req.action == core.ActionRotateKey {
		rec.Detail = map[string]string{"key": strconv.Itoa(req.slot + 1)}
	}
	core.Audit(ctx, d.Auditor, rec)
}

// auditEnded records the end of after's operation, when this write ended
// it.
func (d *deps) auditEnded(ctx context.Context, after *core.Resource) {
	op := after.Op
	if d.Auditor == nil || op == nil || !op.Status.Terminal() {
		return
	}
	at := d.Clock.Now().UTC()
	if op.FinishedAt != nil {
		at = *op.FinishedAt
	}
	rec := core.AuditRecord{
		ID: endedAuditID(op, at), Project: op.Project, At: at, Actor: op.RequestedBy, Action: auditAction(op.Action),
		Kind: op.Kind, Name: op.Name, OperationID: op.ID, Outcome: core.OutcomeSucceeded,
	}
	if op.Status != core.OpSucceeded {
		rec.Outcome, rec.Reason = core.OutcomeFailed, op.Error
	}
	core.Audit(ctx, d.Auditor, rec)
}

// auditReveal records a reveal of access key key of a user: succeeded
// (with the key's id, never its secret) or refused with err.
func (d *deps) auditReveal(ctx context.Context, who core.Principal, project, user string, key int, keyID string, err error) {
	rec := core.AuditRecord{
		Project: project, Actor: who.User, Action: core.AuditReveal, Kind: core.KindUser, Name: user,
		Outcome: core.OutcomeSucceeded, Detail: map[string]string{"key": strconv.Itoa(key)},
	}
	if keyID != "" {
		rec.Detail["access_key_id"] = keyID
	}
	if err != nil {
		if errors.Is(err, core.ErrNotFound) && !d.projectExists(ctx, project) {
			return
		}
		rec.Outcome, rec.Reason = core.OutcomeRefused, err.Error()
	}
	core.Audit(ctx, d.Auditor, rec)
}

// projectExists reports whether project is registered; when the store
// cannot tell, it says yes, so that a refusal is recorded rather than
// lost.
func (d *deps) projectExists(ctx context.Context, project string) bool {
	_, err := d.Projects.GetProject(ctx, project)
	return !errors.Is(err, core.ErrNotFound)
}

// auditPurgeBatch bounds the audit records one reconciler pass deletes per
// project; the next passes go on.
const auditPurgeBatch = 1000

// purgeAudit deletes project's audit records older than the retention.
func (rc *Reconciler) purgeAudit(ctx context.Context, project string, st *Stats) error {
	if rc.d.Audit == nil {
		return nil
	}
	n, err := rc.d.Audit.PurgeAudit(ctx, project, rc.d.Clock.Now().Add(-rc.d.AuditRetention), auditPurgeBatch)
	st.Audit += n
	return err
}
