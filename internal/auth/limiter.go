package auth

import (
	"sync"
	"time"
)

// Defaults of LimitOptions.
const (
	DefaultMaxFailures        = 5
	DefaultMaxAddressFailures = 20
	DefaultWindow             = time.Minute
	DefaultMaxTracked         = 10000
)

// LimitOptions tune a LoginLimiter. Zero fields mean defaults.
type LimitOptions struct {
	// MaxFailures is how many failed attempts one username may make from
	// one client address per Window; default 5.
	MaxFailures int
	// MaxAddressFailures is how many failed attempts one client address
	// may make per Window across all usernames; default 20. It is raised
	// to 2×MaxFailures+1 if lower, so that one username's failures alone
	// never reach it and lock out other users behind the same address.
	MaxAddressFailures int
	// Window is the period over which failures count; default 1 min.
	Window time.Duration
	// MaxTracked bounds how many (username, address) pairs and addresses
	// the limiter remembers; past it, the oldest windows are forgotten
	// first. Default 10,000.
	MaxTracked int
	// Clock tells the time; default time.Now.
	Clock func() time.Time
}

// LoginLimiter limits failed sign-ins so that they cannot be turned
// against a user: failures count per (username, client address) pair and,
// with a higher limit, per address across usernames. A username is never
// limited as such, so failures from one address do not lock the user out
// from another, and one username's failures do not lock out other users
// behind the same address. Windows are fixed, starting at a key's first
// failure; ended windows are forgotten, and at most MaxTracked keys are
// remembered. It is safe for concurrent use.
type LoginLimiter struct {
	max, maxAddr int
	window       time.Duration
	maxTracked   int
	now          func() time.Time

	mu        sync.Mutex
	entries   map[string]*window
	lastSweep time.Time
}

type window struct {
	start time.Time
	count int
}

// NewLoginLimiter returns a limiter tuned by opts (nil for the defaults).
func NewLoginLimiter(opts *LimitOptions) *LoginLimiter {
	o := LimitOptions{}
	if opts != nil {
		o = *opts
	}
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	if o.MaxAddressFailures <= 0 {
		o.MaxAddressFailures = DefaultMaxAddressFailures
	}
	// Within one address window, one pair can fail in at most two of its
	// own windows.
	o.MaxAddressFailures = max(o.MaxAddressFailures, 2*o.MaxFailures+1)
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.MaxTracked <= 0 {
		o.MaxTracked = DefaultMaxTracked
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &LoginLimiter{
		max: o.MaxFailures, maxAddr: o.MaxAddressFailures, window: o.Window, maxTracked: o.MaxTracked, now: o.Clock,
		entries: make(map[string]*window),
	}
}

func addrKey(addr string) string       { return "addr\x00" + addr }
func pairKey(user, addr string) string { return "pair\x00" + addr + "\x00" + user }

// Begin records an attempt by username from addr, before the password is
// checked, so that parallel guesses cannot all pass while the first ones
// are being checked. If the pair or the address is over its limit it
// records nothing and returns ErrTooManyLogins, inside a
// *core.RetryAfterError whose Wait is how long until the next attempt may
// be made. An empty username counts against the address only (for names
// that are never users and must not become keys).
func (l *LoginLimiter) Begin(username, addr string) error {
	keys := []string{addrKey(addr)}
	if username != "" {
		keys = append(keys, pairKey(username, addr))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.sweep(now, false)
	var retry time.Duration
	for i, k := range keys {
		w := l.entries[k]
		if w == nil || now.Sub(w.start) >= l.window {
			continue
		}
		limit := l.max
		if i == 0 {
			limit = l.maxAddr
		}
		if w.count >= limit {
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

// Succeeded takes back the attempt Begin recorded for a sign-in that
// turned out right: the pair's window is forgotten, the address's attempt
// taken back (not its other failures, so that one valid account cannot
// launder guesses at others).
func (l *LoginLimiter) Succeeded(username, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.entries, pairKey(username, addr))
	ak := addrKey(addr)
	if w := l.entries[ak]; w != nil && w.count > 0 {
		w.count--
		if w.count == 0 {
			delete(l.entries, ak)
		}
	}
}

// sweep forgets ended windows, so that memory follows recent failures
// only; unless forced, it runs at most once per window.
func (l *LoginLimiter) sweep(now time.Time, force bool) {
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
func (l *LoginLimiter) evictOldest() {
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
func (l *LoginLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
