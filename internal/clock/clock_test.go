package clock

import (
	"testing"
	"time"
)

func TestManualFiresInOrderOnlyWhenAdvanced(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := NewManual(start)
	late, early := m.After(2*time.Second), m.After(time.Second)
	if now := <-m.After(0); !now.Equal(start) {
		t.Fatalf("After(0) fired at %v", now)
	}
	select {
	case <-early:
		t.Fatal("fired before the clock moved")
	default:
	}
	m.Advance(time.Second)
	if at := <-early; !at.Equal(start.Add(time.Second)) {
		t.Fatalf("early fired at %v", at)
	}
	select {
	case <-late:
		t.Fatal("late fired too soon")
	default:
	}
	m.Advance(5 * time.Second)
	<-late
	if m.Waiters() != 0 || !m.Now().Equal(start.Add(6*time.Second)) {
		t.Fatalf("waiters %d, now %v", m.Waiters(), m.Now())
	}
}

func TestBlockUntil(t *testing.T) {
	m := NewManual(time.Unix(0, 0))
	got := make(chan struct{})
	go func() {
		<-m.After(time.Minute)
		close(got)
	}()
	m.BlockUntil(1)
	m.Advance(time.Minute)
	<-got
}
