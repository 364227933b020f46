package localhub

import (
	"testing"

	"bucketdesk/internal/core"
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
