package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// The load section's requests come from a generator in a process of its
// own: this program started again with LoadgenArg (ChildMain), reading
// one loadSpec on its standard input and writing one loadReport on its
// standard output. The server's process then runs the server only, and
// the generator's goroutines, connections and garbage are not the
// server's (they still share the machine's cores). The bearer token goes
// through the pipe, never on a command line.
const LoadgenArg = "-bucketdesk-bench-loadgen"

// loadSpec is one measured row: GET URL with Headers at Rate for
// Duration, after a warm-up of Warmup at the same rate.
type loadSpec struct {
	URL      string            `json:"url"`
	Headers  map[string]string `json:"headers"`
	Rate     float64           `json:"rate"`
	Duration time.Duration     `json:"duration"`
	Warmup   time.Duration     `json:"warmup"`
	// Timeout bounds each request from when it is sent; a later
	// answer is a timeout, counted as an error.
	Timeout time.Duration `json:"timeout"`
	// Status is the answer expected (200, or 304 for If-None-Match);
	// any other is an error.
	Status int `json:"status"`
}

// loadReport is what the generator measured (the warm-up left out).
type loadReport struct {
	Sent int `json:"sent"`
	// Latencies of the answers, from each request's scheduled time.
	Latencies []time.Duration `json:"latencies"`
	Errors    int             `json:"errors"`
	Timeouts  int             `json:"timeouts"`
	// WireBytes are the answers' bodies as sent (gzip-encoded or not),
	// Bytes the same decoded; Encoded counts the gzip-encoded answers.
	WireBytes int64         `json:"wire_bytes"`
	Bytes     int64         `json:"bytes"`
	Encoded   int           `json:"encoded"`
	Elapsed   time.Duration `json:"elapsed"`
	// FirstError says why the first failed request failed.
	FirstError string `json:"first_error,omitempty"`
	// PID is the generator's process.
	PID int `json:"pid"`
}

// loadgenMain is the generator process: one spec in, one report out.
func loadgenMain(in io.Reader, out io.Writer) int {
	var spec loadSpec
	if err := json.NewDecoder(in).Decode(&spec); err != nil {
		fmt.Fprintf(os.Stderr, "load generator: read the spec: %v\n", err)
		return 2
	}
	rep := generate(context.Background(), spec)
	if err := json.NewEncoder(out).Encode(rep); err != nil {
		fmt.Fprintf(os.Stderr, "load generator: write the report: %v\n", err)
		return 1
	}
	return 0
}

// generate runs spec in this process: an open loop (Load) of GETs sent as
// a browser sends them, with the spec's headers (Accept-Encoding: gzip),
// each answer read whole and decoded.
func generate(ctx context.Context, spec loadSpec) loadReport {
	tr := &http.Transport{
		// The generator asks for gzip itself and decodes, so that it sees
		// the bytes on the wire.
		DisableCompression:  true,
		MaxIdleConns:        8192,
		MaxIdleConnsPerHost: 8192,
		IdleConnTimeout:     time.Minute,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	if spec.Timeout <= 0 {
		spec.Timeout = time.Second
	}
	if spec.Status == 0 {
		spec.Status = http.StatusOK
	}
	var (
		measuring         atomic.Bool
		timeouts, encoded atomic.Int64
		wire, plain       atomic.Int64
		firstErr          sync.Once
		firstError        string
		bufs              = sync.Pool{New: func() any { return new(bytes.Buffer) }}
		zrs               sync.Pool
	)
	fail := func(err error) error {
		if measuring.Load() {
			if errors.Is(err, context.DeadlineExceeded) {
				timeouts.Add(1)
			}
			firstErr.Do(func() { firstError = err.Error() })
		}
		return err
	}
	do := func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, spec.URL, nil)
		if err != nil {
			return fail(err)
		}
		for k, v := range spec.Headers {
			req.Header.Set(k, v)
		}
		res, err := client.Do(req)
		if err != nil {
			return fail(err)
		}
		defer res.Body.Close()
		b := bufs.Get().(*bytes.Buffer)
		defer bufs.Put(b)
		b.Reset()
		if _, err := b.ReadFrom(res.Body); err != nil {
			return fail(err)
		}
		if res.StatusCode != spec.Status {
			return fail(fmt.Errorf("GET %s: %s, want %d", spec.URL, res.Status, spec.Status))
		}
		n := int64(b.Len())
		if res.Header.Get("Content-Encoding") == "gzip" {
			zr, _ := zrs.Get().(*gzip.Reader)
			if zr == nil {
				zr, err = gzip.NewReader(b)
			} else {
				err = zr.Reset(b)
			}
			if err != nil {
				return fail(fmt.Errorf("gzip: %w", err))
			}
			m, err := io.Copy(io.Discard, zr)
			zrs.Put(zr)
			if err != nil {
				return fail(fmt.Errorf("gzip: %w", err))
			}
			if measuring.Load() {
				encoded.Add(1)
			}
			plain.Add(m)
		} else {
			plain.Add(n)
		}
		wire.Add(n)
		return nil
	}
	if spec.Warmup > 0 {
		Load{Rate: spec.Rate, Duration: spec.Warmup, Do: do}.Run(ctx)
	}
	wire.Store(0)
	plain.Store(0)
	measuring.Store(true)
	res := Load{Rate: spec.Rate, Duration: spec.Duration, Do: do}.Run(ctx)
	rep := loadReport{
		Sent: res.Sent, Errors: res.Latency.Errors(), Timeouts: int(timeouts.Load()),
		WireBytes: wire.Load(), Bytes: plain.Load(), Encoded: int(encoded.Load()), Elapsed: res.Elapsed, FirstError: firstError,
		PID: os.Getpid(),
	}
	res.Latency.mu.Lock()
	rep.Latencies = res.Latency.samples
	res.Latency.mu.Unlock()
	return rep
}

// runOutside runs spec in a generator process of its own (this program
// again) and returns its report.
func runOutside(ctx context.Context, spec loadSpec) (loadReport, error) {
	exe, err := os.Executable()
	if err != nil {
		return loadReport{}, err
	}
	in, err := json.Marshal(spec)
	if err != nil {
		return loadReport{}, err
	}
	cmd := exec.CommandContext(ctx, exe, LoadgenArg)
	cmd.Stdin = bytes.NewReader(in)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return loadReport{}, fmt.Errorf("load generator: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	var rep loadReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		return loadReport{}, fmt.Errorf("load generator: its report: %v", err)
	}
	return rep, nil
}

// recorder returns the report's latencies and errors as a Recorder.
func (r loadReport) recorder() *Recorder {
	rec := NewRecorder(len(r.Latencies))
	rec.samples = append(rec.samples, r.Latencies...)
	rec.errors = r.Errors
	return rec
}
