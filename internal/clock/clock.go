// Package clock provides a manual clock for tests and the sandbox: time
// moves only when a test advances it, so timed behaviour is deterministic
// and fast. Production code uses core.SystemClock.
package clock

import (
	"sort"
	"sync"
	"time"

	"bucketdesk/internal/core"
)

var _ core.Clock = (*Manual)(nil)

// Manual is a clock that moves only when Advance is called.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	changed chan struct{} // closed and replaced when waiters change
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewManual returns a manual clock showing start.
func NewManual(start time.Time) *Manual {
	return &Manual{now: start, changed: make(chan struct{})}
}

// Now returns the clock's time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// After returns a channel that receives when the clock has been advanced
// by d. A d of zero or less fires at once.
func (m *Manual) After(d time.Duration) <-chan time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- m.now
		return ch
	}
	m.waiters = append(m.waiters, waiter{at: m.now.Add(d), ch: ch})
	m.notify()
	return ch
}

// Advance moves the clock forward by d, firing every timer that falls due,
// in order of their due times.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
	sort.SliceStable(m.waiters, func(i, j int) bool { return m.waiters[i].at.Before(m.waiters[j].at) })
	kept := m.waiters[:0]
	for _, w := range m.waiters {
		if !w.at.After(m.now) {
			w.ch <- w.at
			continue
		}
		kept = append(kept, w)
	}
	m.waiters = kept
	m.notify()
}

// Waiters returns how many timers are pending.
func (m *Manual) Waiters() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.waiters)
}

// BlockUntil waits until at least n timers are pending, so a test can
// advance the clock knowing that the code under test is waiting on it.
func (m *Manual) BlockUntil(n int) {
	for {
		m.mu.Lock()
		if len(m.waiters) >= n {
			m.mu.Unlock()
			return
		}
		ch := m.changed
		m.mu.Unlock()
		<-ch
	}
}

func (m *Manual) notify() {
	close(m.changed)
	m.changed = make(chan struct{})
}
