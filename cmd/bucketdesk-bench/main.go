// Command bucketdesk-bench measures bucketdesk against its targets
// (docs/targets.md) and prints Markdown tables: cached against direct
// reads, the API at constant request rates (from a generator in a second
// process of this command), event to browser (with its WebSocket clients
// in another process of this command, beside a raw broadcast server), the
// DynamoDB store against dynalite, bursts of stack events, fan-out through
// API Gateway's @connections stand-in, and growth curves (which also draw
// docs/growth.svg). It is its own command so that the
// bucketdesk binary, which is also the Lambda package, carries none of it.
// See `bucketdesk-bench --help` and `make bench`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"bucketdesk/internal/bench"
)

func main() {
	// The load and event-to-browser sections start this executable again
	// as their generator and client processes, with a hidden argument.
	if code, ok := bench.ChildMain(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run measures bucketdesk against docs/targets.md and prints (and with
// --out writes) the Markdown tables.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bucketdesk-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "short measurements for a smoke run (figures not for publishing)")
	out := fs.String("out", "", "also write the Markdown report to this file, e.g. docs/benchmarks.md")
	sections := fs.String("sections", strings.Join(bench.Sections, ","), "comma-separated sections to run")
	latency := fs.Duration("api-latency", 100*time.Millisecond, "the sandbox's latency per CloudFormation call")
	sandboxRate := fs.Float64("sandbox-rate", 5, "the sandbox's CloudFormation rate limit per account, calls/s (burst twice that)")
	rates := fs.String("rates", "500,1000,2000", "request rates of the load section, req/s")
	duration := fs.Duration("duration", 0, "length of each load and real-time measurement (default 10s, 2s with --quick)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of this process over the sections that run to this file (go tool pprof); with --sections realtime, the server's")
	clients := fs.String("clients", "", "client counts of the realtime section (default 100,1000,10000; with --quick 100,1000)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: bucketdesk-bench [flags]\n\nMeasures, side by side in one run, on 127.0.0.1 only: cached against direct reads through\nthe HTTP API on the sandbox, the API under a constant request rate (open loop, from a\nseparate process), event to browser (clients in a separate process, beside a raw broadcast\nserver), the DynamoDB store against dynalite, bursts of stack events, fan-out through the\n@connections stand-in (both dynalite sections are skipped when it is not installed) and\ngrowth curves (with --out, also drawn as growth.svg beside the file).\nPrints Markdown tables with each figure next to its target (docs/targets.md).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o := bench.Options{Quick: *quick, Out: *out, APILatency: *latency, SandboxRate: *sandboxRate, Duration: *duration, Log: stderr}
	for _, s := range strings.Split(*sections, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.Sections = append(o.Sections, s)
		}
	}
	for _, s := range strings.Split(*rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || r <= 0 {
			fmt.Fprintf(stderr, "bucketdesk-bench: --rates: %q is not a positive number\n", s)
			return 2
		}
		o.Rates = append(o.Rates, r)
	}
	for _, s := range strings.Split(*clients, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			fmt.Fprintf(stderr, "bucketdesk-bench: --clients: %q is not a positive integer\n", s)
			return 2
		}
		o.Clients = append(o.Clients, n)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintf(stderr, "bucketdesk-bench: %v\n", err)
			return 1
		}
		defer f.Close()
		o.CPUProfile = f
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "bucketdesk-bench: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, rep.Markdown())
	if *out != "" {
		fmt.Fprintf(stderr, "bucketdesk-bench: wrote %s\n", *out)
	}
	return 0
}
