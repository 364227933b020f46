package main

import (
	"bucketdesk/internal/cloud/simcloud"
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/store/boltstore"
)

func TestVersionAndHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "bucketdesk ") {
		t.Fatalf("version: %d %q %q", code, out.String(), errb.String())
	}
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"version", "--help"}} {
		out.Reset()
		errb.Reset()
		if code := run(t.Context(), args, &out, &errb); code != 0 || !strings.Contains(out.String()+errb.String(), "Usage") {
			t.Errorf("%v: exit %d, output %q", args, code, out.String()+errb.String())
		}
	}
	errb.Reset()
	if code := run(t.Context(), []string{"frobnicate"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, errb.String())
	}
	errb.Reset()
	if code := run(t.Context(), []string{"serve", "--log-level", "loud"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--log-level") {
		t.Errorf("bad flag value: exit %d, %q", code, errb.String())
	}
}

// serve starts on an empty data directory, creates the demo project and
// its demo resources, and stops cleanly when its context ends.
func TestServeStartsAndStops(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	var out bytes.Buffer
	errb := &watchWriter{want: "operation finished", seen: make(chan struct{})}
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--sandbox-delay", "0s", "--sandbox-latency", "0s", "--log-json"}, &out, errb)
	}()
	// Stop once a demo resource went through the whole engine.
	select {
	case <-errb.seen:
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, errb.String())
	case <-time.After(time.Minute):
		t.Fatalf("no demo operation finished within a minute; log: %s", errb.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d: %s", code, errb.String())
	}
	s, err := boltstore.Open(dir+"/bucketdesk.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.GetProject(t.Context(), "demo")
	if err != nil || !p.IsMember(core.Principal{User: "alice"}) || !p.IsMember(core.Principal{User: "bob"}) {
		t.Fatalf("demo project: %+v %v", p, err)
	}
	items, _, err := s.ListResources(t.Context(), "demo", core.Page{})
	if err != nil || len(items) != 2 {
		t.Fatalf("demo resources: %d %v", len(items), err)
	}
}

// watchWriter collects output and closes seen once want was written.
type watchWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestParseFailRate(t *testing.T) {
	f, err := parseFailRate(" create=0.1, delete=1 ")
	if err != nil || f.Create != 0.1 || f.Update != 0 || f.Delete != 1 {
		t.Fatalf("%+v %v", f, err)
	}
	if f, err := parseFailRate(""); err != nil || f != (simcloud.FailRate{}) {
		t.Fatalf("empty: %+v %v", f, err)
	}
	for _, bad := range []string{"create", "create=2", "create=-0.1", "rename=0.1", "create=x"} {
		if _, err := parseFailRate(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
