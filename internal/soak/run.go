// Package soak is bucketdesk-soak: it starts a real `bucketdesk serve` on a
// loopback port with a fresh data directory, churns bucket names (create,
// update, delete, create again…) from a few clients for a bounded time
// without waiting for operations, drains, and reports as Markdown what
// became of every accepted operation, whether the cache still mirrors the
// sandbox CloudFormation, and how the data directory and the server's
// memory grew.
package soak

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"bucketdesk/internal/core"
)

// Config is what the flags say.
type Config struct {
	Bin          string
	DataDir      string
	KeepFailed   bool
	Duration     time.Duration
	Clients      int
	Names        int
	Seed         uint64
	DeleteProb   float64
	Pause        time.Duration
	DrainTimeout time.Duration
	Reconcile    time.Duration
	Settle       time.Duration
	Sample       time.Duration
	Realistic    bool
	ShortRetain  bool
	ServerFlags  []string
	Out          string
	HTTPTimeout  time.Duration
	StartTimeout time.Duration
	// CompareDir, when set, only compares a stopped server's data
	// directory and prints that table.
	CompareDir string
}

// ServerArgs are the scenario's flags for `bucketdesk serve`.
func (c *Config) ServerArgs() []string {
	var a []string
	if !c.Realistic {
		a = append(a, "--sandbox-delay", "50ms", "--sandbox-latency", "2ms", "--sandbox-rate", "200", "--cloud-rate", "100")
	}
	a = append(a, "--reconcile-every", c.Reconcile.String())
	if c.ShortRetain {
		a = append(a, "--history-retention", "1m", "--sandbox-retention", "1m")
	}
	return append(a, c.ServerFlags...)
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

const usageText = `Usage: bucketdesk-soak [flags] [-- extra serve flags]

Starts a real bucketdesk server (bucketdesk serve on 127.0.0.1, a fresh
data directory, a random demo password), churns bucket names in project
"demo" from a few clients for --duration (GET the name; 404: create it;
otherwise update its tags or delete it; never waiting for operations), then
drains, waits for a reconcile pass, stops the server and prints Markdown
tables: operations by action and outcome, refused requests, unexpected
outcomes (target 0), the cache against the sandbox (target 0 mismatches)
and the growth of the data directory and of the server's memory.

Exit status: 0 when there was no unexpected outcome and no mismatch, 1
otherwise (or when the server could not be started), 2 for bad flags.
Ctrl-C stops the churn and goes on to drain and report; a second Ctrl-C
skips the remaining waits; a third aborts.

Server flags passed by default: --sandbox-delay 50ms --sandbox-latency 2ms
--sandbox-rate 200 --cloud-rate 100 --reconcile-every 10s (--realistic:
only --reconcile-every, the sandbox keeps its realistic defaults).

Flags:
`

// ParseArgs reads the flags; flag.ErrHelp when help was asked for.
func ParseArgs(args []string, stderr io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("bucketdesk-soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var serverFlags multiFlag
	var seed int64
	fs.StringVar(&c.Bin, "bin", "bin/bucketdesk", "the bucketdesk binary to run (make build makes bin/bucketdesk)")
	fs.StringVar(&c.DataDir, "data-dir", "", "the server's data directory, kept after the run (default: a fresh temporary directory, removed at the end)")
	fs.BoolVar(&c.KeepFailed, "keep-failed", true, "keep the temporary data directory (and the server log in it) when the run finds problems")
	fs.DurationVar(&c.Duration, "duration", 3*time.Minute, "how long the clients churn")
	fs.IntVar(&c.Clients, "clients", 4, "concurrent clients")
	fs.IntVar(&c.Names, "names", 10, "bucket names per client (soak-<run>-<client>-<i>)")
	fs.Int64Var(&seed, "seed", 1, "seed of the clients' choices between update and delete")
	fs.Float64Var(&c.DeleteProb, "delete-prob", 0.5, "probability that an existing bucket is deleted rather than its tags updated")
	fs.DurationVar(&c.Pause, "pause", 20*time.Millisecond, "each client's pause after each request")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 2*time.Minute, "how long to wait after the churn for every accepted operation to end")
	fs.DurationVar(&c.Reconcile, "reconcile-every", 10*time.Second, "the server's --reconcile-every")
	fs.DurationVar(&c.Settle, "settle", 0, "wait after the drain so that the reconciler runs once more (default: --reconcile-every + 2s)")
	fs.DurationVar(&c.Sample, "sample", 10*time.Second, "how often to sample the data files' sizes and the server's RSS")
	fs.BoolVar(&c.Realistic, "realistic", false, "the sandbox's realistic defaults (1.5 s per resource, 100 ms per call, 5 calls/s) instead of the fast scenario")
	fs.BoolVar(&c.ShortRetain, "short-retention", false, "also pass --history-retention 1m --sandbox-retention 1m (the server must know these flags)")
	fs.Var(&serverFlags, "server-flag", "an extra flag for bucketdesk serve, e.g. --server-flag=--history-retention=2m (repeatable; arguments after -- are passed too)")
	fs.StringVar(&c.Out, "out", "", "also write the report to this file")
	fs.DurationVar(&c.HTTPTimeout, "http-timeout", 30*time.Second, "timeout of each HTTP request")
	fs.DurationVar(&c.StartTimeout, "start-timeout", time.Minute, "how long the server may take to start")
	fs.StringVar(&c.CompareDir, "compare", "", "start nothing: only compare the cache with the sandbox in this data directory of a stopped server (e.g. one a failed run kept) and print that table")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c.Seed = uint64(seed)
	c.ServerFlags = append(serverFlags, fs.Args()...)
	if c.Settle == 0 {
		c.Settle = c.Reconcile + 2*time.Second
	}
	var bad []string
	if c.Clients < 1 || c.Clients > 100 {
		bad = append(bad, "--clients must be 1 to 100")
	}
	if c.Names < 1 || c.Names > 1000 {
		bad = append(bad, "--names must be 1 to 1000")
	}
	if c.Duration <= 0 || c.Sample <= 0 || c.Reconcile <= 0 || c.HTTPTimeout <= 0 || c.DrainTimeout < 0 || c.Pause < 0 || c.Settle < 0 {
		bad = append(bad, "durations must be positive")
	}
	if c.DeleteProb < 0 || c.DeleteProb > 1 {
		bad = append(bad, "--delete-prob must be in [0, 1]")
	}
	if len(bad) > 0 {
		err := errors.New(strings.Join(bad, "; "))
		fmt.Fprintf(stderr, "bucketdesk-soak: %v\n", err)
		return nil, err
	}
	return c, nil
}

// Main runs the command and returns its exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	c, err := ParseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	if c.CompareDir != "" {
		return compareOnly(c.CompareDir, stdout, stderr)
	}
	return Run(c, stdout, stderr)
}

// compareOnly compares the files of a stopped server's data directory:
// every stack and item of the demo project.
func compareOnly(dir string, stdout, stderr io.Writer) int {
	r := &Report{}
	fc, err := CompareFiles(context.Background(), dir, Project, nil)
	if err != nil {
		r.CompareErr = err.Error()
	} else {
		r.Comparison = fc
	}
	var b strings.Builder
	r.comparisonSection(&b)
	if fc != nil {
		fmt.Fprintf(&b, "Sandbox statistics: `%+v`\n", fc.SandboxStats)
	}
	io.WriteString(stdout, b.String())
	if err != nil || len(fc.Mismatches) > 0 {
		return 1
	}
	return 0
}

// Project is the project the soak works in: the demo project of serve.
const Project = "demo"

func newRunID() string {
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Run runs one soak as configured.
func Run(c *Config, stdout, stderr io.Writer) int {
	say := func(format string, args ...any) { fmt.Fprintf(stderr, "soak: "+format+"\n", args...) }

	// First Ctrl-C: stop the churn; second: skip the waits; third: abort.
	churnCtx, stopChurn := context.WithCancel(context.Background())
	waitCtx, stopWaiting := context.WithCancel(context.Background())
	hardCtx, abort := context.WithCancel(context.Background())
	defer stopChurn()
	defer stopWaiting()
	defer abort()
	var running atomic.Pointer[Server]
	sigs := make(chan os.Signal, 3)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		n := 0
		for range sigs {
			n++
			switch n {
			case 1:
				say("interrupted: stopping the churn; draining and reporting next (interrupt again to skip the waits)")
				stopChurn()
			case 2:
				say("interrupted again: skipping the waits (once more aborts)")
				stopChurn()
				stopWaiting()
			default:
				say("aborting")
				abort()
				if s := running.Load(); s != nil {
					s.Kill()
				}
				os.Exit(130)
			}
		}
	}()

	dir, temp := c.DataDir, c.DataDir == ""
	var err error
	if temp {
		dir, err = os.MkdirTemp("", "bucketdesk-soak-")
	} else {
		err = os.MkdirAll(dir, 0o700)
	}
	if err == nil {
		dir, err = filepath.Abs(dir)
	}
	if err != nil {
		say("data directory: %v", err)
		return 1
	}
	runID := newRunID()
	opts := ChurnOptions{Project: Project, RunID: runID, Clients: c.Clients, Names: c.Names, Seed: c.Seed, DeleteProb: c.DeleteProb, Pause: c.Pause}
	names := opts.AllNames()
	for _, n := range names {
		if p := core.BucketNameProblems(n); len(p) > 0 {
			say("bucket name %q: %s", n, strings.Join(p, "; "))
			return 2
		}
	}

	serverArgs := c.ServerArgs()
	say("starting %s serve %s (data in %s)", c.Bin, strings.Join(serverArgs, " "), dir)
	srv, err := StartServer(hardCtx, ServerOptions{Bin: c.Bin, DataDir: dir, Args: serverArgs, StartTimeout: c.StartTimeout})
	if err != nil {
		say("%v", err)
		if temp && !c.KeepFailed {
			os.RemoveAll(dir)
		} else {
			say("data directory kept: %s", dir)
		}
		return 1
	}
	defer srv.Kill()
	running.Store(srv)
	say("server at %s (pid %d); its log: %s", srv.URL, srv.PID(), srv.LogPath)

	api := NewAPI(srv.URL, c.HTTPTimeout, c.Clients+8)
	defer api.Close()
	if err := api.Login(hardCtx, "alice", srv.Password); err != nil {
		say("%v", err)
		say("data directory kept: %s", dir)
		return 1
	}

	start := time.Now()
	rec := NewRecorder(start)
	var phase atomic.Value
	phase.Store("start")

	// The server exiting on its own is an unexpected outcome and ends the
	// run's waits.
	var stopping atomic.Bool
	go func() {
		select {
		case <-srv.Done():
		case <-hardCtx.Done():
			return
		}
		if !stopping.Load() {
			_, err := srv.Exited()
			rec.Note(Finding{Kind: "server", Detail: "the server exited during the " + phase.Load().(string) + ": " + errOrZero(err) + " (see its log)"})
			say("the server exited unexpectedly (%s)", errOrZero(err))
			stopChurn()
			stopWaiting()
		}
	}()

	// Samples of the footprint, every c.Sample.
	var (
		smu     sync.Mutex
		samples []Sample
	)
	sample := func(label string) Sample {
		pid := srv.PID()
		if done, _ := srv.Exited(); done {
			pid = 0
		}
		s := Measure(dir, pid)
		if pid > 0 {
			hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			s.Heap = api.Heap(hctx)
			cancel()
		}
		if label == "" {
			label = phase.Load().(string)
		}
		s.At, s.Phase, s.Accepted = time.Since(start), label, rec.Accepted()
		smu.Lock()
		samples = append(samples, s)
		smu.Unlock()
		return s
	}
	sample("")
	phase.Store("churn")
	samplerStop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() {
		t := time.NewTicker(c.Sample)
		defer t.Stop()
		for {
			select {
			case <-samplerStop:
				return
			case <-t.C:
				s := sample("")
				rssText := "?"
				if s.RSS >= 0 {
					rssText = MB(s.RSS)
				}
				say("%3.0f s %-6s %d operations accepted, %d awaiting an outcome; data %s MB, RSS %s MB, heap %s MB",
					s.At.Seconds(), s.Phase, s.Accepted, len(rec.Pending()), MB(s.Data), rssText, MB(max(s.Heap, 0)))
			}
		}
	})

	// Churn, with the tracker reading operations as they end (so that a
	// short history retention cannot hide an outcome).
	say("churning for %v: %d clients × %d names (soak-%s-…)", c.Duration, c.Clients, c.Names, runID)
	stop := make(chan struct{})
	go func() {
		t := time.NewTimer(c.Duration)
		defer t.Stop()
		select {
		case <-t.C:
		case <-churnCtx.Done():
		}
		close(stop)
	}()
	trackerStop := make(chan struct{})
	bg.Go(func() { TrackUntil(hardCtx, trackerStop, api, rec, time.Second) })
	Churn(hardCtx, stop, api, opts, rec)
	churned := time.Since(start)
	interrupted := churnCtx.Err() != nil
	close(trackerStop)
	sample(PhaseEndOfChurn)

	// Drain.
	phase.Store("drain")
	say("churn over after %.1f s: %d operations accepted; draining (at most %v)", churned.Seconds(), rec.Accepted(), c.DrainTimeout)
	drainStart := time.Now()
	drainCtx, cancelDrain := context.WithTimeout(waitCtx, c.DrainTimeout)
	left := Drain(drainCtx, api, rec, 500*time.Millisecond)
	cancelDrain()
	drained := time.Since(drainStart)
	sample("end of drain")

	// One more reconcile pass.
	phase.Store("settle")
	settleStart := time.Now()
	if c.Settle > 0 && waitCtx.Err() == nil {
		say("drain over after %.1f s (%d not ended); waiting %v for a reconcile pass", drained.Seconds(), left, c.Settle)
		select {
		case <-time.After(c.Settle):
		case <-waitCtx.Done():
		}
	}
	settled := time.Since(settleStart)
	if left > 0 {
		// The reconciler may have ended some since.
		Track(hardCtx, api, rec, 4)
	}
	sample("end")
	close(samplerStop)
	bg.Wait()

	// Stop the server, then compare its files.
	stopping.Store(true)
	exit, err := srv.Stop(20 * time.Second)
	if err != nil {
		if !strings.Contains(err.Error(), "already exited") {
			rec.Note(Finding{Kind: "server", Detail: err.Error()})
		}
		exit = err.Error()
	}
	say("server stopped: %s; comparing the cache with the sandbox", exit)
	rep := &Report{
		RunID: runID, Bin: c.Bin, ServerArgs: serverArgs, Churn: opts,
		Planned: c.Duration, Churned: churned, Interrupted: interrupted,
		Drain: drained, DrainLeft: len(rec.Pending()), SettleWait: settled,
		DataDir: dir, LogPath: srv.LogPath, ServerExit: exit,
	}
	fc, err := CompareFiles(hardCtx, dir, Project, names)
	if err != nil {
		rep.CompareErr = err.Error()
	} else {
		rep.Comparison = fc
	}
	smu.Lock()
	rep.Samples = append([]Sample(nil), samples...)
	smu.Unlock()
	rep.Results = rec.Results()
	rep.DataKept = !temp || (!rep.OK() && c.KeepFailed)

	md := rep.Markdown()
	if _, err := io.WriteString(stdout, md); err != nil {
		say("write the report: %v", err)
	}
	status := 0
	if !rep.OK() {
		status = 1
	}
	if c.Out != "" {
		if err := os.WriteFile(c.Out, []byte(md), 0o644); err != nil {
			say("write %s: %v", c.Out, err)
			status = 1
		} else {
			say("report written to %s", c.Out)
		}
	}
	if !rep.DataKept {
		if err := os.RemoveAll(dir); err != nil {
			say("remove %s: %v", dir, err)
		}
	} else {
		say("data directory kept: %s", dir)
	}
	return status
}
