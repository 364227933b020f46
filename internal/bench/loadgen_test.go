package bench

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The generator runs in a process of its own, sends the spec's headers,
// reads and decodes gzip answers (counting the bytes on the wire and
// decoded), sends every scheduled request, and counts a wrong status and
// a late answer as errors (the latter also as timeouts).
func TestOutsideGenerator(t *testing.T) {
	plain := []byte(`{"items":[` + strings.Repeat(`{"kind":"bucket","name":"b","version":1},`, 99) + `{"kind":"bucket","name":"b","version":1}]}`)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(plain)
	zw.Close()
	var hits, unauthorized atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/list", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Authorization") != "Bearer secret" {
			unauthorized.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Header.Get("If-None-Match") == `W/"1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(zipped.Bytes())
			return
		}
		w.Write(plain)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	spec := func(path string, headers map[string]string) loadSpec {
		headers["Authorization"] = "Bearer secret"
		return loadSpec{URL: srv.URL + path, Headers: headers, Rate: 200, Duration: 250 * time.Millisecond, Warmup: 50 * time.Millisecond, Timeout: time.Second}
	}

	rep, err := runOutside(t.Context(), spec("/list", map[string]string{"Accept-Encoding": "gzip"}))
	if err != nil {
		t.Fatal(err)
	}
	if rep.PID == os.Getpid() || rep.PID == 0 {
		t.Fatalf("the generator ran in process %d, this is %d", rep.PID, os.Getpid())
	}
	if rep.Sent != 50 || len(rep.Latencies) != 50 || rep.Errors != 0 || rep.Encoded != 50 {
		t.Fatalf("gzip: sent %d, answered %d, errors %d (%s), encoded %d; want 50, 50, 0, 50", rep.Sent, len(rep.Latencies), rep.Errors, rep.FirstError, rep.Encoded)
	}
	if rep.WireBytes != 50*int64(zipped.Len()) || rep.Bytes != 50*int64(len(plain)) {
		t.Fatalf("gzip: %d bytes on the wire, %d decoded; want %d and %d", rep.WireBytes, rep.Bytes, 50*zipped.Len(), 50*len(plain))
	}
	if hits.Load() != 60 || unauthorized.Load() != 0 {
		t.Fatalf("the server saw %d requests (%d without the token), want 60 with the warm-up", hits.Load(), unauthorized.Load())
	}

	rep, err = runOutside(t.Context(), spec("/list", map[string]string{"If-None-Match": `W/"1"`}))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 50 || len(rep.Latencies) != 0 || !strings.Contains(rep.FirstError, "304") {
		t.Fatalf("304 where 200 is expected: errors %d (%q), answered %d", rep.Errors, rep.FirstError, len(rep.Latencies))
	}
	s := spec("/list", map[string]string{"If-None-Match": `W/"1"`})
	s.Status = http.StatusNotModified
	if rep, err = runOutside(t.Context(), s); err != nil || rep.Errors != 0 || rep.WireBytes != 0 || len(rep.Latencies) != 50 {
		t.Fatalf("304s: %v, errors %d, %d bytes, answered %d", err, rep.Errors, rep.WireBytes, len(rep.Latencies))
	}

	s = spec("/slow", map[string]string{})
	s.Timeout = 100 * time.Millisecond
	if rep, err = runOutside(t.Context(), s); err != nil || rep.Errors != 50 || rep.Timeouts != 50 {
		t.Fatalf("late answers: %v, errors %d, timeouts %d; want 50 of each", err, rep.Errors, rep.Timeouts)
	}
}

// The load section end to end on a small project: every row measured by
// the outside generator without errors, the LIST answered gzip-encoded,
// the If-None-Match row all 304s, and the size table's rows.
func TestUnderLoadSection(t *testing.T) {
	if testing.Short() {
		t.Skip("sets up a whole local server")
	}
	ctx := t.Context()
	e, err := newEnv(ctx, envOptions{Sizes: []int{10}, APILatency: time.Millisecond, SandboxRate: 100, Log: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	o := Options{Sizes: []int{10}, Rates: []float64{100, 200}, Duration: 300 * time.Millisecond, Quick: true}
	o.defaults()
	ts := underLoad(ctx, e, o)
	if len(ts) != 2 {
		t.Fatalf("%d tables, want 2", len(ts))
	}
	load, sizes := ts[0], ts[1]
	if len(load.Rows) != 3 {
		t.Fatalf("rows %v: want GET, LIST and LIST with If-None-Match at the highest rate only (--quick)", load.Rows)
	}
	for _, r := range load.Rows {
		if r[1] != "200" || r[2] != "60" || r[6] != "0" {
			t.Errorf("row %v: want 60 sent at 200 req/s, 0 errors", r)
		}
	}
	if !strings.Contains(load.Rows[1][7], "gzip") || load.Rows[2][7] != "0" {
		t.Errorf("LIST on the wire %q, If-None-Match %q: want gzip, and no body", load.Rows[1][7], load.Rows[2][7])
	}
	if len(sizes.Rows) != 2 || !strings.HasPrefix(sizes.Rows[1][5], "✅") {
		t.Fatalf("sizes %v", sizes.Rows)
	}
}
