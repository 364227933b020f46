package httpapi

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// latencyBuckets are the upper bounds (seconds) of the latency histogram:
// fine below 10 ms, where §9 of the design sets its targets.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// metrics counts requests per route pattern. Every route's counters exist
// from New on, so recording is lock-free and the exposition is stable.
type metrics struct {
	inFlight atomic.Int64
	order    []string
	byLabel  map[string]*routeMetrics
}

// routeMetrics are one route's counters.
type routeMetrics struct {
	// classes counts answers by status class: 1xx … 5xx.
	classes [5]atomic.Uint64
	// buckets counts durations per bucket, not cumulated; the last one is
	// above every bound.
	buckets []atomic.Uint64
	sumNS   atomic.Int64
}

func newMetrics(labels []string) *metrics {
	m := &metrics{byLabel: make(map[string]*routeMetrics, len(labels))}
	for _, l := range labels {
		if m.byLabel[l] != nil {
			continue
		}
		m.order = append(m.order, l)
		m.byLabel[l] = &routeMetrics{buckets: make([]atomic.Uint64, len(latencyBuckets)+1)}
	}
	return m
}

// route returns the counters of label, which New registered.
func (m *metrics) route(label string) *routeMetrics { return m.byLabel[label] }

// observe records one answer.
func (rm *routeMetrics) observe(status int, d time.Duration) {
	if c := status/100 - 1; c >= 0 && c < len(rm.classes) {
		rm.classes[c].Add(1)
	}
	secs := d.Seconds()
	i := 0
	for i < len(latencyBuckets) && secs > latencyBuckets[i] {
		i++
	}
	rm.buckets[i].Add(1)
	rm.sumNS.Add(int64(d))
}

// write writes the Prometheus text exposition (format 0.0.4).
func (m *metrics) write(w *bufio.Writer) {
	w.WriteString("# HELP bucketdesk_http_requests_total HTTP requests answered, by route pattern and status class.\n")
	w.WriteString("# TYPE bucketdesk_http_requests_total counter\n")
	for _, l := range m.order {
		rm := m.byLabel[l]
		for c := range rm.classes {
			n := rm.classes[c].Load()
			if n == 0 {
				continue
			}
			w.WriteString(`bucketdesk_http_requests_total{route="` + escapeLabel(l) + `",code="` + strconv.Itoa(c+1) + `xx"} `)
			w.WriteString(strconv.FormatUint(n, 10) + "\n")
		}
	}
	w.WriteString("# HELP bucketdesk_http_request_duration_seconds Time to answer HTTP requests, by route pattern.\n")
	w.WriteString("# TYPE bucketdesk_http_request_duration_seconds histogram\n")
	for _, l := range m.order {
		rm := m.byLabel[l]
		var counts []uint64
		var total uint64
		for i := range rm.buckets {
			n := rm.buckets[i].Load()
			counts = append(counts, n)
			total += n
		}
		if total == 0 {
			continue
		}
		lbl := `route="` + escapeLabel(l) + `"`
		var cum uint64
		for i, le := range latencyBuckets {
			cum += counts[i]
			w.WriteString("bucketdesk_http_request_duration_seconds_bucket{" + lbl + `,le="` + formatFloat(le) + `"} ` + strconv.FormatUint(cum, 10) + "\n")
		}
		w.WriteString("bucketdesk_http_request_duration_seconds_bucket{" + lbl + `,le="+Inf"} ` + strconv.FormatUint(total, 10) + "\n")
		w.WriteString("bucketdesk_http_request_duration_seconds_sum{" + lbl + "} " + formatFloat(time.Duration(rm.sumNS.Load()).Seconds()) + "\n")
		w.WriteString("bucketdesk_http_request_duration_seconds_count{" + lbl + "} " + strconv.FormatUint(total, 10) + "\n")
	}
	w.WriteString("# HELP bucketdesk_http_requests_in_flight HTTP requests being answered.\n")
	w.WriteString("# TYPE bucketdesk_http_requests_in_flight gauge\n")
	w.WriteString("bucketdesk_http_requests_in_flight " + strconv.FormatInt(m.inFlight.Load(), 10) + "\n")
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// escapeLabel escapes a label value as the text format requires.
func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// serveMetrics answers GET /metrics: the HTTP metrics, then every extra
// writer of Options.Metrics.
func (s *server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	bw := bufio.NewWriter(w)
	s.metrics.write(bw)
	for _, f := range s.opts.Metrics {
		f(bw)
	}
	return bw.Flush()
}
