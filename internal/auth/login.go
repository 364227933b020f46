package auth

import (
	"context"
	"fmt"
	"time"

	"bucketdesk/internal/core"
)

// DefaultTokenTTL is the default of LoginOptions.TokenTTL.
const DefaultTokenTTL = time.Hour

// Bounds on what a login attempt may present; longer is refused as bad
// credentials without hashing, and never becomes a limiter key.
const (
	maxUsernameBytes = 128
	maxLoginPassword = 1024
)

// LoginOptions tune a Login. Nil or zero fields mean defaults.
type LoginOptions struct {
	// TokenTTL is the lifetime of the tokens issued; default 1 h.
	TokenTTL time.Duration
	// Limits tune the failed-login limiter; its Clock defaults to Clock.
	Limits LimitOptions
	// Clock tells the time; default time.Now.
	Clock func() time.Time
}

// ErrTooManyLogins answers a login attempt over the failure limit. It
// comes inside a *core.RetryAfterError whose Wait is how long until an
// attempt may be made again (httpapi answers 429 with that Retry-After),
// and matches core.ErrThrottled with errors.Is. It names no user or
// address.
var ErrTooManyLogins = fmt.Errorf("auth: too many failed logins: %w", core.ErrThrottled)

// tooManyLogins is ErrTooManyLogins with the wait before the next attempt.
func tooManyLogins(wait time.Duration) error {
	return &core.RetryAfterError{Wait: wait, Err: ErrTooManyLogins}
}

// Login checks a username and password against the users file, limits
// failed attempts through a LoginLimiter, and issues a token
// from the local issuer. It is not for AWS, where Cognito signs users in.
// It is safe for concurrent use.
type Login struct {
	users  Checker
	issuer *LocalIssuer
	ttl    time.Duration
	lim    *LoginLimiter
}

// NewLogin returns a Login of users (a *Users, or a *WatchedUsers that
// follows the file's changes) whose tokens issuer signs.
func NewLogin(users Checker, issuer *LocalIssuer, opts *LoginOptions) *Login {
	o := LoginOptions{}
	if opts != nil {
		o = *opts
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = DefaultTokenTTL
	}
	if o.Limits.Clock == nil {
		o.Limits.Clock = o.Clock
	}
	return &Login{users: users, issuer: issuer, ttl: o.TokenTTL, lim: NewLoginLimiter(&o.Limits)}
}

// Login signs a user in: it returns a token, its lifetime and the user id.
// Bad credentials are an error wrapping ErrBadCredentials and
// core.ErrUnauthenticated; too many failures for this username from this
// clientAddr, or for clientAddr across usernames, within the window are
// ErrTooManyLogins with a retry-after hint (core.RetryAfter), returned
// without checking the password. A success resets the pair's failures (not
// the address's, so that one valid account cannot launder guesses at
// others).
func (l *Login) Login(ctx context.Context, username, password, clientAddr string) (token string, expiresIn time.Duration, user string, err error) {
	if err := ctx.Err(); err != nil {
		return "", 0, "", err
	}
	if len(username) > maxUsernameBytes || len(password) > maxLoginPassword {
		// Count against the address only: such a name is never a user,
		// and must not become a key of unbounded size.
		if err := l.lim.Begin("", clientAddr); err != nil {
			return "", 0, "", err
		}
		return "", 0, "", badCredentials()
	}
	// The attempt counts as a failure before bcrypt runs, so that parallel
	// guesses cannot all pass the check while the first ones are hashing.
	if err := l.lim.Begin(username, clientAddr); err != nil {
		return "", 0, "", err
	}
	p, err := l.users.Check(username, password)
	if err != nil {
		return "", 0, "", err
	}
	l.lim.Succeeded(username, clientAddr)
	token, err = l.issuer.Issue(p, l.ttl)
	if err != nil {
		return "", 0, "", err
	}
	return token, l.ttl, p.User, nil
}
