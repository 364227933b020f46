package core

import (
	"errors"
	"fmt"
	"time"
)

// The closed set of error kinds. Adapters wrap them with %w and keep the
// cause; callers classify with errors.Is. One table (in httpapi) maps each
// kind to an HTTP status.
var (
	// ErrNotFound: the thing asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request contradicts the current state (already
	// exists, a stack in a state that forbids the change, a lost race on a
	// conditional write).
	ErrConflict = errors.New("conflict")
	// ErrLocked: the resource is held by another operation. Returned as a
	// *LockedError naming the holder.
	ErrLocked = errors.New("locked")
	// ErrPrecondition: an If-Match version did not match.
	ErrPrecondition = errors.New("precondition failed")
	// ErrInvalid: bad input. Returned as a *ValidationError when it concerns
	// fields of a request.
	ErrInvalid = errors.New("invalid")
	// ErrForbidden: the caller may not see or change this.
	ErrForbidden = errors.New("forbidden")
	// ErrUnauthenticated: no valid identity was presented.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrThrottled: a rate limit answered; retry later. Never shown to a
	// user as a failure.
	ErrThrottled = errors.New("throttled")
	// ErrUnavailable: a dependency is down or timed out; retry later.
	ErrUnavailable = errors.New("unavailable")
	// ErrNoChange: CloudFormation's "No updates are to be performed". The
	// worker treats it as success.
	ErrNoChange = errors.New("no changes")
	// ErrInternal: a bug or an invariant broken.
	ErrInternal = errors.New("internal error")
)

// Retryable reports whether err is a transient kind that a queue redelivery
// or a backoff should retry.
func Retryable(err error) bool {
	return errors.Is(err, ErrThrottled) || errors.Is(err, ErrUnavailable)
}

// RetryAfterError wraps an error with how long to wait before trying
// again: the one signal of a retry-after hint, whoever gives it (a login
// limiter, the worker asking its queue for a later delivery). errors.Is and
// errors.As see Err, so the kind of the failure stays what Err says.
type RetryAfterError struct {
	// Wait is how long to wait before the next try; 0 gives no hint.
	Wait time.Duration
	// Err is the failure.
	Err error
}

func (e *RetryAfterError) Error() string {
	return e.Err.Error() + " (retry after " + e.Wait.String() + ")"
}

// Unwrap returns Err.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter reports the wait that the first *RetryAfterError in err's
// chain asks for, and whether there is one.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.Wait, true
	}
	return 0, false
}

// LockedError is returned when a resource is held by another operation.
type LockedError struct {
	Lock Lock
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("locked: %s by %s since %s (operation %s)",
		e.Lock.Action, e.Lock.By, e.Lock.Since.UTC().Format(time.RFC3339), e.Lock.OperationID)
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// FieldError is one violated rule of one field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every violated rule of a request.
type ValidationError struct {
	Problems []FieldError
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 0 {
		return "invalid"
	}
	s := "invalid: " + e.Problems[0].Field + ": " + e.Problems[0].Message
	if n := len(e.Problems) - 1; n > 0 {
		s += fmt.Sprintf(" (and %d more)", n)
	}
	return s
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// add records a problem; a nil receiver is not allowed.
func (e *ValidationError) add(field, format string, args ...any) {
	e.Problems = append(e.Problems, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// err returns e when it holds problems, nil otherwise.
func (e *ValidationError) err() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}
