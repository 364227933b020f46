package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/oklog/ulid/v2"

	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
)

// AdminOptions wire an Admin. Projects and Cloud are required.
type AdminOptions struct {
	// Projects holds the project registrations.
	Projects core.ProjectStore
	// Cloud checks a project's account before it is registered (and
	// again when its account, region or role changes): one ListStacks of
	// the project's stacks through the project's role.
	Cloud core.Cloud
	// Disconnector closes the live connections of removed members and of
	// retired projects; nil closes none (they end by themselves, at the
	// latest at their maximum age, and receive nothing more after their
	// next reconnect).
	Disconnector core.Disconnector
	// Auditor records every registration, update, retirement and change
	// of members, and every refusal of one; nil records nothing.
	Auditor core.Auditor
	// Clock defaults to the system clock.
	Clock core.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Admin is what the portal's administrators do: register, update and
// retire projects and manage their members. Every method requires
// who.Admin and answers ErrForbidden otherwise, before it reads anything.
//
// Writes of one process are serialized; two processes (two API Lambdas)
// updating one project at once are last-writer-wins, which is what a
// handful of administrators can live with.
type Admin struct {
	o  AdminOptions
	mu sync.Mutex
}

// NewAdmin returns an Admin over o. It panics when Projects or Cloud is
// missing, which is a wiring bug.
func NewAdmin(o AdminOptions) *Admin {
	if o.Projects == nil || o.Cloud == nil {
		panic("engine.NewAdmin: Projects and Cloud are required")
	}
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Admin{o: o}
}

func requireAdmin(who core.Principal) error {
	if !who.Admin {
		return fmt.Errorf("%w: administrators only (%s is not in the administrators' group)", core.ErrForbidden, who.User)
	}
	return nil
}

// Projects returns every project, retired ones included, ordered by id.
func (a *Admin) Projects(ctx context.Context, who core.Principal) ([]*core.Project, error) {
	if err := requireAdmin(who); err != nil {
		return nil, err
	}
	return a.o.Projects.ListProjects(ctx)
}

// Project returns one project, retired or not.
func (a *Admin) Project(ctx context.Context, who core.Principal, id string) (*core.Project, error) {
	if err := requireAdmin(who); err != nil {
		return nil, err
	}
	p, err := a.o.Projects.GetProject(ctx, id)
	if errors.Is(err, core.ErrNotFound) {
		return nil, fmt.Errorf("%w: no project %q", core.ErrNotFound, id)
	}
	return p, err
}

// Register checks and registers a new project: its fields are validated,
// its account is checked by assuming its role and listing its stacks
// (CheckAccount), and it is stored. The reconciler adopts the stacks
// bucketdesk made in that account before (its next pass lists them). An
// id in use, retired or not, is ErrConflict: ids are never reused.
func (a *Admin) Register(ctx context.Context, who core.Principal, in core.ProjectInput) (p *core.Project, err error) {
	id := strings.TrimSpace(in.ID)
	defer func() { a.audit(ctx, who, core.AuditProjectRegister, id, p, err, nil) }()
	if err := requireAdmin(who); err != nil {
		return nil, err
	}
	p, err = build(id, in)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch old, err := a.o.Projects.GetProject(ctx, id); {
	case err == nil && old.Retired:
		return nil, fmt.Errorf("%w: project %q exists and is retired; project ids are not reused", core.ErrConflict, id)
	case err == nil:
		return nil, fmt.Errorf("%w: project %q is already registered; update it instead", core.ErrConflict, id)
	case !errors.Is(err, core.ErrNotFound):
		return nil, err
	}
	if err := a.CheckAccount(ctx, p); err != nil {
		return nil, err
	}
	if err := a.o.Projects.PutProject(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Update replaces a project's registration with in (whose ID, when set,
// must be id). The account is
// checked again when its id, region, role or external id changes. Members
// that in no longer lists lose their live connections to the project.
// A retired project is ErrConflict.
func (a *Admin) Update(ctx context.Context, who core.Principal, id string, in core.ProjectInput) (p *core.Project, err error) {
	var removed []string
	defer func() { a.audit(ctx, who, core.AuditProjectUpdate, id, p, err, removed) }()
	if err := requireAdmin(who); err != nil {
		return nil, err
	}
	if in.ID != "" && in.ID != id {
		return nil, &core.ValidationError{Problems: []core.FieldError{{Field: "id", Message: fmt.Sprintf("%q does not match the project %q; a project's id cannot change", in.ID, id)}}}
	}
	p, err = build(id, in)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old, err := a.current(ctx, id)
	if err != nil {
		return nil, err
	}
	if old.Account() != p.Account() {
		if err := a.CheckAccount(ctx, p); err != nil {
			return nil, err
		}
	}
	if err := a.o.Projects.PutProject(ctx, p); err != nil {
		return nil, err
	}
	removed = without(old.Members, p.Members)
	a.disconnect(ctx, id, removed)
	return p, nil
}

// ChangeMembers adds and removes members of a project. Removed members
// lose their live connections to it at once. A retired project is
// ErrConflict.
func (a *Admin) ChangeMembers(ctx context.Context, who core.Principal, id string, ch core.MembersChange) (p *core.Project, err error) {
	var removed []string
	defer func() { a.audit(ctx, who, core.AuditMembers, id, p, err, removed) }()
	if err := requireAdmin(who); err != nil {
		return nil, err
	}
	add, err := core.NormalizeMembers(ch.Add)
	if err != nil {
		return nil, err
	}
	remove, err := core.NormalizeMembers(ch.Remove)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	p, err = a.current(ctx, id)
	if err != nil {
		return nil, err
	}
	old := slices.Clone(p.Members)
	next, _ := core.NormalizeMembers(append(slices.Clone(p.Members), add...))
	p.Members = without(next, remove)
	if err := a.o.Projects.PutProject(ctx, p); err != nil {
		return nil, err
	}
	removed = without(old, p.Members)
	a.disconnect(ctx, id, removed)
	return p, nil
}

// Retire retires a project: it disappears for its members (core.Project
// Retired), whose live connections to it are closed; its registration,
// cache and history stay, and its stacks stay in its account untouched.
// Retiring a retired project changes nothing.
func (a *Admin) Retire(ctx context.Context, who core.Principal, id string) (p *core.Project, err error) {
	defer func() { a.audit(ctx, who, core.AuditProjectRetire, id, p, err, nil) }()
	if err := requireAdmin(who); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	p, err = a.o.Projects.GetProject(ctx, id)
	if errors.Is(err, core.ErrNotFound) {
		return nil, fmt.Errorf("%w: no project %q", core.ErrNotFound, id)
	}
	if err != nil || p.Retired {
		return p, err
	}
	p.Retired = true
	if err := a.o.Projects.PutProject(ctx, p); err != nil {
		return nil, err
	}
	a.closeConnections(ctx, id, nil)
	return p, nil
}

// current returns a project that may be changed: registered, not retired.
func (a *Admin) current(ctx context.Context, id string) (*core.Project, error) {
	p, err := a.o.Projects.GetProject(ctx, id)
	if errors.Is(err, core.ErrNotFound) {
		return nil, fmt.Errorf("%w: no project %q", core.ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	if p.Retired {
		return nil, fmt.Errorf("%w: project %q is retired", core.ErrConflict, id)
	}
	return p, nil
}

// CheckAccount reaches the project's account as the workers will: it
// assumes the project's role with its external id in its region and lists
// the project's stacks. A failure says what to check: an error of kind
// ErrInvalid (the role cannot be assumed, the region is not enabled, …)
// whose message names the account, role, external id and region, or a
// transient one (ErrUnavailable, ErrThrottled) to retry.
func (a *Admin) CheckAccount(ctx context.Context, p *core.Project) error {
	acct := p.Account()
	_, err := a.o.Cloud.ListStacks(ctx, acct, stacks.Prefix(p.ID))
	if err == nil {
		return nil
	}
	where := fmt.Sprintf("account %s in region %s through role %s", acct.ID, acct.Region, acct.RoleARN)
	var msg string
	switch {
	case core.Retryable(err):
		return fmt.Errorf("checking %s: CloudFormation did not answer; try again: %w", where, err)
	case errors.Is(err, core.ErrForbidden):
		msg = fmt.Sprintf("cannot reach %s: the role could not be assumed or may not list stacks; check that the role exists, that its trust policy lets bucketdesk assume it with external id %q, that the external id matches, and that the region is enabled in the account", where, acct.ExternalID)
	case errors.Is(err, core.ErrInvalid):
		msg = fmt.Sprintf("cannot reach %s: CloudFormation refused the request; check the region", where)
	default:
		msg = fmt.Sprintf("cannot reach %s", where)
	}
	a.o.Logger.Info("project account check failed", "project", p.ID, "account", acct.ID, "region", acct.Region, "err", err)
	return &core.ValidationError{Problems: []core.FieldError{{Field: "account", Message: msg + " (" + causeText(err) + ")"}}}
}

// causeText is the cloud's own message without the wrapping kinds, for
// an administrator to read.
func causeText(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "api error "); i >= 0 {
		return s[i:]
	}
	return s
}

// build turns in into a project registration with id, validated.
func build(id string, in core.ProjectInput) (*core.Project, error) {
	p := &core.Project{
		ID: id, Name: strings.TrimSpace(in.Name), AccountID: strings.TrimSpace(in.AccountID), Region: strings.TrimSpace(in.Region),
		ExternalID: strings.TrimSpace(in.ExternalID), TransferServerID: strings.TrimSpace(in.TransferServerID),
		SFTPHost: strings.TrimSpace(in.SFTPHost), LogBucket: strings.TrimSpace(in.LogBucket),
	}
	v := &core.ValidationError{}
	if err := p.Validate(); err != nil {
		var ve *core.ValidationError
		if !errors.As(err, &ve) {
			return nil, err
		}
		v.Problems = append(v.Problems, ve.Problems...)
	}
	role, err := core.RoleARN(p.AccountID, in.Role)
	if ve := (*core.ValidationError)(nil); errors.As(err, &ve) {
		v.Problems = append(v.Problems, ve.Problems...)
	}
	p.RoleARN = role
	if p.ExternalID == "" {
		v.Problems = append(v.Problems, core.FieldError{Field: "external_id", Message: "is required: the external id of the role's trust policy"})
	}
	if p.TransferServerID != "" && !strings.HasPrefix(p.TransferServerID, "s-") {
		v.Problems = append(v.Problems, core.FieldError{Field: "transfer_server_id", Message: "must be a Transfer Family server id (s-…)"})
	}
	if p.SFTPHost == "" && p.TransferServerID != "" {
		p.SFTPHost = p.TransferServerID + ".server.transfer." + p.Region + ".amazonaws.com"
	}
	if p.SFTPHost != "" && p.TransferServerID == "" {
		v.Problems = append(v.Problems, core.FieldError{Field: "sftp_host", Message: "needs a transfer_server_id"})
	}
	members, err := core.NormalizeMembers(in.Members)
	if ve := (*core.ValidationError)(nil); errors.As(err, &ve) {
		v.Problems = append(v.Problems, ve.Problems...)
	}
	p.Members = members
	if len(v.Problems) > 0 {
		return nil, v
	}
	return p, nil
}

// without returns the entries of xs that are not in ys.
func without(xs, ys []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(ys, x) {
			out = append(out, x)
		}
	}
	return out
}

// disconnect closes the connections to project of the removed members:
// of the removed users, and of everyone when a group was removed (its
// members are not known here; those still members reconnect and get the
// project back). Nothing removed closes nothing.
func (a *Admin) disconnect(ctx context.Context, project string, removed []string) {
	if len(removed) == 0 {
		return
	}
	users := removed
	if slices.ContainsFunc(removed, func(m string) bool { return strings.HasPrefix(m, core.GroupPrefix) }) {
		users = nil
	}
	a.closeConnections(ctx, project, users)
}

// closeConnections asks the Disconnector to close the connections to
// project of users (everyone's when users is empty).
func (a *Admin) closeConnections(ctx context.Context, project string, users []string) {
	if a.o.Disconnector == nil {
		return
	}
	if err := a.o.Disconnector.Disconnect(ctx, project, users); err != nil {
		a.o.Logger.Warn("closing connections to a project failed; they end at their maximum age", "project", project, "err", err)
	}
}

// audit records one administration action and its outcome.
func (a *Admin) audit(ctx context.Context, who core.Principal, action core.AuditAction, id string, p *core.Project, err error, removed []string) {
	if a.o.Auditor == nil {
		return
	}
	now := a.o.Clock.Now().UTC()
	ri := core.RequestInfoFrom(ctx)
	project := id
	if project == "" {
		project = core.PortalProject
	}
	r := core.AuditRecord{
		ID: ulid.MustNew(ulid.Timestamp(now), rand.Reader).String(), Project: project, At: now, Actor: who.User,
		Action: action, Outcome: core.OutcomeSucceeded, SourceIP: ri.SourceIP, UserAgent: ri.UserAgent,
	}
	if err != nil {
		r.Outcome, r.Reason = core.OutcomeRefused, err.Error()
		if !errors.Is(err, core.ErrInvalid) && !errors.Is(err, core.ErrForbidden) && !errors.Is(err, core.ErrConflict) && !errors.Is(err, core.ErrNotFound) {
			r.Outcome = core.OutcomeFailed
		}
	}
	if p != nil && err == nil {
		r.Detail = map[string]string{"name": p.Name, "account_id": p.AccountID, "region": p.Region, "members": strings.Join(p.Members, ",")}
		if len(removed) > 0 {
			r.Detail["removed"] = strings.Join(removed, ",")
		}
	}
	core.Audit(ctx, a.o.Auditor, r)
}
