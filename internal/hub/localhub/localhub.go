// Package localhub is the Hub of the local binary: it fans messages out to
// in-process subscribers of a project, each with a bounded queue. A
// subscriber that falls behind is dropped (its channel closed, or its sink
// refusing) and must resync; it never slows the publisher or the other
// subscribers. Only a hub whose delivery workers are out of CPU, maxJobs
// publishes behind, makes its publishers wait.
//
// Subscribers take either core.Messages queued on their channel by the
// publisher (Subscribe), or each publish as a realtime.Batch handed to
// their Sink by the hub's delivery workers (SubscribeSink). A Batch, and
// each Frame in it, is shared by every sink of one publish and remembers
// its encodings, so that a WebSocket endpoint encodes a message once per
// publish rather than once per connection.
//
// Sinks are for many subscribers that can take a publish at once, as
// WebSocket connections with room in their socket buffers can: a publish
// to them costs the publisher one hand-off per worker (a few, one per
// core), not a wake of one goroutine per subscriber, and each worker hands
// the publish to its share of the sinks in turn.
//
// It holds live subscriptions in memory and is not for a process fleet;
// on AWS, apigwhub posts to API Gateway instead.
package localhub

import (
	"context"
	"runtime"
	"slices"
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
	subs map[string]map[*Subscription]struct{} // channel subscribers
	// sinks counts each project's sink subscribers per worker; a worker
	// holds its own share (worker.subs).
	sinks   map[string][]int
	workers []*worker
	next    atomic.Uint32 // the worker of the next sink, round robin
}

// New returns an empty hub, with one delivery worker per core
// (GOMAXPROCS) for its sinks. Workers run only while they have publishes
// to hand out.
func New() *Hub {
	h := &Hub{subs: map[string]map[*Subscription]struct{}{}, sinks: map[string][]int{}}
	for range max(1, runtime.GOMAXPROCS(0)) {
		w := &worker{hub: h, index: len(h.workers), subs: map[string]map[*Subscription]struct{}{}}
		w.changed = sync.NewCond(&w.qmu)
		h.workers = append(h.workers, w)
	}
	return h
}

// Sink takes the publishes of a SubscribeSink subscription.
type Sink interface {
	// Deliver takes the frames of one publish (or of several publishes
	// of one project that queued behind each other), in publish order,
	// and reports whether the subscriber keeps up; false drops it. It is
	// called by one delivery worker at a time, in publish order, and
	// must not wait: each worker serves many sinks in turn.
	Deliver(b *realtime.Batch) bool
}

// maxJobs bounds each worker's queue of publishes: a publisher that finds
// it full waits for room, so that a hub whose workers cannot keep up
// (the machine is out of CPU) slows its publishers rather than grow.
const maxJobs = 1024

// Subscription receives the messages of its projects until it is closed,
// or until it falls behind by more than its buffer (or its sink refuses a
// publish); then its channel and Done are closed and Dropped reports true.
//
// A subscription made by Subscribe delivers on C; one made by
// SubscribeSink delivers to its sink (C is nil).
type Subscription struct {
	// C carries the messages of a Subscribe subscription.
	C <-chan core.Message

	c        chan core.Message
	sink     Sink
	worker   *worker // a sink's worker
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

// SubscribeSink registers a subscriber whose publishes are handed to
// sink by one of the hub's delivery workers, each publish as one
// *realtime.Batch shared with the other sinks. The sink bounds its own
// queue: Deliver returns false to be dropped.
func (h *Hub) SubscribeSink(projects []string, sink Sink) *Subscription {
	s := &Subscription{sink: sink, worker: h.workers[h.next.Add(1)%uint32(len(h.workers))]}
	h.add(s, projects)
	return s
}

func (h *Hub) add(s *Subscription, projects []string) {
	s.hub = h
	s.done = make(chan struct{})
	// Each project once: a sink's count per project is one per sink.
	s.projects = slices.Compact(slices.Sorted(slices.Values(projects)))
	if w := s.worker; w != nil {
		// A worker's sinks are locked for a whole delivery: wait for it
		// before locking the hub, which publishers read.
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if w := s.worker; w != nil {
		for _, p := range s.projects {
			addTo(w.subs, p, s)
			n := h.sinks[p]
			if n == nil {
				n = make([]int, len(h.workers))
				h.sinks[p] = n
			}
			n[w.index]++
		}
		return
	}
	for _, p := range s.projects {
		addTo(h.subs, p, s)
	}
}

func addTo(subs map[string]map[*Subscription]struct{}, p string, s *Subscription) {
	m := subs[p]
	if m == nil {
		m = map[*Subscription]struct{}{}
		subs[p] = m
	}
	m[s] = struct{}{}
}

func removeFrom(subs map[string]map[*Subscription]struct{}, p string, s *Subscription) {
	delete(subs[p], s)
	if len(subs[p]) == 0 {
		delete(subs, p)
	}
}

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
		if w := s.worker; w != nil {
			w.mu.Lock() // before the hub, as add
			defer w.mu.Unlock()
		}
		h.mu.Lock()
		if w := s.worker; w != nil {
			for _, p := range s.projects {
				removeFrom(w.subs, p, s)
				if n := h.sinks[p]; n != nil {
					n[w.index]--
					if slices.Max(n) == 0 {
						delete(h.sinks, p)
					}
				}
			}
		}
		for _, p := range s.projects {
			removeFrom(h.subs, p, s)
		}
		s.dropped.Store(dropped)
		close(s.done)
		if s.c != nil {
			close(s.c)
		}
		h.mu.Unlock()
	})
}

// Publish queues msg for every subscriber of project, as PublishAll does.
func (h *Hub) Publish(ctx context.Context, project string, msg core.Message) error {
	return h.PublishAll(ctx, project, []core.Message{msg})
}

// PublishAll queues msgs, in order, for every subscriber of project, as
// Publish does each; a subscriber receives them together (one wake of its
// reader, one Deliver of its sink, for all of them) or, when its queue
// has no room for all, is dropped. It waits only when a delivery worker's
// queue is full (maxJobs publishes behind).
func (h *Hub) PublishAll(_ context.Context, project string, msgs []core.Message) error {
	var slow []*Subscription
	var to []*worker
	h.mu.RLock()
	for s := range h.subs[project] {
		if !sendAll(s.c, msgs) {
			slow = append(slow, s)
		}
	}
	for i, n := range h.sinks[project] {
		if n > 0 {
			to = append(to, h.workers[i])
		}
	}
	h.mu.RUnlock()
	for _, s := range slow {
		h.remove(s, true)
	}
	if len(to) > 0 {
		frames := make([]*realtime.Frame, len(msgs))
		for i, m := range msgs {
			frames[i] = realtime.NewFrame(m)
		}
		b := realtime.NewBatch(frames)
		for _, w := range to {
			w.enqueue(job{project: project, batch: b})
		}
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
	n := len(h.subs[project])
	for _, k := range h.sinks[project] {
		n += k
	}
	return n
}

// Sync waits until every publish made before it has been handed to its
// sinks.
func (h *Hub) Sync() {
	for _, w := range h.workers {
		w.sync()
	}
}

// worker hands publishes to its share of the sinks, in publish order. Its
// goroutine runs while it has publishes queued.
type worker struct {
	hub   *Hub
	index int // in hub.workers

	// mu guards subs, and is held for a whole publish's deliveries, so
	// that a sink removed is handed nothing more. Lock it before Hub.mu.
	mu   sync.Mutex
	subs map[string]map[*Subscription]struct{}

	qmu     sync.Mutex
	changed *sync.Cond // on qmu: a job done, or the goroutine ended
	jobs    []job
	running bool
}

// job is one publish for a worker's sinks of project.
type job struct {
	project string
	batch   *realtime.Batch
}

// enqueue queues j, waiting while the queue is full, and starts the
// worker's goroutine when it is not running.
func (w *worker) enqueue(j job) {
	w.qmu.Lock()
	defer w.qmu.Unlock()
	for len(w.jobs) >= maxJobs {
		w.changed.Wait()
	}
	w.jobs = append(w.jobs, j)
	if !w.running {
		w.running = true
		go w.run()
	}
}

// run hands out the queued publishes until the queue is empty.
func (w *worker) run() {
	var slow []*Subscription
	for {
		w.qmu.Lock()
		if len(w.jobs) == 0 {
			w.jobs = nil
			w.running = false
			w.changed.Broadcast()
			w.qmu.Unlock()
			return
		}
		j := w.take()
		w.changed.Broadcast()
		w.qmu.Unlock()

		w.mu.Lock()
		for s := range w.subs[j.project] {
			if !s.sink.Deliver(j.batch) {
				slow = append(slow, s)
			}
		}
		w.mu.Unlock()
		for _, s := range slow {
			w.hub.remove(s, true)
		}
		clear(slow)
		slow = slow[:0]
	}
}

// mergeFrames bounds the frames of the publishes a worker hands out as one
// batch.
const mergeFrames = 64

// take removes the first queued publish, joined with the publishes of the
// same project queued right behind it (up to mergeFrames frames), and
// returns them as one job: a worker that fell behind hands each sink what
// it missed in one Deliver (one write), so that a burst costs fewer
// writes, not more. Publishes of one project keep their order; those of
// different projects are never reordered either. Called with qmu held.
func (w *worker) take() job {
	j := w.jobs[0]
	k := 1
	n := len(j.batch.Frames)
	for k < len(w.jobs) && w.jobs[k].project == j.project && n+len(w.jobs[k].batch.Frames) <= mergeFrames {
		n += len(w.jobs[k].batch.Frames)
		k++
	}
	if k > 1 {
		frames := make([]*realtime.Frame, 0, n)
		for _, m := range w.jobs[:k] {
			frames = append(frames, m.batch.Frames...)
		}
		j.batch = realtime.NewBatch(frames)
	}
	clear(w.jobs[:k])
	w.jobs = w.jobs[k:]
	return j
}

// sync waits until the worker's queue is empty and its goroutine ended.
func (w *worker) sync() {
	w.qmu.Lock()
	for w.running {
		w.changed.Wait()
	}
	w.qmu.Unlock()
}
