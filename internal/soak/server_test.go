package soak

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseRunningURL(t *testing.T) {
	u, ok := ParseRunningURL("bucketdesk is running at http://127.0.0.1:43121 (sandbox CloudFormation; data in /tmp/x)")
	if !ok || u != "http://127.0.0.1:43121" {
		t.Errorf("%q %v", u, ok)
	}
	if _, ok := ParseRunningURL("  log in as alice or bob"); ok {
		t.Error("not the line")
	}
}

func TestRedactor(t *testing.T) {
	var out bytes.Buffer
	r := &redactor{w: &out, secret: []byte("s3cr3t-pass")}
	for _, chunk := range []string{"password s3cr", "3t-pass in a line\n", "s3cr3t-pass\n", "no secret, s3c"} {
		r.Write([]byte(chunk))
	}
	r.flush()
	got := out.String()
	if strings.Contains(got, "s3cr3t") || strings.Count(got, "[redacted]") != 2 || !strings.HasSuffix(got, "no secret, s3c") {
		t.Errorf("%q", got)
	}
}

// fakeBin writes a shell script standing in for bucketdesk.
func fakeBin(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-bucketdesk")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStartServerReportsUnknownFlag(t *testing.T) {
	bin := fakeBin(t, `echo "flag provided but not defined: -history-retention" >&2
echo "Usage: bucketdesk serve [flags]" >&2
echo "  -addr string" >&2
exit 2
`)
	_, err := StartServer(t.Context(), ServerOptions{Bin: bin, DataDir: t.TempDir(), Args: []string{"--history-retention", "1m"}, StartTimeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "does not know the flag -history-retention") {
		t.Fatalf("err = %v", err)
	}
}

func TestStartServerAndStop(t *testing.T) {
	bin := fakeBin(t, `trap 'echo stopping >&2; exit 0' TERM
echo "starting with password $BUCKETDESK_DEMO_PASSWORD" >&2
echo "args: $*" >&2
echo
echo "bucketdesk is running at http://127.0.0.1:4567 (sandbox CloudFormation; data in x)"
while :; do sleep 0.05; done
`)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s, err := StartServer(ctx, ServerOptions{Bin: bin, DataDir: dir, Args: []string{"--reconcile-every", "10s"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Kill()
	if s.URL != "http://127.0.0.1:4567" || s.PID() <= 0 || s.Password == "" {
		t.Fatalf("%+v", s)
	}
	if done, _ := s.Exited(); done {
		t.Fatal("exited")
	}
	how, err := s.Stop(10 * time.Second)
	if err != nil || !strings.HasPrefix(how, "exited 0") {
		t.Fatalf("stop: %q %v", how, err)
	}
	log, err := os.ReadFile(s.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	l := string(log)
	if strings.Contains(l, s.Password) || !strings.Contains(l, "password [redacted]") {
		t.Errorf("the password reached the log:\n%s", l)
	}
	if !strings.Contains(l, "args: serve --addr 127.0.0.1:0 --data-dir "+dir+" --reconcile-every 10s") || !strings.Contains(l, "stopping") {
		t.Errorf("log:\n%s", l)
	}
	s.Kill() // after the exit: nothing to do
}

func TestParseArgs(t *testing.T) {
	var errs bytes.Buffer
	c, err := ParseArgs([]string{"--realistic", "--short-retention", "--server-flag=--workers=8", "--", "--log-level", "debug"}, &errs)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(c.ServerArgs(), " ")
	if got != "--reconcile-every 10s --history-retention 1m --sandbox-retention 1m --workers=8 --log-level debug" {
		t.Errorf("server args %q", got)
	}
	if c.Settle != 12*time.Second || c.Duration != 3*time.Minute || c.Clients != 4 || c.Names != 10 || c.Bin != "bin/bucketdesk" {
		t.Errorf("%+v", c)
	}
	c, _ = ParseArgs(nil, &errs)
	if got := strings.Join(c.ServerArgs(), " "); got != "--sandbox-delay 50ms --sandbox-latency 2ms --sandbox-rate 200 --cloud-rate 100 --reconcile-every 10s" {
		t.Errorf("default server args %q", got)
	}
	if _, err := ParseArgs([]string{"--clients", "0"}, &errs); err == nil {
		t.Error("0 clients accepted")
	}
	if Main([]string{"--help"}, &errs, &errs) != 0 || !strings.Contains(errs.String(), "-drain-timeout duration") {
		t.Error("--help")
	}
	if Main([]string{"--delete-prob", "2"}, &errs, &errs) != 2 {
		t.Error("bad flag not status 2")
	}
}
