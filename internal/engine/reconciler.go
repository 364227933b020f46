package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
)

// Reconciler relists CloudFormation, as a Kubernetes informer does, so that
// the cache converges whatever happened to the events: it repairs items
// whose status differs, adopts stacks the cache does not know, marks
// vanished stacks deleted and ends locks whose stack operation is over;
// it also starts the deactivation of users whose end date has passed.
// It lists each project's account once (a ListStacks request per page)
// and calls DescribeStacks only for stacks whose state differs; a
// description that confirms what an item holds writes nothing.
type Reconciler struct{ d *deps }

// Stats counts what one pass did.
type Stats struct {
	Stacks, Described, Adopted, Repaired, Deleted, Purged, Errors int
	// History counts the operation history copies deleted because they
	// outlived Options.HistoryRetention.
	History int
	// Expired counts the users whose end date passed and whose
	// deactivation this pass started.
	Expired int
	// Audit counts the audit records deleted because they outlived
	// Options.AuditRetention.
	Audit int
}

// TombstoneTTL is how long the item of a deleted resource is kept: long
// enough that no late event or request still concerns it. The mirror
// ignores events of items it does not know, so a purged tombstone cannot
// come back.
const TombstoneTTL = 7 * 24 * time.Hour

func (s *Stats) add(o Stats) {
	s.Stacks += o.Stacks
	s.Described += o.Described
	s.Adopted += o.Adopted
	s.Repaired += o.Repaired
	s.Deleted += o.Deleted
	s.Purged += o.Purged
	s.History += o.History
	s.Expired += o.Expired
	s.Audit += o.Audit
	s.Errors += o.Errors
}

// Reconcile runs one pass over every project that is not retired. It goes
// on past a failing project and returns the first error.
func (rc *Reconciler) Reconcile(ctx context.Context) (Stats, error) {
	var total Stats
	projects, err := rc.d.Projects.ListProjects(ctx)
	if err != nil {
		return total, err
	}
	var first error
	for _, p := range projects {
		if p.Retired {
			// Its stacks stay as they are, and so does its cache: its
			// account may no longer let bucketdesk in.
			continue
		}
		s, err := rc.ReconcileProject(ctx, p)
		total.add(s)
		if err != nil && first == nil {
			first = fmt.Errorf("project %s: %w", p.ID, err)
		}
	}
	if err := rc.purgeAudit(ctx, core.PortalProject, &total); err != nil && first == nil {
		first = fmt.Errorf("the portal's audit trail: %w", err)
	}
	return total, first
}

// ReconcileProject runs one pass over one project.
func (rc *Reconciler) ReconcileProject(ctx context.Context, p *core.Project) (Stats, error) {
	var st Stats
	acct := p.Account()
	// The cache is read before CloudFormation is listed, so an item
	// created after the listing is not mistaken for a vanished stack.
	items, _, err := rc.d.Resources.ListResources(ctx, p.ID, core.Page{})
	if err != nil {
		return st, err
	}
	observedAt := rc.d.Clock.Now().UTC()
	sums, err := rc.d.Cloud.ListStacks(ctx, acct, stacks.Prefix(p.ID))
	if err != nil {
		return st, err
	}
	st.Stacks = len(sums)
	cached := make(map[string]*core.Resource, len(items))
	for _, r := range items {
		cached[r.StackName] = r
	}
	var first error
	note := func(err error) {
		if err != nil {
			st.Errors++
			if first == nil {
				first = err
			}
		}
	}
	listed := make(map[string]bool, len(sums))
	for _, s := range sums {
		listed[s.StackName] = true
		r := cached[s.StackName]
		switch {
		case r == nil || adoptable(r, s.StackID):
			note(rc.adopt(ctx, p, s, &st))
		case rc.differs(r, s):
			note(rc.repair(ctx, p, r.Key(), s.StackID, &st))
		}
	}
	n, err := rc.d.Resources.PurgeOperations(ctx, p.ID, observedAt.Add(-rc.d.HistoryRetention), historyPurgeBatch)
	st.History += n
	note(err)
	note(rc.purgeAudit(ctx, p.ID, &st))
	for _, r := range items {
		rc.repairHistory(ctx, r, observedAt)
		if !listed[r.StackName] && r.Observed.Phase == core.PhaseDeleted && r.Lock == nil && observedAt.Sub(r.UpdatedAt) > TombstoneTTL {
			note(rc.purge(ctx, r, &st))
			continue
		}
		if listed[r.StackName] {
			started, err := rc.expire(ctx, p, r, observedAt)
			if started {
				st.Expired++
			}
			note(err)
			continue
		}
		if r.Observed.Phase == core.PhaseDeleted && r.Lock == nil {
			continue
		}
		if r.Observed.StackID == "" {
			if r.Op != nil && !r.Op.Status.Terminal() {
				continue // its worker has not created the stack yet
			}
			note(rc.gone(ctx, r.Key(), "", observedAt, &st))
			continue
		}
		// Not listed: deleted, or deleted outside bucketdesk. The stack id
		// still describes a deleted stack.
		note(rc.repair(ctx, p, r.Key(), r.Observed.StackID, &st))
	}
	return st, first
}

// historyRepairWindow is how long after it ended an operation's history
// copy is still rewritten from its item: long enough for any crash between
// the item's write and the copy's, short enough to cost little.
const historyRepairWindow = time.Hour

// historyPurgeBatch bounds the history copies one pass deletes per
// project, so that a pass after a long pause stays short; the next passes
// go on.
const historyPurgeBatch = 1000

// repairHistory rewrites the history copy of a recent operation from the
// item, which is the source of truth: a process that died between the two
// writes left the copy behind. PutOperation never lowers a copy's Rev, so
// this is idempotent. A copy that already equals the item's operation is
// not written again: after a change of many resources, every pass of the
// next historyRepairWindow would otherwise rewrite all their copies.
func (rc *Reconciler) repairHistory(ctx context.Context, r *core.Resource, now time.Time) {
	op := r.Op
	if op == nil || op.FinishedAt != nil && now.Sub(*op.FinishedAt) > historyRepairWindow {
		return
	}
	if op.Status.Terminal() && now.Sub(op.RequestedAt) > rc.d.HistoryRetention {
		return // its history has ended; only the item keeps it
	}
	if cur, err := rc.d.Resources.GetOperation(ctx, op.ID); err == nil && cur.Rev >= op.Rev {
		return // the copy holds this revision (Rev rises on every change)
	}
	if err := rc.d.Resources.PutOperation(ctx, op); err != nil {
		rc.d.Logger.Warn("operation history not repaired", "operation", op.ID, "err", err)
	}
}

// adoptable reports whether the listed stack stackID may become r's stack:
// r has no live stack (a tombstone, or a create that failed before
// CloudFormation made one), no operation holds it, and stackID is not the
// stack r already knows as deleted.
func adoptable(r *core.Resource, stackID string) bool {
	noStack := r.Observed.Phase == core.PhaseDeleted || r.Observed.StackID == ""
	return noStack && r.Lock == nil && r.Observed.StackID != stackID
}

// differs reports whether an item needs a DescribeStacks.
func (rc *Reconciler) differs(r *core.Resource, s core.StackSummary) bool {
	return r.Observed.StackStatus != s.Status || r.Observed.StackID != s.StackID || r.Observed.Stale ||
		r.Op != nil && r.Op.Status == core.OpRunning && core.Terminal(s.Status)
}

func (rc *Reconciler) repair(ctx context.Context, p *core.Project, key core.ResourceKey, stackID string, st *Stats) error {
	// Every event stamped before the call is reflected in its answer.
	observedAt := rc.d.Clock.Now().UTC()
	stack, err := rc.d.Cloud.DescribeStack(ctx, p.Account(), stackID)
	st.Described++
	if errors.Is(err, core.ErrNotFound) {
		return rc.gone(ctx, key, stackID, observedAt, st)
	}
	if err != nil {
		return err
	}
	// The item may have moved on to another stack since it was read (a
	// delete ended, a create began): Observe is bound to the stack and
	// then changes nothing.
	wrote := false
	_, err = rc.d.change(ctx, key, func(r *core.Resource) (bool, error) {
		wrote = r.Version > 0 && core.Observe(r, stack, observedAt)
		return wrote, nil
	})
	if err == nil && wrote {
		st.Repaired++
	}
	return err
}

// purge removes an old tombstone, unless it changed since it was read.
func (rc *Reconciler) purge(ctx context.Context, r *core.Resource, st *Stats) error {
	err := rc.d.Resources.DeleteResource(ctx, r.Key(), r.Version)
	if errors.Is(err, core.ErrConflict) {
		return nil // written meanwhile (a new create): not a tombstone any more
	}
	if err == nil {
		st.Purged++
	}
	return err
}

// gone marks the item deleted if it is still bound to stackID ("" for an
// item without a stack), which CloudFormation does not know.
func (rc *Reconciler) gone(ctx context.Context, key core.ResourceKey, stackID string, observedAt time.Time, st *Stats) error {
	wrote := false
	_, err := rc.d.change(ctx, key, func(r *core.Resource) (bool, error) {
		wrote = r.Version > 0 && core.ObserveGone(r, stackID, observedAt)
		return wrote, nil
	})
	if err == nil && wrote {
		st.Deleted++
	}
	return err
}

// adopt creates the item of a stack the cache does not know, from its
// template and tags; a stack without bucketdesk's identity tags is left
// alone.
func (rc *Reconciler) adopt(ctx context.Context, p *core.Project, s core.StackSummary, st *Stats) error {
	observedAt := rc.d.Clock.Now().UTC()
	stack, err := rc.d.Cloud.DescribeStack(ctx, p.Account(), s.StackID)
	st.Described++
	if err != nil {
		return err
	}
	project, kind, name, ok := stacks.Identity(stack.Tags)
	if !ok || project != p.ID || stacks.StackName(project, kind, name) != s.StackName {
		rc.d.Logger.Warn("stack under bucketdesk's prefix without matching identity tags left alone", "stack", s.StackName)
		return nil
	}
	tpl, err := rc.d.Cloud.GetTemplate(ctx, p.Account(), s.StackID)
	if err != nil {
		return err
	}
	spec, err := stacks.Parse(tpl)
	if err != nil {
		return fmt.Errorf("adopt %s: %w", s.StackName, err)
	}
	if stack.Status == "DELETE_COMPLETE" {
		return nil // deleted since it was listed: nothing to adopt
	}
	adopted := false
	_, err = rc.d.change(ctx, core.ResourceKey{Project: p.ID, StackName: s.StackName}, func(r *core.Resource) (bool, error) {
		if r.Version > 0 && !adoptable(r, stack.StackID) {
			return false, nil // the item moved on meanwhile: a create took it, or this stack is already its own
		}
		*r = core.Resource{Project: p.ID, Kind: kind, Name: name, StackName: s.StackName, Spec: spec,
			Observed: core.Observed{StackID: stack.StackID}, Version: r.Version}
		core.Observe(r, stack, observedAt)
		adopted = true
		return true, nil
	})
	if err == nil && adopted {
		st.Adopted++
	}
	return err
}

// Run reconciles at once and then every interval until ctx ends.
func (rc *Reconciler) Run(ctx context.Context, interval time.Duration) {
	for {
		s, err := rc.Reconcile(ctx)
		if err != nil && ctx.Err() == nil {
			rc.d.Logger.Warn("reconcile pass incomplete", "err", err, "stacks", s.Stacks, "errors", s.Errors)
		} else if s.Adopted+s.Deleted+s.Repaired+s.Purged+s.History+s.Audit > 0 {
			rc.d.Logger.Info("reconciled", "stacks", s.Stacks, "described", s.Described, "adopted", s.Adopted, "repaired", s.Repaired, "deleted", s.Deleted,
				"tombstones_purged", s.Purged, "history_purged", s.History, "audit_purged", s.Audit)
		}
		select {
		case <-ctx.Done():
			return
		case <-rc.d.Clock.After(interval):
		}
	}
}
