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

func TestConformance(t *testing.T) {
	porttest.RunHubTests(t, func(t *testing.T) porttest.HubHarness {
		h := New()
		return porttest.HubHarness{
			Hub:      h,
			MaxFrame: realtime.DefaultMaxFrame,
			Connect: func(t *testing.T, projects ...string) porttest.HubConn {
				c := &conformanceConn{sub: h.SubscribeFrames(projects, conformanceBuffer)}
				t.Cleanup(c.sub.Close)
				return porttest.HubConn{Received: c.received, Gone: c.gone, Stall: c.stall}
			},
			Connections: func(_ *testing.T, project string) int { return h.Subscribers(project) },
		}
	})
}

// conformanceConn reads a frame subscription as the WebSocket endpoint
// does: each frame encoded under the frame limit.
type conformanceConn struct {
	sub *Subscription

	mu      sync.Mutex
	stalled bool
	frames  [][]byte
}

// received takes what is queued, unless stalled, and returns every frame
// taken so far.
func (c *conformanceConn) received(*testing.T) [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	for !c.stalled {
		select {
		case f, ok := <-c.sub.Frames():
			if !ok {
				return c.frames
			}
			c.frames = append(c.frames, f.Bytes(realtime.DefaultMaxFrame))
		default:
			return c.frames
		}
	}
	return c.frames
}

func (c *conformanceConn) gone(*testing.T) { c.sub.Close() }

func (c *conformanceConn) stall(*testing.T) func() {
	c.mu.Lock()
	c.stalled = true
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		c.stalled = false
		c.mu.Unlock()
		// Read on, as a client that caught up: a hub that waits for a
		// stalled subscriber (which it must not) is unblocked, so that
		// the suite fails rather than hangs.
		go func() {
			for f := range c.sub.Frames() {
				c.mu.Lock()
				c.frames = append(c.frames, f.Bytes(realtime.DefaultMaxFrame))
				c.mu.Unlock()
			}
		}()
	}
}
