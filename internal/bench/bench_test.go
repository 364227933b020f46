package bench

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	r := NewRecorder(100)
	for i := 100; i >= 1; i-- {
		r.Add(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {99.9, 100 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := r.Percentile(c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if NewRecorder(0).Percentile(99) != 0 {
		t.Error("empty recorder: want 0")
	}
}

// A server that answers one request at a time, 10 ms each, behind a
// schedule of one request a millisecond: the backlog grows, and an open
// loop must see it, where a closed loop would report 10 ms every time.
func TestLoadMeasuresFromScheduledTime(t *testing.T) {
	var mu sync.Mutex
	res := Load{Rate: 1000, Duration: time.Second, MaxRequests: 30, Do: func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		return nil
	}}.Run(t.Context())
	if res.Sent != 30 || res.Latency.Count() != 30 {
		t.Fatalf("sent %d, measured %d; want 30", res.Sent, res.Latency.Count())
	}
	// The last request is due at 29 ms and answered at about 300 ms.
	if max := res.Latency.Max(); max < 200*time.Millisecond {
		t.Errorf("max latency %v: the queueing behind a slow server is not measured", max)
	}
	if p50 := res.Latency.Percentile(50); p50 < 50*time.Millisecond {
		t.Errorf("p50 %v: latency measured from the send, not the schedule", p50)
	}
}

func TestLoadStopsByItself(t *testing.T) {
	start := time.Now()
	res := Load{Rate: 200, Duration: 100 * time.Millisecond, Do: func(context.Context) error { return nil }}.Run(t.Context())
	if res.Sent != 20 {
		t.Errorf("sent %d, want 20 (rate × duration)", res.Sent)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("took %v", el)
	}
}

func TestTableMarkdown(t *testing.T) {
	tb := Table{Title: "T", Header: []string{"a", "b"}, Rows: [][]string{{"1", "x|y"}, {"2"}}, Notes: []string{"note"}}
	want := "### T\n\n| a | b |\n| --- | --- |\n| 1 | x\\|y |\n| 2 |  |\n\nnote\n\n"
	if got := tb.Markdown(); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if m := Machine(); !strings.Contains(m, "Go: go") {
		t.Errorf("machine description lacks the Go version: %s", m)
	}
}

func TestKeepBrowserSection(t *testing.T) {
	md := "# Benchmarks\n\nnew figures\n"
	section := "<!-- bench-browser:begin -->\n## The console in the browser\n\n| a |\n<!-- bench-browser:end -->"
	prev := "# Benchmarks\n\nold figures\n\n" + section + "\n\ntrailing text\n"
	got := KeepBrowserSection(md, prev)
	if want := md + "\n" + section + "\n"; got != want {
		t.Errorf("kept:\n%q\nwant\n%q", got, want)
	}
	if strings.Contains(got, "old figures") || strings.Contains(got, "trailing") {
		t.Errorf("kept more than the section: %q", got)
	}
	if again := KeepBrowserSection(md, got); again != got {
		t.Errorf("not stable when rewritten again: %q", again)
	}
	for _, prev := range []string{"", "# Benchmarks\n", "<!-- bench-browser:begin -->\nno end\n", "<!-- bench-browser:end -->\n<!-- bench-browser:begin -->\n"} {
		if got := KeepBrowserSection(md, prev); got != md {
			t.Errorf("prev %q: got %q, want md unchanged", prev, got)
		}
	}
}
