// Package bench measures bucketdesk the way docs/targets.md states its
// targets: cached against direct reads over HTTP on the sandbox, the API
// under a constant request rate (open loop, from a generator in its own
// process), event to browser (clients in their own process, beside a raw
// broadcast server), the DynamoDB store against dynalite, bursts of stack
// events, fan-out through API Gateway's @connections stand-in, and growth
// curves as resources and stacks grow. It prints Markdown tables, each figure
// next to its target, and can write them to docs/benchmarks.md with a
// description of the machine. All load goes to 127.0.0.1 and every loop is
// bounded in count and time.
package bench

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Table is one Markdown table of results.
type Table struct {
	Title  string
	Header []string
	Rows   [][]string
	// Notes are printed under the table, one paragraph each.
	Notes []string
}

// Markdown renders the table as a level-3 heading, a pipe table and its
// notes.
func (t Table) Markdown() string {
	var b strings.Builder
	if t.Title != "" {
		fmt.Fprintf(&b, "### %s\n\n", t.Title)
	}
	if len(t.Header) > 0 {
		b.WriteString("| " + strings.Join(escapeCells(t.Header), " | ") + " |\n")
		b.WriteString("|" + strings.Repeat(" --- |", len(t.Header)) + "\n")
		for _, r := range t.Rows {
			cells := make([]string, len(t.Header))
			copy(cells, r)
			b.WriteString("| " + strings.Join(escapeCells(cells), " | ") + " |\n")
		}
		b.WriteString("\n")
	}
	for _, n := range t.Notes {
		b.WriteString(n + "\n\n")
	}
	return b.String()
}

func escapeCells(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = strings.ReplaceAll(c, "|", `\|`)
	}
	return out
}

// RealtimeOptions configure the event-to-browser section.
type RealtimeOptions struct {
	// Clients are the numbers of connected browsers to measure with.
	Clients []int
	// Rate is stack events per second.
	Rate float64
	// Duration bounds each measurement.
	Duration time.Duration
	// Quick shortens everything for a smoke run.
	Quick bool
}

// Recorder collects latencies and reports exact percentiles (it keeps
// every sample and sorts them). It is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	samples []time.Duration
	errors  int
	sorted  bool
}

// NewRecorder returns a Recorder with room for n samples.
func NewRecorder(n int) *Recorder {
	return &Recorder{samples: make([]time.Duration, 0, n)}
}

// Add records one latency.
func (r *Recorder) Add(d time.Duration) {
	r.mu.Lock()
	r.samples = append(r.samples, d)
	r.sorted = false
	r.mu.Unlock()
}

// AddError records one failed request.
func (r *Recorder) AddError() {
	r.mu.Lock()
	r.errors++
	r.mu.Unlock()
}

// Count is the number of latencies recorded.
func (r *Recorder) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.samples)
}

// Errors is the number of failures recorded.
func (r *Recorder) Errors() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.errors
}

// Percentile returns the smallest recorded latency that at least p percent
// of the samples do not exceed (nearest rank); 0 when there is none.
func (r *Recorder) Percentile(p float64) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := len(r.samples)
	if n == 0 {
		return 0
	}
	if !r.sorted {
		slices.Sort(r.samples)
		r.sorted = true
	}
	rank := int(p/100*float64(n) + 0.999999999)
	rank = max(1, min(n, rank))
	return r.samples[rank-1]
}

// Max is the largest latency recorded.
func (r *Recorder) Max() time.Duration { return r.Percentile(100) }

// Ms formats a duration in milliseconds with a precision that suits it.
func Ms(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.2f ms", ms)
	}
}
