package core_test

import (
	"testing"

	"bucketdesk/internal/core"
)

// WithLatestEvent keeps only the operation's latest event, leaves the
// resource it was given unchanged, and returns a resource with nothing to
// cut as it is.
func TestWithLatestEvent(t *testing.T) {
	op := &core.Operation{ID: "op", Events: []core.StackEvent{{EventID: "e1"}, {EventID: "e2"}, {EventID: "e3"}}}
	r := &core.Resource{StackName: "a", Version: 3, Op: op}
	got := r.WithLatestEvent()
	if ev := got.Op.Events; len(ev) != 1 || ev[0].EventID != "e3" {
		t.Fatalf("events %+v, want only e3", ev)
	}
	if got.Op.ID != "op" || got.StackName != "a" || got.Version != 3 {
		t.Fatalf("the rest changed: %+v", got)
	}
	if r.Op != op || len(op.Events) != 3 {
		t.Fatal("the resource given was changed")
	}
	for _, r := range []*core.Resource{
		{StackName: "no-op"},
		{StackName: "one-event", Op: &core.Operation{Events: []core.StackEvent{{EventID: "e1"}}}},
	} {
		if got := r.WithLatestEvent(); got != r {
			t.Errorf("%s: a copy, want the resource itself", r.StackName)
		}
	}
}
