// Package dynalitetest starts dynalite, the local DynamoDB stand-in, for
// tests (through package dynalite), and makes a table per test.
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
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"bucketdesk/internal/store/dynamostore"
	"bucketdesk/internal/store/dynamostore/dynalite"
)

// RequireEnv is the environment variable that turns a missing stand-in
// from a skip into a failure.
const RequireEnv = "BUCKETDESK_REQUIRE_STANDINS"

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
		endpoint, stop, err := dynalite.Launch(cli)
		if err == nil {
			tb.Cleanup(stop)
			return endpoint
		}
		last = err
	}
	tb.Fatalf("dynalitetest: %v", fmt.Errorf("after 3 tries: %w", last))
	return ""
}

// locate returns the path of dynalite's cli.js, or skips (fails when
// required) the test with what to run.
func locate(tb testing.TB) string {
	tb.Helper()
	cli, err := dynalite.CLI()
	if errors.Is(err, dynalite.ErrMissing) {
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("dynalitetest: %v; %s=1 requires the DynamoDB stand-in: run `%s` at the repository root", err, RequireEnv, dynalite.InstallHint)
		}
		tb.Skipf("SKIPPED: DynamoDB stand-in missing: %v; run `%s` at the repository root (set %s=1 to make this a failure)", err, dynalite.InstallHint, RequireEnv)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return cli
}

// Client returns a DynamoDB client for endpoint; see dynalite.Client.
func Client(endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynalite.Client(endpoint, optFns...)
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
