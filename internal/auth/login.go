package auth

import (
	"context"
	"fmt"
	"sync"
	"time"

	"bucketdesk/internal/core"
)

// Defaults of LoginOptions.
const (
	DefaultTokenTTL    = time.Hour
	DefaultMaxFailures = 5
	DefaultWindow      = time.Minute
	DefaultMaxTracked  = 10000
)

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
	// MaxFailures is how many failed attempts one username, and one
	// client address, may make per Window; default 5.
	MaxFailures int
	// Window is the period over which failures count; default 1 min.
	Window time.Duration
	// MaxTracked bounds how many usernames and addresses the limiter
	// remembers; past it, the oldest windows are forgotten first.
	// Default 10,000.
	MaxTracked int
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
// failed attempts per username and per client address, and issues a token
// from the local issuer. It is not for AWS, where Cognito signs users in.
// It is safe for concurrent use.
type Login struct {
	users  Checker
	issuer *LocalIssuer
	ttl    time.Duration
	lim    *limiter
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
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MaxTracked <= 0 {
		o.MaxTracked = DefaultMaxTracked
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Login{
		users:  users,
		issuer: issuer,
		ttl:    o.TokenTTL,
		lim: &limiter{
			max: o.MaxFailures, window: o.Window, maxTracked: o.MaxTracked, now: o.Clock,
			entries: make(map[string]*window),
		},
	}
}

// Login signs a user in: it returns a token, its lifetime and the user id.
// Bad credentials are an error wrapping ErrBadCredentials and
// core.ErrUnauthenticated; too many failures for this username or this
// clientAddr within the window are ErrTooManyLogins with a retry-after
// hint (core.RetryAfter), returned without
// checking the password. A success resets the username's failures (not
// the address's, so that one valid account cannot launder guesses at
// others).
func (l *Login) Login(ctx context.Context, username, password, clientAddr string) (token string, expiresIn time.Duration, user string, err error) {
	if err := ctx.Err(); err != nil {
		return "", 0, "", err
	}
	addrKey := "addr\x00" + clientAddr
	if len(username) > maxUsernameBytes || len(password) > maxLoginPassword {
		// Count against the address only: such a name is never a user,
		// and must not become a key of unbounded size.
		if err := l.lim.begin(addrKey); err != nil {
			return "", 0, "", err
		}
		return "", 0, "", badCredentials()
	}
	userKey := "user\x00" + username
	// The attempt counts as a failure before bcrypt runs, so that parallel
	// guesses cannot all pass the check while the first ones are hashing.
	if err := l.lim.begin(userKey, addrKey); err != nil {
		return "", 0, "", err
	}
	p, err := l.users.Check(username, password)
	if err != nil {
		return "", 0, "", err
	}
	l.lim.succeeded(userKey, addrKey)
	token, err = l.issuer.Issue(p, l.ttl)
	if err != nil {
		return "", 0, "", err
	}
	return token, l.ttl, p.User, nil
}

// limiter counts failures per key in fixed windows that start at a key's
// first failure.
type limiter struct {
	max        int
	window     time.Duration
	maxTracked int
	now        func() time.Time

	mu        sync.Mutex
	entries   map[string]*window
	lastSweep time.Time
}

type window struct {
	start time.Time
	count int
}

// begin records an attempt against every key, unless one of them is over
// the limit: then it records nothing and returns ErrTooManyLogins.
func (l *limiter) begin(keys ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now, false)
	var retry time.Duration
	for _, k := range keys {
		w := l.entries[k]
		if w == nil || now.Sub(w.start) >= l.window {
			continue
		}
		if w.count >= l.max {
			retry = max(retry, w.start.Add(l.window).Sub(now))
		}
	}
	if retry > 0 {
		return tooManyLogins(retry)
	}
	for _, k := range keys {
		w := l.entries[k]
		if w == nil || now.Sub(w.start) >= l.window {
			if w == nil && len(l.entries) >= l.maxTracked {
				l.sweep(now, true)
				if len(l.entries) >= l.maxTracked {
					l.evictOldest()
				}
			}
			w = &window{start: now}
			l.entries[k] = w
		}
		w.count++
	}
	return nil
}

// succeeded undoes an attempt that begin recorded and turned out right:
// the user's window is forgotten, the address's attempt taken back.
func (l *limiter) succeeded(userKey, addrKey string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, userKey)
	if w := l.entries[addrKey]; w != nil && w.count > 0 {
		w.count--
		if w.count == 0 {
			delete(l.entries, addrKey)
		}
	}
}

// sweep forgets ended windows, so that memory follows recent failures
// only; unless forced, it runs at most once per window.
func (l *limiter) sweep(now time.Time, force bool) {
	if !force && now.Sub(l.lastSweep) < l.window {
		return
	}
	l.lastSweep = now
	for k, w := range l.entries {
		if now.Sub(w.start) >= l.window {
			delete(l.entries, k)
		}
	}
}

// evictOldest forgets the window that started first. It runs only when the
// limiter is full of live windows, which takes many addresses at once.
func (l *limiter) evictOldest() {
	var oldest string
	var at time.Time
	for k, w := range l.entries {
		if oldest == "" || w.start.Before(at) {
			oldest, at = k, w.start
		}
	}
	delete(l.entries, oldest)
}

// tracked returns how many keys the limiter holds, for tests.
func (l *limiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
