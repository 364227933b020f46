package bench

import (
	"context"
	"sync"
	"time"
)

// Load is an open-loop load generator: request i is due at start + i/Rate
// whatever happened to the ones before it, and its latency is measured from
// that due time, not from when it was actually sent. A server (or a
// generator) that stalls therefore shows the stall in every request that
// was due during it, instead of quietly sending fewer requests
// (coordinated omission).
type Load struct {
	// Rate is requests per second.
	Rate float64
	// Duration bounds the schedule: no request is due after it.
	Duration time.Duration
	// MaxRequests bounds the count too (0: Rate × Duration).
	MaxRequests int
	// MaxInFlight bounds the concurrency; a request due while that many
	// are outstanding is counted as an error and not sent (default 4096).
	MaxInFlight int
	// Do sends one request; an error counts as a failure.
	Do func(ctx context.Context) error
}

// LoadResult is what one Load run measured.
type LoadResult struct {
	Latency *Recorder
	// Sent is the number of requests started; Elapsed the time from the
	// first due time until the last answer.
	Sent    int
	Elapsed time.Duration
}

// Run sends the schedule and waits for every answer (or ctx). It stops by
// itself after Duration or MaxRequests.
func (l Load) Run(ctx context.Context) LoadResult {
	n := int(l.Rate * l.Duration.Seconds())
	if l.MaxRequests > 0 && l.MaxRequests < n {
		n = l.MaxRequests
	}
	maxInFlight := l.MaxInFlight
	if maxInFlight <= 0 {
		maxInFlight = 4096
	}
	rec := NewRecorder(n)
	if n <= 0 || l.Rate <= 0 {
		return LoadResult{Latency: rec}
	}
	interval := time.Duration(float64(time.Second) / l.Rate)
	slots := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	sent := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; i < n; i++ {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				i = n // stop scheduling
				continue
			}
		}
		select {
		case slots <- struct{}{}:
		default:
			rec.AddError()
			continue
		}
		sent++
		wg.Add(1)
		go func(due time.Time) {
			defer wg.Done()
			defer func() { <-slots }()
			if err := l.Do(ctx); err != nil {
				rec.AddError()
				return
			}
			rec.Add(time.Since(due))
		}(due)
	}
	wg.Wait()
	return LoadResult{Latency: rec, Sent: sent, Elapsed: time.Since(start)}
}

// Sequential sends up to n requests one after another (a closed loop: one
// client waiting for each answer), for at most budget, and at least min of
// them whatever the budget. It suits slow readers measured one request at
// a time.
func Sequential(ctx context.Context, n, min int, budget time.Duration, do func(ctx context.Context) error) *Recorder {
	rec := NewRecorder(n)
	deadline := time.Now().Add(budget)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if i >= min && time.Now().After(deadline) {
			break
		}
		t := time.Now()
		if err := do(ctx); err != nil {
			rec.AddError()
			continue
		}
		rec.Add(time.Since(t))
	}
	return rec
}
