package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"bucketdesk/internal/core"
)

// loadTimeout bounds each request of the load section from when it is
// sent: a later answer is a timeout, counted as an error.
const loadTimeout = time.Second

// underLoad is section 2: GET and LIST of the largest project at
// constant rates, open loop, from a generator in its own process that
// asks for gzip and decodes as a browser does; then LIST again with
// If-None-Match naming the list it holds (304s). With o.Quick only the
// highest rate is measured.
func underLoad(ctx context.Context, e *env, o Options) []Table {
	n := o.Sizes[len(o.Sizes)-1]
	pid := e.projects[n]
	listPath := "/api/projects/" + pid + "/buckets"
	getPath := listPath + "/" + bucketName(n, n/2)
	rates := o.Rates
	warmup := o.Duration / 10
	if o.Quick {
		rates = rates[len(rates)-1:]
	}
	top := rates[len(rates)-1]
	t := Table{
		Title:  fmt.Sprintf("The API under a constant request rate (open loop, generator in its own process, project of %d buckets)", n),
		Header: []string{"Request", "Rate (req/s)", "Sent", "p50", "p99", "max", "Errors (timeouts)", "Bytes / answer on the wire", "Target"},
	}
	type row struct {
		req     string
		path    string
		rate    float64
		inm     bool
		targets func(p99 time.Duration) string
	}
	var rows []row
	for _, rate := range rates {
		rows = append(rows, row{req: "GET", path: getPath, rate: rate, targets: func(p99 time.Duration) string {
			if rate == 1000 {
				return mark(p99 < 5*time.Millisecond) + " p99 < 5 ms"
			}
			return ""
		}})
	}
	for _, rate := range rates {
		rows = append(rows, row{req: "LIST", path: listPath, rate: rate, targets: func(p99 time.Duration) string {
			if rate == 2000 {
				return mark(p99 < 10*time.Millisecond) + " p99 < 10 ms"
			}
			return ""
		}})
	}
	rows = append(rows, row{req: "LIST, If-None-Match (304)", path: listPath, rate: top, inm: true})
	etag, err := e.listETag(ctx, listPath)
	if err != nil {
		t.Notes = append(t.Notes, "Not measured: "+err.Error())
		return []Table{t}
	}
	for _, r := range rows {
		fmt.Fprintf(o.Log, "bench: %s at %g req/s for %s (outside generator)…\n", r.req, r.rate, o.Duration)
		spec := loadSpec{
			URL: e.hs.URL + r.path, Rate: r.rate, Duration: o.Duration, Warmup: warmup, Timeout: loadTimeout, Status: http.StatusOK,
			Headers: map[string]string{"Authorization": "Bearer " + e.token, "Accept-Encoding": "gzip, deflate, br, zstd"},
		}
		if r.inm {
			spec.Headers["If-None-Match"] = etag
			spec.Status = http.StatusNotModified
		}
		rep, err := runOutside(ctx, spec)
		if err != nil {
			t.Rows = append(t.Rows, []string{r.req, strconv.FormatFloat(r.rate, 'f', -1, 64), "not measured: " + err.Error(), "", "", "", "", "", ""})
			continue
		}
		rec := rep.recorder()
		p99 := rec.Percentile(99)
		target := ""
		if r.targets != nil {
			target = r.targets(p99)
		}
		errs := strconv.Itoa(rep.Errors)
		if rep.Errors > 0 {
			errs += fmt.Sprintf(" (%d)", rep.Timeouts)
		}
		wire := ""
		if got := rec.Count(); got > 0 {
			wire = strconv.FormatInt(rep.WireBytes/int64(got), 10)
			if rep.Encoded > 0 {
				wire += fmt.Sprintf(" gzip (%d decoded)", rep.Bytes/int64(got))
			}
		}
		t.Rows = append(t.Rows, []string{r.req, strconv.FormatFloat(r.rate, 'f', -1, 64), strconv.Itoa(rep.Sent),
			Ms(rec.Percentile(50)), Ms(p99), Ms(rec.Max()), errs, wire, target})
		if rep.FirstError != "" {
			t.Notes = append(t.Notes, fmt.Sprintf("%s at %g req/s, first error: %s", r.req, r.rate, rep.FirstError))
		}
	}
	t.Notes = append(t.Notes, fmt.Sprintf("Each row is %s at a fixed schedule, after a warm-up of a tenth of it at the same rate, from a generator in a process of its own (`bucketdesk-bench` started again), which sends `Accept-Encoding: gzip, deflate, br, zstd` as a browser does and decodes every gzip answer; it shares the machine's %d cores with the server. Latency is measured from each request's scheduled send time, so a stall of the server or of the generator counts against every request due during it (no coordinated omission); a request not answered within %s of being sent is a timeout, counted as an error, as is one due while 4,096 are in flight. The If-None-Match row names the list's current entity tag: each answer is a 304 without a body. Targets: GET at 1,000 req/s, LIST at 2,000 req/s.", o.Duration, numCPU(), loadTimeout))
	if o.Quick {
		t.Notes = append(t.Notes, fmt.Sprintf("With --quick only %g req/s is measured.", top))
	}
	return []Table{t, listSizes(ctx, e, n, listPath)}
}

// listETag reads the list once and returns its entity tag.
func (e *env) listETag(ctx context.Context, path string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", e.hs.URL+path, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	res, err := e.client.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("ETag") == "" {
		return "", fmt.Errorf("GET %s: %s, ETag %q", path, res.Status, res.Header.Get("ETag"))
	}
	return res.Header.Get("ETag"), nil
}

// listSizes is the load section's second table: the bytes per resource of
// the project's LIST, plain and gzip-encoded, as the API answers it now
// (list rows) and as the whole resources it answered before would weigh
// (each operation with its latest event only, as it was sent).
func listSizes(ctx context.Context, e *env, n int, path string) Table {
	t := Table{
		Title:  fmt.Sprintf("What a LIST of %d buckets puts on the wire", n),
		Header: []string{"List items", "Plain", "Plain / resource", "gzip", "gzip / resource", "Target"},
	}
	count := func(plain []byte) int {
		var v struct {
			Items []json.RawMessage `json:"items"`
		}
		json.Unmarshal(plain, &v)
		return max(1, len(v.Items))
	}
	row := func(label string, plain, zipped []byte, target bool) []string {
		k := count(plain)
		cell := ""
		if target {
			cell = mark(len(zipped)/k <= 300) + " ≤ 300 B compressed"
		}
		return []string{label, strconv.Itoa(len(plain)) + " B", strconv.Itoa(len(plain)/k) + " B", strconv.Itoa(len(zipped)) + " B", strconv.Itoa(len(zipped)/k) + " B", cell}
	}
	rs, err := e.l.Engine.Service.List(ctx, core.Principal{User: "alice"}, e.projects[n], core.KindBucket)
	if err == nil {
		for i, r := range rs {
			rs[i] = r.WithLatestEvent()
		}
		var whole []byte
		if whole, err = json.Marshal(struct {
			Items []*core.Resource `json:"items"`
		}{rs}); err == nil {
			t.Rows = append(t.Rows, row("whole resources (the list's former shape, computed)", whole, gzipped(whole), false))
		}
	}
	plain, _, err1 := e.getBody(ctx, path, "")
	zipped, enc, err2 := e.getBody(ctx, path, "gzip")
	switch {
	case err1 != nil || err2 != nil:
		t.Notes = append(t.Notes, fmt.Sprintf("Not measured: %v %v", err1, err2))
	case enc != "gzip":
		t.Notes = append(t.Notes, "The API did not answer gzip for Accept-Encoding: gzip.")
	default:
		t.Rows = append(t.Rows, row("list rows (the API's answer)", plain, zipped, true))
	}
	t.Notes = append(t.Notes, "The API's answer is read twice, without and with `Accept-Encoding: gzip`; gzip is the encoding the server keeps with the list (default level), paid once per change of the project. The former shape is the same resources encoded whole, as lists were sent before they carried rows (details are one GET away now).")
	return t
}

// getBody reads path with Accept-Encoding ae ("" for none) and returns the
// body as sent and its Content-Encoding.
func (e *env) getBody(ctx context.Context, path, ae string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", e.hs.URL+path, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	if ae != "" {
		req.Header.Set("Accept-Encoding", ae)
	}
	// Without the transport's own gzip handling, which would decode it.
	res, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", path, res.Status)
	}
	return b, res.Header.Get("Content-Encoding"), err
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.DefaultCompression)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}
