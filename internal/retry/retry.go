// Package retry is bucketdesk's one way to retry a transient failure:
// exponential backoff with full jitter, a retry-after hint honoured,
// attempts bounded and waits cut short by the context.
//
// Adapters do not retry (the AWS SDK's own retryer aside, where the
// wiring configures one); their callers do, with a Policy: the engine's
// worker asks its queue for a later delivery after Policy.Delay, the
// mirror retries a stack event with Policy.Do, and apigwhub retries a post
// to one WebSocket connection with Policy.Do.
package retry

import (
	"context"
	"math"
	"math/rand/v2"
	"time"

	"bucketdesk/internal/core"
)

// Policy says how to retry. Its zero value makes one call and never
// waits. A Policy is a value: copy it freely; it is safe for concurrent
// use when its Clock and Jitter are.
type Policy struct {
	// Attempts bounds the calls Do makes, the first one included; < 1 is 1.
	// Delay does not look at it: a caller that retries through a queue
	// has the queue bound the deliveries.
	Attempts int
	// Base is the ceiling of the wait before the first retry; the ceiling
	// doubles with every retry.
	Base time.Duration
	// Max caps the ceiling; <= 0 leaves it uncapped.
	Max time.Duration
	// Clock waits between calls; nil waits on the system clock. Tests pass
	// a clock whose waits end at once and record what was asked.
	Clock core.Clock
	// Jitter returns a duration drawn uniformly from [0, ceiling), called
	// with ceiling > 0 only; nil draws from math/rand/v2. Tests pass a
	// deterministic one.
	Jitter func(ceiling time.Duration) time.Duration
}

// Ceiling is the largest wait before retry number n (1 is the retry after
// the first failed call): Base·2^(n-1), capped at Max.
func (p Policy) Ceiling(n int) time.Duration {
	c := p.Base
	for i := 1; i < n && c > 0 && c <= math.MaxInt64/2 && (p.Max <= 0 || c < p.Max); i++ {
		c *= 2
	}
	if p.Max > 0 && c > p.Max {
		c = p.Max
	}
	return max(c, 0)
}

// Delay is the wait before retry number n after err: drawn uniformly from
// [0, Ceiling(n)) ("full jitter", so that the retries of a burst spread
// out), or the wait that err asks for through core.RetryAfter when that is
// longer.
func (p Policy) Delay(n int, err error) time.Duration {
	var d time.Duration
	if c := p.Ceiling(n); c > 0 {
		if p.Jitter != nil {
			d = p.Jitter(c)
		} else {
			d = rand.N(c)
		}
	}
	if hint, ok := core.RetryAfter(err); ok && hint > d {
		d = hint
	}
	return d
}

// Do calls f until it returns nil or an error that core.Retryable rejects,
// or until it was called Attempts times, waiting Delay between calls. It
// returns nil or f's last error. f is always called once; once ctx has
// ended, Do waits no more and returns f's last error.
func (p Policy) Do(ctx context.Context, f func(ctx context.Context) error) error {
	clock := p.Clock
	if clock == nil {
		clock = core.SystemClock{}
	}
	for n := 1; ; n++ {
		err := f(ctx)
		if err == nil || !core.Retryable(err) || n >= p.Attempts || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-clock.After(p.Delay(n, err)):
		}
	}
}
