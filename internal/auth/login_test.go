package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/core"
)

type loginFixture struct {
	clk    *clock.Manual
	login  *Login
	verify *Verifier
}

func newLoginFixture(t *testing.T, opts *LoginOptions) *loginFixture {
	t.Helper()
	clk := clock.NewManual(t0)
	users, err := NewUsers(testUsers(t))
	if err != nil {
		t.Fatal(err)
	}
	iss, err := OpenLocalIssuer(t.TempDir(), "http://localhost:8080", "bucketdesk-local", &IssuerOptions{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewStaticKeySource(iss.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	if opts == nil {
		opts = &LoginOptions{}
	}
	opts.Clock = clk.Now
	return &loginFixture{clk: clk, login: NewLogin(users, iss, opts), verify: NewVerifier(src, iss.VerifierConfig())}
}

const (
	alicePW = "alice-pw-1234567"
	addrA   = "192.0.2.1"
	addrB   = "192.0.2.2"
)

func wantBadCredentials(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrBadCredentials) || !errors.Is(err, core.ErrUnauthenticated) {
		t.Fatalf("err = %v, want bad credentials", err)
	}
}

func wantRateLimited(t *testing.T, err error, wait time.Duration) {
	t.Helper()
	if !errors.Is(err, ErrTooManyLogins) || !errors.Is(err, core.ErrThrottled) {
		t.Fatalf("err = %v, want ErrTooManyLogins wrapping ErrThrottled", err)
	}
	if got, ok := core.RetryAfter(err); !ok || got != wait {
		t.Errorf("wait %v (hint %v), want %v", got, ok, wait)
	}
	if errors.Is(err, core.ErrUnauthenticated) {
		t.Error("a rate limit must not read as bad credentials")
	}
}

func TestLoginIssuesVerifiableToken(t *testing.T) {
	f := newLoginFixture(t, nil)
	tok, ttl, user, err := f.login.Login(context.Background(), "alice", alicePW, addrA)
	if err != nil {
		t.Fatal(err)
	}
	if ttl != DefaultTokenTTL || user != "alice" {
		t.Errorf("ttl %v, user %q", ttl, user)
	}
	p, err := f.verify.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.User != "alice" || len(p.Groups) != 1 || p.Groups[0] != "admins" {
		t.Errorf("token names %+v", p)
	}
	f.clk.Advance(DefaultTokenTTL)
	if _, err := f.verify.Verify(context.Background(), tok); !errors.Is(err, core.ErrUnauthenticated) {
		t.Errorf("token valid past its ttl: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, _, err := f.login.Login(ctx, "alice", alicePW, addrA); !errors.Is(err, context.Canceled) {
		t.Errorf("Login with a cancelled context = %v", err)
	}
}

// One address's failures never lock the user out from another address:
// the limit is per (username, address), not per username.
func TestLoginFailuresElsewhereDoNotLockUserOut(t *testing.T) {
	ctx := context.Background()
	f := newLoginFixture(t, &LoginOptions{Limits: LimitOptions{MaxFailures: 3, Window: time.Minute}})
	for range 3 {
		f.clk.Advance(time.Second)
		_, _, _, err := f.login.Login(ctx, "alice", "guess", addrA)
		wantBadCredentials(t, err)
	}
	// The first failure was at t0+1s: the pair's window ends at t0+61s.
	_, _, _, err := f.login.Login(ctx, "alice", alicePW, addrA)
	wantRateLimited(t, err, 58*time.Second)
	if strings.Contains(err.Error(), alicePW) {
		t.Error("error holds the password")
	}
	// Failures spread over many addresses do not add up either.
	for i := range 10 {
		_, _, _, err := f.login.Login(ctx, "alice", "guess", fmt.Sprintf("198.51.100.%d", i))
		wantBadCredentials(t, err)
	}
	if _, _, _, err := f.login.Login(ctx, "alice", alicePW, addrB); err != nil {
		t.Fatalf("alice from another address: %v", err)
	}
	// A limited attempt does not count, or extend the window.
	f.clk.Advance(57 * time.Second)
	_, _, _, err = f.login.Login(ctx, "alice", alicePW, addrA)
	wantRateLimited(t, err, time.Second)
	f.clk.Advance(time.Second)
	if _, _, _, err := f.login.Login(ctx, "alice", alicePW, addrA); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// One username's failures never lock out another user behind the same
// address, however long they go on and however the windows fall.
func TestLoginOneUsernameDoesNotLockOutOthers(t *testing.T) {
	ctx := context.Background()
	f := newLoginFixture(t, &LoginOptions{Limits: LimitOptions{MaxFailures: 3, MaxAddressFailures: 4, Window: time.Minute}})
	limited := 0
	for i := range 300 {
		f.clk.Advance(time.Second)
		_, _, _, err := f.login.Login(ctx, "alice", "guess", addrA)
		if errors.Is(err, ErrTooManyLogins) {
			limited++
		} else {
			wantBadCredentials(t, err)
		}
		if i%10 == 0 {
			if _, _, _, err := f.login.Login(ctx, "bob", "bob-pw-12345678", addrA); err != nil {
				t.Fatalf("bob behind alice's address at %ds: %v", i+1, err)
			}
		}
	}
	if limited == 0 {
		t.Fatal("alice's guesses were never limited")
	}
}

// The address-wide limit: one address spraying guesses over many
// usernames is limited, for every username, at a higher limit than a
// pair's; other addresses are not.
func TestLoginLimitPerAddress(t *testing.T) {
	ctx := context.Background()
	f := newLoginFixture(t, &LoginOptions{Limits: LimitOptions{MaxFailures: 3, MaxAddressFailures: 8, Window: time.Minute}})
	for i := range 8 {
		_, _, _, err := f.login.Login(ctx, fmt.Sprintf("user%d", i), "guess", addrA)
		wantBadCredentials(t, err)
	}
	_, _, _, err := f.login.Login(ctx, "alice", alicePW, addrA)
	wantRateLimited(t, err, time.Minute)
	// Over-long names count against the address too.
	_, _, _, err = f.login.Login(ctx, strings.Repeat("x", 1000), "guess", addrA)
	wantRateLimited(t, err, time.Minute)
	// Another address is not affected, and alice's name was not counted.
	if _, _, _, err := f.login.Login(ctx, "alice", alicePW, addrB); err != nil {
		t.Fatalf("from another address: %v", err)
	}
	f.clk.Advance(time.Minute)
	if _, _, _, err := f.login.Login(ctx, "alice", alicePW, addrA); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// An address limit too low to keep the pair guarantee is raised to
// 2×MaxFailures+1.
func TestLoginAddressLimitAbovePairs(t *testing.T) {
	l := NewLoginLimiter(&LimitOptions{MaxFailures: 3, MaxAddressFailures: 2})
	if l.maxAddr != 7 {
		t.Fatalf("address limit %d, want 7", l.maxAddr)
	}
	if d := NewLoginLimiter(nil); d.max != DefaultMaxFailures || d.maxAddr != DefaultMaxAddressFailures || d.maxAddr <= 2*d.max {
		t.Fatalf("defaults %d per pair, %d per address", d.max, d.maxAddr)
	}
}

func TestLoginSuccessResetsPair(t *testing.T) {
	ctx := context.Background()
	f := newLoginFixture(t, &LoginOptions{Limits: LimitOptions{MaxFailures: 3, MaxAddressFailures: 7, Window: time.Minute}})
	// Two failures, a success, two failures: never three in a row.
	for round := range 2 {
		for range 2 {
			_, _, _, err := f.login.Login(ctx, "alice", "guess", addrA)
			wantBadCredentials(t, err)
		}
		if _, _, _, err := f.login.Login(ctx, "alice", alicePW, addrA); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	// The success does not wipe the address's failures (four so far): a
	// valid account must not launder guesses at others.
	for i := range 2 {
		_, _, _, err := f.login.Login(ctx, fmt.Sprintf("nobody%d", i), "guess", addrA)
		wantBadCredentials(t, err)
	}
	if _, _, _, err := f.login.Login(ctx, "alice", alicePW, addrA); err != nil {
		t.Fatal(err)
	}
	_, _, _, err := f.login.Login(ctx, "nobody2", "guess", addrA)
	wantBadCredentials(t, err)
	_, _, _, err = f.login.Login(ctx, "alice", alicePW, addrA)
	wantRateLimited(t, err, time.Minute)
}

func TestLoginParallelGuessesAreCounted(t *testing.T) {
	ctx := context.Background()
	f := newLoginFixture(t, &LoginOptions{Limits: LimitOptions{MaxFailures: 5, MaxAddressFailures: 20}})
	for _, c := range []struct {
		name      string
		user      func(int) string
		addr      func(int) string
		wantBad   int
		wantLimit int
	}{
		{"one pair", func(int) string { return "alice" }, func(int) string { return addrA }, 5, 35},
		{"one address", func(i int) string { return fmt.Sprintf("u%d", i) }, func(int) string { return addrB }, 20, 20},
	} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		bad, limited := 0, 0
		for i := range 40 {
			wg.Go(func() {
				_, _, _, err := f.login.Login(ctx, c.user(i), fmt.Sprintf("guess-%d", i), c.addr(i))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, ErrBadCredentials):
					bad++
				case errors.Is(err, core.ErrThrottled):
					limited++
				default:
					t.Errorf("unexpected %v", err)
				}
			})
		}
		wg.Wait()
		if bad != c.wantBad || limited != c.wantLimit {
			t.Fatalf("%s: %d guesses checked and %d limited, want exactly %d and %d", c.name, bad, limited, c.wantBad, c.wantLimit)
		}
	}
}

func TestLoginLimiterMemoryIsBounded(t *testing.T) {
	ctx := context.Background()
	f := newLoginFixture(t, &LoginOptions{Limits: LimitOptions{MaxFailures: 3, Window: time.Minute, MaxTracked: 50}})
	for i := range 200 {
		_, _, _, err := f.login.Login(ctx, fmt.Sprintf("u%d", i), "guess", fmt.Sprintf("a%d", i))
		wantBadCredentials(t, err)
		if n := f.login.lim.tracked(); n > 50 {
			t.Fatalf("limiter tracks %d keys, over its bound of 50", n)
		}
	}
	// Ended windows are forgotten.
	f.clk.Advance(time.Minute)
	_, _, _, err := f.login.Login(ctx, "alice", "guess", addrA)
	wantBadCredentials(t, err)
	if n := f.login.lim.tracked(); n != 2 {
		t.Fatalf("limiter tracks %d keys after the window, want 2", n)
	}
	// A success leaves nothing of its own behind.
	if _, _, _, err := f.login.Login(ctx, "bob", "bob-pw-12345678", addrB); err != nil {
		t.Fatal(err)
	}
	if n := f.login.lim.tracked(); n != 2 {
		t.Fatalf("limiter tracks %d keys after a success, want 2", n)
	}
}
