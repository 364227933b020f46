package soak

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const mb = 1 << 20

func TestSummarizeGrowthPlateau(t *testing.T) {
	// 60 s of churn sampled every 10 s, then the drain: the data grows in
	// the first half and stays flat in the second.
	var samples []Sample
	for i, d := range []int64{1, 5, 9, 10, 10, 10, 10} {
		samples = append(samples, Sample{At: time.Duration(i) * 10 * time.Second, Phase: "churn", Accepted: int64(i) * 100,
			Data: d * mb, Disk: d * mb / 2, RSS: (20 + d) * mb})
	}
	samples[6].Phase = PhaseEndOfChurn
	samples = append(samples, Sample{At: 65 * time.Second, Phase: "end", Accepted: 600, Data: 12 * mb, Disk: 6 * mb, RSS: 40 * mb})

	g := SummarizeGrowth(samples, 60*time.Second)
	if !g.OK {
		t.Fatal("not OK")
	}
	if g.Mid.At != 30*time.Second || g.End.At != 60*time.Second {
		t.Fatalf("mid %v end %v", g.Mid.At, g.End.At)
	}
	if g.DataFirst != 9*mb || g.DataSecond != 0 {
		t.Errorf("data growth %d, %d", g.DataFirst, g.DataSecond)
	}
	if g.RSSFirst != 9*mb || g.RSSSecond != 0 || !g.RSSKnown {
		t.Errorf("rss growth %d, %d", g.RSSFirst, g.RSSSecond)
	}
	if g.DiskFirst != 9*mb/2 || g.DiskSecond != 0 {
		t.Errorf("disk growth %d, %d", g.DiskFirst, g.DiskSecond)
	}
	// 12 MB over 600 operations: 20 MB per 1,000.
	if g.Accepted != 600 || g.PerKOps != 20*mb {
		t.Errorf("per 1,000 ops: %v over %d", g.PerKOps/mb, g.Accepted)
	}
	if g.GrowthPerKOps != float64(11*mb)/600*1000 {
		t.Errorf("growth per 1,000 ops %v", g.GrowthPerKOps/mb)
	}
	s := GrowthSummary(g)
	for _, want := range []string{"+9.0 MB in the first half, +0.0 MB in the second", "**20.00 MB**", "server RSS: 21.0 MB at the start"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

func TestSummarizeGrowthWithoutLabelsAndTooFewSamples(t *testing.T) {
	samples := []Sample{
		{At: 0, Data: mb, RSS: -1},
		{At: 10 * time.Second, Data: 3 * mb, RSS: -1, Accepted: 10},
		{At: 20 * time.Second, Data: 4 * mb, RSS: -1, Accepted: 20},
		{At: 40 * time.Second, Data: 9 * mb, RSS: -1, Accepted: 20}, // after the churn
	}
	g := SummarizeGrowth(samples, 20*time.Second)
	if !g.OK || g.End.At != 20*time.Second || g.Mid.At != 10*time.Second || g.RSSKnown {
		t.Fatalf("%+v", g)
	}
	if !strings.Contains(GrowthSummary(g), "not measured") {
		t.Error("unknown RSS not said")
	}
	if g := SummarizeGrowth(samples[:1], time.Minute); g.OK {
		t.Error("one sample cannot make halves")
	}
	if g := SummarizeGrowth(nil, time.Minute); g.OK || GrowthSummary(g) == "" {
		t.Error("no samples")
	}
}

func TestParseVmRSS(t *testing.T) {
	in := "Name:\tbucketdesk\nVmPeak:\t  900000 kB\nVmRSS:\t   51234 kB\nThreads:\t12\n"
	if got := parseVmRSS(strings.NewReader(in)); got != 51234*1024 {
		t.Errorf("got %d", got)
	}
	if got := parseVmRSS(strings.NewReader("Name: x\n")); got != -1 {
		t.Errorf("got %d", got)
	}
}

func TestMeasure(t *testing.T) {
	dir := t.TempDir()
	for name, n := range map[string]int{"bucketdesk.db": 3000, "sandbox.db": 5000, "sandbox.db.key": 32, LogName: 100000} {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := Measure(dir, os.Getpid())
	if s.CacheDB != 3000 || s.Sandbox != 5000 || s.Data != 8032 {
		t.Errorf("%+v", s)
	}
	if s.RSS <= 0 {
		t.Errorf("own RSS %d", s.RSS)
	}
	if MB(3*mb/2) != "1.5" || SignedMB(-mb) != "-1.0 MB" {
		t.Error("MB formatting")
	}
}

func TestParseGauge(t *testing.T) {
	text := "# HELP go_memory_classes_heap_objects_bytes x\n# TYPE go_memory_classes_heap_objects_bytes gauge\ngo_memory_classes_heap_objects_bytes 1.2345e+07\ngo_memory_classes_heap_objects_bytes_other 5\n"
	if got := parseGauge(text, HeapMetric); got != 12345000 {
		t.Errorf("heap %d, want 12345000", got)
	}
	if got := parseGauge("bucketdesk_ws_connections 3\n", HeapMetric); got != -1 {
		t.Errorf("missing metric: %d, want -1", got)
	}
}
