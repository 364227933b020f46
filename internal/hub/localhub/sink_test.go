package localhub

import (
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/realtime"
)

// gateSink records every Deliver, and holds its first one until release
// is closed.
type gateSink struct {
	release chan struct{}
	entered chan struct{}
	once    sync.Once

	mu      sync.Mutex
	batches [][]int64 // the versions of each Deliver
}

func newGateSink() *gateSink {
	return &gateSink{release: make(chan struct{}), entered: make(chan struct{})}
}

func (g *gateSink) Deliver(b *realtime.Batch) bool {
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
	var vs []int64
	for _, f := range b.Frames {
		vs = append(vs, f.Msg.Version)
	}
	g.mu.Lock()
	g.batches = append(g.batches, vs)
	g.mu.Unlock()
	return true
}

func (g *gateSink) got() [][]int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]int64(nil), g.batches...)
}

// A publisher does not wait for a sink that takes its time: the publishes
// queue at the worker, and the sink then gets those of one project that
// queued behind each other in one Deliver, in order; another project's
// publish between them is not moved.
func TestSinkBehindGetsQueuedPublishesJoinedInOrder(t *testing.T) {
	h := New()
	g := newGateSink()
	s := h.SubscribeSink([]string{"p", "q"}, g)
	defer s.Close()
	pub := func(project string, v int64) {
		done := make(chan struct{})
		go func() {
			h.Publish(t.Context(), project, core.Message{Type: core.MsgResource, Project: project, Version: v})
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Publish(%s, v%d) waited for a sink", project, v)
		}
	}
	pub("p", 1)
	<-g.entered // the worker is held in the first Deliver
	pub("p", 2)
	pub("p", 3)
	pub("q", 4)
	pub("p", 5)
	pub("p", 6)
	close(g.release)
	h.Sync()
	got := g.got()
	want := [][]int64{{1}, {2, 3}, {4}, {5, 6}}
	if len(got) != len(want) {
		t.Fatalf("Delivers %v, want %v", got, want)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("Delivers %v, want %v", got, want)
		}
		for k := range want[i] {
			if got[i][k] != want[i][k] {
				t.Fatalf("Delivers %v, want %v", got, want)
			}
		}
	}
}

// countSink counts Delivers, refusing them after limit.
type countSink struct {
	mu      sync.Mutex
	n       int
	limit   int
	batches []*realtime.Batch
}

func (c *countSink) Deliver(b *realtime.Batch) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	c.batches = append(c.batches, b)
	return c.limit == 0 || c.n <= c.limit
}

func (c *countSink) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Every sink of a publish gets the same Batch, whichever worker serves
// it; a sink that refuses is dropped (Done, Dropped) and gets nothing more;
// a sink closed gets nothing after Close returns.
func TestSinksShareBatchesAndLeave(t *testing.T) {
	h := New()
	var sinks []*countSink
	var subs []*Subscription
	for range 8 {
		c := &countSink{}
		sinks = append(sinks, c)
		subs = append(subs, h.SubscribeSink([]string{"p"}, c))
	}
	refusing := &countSink{limit: 1}
	rs := h.SubscribeSink([]string{"p"}, refusing)
	if got := h.Subscribers("p"); got != 9 {
		t.Fatalf("%d subscribers, want 9", got)
	}
	h.Publish(t.Context(), "p", core.Message{Version: 1})
	h.Sync()
	h.Publish(t.Context(), "p", core.Message{Version: 2})
	h.Sync()
	for i, c := range sinks {
		if c.count() != 2 || c.batches[0] != sinks[0].batches[0] || c.batches[1] != sinks[0].batches[1] {
			t.Fatalf("sink %d: %d Delivers, or a Batch of its own", i, c.count())
		}
	}
	select {
	case <-rs.Done():
	default:
		t.Fatal("a sink that refused was not dropped")
	}
	if !rs.Dropped() || h.Subscribers("p") != 8 {
		t.Fatalf("dropped %v, %d subscribers left", rs.Dropped(), h.Subscribers("p"))
	}
	subs[0].Close()
	if subs[0].Dropped() {
		t.Fatal("a sink closed counts as dropped")
	}
	h.Publish(t.Context(), "p", core.Message{Version: 3})
	h.Sync()
	if sinks[0].count() != 2 || refusing.count() != 2 || sinks[1].count() != 3 {
		t.Fatalf("after leaving: closed %d, dropped %d, staying %d Delivers; want 2, 2, 3",
			sinks[0].count(), refusing.count(), sinks[1].count())
	}
	for _, s := range subs[1:] {
		s.Close()
	}
	if got := h.Subscribers("p"); got != 0 {
		t.Fatalf("%d subscribers after all left", got)
	}
}

// A subscription that names a project twice follows it once: one Deliver
// per publish, one subscriber counted, none left once it closes.
func TestSinkNamingAProjectTwice(t *testing.T) {
	h := New()
	c := &countSink{}
	s := h.SubscribeSink([]string{"p", "p"}, c)
	if got := h.Subscribers("p"); got != 1 {
		t.Fatalf("%d subscribers, want 1", got)
	}
	h.Publish(t.Context(), "p", core.Message{Version: 1})
	h.Sync()
	if c.count() != 1 {
		t.Fatalf("%d Delivers of one publish", c.count())
	}
	s.Close()
	if got := h.Subscribers("p"); got != 0 {
		t.Fatalf("%d subscribers after Close", got)
	}
}
