// Package localhub is the Hub of the local binary: it fans messages out to
// in-process subscribers of a project, each with a bounded queue. A
// subscriber that falls behind is dropped (its channel closed) and must
// resync; it never slows the publisher or the other subscribers.
//
// It holds live subscriptions in memory and is not for a process fleet;
// on AWS, apigwhub posts to API Gateway instead.
package localhub

import (
	"context"
	"sync"

	"bucketdesk/internal/core"
)

var _ core.Hub = (*Hub)(nil)

// DefaultBuffer is a subscriber's queue length when none is given.
const DefaultBuffer = 256

// Hub fans out messages to subscribers by project.
type Hub struct {
	mu   sync.RWMutex
	subs map[string]map[*Subscription]struct{}
}

// New returns an empty hub.
func New() *Hub {
	return &Hub{subs: map[string]map[*Subscription]struct{}{}}
}

// Subscription receives the messages of its projects on C until it is
// closed, or until it falls behind by more than its buffer; then C is
// closed and Dropped reports true.
type Subscription struct {
	C        <-chan core.Message
	c        chan core.Message
	hub      *Hub
	projects []string
	once     sync.Once
	dropped  bool
}

// Subscribe registers a subscriber for the given projects with a queue of
// buffer messages (DefaultBuffer when buffer <= 0).
func (h *Hub) Subscribe(projects []string, buffer int) *Subscription {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	c := make(chan core.Message, buffer)
	s := &Subscription{C: c, c: c, hub: h, projects: append([]string(nil), projects...)}
	h.mu.Lock()
	for _, p := range s.projects {
		m := h.subs[p]
		if m == nil {
			m = map[*Subscription]struct{}{}
			h.subs[p] = m
		}
		m[s] = struct{}{}
	}
	h.mu.Unlock()
	return s
}

// Close unsubscribes; C is closed.
func (s *Subscription) Close() { s.hub.remove(s, false) }

// Dropped reports whether the hub dropped the subscriber for being slow.
func (s *Subscription) Dropped() bool {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	return s.dropped
}

func (h *Hub) remove(s *Subscription, dropped bool) {
	s.once.Do(func() {
		h.mu.Lock()
		for _, p := range s.projects {
			delete(h.subs[p], s)
			if len(h.subs[p]) == 0 {
				delete(h.subs, p)
			}
		}
		s.dropped = dropped
		close(s.c)
		h.mu.Unlock()
	})
}

// Publish queues msg for every subscriber of project without waiting.
func (h *Hub) Publish(_ context.Context, project string, msg core.Message) error {
	var slow []*Subscription
	h.mu.RLock()
	for s := range h.subs[project] {
		select {
		case s.c <- msg:
		default:
			slow = append(slow, s)
		}
	}
	h.mu.RUnlock()
	for _, s := range slow {
		h.remove(s, true)
	}
	return nil
}

// Subscribers returns the number of subscribers of project.
func (h *Hub) Subscribers(project string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs[project])
}
