package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// readPlan bounds the sequential measurements of one cell.
type readPlan struct {
	cachedN              int
	directN, directMin   int
	directBudget, cached time.Duration
	// directUpTo is the largest project the direct reader is measured on
	// (0: all): at the sandbox's pace one direct LIST takes about a quarter
	// of a second per bucket (a minute for 200), too long for a smoke run.
	directUpTo int
}

func planFor(quick bool) readPlan {
	if quick {
		return readPlan{cachedN: 300, directN: 3, directMin: 1, directBudget: 3 * time.Second, cached: 5 * time.Second, directUpTo: 10}
	}
	return readPlan{cachedN: 3000, directN: 20, directMin: 2, directBudget: 20 * time.Second, cached: 20 * time.Second}
}

// cachedVsDirect is section 1: LIST and GET through HTTP from the cache
// and from CloudFormation (engine.Direct), one request at a time.
func cachedVsDirect(ctx context.Context, e *env, o Options) Table {
	plan := planFor(o.Quick)
	t := Table{
		Title:  "Cached against direct reads (the cache against the design without one)",
		Header: []string{"Project", "Request", "Reader", "n", "p50", "p99", "CFN calls / request", "Direct ÷ cached (p50 / p99)", "Target"},
	}
	for _, n := range o.Sizes {
		pid := e.projects[n]
		for _, req := range []string{"LIST", "GET"} {
			path := "/projects/" + pid + "/buckets"
			if req == "GET" {
				path += "/" + bucketName(n, n/2)
			}
			fmt.Fprintf(o.Log, "bench: %s of a project of %d buckets, cached then direct…\n", req, n)
			// Warm both paths' connections and the API's list cache.
			for range 20 {
				e.get(ctx, "/api"+path)
			}
			c0 := e.cached.n.Load()
			cached := Sequential(ctx, plan.cachedN, 1, plan.cached, func(ctx context.Context) error { return e.get(ctx, "/api"+path) })
			cCalls := float64(e.cached.n.Load()-c0) / float64(max(1, cached.Count()+cached.Errors()))
			if plan.directUpTo > 0 && n > plan.directUpTo {
				t.Rows = append(t.Rows,
					[]string{strconv.Itoa(n) + " buckets", req, "cached (API)", count(cached), Ms(cached.Percentile(50)), Ms(cached.Percentile(99)), fmt.Sprintf("%.2f", cCalls), "", ""},
					[]string{strconv.Itoa(n) + " buckets", req, "direct", "not measured with --quick", "", "", "", "", ""},
				)
				continue
			}
			d0 := e.direct.n.Load()
			direct := Sequential(ctx, plan.directN, plan.directMin, plan.directBudget, func(ctx context.Context) error { return e.get(ctx, "/direct"+path) })
			dCalls := float64(e.direct.n.Load()-d0) / float64(max(1, direct.Count()+direct.Errors()))
			r50 := float64(direct.Percentile(50)) / float64(max(1, cached.Percentile(50)))
			r99 := float64(direct.Percentile(99)) / float64(max(1, cached.Percentile(99)))
			target := ""
			if req == "LIST" && n == 200 {
				ok := r50 > 100 && cCalls == 0
				target = mark(ok) + " > 100× faster, 0 calls"
			}
			ratio := fmt.Sprintf("%.0f× / %.0f×", r50, r99)
			t.Rows = append(t.Rows,
				[]string{strconv.Itoa(n) + " buckets", req, "cached (API)", count(cached), Ms(cached.Percentile(50)), Ms(cached.Percentile(99)), fmt.Sprintf("%.2f", cCalls), ratio, target},
				[]string{strconv.Itoa(n) + " buckets", req, "direct", count(direct), Ms(direct.Percentile(50)), Ms(direct.Percentile(99)), fmt.Sprintf("%.1f", dCalls), "", ""},
			)
		}
	}
	t.Notes = append(t.Notes,
		fmt.Sprintf("Sandbox CloudFormation with %s per API call and a rate limit of %g calls/s per account (burst %d); both readers pace themselves at 80 %% of it, as the engine does, so the direct reader is slowed down rather than throttled. Each project also holds one IAM user per ten buckets; LIST returns the buckets. Requests are sent one at a time over keep-alive HTTP on 127.0.0.1 with alice's bearer token; the direct reader (`engine.Direct` behind a small handler in package bench) verifies the same token with the same verifier and checks membership, then lists the stacks and gets and parses every template.",
			o.APILatency, o.SandboxRate, int(2*o.SandboxRate)),
		"n is the number of requests measured: the direct reader is bounded by time, so its p99 over few samples is its maximum. Errors: "+errorsNote(e),
	)
	if plan.directUpTo > 0 {
		t.Notes = append(t.Notes, fmt.Sprintf("With --quick the direct reader is measured on the project of %d buckets only.", plan.directUpTo))
	}
	return t
}

func errorsNote(e *env) string { return "a failed request is not counted in n (none expected)." }

func count(r *Recorder) string {
	s := strconv.Itoa(r.Count())
	if r.Errors() > 0 {
		s += fmt.Sprintf(" (+%d errors)", r.Errors())
	}
	return s
}

func mark(ok bool) string {
	if ok {
		return "✅"
	}
	return "❌"
}
