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
var Sections = []string{"cached", "load", "realtime", "dynamo", "growth"}

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
	// CPUProfile, when set, receives a pprof CPU profile of the load
	// section (go tool pprof).
	CPUProfile io.Writer
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
	"Event-to-browser figures belong to their own section's notes; DynamoDB figures are dynalite's, an emulator, and carry no target.",
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
	if want("cached") || want("load") {
		e, err := newEnv(ctx, envOptions{Sizes: o.Sizes, APILatency: o.APILatency, SandboxRate: o.SandboxRate, Log: o.Log})
		if err != nil {
			return rep, fmt.Errorf("bench: set up the local server: %w", err)
		}
		if want("cached") {
			rep.Tables = append(rep.Tables, cachedVsDirect(ctx, e, o))
		}
		if want("load") {
			if o.CPUProfile != nil {
				if err := pprof.StartCPUProfile(o.CPUProfile); err != nil {
					return rep, err
				}
			}
			rep.Tables = append(rep.Tables, underLoad(ctx, e, o))
			if o.CPUProfile != nil {
				pprof.StopCPUProfile()
			}
		}
		e.Close()
	}
	if want("realtime") {
		fmt.Fprintf(o.Log, "bench: event to browser…\n")
		ro := RealtimeOptions{Rate: 50, Duration: o.Duration, Quick: o.Quick} // clients: 100, 1,000, 10,000 (quick: fewer)
		ts, err := Realtime(ctx, ro)
		if err != nil {
			rep.Tables = append(rep.Tables, Table{Title: "3. Event to browser", Notes: []string{"Not measured: " + err.Error()}})
		} else {
			rep.Tables = append(rep.Tables, ts...)
		}
	}
	if want("dynamo") {
		t, err := dynamoSection(ctx, o)
		switch {
		case errors.Is(err, dynalite.ErrMissing):
			fmt.Fprintf(o.Log, "bench: dynamo section skipped: %v (run `%s`)\n", err, dynalite.InstallHint)
			t.Notes = append(t.Notes, "SKIPPED: "+err.Error()+"; run `"+dynalite.InstallHint+"`.")
		case err != nil:
			return rep, fmt.Errorf("bench: dynamo: %w", err)
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
