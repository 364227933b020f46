package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"

	"bucketdesk/internal/cfnevent"
	"bucketdesk/internal/cloud/paced"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/setup"
	"bucketdesk/internal/stacks"
	"bucketdesk/internal/store/boltstore"
	"bucketdesk/internal/wsapi"
)

// growthPlan sizes the growth section.
type growthPlan struct {
	// lists are the projects' numbers of buckets whose LIST is measured
	// (each project also holds one IAM user per ten buckets).
	lists []int
	// big is the number of stacks of the start-up and large reconciler
	// project (nine buckets for one user).
	big int
	// listN and listBudget bound each LIST measurement.
	listN      int
	listBudget time.Duration
	// userOps are the updates requested while the measured pass runs.
	userOps int
}

func growthPlanFor(quick bool) growthPlan {
	if quick {
		return growthPlan{lists: []int{50, 200}, big: 300, listN: 100, listBudget: 150 * time.Millisecond, userOps: 3}
	}
	return growthPlan{lists: []int{200, 1000, 5000}, big: 10000, listN: 500, listBudget: 1500 * time.Millisecond, userOps: 10}
}

// growthProject is a project the growth section seeds.
type growthProject struct {
	p              *core.Project
	buckets, users int
	bucketNames    []string
}

func (g *growthProject) stacks() int { return g.buckets + g.users }

func growthBucket(pid string, i int) string { return fmt.Sprintf("%s-data-%05d", pid, i) }

// newGrowthProject describes a project of buckets and users in its own
// account (accounts are numbered by idx).
func newGrowthProject(id string, idx, buckets, users int) *growthProject {
	p := setup.DemoProject([]string{"alice", "bob"})
	p.ID, p.Name = id, fmt.Sprintf("Growth project of %d buckets and %d users", buckets, users)
	p.AccountID = fmt.Sprintf("3100000000%02d", idx)
	p.RoleARN = "arn:aws:iam::" + p.AccountID + ":role/bucketdesk"
	p.LogBucket = ""
	g := &growthProject{p: p, buckets: buckets, users: users}
	for i := range buckets {
		g.bucketNames = append(g.bucketNames, growthBucket(id, i))
	}
	return g
}

// specs are the project's resources: buckets (every other one versioned,
// tagged) and users, each granted read on one bucket and read-write on a
// prefix of another.
func (g *growthProject) specs() []core.Spec {
	var out []core.Spec
	for i, b := range g.bucketNames {
		out = append(out, core.Spec{Bucket: &core.BucketSpec{Name: b, Versioning: i%2 == 0,
			Encryption: core.Encryption{Type: core.EncryptionS3}, Tags: map[string]string{"team": "growth", "cost-centre": fmt.Sprintf("cc-%03d", i%50)}}})
	}
	for i := range g.users {
		out = append(out, core.Spec{User: &core.UserSpec{Name: fmt.Sprintf("%s-user-%04d", g.p.ID, i), Grants: []core.Grant{
			{Bucket: g.bucketNames[i%len(g.bucketNames)], Access: core.AccessRead},
			{Bucket: g.bucketNames[(i+1)%len(g.bucketNames)], Access: core.AccessReadWrite, Prefix: "in/"},
		}}})
	}
	return out
}

// seedGrowth writes projects into a new data directory fast, without the
// sandbox's pace and without an fsync per write, but with the real rules:
// each stack is created in the sandbox (simcloud, instantaneous) from the
// template bucketdesk renders for its spec, with the operation's token,
// and its item is what the engine would have written: an operation begun
// as the service begins it (core.Begin), bound to its stack as the worker
// binds it, every stack event the sandbox recorded applied by the
// mirror's rule (core.ApplyEvent), the outputs of DescribeStacks set
// (core.SetOutputs), its operation history written. Only the writes are
// batched: bbolt without fsync, one transaction per item.
func seedGrowth(ctx context.Context, dir string, projects []*growthProject, log io.Writer) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	db, err := bolt.Open(filepath.Join(dir, "bucketdesk.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second, NoSync: true})
	if err != nil {
		return err
	}
	defer db.Close()
	store, err := boltstore.New(db, nil)
	if err != nil {
		return err
	}
	sb, err := simcloud.New(filepath.Join(dir, "sandbox.db"), &simcloud.Options{NoSync: true})
	if err != nil {
		return err
	}
	defer sb.Close()
	for _, g := range projects {
		if err := store.PutProject(ctx, g.p); err != nil {
			return err
		}
		specs := g.specs()
		t0 := time.Now()
		fmt.Fprintf(log, "bench: growth: seeding %s (%d stacks)…\n", g.p.ID, len(specs))
		items := make([]*core.Resource, len(specs))
		ids := make([]string, len(specs))
		var (
			wg    sync.WaitGroup
			next  atomic.Int64
			first error
			mu    sync.Mutex
		)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(specs) || ctx.Err() != nil {
						return
					}
					r, id, err := beginCreate(ctx, sb, g.p, specs[i])
					if err != nil {
						mu.Lock()
						first = cmp(first, err)
						mu.Unlock()
						return
					}
					items[i], ids[i] = r, id
				}
			}()
		}
		wg.Wait()
		if first != nil {
			return first
		}
		if err := sb.WaitIdle(ctx); err != nil {
			return err
		}
		fmt.Fprintf(log, "bench: growth: %s: %d stacks created in %s\n", g.p.ID, len(specs), time.Since(t0).Round(time.Millisecond))
		// The events are read and applied in parallel; bbolt writes one
		// transaction at a time anyway.
		next.Store(0)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(items) || ctx.Err() != nil {
						return
					}
					if err := finishCreate(ctx, sb, store, g.p, items[i], ids[i]); err != nil {
						mu.Lock()
						first = cmp(first, err)
						mu.Unlock()
						return
					}
				}
			}()
		}
		wg.Wait()
		if first != nil {
			return first
		}
		fmt.Fprintf(log, "bench: growth: %s: items written after %s\n", g.p.ID, time.Since(t0).Round(time.Millisecond))
	}
	// The stack events' notifications are taken at last (and dropped:
	// finishCreate read the events from the sandbox), so that none is
	// left in the sandbox's outbox for the measured servers' mirrors, as
	// none would be long after these creates. (Taken during the creates,
	// their delivery slows the creates down.)
	unsubscribe := sb.Subscribe(func([]byte) {})
	defer unsubscribe()
	return sb.WaitIdle(ctx)
}

func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// beginCreate begins the create of spec's item as the service and the
// worker do, and starts its stack in the sandbox.
func beginCreate(ctx context.Context, sb *simcloud.Sandbox, p *core.Project, spec core.Spec) (*core.Resource, string, error) {
	spec = stacks.Canonical(spec)
	if b := spec.Bucket; b != nil {
		b.VersioningSuspended = core.NextVersioningSuspended(nil, b.Versioning)
	}
	now := time.Now().UTC()
	stackName := stacks.StackName(p.ID, spec.Kind(), spec.Name())
	op := &core.Operation{ID: ulid.Make().String(), Project: p.ID, Kind: spec.Kind(), Name: spec.Name(), StackName: stackName,
		Action: core.ActionCreate, RequestedBy: "alice", RequestedAt: now, Status: core.OpQueued, Rev: 1, Spec: spec.Clone()}
	r := &core.Resource{Project: p.ID, Kind: spec.Kind(), Name: spec.Name(), StackName: stackName, Spec: spec.Clone(),
		Observed: core.Observed{Phase: core.PhaseCreating}, Version: 1}
	if err := core.Begin(r, op); err != nil {
		return nil, "", err
	}
	tpl, caps, err := stacks.Render(p, spec)
	if err != nil {
		return nil, "", err
	}
	id, err := sb.CreateStack(ctx, p.Account(), core.StackRequest{StackName: stackName, Template: tpl,
		Tags: stacks.Tags(p.ID, spec.Kind(), spec.Name()), Token: op.ID, Capabilities: caps})
	return r, id, err
}

// finishCreate applies the stack's recorded events and outputs to r as
// the mirror does and writes the item and its operation's history.
func finishCreate(ctx context.Context, sb *simcloud.Sandbox, store *boltstore.Store, p *core.Project, r *core.Resource, stackID string) error {
	// The worker marks the operation running and binds the stack.
	r.Op.Status = core.OpRunning
	r.Observed.StackID = stackID
	r.Version++
	evs, err := sb.Events(p.Account(), stackID)
	if err != nil {
		return err
	}
	for _, ev := range evs {
		if a := core.ApplyEvent(r, ev); a.Changed() {
			r.Version++
			if a.Finished {
				st, err := sb.DescribeStack(ctx, p.Account(), stackID)
				if err != nil {
					return err
				}
				core.SetOutputs(r, st.Outputs)
			}
		}
	}
	if r.Lock != nil || r.Observed.StackStatus != "CREATE_COMPLETE" {
		return fmt.Errorf("seeding %s: stack %s, lock %v", r.StackName, r.Observed.StackStatus, r.Lock)
	}
	r.UpdatedAt = time.Now().UTC()
	if err := store.PutResource(ctx, r, 0); err != nil {
		return err
	}
	return store.PutOperation(ctx, r.Op.Clone())
}

// dbSizes reads a bbolt file's size and the bytes of the values in each
// top-level bucket (keys included).
func dbSizes(path string) (file int64, byBucket map[string]int64, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return 0, nil, err
	}
	defer db.Close()
	byBucket = map[string]int64{}
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			var n int64
			var walk func(b *bolt.Bucket) error
			walk = func(b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error {
					n += int64(len(k) + len(v))
					if v == nil {
						if sub := b.Bucket(k); sub != nil {
							return walk(sub)
						}
					}
					return nil
				})
			}
			if err := walk(b); err != nil {
				return err
			}
			byBucket[string(name)] = n
			return nil
		})
	})
	return fi.Size(), byBucket, err
}

// heapNow is the live heap after a full collection.
func heapNow() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// growthServer is a local bucketdesk opened on a seeded data directory as
// the binary opens it, behind an HTTP listener on 127.0.0.1; nothing is
// started (no workers, no reconciler) unless the caller starts it.
type growthServer struct {
	l      *setup.Local
	srv    *setup.Server
	hs     *http.Server
	url    string
	client *http.Client
}

// realSandbox is the sandbox with CloudFormation's API latency and a rate
// limit of rate calls/s per account, burst twice that (stack operations
// themselves are instantaneous).
func realSandbox(latency time.Duration, rate float64) *simcloud.Options {
	return &simcloud.Options{APILatency: latency, NoSync: true,
		RateLimit: simcloud.RateLimit{PerSecond: rate, Burst: int(2 * rate)}}
}

// openGrowth opens dir as the binary does (setup.OpenLocal, the demo
// project ensured, the HTTP handler built, listening) and reports how
// long each step took.
func openGrowth(ctx context.Context, dir string, o Options, start bool) (*growthServer, [4]time.Duration, error) {
	var took [4]time.Duration
	t0 := time.Now()
	l, err := setup.OpenLocal(setup.LocalConfig{DataDir: dir, Sandbox: realSandbox(o.APILatency, o.SandboxRate), CloudRate: 0.8 * o.SandboxRate,
		ReconcileEvery: 24 * time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, took, err
	}
	took[0] = time.Since(t0)
	g := &growthServer{l: l}
	fail := func(err error) (*growthServer, [4]time.Duration, error) {
		g.Close()
		return nil, took, err
	}
	if _, _, err := l.EnsureProject(ctx, setup.DemoProject([]string{"alice", "bob"})); err != nil {
		return fail(err)
	}
	// A started server is the binary's restart: its users file exists and
	// no demo password is given, so no password is hashed (the first
	// open of a directory sets the bench's).
	password := benchPassword
	if start {
		password = ""
	}
	if _, err := setup.EnsureDemoUsers(dir, password); err != nil {
		return fail(err)
	}
	took[1] = time.Since(t0)
	if g.srv, err = l.Server(setup.ServerConfig{WS: wsapi.Limits{MaxAge: time.Hour, IdleTimeout: time.Hour}}); err != nil {
		return fail(err)
	}
	took[2] = time.Since(t0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	g.hs = &http.Server{Handler: g.srv.Handler, ReadHeaderTimeout: 10 * time.Second}
	go g.hs.Serve(ln)
	g.url = "http://" + ln.Addr().String()
	if start {
		l.Start(ctx)
	}
	took[3] = time.Since(t0)
	g.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16}}
	return g, took, nil
}

func (g *growthServer) Close() {
	if g.hs != nil {
		g.hs.Close()
	}
	if g.srv != nil {
		g.srv.Close()
	}
	if g.l != nil {
		g.l.Close()
	}
}

// login gets a bearer token through POST /auth/login.
func (g *growthServer) login(ctx context.Context) (string, error) {
	body := `{"username":"alice","password":"` + benchPassword + `"}`
	req, err := http.NewRequestWithContext(ctx, "POST", g.url+"/auth/login", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := g.client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var tok struct{ Token string }
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != 200 {
		return "", fmt.Errorf("login: %d %v", res.StatusCode, err)
	}
	return tok.Token, nil
}

// list sends one LIST of the project's buckets and reads the whole
// answer: gzip asks for the compressed encoding, etag (when not "") asks
// for a 304. It returns the status, the bytes on the wire and the ETag.
func (g *growthServer) list(ctx context.Context, token, pid string, gzip bool, etag string) (int, int64, string, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", g.url+"/api/projects/"+pid+"/buckets", nil)
	if err != nil {
		return 0, 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	res, err := g.client.Do(req)
	if err != nil {
		return 0, 0, "", err
	}
	n, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err == nil && res.StatusCode != http.StatusOK && res.StatusCode != http.StatusNotModified {
		err = fmt.Errorf("LIST %s: %s", pid, res.Status)
	}
	if gzip && res.StatusCode == http.StatusOK && res.Header.Get("Content-Encoding") != "gzip" {
		err = errors.New("LIST: asked for gzip, got " + res.Header.Get("Content-Encoding"))
	}
	return res.StatusCode, n, res.Header.Get("ETag"), err
}

// kindCounter counts the CloudFormation calls that reach the sandbox, by
// kind (each page of a listing one ListStacks), and the throttling
// answers among them.
type kindCounter struct {
	core.Cloud
	mu        sync.Mutex
	calls     map[string]int
	throttled int
}

func newKindCounter(c core.Cloud) *kindCounter {
	return &kindCounter{Cloud: c, calls: map[string]int{}}
}

func (k *kindCounter) note(kind string, err error) {
	k.mu.Lock()
	k.calls[kind]++
	if errors.Is(err, core.ErrThrottled) {
		k.throttled++
	}
	k.mu.Unlock()
}

// snapshot returns the counts so far and resets them.
func (k *kindCounter) snapshot() (map[string]int, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, t := k.calls, k.throttled
	k.calls, k.throttled = map[string]int{}, 0
	return c, t
}

func (k *kindCounter) CreateStack(ctx context.Context, a core.Account, req core.StackRequest) (string, error) {
	id, err := k.Cloud.CreateStack(ctx, a, req)
	k.note("CreateStack", err)
	return id, err
}

func (k *kindCounter) UpdateStack(ctx context.Context, a core.Account, req core.StackRequest) (string, error) {
	id, err := k.Cloud.UpdateStack(ctx, a, req)
	k.note("UpdateStack", err)
	return id, err
}

func (k *kindCounter) DeleteStack(ctx context.Context, a core.Account, name, token string) error {
	err := k.Cloud.DeleteStack(ctx, a, name, token)
	k.note("DeleteStack", err)
	return err
}

func (k *kindCounter) DescribeStack(ctx context.Context, a core.Account, stack string) (*core.Stack, error) {
	st, err := k.Cloud.DescribeStack(ctx, a, stack)
	k.note("DescribeStacks", err)
	return st, err
}

func (k *kindCounter) GetTemplate(ctx context.Context, a core.Account, stack string) (string, error) {
	t, err := k.Cloud.GetTemplate(ctx, a, stack)
	k.note("GetTemplate", err)
	return t, err
}

func (k *kindCounter) ListStacks(ctx context.Context, a core.Account, prefix string) ([]core.StackSummary, error) {
	return k.ListStacksPaced(ctx, a, prefix, nil)
}

// ListStacksPaced counts every page (paced.PagedLister); the sandbox is
// one.
func (k *kindCounter) ListStacksPaced(ctx context.Context, a core.Account, prefix string, wait func(context.Context) error) ([]core.StackSummary, error) {
	pl, ok := k.Cloud.(paced.PagedLister)
	if !ok {
		sums, err := k.Cloud.ListStacks(ctx, a, prefix)
		k.note("ListStacks", err)
		return sums, err
	}
	pages := 0
	sums, err := pl.ListStacksPaced(ctx, a, prefix, func(ctx context.Context) error {
		if pages > 0 {
			k.note("ListStacks", nil)
		}
		pages++
		if wait != nil {
			return wait(ctx)
		}
		return nil
	})
	k.note("ListStacks", err) // the last page, or the one that failed
	return sums, err
}

// passResult is one measured reconciler pass.
type passResult struct {
	stacks     int
	stats      engine.Stats
	calls      map[string]int
	throttled  int // throttling answers of the sandbox, retried inside
	wall       time.Duration
	writes     int64 // items written during the pass (versions), all causes
	published  int   // messages published during the pass, all causes
	userOps    int
	userFailed int // operations ended failed, or refused, by throttling
	userErrors []string
	userLat    *Recorder
}

// reconcilePass runs one reconciler pass over project g on a local
// bucketdesk opened on dir with the sandbox's latency and rate limit, the
// engine paced as OpenLocal paces it (80 % of the limit), with workers and
// the mirror running; with users > 0 it requests that many updates as the
// pass starts and waits for them to end.
func reconcilePass(ctx context.Context, dir string, g *growthProject, users int, o Options) (passResult, error) {
	var res passResult
	logger := slog.New(slog.DiscardHandler)
	l, err := setup.OpenLocal(setup.LocalConfig{DataDir: dir, Sandbox: realSandbox(o.APILatency, o.SandboxRate), ReconcileEvery: 24 * time.Hour, Logger: logger})
	if err != nil {
		return res, err
	}
	defer l.Close()
	counter := newKindCounter(l.Sandbox)
	pace := 0.8 * o.SandboxRate
	l.Engine = engine.New(engine.Options{Resources: l.Store, Projects: l.Store, Queue: l.Queue,
		Cloud: paced.Wrap(counter, pace, int(2*pace)), Objects: l.Sandbox, Hub: l.Hub, Logger: logger})
	ctx, cancel := context.WithCancel(ctx)
	// What Local.Start runs, without its reconciler: the event pump to
	// the mirror and the workers. The pump and workers end (cancel)
	// before wg is waited for.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	unsubscribe := l.Sandbox.Subscribe(func(body []byte) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Engine.Mirror.Consume(ctx, cfnevent.ParseSNS, body)
		}()
	})
	defer unsubscribe()
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.Engine.Worker.Run(ctx, 4)
	}()
	sub := l.Hub.Subscribe([]string{g.p.ID}, 1<<20)
	defer sub.Close()
	var published atomic.Int64
	go func() {
		for range sub.C {
			published.Add(1)
		}
	}()
	versions := func() (int64, error) { return versionSum(ctx, l.Store, g.p.ID) }
	v0, err := versions()
	if err != nil {
		return res, err
	}
	p, err := l.Store.GetProject(ctx, g.p.ID)
	if err != nil {
		return res, err
	}
	// The sandbox and the pacer were just opened: their token buckets
	// are full, as after a quiet minute.
	counter.snapshot()
	res.userLat = NewRecorder(users)
	var userWG sync.WaitGroup
	var userMu sync.Mutex
	alice := core.Principal{User: "alice"}
	t0 := time.Now()
	for i := range users {
		userWG.Add(1)
		go func() {
			defer userWG.Done()
			name := g.bucketNames[i]
			spec := core.Spec{Bucket: &core.BucketSpec{Name: name, Versioning: i%2 != 0, // the other way round
				Encryption: core.Encryption{Type: core.EncryptionS3}, Tags: map[string]string{"team": "growth", "cost-centre": "changed"}}}
			start := time.Now()
			op, err := l.Engine.Service.Update(ctx, alice, g.p.ID, spec, 0)
			if err == nil {
				err = waitOp(ctx, l, core.ResourceKey{Project: g.p.ID, StackName: op.StackName}, op.ID)
			}
			userMu.Lock()
			defer userMu.Unlock()
			if err != nil {
				res.userErrors = append(res.userErrors, err.Error())
				if errors.Is(err, core.ErrThrottled) || strings.Contains(err.Error(), "Rate exceeded") || strings.Contains(err.Error(), "Throttling") {
					res.userFailed++
				}
				return
			}
			res.userLat.Add(time.Since(start))
		}()
	}
	res.stats, err = l.Engine.Reconciler.ReconcileProject(ctx, p)
	res.wall = time.Since(t0)
	userWG.Wait()
	res.calls, res.throttled = counter.snapshot()
	res.userOps = users
	res.stacks = g.stacks()
	if err != nil {
		return res, err
	}
	v1, err := versions()
	res.writes = v1 - v0
	res.published = int(published.Load())
	return res, err
}

// waitOp waits until operation id of the item key ended; an operation
// that failed is an error with its reason.
func waitOp(ctx context.Context, l *setup.Local, key core.ResourceKey, id string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		r, err := l.Store.GetResource(ctx, key)
		if err != nil {
			return err
		}
		if r.Op != nil && r.Op.ID == id && r.Op.Status.Terminal() {
			if r.Op.Status == core.OpFailed {
				return errors.New(r.Op.Error)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("operation %s did not end within 2 minutes", id)
}

// listRow is one measured LIST cell.
type listRow struct {
	buckets, stacks int
	encoding        string
	rec             *Recorder
	bytes           int64
}

// growthPoint is one project size's figures, for the chart.
type growthPoint struct {
	buckets               int
	p99Gzip, p99Plain     time.Duration
	bytesPlain, bytesGzip float64 // per resource listed
}

// growthSection is the growth curves: LIST by project size, the cache's
// memory and disk per resource, start-up with many resources, and the
// reconciler's pass. With o.Out it writes the chart next to it
// (growth.svg).
func growthSection(ctx context.Context, o Options) ([]Table, error) {
	plan := growthPlanFor(o.Quick)
	began := time.Now()
	root, err := os.MkdirTemp("", "bucketdesk-growth-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	listDir, bigDir := filepath.Join(root, "lists"), filepath.Join(root, "big")
	var lists []*growthProject
	for i, n := range plan.lists {
		lists = append(lists, newGrowthProject(fmt.Sprintf("growth-%d", n), i, n, max(1, n/10)))
	}
	bigUsers := plan.big / 10
	big := newGrowthProject(fmt.Sprintf("growth-big-%d", plan.big), 20, plan.big-bigUsers, bigUsers)
	fmt.Fprintf(o.Log, "bench: growth: seeding %d projects…\n", len(lists)+1)
	t := time.Now()
	if err := seedGrowth(ctx, listDir, lists, o.Log); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	if err := seedGrowth(ctx, bigDir, []*growthProject{big}, o.Log); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	seedTook := time.Since(t)
	seededAll := big.stacks()
	for _, g := range lists {
		seededAll += g.stacks()
	}

	// Disk, before any server opens the files.
	type disk struct {
		items        int
		file, values int64
		resources    int64
		ops          int64
	}
	var disks []disk
	for _, d := range []struct {
		dir   string
		items int
	}{{listDir, seededAll - big.stacks()}, {bigDir, big.stacks()}} {
		file, by, err := dbSizes(filepath.Join(d.dir, "bucketdesk.db"))
		if err != nil {
			return nil, err
		}
		var values int64
		for _, n := range by {
			values += n
		}
		disks = append(disks, disk{items: d.items, file: file, values: values, resources: by["store/resources"], ops: by["store/operations"]})
	}

	// LIST by size, and the heap of the decoded cache.
	fmt.Fprintf(o.Log, "bench: growth: LIST by project size…\n")
	heap0 := heapNow()
	gs, _, err := openGrowth(ctx, listDir, o, false)
	if err != nil {
		return nil, err
	}
	heapOpen := heapNow()
	for _, g := range lists {
		if _, _, err := gs.l.Store.ListResources(ctx, g.p.ID, core.Page{}); err != nil {
			gs.Close()
			return nil, err
		}
	}
	heapDecoded := heapNow()
	token, err := gs.login(ctx)
	if err != nil {
		gs.Close()
		return nil, err
	}
	var rows []listRow
	var points []growthPoint
	for _, g := range lists {
		pt := growthPoint{buckets: g.buckets}
		for _, enc := range []string{"gzip", "plain", "304"} {
			gzip := enc != "plain"
			_, n, etag, err := gs.list(ctx, token, g.p.ID, gzip, "")
			if err != nil {
				gs.Close()
				return nil, err
			}
			if enc != "304" {
				etag = ""
			}
			rec := Sequential(ctx, plan.listN, 5, plan.listBudget, func(ctx context.Context) error {
				status, _, _, err := gs.list(ctx, token, g.p.ID, gzip, etag)
				if err == nil && enc == "304" && status != http.StatusNotModified {
					err = fmt.Errorf("If-None-Match: %d, want 304", status)
				}
				return err
			})
			if enc == "304" {
				n = 0
			}
			rows = append(rows, listRow{buckets: g.buckets, stacks: g.stacks(), encoding: enc, rec: rec, bytes: n})
			switch enc {
			case "gzip":
				pt.p99Gzip, pt.bytesGzip = rec.Percentile(99), float64(n)/float64(g.buckets)
			case "plain":
				pt.p99Plain, pt.bytesPlain = rec.Percentile(99), float64(n)/float64(g.buckets)
			}
		}
		points = append(points, pt)
	}
	heapListed := heapNow()
	listItems := seededAll - big.stacks()

	// The reconciler on the middle project.
	fmt.Fprintf(o.Log, "bench: growth: reconciler passes…\n")
	gs.Close()
	mid := lists[len(lists)/2]
	var passes []passResult
	for _, users := range []int{0, plan.userOps} {
		r, err := reconcilePass(ctx, listDir, mid, users, o)
		if err != nil {
			return nil, fmt.Errorf("reconcile %s: %w", mid.p.ID, err)
		}
		passes = append(passes, r)
	}

	// Start-up with the big project: a first server issues the token and
	// is closed; then the data directory is opened again as the binary
	// opens it, and the time to the first LIST's answer is measured.
	fmt.Fprintf(o.Log, "bench: growth: start-up with %d resources…\n", big.stacks())
	first, _, err := openGrowth(ctx, bigDir, o, false)
	if err != nil {
		return nil, err
	}
	bigToken, err := first.login(ctx)
	first.Close()
	if err != nil {
		return nil, err
	}
	bigHeap0 := heapNow()
	t0 := time.Now()
	gb, took, err := openGrowth(ctx, bigDir, o, true)
	if err != nil {
		return nil, err
	}
	_, firstBytes, _, err := gb.list(ctx, bigToken, big.p.ID, true, "")
	firstList := time.Since(t0)
	if err != nil {
		gb.Close()
		return nil, err
	}
	_, _, _, err = gb.list(ctx, bigToken, big.p.ID, true, "")
	secondList := time.Since(t0) - firstList
	bigHeap := heapNow()
	gb.Close()
	if err != nil {
		return nil, err
	}
	// The decoded cache of the big project alone, on a server that does
	// nothing else.
	gd, _, err := openGrowth(ctx, bigDir, o, false)
	if err != nil {
		return nil, err
	}
	bigOpen := heapNow()
	_, _, err = gd.l.Store.ListResources(ctx, big.p.ID, core.Page{})
	bigDecoded := heapNow()
	gd.Close()
	if err != nil {
		return nil, err
	}
	// At this size one pass, with updates running: its own calls are the
	// listing's pages and the descriptions it counts (Described).
	for _, users := range []int{plan.userOps} {
		r, err := reconcilePass(ctx, bigDir, big, users, o)
		if err != nil {
			return nil, fmt.Errorf("reconcile %s: %w", big.p.ID, err)
		}
		passes = append(passes, r)
	}

	// Tables.
	lt := Table{
		Title:  "Growth curves: LIST by project size",
		Header: []string{"Buckets listed", "Stacks in project", "Answer", "n", "p50", "p99", "Bytes on the wire", "Bytes / resource", "Target"},
	}
	for _, r := range rows {
		bytes, per := "", ""
		if r.encoding != "304" {
			bytes = fmt.Sprintf("%d", r.bytes)
			per = fmt.Sprintf("%.0f", float64(r.bytes)/float64(r.buckets))
		}
		label := map[string]string{"gzip": "200, gzip", "plain": "200, identity", "304": "304 (If-None-Match)"}[r.encoding]
		target := ""
		if r.encoding == "gzip" && r.buckets == 200 {
			target = mark(float64(r.bytes)/float64(r.buckets) <= 300) + " ≤ 300 B / resource compressed"
		}
		lt.Rows = append(lt.Rows, []string{thousands(r.buckets), thousands(r.stacks), label, count(r.rec),
			Ms(r.rec.Percentile(50)), Ms(r.rec.Percentile(99)), bytes, per, target})
	}
	lt.Notes = append(lt.Notes,
		fmt.Sprintf("GET /api/projects/{p}/buckets over keep-alive HTTP on 127.0.0.1, one request at a time (up to %d per cell or %s), alice's bearer token; every answer read to its end. The answer is whatever the API returns at this commit (shape and encoding are the lists section's); gzip is asked for with `Accept-Encoding: gzip`, identity without it, and 304 with the ETag of the previous answer. Bytes per resource divide the answer by the buckets listed.", plan.listN, plan.listBudget),
		fmt.Sprintf("How the data was made: %d stacks in all, seeded in %s. Each stack was created in the sandbox (instantaneous, no rate limit) from the template bucketdesk renders for its spec, with its operation's token; each item is what the engine writes for a create (core.Begin, bound to its stack, every stack event the sandbox recorded applied by core.ApplyEvent, the outputs of DescribeStacks), with its operation's history — only the writes skip the fsync per item. Buckets: every other one versioned, two tags; one IAM user per ten buckets with two grants. The measured servers then open these files as the binary does, with the sandbox's %s latency and %g calls/s.", seededAll, seedTook.Round(100*time.Millisecond), o.APILatency, o.SandboxRate),
	)

	mt := Table{
		Title:  "Growth curves: the cache's memory, disk and start-up",
		Header: []string{"Figure", "Value", "Per resource", "Target"},
	}
	mt.Rows = append(mt.Rows,
		[]string{fmt.Sprintf("heap of the decoded cache (%s items: ListResources of every project, after a GC)", thousands(listItems)), mib(int64(heapDecoded) - int64(heapOpen)), perRes(int64(heapDecoded)-int64(heapOpen), listItems), ""},
		[]string{"heap after the LISTs (adds the API's encoded lists, identity and gzip)", mib(int64(heapListed) - int64(heapOpen)), perRes(int64(heapListed)-int64(heapOpen), listItems), ""},
		[]string{fmt.Sprintf("heap of the decoded cache (%s items of one project)", thousands(big.stacks())), mib(int64(bigDecoded) - int64(bigOpen)), perRes(int64(bigDecoded)-int64(bigOpen), big.stacks()), ""},
		[]string{"heap of the whole local server when opened, before any read (the sandbox's state included)", mib(int64(heapOpen) - int64(heap0)), "", ""},
	)
	for _, d := range disks {
		mt.Rows = append(mt.Rows,
			[]string{fmt.Sprintf("bucketdesk.db file with %s items", thousands(d.items)), mib(d.file), perRes(d.file, d.items), ""},
			[]string{"of which stored keys and values (items, operation history, …)", mib(d.values), perRes(d.values, d.items), ""},
			[]string{"of which the items themselves", mib(d.resources), perRes(d.resources, d.items), ""},
			[]string{"of which the operations' history copies", mib(d.ops), perRes(d.ops, d.items), ""},
		)
	}
	startTarget := 3 * time.Second
	mt.Rows = append(mt.Rows,
		[]string{fmt.Sprintf("start-up with %s resources: setup.OpenLocal (cache, queue, sandbox files)", thousands(big.stacks())), Ms(took[0]), "", ""},
		[]string{"… demo project and users ensured", Ms(took[1]), "", ""},
		[]string{"… HTTP handler built (issuer, users file, WebSocket hub)", Ms(took[2]), "", ""},
		[]string{"… listening, engine started", Ms(took[3]), "", ""},
		[]string{fmt.Sprintf("… first LIST of %s buckets answered (gzip, %s)", thousands(big.buckets), kib(firstBytes)), Ms(firstList), "", mark(firstList < startTarget) + " < " + Ms(startTarget)},
		[]string{"… a second LIST (the encoded list kept)", Ms(secondList), "", ""},
		[]string{"heap of the whole process after start-up and the first LIST (the sandbox's state, the reconciler's pass in progress and the encoded lists included)", mib(int64(bigHeap) - int64(bigHeap0)), perRes(int64(bigHeap)-int64(bigHeap0), big.stacks()), ""},
	)
	mt.Notes = append(mt.Notes,
		"Heap figures are `runtime.MemStats.HeapAlloc` after two full collections, differences between two moments in this process (nothing else runs in it meanwhile). Disk figures are the bbolt file's size and the bytes of its keys and values, read with bbolt before the server opens the file; the file also holds the queue (empty) and each operation's history copy.",
		"Start-up is the binary's path (`bucketdesk` serve: OpenLocal, the demo project and users ensured, the HTTP handler built, a listener, Start), measured from the call that opens the data directory to the last byte of the first LIST; the token was issued by an earlier server on the same data directory (the key is in it), so no login is counted. The files were just written, so they are in the page cache; a cold disk adds its reads. Start also begins the reconciler's first pass, which runs meanwhile.",
	)

	rt := Table{
		Title:  "Growth curves: a reconciler pass",
		Header: []string{"Stacks", "Updates requested meanwhile", "CloudFormation calls (by kind)", "Pass: described / repaired", "Wall time", fmt.Sprintf("Calls ÷ %g calls/s (no burst)", o.SandboxRate), "Items written / messages", "Throttling at the sandbox (retried)", "Throttling reaching a user or an operation", "Target"},
	}
	for _, r := range passes {
		var kinds []string
		total := 0
		for k, n := range r.calls {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
			total += n
		}
		sort.Strings(kinds)
		target := ""
		if r.userOps == 0 {
			ok := r.writes == 0 && r.published == 0 && r.stats.Described == 0
			target = mark(ok) + " nothing written, nothing described"
		} else {
			target = mark(r.userFailed == 0 && len(r.userErrors) == 0) + " 0"
		}
		users := "none"
		if r.userOps > 0 {
			users = fmt.Sprintf("%d (ended p50 %s, max %s)", r.userOps, secs(r.userLat.Percentile(50)), secs(r.userLat.Max()))
		}
		rt.Rows = append(rt.Rows, []string{thousands(r.stacks), users, fmt.Sprintf("%d: %s", total, strings.Join(kinds, ", ")),
			fmt.Sprintf("%d / %d", r.stats.Described, r.stats.Repaired),
			secs(r.wall), secs(time.Duration(float64(total) / o.SandboxRate * float64(time.Second))),
			fmt.Sprintf("%d / %d", r.writes, r.published), fmt.Sprintf("%d", r.throttled),
			fmt.Sprintf("%d", r.userFailed), target})
	}
	rt.Notes = append(rt.Notes,
		fmt.Sprintf("One `Reconciler.ReconcileProject` pass over a converged project, on the local bucketdesk with the sandbox's %s per call and %g calls/s per account (burst %d); the engine paces every CloudFormation call of the account (reconciler, workers, mirror) through one token bucket at 80 %% of that, as OpenLocal does, so the measured wall time is at %g calls/s. ListStacks is paged as CloudFormation pages it (100 summaries a page, docs/sandbox-fidelity.md), each page one call; a pass describes only the stacks whose listed state differs from the cache. With updates, that many buckets are updated through the engine's service as the pass starts (the API's write path: workers call UpdateStack, the mirror DescribeStacks at the end), sharing the account's budget; the pass then describes the stacks it saw changing. Items written and messages count every write and publication of the project during the pass, the updates' included. The larger project is measured with updates only (its pass without them would take as long again): its own calls are the listing's pages and the descriptions it counts.",
			o.APILatency, o.SandboxRate, int(2*o.SandboxRate), 0.8*o.SandboxRate),
	)
	for _, r := range passes {
		for _, e := range r.userErrors {
			rt.Notes = append(rt.Notes, "An update failed: "+e)
		}
	}
	rt.Notes = append(rt.Notes, fmt.Sprintf("The section took %s.", time.Since(began).Round(time.Second)))

	if o.Out != "" {
		svg := growthSVG(points, passes)
		path := filepath.Join(filepath.Dir(o.Out), "growth.svg")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(svg), 0o644); err != nil {
			return nil, err
		}
		lt.Notes = append(lt.Notes, "![LIST p99 and bytes per resource against the resources listed; reconciler wall time against stacks](growth.svg)")
	}
	return []Table{lt, mt, rt}, nil
}

// thousands writes n with a comma every three digits.
func thousands(n int) string {
	s := fmt.Sprintf("%d", n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func kib(n int64) string { return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10)) }

func perRes(n int64, items int) string {
	if items == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f B", float64(n)/float64(items))
}

func secs(d time.Duration) string {
	if d < time.Second {
		return Ms(d)
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
