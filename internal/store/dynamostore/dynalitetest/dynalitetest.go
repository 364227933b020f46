// Package dynalitetest starts dynalite, the local DynamoDB stand-in, for
// tests, and builds SDK clients that talk to it and to nothing else.
//
// dynalite is the npm package pinned in tests/dynalite (install it with
// `npm ci --prefix tests/dynalite`, which `make deps` runs). When node or
// that install is missing, Start skips the test loudly, or fails it when
// the environment sets BUCKETDESK_REQUIRE_STANDINS=1, as CI does: a
// stand-in test never passes silently.
//
// It is for tests only. dynalite speaks DynamoDB's wire protocol but has
// no transactions, no TTL expiry and no PartiQL, and its timings say
// nothing about DynamoDB's.
package dynalitetest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"bucketdesk/internal/store/dynamostore"
)

// RequireEnv is the environment variable that turns a missing stand-in
// from a skip into a failure.
const RequireEnv = "BUCKETDESK_REQUIRE_STANDINS"

// installHint is what to run when dynalite is missing.
const installHint = "npm ci --prefix tests/dynalite"

// startTimeout bounds the wait for dynalite to answer.
const startTimeout = 15 * time.Second

// Start starts a dynalite process on a free local port, waits until it
// answers, and returns its endpoint ("http://127.0.0.1:N"). The process
// (its whole process group) is killed at the test's cleanup. Tables
// created on it are in memory and instant.
func Start(tb testing.TB) (endpoint string) {
	tb.Helper()
	cli := locate(tb)
	var last error
	// A free port may be taken between probing and binding: try again.
	for range 3 {
		endpoint, err := start(tb, cli)
		if err == nil {
			return endpoint
		}
		last = err
	}
	tb.Fatalf("dynalitetest: %v", last)
	return ""
}

// locate returns the path of dynalite's cli.js, or skips (fails when
// required) the test with what to run.
func locate(tb testing.TB) string {
	tb.Helper()
	missing := func(format string, args ...any) {
		tb.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("dynalitetest: %s; %s=1 requires the DynamoDB stand-in: run `%s` at the repository root", msg, RequireEnv, installHint)
		}
		tb.Skipf("SKIPPED: DynamoDB stand-in missing: %s; run `%s` at the repository root (set %s=1 to make this a failure)", msg, installHint, RequireEnv)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("node is not on PATH (install Node.js 20 or later)")
	}
	root, err := repoRoot()
	if err != nil {
		missing("%v", err)
	}
	cli := filepath.Join(root, "tests", "dynalite", "node_modules", "dynalite", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		missing("%s not found", cli)
	}
	return cli
}

// repoRoot walks up from the working directory (a test's package folder)
// to the folder that holds go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// start runs one dynalite and waits for it; on error nothing is left
// running.
func start(tb testing.TB, cli string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("node", cli,
		"--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so that cleanup kills node and anything it
	// started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start dynalite: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	stop := func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitReady(endpoint, exited); err != nil {
		stop()
		return "", fmt.Errorf("dynalite on %s: %w; its output:\n%s", endpoint, err, out.String())
	}
	tb.Cleanup(stop)
	return endpoint, nil
}

// waitReady polls endpoint until it answers any HTTP response, the process
// exits, or startTimeout passes. Polling is the only way to learn that a
// child process listens.
func waitReady(endpoint string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := client.Post(endpoint, "application/x-amz-json-1.0", bytes.NewReader([]byte("{}")))
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited before answering")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer within %s: %w", startTimeout, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Client returns a DynamoDB client for endpoint with everything set
// explicitly, so that nothing reads ~/.aws or the environment: region
// us-east-1, static credentials, one attempt (no SDK retries, so a test
// sees every error). optFns adjust it further (an HTTP client that
// records requests, say).
//
// Response bodies are read whole before the SDK sees them. With the SDK
// reading a large body (a Query of 200 items, ~150 KB) as it decodes,
// about one request in a thousand against dynalite failed with "use of
// closed network connection"; the same requests sent and read by plain
// net/http never did, nor did the SDK once bodies were read eagerly. With
// one attempt that would fail a test at random. See the package tests'
// notes; the cause is not known.
func Client(endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	opts := dynamodb.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("x", "x", ""),
		BaseEndpoint:     aws.String(endpoint),
		RetryMaxAttempts: 1,
		HTTPClient:       eagerClient{next: &http.Client{}},
	}
	return dynamodb.New(opts, optFns...)
}

// eagerClient reads each response body whole before returning it.
type eagerClient struct{ next *http.Client }

// Do sends req and buffers the response body.
func (c eagerClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.next.Do(req)
	if err != nil {
		return resp, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read response body: %w", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, nil
}

// tables numbers the tables of one test binary.
var tables struct {
	mu sync.Mutex
	n  int
}

// CreateTable creates a fresh bucketdesk table with a unique name through
// client (on dynalite: instant) and returns its name. Tests share one
// dynalite and take a table each.
func CreateTable(tb testing.TB, client *dynamodb.Client) string {
	tb.Helper()
	tables.mu.Lock()
	tables.n++
	name := fmt.Sprintf("bucketdesk-test-%d-%d", os.Getpid(), tables.n)
	tables.mu.Unlock()
	if err := dynamostore.CreateTable(tb.Context(), client, name); err != nil {
		tb.Fatalf("dynalitetest: create table %s: %v", name, err)
	}
	return name
}

// syncBuffer collects a process's output, written from exec's copying
// goroutines and read on failure.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
