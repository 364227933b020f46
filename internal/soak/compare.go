package soak

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/retry"
	"bucketdesk/internal/stacks"
	"bucketdesk/internal/store/boltstore"
)

// Mismatch is one stack on which the cache and the sandbox disagree.
type Mismatch struct {
	Name      string
	StackName string
	Cache     string
	Sandbox   string
	Problem   string
}

// Comparison is the end state of the cache against the sandbox.
type Comparison struct {
	// Checked counts the stack names compared: every soak name, and any
	// other stack or item of the project.
	Checked int
	// Live counts names with a live stack in the sandbox, Absent names
	// with none.
	Live, Absent int
	// InFlight counts live stacks still in a *_IN_PROGRESS status.
	InFlight   int
	Mismatches []Mismatch
}

// Compare compares, for every name (and every other stack and item of the
// project), the project's live stack in cloud with the cached item in
// resources, as the engine's assertMirrors does: both absent (or the item a
// tombstone), or both present with the same stack id, stack status, phase
// and outputs; and no lock left and no operation not ended on any item.
// The project's account is read from projects.
func Compare(ctx context.Context, projects core.ProjectStore, resources core.ResourceStore, cloud core.Cloud, project string, names []string) (*Comparison, error) {
	p, err := projects.GetProject(ctx, project)
	if err != nil {
		return nil, fmt.Errorf("project %s in the cache: %w", project, err)
	}
	acct := p.Account()
	sums, err := patiently(func() ([]core.StackSummary, error) { return cloud.ListStacks(ctx, acct, stacks.Prefix(project)) })
	if err != nil {
		return nil, fmt.Errorf("list the sandbox's stacks: %w", err)
	}
	live := map[string]core.StackSummary{}
	for _, s := range sums {
		live[s.StackName] = s
	}
	label := map[string]string{} // stack name → resource name
	for _, n := range names {
		label[stacks.StackName(project, core.KindBucket, n)] = n
	}
	items, _, err := resources.ListResources(ctx, project, core.Page{})
	if err != nil {
		return nil, fmt.Errorf("list the cache: %w", err)
	}
	for _, r := range items {
		if _, ok := label[r.StackName]; !ok {
			label[r.StackName] = r.Name
		}
	}
	for name := range live {
		if _, ok := label[name]; !ok {
			label[name] = "(" + name + ")"
		}
	}
	order := make([]string, 0, len(label))
	for sn := range label {
		order = append(order, sn)
	}
	sort.Strings(order)

	c := &Comparison{}
	for _, sn := range order {
		c.Checked++
		m := Mismatch{Name: label[sn], StackName: sn}
		r, err := resources.GetResource(ctx, core.ResourceKey{Project: project, StackName: sn})
		if err != nil && !errors.Is(err, core.ErrNotFound) {
			return nil, fmt.Errorf("read %s from the cache: %w", sn, err)
		}
		m.Cache = describeItem(r)
		var problems []string
		if r != nil && r.Lock != nil {
			problems = append(problems, fmt.Sprintf("lock left (%s, operation %s)", r.Lock.Action, r.Lock.OperationID))
		}
		if r != nil && r.Op != nil && !r.Op.Status.Terminal() {
			problems = append(problems, fmt.Sprintf("operation %s still %s", r.Op.ID, r.Op.Status))
		}
		sum, isLive := live[sn]
		cached := r != nil && r.Observed.Phase != core.PhaseDeleted
		if !isLive {
			c.Absent++
			m.Sandbox = "no live stack"
			if cached {
				problems = append(problems, "the cache shows a resource CloudFormation does not have")
			}
		} else {
			c.Live++
			if core.InProgress(sum.Status) {
				c.InFlight++
			}
			st, err := patiently(func() (*core.Stack, error) { return cloud.DescribeStack(ctx, acct, sum.StackID) })
			if err != nil {
				return nil, fmt.Errorf("describe %s in the sandbox: %w", sn, err)
			}
			m.Sandbox = fmt.Sprintf("%s %s %s", core.PhaseOf(st.Status), st.Status, shortID(st.StackID))
			if _, _, name, ok := stacks.Identity(st.Tags); ok && strings.HasPrefix(m.Name, "(") {
				m.Name = name
			}
			switch {
			case !cached:
				problems = append(problems, "CloudFormation has a stack the cache does not show")
			case r.Observed.StackID != st.StackID:
				problems = append(problems, "another stack id")
			case r.Observed.StackStatus != st.Status || r.Observed.Phase != core.PhaseOf(st.Status):
				problems = append(problems, "another status")
			case !maps.Equal(r.Observed.Outputs, st.Outputs):
				problems = append(problems, "other outputs: "+outputsDiff(r.Observed.Outputs, st.Outputs))
			}
		}
		if len(problems) > 0 {
			m.Problem = strings.Join(problems, "; ")
			c.Mismatches = append(c.Mismatches, m)
		}
	}
	return c, nil
}

// outputsDiff names the outputs that differ (outputs are ARNs and ids,
// never secret values).
func outputsDiff(cache, cloud map[string]string) string {
	keys := map[string]bool{}
	for k := range cache {
		keys[k] = true
	}
	for k := range cloud {
		keys[k] = true
	}
	var diffs []string
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		c, inCache := cache[k]
		f, inCloud := cloud[k]
		switch {
		case !inCache:
			diffs = append(diffs, k+" missing in the cache")
		case !inCloud:
			diffs = append(diffs, k+" only in the cache")
		case c != f:
			diffs = append(diffs, fmt.Sprintf("%s %q in the cache, %q in CloudFormation", k, c, f))
		}
	}
	return clip(strings.Join(diffs, ", "), 300)
}

func describeItem(r *core.Resource) string {
	if r == nil {
		return "no item"
	}
	s := strings.Join(strings.Fields(fmt.Sprintf("%s %s %s", r.Observed.Phase, r.Observed.StackStatus, shortID(r.Observed.StackID))), " ")
	if r.Op != nil {
		s += ", last op " + strings.Join(strings.Fields(fmt.Sprintf("%s %s", r.Op.Action, r.Op.Status)), " ")
	}
	return s
}

// shortID is the stack id's trailing UUID cut to 8 characters, enough to
// tell two stacks of one name apart in a table.
func shortID(id string) string {
	if id == "" {
		return ""
	}
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	if len(id) > 8 {
		id = id[:8]
	}
	return "[" + id + "]"
}

// patientRetry outlasts the sandbox's rate limit: 50 reads over a few
// seconds.
var patientRetry = retry.Policy{Attempts: 50, Base: 50 * time.Millisecond, Max: 100 * time.Millisecond}

// patiently retries a sandbox read that was throttled.
func patiently[T any](f func() (T, error)) (T, error) {
	var v T
	err := patientRetry.Do(context.Background(), func(context.Context) error {
		var err error
		v, err = f()
		return err
	})
	return v, err
}

// frozenClock tells the real time but never lets a wait end: a stack
// operation the sandbox resumes on open takes at most one step.
type frozenClock struct{}

func (frozenClock) Now() time.Time                       { return time.Now() }
func (frozenClock) After(time.Duration) <-chan time.Time { return nil }

// FileComparison is Compare on a stopped server's data directory, and the
// sandbox's statistics when it has any.
type FileComparison struct {
	*Comparison
	// SandboxStats is what the sandbox keeps: stacks, deleted stacks,
	// events, operation records.
	SandboxStats simcloud.Stats
}

// CompareFiles opens the cache (bucketdesk.db) and the sandbox (sandbox.db)
// of a stopped server's data directory and compares them. The sandbox is
// opened with an unlimited API and a clock that never advances, so that a
// stack operation left in flight (there should be none) stays where it is.
func CompareFiles(ctx context.Context, dir, project string, names []string) (*FileComparison, error) {
	store, err := boltstore.Open(filepath.Join(dir, "bucketdesk.db"), &boltstore.Options{Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	o := simcloud.ZeroOptions()
	o.Clock = frozenClock{}
	o.ResourceDuration = time.Hour
	sb, err := simcloud.New(filepath.Join(dir, "sandbox.db"), o)
	if err != nil {
		return nil, err
	}
	defer sb.Close()
	c, err := Compare(ctx, store, store, sb, project, names)
	if err != nil {
		return nil, err
	}
	return &FileComparison{Comparison: c, SandboxStats: sb.Stats()}, nil
}
