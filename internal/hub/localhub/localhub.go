// Package localhub is the Hub of the local binary: it fans messages out to
// in-process subscribers of a project, each with a bounded queue. A
// subscriber that falls behind is dropped (its channel closed) and must
// resync; it never slows the publisher or the other subscribers.
//
// Subscribers take either core.Messages (Subscribe) or realtime.Frames
// (SubscribeFrames): a Frame is shared by every frame subscriber of one
// publish and remembers its encodings, so that a WebSocket endpoint encodes
// a message once per publish rather than once per connection.
//
// It holds live subscriptions in memory and is not for a process fleet;
// on AWS, apigwhub posts to API Gateway instead.
package localhub

import (
	"context"
	"sync"
	"sync/atomic"

	"bucketdesk/internal/core"
	"bucketdesk/internal/realtime"
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

// Subscription receives the messages of its projects until it is closed,
// or until it falls behind by more than its buffer; then its channel and
// Done are closed and Dropped reports true.
//
// A subscription made by Subscribe delivers on C (Frames is nil); one made
// by SubscribeFrames delivers on Frames (C is nil).
type Subscription struct {
	// C carries the messages of a Subscribe subscription.
	C <-chan core.Message

	c        chan core.Message
	frames   chan *realtime.Frame
	done     chan struct{}
	hub      *Hub
	projects []string
	once     sync.Once
	dropped  atomic.Bool
}

// Subscribe registers a subscriber for the given projects with a queue of
// buffer messages (DefaultBuffer when buffer <= 0).
func (h *Hub) Subscribe(projects []string, buffer int) *Subscription {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	c := make(chan core.Message, buffer)
	s := &Subscription{C: c, c: c}
	h.add(s, projects)
	return s
}

// SubscribeFrames registers a subscriber that receives each publish as a
// *realtime.Frame shared with the other frame subscribers, with a queue of
// buffer frames (DefaultBuffer when buffer <= 0).
func (h *Hub) SubscribeFrames(projects []string, buffer int) *Subscription {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	s := &Subscription{frames: make(chan *realtime.Frame, buffer)}
	h.add(s, projects)
	return s
}

func (h *Hub) add(s *Subscription, projects []string) {
	s.hub = h
	s.done = make(chan struct{})
	s.projects = append([]string(nil), projects...)
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
}

// Frames carries the frames of a SubscribeFrames subscription, in publish
// order; it is nil for a Subscribe subscription.
func (s *Subscription) Frames() <-chan *realtime.Frame { return s.frames }

// Close unsubscribes; the subscription's channel and Done are closed.
func (s *Subscription) Close() { s.hub.remove(s, false) }

// Done is closed when the subscription ends, by Close or by being dropped.
// Unlike the message channel, it is closed at once, even while messages
// are still queued.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Dropped reports whether the hub dropped the subscriber for being slow.
func (s *Subscription) Dropped() bool { return s.dropped.Load() }

func (h *Hub) remove(s *Subscription, dropped bool) {
	s.once.Do(func() {
		h.mu.Lock()
		for _, p := range s.projects {
			delete(h.subs[p], s)
			if len(h.subs[p]) == 0 {
				delete(h.subs, p)
			}
		}
		s.dropped.Store(dropped)
		close(s.done)
		if s.c != nil {
			close(s.c)
		}
		if s.frames != nil {
			close(s.frames)
		}
		h.mu.Unlock()
	})
}

// Publish queues msg for every subscriber of project without waiting. All
// frame subscribers share one *realtime.Frame of msg.
func (h *Hub) Publish(ctx context.Context, project string, msg core.Message) error {
	return h.PublishAll(ctx, project, []core.Message{msg})
}

// PublishAll queues msgs, in order, for every subscriber of project
// without waiting, as Publish does each; a subscriber receives them
// together (one wake of its reader for all of them) or, when its queue
// has no room for all, is dropped.
func (h *Hub) PublishAll(_ context.Context, project string, msgs []core.Message) error {
	var slow []*Subscription
	var frames []*realtime.Frame
	h.mu.RLock()
	for s := range h.subs[project] {
		if s.frames != nil {
			if frames == nil {
				frames = make([]*realtime.Frame, len(msgs))
				for i, m := range msgs {
					frames[i] = realtime.NewFrame(m)
				}
			}
			if !sendAll(s.frames, frames) {
				slow = append(slow, s)
			}
			continue
		}
		if !sendAll(s.c, msgs) {
			slow = append(slow, s)
		}
	}
	h.mu.RUnlock()
	for _, s := range slow {
		h.remove(s, true)
	}
	return nil
}

// sendAll queues vs on c without waiting, and reports whether all fit.
func sendAll[T any](c chan T, vs []T) bool {
	for _, v := range vs {
		select {
		case c <- v:
		default:
			return false
		}
	}
	return true
}

// Subscribers returns the number of subscribers of project.
func (h *Hub) Subscribers(project string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs[project])
}
