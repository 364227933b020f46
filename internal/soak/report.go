package soak

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Report is everything a soak run tells, formatted by Markdown.
type Report struct {
	RunID      string
	Bin        string
	ServerArgs []string
	Churn      ChurnOptions

	Planned, Churned time.Duration
	Interrupted      bool
	Drain            time.Duration
	DrainLeft        int // operations still pending when the drain stopped
	SettleWait       time.Duration

	DataDir  string
	DataKept bool
	LogPath  string
	// ServerExit tells how the server stopped.
	ServerExit string

	Results Results
	// Comparison is nil when it could not be made; CompareErr says why.
	Comparison *FileComparison
	CompareErr string
	Samples    []Sample
}

// Counts are the report's headline figures.
type Counts struct {
	// Ops by outcome.
	Succeeded, Failed, NotEnded, Gone int
	// Answers counts the unexpected answers and events (5xx, 4xx other
	// than a lock 409, transport errors, the server exiting).
	Answers int
	// Unexpected is every unexpected outcome: the ops that did not
	// succeed and the unexpected answers.
	Unexpected int
	// Mismatches between the cache and the sandbox; a comparison that
	// could not be made counts as one.
	Mismatches int
}

// Counts computes the headline figures.
func (r *Report) Counts() Counts {
	var c Counts
	for _, op := range r.Results.Ops {
		switch op.Outcome() {
		case OutcomeSucceeded:
			c.Succeeded++
		case OutcomeFailed:
			c.Failed++
		case OutcomeNotEnded:
			c.NotEnded++
		case OutcomeGone:
			c.Gone++
		}
	}
	c.Answers = r.Results.Unexpected
	c.Unexpected = c.Failed + c.NotEnded + c.Gone + c.Answers
	switch {
	case r.Comparison != nil:
		c.Mismatches = len(r.Comparison.Mismatches)
	default:
		c.Mismatches = 1
	}
	return c
}

// OK reports whether the run met both targets: no unexpected outcome and
// no mismatch.
func (r *Report) OK() bool {
	c := r.Counts()
	return c.Unexpected == 0 && c.Mismatches == 0
}

const maxListed = 20

// Markdown renders the report as Markdown tables.
func (r *Report) Markdown() string {
	var b strings.Builder
	c := r.Counts()
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	w("# bucketdesk soak — run %s\n\n", r.RunID)
	w("| | |\n|---|---|\n")
	w("| binary | `%s` |\n", cell(r.Bin))
	w("| server flags | `%s` |\n", cell(orDash(strings.Join(r.ServerArgs, " "))))
	w("| churn | %d clients × %d bucket names (`%s`) in project `%s`; seed %d; delete probability %.2f; pause %v |\n",
		r.Churn.Clients, r.Churn.Names, BucketName(r.RunID, 0, 0)+"…", r.Churn.Project, r.Churn.Seed, r.Churn.DeleteProb, r.Churn.Pause)
	interrupted := ""
	if r.Interrupted {
		interrupted = " (interrupted)"
	}
	w("| duration | %v planned, %v churned%s |\n", r.Planned, r.Churned.Round(100*time.Millisecond), interrupted)
	drain := "every accepted operation ended"
	if r.DrainLeft > 0 {
		drain = fmt.Sprintf("stopped with %d operations not ended", r.DrainLeft)
	}
	w("| drain | %v: %s |\n", r.Drain.Round(100*time.Millisecond), drain)
	w("| then waited | %v for a reconcile pass |\n", r.SettleWait.Round(100*time.Millisecond))
	w("| server | %s |\n", cell(orDash(r.ServerExit)))
	kept := "removed"
	if r.DataKept {
		kept = "kept"
	}
	w("| data directory | `%s` (%s) |\n", cell(r.DataDir), kept)
	w("| server log | `%s` |\n\n", cell(orDash(r.LogPath)))

	verdict := "PASS"
	if c.Unexpected > 0 || c.Mismatches > 0 {
		verdict = "FAIL"
	}
	w("**%s: %d unexpected outcomes, %d cache/sandbox mismatches** (target: 0 and 0; %d operations accepted)\n\n",
		verdict, c.Unexpected, c.Mismatches, len(r.Results.Ops))

	r.requestsTable(&b)
	r.opsTable(&b)
	r.refusalsTable(&b)
	r.unexpectedSection(&b, c)
	r.comparisonSection(&b)
	r.growthSection(&b)
	if r.Comparison != nil {
		w("## Sandbox statistics\n\n`%+v`\n\n", r.Comparison.SandboxStats)
	}
	return b.String()
}

var requestOrder = []string{ActionGet, ActionCreate, ActionUpdate, ActionDelete}

func (r *Report) requestsTable(b *strings.Builder) {
	statuses := map[int]bool{}
	for _, byStatus := range r.Results.Requests {
		for s := range byStatus {
			statuses[s] = true
		}
	}
	cols := make([]int, 0, len(statuses))
	for s := range statuses {
		cols = append(cols, s)
	}
	sort.Ints(cols)
	fmt.Fprintf(b, "## Requests\n\n| request | total |")
	for _, s := range cols {
		fmt.Fprintf(b, " %s |", statusName(s))
	}
	b.WriteString("\n|---|--:|")
	for range cols {
		b.WriteString("--:|")
	}
	b.WriteString("\n")
	totals := map[int]int{}
	all := 0
	for _, a := range requestOrder {
		byStatus := r.Results.Requests[a]
		n := 0
		for _, k := range byStatus {
			n += k
		}
		fmt.Fprintf(b, "| %s | %d |", requestName(a), n)
		for _, s := range cols {
			fmt.Fprintf(b, " %d |", byStatus[s])
			totals[s] += byStatus[s]
		}
		all += n
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "| **all** | **%d** |", all)
	for _, s := range cols {
		fmt.Fprintf(b, " **%d** |", totals[s])
	}
	b.WriteString("\n\n")
}

func requestName(a string) string {
	switch a {
	case ActionGet:
		return "GET bucket"
	case ActionCreate:
		return "POST (create)"
	case ActionUpdate:
		return "PUT (update tags)"
	case ActionDelete:
		return "DELETE"
	}
	return a
}

func statusName(s int) string {
	if s == 0 {
		return "transport error"
	}
	return fmt.Sprint(s)
}

func (r *Report) opsTable(b *strings.Builder) {
	fmt.Fprintf(b, "## Operations accepted\n\n| action | accepted |")
	for _, o := range Outcomes {
		fmt.Fprintf(b, " %s |", o)
	}
	b.WriteString("\n|---|--:|")
	for range Outcomes {
		b.WriteString("--:|")
	}
	b.WriteString("\n")
	count := map[string]map[string]int{}
	for _, op := range r.Results.Ops {
		if count[op.Action] == nil {
			count[op.Action] = map[string]int{}
		}
		count[op.Action][op.Outcome()]++
	}
	total := map[string]int{}
	all := 0
	for _, a := range []string{ActionCreate, ActionUpdate, ActionDelete} {
		n := 0
		for _, k := range count[a] {
			n += k
		}
		all += n
		fmt.Fprintf(b, "| %s | %d |", a, n)
		for _, o := range Outcomes {
			fmt.Fprintf(b, " %d |", count[a][o])
			total[o] += count[a][o]
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(b, "| **all** | **%d** |", all)
	for _, o := range Outcomes {
		fmt.Fprintf(b, " **%d** |", total[o])
	}
	b.WriteString("\n\n")
}

func (r *Report) refusalsTable(b *strings.Builder) {
	b.WriteString("## Refused requests\n\n")
	if len(r.Results.Refusals) == 0 {
		b.WriteString("None.\n\n")
		return
	}
	b.WriteString("| request | status | problem type | count | expected | example detail |\n|---|--:|---|--:|---|---|\n")
	for _, f := range r.Results.Refusals {
		exp := "**no**"
		if f.Expected {
			exp = "yes"
		}
		fmt.Fprintf(b, "| %s | %d | `%s` | %d | %s | %s |\n", requestName(f.Action), f.Status, cell(orDash(f.ProblemType)), f.Count, exp, cell(clip(f.Example, 160)))
	}
	b.WriteString("\n")
}

func (r *Report) unexpectedSection(b *strings.Builder, c Counts) {
	fmt.Fprintf(b, "## Unexpected outcomes (target 0): %d\n\n", c.Unexpected)
	fmt.Fprintf(b, "| what | count |\n|---|--:|\n| failed operations | %d |\n| operations not ended | %d |\n| operations unknown to the server (404) | %d |\n| unexpected answers and events (5xx, 4xx other than a lock 409, transport errors, server exit) | %d |\n\n",
		c.Failed, c.NotEnded, c.Gone, c.Answers)

	var failed, open []Op
	for _, op := range r.Results.Ops {
		switch op.Outcome() {
		case OutcomeSucceeded:
		case OutcomeFailed:
			failed = append(failed, op)
		default:
			open = append(open, op)
		}
	}
	if len(failed) > 0 {
		b.WriteString("### Failed operations by error class\n\n| class | create | update | delete | all |\n|---|--:|--:|--:|--:|\n")
		byClass := map[string]map[string]int{}
		for _, op := range failed {
			cl := ClassifyError(op.Error)
			if byClass[cl] == nil {
				byClass[cl] = map[string]int{}
			}
			byClass[cl][op.Action]++
			byClass[cl][""]++
		}
		for _, cl := range Classes {
			m := byClass[cl]
			fmt.Fprintf(b, "| %s | %d | %d | %d | %d |\n", cl, m[ActionCreate], m[ActionUpdate], m[ActionDelete], m[""])
		}
		b.WriteString("\n")
	}
	probes := map[string]int{}
	for _, op := range failed {
		if p := FailedProbe(op.Action, op.Before, ClassifyError(op.Error)); p != "" {
			probes[p]++
		}
	}
	for _, f := range r.Results.Findings {
		if p, ok := strings.CutPrefix(f.Kind, "probe: "); ok {
			probes[p]++
		}
	}
	if len(probes) > 0 {
		b.WriteString("### Consistency probes (the cache disagreeing with CloudFormation)\n\n| finding | count |\n|---|--:|\n")
		keys := make([]string, 0, len(probes))
		for k := range probes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(b, "| %s | %d |\n", cell(k), probes[k])
		}
		b.WriteString("\n")
	}
	if len(failed) > 0 {
		fmt.Fprintf(b, "### Failed operations (%s)\n\n| at (s) | action | name | GET before | class | error |\n|--:|---|---|---|---|---|\n", listed(len(failed)))
		for _, op := range failed[:min(len(failed), maxListed)] {
			fmt.Fprintf(b, "| %.1f | %s | %s | %s | %s | %s |\n", op.Accepted.Seconds(), op.Action, op.Name, cell(before(op)), ClassifyError(op.Error), cell(clip(op.Error, 200)))
		}
		b.WriteString("\n")
	}
	if len(open) > 0 {
		fmt.Fprintf(b, "### Operations not ended (%s)\n\n| at (s) | action | name | operation | last status |\n|--:|---|---|---|---|\n", listed(len(open)))
		for _, op := range open[:min(len(open), maxListed)] {
			st := orDash(op.Status)
			if op.Gone {
				st = "404 (" + st + " before)"
			}
			fmt.Fprintf(b, "| %.1f | %s | %s | `%s` | %s |\n", op.Accepted.Seconds(), op.Action, op.Name, op.ID, st)
		}
		b.WriteString("\n")
	}
	if fs := r.Results.Findings; len(fs) > 0 {
		fmt.Fprintf(b, "### Unexpected answers and events (%s)\n\n| at (s) | kind | request | name | status | problem type | detail |\n|--:|---|---|---|--:|---|---|\n", listed(r.Results.Unexpected))
		for _, f := range fs[:min(len(fs), maxListed)] {
			fmt.Fprintf(b, "| %.1f | %s | %s | %s | %s | `%s` | %s |\n", f.At.Seconds(), cell(f.Kind), requestName(f.Action), cell(orDash(f.Name)),
				statusName(f.Status), cell(orDash(f.ProblemType)), cell(clip(f.Detail, 200)))
		}
		b.WriteString("\n")
	}
}

func before(op Op) string {
	switch op.Before {
	case http.StatusNotFound:
		return "404"
	case 0:
		return "-"
	}
	return fmt.Sprintf("%d %s", op.Before, op.BeforeState)
}

func listed(n int) string {
	if n > maxListed {
		return fmt.Sprintf("first %d of %d", maxListed, n)
	}
	return fmt.Sprintf("%d", n)
}

func (r *Report) comparisonSection(b *strings.Builder) {
	b.WriteString("## Cache vs sandbox at the end (target 0 mismatches)\n\n")
	if r.Comparison == nil {
		fmt.Fprintf(b, "The comparison could not be made: %s\n\n", cell(orDash(r.CompareErr)))
		return
	}
	cmp := r.Comparison
	scope := "every stack and item of the project"
	if n := r.Churn.Clients * r.Churn.Names; n > 0 {
		scope = fmt.Sprintf("the %d soak names and any other stack or item of the project", n)
	}
	fmt.Fprintf(b, "Compared %d stack names (%s): %d with a live stack, %d without; %d stacks still in progress. **Mismatches: %d.**\n\n",
		cmp.Checked, scope, cmp.Live, cmp.Absent, cmp.InFlight, len(cmp.Mismatches))
	if cmp.InFlight > 0 {
		b.WriteString("A stack still in progress after the drain is a stack operation that did not end.\n\n")
	}
	if len(cmp.Mismatches) == 0 {
		return
	}
	fmt.Fprintf(b, "| name | cache | sandbox | problem |\n|---|---|---|---|\n")
	for _, m := range cmp.Mismatches[:min(len(cmp.Mismatches), 50)] {
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", cell(m.Name), cell(m.Cache), cell(m.Sandbox), cell(m.Problem))
	}
	if n := len(cmp.Mismatches); n > 50 {
		fmt.Fprintf(b, "\n(%d more)\n", n-50)
	}
	b.WriteString("\n")
}

func (r *Report) growthSection(b *strings.Builder) {
	b.WriteString("## Growth\n\n")
	if len(r.Samples) == 0 {
		b.WriteString("No samples.\n\n")
		return
	}
	b.WriteString("| t (s) | phase | ops accepted | bucketdesk.db MB | sandbox.db MB | data dir MB | on disk MB | server RSS MB | server heap MB |\n|--:|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, s := range r.Samples {
		rssText, heapText := "-", "-"
		if s.RSS >= 0 {
			rssText = MB(s.RSS)
		}
		if s.Heap >= 0 {
			heapText = MB(s.Heap)
		}
		fmt.Fprintf(b, "| %.0f | %s | %d | %s | %s | %s | %s | %s | %s |\n", s.At.Seconds(), s.Phase, s.Accepted, MB(s.CacheDB), MB(s.Sandbox), MB(s.Data), MB(s.Disk), rssText, heapText)
	}
	b.WriteString("\nFile sizes are those `ls -l` shows (the server log excepted); bbolt extends a file in steps (doubling up to 16 MB, then 16 MB at a time), so they jump. *On disk* counts the blocks the data directory really occupies, which grows page by page. The resident set also counts the pages of the bbolt files the server maps; the heap (its Go heap, from `/metrics`) is its own memory.\n\n")
	b.WriteString(GrowthSummary(SummarizeGrowth(r.Samples, r.Churned)))
	b.WriteString("\n")
}

// GrowthSummary tells the growth in a few lines: the plateau (or not) of
// the data directory and the server's memory over the two halves of the
// churn, and the data per 1,000 operations.
func GrowthSummary(g Growth) string {
	var b strings.Builder
	if !g.OK {
		b.WriteString("- Too few samples during the churn to compare its two halves.\n")
	} else {
		fmt.Fprintf(&b, "- data directory (without the server log): %s MB at the start, %s MB half way (%.0f s), %s MB at the end of the churn (%.0f s), %s MB at the last sample: **%s in the first half, %s in the second**.\n",
			MB(g.Start.Data), MB(g.Mid.Data), g.Mid.At.Seconds(), MB(g.End.Data), g.End.At.Seconds(), MB(g.Last.Data), SignedMB(g.DataFirst), SignedMB(g.DataSecond))
		fmt.Fprintf(&b, "- on disk: %s MB at the start, %s MB half way, %s MB at the end of the churn, %s MB at the last sample: **%s in the first half, %s in the second**.\n",
			MB(g.Start.Disk), MB(g.Mid.Disk), MB(g.End.Disk), MB(g.Last.Disk), SignedMB(g.DiskFirst), SignedMB(g.DiskSecond))
		if g.RSSKnown {
			fmt.Fprintf(&b, "- server RSS: %s MB at the start, %s MB half way, %s MB at the end of the churn, %s MB at the last sample: **%s in the first half, %s in the second**.\n",
				MB(g.Start.RSS), MB(g.Mid.RSS), MB(g.End.RSS), MB(max(g.Last.RSS, 0)), SignedMB(g.RSSFirst), SignedMB(g.RSSSecond))
		} else {
			b.WriteString("- server RSS: not measured (no /proc/<pid>/status).\n")
		}
		if g.HeapKnown {
			fmt.Fprintf(&b, "- server heap: %s MB at the start, %s MB half way, %s MB at the end of the churn: **%s in the first half, %s in the second**.\n",
				MB(g.Start.Heap), MB(g.Mid.Heap), MB(g.End.Heap), SignedMB(g.HeapFirst), SignedMB(g.HeapSecond))
		}
	}
	if g.Accepted > 0 {
		fmt.Fprintf(&b, "- data per 1,000 operations: **%.2f MB** (the data directory at the last sample / %d operations accepted × 1,000); its growth since the first sample: %.2f MB per 1,000 operations.\n",
			g.PerKOps/(1<<20), g.Accepted, g.GrowthPerKOps/(1<<20))
		fmt.Fprintf(&b, "- on disk per 1,000 operations: bucketdesk.db (cache, queue and history) **%.2f MB**, sandbox.db **%.2f MB**.\n",
			g.CachePerKOps/(1<<20), g.SandboxPerKOps/(1<<20))
	} else {
		b.WriteString("- no operation was accepted: no data per operation.\n")
	}
	return b.String()
}

// cell makes s safe in a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "`", "'")
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
