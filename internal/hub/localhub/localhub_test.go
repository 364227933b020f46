package localhub

import (
	"bytes"
	"testing"

	"bucketdesk/internal/core"
	"bucketdesk/internal/realtime"
)

func TestFanOutByProject(t *testing.T) {
	h := New()
	a := h.Subscribe([]string{"p1"}, 4)
	b := h.Subscribe([]string{"p1", "p2"}, 4)
	c := h.Subscribe([]string{"p2"}, 4)
	defer a.Close()
	defer b.Close()
	defer c.Close()
	h.Publish(t.Context(), "p1", core.Message{Type: core.MsgResource, Project: "p1", Version: 1})
	if m := <-a.C; m.Version != 1 {
		t.Fatal("a missed p1")
	}
	if m := <-b.C; m.Project != "p1" {
		t.Fatal("b missed p1")
	}
	select {
	case m := <-c.C:
		t.Fatalf("c got another project's message %+v", m)
	default:
	}
}

func TestSlowSubscriberIsDroppedOthersKeepReceiving(t *testing.T) {
	h := New()
	slow := h.Subscribe([]string{"p"}, 2)
	fast := h.Subscribe([]string{"p"}, 100)
	defer fast.Close()
	for i := range 10 {
		h.Publish(t.Context(), "p", core.Message{Version: int64(i + 1)})
	}
	n := 0
	for range slow.C { // closed after the two buffered messages
		n++
	}
	if n != 2 || !slow.Dropped() {
		t.Fatalf("slow got %d messages, dropped %v", n, slow.Dropped())
	}
	for i := range 10 {
		if m := <-fast.C; m.Version != int64(i+1) {
			t.Fatalf("fast got version %d at %d", m.Version, i)
		}
	}
	if h.Subscribers("p") != 1 {
		t.Fatalf("%d subscribers left", h.Subscribers("p"))
	}
}

func TestFramesAreSharedAndEncodedOnce(t *testing.T) {
	h := New()
	a := h.SubscribeFrames([]string{"p"}, 4)
	b := h.SubscribeFrames([]string{"p"}, 4)
	m := h.Subscribe([]string{"p"}, 4)
	defer a.Close()
	defer b.Close()
	defer m.Close()
	h.Publish(t.Context(), "p", core.Message{Type: core.MsgResource, Project: "p", Version: 7})
	fa, fb := <-a.Frames(), <-b.Frames()
	if fa != fb {
		t.Fatal("frame subscribers got different frames of one publish")
	}
	if msg := <-m.C; msg.Version != 7 {
		t.Fatalf("message subscriber got %+v", msg)
	}
	// One encoding per frame limit, shared by the subscribers.
	ba, bb := fa.Bytes(1024), fb.Bytes(1024)
	if &ba[0] != &bb[0] {
		t.Fatal("the frame was encoded once per subscriber")
	}
	if !bytes.Equal(ba, realtime.Encode(fa.Msg, 1024)) {
		t.Fatalf("encoded %s", ba)
	}
}

func TestSlowFrameSubscriberIsDroppedAtOnce(t *testing.T) {
	h := New()
	slow := h.SubscribeFrames([]string{"p"}, 1)
	for i := range 3 {
		h.Publish(t.Context(), "p", core.Message{Version: int64(i + 1)})
	}
	<-slow.Done() // closed although a frame is still queued
	if !slow.Dropped() {
		t.Fatal("not marked dropped")
	}
	if f := <-slow.Frames(); f == nil || f.Msg.Version != 1 {
		t.Fatalf("queued frame %+v", f)
	}
	if _, ok := <-slow.Frames(); ok {
		t.Fatal("frames not closed")
	}
	slow.Close() // no-op after a drop
	if !slow.Dropped() {
		t.Fatal("Close after a drop cleared Dropped")
	}
}

// PublishAll queues its messages in order for every subscriber, frame
// subscribers sharing one Frame per message; a subscriber without room
// for all of them is dropped, and the others keep receiving.
func TestPublishAllTogetherOrDropped(t *testing.T) {
	h := New()
	a := h.SubscribeFrames([]string{"p"}, 4)
	b := h.SubscribeFrames([]string{"p"}, 4)
	m := h.Subscribe([]string{"p"}, 4)
	tight := h.SubscribeFrames([]string{"p"}, 3)
	defer a.Close()
	defer b.Close()
	defer m.Close()
	msgs := []core.Message{{Type: core.MsgResource, Project: "p", Version: 1}, {Type: core.MsgEvent, Project: "p", Version: 1}}
	h.PublishAll(t.Context(), "p", msgs)
	h.PublishAll(t.Context(), "p", msgs) // tight has room for one more only
	for round := range 2 {
		for i, want := range msgs {
			fa, fb := <-a.Frames(), <-b.Frames()
			if fa != fb || fa.Msg.Type != want.Type {
				t.Fatalf("round %d message %d: %+v and %+v, want one shared %s frame", round, i, fa.Msg, fb.Msg, want.Type)
			}
			if got := <-m.C; got.Type != want.Type {
				t.Fatalf("round %d message %d: %s, want %s", round, i, got.Type, want.Type)
			}
		}
	}
	if !tight.Dropped() {
		t.Fatal("a subscriber without room for the whole batch was kept")
	}
	if h.Subscribers("p") != 3 {
		t.Fatalf("%d subscribers, want 3", h.Subscribers("p"))
	}
}
