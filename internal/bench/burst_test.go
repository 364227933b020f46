package bench

import (
	"strconv"
	"strings"
	"testing"
)

// TestBurstQuick runs the burst section on a small project and checks the
// shape of its tables, that every event was applied and every client
// ended up consistent; it asserts no timing.
func TestBurstQuick(t *testing.T) {
	const buckets, events = 8, 400
	tables, err := Burst(t.Context(), BurstOptions{Quick: true, Buckets: buckets, Clients: 3, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 2 {
		t.Fatalf("%d tables, want 2", len(tables))
	}
	for _, tb := range tables {
		checkShape(t, tb)
		t.Log("\n" + tb.Markdown())
	}
	mirror, change := tables[0], tables[1]
	if len(mirror.Rows) != 5 {
		t.Fatalf("%d throughput rows, want 5", len(mirror.Rows))
	}
	for i, r := range mirror.Rows {
		// The comparison rows stop at their budget; the last two apply
		// every event.
		all := i >= len(mirror.Rows)-2
		n, err := strconv.Atoi(r[3])
		switch {
		case err != nil:
			t.Errorf("throughput row %v: events applied %q is not a count (events lost?)", r, r[3])
		case all && n != events:
			t.Errorf("throughput row %v: %d events applied, want all %d", r, n, events)
		case n == 0:
			t.Errorf("throughput row %v: nothing applied", r)
		}
		if m := r[len(r)-1]; r[0] == "group commit (default)" && m != "met" && m != "missed" {
			t.Errorf("throughput row %v: last cell %q is not met/missed", r, m)
		}
	}
	r := change.Rows[0]
	// Each bucket's update is five stack events: the stack's start, the
	// Bucket's start and end, the cleanup and the end.
	if r[2] != strconv.Itoa(5*buckets) {
		t.Errorf("change row %v: %s stack events, want %d", r, r[2], 5*buckets)
	}
	if strings.Contains(r[8], "never") {
		t.Errorf("change row %v: clients not consistent", r)
	}
	if m := r[len(r)-1]; m != "met" && m != "missed" {
		t.Errorf("change row %v: last cell %q is not met/missed", r, m)
	}
}
