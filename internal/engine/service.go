package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
)

// Service answers the requests of project managers. Reads come from the
// cache only; writes validate, lock the resource, record the operation and
// enqueue a job, and never call CloudFormation.
type Service struct{ d *deps }

// Projects returns the projects who is a member of.
func (s *Service) Projects(ctx context.Context, who core.Principal) ([]*core.Project, error) {
	all, err := s.d.Projects.ListProjects(ctx)
	if err != nil {
		return nil, err
	}
	mine := all[:0]
	for _, p := range all {
		if p.IsMember(who) {
			mine = append(mine, p)
		}
	}
	return mine, nil
}

// Project returns one project if who is a member. A project that exists
// but is not who's is ErrForbidden.
func (s *Service) Project(ctx context.Context, who core.Principal, id string) (*core.Project, error) {
	p, err := s.d.Projects.GetProject(ctx, id)
	if err != nil {
		return nil, err
	}
	if !p.IsMember(who) {
		return nil, fmt.Errorf("%w: %s is not a member of project %s", core.ErrForbidden, who.User, id)
	}
	return p, nil
}

// List returns a project's live resources of one kind, ordered by stack
// name.
func (s *Service) List(ctx context.Context, who core.Principal, project string, kind core.Kind) ([]*core.Resource, error) {
	if _, err := s.Project(ctx, who, project); err != nil {
		return nil, err
	}
	all, _, err := s.d.Resources.ListResources(ctx, project, core.Page{})
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, r := range all {
		if r.Kind == kind && r.Observed.Phase != core.PhaseDeleted {
			out = append(out, r)
		}
	}
	return out, nil
}

// Versions returns the stack name and version of every item of a project
// (both kinds, tombstones included), reading no whole item: a list cache
// compares them with what it encoded.
func (s *Service) Versions(ctx context.Context, who core.Principal, project string) ([]core.ItemVersion, error) {
	if _, err := s.Project(ctx, who, project); err != nil {
		return nil, err
	}
	return s.d.Resources.ListVersions(ctx, project)
}

// Get returns one live resource.
func (s *Service) Get(ctx context.Context, who core.Principal, project string, kind core.Kind, name string) (*core.Resource, error) {
	if _, err := s.Project(ctx, who, project); err != nil {
		return nil, err
	}
	r, err := s.d.Resources.GetResource(ctx, core.ResourceKey{Project: project, StackName: stacks.StackName(project, kind, name)})
	if err != nil {
		return nil, notFound(kind, name, err)
	}
	if r.Kind != kind || r.Name != name || r.Observed.Phase == core.PhaseDeleted {
		return nil, notFound(kind, name, core.ErrNotFound)
	}
	return r, nil
}

func notFound(kind core.Kind, name string, err error) error {
	if errors.Is(err, core.ErrNotFound) {
		return fmt.Errorf("%w: no %s named %q", core.ErrNotFound, kind, name)
	}
	return err
}

// Operation returns one operation of a project who is a member of. A
// running operation's progress lives in its resource's item (the history
// copy is written when its status changes), so that is where it is read.
func (s *Service) Operation(ctx context.Context, who core.Principal, id string) (*core.Operation, error) {
	op, err := s.d.Resources.GetOperation(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, err := s.Project(ctx, who, op.Project); err != nil {
		return nil, err
	}
	r, err := s.d.Resources.GetResource(ctx, core.ResourceKey{Project: op.Project, StackName: op.StackName})
	if err == nil && r.Op != nil && r.Op.ID == id && r.Op.Rev > op.Rev {
		return r.Op, nil
	}
	return op, nil
}

// Operations returns a project's operations, newest first.
func (s *Service) Operations(ctx context.Context, who core.Principal, project string, page core.Page) ([]*core.Operation, string, error) {
	if _, err := s.Project(ctx, who, project); err != nil {
		return nil, "", err
	}
	return s.d.Resources.ListOperations(ctx, project, page)
}

// Create asks for a new bucket or user.
func (s *Service) Create(ctx context.Context, who core.Principal, project string, spec core.Spec) (*core.Operation, error) {
	return s.submit(ctx, request{who: who, project: project, action: core.ActionCreate, kind: spec.Kind(), name: spec.Name(), spec: &spec})
}

// Update asks for a resource to take spec. ifMatch, when not 0, is the
// version the caller last saw; another version is ErrPrecondition.
func (s *Service) Update(ctx context.Context, who core.Principal, project string, spec core.Spec, ifMatch int64) (*core.Operation, error) {
	return s.submit(ctx, request{who: who, project: project, action: core.ActionUpdate, kind: spec.Kind(), name: spec.Name(), spec: &spec, ifMatch: ifMatch})
}

// Delete asks for a resource and its stack to be deleted.
func (s *Service) Delete(ctx context.Context, who core.Principal, project string, kind core.Kind, name string, ifMatch int64) (*core.Operation, error) {
	return s.submit(ctx, request{who: who, project: project, action: core.ActionDelete, kind: kind, name: name, ifMatch: ifMatch})
}

// RotateKey replaces access key slot (0 or 1) of a user: CloudFormation
// creates a new key when the key's serial changes.
func (s *Service) RotateKey(ctx context.Context, who core.Principal, project, name string, slot int, ifMatch int64) (*core.Operation, error) {
	return s.submit(ctx, request{who: who, project: project, action: core.ActionRotateKey, kind: core.KindUser, name: name, ifMatch: ifMatch, slot: slot})
}

// request is one write a project manager asked for.
type request struct {
	who     core.Principal
	project string
	action  core.Action
	kind    core.Kind
	name    string
	// spec is the wanted spec of a create or an update (prepare replaces
	// it with its canonical form); nil for a delete and a rotate-key.
	spec *core.Spec
	// ifMatch, when not 0, is the version the caller last saw.
	ifMatch int64
	// slot is the access key a rotate-key replaces.
	slot int
	// keepSerials is set by prepare for an update of a user that omits
	// key_serials: it keeps the keys the user has.
	keepSerials bool
}

// submit is the write path (docs/engine.md, "The life of an operation"): validate, authorize, then in
// one conditional write lock the resource, bump its version and record the
// operation as queued; then enqueue the job and publish.
//
// The request is recorded in the audit trail: refused with its reason, or
// accepted once the lock is taken (an operation that then cannot be
// queued is recorded again, failed, as every operation's end is).
func (s *Service) submit(ctx context.Context, req request) (*core.Operation, error) {
	p, err := s.Project(ctx, req.who, req.project)
	if err != nil {
		s.d.auditRequest(ctx, req, nil, err)
		return nil, err
	}
	return s.submitTo(ctx, p, req)
}

// submitTo is submit once req.who may change project p's resources.
func (s *Service) submitTo(ctx context.Context, p *core.Project, req request) (_ *core.Operation, err error) {
	accepted := false
	defer func() {
		if !accepted {
			s.d.auditRequest(ctx, req, nil, err)
		}
	}()
	if err := s.prepare(ctx, p, &req); err != nil {
		return nil, err
	}
	if err := s.checkDelete(ctx, p, req); err != nil {
		return nil, err
	}
	key := core.ResourceKey{Project: req.project, StackName: stacks.StackName(req.project, req.kind, req.name)}
	op := &core.Operation{
		ID: s.d.ids.next(), Project: req.project, Kind: req.kind, Name: req.name, StackName: key.StackName,
		Action: req.action, RequestedBy: req.who.User, RequestedAt: s.d.Clock.Now().UTC(), Status: core.OpQueued, Rev: 1,
	}
	r, err := s.d.change(ctx, key, func(r *core.Resource) (bool, error) {
		if err := s.apply(ctx, r, req, op); err != nil {
			return false, err
		}
		return true, core.Begin(r, op)
	})
	if err != nil {
		return nil, err
	}
	accepted = true
	s.d.auditRequest(ctx, req, r.Op, nil)
	if err := s.enqueue(ctx, key, op); err != nil {
		return nil, err
	}
	return r.Op.Clone(), nil
}

// prepare validates the spec of a create or an update and puts it in the
// form the item keeps: what it refers to is checked, it must render, its
// grants are in canonical order and VersioningSuspended is cleared (it is
// bucketdesk's, derived from the bucket's current spec in apply).
func (s *Service) prepare(ctx context.Context, p *core.Project, req *request) error {
	if !req.kind.Valid() {
		return fmt.Errorf("%w: unknown kind %q", core.ErrInvalid, req.kind)
	}
	// A PUT that omits key_serials keeps the keys the user has: only an
	// explicit new serial (or the rotate endpoint) replaces a key.
	req.keepSerials = req.action == core.ActionUpdate && req.spec != nil && req.spec.User != nil && req.spec.User.KeySerials == nil
	if req.action != core.ActionCreate && req.action != core.ActionUpdate {
		return nil
	}
	if err := req.spec.Validate(); err != nil {
		return err
	}
	if err := s.checkReferences(ctx, p, req.spec); err != nil {
		return err
	}
	// What CloudFormation would refuse (a grants policy over IAM's
	// size limit) is refused now, not after a 202.
	if _, _, err := stacks.Render(p, *req.spec); err != nil {
		return err
	}
	// Grants have no order in a policy; keep the form that parsing the
	// stack's template gives back.
	c := stacks.Canonical(*req.spec)
	if c.Bucket != nil {
		c.Bucket.VersioningSuspended = false
	}
	if c.User != nil {
		c.User.Expired = false // bucketdesk's, derived in apply (endDate)
	}
	req.spec = &c
	return nil
}

// checkDelete refuses, before anything is locked, to delete a bucket that
// users have grants on or that holds objects.
func (s *Service) checkDelete(ctx context.Context, p *core.Project, req request) error {
	if req.action != core.ActionDelete || req.kind != core.KindBucket {
		return nil
	}
	if err := s.checkGrantees(ctx, req.project, req.name); err != nil {
		return err
	}
	return s.checkEmpty(ctx, p, req.name)
}

// apply checks that req may change item r (not locked, at the version the
// caller saw, existing or not as the action needs) and sets what the
// operation asks for: a create resets the item, the other actions set
// op.Spec.
func (s *Service) apply(ctx context.Context, r *core.Resource, req request, op *core.Operation) error {
	if r.Lock != nil {
		return &core.LockedError{Lock: *r.Lock}
	}
	if req.ifMatch != 0 && r.Version != req.ifMatch {
		return fmt.Errorf("%w: %s %q is at version %d, not %d", core.ErrPrecondition, req.kind, req.name, r.Version, req.ifMatch)
	}
	if req.action == core.ActionCreate {
		if err := endDate(nil, req.spec.User, s.d.Clock.Now()); err != nil {
			return err
		}
		return createItem(r, req, op)
	}
	if err := checkChangeable(r, req); err != nil {
		return err
	}
	switch req.action {
	case core.ActionUpdate:
		spec, err := s.updated(ctx, r, req)
		if err != nil {
			return err
		}
		op.Spec = spec
	case core.ActionRotateKey:
		spec, err := rotated(r.Spec, req.slot)
		if err != nil {
			return err
		}
		op.Spec = spec
	case core.ActionDelete:
		op.Spec = r.Spec.Clone()
	}
	return nil
}

// itemExists reports whether item r holds a resource an action of req would
// find. A create that failed before CloudFormation made a stack left
// nothing to keep: to a new create, its name is free.
func itemExists(r *core.Resource, req request) bool {
	neverMade := r.Observed.Phase == core.PhaseFailed && r.Observed.StackID == ""
	return r.Version > 0 && r.Observed.Phase != core.PhaseDeleted && !(req.action == core.ActionCreate && neverMade)
}

// createItem resets item r to the new resource of a create.
func createItem(r *core.Resource, req request, op *core.Operation) error {
	if itemExists(r, req) {
		return fmt.Errorf("%w: %s %q already exists", core.ErrConflict, req.kind, req.name)
	}
	// A new bucket was never versioned: it is not suspended.
	if b := req.spec.Bucket; b != nil {
		b.VersioningSuspended = core.NextVersioningSuspended(nil, b.Versioning)
	}
	// A new stack, with a new id and its own events: nothing of the
	// name's previous stack carries over. Until the create's first event
	// or its CreateStack answer names the stack, only the operation's
	// token binds events to the item.
	*r = core.Resource{Project: req.project, Kind: req.kind, Name: req.name, StackName: op.StackName,
		Spec: req.spec.Clone(), Observed: core.Observed{Phase: core.PhaseCreating}, Version: r.Version}
	op.Spec = req.spec.Clone()
	return nil
}

// checkChangeable refuses an update, rotate-key or delete of an item that
// does not exist, and an update or rotate-key of one whose stack
// CloudFormation can only delete.
func checkChangeable(r *core.Resource, req request) error {
	if !itemExists(r, req) {
		return fmt.Errorf("%w: no %s named %q", core.ErrNotFound, req.kind, req.name)
	}
	if req.action == core.ActionDelete {
		return nil
	}
	switch {
	case r.Observed.StackID == "":
		return fmt.Errorf("%w: %s %q has no stack: its create failed (%s); delete it or create it again", core.ErrConflict, req.kind, req.name, r.Observed.StatusReason)
	case r.Observed.StackStatus == "DELETE_FAILED":
		// CloudFormation can only delete such a stack again.
		return fmt.Errorf("%w: %s %q failed to delete (%s); fix the cause (a bucket: empty it of every object version and delete marker), then delete it again", core.ErrConflict, req.kind, req.name, r.Observed.StatusReason)
	case r.Observed.StackStatus == "ROLLBACK_COMPLETE":
		return fmt.Errorf("%w: %s %q failed to create (%s); delete it, then create it again", core.ErrConflict, req.kind, req.name, r.Observed.StatusReason)
	}
	return nil
}

// updated returns the spec an update of item r runs: req's spec, with the
// bucket's versioning suspension derived from its current spec and, when
// req keeps the user's key serials, the current ones.
func (s *Service) updated(ctx context.Context, r *core.Resource, req request) (core.Spec, error) {
	spec := req.spec.Clone()
	// S3 cannot make a versioned bucket unversioned: turning versioning
	// off suspends it, for good.
	if b := spec.Bucket; b != nil {
		b.VersioningSuspended = core.NextVersioningSuspended(r.Spec.Bucket, b.Versioning)
		if err := s.checkKeyChange(ctx, req.project, r.Spec.Bucket, b); err != nil {
			return spec, err
		}
	}
	if u, cur := spec.User, r.Spec.User; u != nil && cur != nil {
		if req.keepSerials {
			u.KeySerials = nil
			for i := range min(u.AccessKeys, cur.AccessKeys) {
				u.KeySerials = append(u.KeySerials, cur.KeySerial(i))
			}
			spec = stacks.Canonical(spec)
		}
		if err := checkKeysAtOnce(cur, spec.User); err != nil {
			return spec, err
		}
		if err := endDate(cur, spec.User, s.d.Clock.Now()); err != nil {
			return spec, err
		}
	}
	return spec, nil
}

// enqueue queues the job of op, locked on key's item; if it cannot, it
// fails the operation, releasing the lock, and nothing was changed.
func (s *Service) enqueue(ctx context.Context, key core.ResourceKey, op *core.Operation) error {
	if err := s.d.Queue.Enqueue(ctx, core.Job{OperationID: op.ID, Project: op.Project, StackName: key.StackName}); err != nil {
		// The lock must not outlive an operation nobody will run.
		s.d.fail(ctx, key, op.ID, "could not be queued: "+err.Error())
		return fmt.Errorf("%w: the operation could not be queued, nothing was changed: %v", core.ErrUnavailable, err)
	}
	return nil
}

// rotated returns spec with access key slot's serial incremented.
func rotated(spec core.Spec, slot int) (core.Spec, error) {
	next := spec.Clone()
	u := next.User
	if u == nil || slot < 0 || slot >= u.AccessKeys {
		n := 0
		if u != nil {
			n = u.AccessKeys
		}
		return next, &core.ValidationError{Problems: []core.FieldError{{Field: "key", Message: fmt.Sprintf("the user has %d access keys; there is no key %d to rotate", n, slot+1)}}}
	}
	for len(u.KeySerials) < u.AccessKeys {
		u.KeySerials = append(u.KeySerials, 1)
	}
	u.KeySerials[slot] = u.KeySerial(slot) + 1
	return next, checkKeysAtOnce(spec.User, u)
}

// checkKeysAtOnce refuses a change of a user's access keys that would need
// more keys at once than IAM allows: CloudFormation makes each new key
// (a new slot, or a slot whose serial changed) before it deletes the old
// ones, so the old keys and the new ones exist together for a moment.
func checkKeysAtOnce(cur, next *core.UserSpec) error {
	made := 0
	for i := range next.AccessKeys {
		if i >= cur.AccessKeys || next.KeySerial(i) != cur.KeySerial(i) {
			made++
		}
	}
	if made == 0 || cur.AccessKeys+made <= core.MaxAccessKeys {
		return nil
	}
	return fmt.Errorf("%w: this change needs %d access keys at once (the user's %d and %d new; CloudFormation makes a new key before it deletes the old one), and IAM allows %d per user: "+
		"do it in two steps — first reduce the user to the keys to keep, then add or rotate", core.ErrConflict, cur.AccessKeys+made, cur.AccessKeys, made, core.MaxAccessKeys)
}

// checkReferences checks what a spec refers to beyond its own fields: the
// buckets a user's grants name must be live buckets of the same project,
// and SFTP needs the project's Transfer server.
func (s *Service) checkReferences(ctx context.Context, p *core.Project, spec *core.Spec) error {
	u := spec.User
	if u == nil {
		return nil
	}
	v := &core.ValidationError{}
	if u.SFTP.Enabled && p.TransferServerID == "" {
		v.Problems = append(v.Problems, core.FieldError{Field: "sftp.enabled", Message: "project " + p.ID + " has no SFTP (Transfer Family) server"})
	}
	// Each grant carries its bucket's KMS key (none for SSE-S3), which the
	// user's policy lets it use through S3; what the client sent is
	// replaced.
	keys := map[string]string{}
	for i, g := range u.Grants {
		key, seen := keys[g.Bucket]
		if !seen {
			r, err := s.d.Resources.GetResource(ctx, core.ResourceKey{Project: p.ID, StackName: stacks.StackName(p.ID, core.KindBucket, g.Bucket)})
			switch {
			case errors.Is(err, core.ErrNotFound) || (r != nil && r.Observed.Phase == core.PhaseDeleted):
				v.Problems = append(v.Problems, core.FieldError{Field: fmt.Sprintf("grants[%d].bucket", i), Message: fmt.Sprintf("%q is not a bucket of project %s", g.Bucket, p.ID)})
			case err != nil:
				return err
			case r.Spec.Bucket != nil:
				key = bucketKey(r.Spec.Bucket)
			}
			keys[g.Bucket] = key
		}
		u.Grants[i].KMSKeyARN = key
	}
	if len(v.Problems) > 0 {
		return v
	}
	return nil
}

// checkGrantees refuses to delete a bucket that users of the project
// have grants on (or are about to have): their specs, unchanged, could no
// longer be saved. It names them, so that the manager knows whom to edit
// first.
func (s *Service) checkGrantees(ctx context.Context, project, bucket string) error {
	users, err := s.grantees(ctx, project, bucket)
	if err != nil || len(users) == 0 {
		return err
	}
	return fmt.Errorf("%w: bucket %q is granted to %s %s; remove the grants first (edit the %s), then delete the bucket",
		core.ErrConflict, bucket, plural(len(users), "user", "users"), quoteList(users), plural(len(users), "user", "users"))
}

// checkEmpty refuses to delete a bucket that holds objects: S3 deletes
// only empty buckets, so CloudFormation would fail the delete after it was
// accepted. Only a bucket the item's stack made is counted (after a failed
// create the name may be another account's bucket), and an item that is
// locked or gone is left to the change, which refuses it. A project role
// that may not list the bucket's versions (a project account set up before
// the permission existed) does not stop the delete: CloudFormation's
// answer then tells, and the bucket keeps its data and its policy.
func (s *Service) checkEmpty(ctx context.Context, p *core.Project, bucket string) error {
	if s.d.Objects == nil {
		return nil
	}
	r, err := s.d.Resources.GetResource(ctx, core.ResourceKey{Project: p.ID, StackName: stacks.StackName(p.ID, core.KindBucket, bucket)})
	switch {
	case errors.Is(err, core.ErrNotFound):
		return nil
	case err != nil:
		return err
	case r.Lock != nil, r.Observed.StackID == "", r.Observed.Phase == core.PhaseDeleted, r.Observed.StackStatus == "ROLLBACK_COMPLETE":
		return nil
	}
	n, err := s.d.Objects.CountObjects(ctx, p.Account(), bucket)
	switch {
	case errors.Is(err, core.ErrForbidden):
		s.d.Logger.Warn("could not count a bucket's objects before deleting it; the project role needs s3:ListBucketVersions (deploy/project-account.yaml)",
			"project", p.ID, "bucket", bucket, "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("could not check whether bucket %q is empty, nothing was changed: %w", bucket, err)
	case !n.Empty():
		return fmt.Errorf("%w: bucket %q is not empty: it holds %s. S3 deletes only empty buckets; empty it (every object version and delete marker), then delete it",
			core.ErrConflict, bucket, n)
	}
	return nil
}

// checkKeyChange refuses to change the KMS key of a bucket (or to switch
// it between SSE-S3 and SSE-KMS) while users have grants on it: their
// policies name the key they may use, and would lock them out of new
// objects.
func (s *Service) checkKeyChange(ctx context.Context, project string, cur, next *core.BucketSpec) error {
	if cur == nil || bucketKey(cur) == bucketKey(next) {
		return nil
	}
	users, err := s.grantees(ctx, project, next.Name)
	if err != nil || len(users) == 0 {
		return err
	}
	return fmt.Errorf("%w: bucket %q is granted to %s %s, whose access names the bucket's KMS key; remove the grants first, change the encryption, then grant again",
		core.ErrConflict, next.Name, plural(len(users), "user", "users"), quoteList(users))
}

// bucketKey is the KMS key of a bucket, "" for SSE-S3.
func bucketKey(b *core.BucketSpec) string {
	if b.Encryption.Type == core.EncryptionKMS {
		return b.Encryption.KMSKeyARN
	}
	return ""
}

// grantees lists the live users of a project that have (or are about to
// have) grants on bucket.
func (s *Service) grantees(ctx context.Context, project, bucket string) ([]string, error) {
	items, _, err := s.d.Resources.ListResources(ctx, project, core.Page{})
	if err != nil {
		return nil, err
	}
	var users []string
	for _, r := range items {
		if r.Kind != core.KindUser || r.Observed.Phase == core.PhaseDeleted {
			continue
		}
		specs := []core.Spec{r.Spec}
		if r.Op != nil && !r.Op.Status.Terminal() {
			specs = append(specs, r.Op.Spec)
		}
		for _, sp := range specs {
			if sp.User != nil && slices.ContainsFunc(sp.User.Grants, func(g core.Grant) bool { return g.Bucket == bucket }) {
				users = append(users, r.Name)
				break
			}
		}
	}
	return users, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}

// fail ends operation id on key's item with reason and releases its lock,
// unless it has already ended.
func (d *deps) fail(ctx context.Context, key core.ResourceKey, id, reason string) {
	_, err := d.change(ctx, key, func(r *core.Resource) (bool, error) {
		if r.Op == nil || r.Op.ID != id || r.Op.Status.Terminal() {
			return false, nil
		}
		core.FinishOp(r, core.OpFailed, reason, d.Clock.Now().UTC())
		if r.Observed.StackID == "" && r.Op.Action == core.ActionCreate {
			r.Observed.Phase = core.PhaseFailed
			r.Observed.StatusReason = reason
		}
		return true, nil
	})
	if err != nil {
		d.Logger.Error("could not record a failed operation; the reconciler will", "operation", id, "err", err)
	}
}
