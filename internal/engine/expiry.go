package engine

import (
	"context"
	"errors"
	"time"

	"bucketdesk/internal/core"
)

// SystemActor is who bucketdesk's own operations are requested by: the
// deactivation of a user whose end date passed.
const SystemActor = "bucketdesk"

// endDate checks the end date of user next, which was cur before (nil for
// a new user; next nil for a bucket), at now, and derives next.Expired: a
// new or changed end date must be ahead (core.AccessUntilProblem), and a
// user whose end date has passed is expired. So a manager's update with a
// later end date, or none, reactivates an expired user.
func endDate(cur, next *core.UserSpec, now time.Time) error {
	if next == nil {
		return nil
	}
	var prev time.Time
	if cur != nil {
		prev = cur.AccessUntil
	}
	if m := core.AccessUntilProblem(next.AccessUntil, prev, now); m != "" {
		return &core.ValidationError{Problems: []core.FieldError{{Field: core.AccessUntilField, Message: m}}}
	}
	next.Expired = core.AccessExpired(next.AccessUntil, now)
	return nil
}

// expire starts the update that deactivates user r once its end date has
// passed (core.ExpireDue): the same spec, which endDate then marks
// expired, so the stack's keys become Inactive and its Transfer user goes.
// It is an ordinary operation requested by SystemActor, at the version the
// reconciler read; a resource that is locked, not ready, or changed since
// is left to the next pass. It reports whether it started one.
func (rc *Reconciler) expire(ctx context.Context, p *core.Project, r *core.Resource, now time.Time) (bool, error) {
	if r.Kind != core.KindUser || r.Lock != nil || r.Observed.Phase != core.PhaseReady || !core.ExpireDue(r.Spec.User, now) {
		return false, nil
	}
	spec := r.Spec.Clone()
	_, err := (&Service{d: rc.d}).submitTo(ctx, p, request{
		who: core.Principal{User: SystemActor}, project: p.ID, action: core.ActionUpdate,
		kind: core.KindUser, name: r.Name, spec: &spec, ifMatch: r.Version,
	})
	var locked *core.LockedError
	if errors.As(err, &locked) || errors.Is(err, core.ErrPrecondition) {
		return false, nil // someone else is changing it; the next pass looks again
	}
	return err == nil, err
}
