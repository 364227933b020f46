package apigwhub_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"bucketdesk/internal/core/porttest"
	"bucketdesk/internal/hub/apigwhub"
)

// TestConformance runs the Hub suite against the @connections stand-in:
// a gone connection answers 410, a stalled one has its posts held in
// flight.
func TestConformance(t *testing.T) {
	porttest.RunHubTests(t, func(t *testing.T) porttest.HubHarness {
		e := newEnv(t, nil)
		n := 0
		return porttest.HubHarness{
			Hub:      e.hub,
			MaxFrame: apigwhub.DefaultMaxFrame,
			Connect: func(t *testing.T, projects ...string) porttest.HubConn {
				// Ids sort in connection order, so the store lists the
				// first connection first.
				id := fmt.Sprintf("conn-%03d=", n)
				n++
				e.connect(t, id, projects...)
				return porttest.HubConn{
					Received: func(*testing.T) [][]byte { return e.fake.Frames(id) },
					Gone:     func(*testing.T) { e.fake.Close(id) },
					Stall:    func(*testing.T) func() { return e.fake.Hold(id) },
				}
			},
			Connections: func(t *testing.T, project string) int {
				cs, err := e.store.ListConnections(context.Background(), project, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				return len(cs)
			},
		}
	})
}
