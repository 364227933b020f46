package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/oklog/ulid/v2"

	"bucketdesk/internal/cfnevent"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/setup"
	"bucketdesk/internal/stacks"
	"bucketdesk/internal/store/boltstore"
	"bucketdesk/internal/wsapi"
)

// docs/targets.md targets of bursts of stack events.
const (
	burstTargetRate       = 5000 // stack events per second applied durably
	burstTargetConsistent = time.Second
)

// The project-wide change's CloudFormation: the account's API budget
// raised to 50 calls/s (burst 100) and the engine paced at 80 % of it.
const (
	burstSandboxRate = 50
	burstCloudRate   = 40
	burstQueueWorker = 16
)

const burstPassword = "bench-burst-password"

// BurstOptions configure the burst section. Zero fields take the
// defaults (quick: smaller).
type BurstOptions struct {
	Quick bool
	Log   io.Writer
	// Buckets is the project's size (default 200; quick 40), Clients the
	// connected WebSocket clients (default 100; quick 10), Events the
	// stack events of the mirror's throughput run (default 20,000; quick
	// 3,000).
	Buckets, Clients, Events int
}

func (o *BurstOptions) defaults() {
	if o.Buckets <= 0 {
		o.Buckets = 200
		if o.Quick {
			o.Buckets = 40
		}
	}
	if o.Clients <= 0 {
		o.Clients = 100
		if o.Quick {
			o.Clients = 10
		}
	}
	if o.Events <= 0 {
		o.Events = 20000
		if o.Quick {
			o.Events = 3000
		}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Burst measures bursts of stack events on the whole local bucketdesk, on
// a real bbolt file (fsync on every commit): first the mirror's durable
// throughput (stack events through Mirror.Consume, as the sandbox's event
// pump feeds it), with and without group commit; then a project-wide
// change, every bucket of a project updated at once through the HTTP API
// with WebSocket clients connected, timed from the sandbox's last stack
// event to the moment every client holds the final version of every
// resource.
func Burst(ctx context.Context, o BurstOptions) ([]Table, error) {
	o.defaults()
	dir, err := os.MkdirTemp("", "bucketdesk-bench-burst-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := burstProject()

	fmt.Fprintf(o.Log, "bench: burst: creating %d buckets…\n", o.Buckets)
	targets, err := burstCreate(ctx, dir, p, o.Buckets)
	if err != nil {
		return nil, fmt.Errorf("create the project: %w", err)
	}
	fmt.Fprintf(o.Log, "bench: burst: mirror throughput…\n")
	mirror, err := burstThroughput(ctx, dir, p, targets, o)
	if err != nil {
		return nil, fmt.Errorf("mirror throughput: %w", err)
	}
	fmt.Fprintf(o.Log, "bench: burst: project-wide change of %d buckets with %d clients…\n", o.Buckets, o.Clients)
	change, err := burstChange(ctx, dir, p, o)
	if err != nil {
		return []Table{mirror}, fmt.Errorf("project-wide change: %w", err)
	}
	return []Table{mirror, change}, nil
}

func burstProject() *core.Project {
	p := setup.DemoProject([]string{"alice"})
	p.ID, p.Name = "burst", "Burst bench project"
	p.AccountID = "210000000099"
	p.RoleARN = "arn:aws:iam::" + p.AccountID + ":role/bucketdesk"
	p.LogBucket = "" // the sandbox knows only the demo account's log bucket
	return p
}

func burstBucket(i int) string { return fmt.Sprintf("burst-bucket-%04d", i) }

// burstTarget is a bucket in the cache and its latest operation, whose
// progress events the throughput run sends.
type burstTarget struct {
	stackID, stackName, opID string
}

// burstCreate creates the project's buckets through the engine on an
// instantaneous sandbox and returns them once settled.
func burstCreate(ctx context.Context, dir string, p *core.Project, n int) ([]burstTarget, error) {
	zero := simcloud.ZeroOptions()
	zero.NoSync = true
	l, err := setup.OpenLocal(setup.LocalConfig{
		DataDir: dir, Sandbox: zero, CloudRate: -1, Workers: 8, ReconcileEvery: 24 * time.Hour, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if _, _, err := l.EnsureProject(ctx, p); err != nil {
		return nil, err
	}
	l.Start(ctx)
	alice := core.Principal{User: "alice"}
	for i := range n {
		spec := core.Spec{Bucket: &core.BucketSpec{Name: burstBucket(i), Encryption: core.Encryption{Type: core.EncryptionS3}, Tags: map[string]string{"team": "bench"}}}
		if _, err := l.Engine.Service.Create(ctx, alice, p.ID, spec); err != nil {
			return nil, fmt.Errorf("create %s: %w", spec.Name(), err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := l.Settle(sctx); err != nil {
		return nil, fmt.Errorf("settle: %w", err)
	}
	items, _, err := l.Store.ListResources(ctx, p.ID, core.Page{})
	if err != nil {
		return nil, err
	}
	var ts []burstTarget
	for _, r := range items {
		if r.Op == nil || r.Observed.StackID == "" || r.Observed.Phase != core.PhaseReady {
			return nil, fmt.Errorf("bucket %s not ready after settling", r.Name)
		}
		ts = append(ts, burstTarget{stackID: r.Observed.StackID, stackName: r.StackName, opID: r.Op.ID})
	}
	if len(ts) != n {
		return nil, fmt.Errorf("%d buckets in the cache, want %d", len(ts), n)
	}
	return ts, nil
}

// burstRun is one throughput measurement.
type burstRun struct {
	label   string
	group   bool
	workers int
	sent    int
	applied int64
	elapsed time.Duration
	commits int64 // group commits (0 without group commit)
	written int64 // bytes of the pages bbolt wrote
	items   int   // resources the events went to
	size    int   // their average size at the end, bytes of JSON
}

func (r burstRun) rate() float64 { return float64(r.applied) / r.elapsed.Seconds() }

// burstThroughput applies stack events through Mirror.Consume from as
// many goroutines as the local binary's event pump runs, on the file the
// project was created in, once per configuration.
func burstThroughput(ctx context.Context, dir string, p *core.Project, targets []burstTarget, o BurstOptions) (Table, error) {
	t := Table{
		Title:  "Bursts of stack events: applied durably by the mirror",
		Header: []string{"writes", "event workers", "resources (KB each at the end)", "events applied", "time", "events/s", "commits/s", "events per commit", "KB written per event", "target", "met"},
	}
	zero := simcloud.ZeroOptions()
	zero.NoSync = true
	l, err := setup.OpenLocal(setup.LocalConfig{
		DataDir: dir, Sandbox: zero, CloudRate: -1, ReconcileEvery: 24 * time.Hour, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return t, err
	}
	defer l.Close()
	// Nothing runs but the measured applies: no queue workers, no pump.
	single, err := boltstore.New(l.Store.DB(), &boltstore.Options{NoGroupCommit: true})
	if err != nil {
		return t, err
	}
	budget := 3 * time.Second
	if o.Quick {
		budget = 500 * time.Millisecond
	}
	// A project-wide change's items: one per stack, each with an update
	// running whose events arrive now, burstEventsPerStack of them. They
	// live in a project of their own, so that the change measured next
	// updates the real buckets only.
	fresh := max(o.Events/burstEventsPerStack, len(targets))
	q := burstProject()
	q.ID, q.Name = "burst-copies", "Burst bench copies"
	if _, _, err := l.EnsureProject(ctx, q); err != nil {
		return t, err
	}
	configs := []struct {
		label   string
		store   *boltstore.Store
		workers int
		largest bool // the project's own items, at their largest
		events  int  // 0: as many as fit in budget
	}{
		{"one commit per event (before)", single, 4, false, 0},
		{"one commit per event", single, setup.DefaultEventWorkers, false, 0},
		{"group commit", l.Store, 4, false, 0},
		{"group commit (default)", l.Store, setup.DefaultEventWorkers, false, o.Events},
		{"group commit (default), items at their largest", l.Store, setup.DefaultEventWorkers, true, o.Events},
	}
	var seq int64
	var runs []burstRun
	for k, c := range configs {
		n, until := c.events, time.Duration(0)
		if n == 0 {
			// Enough events for the budget at any rate this machine reaches.
			n, until = o.Events, budget
		}
		ts, tp := targets, p
		if !c.largest {
			tp = q
			if ts, err = burstFresh(ctx, l.Store, q, k, fresh); err != nil {
				return t, err
			}
		}
		r, err := burstApply(ctx, l, tp, c.store, c.workers, ts, n, until, &seq)
		if err != nil {
			return t, err
		}
		r.label, r.group, r.items = c.label, c.store == l.Store, len(ts)
		r.size, err = burstItemSize(ctx, l.Store, tp.ID, ts)
		if err != nil {
			return t, err
		}
		runs = append(runs, r)
		fmt.Fprintf(o.Log, "bench: burst: %s, %d workers: %.0f events/s\n", c.label, c.workers, r.rate())
	}
	for _, r := range runs {
		commits := r.commits
		if !r.group {
			commits = r.applied // one transaction per resource write
		}
		perCommit := float64(r.applied) / float64(max(commits, 1))
		target, met := "—", "—"
		if r.label == "group commit (default)" {
			target, met = fmt.Sprintf("≥ %d/s", burstTargetRate), rtMet(r.rate() >= burstTargetRate && r.applied == int64(r.sent))
		}
		applied := strconv.FormatInt(r.applied, 10)
		if r.applied != int64(r.sent) {
			applied += fmt.Sprintf(" (of %d sent)", r.sent)
		}
		t.Rows = append(t.Rows, []string{
			r.label, strconv.Itoa(r.workers), fmt.Sprintf("%d (%.1f)", r.items, float64(r.size)/1000), applied, r.elapsed.Round(time.Millisecond).String(),
			fmt.Sprintf("%.0f", r.rate()), fmt.Sprintf("%.0f", float64(commits)/r.elapsed.Seconds()), fmt.Sprintf("%.1f", perCommit),
			fmt.Sprintf("%.1f", float64(r.written)/float64(max(r.applied, 1))/1000),
			target, met,
		})
	}
	t.Notes = append(t.Notes,
		fmt.Sprintf("Each event is a stack event formatted as the SNS notification CloudFormation sends, fed to Mirror.Consume (parse, read the item, apply the rules, one conditional write, publish to the hub) by as many goroutines as the event workers column says, as the local binary's event pump does (setup.DefaultEventWorkers = %d; it was 4). Every event adds progress to its resource's running operation, so every event is one durable write of the whole item. The events go round robin over the resources: %d per resource, as a bucket's update sends, to resources written just before as a project-wide change leaves them (a copy of a real bucket with an update running and no event yet); the last row sends %d events to each of the project's %d real buckets, whose items grow to their largest (an operation keeps its last %d events). Events applied counts the version increments found in the cache afterwards. The comparison runs stop after %s; the file is on %s.", setup.DefaultEventWorkers, burstEventsPerStack, o.Events/len(targets), len(targets), core.MaxOpEvents, budget, rtFilesystem(dir)),
		"Group commit (boltstore): the writes that arrive while a commit is in progress share the next bbolt transaction and its fsyncs, and each returns only once that transaction is durable: nothing is acknowledged (Consume returning, the message published to clients) before it is on disk. No timer: a lone write commits at once. A version conflict inside a group is reported to its writer alone (the engine re-reads and retries), without rolling back the others. Commits/s without group commit is one per event; with it, the store's count of committed groups. KB written per event: the pages bbolt wrote (its TxStats), per event: an event rewrites its whole item, so with items this size the disk's write bandwidth, not the fsyncs, bounds the rate once commits are grouped.",
	)
	return t, nil
}

// burstEventsPerStack is how many events a bucket's update sends: the
// stack's start, the Bucket resource's start and end, the cleanup and the
// end.
const burstEventsPerStack = 5

// burstFresh writes n resources into project q as a project-wide change
// leaves them just before their stacks send events: copies of the bench
// project's first bucket, each under a name of its own (set k), with an
// update running that has no event yet.
func burstFresh(ctx context.Context, s *boltstore.Store, q *core.Project, k, n int) ([]burstTarget, error) {
	items, _, err := s.ListResources(ctx, burstProject().ID, core.Page{Limit: 1})
	if err != nil || len(items) == 0 {
		return nil, fmt.Errorf("no bucket to copy: %v", err)
	}
	base := items[0]
	p := q
	now := time.Now().UTC()
	ts := make([]burstTarget, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := int(next.Add(1) - 1); j < n; j = int(next.Add(1) - 1) {
				r := base.Clone()
				r.Project = p.ID
				r.Name = fmt.Sprintf("burst-f%d-%05d", k, j)
				r.Spec.Bucket.Name = r.Name
				r.StackName = stacks.StackName(p.ID, core.KindBucket, r.Name)
				r.Observed.StackID = fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/%08x-0000-4000-8000-%012x", p.Region, p.AccountID, r.StackName, k, j)
				op := r.Op.Clone()
				op.ID, op.Project, op.Name, op.StackName = ulid.Make().String(), p.ID, r.Name, r.StackName
				op.Action, op.Status, op.Spec = core.ActionUpdate, core.OpRunning, r.Spec.Clone()
				op.RequestedAt, op.StartedAt, op.FinishedAt, op.Events, op.Error, op.Rev = now, &now, nil, nil, "", 1
				r.Op = op
				r.Lock = &core.Lock{OperationID: op.ID, Action: core.ActionUpdate, By: "alice", Since: now}
				r.Version, r.UpdatedAt = 1, now
				if err := s.PutResource(ctx, r, 0); err != nil {
					errs <- err
					return
				}
				ts[j] = burstTarget{stackID: r.Observed.StackID, stackName: r.StackName, opID: op.ID}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return ts, nil
}

// burstItemSize returns the average size of the targets' items, in bytes
// of JSON (what the store writes).
func burstItemSize(ctx context.Context, s *boltstore.Store, project string, ts []burstTarget) (int, error) {
	size := 0
	for _, t := range ts {
		r, err := s.GetResource(ctx, core.ResourceKey{Project: project, StackName: t.stackName})
		if err != nil {
			return 0, err
		}
		b, err := json.Marshal(r)
		if err != nil {
			return 0, err
		}
		size += len(b)
	}
	return size / max(len(ts), 1), nil
}

// burstApply applies n progress events (fewer if budget, when not 0,
// runs out first) through a Mirror over store from workers goroutines and
// counts what the cache holds afterwards.
func burstApply(ctx context.Context, l *setup.Local, p *core.Project, store *boltstore.Store, workers int, targets []burstTarget, n int, budget time.Duration, seq *int64) (burstRun, error) {
	eng := engine.New(engine.Options{
		Resources: store, Projects: store, Queue: l.Queue, Cloud: l.Sandbox, Hub: l.Hub, Logger: slog.New(slog.DiscardHandler),
	})
	topic := "arn:aws:sns:" + p.Region + ":" + p.AccountID + ":bucketdesk-events"
	bodies := make([][]byte, n)
	now := time.Now().UTC()
	for i := range n {
		*seq++
		tg := targets[i%len(targets)]
		ev := core.StackEvent{
			StackID: tg.stackID, StackName: tg.stackName, EventID: "burst-" + strconv.FormatInt(*seq, 10),
			Timestamp: now, LogicalResourceID: "Bucket", PhysicalResourceID: tg.stackName,
			ResourceType: "AWS::S3::Bucket", ResourceStatus: "UPDATE_IN_PROGRESS", ClientRequestToken: tg.opID,
		}
		b, err := cfnevent.FormatSNS(cfnevent.Notification{Event: ev, Namespace: p.AccountID, PrincipalID: "bench"}, topic, "msg-"+strconv.FormatInt(*seq, 10), now)
		if err != nil {
			return burstRun{}, err
		}
		bodies[i] = b
	}
	before, err := versionSum(ctx, store, p.ID)
	if err != nil {
		return burstRun{}, err
	}
	stats0 := store.GroupStats()
	tx0 := store.DB().Stats().TxStats

	// Unbuffered: a run that stops at its budget leaves no backlog to
	// drain, and the pump's own buffer only matters while the sandbox
	// sends faster than the mirror applies.
	notes := make(chan []byte)
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range notes {
				if err := eng.Mirror.Consume(ctx, cfnevent.ParseSNS, body); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	sent := 0
	deadline := start.Add(budget)
	for _, b := range bodies {
		if budget > 0 && time.Now().After(deadline) {
			break
		}
		select {
		case notes <- b:
			sent++
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(notes)
	wg.Wait()
	elapsed := time.Since(start)
	after, err := versionSum(ctx, store, p.ID)
	if err != nil {
		return burstRun{}, err
	}
	if f := failed.Load(); f > 0 {
		return burstRun{}, fmt.Errorf("%d events not applied", f)
	}
	stats1 := store.GroupStats()
	tx1 := store.DB().Stats().TxStats
	return burstRun{
		workers: workers, sent: sent, applied: after - before, elapsed: elapsed,
		commits: stats1.Commits - stats0.Commits, written: tx1.GetPageAlloc() - tx0.GetPageAlloc(),
	}, nil
}

// versionSum sums the versions of the project's items (a write adds at
// least one): it tells how many writes happened between two calls.
func versionSum(ctx context.Context, s *boltstore.Store, project string) (int64, error) {
	vs, err := s.ListVersions(ctx, project)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, v := range vs {
		sum += v.Version
	}
	return sum, nil
}

// burstChange updates every bucket of the project at once through the
// HTTP API, with clients connected, on a sandbox with CloudFormation's
// latency and a step time per resource.
func burstChange(ctx context.Context, dir string, p *core.Project, o BurstOptions) (Table, error) {
	t := Table{
		Title: "Bursts of stack events: a project-wide change (every bucket updated at once)",
		Header: []string{"buckets", "clients", "stack events", "burst", "events/s (peak 1 s)", "PUT p50 / p99",
			"clients dropped as slow, reconnected", "last event → cache final", "last event → every client consistent", "target", "met"},
	}
	step := time.Second
	if o.Quick {
		step = 200 * time.Millisecond
	}
	sb := &simcloud.Options{
		ResourceDuration: step, APILatency: 100 * time.Millisecond, NoSync: true,
		RateLimit: simcloud.RateLimit{PerSecond: burstSandboxRate, Burst: 2 * burstSandboxRate},
		Chaos:     simcloud.Chaos{Seed: 13, Duplicate: 0.02, Reorder: 0.05},
	}
	logger := slog.New(slog.DiscardHandler)
	l, err := setup.OpenLocal(setup.LocalConfig{
		DataDir: dir, Sandbox: sb, CloudRate: burstCloudRate, Workers: burstQueueWorker, ReconcileEvery: 24 * time.Hour, Logger: logger,
	})
	if err != nil {
		return t, err
	}
	defer l.Close()
	if _, err := setup.EnsureDemoUsers(dir, burstPassword); err != nil {
		return t, err
	}
	srv, err := l.Server(setup.ServerConfig{WS: wsapi.Limits{MaxAge: time.Hour, IdleTimeout: time.Hour, PingInterval: time.Hour}})
	if err != nil {
		return t, err
	}
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler)
	defer hs.Close()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	l.Start(runCtx)

	api := &burstAPI{base: hs.URL, http: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}}
	defer api.http.CloseIdleConnections()
	var tok struct{ Token string }
	if err := api.call(ctx, "POST", "/auth/login", map[string]string{"username": "alice", "password": burstPassword}, 200, &tok); err != nil {
		return t, err
	}
	api.token = tok.Token

	items, _, err := l.Store.ListResources(ctx, p.ID, core.Page{})
	if err != nil {
		return t, err
	}

	// The sandbox's stack events, as it hands them to its subscribers.
	events := &burstEvents{byToken: map[string][]time.Time{}, seen: map[string]bool{}}
	unsubscribe := l.Sandbox.Subscribe(events.note)
	defer unsubscribe()

	clientCtx, stopClients := context.WithCancel(ctx)
	clients, err := burstConnect(clientCtx, api, "ws"+strings.TrimPrefix(hs.URL, "http"), p.ID, o.Clients)
	defer func() {
		stopClients()
		for _, c := range clients {
			<-c.done
		}
	}()
	if err != nil {
		return t, err
	}

	// Every bucket changes at once: one PUT each, all in flight together.
	stats0 := l.Store.GroupStats()
	puts := NewRecorder(len(items))
	ops := make([]string, len(items))
	var wg sync.WaitGroup
	errs := make(chan error, len(items))
	for i, r := range items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			spec := *r.Spec.Bucket
			spec.Tags = map[string]string{"team": "bench", "wave": "2"}
			var op struct{ ID string }
			start := time.Now()
			if err := api.call(ctx, "PUT", "/api/projects/"+p.ID+"/buckets/"+r.Name, spec, 202, &op); err != nil {
				errs <- err
				return
			}
			puts.Add(time.Since(start))
			ops[i] = op.ID
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return t, err
	}
	sctx, scancel := context.WithTimeout(ctx, 3*time.Minute)
	defer scancel()
	if err := l.Settle(sctx); err != nil {
		return t, fmt.Errorf("settle: %w", err)
	}
	stats1 := l.Store.GroupStats()

	final, _, err := l.Store.ListResources(ctx, p.ID, core.Page{})
	if err != nil {
		return t, err
	}
	want := map[string]int64{}
	var cacheFinal time.Time
	for _, r := range final {
		want[r.Name] = r.Version
		if r.Op == nil || r.Op.Status != core.OpSucceeded || !slices.Contains(ops, r.Op.ID) {
			return t, fmt.Errorf("bucket %s: its update did not succeed (%+v)", r.Name, r.Op)
		}
		if r.UpdatedAt.After(cacheFinal) {
			cacheFinal = r.UpdatedAt
		}
	}
	// Clients read what is left in their sockets; a client that misses a
	// final version for 10 s is counted inconsistent.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if burstConsistent(clients, want) {
			break
		}
	}
	first, last, count, peak := events.burst(ops)
	var consistent time.Time
	missing := 0
	for _, c := range clients {
		c.mu.Lock()
		for name, v := range want {
			h, ok := c.latest[name]
			if !ok || h.version < v {
				missing++
				continue
			}
			if h.at.After(consistent) {
				consistent = h.at
			}
		}
		c.mu.Unlock()
	}
	var resyncs, disconnects int64
	for _, c := range clients {
		resyncs += c.resyncs.Load()
		disconnects += c.disconnects.Load()
	}
	lag := consistent.Sub(last)
	met := missing == 0 && lag <= burstTargetConsistent
	lagCell := Ms(lag)
	if missing > 0 {
		lagCell = fmt.Sprintf("%d (client, resource) pairs never consistent", missing)
	}
	burst := last.Sub(first)
	t.Rows = append(t.Rows, []string{
		strconv.Itoa(len(items)), strconv.Itoa(len(clients)), strconv.Itoa(count), burst.Round(time.Millisecond).String(),
		fmt.Sprintf("%.0f (%d)", float64(count)/max(burst.Seconds(), 0.001), peak),
		Ms(puts.Percentile(50)) + " / " + Ms(puts.Percentile(99)), strconv.FormatInt(disconnects, 10),
		Ms(cacheFinal.Sub(last)), lagCell, "≤ " + Ms(burstTargetConsistent), rtMet(met),
	})
	writes, commits := stats1.Writes-stats0.Writes, stats1.Commits-stats0.Commits
	t.Notes = append(t.Notes,
		fmt.Sprintf("%d PUT /api/projects/%s/buckets/{name} sent at once (a tag added to every bucket; each stack updates its Bucket resource: 5 stack events), %d WebSocket clients connected before, each keeping the latest version of every resource from the `resource` frames it reads (coder/websocket, in this process). The sandbox takes 100 ms per API call and %d ms per resource step, and duplicates (2 %%) and reorders (5 %%) notifications as SNS does; it does not delay them, so that the figure is bucketdesk's own from the moment an event is sent.", len(items), p.ID, len(clients), step.Milliseconds()),
		fmt.Sprintf("The account's CloudFormation budget is raised to %d calls/s (burst %d), the engine paced at %d calls/s with %d queue workers: at the default 5 calls/s (4 paced), the %d UpdateStack and %d DescribeStacks calls of this change alone take %.0f s, and its events trickle in at ~%.0f/s instead of a burst. AWS does not publish CloudFormation's API rates; it throttles with \"Rate exceeded\" and raises quotas on request.", burstSandboxRate, 2*burstSandboxRate, burstCloudRate, burstQueueWorker, len(items), len(items), float64(2*len(items))/4, float64(5*len(items))/(float64(2*len(items))/4)),
		fmt.Sprintf("Stack events counts the distinct events the sandbox sent for the change's operations; burst is from the first to the last of them (their CloudFormation timestamps, milliseconds), peak the most in one second. Last event → cache final: to the latest UpdatedAt in the cache (after the terminal event the mirror reads the stack's outputs with one DescribeStacks, 100 ms, before its final write). Last event → every client consistent: to the moment the last client read the final version of the last resource; frames read %d, resync notices %d. A client whose connection falls %d messages behind is closed by the server (4008, slow consumer; the clients share this process and its 2 cores with the server), reconnects after 200 to 400 ms as the console does and re-reads the list; it counts as consistent from the moment it holds the final versions either way. During the change the cache made %d writes in %d group commits (%.1f per commit).", burstFrames(clients), resyncs, wsapi.DefaultLimits().SendQueue, writes, commits, float64(writes)/float64(max(commits, 1))),
	)
	return t, nil
}

// burstEvents records the stack events the sandbox sends, once each, by
// the operation (ClientRequestToken) they belong to.
type burstEvents struct {
	mu      sync.Mutex
	byToken map[string][]time.Time
	seen    map[string]bool
}

func (e *burstEvents) note(body []byte) {
	ev, err := cfnevent.ParseSNS(body)
	if err != nil || ev.ClientRequestToken == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// A resource event's id is its logical id, status and time, the same
	// in two stacks at one millisecond: the stack tells them apart.
	id := ev.StackID + " " + ev.EventID
	if e.seen[id] {
		return // a duplicate delivery
	}
	e.seen[id] = true
	e.byToken[ev.ClientRequestToken] = append(e.byToken[ev.ClientRequestToken], ev.Timestamp)
}

// burst returns the first and last event times of the operations ops,
// their number and the most events in one second.
func (e *burstEvents) burst(ops []string) (first, last time.Time, count, peak int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var all []time.Time
	for _, op := range ops {
		all = append(all, e.byToken[op]...)
	}
	if len(all) == 0 {
		return
	}
	slices.SortFunc(all, func(a, b time.Time) int { return a.Compare(b) })
	j := 0
	for i := range all {
		for all[i].Sub(all[j]) >= time.Second {
			j++
		}
		peak = max(peak, i-j+1)
	}
	return all[0], all[len(all)-1], len(all), peak
}

// burstAPI calls the HTTP API as one user.
type burstAPI struct {
	base, token string
	http        *http.Client
}

func (a *burstAPI) call(ctx context.Context, method, path string, body any, want int, out any) error {
	return apiCall(ctx, a.http, a.base, a.token, method, path, body, want, out)
}

// burstClient is one browser: it keeps, per resource name, the latest
// version it read and when it first read it. As the console does
// (web/live.js), it reconnects after a close (its first retry after 200 to
// 400 ms) and then re-reads the project's bucket list, and re-reads it on a
// resync notice.
type burstClient struct {
	api     *burstAPI
	wsBase  string
	project string

	mu          sync.Mutex
	latest      map[string]burstHeld
	frames      atomic.Int64
	resyncs     atomic.Int64
	disconnects atomic.Int64
	done        chan struct{}
}

type burstHeld struct {
	version int64
	at      time.Time
}

// burstConnect opens n clients, each with a goroutine reading frames until
// ctx ends.
func burstConnect(ctx context.Context, api *burstAPI, wsBase, project string, n int) ([]*burstClient, error) {
	var cs []*burstClient
	for range n {
		c := &burstClient{api: api, wsBase: wsBase, project: project, latest: map[string]burstHeld{}, done: make(chan struct{})}
		conn, err := c.dial(ctx)
		if err != nil {
			return cs, err
		}
		cs = append(cs, c)
		go c.run(ctx, conn)
	}
	return cs, nil
}

var burstDialer = &http.Client{Transport: &http.Transport{DialContext: rtDialBuffered}}

// dial gets a ticket over HTTP and connects, reading the hello frame.
func (c *burstClient) dial(ctx context.Context) (*websocket.Conn, error) {
	var tk struct{ Ticket, URL string }
	if err := c.api.call(ctx, "POST", "/api/ws-ticket", nil, 201, &tk); err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, c.wsBase+tk.URL, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled, HTTPClient: burstDialer})
	if err != nil {
		// The dial error quotes the URL, and the URL holds the ticket.
		return nil, fmt.Errorf("dial /ws: %s", strings.ReplaceAll(err.Error(), tk.Ticket, "…"))
	}
	conn.SetReadLimit(1 << 20)
	_, b, err := conn.Read(dctx)
	if err != nil || !bytes.HasPrefix(b, []byte(`{"type":"hello"`)) {
		conn.CloseNow()
		return nil, fmt.Errorf("hello: %q %v", b, err)
	}
	return conn, nil
}

// run reads conn, and its successors after reconnecting, until ctx ends.
func (c *burstClient) run(ctx context.Context, conn *websocket.Conn) {
	defer close(c.done)
	for {
		c.read(ctx, conn)
		conn.CloseNow()
		if ctx.Err() != nil {
			return
		}
		c.disconnects.Add(1)
		for {
			select {
			case <-time.After(200*time.Millisecond + rand.N(200*time.Millisecond)):
			case <-ctx.Done():
				return
			}
			var err error
			if conn, err = c.dial(ctx); err == nil {
				break
			}
		}
		c.relist(ctx)
	}
}

// relist re-reads the project's buckets and takes their versions.
func (c *burstClient) relist(ctx context.Context) {
	var list struct {
		Items []struct {
			Name    string `json:"name"`
			Version int64  `json:"version"`
		} `json:"items"`
	}
	if err := c.api.call(ctx, "GET", "/api/projects/"+c.project+"/buckets", nil, 200, &list); err != nil {
		return
	}
	at := time.Now()
	for _, it := range list.Items {
		c.hold(it.Name, it.Version, at)
	}
}

func (c *burstClient) hold(name string, version int64, at time.Time) {
	c.mu.Lock()
	if h, ok := c.latest[name]; !ok || version > h.version {
		c.latest[name] = burstHeld{version: version, at: at}
	}
	c.mu.Unlock()
}

var (
	burstResourcePrefix = []byte(`{"type":"resource"`)
	burstResyncPrefix   = []byte(`{"type":"resync"`)
	burstName           = []byte(`"name":"`)
	burstVersion        = []byte(`"version":`)
)

// read is the read loop of one connection, until it closes. A message's
// head (type, project, kind, name, version) comes before its body, so the
// head is read without decoding the rest.
func (c *burstClient) read(ctx context.Context, conn *websocket.Conn) {
	var buf bytes.Buffer
	for {
		_, r, err := conn.Reader(ctx)
		if err != nil {
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return
		}
		at := time.Now()
		c.frames.Add(1)
		b := buf.Bytes()
		if bytes.HasPrefix(b, burstResyncPrefix) {
			c.resyncs.Add(1)
			c.relist(ctx)
			continue
		}
		if !bytes.HasPrefix(b, burstResourcePrefix) {
			continue
		}
		if name, version, ok := burstHead(b); ok {
			c.hold(name, version, at)
		}
	}
}

// burstHead reads the name and version from the head of a message frame.
func burstHead(b []byte) (string, int64, bool) {
	head := b[:min(len(b), 512)]
	i := bytes.Index(head, burstName)
	if i < 0 {
		return "", 0, false
	}
	rest := head[i+len(burstName):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return "", 0, false
	}
	name := string(rest[:j])
	k := bytes.Index(rest, burstVersion)
	if k < 0 {
		return "", 0, false
	}
	num := rest[k+len(burstVersion):]
	end := bytes.IndexAny(num, ",}")
	if end < 0 {
		return "", 0, false
	}
	v, err := strconv.ParseInt(string(num[:end]), 10, 64)
	return name, v, err == nil
}

func burstConsistent(cs []*burstClient, want map[string]int64) bool {
	for _, c := range cs {
		c.mu.Lock()
		for name, v := range want {
			if c.latest[name].version < v {
				c.mu.Unlock()
				return false
			}
		}
		c.mu.Unlock()
	}
	return true
}

func burstFrames(cs []*burstClient) int64 {
	var n int64
	for _, c := range cs {
		n += c.frames.Load()
	}
	return n
}
