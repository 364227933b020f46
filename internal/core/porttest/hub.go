package porttest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/core"
)

// HubHarness is one fresh hub under test, with no connection, and the
// controls the suite needs around it. A connection is what a client holds
// after its handshake: a WebSocket subscriber of localhub, a registered
// connection behind API Gateway for apigwhub.
type HubHarness struct {
	// Hub is the hub under test.
	Hub core.Hub
	// MaxFrame is the frame limit the hub's connections receive frames
	// under, in bytes.
	MaxFrame int
	// Connect opens a connection that follows projects.
	Connect func(t *testing.T, projects ...string) HubConn
	// Connections returns how many connections of project the hub would
	// deliver the next message to.
	Connections func(t *testing.T, project string) int
}

// HubConn is one connection of a HubHarness, as its client sees it.
type HubConn struct {
	// Received returns the frames the connection received so far, in the
	// order it received them, as the client reads them.
	Received func(t *testing.T) [][]byte
	// Gone makes the connection go away without telling the hub, as a
	// client that vanished: API Gateway answers 410 to a post to it; a
	// local subscriber is closed.
	Gone func(t *testing.T)
	// Stall makes the connection's client stop taking frames until
	// release is called: a local subscriber stops reading its queue, API
	// Gateway holds posts to it in flight.
	Stall func(t *testing.T) (release func())
}

// hubWait only turns a hang into a readable failure; it is real time and
// far longer than any correct run needs.
const hubWait = 30 * time.Second

// RunHubTests runs the conformance suite of core.Hub. newHarness returns
// a fresh hub; it registers its cleanup with t.
//
// The contract, beyond core.Hub's comment: each connection of a project
// receives each message published to that project once, in the order of
// the Publish calls, and nothing published to other projects; a
// connection that went away is removed at the latest by the next publish
// to one of its projects, and no other one is; a message over the frame
// limit is sent without its operation's event list, failing that as
// {"type":"resync","project"}; a stalled connection does not keep the
// others from receiving a message, and a hub that gives up on it removes
// it (its client resyncs) rather than skip messages while keeping it.
func RunHubTests(t *testing.T, newHarness func(t *testing.T) HubHarness) {
	t.Helper()
	t.Run("OnceInOrderByProject", func(t *testing.T) { testHubOnceInOrder(t, newHarness(t)) })
	t.Run("GoneIsRemovedAlone", func(t *testing.T) { testHubGone(t, newHarness(t)) })
	t.Run("FrameLimit", func(t *testing.T) { testHubFrameLimit(t, newHarness(t)) })
	t.Run("StalledDoesNotHoldUpOthers", func(t *testing.T) { testHubStalled(t, newHarness(t)) })
}

func hubMessage(project string, version int64) core.Message {
	return core.Message{
		Type: core.MsgResource, Project: project, Kind: core.KindBucket, Name: "data", Version: version,
		Resource: &core.Resource{Project: project, Kind: core.KindBucket, Name: "data", StackName: "bd-" + project + "-bucket-data", Version: version},
	}
}

// received is what a frame says, for the suite's checks.
type received struct {
	Type      string          `json:"type"`
	Project   string          `json:"project"`
	Version   int64           `json:"version"`
	Operation *core.Operation `json:"operation"`
}

func decodeFrames(t *testing.T, frames [][]byte) []received {
	t.Helper()
	out := make([]received, len(frames))
	for i, f := range frames {
		if err := json.Unmarshal(f, &out[i]); err != nil {
			t.Fatalf("frame %d is not JSON: %v: %.200s", i, err, f)
		}
	}
	return out
}

// versions returns the versions of the frames of project, in order.
func versions(t *testing.T, c HubConn, project string) []int64 {
	t.Helper()
	var vs []int64
	for _, r := range decodeFrames(t, c.Received(t)) {
		if r.Project != project {
			t.Fatalf("a frame of project %q reached a connection that does not follow it", r.Project)
		}
		vs = append(vs, r.Version)
	}
	return vs
}

func seq(from, to int64) []int64 {
	var vs []int64
	for v := from; v <= to; v++ {
		vs = append(vs, v)
	}
	return vs
}

func hubPublish(t *testing.T, h HubHarness, project string, m core.Message) {
	t.Helper()
	if err := h.Hub.Publish(context.Background(), project, m); err != nil {
		t.Fatalf("Publish(%s, v%d) = %v", project, m.Version, err)
	}
}

// waitFor polls cond until it holds or hubWait passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hubWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", hubWait, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func testHubOnceInOrder(t *testing.T, h HubHarness) {
	a := h.Connect(t, "p1")
	b := h.Connect(t, "p1", "p2")
	c := h.Connect(t, "p2")
	idle := h.Connect(t, "p3")
	const n = 20
	for v := int64(1); v <= n; v++ {
		hubPublish(t, h, "p1", hubMessage("p1", v))
	}
	want := seq(1, n)
	if got := versions(t, a, "p1"); !slices.Equal(got, want) {
		t.Errorf("a received versions %v, want %v", got, want)
	}
	if got := versions(t, b, "p1"); !slices.Equal(got, want) {
		t.Errorf("b received versions %v, want %v", got, want)
	}
	for name, conn := range map[string]HubConn{"c": c, "idle": idle} {
		if fs := conn.Received(t); len(fs) != 0 {
			t.Errorf("%s follows other projects and received %d frames of p1", name, len(fs))
		}
	}

	// Interleaved projects: each connection gets its projects' messages,
	// in publish order.
	for v := int64(n + 1); v <= n+5; v++ {
		hubPublish(t, h, "p2", hubMessage("p2", v))
	}
	var got []string
	for _, r := range decodeFrames(t, b.Received(t)) {
		got = append(got, fmt.Sprintf("%s/%d", r.Project, r.Version))
	}
	var wantB []string
	for v := int64(1); v <= n+5; v++ {
		p := "p1"
		if v > n {
			p = "p2"
		}
		wantB = append(wantB, fmt.Sprintf("%s/%d", p, v))
	}
	if !slices.Equal(got, wantB) {
		t.Errorf("b (p1 and p2) received %v, want %v", got, wantB)
	}
	if got := versions(t, c, "p2"); !slices.Equal(got, seq(n+1, n+5)) {
		t.Errorf("c received versions %v, want %v", got, seq(n+1, n+5))
	}
	if got := h.Connections(t, "p1"); got != 2 {
		t.Errorf("p1 has %d connections after delivering, want 2", got)
	}

	// A publish to a project without connections is no error.
	hubPublish(t, h, "nobody", hubMessage("nobody", 1))
}

func testHubGone(t *testing.T, h HubHarness) {
	c1 := h.Connect(t, "p1")
	c2 := h.Connect(t, "p1", "p2")
	c3 := h.Connect(t, "p1")
	c4 := h.Connect(t, "p2")
	c2.Gone(t)

	hubPublish(t, h, "p1", hubMessage("p1", 1))
	for name, c := range map[string]HubConn{"c1": c1, "c3": c3} {
		if got := versions(t, c, "p1"); !slices.Equal(got, []int64{1}) {
			t.Errorf("%s received %v, want [1]: a gone connection held up the others", name, got)
		}
	}
	if fs := c2.Received(t); len(fs) != 0 {
		t.Errorf("the gone connection received %d frames", len(fs))
	}
	if got := h.Connections(t, "p1"); got != 2 {
		t.Errorf("p1 has %d connections after the publish, want 2 (the gone one removed, only it)", got)
	}
	if got := h.Connections(t, "p2"); got != 1 {
		t.Errorf("p2 has %d connections, want 1: the gone connection is gone from every project, the others stay", got)
	}

	// The others keep receiving.
	hubPublish(t, h, "p1", hubMessage("p1", 2))
	hubPublish(t, h, "p2", hubMessage("p2", 3))
	for name, c := range map[string]HubConn{"c1": c1, "c3": c3} {
		if got := versions(t, c, "p1"); !slices.Equal(got, []int64{1, 2}) {
			t.Errorf("%s received %v, want [1 2]", name, got)
		}
	}
	if got := versions(t, c4, "p2"); !slices.Equal(got, []int64{3}) {
		t.Errorf("c4 received %v, want [3]", got)
	}
	if fs := c2.Received(t); len(fs) != 0 {
		t.Errorf("the gone connection received %d frames", len(fs))
	}
}

func testHubFrameLimit(t *testing.T, h HubHarness) {
	c := h.Connect(t, "p1")
	limit := h.MaxFrame

	// Small: sent as is.
	small := hubMessage("p1", 1)
	small.Type = core.MsgOperation
	small.Operation = &core.Operation{ID: "op1", Project: "p1", Events: []core.StackEvent{{EventID: "e1", ResourceStatus: "UPDATE_IN_PROGRESS"}}}
	// Too big with its events, small without them: sent without them.
	events := make([]core.StackEvent, limit/100+1)
	for i := range events {
		events[i] = core.StackEvent{EventID: fmt.Sprintf("event-%04d", i), StatusReason: strings.Repeat("x", 100)}
	}
	stripped := hubMessage("p1", 2)
	stripped.Type = core.MsgOperation
	stripped.Operation = &core.Operation{ID: "op1", Project: "p1", Events: events}
	// Too big even without events: a resync notice.
	huge := hubMessage("p1", 3)
	huge.Resource.Observed.StatusReason = strings.Repeat("y", limit)

	for _, m := range []core.Message{small, stripped, huge} {
		hubPublish(t, h, "p1", m)
	}
	fs := c.Received(t)
	if len(fs) != 3 {
		t.Fatalf("received %d frames, want 3", len(fs))
	}
	for i, f := range fs {
		if len(f) > limit {
			t.Errorf("frame %d is %d bytes, over the %d limit", i, len(f), limit)
		}
	}
	want, _ := json.Marshal(small)
	if string(fs[0]) != string(want) {
		t.Errorf("a message under the limit arrived as %.300s, want %s", fs[0], want)
	}
	var got core.Message
	if err := json.Unmarshal(fs[1], &got); err != nil || got.Type != core.MsgOperation || got.Version != 2 ||
		got.Operation == nil || got.Operation.ID != "op1" || len(got.Operation.Events) != 0 {
		t.Errorf("a message over the limit with its events arrived as %.300s (%v), want it without them", fs[1], err)
	}
	if want := `{"type":"resync","project":"p1"}`; string(fs[2]) != want {
		t.Errorf("a message over the limit without events arrived as %.300s, want %s", fs[2], want)
	}
	if len(stripped.Operation.Events) != len(events) {
		t.Error("the hub changed the published message, which the caller shares")
	}
}

func testHubStalled(t *testing.T, h HubHarness) {
	stalled := h.Connect(t, "p")
	others := []HubConn{h.Connect(t, "p"), h.Connect(t, "p"), h.Connect(t, "p")}
	release := stalled.Stall(t)
	var once sync.Once
	t.Cleanup(func() { once.Do(release) })

	// Publish one message at a time, each once the others have the
	// previous one, without waiting for a Publish to return: a hub may
	// wait for its delivery to the stalled connection (apigwhub posts to
	// it), but not before delivering to the others.
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for v := int64(1); v <= n; v++ {
		wg.Go(func() {
			if err := h.Hub.Publish(context.Background(), "p", hubMessage("p", v)); err != nil {
				errs <- fmt.Errorf("Publish(v%d) = %w", v, err)
			}
		})
		waitFor(t, fmt.Sprintf("every other connection to receive v%d while one is stalled", v), func() bool {
			for _, c := range others {
				if len(c.Received(t)) < int(v) {
					return false
				}
			}
			return true
		})
	}
	once.Do(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	for i, c := range others {
		if got := versions(t, c, "p"); !slices.Equal(got, seq(1, n)) {
			t.Errorf("connection %d received %v, want %v", i, got, seq(1, n))
		}
	}
	// The stalled connection got each message at most once; a hub that
	// stopped delivering to it has removed it, so its client resyncs.
	got := versions(t, stalled, "p")
	seen := map[int64]bool{}
	for _, v := range got {
		if seen[v] || v < 1 || v > n {
			t.Fatalf("the stalled connection received %v: duplicates or strangers", got)
		}
		seen[v] = true
	}
	conns := h.Connections(t, "p")
	switch {
	case len(got) < n && conns != len(others):
		t.Errorf("the stalled connection missed %d messages and is still connected (%d connections): it would never resync", n-len(got), conns)
	case len(got) == n && conns != len(others)+1:
		t.Errorf("%d connections after delivering everything, want %d", conns, len(others)+1)
	}
}
