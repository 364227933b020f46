package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"bucketdesk/internal/core"
)

// rateLimited is a login limiter's error, as internal/auth makes it.
func rateLimited(wait time.Duration) error {
	return &core.RetryAfterError{Wait: wait, Err: fmt.Errorf("too many failed logins: %w", core.ErrThrottled)}
}

// wrap wraps err as an adapter or the engine does.
func wrap(err error) error { return fmt.Errorf("layer: %w", err) }

// loginLimited wraps err as the login handler does.
func loginLimited(err error) error {
	return &detailed{kind: errRateLimited, detail: "x", cause: err}
}

func statusKind(err error) (int, string) {
	s, k, _ := statusOf(err)
	return s, k
}

// The one table, kind by kind; a throttle is 503 from the engine and 429
// only where the login wraps it.
func TestStatusOf(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		kind   string
	}{
		{wrap(core.ErrInvalid), 400, "invalid"},
		{&core.ValidationError{Problems: []core.FieldError{{Field: "name"}}}, 400, "invalid"},
		{wrap(core.ErrUnauthenticated), 401, "unauthenticated"},
		{wrap(core.ErrForbidden), 403, "forbidden"},
		{wrap(core.ErrNotFound), 404, "not-found"},
		{wrap(core.ErrConflict), 409, "conflict"},
		{wrap(&core.LockedError{Lock: core.Lock{By: "alice"}}), 409, "locked"},
		{wrap(core.ErrPrecondition), 412, "precondition"},
		{kindError(errTooLarge, "x"), 413, "too-large"},
		{kindError(errMediaType, "x"), 415, "unsupported-media-type"},
		{kindError(errMethod, "x"), 405, "method-not-allowed"},
		{loginLimited(rateLimited(time.Second)), 429, "rate-limited"},
		{wrap(rateLimited(time.Second)), 503, "throttled"},
		{wrap(core.ErrThrottled), 503, "throttled"},
		{wrap(core.ErrUnavailable), 503, "unavailable"},
		{context.DeadlineExceeded, 503, "unavailable"},
		{wrap(core.ErrInternal), 500, "internal"},
		{errors.New("boom"), 500, "internal"},
		{wrap(core.ErrNoChange), 500, "internal"},
	} {
		if s, k := statusKind(c.err); s != c.status || k != c.kind {
			t.Errorf("%v: %d %s, want %d %s", c.err, s, k, c.status, c.kind)
		}
	}
}

// Retry-After comes from the error when it knows, rounded up to seconds.
func TestRetryAfter(t *testing.T) {
	s := &server{log: discard()}
	for _, c := range []struct {
		err  error
		want string
	}{
		{loginLimited(rateLimited(1500 * time.Millisecond)), "2"},
		{loginLimited(rateLimited(0)), "30"},
		{wrap(core.ErrThrottled), "1"},
	} {
		w := httptest.NewRecorder()
		s.fail(w, httptest.NewRequest("POST", "/auth/login", nil), c.err)
		if got := w.Header().Get("Retry-After"); got != c.want {
			t.Errorf("%v: Retry-After %q, want %q", c.err, got, c.want)
		}
	}
}

// If-Match: one strong ETag or *.
func TestIfMatch(t *testing.T) {
	for _, c := range []struct {
		header string
		want   int64
		kind   error
	}{
		{"", 0, nil},
		{"*", 0, nil},
		{`"7"`, 7, nil},
		{` "12" `, 12, nil},
		{`W/"7"`, 0, core.ErrPrecondition},
		{`"0"`, 0, core.ErrPrecondition},
		{`7`, 0, core.ErrInvalid},
		{`"7`, 0, core.ErrInvalid},
		{`"-1"`, 0, core.ErrInvalid},
		{`"+1"`, 0, core.ErrInvalid},
		{`"abc"`, 0, core.ErrInvalid},
		{`"1", "2"`, 0, core.ErrInvalid},
	} {
		r := httptest.NewRequest("PUT", "/", nil)
		if c.header != "" {
			r.Header.Set("If-Match", c.header)
		}
		got, err := ifMatch(r)
		if got != c.want || (c.kind == nil) != (err == nil) || (c.kind != nil && !errors.Is(err, c.kind)) {
			t.Errorf("If-Match %q: %d %v, want %d %v", c.header, got, err, c.want, c.kind)
		}
	}
}

// New refuses to run without its required parts.
func TestNewPanicsWithoutService(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	New(Options{})
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// The login's client address is the peer's, or behind a trusted proxy the
// entry that proxy added last.
func TestClientAddr(t *testing.T) {
	for _, c := range []struct {
		trust bool
		xff   []string
		want  string
	}{
		{false, nil, "192.0.2.1"},
		{false, []string{"203.0.113.9"}, "192.0.2.1"},
		{true, nil, "192.0.2.1"},
		{true, []string{"198.51.100.7"}, "198.51.100.7"},
		{true, []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{true, []string{"6.6.6.6", "198.51.100.8"}, "198.51.100.8"},
	} {
		s := &server{opts: Options{TrustProxyHeaders: c.trust}}
		r := httptest.NewRequest("POST", "/auth/login", nil) // RemoteAddr 192.0.2.1:1234
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := s.clientAddr(r); got != c.want {
			t.Errorf("trust %v, X-Forwarded-For %q: %q, want %q", c.trust, c.xff, got, c.want)
		}
	}
}
