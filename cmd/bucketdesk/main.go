// Command bucketdesk is the one binary of bucketdesk: `serve` runs it
// locally on embedded defaults, `version` tells what it is.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/setup"
	"bucketdesk/internal/wsapi"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `bucketdesk — secured S3 buckets and managed IAM users, one CloudFormation stack each.

Usage:
  bucketdesk <command> [flags]

Commands:
  serve     run bucketdesk locally on its embedded defaults (bbolt, sandbox CloudFormation)
  lambda    run as an AWS Lambda function (the bootstrap of provided.al2023); the role comes from BUCKETDESK_ROLE
  bench     measure bucketdesk against its targets (docs/targets.md) and print Markdown tables
  version   print the version

Run 'bucketdesk <command> --help' for the flags of a command.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		// Lambda's provided.al2023 runtime runs bootstrap without arguments.
		if os.Getenv("AWS_LAMBDA_RUNTIME_API") != "" {
			return runLambda(ctx, nil, stderr)
		}
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "version":
		return printVersion(args[1:], stdout, stderr)
	case "lambda":
		return runLambda(ctx, args[1:], stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "bucketdesk: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func printVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: bucketdesk version\n\nPrints the version of bucketdesk and of Go it was built with.")
	}
	if err := fs.Parse(args); err != nil {
		return exitCode(err)
	}
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v = "dev-" + s.Value[:12]
			}
		}
	}
	fmt.Fprintf(stdout, "bucketdesk %s (%s, %s/%s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

func defaultDataDir() string {
	if d := os.Getenv("BUCKETDESK_DATA_DIR"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "bucketdesk")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "bucketdesk")
	}
	return "bucketdesk-data"
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr("BUCKETDESK_ADDR", "127.0.0.1:8080"), "address to listen on (env BUCKETDESK_ADDR)")
	dataDir := fs.String("data-dir", defaultDataDir(), "where the cache, the queue, the sandbox, the users and the signing key live (env BUCKETDESK_DATA_DIR)")
	delay := fs.Duration("sandbox-delay", 1500*time.Millisecond, "how long the sandbox takes per stack resource")
	latency := fs.Duration("sandbox-latency", 100*time.Millisecond, "the sandbox's CloudFormation API latency")
	sandboxRate := fs.Float64("sandbox-rate", 5, "the sandbox's CloudFormation API rate limit per account, calls/s (0: none)")
	cloudRate := fs.Float64("cloud-rate", 4, "bucketdesk's own pace of CloudFormation calls per account, calls/s")
	demo := simcloud.DemoOptions()
	seed := fs.Int64("sandbox-seed", demo.Chaos.Seed, "seed of the sandbox's chaos and failures (default: the start time)")
	drop := fs.Float64("sandbox-drop", demo.Chaos.Drop, "probability that a stack event notification is lost (the reconciler repairs)")
	duplicate := fs.Float64("sandbox-duplicate", demo.Chaos.Duplicate, "probability that a stack event notification is delivered twice")
	reorder := fs.Float64("sandbox-reorder", demo.Chaos.Reorder, "probability that a stack event notification is held back and delivered after the next")
	maxDelay := fs.Duration("sandbox-max-delay", demo.Chaos.MaxDelay, "deliver each stack event notification after a random delay below this")
	failRate := fs.String("sandbox-fail-rate", "", "make stack operations fail at random, e.g. create=0.1,update=0.1,delete=0.05 (a bucket tagged sandbox-fail=create or =update fails on purpose too)")
	reconcile := fs.Duration("reconcile-every", time.Minute, "how often the reconciler relists CloudFormation")
	history := fs.Duration("history-retention", engine.DefaultHistoryRetention, "how long an ended operation stays in the history (the reconciler deletes older ones)")
	sandboxRetention := fs.Duration("sandbox-retention", 90*24*time.Hour, "how long the sandbox keeps a deleted stack and its events (CloudFormation: 90 days)")
	workers := fs.Int("workers", 4, "queue workers")
	wsMaxAge := fs.Duration("ws-max-age", 2*time.Hour, "a WebSocket connection's maximum age, as API Gateway's")
	wsIdle := fs.Duration("ws-idle-timeout", 10*time.Minute, "close a WebSocket connection idle for this long")
	tokenTTL := fs.Duration("token-ttl", time.Hour, "how long a login lasts")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: bucketdesk serve [flags]\n\nRuns bucketdesk locally: the bbolt cache and queue, the workers, the mirror, the reconciler\nand a simulated CloudFormation (the sandbox), with a demo project.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitCode(err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "bucketdesk: --log-level: %v\n", err)
		return 2
	}
	hopts := &slog.HandlerOptions{Level: level}
	var log *slog.Logger
	if *logJSON {
		log = slog.New(slog.NewJSONHandler(stderr, hopts))
	} else {
		log = slog.New(slog.NewTextHandler(stderr, hopts))
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	sb := demo
	sb.ResourceDuration, sb.APILatency = *delay, *latency
	sb.Chaos = simcloud.Chaos{Seed: *seed, Drop: *drop, Duplicate: *duplicate, Reorder: *reorder, MaxDelay: *maxDelay}
	var err error
	if sb.FailRate, err = parseFailRate(*failRate); err != nil {
		fmt.Fprintf(stderr, "bucketdesk: --sandbox-fail-rate: %v\n", err)
		return 2
	}
	sb.RateLimit = simcloud.RateLimit{PerSecond: *sandboxRate, Burst: int(2 * *sandboxRate)}
	for name, d := range map[string]time.Duration{"history-retention": *history, "sandbox-retention": *sandboxRetention} {
		if d <= 0 {
			fmt.Fprintf(stderr, "bucketdesk: --%s must be a positive duration, got %s\n", name, d)
			return 2
		}
	}
	sb.Retention = *sandboxRetention
	l, err := setup.OpenLocal(setup.LocalConfig{
		DataDir: *dataDir, Sandbox: sb, Workers: *workers, ReconcileEvery: *reconcile,
		CloudRate: *cloudRate, HistoryRetention: *history, Logger: log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "bucketdesk: %v\n", err)
		return 1
	}
	defer l.Close()
	p, created, err := l.EnsureProject(ctx, setup.DemoProject([]string{"alice", "bob"}))
	if err != nil {
		fmt.Fprintf(stderr, "bucketdesk: demo project: %v\n", err)
		return 1
	}
	password, err := setup.EnsureDemoUsers(*dataDir, os.Getenv("BUCKETDESK_DEMO_PASSWORD"))
	if err != nil {
		fmt.Fprintf(stderr, "bucketdesk: demo users: %v\n", err)
		return 1
	}
	srv, err := l.Server(setup.ServerConfig{TokenTTL: *tokenTTL, WS: wsapi.Limits{MaxAge: *wsMaxAge, IdleTimeout: *wsIdle}})
	if err != nil {
		fmt.Fprintf(stderr, "bucketdesk: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "bucketdesk: listen on %s: %v\n", *addr, err)
		return 1
	}
	hs := &http.Server{Handler: srv.Handler, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	l.Start(ctx)
	log.Info("bucketdesk started", "addr", ln.Addr().String(), "data_dir", *dataDir, "project", p.ID, "version", version)
	if created {
		seedDemo(ctx, l, log)
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "\nbucketdesk is running at %s (sandbox CloudFormation; data in %s)\n", url, *dataDir)
	fmt.Fprintf(stdout, "  log in as alice or bob (managers of project %q), or mallory (a member of nothing)\n", p.ID)
	switch {
	case password != "" && os.Getenv("BUCKETDESK_DEMO_PASSWORD") == "":
		fmt.Fprintf(stdout, "  password: %s  (generated now and shown once; set BUCKETDESK_DEMO_PASSWORD to choose one)\n", password)
	case password != "":
		fmt.Fprintf(stdout, "  password: the value of BUCKETDESK_DEMO_PASSWORD\n")
	default:
		fmt.Fprintf(stdout, "  password: the one printed on first start (or set BUCKETDESK_DEMO_PASSWORD; make reset starts afresh)\n")
	}
	fmt.Fprintf(stdout, "Ctrl-C stops it.\n")

	select {
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintf(stderr, "bucketdesk: http server: %v\n", err)
		return 1
	}
	log.Info("bucketdesk stopping")
	srv.Close()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(shutdown)
	return 0
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// seedDemo creates a bucket and a user on first start so that the demo
// project has something to show.
func seedDemo(ctx context.Context, l *setup.Local, log *slog.Logger) {
	suffix := fmt.Sprintf("%06x", time.Now().UnixNano()&0xffffff)
	bucket := "demo-reports-" + suffix
	specs := []core.Spec{
		{Bucket: &core.BucketSpec{Name: bucket, Versioning: true, Encryption: core.Encryption{Type: core.EncryptionS3}, Tags: map[string]string{"team": "demo"}}},
		{User: &core.UserSpec{Name: "partner-upload", AccessKeys: 1, Grants: []core.Grant{{Bucket: bucket, Access: core.AccessWrite, Prefix: "incoming/"}}}},
	}
	for _, s := range specs {
		op, err := l.Engine.Service.Create(ctx, core.Principal{User: "alice"}, "demo", s)
		if err != nil {
			log.Warn("demo resource not created", "name", s.Name(), "err", err)
			continue
		}
		log.Info("demo resource requested", "kind", s.Kind(), "name", s.Name(), "operation", op.ID)
	}
}

// parseFailRate reads "create=0.1,update=0.1,delete=0.05" (any subset).
func parseFailRate(s string) (simcloud.FailRate, error) {
	var f simcloud.FailRate
	if strings.TrimSpace(s) == "" {
		return f, nil
	}
	for _, part := range strings.Split(s, ",") {
		action, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		p, err := strconv.ParseFloat(value, 64)
		if !ok || err != nil || p < 0 || p > 1 {
			return f, fmt.Errorf("%q: want action=probability with a probability from 0 to 1, e.g. create=0.1", part)
		}
		switch action {
		case "create":
			f.Create = p
		case "update":
			f.Update = p
		case "delete":
			f.Delete = p
		default:
			return f, fmt.Errorf("%q: the action is create, update or delete", part)
		}
	}
	return f, nil
}
