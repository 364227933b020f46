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
	a, b := &countSink{}, &countSink{}
	sa, sb := h.SubscribeSink([]string{"p"}, a), h.SubscribeSink([]string{"p"}, b)
	m := h.Subscribe([]string{"p"}, 4)
	defer sa.Close()
	defer sb.Close()
	defer m.Close()
	h.Publish(t.Context(), "p", core.Message{Type: core.MsgResource, Project: "p", Version: 7})
	h.Sync()
	if a.count() != 1 || b.count() != 1 || a.batches[0] != b.batches[0] {
		t.Fatal("sinks got different batches of one publish")
	}
	if msg := <-m.C; msg.Version != 7 {
		t.Fatalf("message subscriber got %+v", msg)
	}
	// One encoding per frame limit, shared by the subscribers.
	fa, fb := a.batches[0].Frames[0], b.batches[0].Frames[0]
	ba, bb := fa.Bytes(1024), fb.Bytes(1024)
	if &ba[0] != &bb[0] {
		t.Fatal("the frame was encoded once per subscriber")
	}
	if !bytes.Equal(ba, realtime.Encode(fa.Msg, 1024)) {
		t.Fatalf("encoded %s", ba)
	}
}

// PublishAll hands its messages in order to every subscriber: a sink gets
// them in one Deliver, sharing one Frame per message; a channel
// subscriber without room for all of them is dropped, and the others keep
// receiving.
func TestPublishAllTogetherOrDropped(t *testing.T) {
	h := New()
	a, b := &countSink{}, &countSink{}
	sa, sb := h.SubscribeSink([]string{"p"}, a), h.SubscribeSink([]string{"p"}, b)
	m := h.Subscribe([]string{"p"}, 4)
	tight := h.Subscribe([]string{"p"}, 3)
	defer sa.Close()
	defer sb.Close()
	defer m.Close()
	msgs := []core.Message{{Type: core.MsgResource, Project: "p", Version: 1}, {Type: core.MsgEvent, Project: "p", Version: 1}}
	h.PublishAll(t.Context(), "p", msgs)
	h.Sync()
	h.PublishAll(t.Context(), "p", msgs) // tight has room for one more only
	h.Sync()
	for round := range 2 {
		if a.count() != 2 || a.batches[round] != b.batches[round] {
			t.Fatalf("round %d: %d Delivers, or a batch of its own", round, a.count())
		}
		for i, want := range msgs {
			if got := a.batches[round].Frames[i].Msg.Type; got != want.Type {
				t.Fatalf("round %d message %d: %s, want %s", round, i, got, want.Type)
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
