package simcloud

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// outItem is a notification waiting to be handed to the subscribers; seq
// is its key in the outbox bucket.
type outItem struct {
	seq  uint64
	body []byte
}

// subscriber is one Subscribe registration.
type subscriber struct {
	fn        func(body []byte)
	mu        sync.Mutex // serializes calls of fn
	cancelled atomic.Bool
	held      [][]byte // reordered notifications; the deliverer's own
}

func (sub *subscriber) call(body []byte) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if !sub.cancelled.Load() {
		sub.fn(body)
	}
}

// Subscribe registers fn to receive every stack event of every account as
// the body of a CloudFormation SNS notification (the envelope an HTTP
// subscription or a Lambda receives; parse it with cfnevent.ParseSNS).
//
// Delivery is asynchronous and at least once, subject to the chaos
// options; calls of one fn never overlap, and no lock of the sandbox is
// held during a call, so fn may call the sandbox (but not WaitIdle).
// Notifications emitted before the first subscription wait for it, also
// across a restart. cancel stops deliveries to fn; a call in progress
// completes.
func (s *Sandbox) Subscribe(fn func(body []byte)) (cancel func()) {
	sub := &subscriber{fn: fn}
	s.mu.Lock()
	s.delivery.subs = append(s.delivery.subs, sub)
	s.delivery.started = true
	s.broadcast()
	s.mu.Unlock()
	select {
	case s.delivery.wake <- struct{}{}:
	default:
	}
	return func() {
		sub.cancelled.Store(true)
		s.mu.Lock()
		defer s.mu.Unlock()
		if i := slices.Index(s.delivery.subs, sub); i >= 0 {
			s.delivery.subs = slices.Delete(s.delivery.subs, i, i+1)
		}
	}
}

// deliver hands queued notifications to the subscribers, applying chaos,
// and removes them from the outbox.
func (s *Sandbox) deliver() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		for !s.closed && (len(s.delivery.outq) == 0 || !s.delivery.started) {
			s.mu.Unlock()
			select {
			case <-s.delivery.wake:
			case <-s.quit:
			}
			s.mu.Lock()
		}
		if s.closed {
			s.mu.Unlock()
			return
		}
		batch := s.delivery.outq
		s.delivery.outq = nil
		s.delivery.delivering = len(batch)
		subs := slices.Clone(s.delivery.subs)
		s.mu.Unlock()

		for _, it := range batch {
			for _, sub := range subs {
				s.send(sub, it.body)
			}
		}
		s.mu.Lock()
		more := len(s.delivery.outq) > 0
		s.mu.Unlock()
		if !more {
			// A reordered notification waits for the next one, but not
			// forever.
			for _, sub := range subs {
				for _, b := range sub.held {
					s.dispatch(sub, b)
				}
				sub.held = nil
			}
		}
		_ = s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bOutbox)
			for _, it := range batch {
				if err := b.Delete(u64(it.seq)); err != nil {
					return err
				}
			}
			return nil
		}) // on failure they are delivered again after a restart: at least once

		s.mu.Lock()
		s.delivery.delivering = 0
		s.broadcast()
		s.mu.Unlock()
	}
}

// send delivers one notification to one subscriber under the chaos
// options. It draws the same random numbers whatever happens, so that a
// seed gives the same choices for the same sequence of notifications.
func (s *Sandbox) send(sub *subscriber, body []byte) {
	ch := s.opts.Chaos
	drop, dup, reorder := s.delivery.rng.Float64(), s.delivery.rng.Float64(), s.delivery.rng.Float64()
	if drop < ch.Drop {
		return
	}
	copies := 1
	if dup < ch.Duplicate {
		copies = 2
	}
	for range copies {
		if reorder < ch.Reorder {
			sub.held = append(sub.held, body)
			continue
		}
		s.dispatch(sub, body)
	}
	if reorder >= ch.Reorder {
		for _, b := range sub.held {
			s.dispatch(sub, b)
		}
		sub.held = nil
	}
}

// dispatch calls the subscriber now or, with MaxDelay, after a random
// delay on the clock.
func (s *Sandbox) dispatch(sub *subscriber, body []byte) {
	if max := s.opts.Chaos.MaxDelay; max > 0 {
		if d := time.Duration(s.delivery.rng.Int64N(int64(max))); d > 0 {
			s.mu.Lock()
			s.delivery.delayed++
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				select {
				case <-s.clock.After(d):
					sub.call(body)
				case <-s.quit:
				}
				s.mu.Lock()
				s.delivery.delayed--
				s.broadcast()
				s.mu.Unlock()
			}()
			return
		}
	}
	sub.call(body)
}
