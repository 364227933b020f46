package httpapi_test

import (
	"bufio"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// sample is one line of the text exposition.
var sampleRe = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (\S+)$`)
var labelRe = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// /metrics is valid Prometheus text: HELP and TYPE before the samples of a
// family, counters by route and status class, histograms with cumulative
// buckets ending in +Inf equal to _count, the in-flight gauge, and the
// extra writers' text.
func TestMetricsFormat(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.expect(req{method: "GET", path: "/api/me", as: "alice"}, 200, nil)
	e.expect(req{method: "GET", path: "/api/me", as: "alice"}, 200, nil)
	e.do(req{method: "GET", path: "/api/projects/demo/buckets/missing-bucket", as: "alice"})
	e.do(req{method: "GET", path: "/api/me"})
	e.do(req{method: "PATCH", path: "/api/me"})
	e.do(req{method: "GET", path: "/api/whatever"})

	w := e.expect(req{method: "GET", path: "/metrics"}, 200, nil)
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("Content-Type %q", ct)
	}
	types := map[string]string{}
	helps := map[string]bool{}
	values := map[string]float64{} // name{labels} → value
	type hist struct {
		les    []float64
		counts []float64
	}
	hists := map[string]*hist{} // by route
	sc := bufio.NewScanner(strings.NewReader(w.Body.String()))
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, _, _ := strings.Cut(f, " ")
			helps[name] = true
			continue
		}
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(f, " ")
			if types[name] != "" {
				t.Fatalf("TYPE of %s twice", name)
			}
			types[name] = typ
			continue
		}
		m := sampleRe.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("not a sample: %q", line)
		}
		name, labels, raw := m[1], m[3], m[4]
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			t.Fatalf("%q: value %v", line, err)
		}
		family := name
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suf); ok && types[b] == "histogram" {
				family = b
			}
		}
		if types[family] == "" || !helps[family] {
			t.Fatalf("%q: no TYPE and HELP of %s before it", line, family)
		}
		values[name+"{"+labels+"}"] = v
		lbl := map[string]string{}
		for _, l := range labelRe.FindAllStringSubmatch(labels, -1) {
			lbl[l[1]] = l[2]
		}
		if name == "bucketdesk_http_request_duration_seconds_bucket" {
			h := hists[lbl["route"]]
			if h == nil {
				h = &hist{}
				hists[lbl["route"]] = h
			}
			le := 0.0
			if lbl["le"] == "+Inf" {
				le = 1e308
			} else if le, err = strconv.ParseFloat(lbl["le"], 64); err != nil {
				t.Fatalf("%q: le %v", line, err)
			}
			h.les = append(h.les, le)
			h.counts = append(h.counts, v)
		}
	}
	for _, want := range []struct {
		key string
		n   float64
	}{
		{`bucketdesk_http_requests_total{route="GET /api/me",code="2xx"}`, 2},
		{`bucketdesk_http_requests_total{route="GET /api/me",code="4xx"}`, 1},
		{`bucketdesk_http_requests_total{route="GET /api/projects/{p}/buckets/{name}",code="4xx"}`, 1},
		{`bucketdesk_http_requests_total{route="/api/me",code="4xx"}`, 1},
		{`bucketdesk_http_requests_total{route="/api/",code="4xx"}`, 1},
		{`bucketdesk_http_request_duration_seconds_count{route="GET /api/me"}`, 3},
		{`bucketdesk_http_requests_in_flight{}`, 1},
		{`bucketdesk_ws_connections{}`, 0},
	} {
		if got, ok := values[want.key]; !ok || got != want.n {
			t.Errorf("%s = %v (present %v), want %v", want.key, got, ok, want.n)
		}
	}
	if types["bucketdesk_http_requests_total"] != "counter" || types["bucketdesk_http_request_duration_seconds"] != "histogram" ||
		types["bucketdesk_http_requests_in_flight"] != "gauge" {
		t.Errorf("types: %v", types)
	}
	if len(hists) == 0 {
		t.Fatal("no histogram")
	}
	for route, h := range hists {
		for i := 1; i < len(h.counts); i++ {
			if h.les[i] <= h.les[i-1] || h.counts[i] < h.counts[i-1] {
				t.Errorf("%s: buckets not increasing and cumulative: %v %v", route, h.les, h.counts)
			}
		}
		count := values[`bucketdesk_http_request_duration_seconds_count{route="`+route+`"}`]
		if h.les[len(h.les)-1] != 1e308 || h.counts[len(h.counts)-1] != count {
			t.Errorf("%s: last bucket %v (le %v), count %v", route, h.counts[len(h.counts)-1], h.les[len(h.les)-1], count)
		}
		if _, ok := values[`bucketdesk_http_request_duration_seconds_sum{route="`+route+`"}`]; !ok {
			t.Errorf("%s: no _sum", route)
		}
	}
}

// The access log has method, route pattern, status and duration of every
// request, and never a token, a query string or a body.
func TestAccessLog(t *testing.T) {
	e := newEnv(t, envOptions{start: true})
	e.expect(req{method: "POST", path: "/api/projects/demo/buckets", as: "alice", body: bucketJSON("logged-bucket")}, 202, nil)
	e.expectProblem(req{method: "GET", path: "/api/projects/demo/operations?limit=7&cursor=secret-cursor", as: "alice"}, 400, "invalid")
	e.do(req{method: "POST", path: "/auth/login", body: `{"username":"alice","password":"` + alicePassword + `"}`})
	logs := e.log.String()
	for _, bad := range []string{e.token("alice"), "secret-cursor", "limit=7", alicePassword, `"tags"`, "Bearer"} {
		if strings.Contains(logs, bad) {
			t.Errorf("the log holds %q:\n%s", bad, logs)
		}
	}
	var seen []string
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] != "http request" {
			continue
		}
		for _, k := range []string{"method", "route", "status", "duration"} {
			if rec[k] == nil {
				t.Errorf("access log line without %s: %s", k, line)
			}
		}
		seen = append(seen, rec["route"].(string))
	}
	want := []string{"POST /api/projects/{p}/buckets", "GET /api/projects/{p}/operations", "POST /auth/login"}
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Fatalf("logged routes %v, want %v", seen, want)
	}
}
