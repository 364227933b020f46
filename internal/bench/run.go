package bench

import (
	"bucketdesk/internal/store/dynamostore/dynalite"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"
)

// Sections are the parts of a run, in order.
var Sections = []string{"cached", "load", "realtime", "dynamo", "burst", "fanout", "growth"}

// Options configure a run. Zero fields take the defaults of docs/targets.md.
type Options struct {
	// Sections to run (default all of Sections).
	Sections []string
	// Quick shortens every measurement for a smoke run; its figures are
	// not the ones to publish.
	Quick bool
	// APILatency is the sandbox's latency per CloudFormation call
	// (default 100 ms); SandboxRate its rate limit per account, calls/s
	// (default 5, burst twice that).
	APILatency  time.Duration
	SandboxRate float64
	// Sizes are the projects' numbers of buckets (default 10, 50, 200);
	// the load section uses the largest.
	Sizes []int
	// Rates are the load section's request rates (default 500, 1000,
	// 2000) and Duration each rate's length (default 10 s).
	Rates    []float64
	Duration time.Duration
	// Out is the Markdown file to write ("" writes none).
	Out string
	// Log receives progress lines (default discard).
	Log io.Writer
	// CPUProfile, when set, receives a pprof CPU profile of this process
	// over the sections that run (go tool pprof); run one section to
	// profile it alone. The event-to-browser section's clients are another
	// process: the profile is its server's.
	CPUProfile io.Writer
	// Clients are the event-to-browser section's client counts (default
	// 100, 1,000, 10,000; quick: 100, 1,000).
	Clients []int
}

func (o *Options) defaults() {
	if len(o.Sections) == 0 {
		o.Sections = Sections
	}
	if o.APILatency == 0 {
		o.APILatency = 100 * time.Millisecond
	}
	if o.SandboxRate == 0 {
		o.SandboxRate = 5
	}
	if len(o.Sizes) == 0 {
		o.Sizes = []int{10, 50, 200}
	}
	if len(o.Rates) == 0 {
		o.Rates = []float64{500, 1000, 2000}
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
		if o.Quick {
			o.Duration = 2 * time.Second
		}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Report is the result of a run.
type Report struct {
	Machine  string
	Tables   []Table
	Started  time.Time
	Duration time.Duration
}

// Markdown renders the whole report as docs/benchmarks.md.
func (r Report) Markdown() string {
	var b strings.Builder
	b.WriteString("# Benchmarks\n\n")
	b.WriteString("Measured by `make bench` (`bucketdesk-bench`), every section side by side in one run, each figure next to its target in docs/targets.md. ✅ met, ❌ missed. Regenerate with `make bench`; `bucketdesk-bench --help` lists the knobs. The last section, the console in the browser, is `make bench-browser`'s: `make bench` keeps it as it is.\n\n")
	b.WriteString("## Machine\n\n" + r.Machine + "\n")
	fmt.Fprintf(&b, "Run started %s and took %s.\n\n", r.Started.UTC().Format(time.RFC3339), r.Duration.Round(time.Second))
	b.WriteString("## Results\n\n")
	for _, t := range r.Tables {
		b.WriteString(t.Markdown())
	}
	if len(findings) > 0 {
		b.WriteString("## What was profiled and what limits the rest\n\n")
		for _, f := range findings {
			b.WriteString("- " + f + "\n")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// findings are the conclusions of profiling the runs (pprof), kept with
// the code so that every regenerated file carries them.
var findings = []string{
	"GET meets its target at 1,000 req/s (and 2,000). A CPU profile of the load section (`bucketdesk-bench --cpuprofile`) showed ES256 signature verification at ~15 % of an API request's CPU: `auth.Verifier` now remembers a verified token by its SHA-256 until it expires and at most a minute, re-asking the key source for its key on every hit (a withdrawn key still stops it at once); failures are never remembered.",
	"LIST of 200 first missed at 1,000 req/s (p50 5.8 s: the server saturated both cores and the backlog grew). The profile put 43 % of all CPU in `boltstore.ListResources`, 37 % in `core.Resource.Clone`: every request deep-copied all 220 resources before httpapi's encoded-list cache compared their versions. Fixed with `ResourceStore.ListVersions` (boltstore: from its decode cache; DynamoDB: a projected Query of sort key and version): the list cache compares the project's versions first and reuses the encoded answer without reading, copying or encoding any resource. A list also carries only each operation's latest stack event (it was 816 KB for 200 resources, now ~330 KB).",
	"The direct reader's figures are set by the sandbox's CloudFormation model, not by our code: 1 + (buckets + users) calls per LIST, 2 per GET, each 100 ms, paced under 5 calls/s per account, so a LIST of 200 takes ~55 s and spends 221 calls of the account's budget; the cache spends none.",
	"LIST of 200 at 2,000 req/s from a generator in its own process (asking for gzip and decoding it, as a browser does): a CPU profile of the server's process (`bucketdesk-bench --cpuprofile`; the requests now come from outside it) put 37 % of its CPU in `boltstore.ListVersions`, which compared every stored item's bytes with its decode cache (`memeqbody`, about a megabyte per request), and 7 % in decoding the project for the membership check. ListVersions now answers from its last read of the project while bbolt's transaction id is unchanged (no write committed since; any write makes it read the items again), and GetProject reuses the project it decoded while the stored bytes are the same. The server then spends about 80 µs of CPU per request (GET, LIST and 304 alike), an eighth of one core over the whole section; what is left of the p99 is the machine's: generator and server share 2 cores with whatever else runs, and a stall of either counts against every request due during it.",
	"A list carries table rows (`ListItem`, docs/api.md): about 250 bytes per bucket plain instead of about 1,960 for the whole resource, and with the gzip encoding kept with the list, a few bytes per bucket in the bench's uniform project (the whole resources would be about 170). A row's details (stack, ARNs, who created and changed it) are one GET away; the console reads them when a details or share dialog opens on a row it holds from a list, and keeps a whole resource over a row of the same version.",
	"Event-to-browser figures belong to their own section's notes; DynamoDB figures are dynalite's, an emulator, and carry no target.",
	"Fan-out on AWS: a CPU profile of 1,000 posts through the AWS SDK showed the runtime copying stacks (a goroutine per post grew a fresh stack through the SDK's thirty-odd middlewares each time): apigwhub now posts through a bounded set of workers that live for the publish, and 1,000 posts with no injected latency went from 230–690 ms to 60–260 ms on this (shared, noisy) machine. What remains is the SDK's per-call middleware and SigV4 signing and the stand-in's HTTP handling, both in the benchmark's process; at 20 ms per call the floor was 10 rounds (950 live connections, 100 in flight) = 200 ms, and the first run of `make bench` on a quiet machine measured p50 262 ms, p99 332 ms: the bound is now 128 (8 rounds, 160 ms), still within the account's burst bucket for a publish of 1,000. The @connections client on AWS keeps as many idle connections per host as posts in flight (the SDK keeps 10) and leaves retries to the hub, so that a publish does not open and TLS-handshake most of its connections again.",
	"Bursts of stack events: each applied event was one bbolt transaction with its fsyncs, so the mirror applied a few hundred to ~3,000 events/s depending on the disk's fsync time, however many goroutines applied them. boltstore now commits the writes that arrive during a commit together (group commit, no timer) and the local binary applies 64 events at once (was 4): 20 to 35 events per commit. A CPU profile of the burst section then put 28 % of all CPU in PutResource's version check, which decoded the whole stored item inside the write transaction, where it holds up the whole group: the check now takes the version from the decode cache when the cached bytes are the stored ones (the writer has just read them). What bounds the rate now is the bytes written per event (an event rewrites its whole item: ~5 KB of pages for an item with an update's 5 events, ~16 KB for one at its largest, 25 events) against the disk's write bandwidth, and per event the CPU of encoding the whole item as JSON (~30 %) and copying it (`Resource.Clone`, ~12 %). In the project-wide change, most of the 100 in-process clients first fell 256 messages behind at the burst's peak and were dropped as slow consumers (they reconnected and re-read the list as the console does, within the target); since the hub hands a stack event's messages to a connection together (one wake, one write), none is dropped at this rate. The local job queue shares the store's group commits, so 200 PUTs at once no longer queue 200 fsyncs one behind the other (PUT p99 1.4 s before, ~170 ms after).",
	"Growth curves: a LIST costs what its bytes cost (about 2 KB per bucket as JSON, 150 B gzip-encoded), so its time grows linearly with the project; the decoded cache holds about 13 KB of heap per item for about 6 KB stored (each item keeps its latest operation with up to 25 stack events; decoded strings and maps weigh twice their JSON); start-up with 10,000 items is mostly JSON decoding (a CPU profile: the sandbox's own file, locally only, ~0.6 s; the first LIST decoding every item, ~0.8 s; the reconciler's first pass reading the same items meanwhile, ~0.4 s), so decoding items once for both, or a more compact stored item, is what would shorten it. A reconciler pass over an unchanged project costs one ListStacks per page of 100 stacks and nothing else, so at 10,000 stacks it is bounded by the account's rate (~25 s at 4 calls/s). Measuring it found two costs, both fixed: `core.Observe` advanced the item's last observation on every DescribeStacks, so each description wrote and published a new version of an unchanged item; and every pass of the hour after a change of many resources rewrote all their operations' history copies (an fsync'd write each). The sandbox's creates slowed down as it grew (a bucket name's uniqueness walked every stack); an index of its physical resources fixed that.",
}

// Run runs the chosen sections one after another and, with o.Out, writes
// the Markdown there.
func Run(ctx context.Context, o Options) (Report, error) {
	o.defaults()
	for _, s := range o.Sections {
		if !slices.Contains(Sections, s) {
			return Report{}, fmt.Errorf("bench: unknown section %q (have %s)", s, strings.Join(Sections, ", "))
		}
	}
	rep := Report{Machine: Machine(), Started: time.Now()}
	want := func(s string) bool { return slices.Contains(o.Sections, s) }
	if o.CPUProfile != nil {
		if err := pprof.StartCPUProfile(o.CPUProfile); err != nil {
			return rep, err
		}
		defer pprof.StopCPUProfile()
	}
	if want("cached") || want("load") {
		e, err := newEnv(ctx, envOptions{Sizes: o.Sizes, APILatency: o.APILatency, SandboxRate: o.SandboxRate, Log: o.Log})
		if err != nil {
			return rep, fmt.Errorf("bench: set up the local server: %w", err)
		}
		if want("cached") {
			rep.Tables = append(rep.Tables, cachedVsDirect(ctx, e, o))
		}
		if want("load") {
			rep.Tables = append(rep.Tables, underLoad(ctx, e, o)...)
		}
		e.Close()
	}
	if want("realtime") {
		fmt.Fprintf(o.Log, "bench: event to browser…\n")
		ro := RealtimeOptions{Rate: 50, Duration: o.Duration, Quick: o.Quick, Clients: o.Clients} // clients: 100, 1,000, 10,000 (quick: fewer)
		ts, err := Realtime(ctx, ro)
		if err != nil {
			rep.Tables = append(rep.Tables, Table{Title: "Stack event → browser frame", Notes: []string{"Not measured: " + err.Error()}})
		} else {
			rep.Tables = append(rep.Tables, ts...)
		}
	}
	if want("dynamo") {
		t, err := dynamoSection(ctx, o)
		if t, err = onDynalite(o, "dynamo", t, err); err != nil {
			return rep, err
		}
		rep.Tables = append(rep.Tables, t)
	}
	if want("burst") {
		fmt.Fprintf(o.Log, "bench: bursts of stack events…\n")
		ts, err := Burst(ctx, BurstOptions{Quick: o.Quick, Log: o.Log})
		if err != nil {
			ts = append(ts, Table{Title: "Bursts of stack events", Notes: []string{"Not measured: " + err.Error()}})
		}
		rep.Tables = append(rep.Tables, ts...)
	}
	if want("fanout") {
		t, err := fanoutSection(ctx, o)
		if t, err = onDynalite(o, "fanout", t, err); err != nil {
			return rep, err
		}
		rep.Tables = append(rep.Tables, t)
	}
	if want("growth") {
		fmt.Fprintf(o.Log, "bench: growth curves…\n")
		ts, err := growthSection(ctx, o)
		if err != nil {
			return rep, fmt.Errorf("bench: growth: %w", err)
		}
		rep.Tables = append(rep.Tables, ts...)
	}
	rep.Duration = time.Since(rep.Started)
	if o.Out != "" {
		if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
			return rep, err
		}
		md := rep.Markdown()
		if prev, err := os.ReadFile(o.Out); err == nil {
			md = KeepBrowserSection(md, string(prev))
		}
		if err := os.WriteFile(o.Out, []byte(md), 0o644); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// onDynalite finishes a section that runs on dynalite: when dynalite is
// not installed, its table says it was skipped and how to install it;
// any other error ends the run.
func onDynalite(o Options, section string, t Table, err error) (Table, error) {
	switch {
	case errors.Is(err, dynalite.ErrMissing):
		fmt.Fprintf(o.Log, "bench: %s section skipped: %v (run `%s`)\n", section, err, dynalite.InstallHint)
		t.Notes = append(t.Notes, "SKIPPED: "+err.Error()+"; run `"+dynalite.InstallHint+"`.")
	case err != nil:
		return t, fmt.Errorf("bench: %s: %w", section, err)
	}
	return t, nil
}

// The browser benchmark's section of docs/benchmarks.md (make
// bench-browser, tests/browser/bench.mjs) lies between these markers; this
// command does not measure it and keeps it when it rewrites the file.
const (
	browserBegin = "<!-- bench-browser:begin -->"
	browserEnd   = "<!-- bench-browser:end -->"
)

// KeepBrowserSection returns md with the browser benchmark's section of
// prev (the file md replaces) appended, when prev has a whole one.
func KeepBrowserSection(md, prev string) string {
	b := strings.Index(prev, browserBegin)
	e := strings.Index(prev, browserEnd)
	if b < 0 || e < b {
		return md
	}
	return strings.TrimRight(md, "\n") + "\n\n" + prev[b:e+len(browserEnd)] + "\n"
}

func numCPU() int { return runtime.NumCPU() }

// Machine describes this machine in Markdown: CPU model, cores, memory,
// Go version, OS, date.
func Machine() string {
	cpu := firstField("/proc/cpuinfo", "model name", ":")
	if cpu == "" {
		cpu = runtime.GOARCH
	}
	mem := firstField("/proc/meminfo", "MemTotal", ":")
	osName := strings.Trim(firstField("/etc/os-release", "PRETTY_NAME", "="), `"`)
	if osName == "" {
		osName = runtime.GOOS
	}
	var kib int64
	fmt.Sscanf(mem, "%d", &kib)
	return fmt.Sprintf("- CPU: %s, %d logical cores (GOMAXPROCS %d)\n- Memory: %.1f GiB\n- Go: %s %s/%s\n- OS: %s\n- Date: %s\n",
		cpu, runtime.NumCPU(), runtime.GOMAXPROCS(0), float64(kib)/(1<<20), runtime.Version(), runtime.GOOS, runtime.GOARCH, osName,
		time.Now().UTC().Format("2006-01-02"))
}

// firstField returns the value of the first line of path that starts with
// key, after sep, trimmed.
func firstField(path, key, sep string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, key) {
			if _, v, ok := strings.Cut(line, sep); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}
