package core

import (
	"fmt"
	"time"
)

// MaxAccessDays bounds how far ahead of now a user's end date
// (UserSpec.AccessUntil) may be set: access for a job has an end in sight,
// and a manager extends it when the job goes on.
const MaxAccessDays = 730

// AccessUntilField is the field of a user spec that holds its end date.
const AccessUntilField = "access_until"

// AccessUntilProblem returns what is wrong with the end date next of a
// user whose end date was prev (zero for a new user, or a user without
// one) at time now, or "" when there is nothing wrong. No end date is
// fine, and so is an unchanged one, even when it has passed (the rest of
// an expired user can still be changed); a new or changed end date must be
// after now and at most MaxAccessDays after it. web/validate.js
// (accessUntilProblem) says the same.
func AccessUntilProblem(next, prev, now time.Time) string {
	if next.IsZero() || next.Equal(prev) {
		return ""
	}
	if !next.After(now) {
		return "must be in the future"
	}
	if next.After(now.Add(MaxAccessDays * 24 * time.Hour)) {
		return fmt.Sprintf("must be at most %d days from now", MaxAccessDays)
	}
	return ""
}

// AccessExpired reports whether access that ends at until (zero: never)
// has ended at now. IAM's DateLessThan is false from the end date on, so
// the end date itself is already expired.
func AccessExpired(until, now time.Time) bool {
	return !until.IsZero() && !now.Before(until)
}

// ExpireDue reports whether user u, at now, has passed its end date but
// its access is not yet deactivated (Expired false): the reconciler then
// starts the update that deactivates it.
func ExpireDue(u *UserSpec, now time.Time) bool {
	return u != nil && !u.Expired && AccessExpired(u.AccessUntil, now)
}
