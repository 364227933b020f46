package retry_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/retry"
)

// fakeClock records every wait asked of it and ends it at once, or never
// when hang is set; onWait, when set, runs as a wait starts.
type fakeClock struct {
	waits  []time.Duration
	hang   bool
	onWait func()
}

func (c *fakeClock) Now() time.Time { return time.Time{} }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.waits = append(c.waits, d)
	if c.onWait != nil {
		c.onWait()
	}
	ch := make(chan time.Time, 1)
	if !c.hang {
		ch <- time.Time{}
	}
	return ch
}

// ceilingJitter draws the ceiling itself less a nanosecond: the longest
// wait full jitter can give.
func ceilingJitter(c time.Duration) time.Duration { return c - 1 }

// failing returns f that fails with errs in turn, then succeeds, and the
// count of its calls.
func failing(errs ...error) (func(context.Context) error, *int) {
	calls := 0
	return func(context.Context) error {
		calls++
		if calls <= len(errs) {
			return errs[calls-1]
		}
		return nil
	}, &calls
}

func TestCeiling(t *testing.T) {
	p := retry.Policy{Base: 100 * time.Millisecond, Max: time.Second}
	for n, want := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 60: time.Second, 1 << 20: time.Second,
	} {
		if got := p.Ceiling(n); got != want {
			t.Errorf("Ceiling(%d) = %v, want %v", n, got, want)
		}
	}
	uncapped := retry.Policy{Base: time.Second}
	if got := uncapped.Ceiling(1000); got <= 0 || got > math.MaxInt64 {
		t.Errorf("uncapped Ceiling(1000) = %v, want a positive duration (no overflow)", got)
	}
	if got := (retry.Policy{}).Ceiling(5); got != 0 {
		t.Errorf("zero Policy Ceiling(5) = %v, want 0", got)
	}
}

// Full jitter: the wait is drawn from [0, Ceiling(n)), by the policy's
// Jitter when it has one.
func TestDelayFullJitter(t *testing.T) {
	var asked []time.Duration
	p := retry.Policy{Base: 100 * time.Millisecond, Max: time.Second, Jitter: func(c time.Duration) time.Duration {
		asked = append(asked, c)
		return c / 4
	}}
	if got := p.Delay(3, core.ErrThrottled); got != 100*time.Millisecond {
		t.Errorf("Delay(3) = %v, want a quarter of 400ms", got)
	}
	if len(asked) != 1 || asked[0] != 400*time.Millisecond {
		t.Errorf("Jitter asked %v, want [400ms]", asked)
	}

	p.Jitter = nil
	seen := map[bool]bool{}
	for range 1000 {
		d := p.Delay(2, core.ErrThrottled)
		if d < 0 || d >= 200*time.Millisecond {
			t.Fatalf("Delay(2) = %v, want within [0, 200ms)", d)
		}
		seen[d < 100*time.Millisecond] = true
	}
	if !seen[true] || !seen[false] {
		t.Errorf("1000 default draws all fell in one half of [0, 200ms): %v", seen)
	}
}

// A retry-after hint longer than the backoff wins; a shorter one does not
// shorten it.
func TestDelayHonoursRetryAfter(t *testing.T) {
	p := retry.Policy{Base: time.Second, Max: 10 * time.Second, Jitter: ceilingJitter}
	long := fmt.Errorf("call: %w", &core.RetryAfterError{Wait: time.Minute, Err: core.ErrThrottled})
	if got := p.Delay(1, long); got != time.Minute {
		t.Errorf("Delay with a 1m hint = %v, want 1m", got)
	}
	short := &core.RetryAfterError{Wait: time.Millisecond, Err: core.ErrThrottled}
	if got := p.Delay(1, short); got != time.Second-1 {
		t.Errorf("Delay with a 1ms hint = %v, want the backoff's %v", got, time.Second-1)
	}
	if got := (retry.Policy{}).Delay(1, long); got != time.Minute {
		t.Errorf("zero Policy Delay with a 1m hint = %v, want 1m", got)
	}
}

func TestDoRetriesTransientFailures(t *testing.T) {
	clock := &fakeClock{}
	p := retry.Policy{Attempts: 5, Base: 10 * time.Millisecond, Max: time.Second, Clock: clock, Jitter: ceilingJitter}
	f, calls := failing(core.ErrThrottled, fmt.Errorf("%w: 503", core.ErrUnavailable))
	if err := p.Do(t.Context(), f); err != nil {
		t.Fatalf("Do = %v, want nil", err)
	}
	if *calls != 3 {
		t.Errorf("calls = %d, want 3", *calls)
	}
	want := []time.Duration{10*time.Millisecond - 1, 20*time.Millisecond - 1}
	if fmt.Sprint(clock.waits) != fmt.Sprint(want) {
		t.Errorf("waits = %v, want %v", clock.waits, want)
	}
}

func TestDoStopsOnPermanentFailure(t *testing.T) {
	clock := &fakeClock{}
	p := retry.Policy{Attempts: 5, Base: time.Millisecond, Clock: clock}
	bad := fmt.Errorf("%w: no such bucket", core.ErrInvalid)
	f, calls := failing(core.ErrThrottled, bad, core.ErrThrottled)
	if err := p.Do(t.Context(), f); !errors.Is(err, bad) {
		t.Fatalf("Do = %v, want %v", err, bad)
	}
	if *calls != 2 || len(clock.waits) != 1 {
		t.Errorf("calls = %d, waits = %d; want 2 calls, 1 wait", *calls, len(clock.waits))
	}
}

func TestDoBoundsAttempts(t *testing.T) {
	clock := &fakeClock{}
	p := retry.Policy{Attempts: 3, Base: time.Millisecond, Clock: clock}
	last := fmt.Errorf("%w: third", core.ErrUnavailable)
	f, calls := failing(core.ErrThrottled, core.ErrThrottled, last, core.ErrThrottled)
	if err := p.Do(t.Context(), f); err != last {
		t.Fatalf("Do = %v, want the last failure %v", err, last)
	}
	if *calls != 3 || len(clock.waits) != 2 {
		t.Errorf("calls = %d, waits = %d; want 3 calls, 2 waits", *calls, len(clock.waits))
	}

	for _, attempts := range []int{0, -1, 1} {
		f, calls := failing(core.ErrThrottled)
		p := retry.Policy{Attempts: attempts, Clock: &fakeClock{}}
		if err := p.Do(t.Context(), f); !errors.Is(err, core.ErrThrottled) || *calls != 1 {
			t.Errorf("Attempts %d: Do = %v after %d calls, want ErrThrottled after 1", attempts, err, *calls)
		}
	}
}

// A wait ends with the context, and f is not called again.
func TestDoHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	clock := &fakeClock{hang: true, onWait: cancel}
	p := retry.Policy{Attempts: 10, Base: time.Hour, Clock: clock}
	calls := 0
	err := p.Do(ctx, func(context.Context) error {
		calls++
		return core.ErrUnavailable
	})
	if !errors.Is(err, core.ErrUnavailable) || calls != 1 || len(clock.waits) != 1 {
		t.Errorf("Do = %v after %d calls and %d waits, want ErrUnavailable after 1 call and 1 wait", err, calls, len(clock.waits))
	}
}

// A retry-after hint stretches Do's wait.
func TestDoHonoursRetryAfter(t *testing.T) {
	clock := &fakeClock{}
	p := retry.Policy{Attempts: 2, Base: time.Millisecond, Clock: clock, Jitter: ceilingJitter}
	f, _ := failing(&core.RetryAfterError{Wait: 5 * time.Second, Err: core.ErrThrottled})
	if err := p.Do(t.Context(), f); err != nil {
		t.Fatalf("Do = %v", err)
	}
	if len(clock.waits) != 1 || clock.waits[0] != 5*time.Second {
		t.Errorf("waits = %v, want [5s]", clock.waits)
	}
}

// Once the context has ended, Do does not even start a wait.
func TestDoDoesNotWaitAfterContextEnds(t *testing.T) {
	clock := &fakeClock{}
	p := retry.Policy{Attempts: 10, Base: time.Hour, Clock: clock}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	f, calls := failing(core.ErrThrottled, core.ErrThrottled)
	if err := p.Do(ctx, f); !errors.Is(err, core.ErrThrottled) || *calls != 1 || len(clock.waits) != 0 {
		t.Errorf("Do = %v after %d calls and %d waits, want ErrThrottled after 1 call and no wait", err, *calls, len(clock.waits))
	}
}
