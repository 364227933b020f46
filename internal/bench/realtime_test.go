package bench

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRealtimeQuick runs the event-to-browser benchmark on a few clients
// (in the client process: TestMain) and checks the shape of its tables and
// that frames were delivered; it asserts no timing.
func TestRealtimeQuick(t *testing.T) {
	tables, err := Realtime(t.Context(), RealtimeOptions{Clients: []int{3, 5}, Rate: 50, Duration: 300 * time.Millisecond, Quick: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 5 {
		t.Fatalf("%d tables, want 5", len(tables))
	}
	for _, tb := range tables {
		checkShape(t, tb)
		for _, r := range tb.Rows {
			if m := r[len(r)-1]; tb.Title != "One stalled client" && !strings.HasPrefix(r[0], "raw broadcast") && m != "met" && m != "missed" {
				t.Errorf("table %q: last cell %q is not met/missed", tb.Title, m)
			}
		}
		md := tb.Markdown()
		if !strings.Contains(md, "| --- |") {
			t.Errorf("table %q renders without a pipe table:\n%s", tb.Title, md)
		}
		t.Log("\n" + md)
	}
	lat, sat, peer := tables[0], tables[1], tables[3]
	if len(lat.Rows) != 2 || len(sat.Rows) != 2 || len(peer.Rows) != 3 {
		t.Fatalf("latency rows %d, saturation rows %d, peer rows %d; want 2, 2, 3", len(lat.Rows), len(sat.Rows), len(peer.Rows))
	}
	// The raw peer ran at the largest count, 5, and its clients read
	// every event.
	for _, r := range peer.Rows {
		if r[1] != "5" || strings.Contains(r[3], "missing") {
			t.Errorf("peer row %v: want 5 clients and no deliveries missing", r)
		}
		if n, _ := strconv.Atoi(r[3]); n == 0 {
			t.Errorf("peer row %v: no deliveries", r)
		}
	}
	for _, r := range lat.Rows {
		if strings.Contains(r[3], "missing") {
			t.Errorf("latency row %v: deliveries missing", r)
		}
		if n, _ := strconv.Atoi(r[3]); n == 0 {
			t.Errorf("latency row %v: no deliveries", r)
		}
	}
	for _, r := range sat.Rows {
		if n, _ := strconv.Atoi(r[2]); n == 0 {
			t.Errorf("saturation row %v: no event frames read", r)
		}
	}
}

// checkShape fails t unless tb has a title, a header and rows, each row
// as wide as the header.
func checkShape(t *testing.T, tb Table) {
	t.Helper()
	if tb.Title == "" || len(tb.Header) == 0 || len(tb.Rows) == 0 {
		t.Fatalf("table %q: header %v, %d rows", tb.Title, tb.Header, len(tb.Rows))
	}
	for _, r := range tb.Rows {
		if len(r) != len(tb.Header) {
			t.Errorf("table %q: row %v has %d cells, header %d", tb.Title, r, len(r), len(tb.Header))
		}
	}
}
