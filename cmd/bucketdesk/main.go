// Command bucketdesk is the one binary of bucketdesk: `serve` runs it
// locally on embedded defaults, `projects` and `users` administer it (a
// data directory, or a server's API), `version` tells what it is.
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
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"bucketdesk/internal/auth"
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
  projects  register, update and retire projects and manage their members (administrators)
  users     manage the local logins (users.json of a data directory)
  version   print the version

Run 'bucketdesk <command> --help' for the flags of a command.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "projects":
		return projectsCmd(ctx, args[1:], stdout, stderr)
	case "users":
		return usersCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "version":
		return printVersion(args[1:], stdout, stderr)
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

// serve runs bucketdesk locally until ctx ends or a signal stops it.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseServeFlags(args, stderr)
	if err != nil {
		var bad badFlagError
		if errors.As(err, &bad) {
			fmt.Fprintf(stderr, "bucketdesk: %v\n", err)
		}
		return exitCode(err)
	}
	if err := runLocal(ctx, o, stdout); err != nil {
		fmt.Fprintf(stderr, "bucketdesk: %v\n", err)
		return 1
	}
	return 0
}

// runLocal opens the local stack with its demo project, starts it, serves
// HTTP until ctx ends or SIGINT or SIGTERM comes, then shuts down.
func runLocal(ctx context.Context, o *serveOptions, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := setup.OpenLocal(o.local)
	if err != nil {
		return err
	}
	defer l.Close()
	demo, err := ensureDemo(ctx, l, o.local.DataDir)
	if err != nil {
		return err
	}
	srv, err := l.Server(o.server)
	if err != nil {
		return err
	}
	h, err := listen(o.addr, srv.Handler, o.log)
	if err != nil {
		return err
	}
	l.Start(ctx)
	o.log.Info("bucketdesk started", "addr", h.ln.Addr().String(), "data_dir", o.local.DataDir, "project", demo.project.ID, "version", version)
	if demo.created {
		seedDemo(ctx, l, o.log)
	}
	printWelcome(stdout, "http://"+h.ln.Addr().String(), o.local.DataDir, demo)
	select {
	case <-ctx.Done():
	case err := <-h.served:
		return fmt.Errorf("http server: %w", err)
	}
	o.log.Info("bucketdesk stopping")
	srv.Close()
	h.shutdown()
	return nil
}

// serveOptions is what serve's flags ask for.
type serveOptions struct {
	addr   string
	local  setup.LocalConfig
	server setup.ServerConfig
	log    *slog.Logger
}

// badFlagError is a flag value serve refuses after the flag package
// accepted it.
type badFlagError struct{ msg string }

func (e badFlagError) Error() string { return e.msg }

// parseServeFlags reads serve's flags. The flag package prints its own
// errors and the usage; a badFlagError is for the caller to print.
func parseServeFlags(args []string, stderr io.Writer) (*serveOptions, error) {
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
	audit := fs.Duration("audit-retention", engine.DefaultAuditRetention, "how long an audit record is kept (the reconciler deletes older ones)")
	sandboxRetention := fs.Duration("sandbox-retention", 90*24*time.Hour, "how long the sandbox keeps a deleted stack and its events (CloudFormation: 90 days)")
	workers := fs.Int("workers", 4, "queue workers")
	wsMaxAge := fs.Duration("ws-max-age", 2*time.Hour, "a WebSocket connection's maximum age, as API Gateway's")
	wsIdle := fs.Duration("ws-idle-timeout", 10*time.Minute, "close a WebSocket connection idle for this long")
	tokenTTL := fs.Duration("token-ttl", time.Hour, "how long a login lasts")
	loginMax := fs.Int("login-max-failures", auth.DefaultMaxFailures, "failed logins one username may make from one client address per --login-window")
	loginMaxAddr := fs.Int("login-max-address-failures", auth.DefaultMaxAddressFailures, "failed logins one client address may make per --login-window across usernames (at least twice --login-max-failures plus one)")
	loginWindow := fs.Duration("login-window", auth.DefaultWindow, "the window of the login limits")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: bucketdesk serve [flags]\n\nRuns bucketdesk locally: the bbolt cache and queue, the workers, the mirror, the reconciler\nand a simulated CloudFormation (the sandbox), with a demo project.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	log, err := newLogger(*logLevel, *logJSON, stderr)
	if err != nil {
		return nil, badFlagError{"--log-level: " + err.Error()}
	}
	sb := demo
	sb.ResourceDuration, sb.APILatency = *delay, *latency
	sb.Chaos = simcloud.Chaos{Seed: *seed, Drop: *drop, Duplicate: *duplicate, Reorder: *reorder, MaxDelay: *maxDelay}
	if sb.FailRate, err = parseFailRate(*failRate); err != nil {
		return nil, badFlagError{"--sandbox-fail-rate: " + err.Error()}
	}
	sb.RateLimit = simcloud.RateLimit{PerSecond: *sandboxRate, Burst: int(2 * *sandboxRate)}
	if *loginMax < 1 || *loginMaxAddr < 1 {
		return nil, badFlagError{"--login-max-failures and --login-max-address-failures must be positive"}
	}
	for name, d := range map[string]time.Duration{"login-window": *loginWindow, "history-retention": *history, "audit-retention": *audit, "sandbox-retention": *sandboxRetention} {
		if d <= 0 {
			return nil, badFlagError{fmt.Sprintf("--%s must be a positive duration, got %s", name, d)}
		}
	}
	sb.Retention = *sandboxRetention
	return &serveOptions{
		addr: *addr,
		local: setup.LocalConfig{
			DataDir: *dataDir, Sandbox: sb, Workers: *workers, ReconcileEvery: *reconcile,
			CloudRate: *cloudRate, HistoryRetention: *history, AuditRetention: *audit, Logger: log,
		},
		server: setup.ServerConfig{TokenTTL: *tokenTTL, LoginLimits: auth.LimitOptions{MaxFailures: *loginMax, MaxAddressFailures: *loginMaxAddr, Window: *loginWindow}, WS: wsapi.Limits{MaxAge: *wsMaxAge, IdleTimeout: *wsIdle}},
		log:    log,
	}, nil
}

// newLogger logs to w at level (debug, info, warn or error), in JSON lines
// or text.
func newLogger(level string, json bool, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, err
	}
	hopts := &slog.HandlerOptions{Level: l}
	if json {
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return slog.New(slog.NewTextHandler(w, hopts)), nil
}

// demoState is the demo project and how to log in to it.
type demoState struct {
	project  *core.Project
	created  bool   // the project was created now
	password string // the demo users' password, "" when it was set before
	admin    bool   // the demo administrator's login exists
}

// ensureDemo creates the demo project and the demo users unless they
// exist.
func ensureDemo(ctx context.Context, l *setup.Local, dataDir string) (demoState, error) {
	p, created, err := l.EnsureProject(ctx, setup.DemoProject([]string{"alice", "bob"}))
	if err != nil {
		return demoState{}, fmt.Errorf("demo project: %w", err)
	}
	password, err := setup.EnsureDemoUsers(dataDir, os.Getenv("BUCKETDESK_DEMO_PASSWORD"))
	if err != nil {
		return demoState{}, fmt.Errorf("demo users: %w", err)
	}
	admin := false
	if entries, err := auth.LoadUserEntries(setup.UsersFile(dataDir)); err == nil {
		admin = slices.ContainsFunc(entries, func(e auth.UserEntry) bool { return e.Username == setup.DemoAdmin && e.Admin && !e.Disabled })
	}
	return demoState{project: p, created: created, password: password, admin: admin}, nil
}

// httpServer is the HTTP server serve runs; served receives what Serve
// returned.
type httpServer struct {
	hs     *http.Server
	ln     net.Listener
	served <-chan error
}

// listen starts serving h on addr.
func listen(addr string, h http.Handler, log *slog.Logger) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	return &httpServer{hs: hs, ln: ln, served: served}, nil
}

// shutdown stops the server, giving the requests in progress up to 5
// seconds to finish.
func (h *httpServer) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = h.hs.Shutdown(ctx)
}

// printWelcome tells where bucketdesk runs and how to log in.
func printWelcome(stdout io.Writer, url, dataDir string, demo demoState) {
	fmt.Fprintf(stdout, "\nbucketdesk is running at %s (sandbox CloudFormation; data in %s)\n", url, dataDir)
	fmt.Fprintf(stdout, "  log in as alice or bob (managers of project %q), or mallory (a member of nothing)\n", demo.project.ID)
	if demo.admin {
		fmt.Fprintf(stdout, "  or as %s, the administrator (registers projects and their members; a member of nothing)\n", setup.DemoAdmin)
	} else {
		fmt.Fprintf(stdout, "  no administrator login in this data directory: bucketdesk users add NAME --admin makes one\n")
	}
	switch {
	case demo.password != "" && os.Getenv("BUCKETDESK_DEMO_PASSWORD") == "":
		fmt.Fprintf(stdout, "  password: %s  (generated now and shown once; set BUCKETDESK_DEMO_PASSWORD to choose one)\n", demo.password)
	case demo.password != "":
		fmt.Fprintf(stdout, "  password: the value of BUCKETDESK_DEMO_PASSWORD\n")
	default:
		fmt.Fprintf(stdout, "  password: the one printed on first start (or set BUCKETDESK_DEMO_PASSWORD; make reset starts afresh)\n")
	}
	fmt.Fprintf(stdout, "Ctrl-C stops it.\n")
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
