package localhub

import (
	"sync"
	"testing"

	"bucketdesk/internal/core/porttest"
	"bucketdesk/internal/realtime"
)

// conformanceBuffer is each subscriber's queue in the conformance suite:
// more than the suite publishes back to back, fewer than it publishes to a
// stalled subscriber, which is then dropped.
const conformanceBuffer = 32

// The hub conformance suite, with sink subscribers as the WebSocket
// endpoint makes them: each publish handed to the sink by a delivery
// worker, each frame encoded under the frame limit.
func TestConformance(t *testing.T) {
	porttest.RunHubTests(t, func(t *testing.T) porttest.HubHarness {
		h := New()
		return porttest.HubHarness{
			Hub:      h,
			MaxFrame: realtime.DefaultMaxFrame,
			Connect: func(t *testing.T, projects ...string) porttest.HubConn {
				c := &sinkConn{hub: h}
				c.sub = h.SubscribeSink(projects, c)
				t.Cleanup(c.sub.Close)
				return porttest.HubConn{Received: c.received, Gone: func(*testing.T) { c.sub.Close() }, Stall: c.stall}
			},
			Connections: func(_ *testing.T, project string) int { return h.Subscribers(project) },
		}
	})
}

// sinkConn is a sink that takes what is delivered unless stalled; stalled,
// it holds up to conformanceBuffer messages and then asks to be dropped.
type sinkConn struct {
	hub *Hub
	sub *Subscription

	mu      sync.Mutex
	stalled bool
	held    int
	frames  [][]byte
}

func (c *sinkConn) Deliver(b *realtime.Batch) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stalled {
		c.held += len(b.Frames)
		return c.held <= conformanceBuffer
	}
	for _, f := range b.Frames {
		c.frames = append(c.frames, f.Bytes(realtime.DefaultMaxFrame))
	}
	return true
}

// received returns every frame delivered so far, once the publishes made
// before it have been handed out.
func (c *sinkConn) received(*testing.T) [][]byte {
	c.hub.Sync()
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.frames...)
}

func (c *sinkConn) stall(*testing.T) func() {
	c.mu.Lock()
	c.stalled = true
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.stalled = false
		c.mu.Unlock()
	}
}
