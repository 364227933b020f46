package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/hub/localhub"
	"bucketdesk/internal/setup"
	"bucketdesk/internal/stacks"
)

var alice, bob = core.Principal{User: "alice"}, core.Principal{User: "bob"}

// open starts a local bucketdesk on dir whose reconciler runs only when a
// test asks (and once at start).
func open(t *testing.T, dir string, sb *simcloud.Options, tweak ...func(*setup.LocalConfig)) *setup.Local {
	t.Helper()
	cfg := setup.LocalConfig{
		DataDir: dir, Sandbox: sb, ReconcileEvery: 24 * time.Hour, CloudRate: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, f := range tweak {
		f(&cfg)
	}
	l, err := setup.OpenLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if _, _, err := l.EnsureProject(t.Context(), setup.DemoProject([]string{alice.User, bob.User})); err != nil {
		t.Fatal(err)
	}
	return l
}

func bucket(name string) core.Spec {
	return core.Spec{Bucket: &core.BucketSpec{Name: name, Encryption: core.Encryption{Type: core.EncryptionS3}}}
}

func user(name string, keys int, buckets ...string) core.Spec {
	u := &core.UserSpec{Name: name, AccessKeys: keys}
	for _, b := range buckets {
		u.Grants = append(u.Grants, core.Grant{Bucket: b, Access: core.AccessReadWrite, Prefix: "in/"})
	}
	return core.Spec{User: u}
}

// settle waits for quiet, reconciles once, and waits again.
func settleAndReconcile(t *testing.T, l *setup.Local) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := l.Settle(ctx); err != nil {
		t.Fatalf("settle: %v", err)
	}
	for attempt := 1; ; attempt++ {
		_, err := l.Engine.Reconciler.Reconcile(ctx)
		if err == nil {
			break
		}
		if !core.Retryable(err) || attempt == 20 {
			t.Fatalf("reconcile: %v", err)
		}
		<-time.After(100 * time.Millisecond) // throttled: wait out the sandbox's rate limit
	}
	if err := l.Settle(ctx); err != nil {
		t.Fatalf("settle: %v", err)
	}
}

// assertMirrors checks that the cache equals the sandbox's description of
// every stack of the project, and that no lock is left.
func assertMirrors(t *testing.T, l *setup.Local, project string) {
	t.Helper()
	ctx := t.Context()
	p, err := l.Store.GetProject(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	sums, err := patiently(func() ([]core.StackSummary, error) {
		return l.Sandbox.ListStacks(ctx, p.Account(), stacks.Prefix(project))
	})
	if err != nil {
		t.Fatal(err)
	}
	items, _, err := l.Store.ListResources(ctx, project, core.Page{})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*core.Resource{}
	for _, r := range items {
		byName[r.StackName] = r
		if r.Lock != nil {
			t.Errorf("%s: lock left: %+v", r.StackName, r.Lock)
		}
		if r.Op != nil && !r.Op.Status.Terminal() {
			t.Errorf("%s: operation %s still %s", r.StackName, r.Op.ID, r.Op.Status)
		}
	}
	listed := map[string]bool{}
	for _, s := range sums {
		listed[s.StackName] = true
		st, err := patiently(func() (*core.Stack, error) { return l.Sandbox.DescribeStack(ctx, p.Account(), s.StackID) })
		if err != nil {
			t.Fatal(err)
		}
		r := byName[s.StackName]
		if r == nil {
			t.Errorf("%s: in CloudFormation, not in the cache", s.StackName)
			continue
		}
		if r.Observed.StackStatus != st.Status || r.Observed.StackID != st.StackID || r.Observed.Phase != core.PhaseOf(st.Status) {
			t.Errorf("%s: cache %s/%s, CloudFormation %s", s.StackName, r.Observed.StackStatus, r.Observed.Phase, st.Status)
		}
		if !sameMap(r.Observed.Outputs, st.Outputs) {
			dbg, _ := json.Marshal(r)
			t.Errorf("%s: outputs %v, CloudFormation %v\n%s", s.StackName, r.Observed.Outputs, st.Outputs, dbg)
		}
	}
	for _, r := range items {
		if !listed[r.StackName] && r.Observed.Phase != core.PhaseDeleted {
			t.Errorf("%s: cache shows %s, CloudFormation has no such stack", r.StackName, r.Observed.Phase)
		}
	}
}

// patiently retries a sandbox read that was throttled.
func patiently[T any](f func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		v, err := f()
		if !core.Retryable(err) || attempt == 50 {
			return v, err
		}
		<-time.After(50 * time.Millisecond) // the sandbox's token bucket refills in real time
	}
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// recorder keeps every message the hub publishes.
type recorder struct {
	sub *localhub.Subscription
	mu  sync.Mutex
	got []core.Message
	end chan struct{}
}

func record(t *testing.T, l *setup.Local, projects ...string) *recorder {
	rec := &recorder{sub: l.Hub.Subscribe(projects, 1<<20), end: make(chan struct{})}
	go func() {
		defer close(rec.end)
		for m := range rec.sub.C {
			rec.mu.Lock()
			rec.got = append(rec.got, m)
			rec.mu.Unlock()
		}
	}()
	t.Cleanup(rec.sub.Close)
	return rec
}

func (rec *recorder) stop() []core.Message {
	rec.sub.Close()
	<-rec.end
	return rec.got
}

// assertMonotonic checks that, in version order, no resource's last
// applied event ever went back in time while it was bound to one stack: an
// older event never overwrote a newer one. (A name's next stack starts a
// timeline of its own.)
func assertMonotonic(t *testing.T, msgs []core.Message) {
	t.Helper()
	byStack := map[string][]*core.Resource{}
	versions := map[string]map[int64]bool{}
	for _, m := range msgs {
		r := m.Resource
		if r == nil {
			continue
		}
		if versions[r.StackName] == nil {
			versions[r.StackName] = map[int64]bool{}
		}
		if versions[r.StackName][r.Version] {
			t.Errorf("%s: version %d published for two different writes", r.StackName, r.Version)
		}
		versions[r.StackName][r.Version] = true
		if id := r.Observed.StackID; id != "" {
			byStack[id] = append(byStack[id], r)
		}
	}
	for name, rs := range byStack {
		sort.Slice(rs, func(i, j int) bool { return rs[i].Version < rs[j].Version })
		for i := 1; i < len(rs); i++ {
			if rs[i].LastEvent.Time.Before(rs[i-1].LastEvent.Time) {
				t.Errorf("%s: version %d went back from event %s to %s", name, rs[i].Version, rs[i-1].LastEvent.Time, rs[i].LastEvent.Time)
			}
		}
	}
}

func assertOneStackOperationPerToken(t *testing.T, sb *simcloud.Sandbox) {
	t.Helper()
	seen := map[string]int{}
	for _, op := range sb.Operations() {
		seen[op.Token]++
		if seen[op.Token] == 2 {
			t.Errorf("token %s started two stack operations", op.Token)
		}
	}
}

// must fails the test on a refused request: must{t}.op(svc.Create(…)).
type must struct{ t *testing.T }

func (m must) op(op *core.Operation, err error) *core.Operation {
	m.t.Helper()
	if err != nil {
		m.t.Fatal(err)
	}
	return op
}

// Convergence: whatever SNS does to the events (shuffled, 20 % duplicated,
// 10 % dropped), after one reconcile the cache equals CloudFormation.
func TestConvergenceUnderChaos(t *testing.T) {
	runs := 24
	if testing.Short() {
		runs = 4
	}
	for seed := 1; seed <= runs; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			sb := simcloud.ZeroOptions()
			sb.Chaos = simcloud.Chaos{Seed: int64(seed), Duplicate: 0.2, Drop: 0.1, Reorder: 0.5, MaxDelay: 2 * time.Millisecond}
			l := open(t, t.TempDir(), sb)
			ctx := t.Context()
			// A bucket name taken in another account makes one create fail.
			other := &core.Project{ID: "other", Name: "Other", AccountID: "210987654321", Region: "eu-west-1", Members: []string{bob.User}}
			if _, _, err := l.EnsureProject(ctx, other); err != nil {
				t.Fatal(err)
			}
			rec := record(t, l, "demo", "other")
			l.Start(ctx)
			taken := fmt.Sprintf("taken-%d", seed)
			must{t}.op(l.Engine.Service.Create(ctx, bob, "other", bucket(taken)))

			names := []string{"b0", "b1", "b2", "b3", "b4.with.dots"}
			for _, n := range names {
				spec := bucket(fmt.Sprintf("%s-%d", n, seed))
				if n == "b3" { // a writer races its delete: DELETE_FAILED
					spec.Bucket.Tags = map[string]string{simcloud.FailTag: "delete"}
				}
				must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", spec))
			}
			b0, b1 := fmt.Sprintf("b0-%d", seed), fmt.Sprintf("b1-%d", seed)
			must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", user("u0", 1, b0)))
			must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", user("u1@partner", 1, b0, b1)))
			settleAndReconcile(t, l)
			must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", bucket(taken)))
			settleAndReconcile(t, l)
			assertMirrors(t, l, "demo")
			if r, err := l.Engine.Service.Get(ctx, alice, "demo", core.KindBucket, taken); err != nil || r.Observed.Phase != core.PhaseFailed || r.Op.Status != core.OpFailed {
				t.Fatalf("taken bucket: %+v %v", r, err)
			}

			// Second round: updates, a key rotation, deletes, a failing delete.
			up := bucket(b0)
			up.Bucket.Versioning = true
			must{t}.op(l.Engine.Service.Update(ctx, alice, "demo", up, 0))
			must{t}.op(l.Engine.Service.RotateKey(ctx, bob, "demo", "u0", 0, 0))
			must{t}.op(l.Engine.Service.Update(ctx, bob, "demo", user("u1@partner", 2, b1), 0))
			must{t}.op(l.Engine.Service.Delete(ctx, alice, "demo", core.KindBucket, fmt.Sprintf("b2-%d", seed), 0))
			must{t}.op(l.Engine.Service.Delete(ctx, alice, "demo", core.KindBucket, taken, 0))
			must{t}.op(l.Engine.Service.Delete(ctx, alice, "demo", core.KindBucket, fmt.Sprintf("b3-%d", seed), 0))
			settleAndReconcile(t, l)
			assertMirrors(t, l, "demo")
			assertMirrors(t, l, "other")
			assertMonotonic(t, rec.stop())
			assertOneStackOperationPerToken(t, l.Sandbox)

			r, err := l.Engine.Service.Get(ctx, alice, "demo", core.KindBucket, b0)
			if err != nil || !r.Spec.Bucket.Versioning {
				t.Fatalf("b0 not updated: %+v %v", r, err)
			}
			r, err = l.Engine.Service.Get(ctx, alice, "demo", core.KindBucket, fmt.Sprintf("b3-%d", seed))
			if err != nil || r.Observed.StackStatus != "DELETE_FAILED" || r.Op.Status != core.OpFailed || r.Op.Error == "" {
				t.Fatalf("b3: want DELETE_FAILED with a reason, got %+v %v", r, err)
			}
			if _, err := l.Engine.Service.Get(ctx, alice, "demo", core.KindBucket, fmt.Sprintf("b2-%d", seed)); !errors.Is(err, core.ErrNotFound) {
				t.Fatalf("b2 not deleted: %v", err)
			}
			if _, err := l.Engine.Service.RotateKey(ctx, bob, "demo", "u1@partner", 0, 0); !errors.Is(err, core.ErrConflict) {
				t.Fatalf("rotating a key of a user with two keys: %v", err)
			}
			u0, err := l.Engine.Service.Get(ctx, alice, "demo", core.KindUser, "u0")
			if err != nil || u0.Spec.User.KeySerial(0) != 2 || u0.Observed.Outputs["AccessKey1Id"] == "" {
				t.Fatalf("u0 not rotated: %+v %v", u0, err)
			}
		})
	}
}
