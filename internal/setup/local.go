// Package setup wires the single local binary on its embedded defaults
// (bbolt cache and queue, the in-process hub and the sandbox
// CloudFormation): local.go the engine, server.go the HTTP side. It and
// its sibling awssetup (each Lambda role on AWS) are the only places that
// import adapters and wire them.
package setup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"bucketdesk/internal/cfnevent"
	"bucketdesk/internal/cloud/paced"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/hub/localhub"
	"bucketdesk/internal/queue/boltqueue"
	"bucketdesk/internal/store/boltstore"
)

// LocalConfig configures the local binary.
type LocalConfig struct {
	// DataDir holds bucketdesk.db (cache and queue) and sandbox.db.
	DataDir string
	// Sandbox configures the simulated CloudFormation; nil means the
	// sandbox's realistic demo defaults.
	Sandbox *simcloud.Options
	// Clock defaults to the system clock.
	Clock core.Clock
	// Workers is the number of queue workers (default 4).
	Workers int
	// EventWorkers is the number of goroutines applying stack events
	// (default DefaultEventWorkers).
	EventWorkers int
	// ReconcileEvery is the reconciler's period (default 1 minute).
	ReconcileEvery time.Duration
	// Visibility is the queue's visibility timeout (default 60 s).
	Visibility time.Duration
	// MaxAttempts is the queue's deliveries before dead-lettering
	// (default 10).
	MaxAttempts int
	// CloudRate paces CloudFormation calls per account (calls per second;
	// default 4, burst 8; negative: unpaced).
	CloudRate float64
	// HistoryRetention is how long ended operations stay in the history
	// (0: engine.DefaultHistoryRetention).
	HistoryRetention time.Duration
	// AuditRetention is how long audit records are kept (0:
	// engine.DefaultAuditRetention).
	AuditRetention time.Duration
	Logger         *slog.Logger
}

// DefaultEventWorkers is how many stack events the local binary applies
// at once. The cache commits the writes that arrive while a commit is in
// progress together (boltstore's group commit) and each apply waits for
// its commit, so a commit holds at most as many events as are applied at
// once: with 4 (the earlier default) a burst made 2 to 3 events per
// commit, with 64 some 20 to 35, and the events applied per second grow
// with it (bucketdesk-bench, section burst). Events of one stack still
// wait for each other (the engine's lock per item), so the extra
// goroutines only work when many stacks send events at once, as in a
// project-wide change; idle, each is a parked goroutine.
const DefaultEventWorkers = 64

// Local is a running local bucketdesk.
type Local struct {
	Store   *boltstore.Store
	Queue   *boltqueue.Queue
	Sandbox *simcloud.Sandbox
	Hub     *localhub.Hub
	Engine  *engine.Engine
	// Auditor writes and reads the audit trail, kept in Store.
	Auditor *engine.Auditor

	cfg    LocalConfig
	db     *bolt.DB
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// pending counts events received from the sandbox and not yet
	// applied; idle is closed whenever it is zero.
	mu      sync.Mutex
	pending int
	idle    chan struct{}
}

// OpenLocal opens (or creates) the data directory and wires the engine.
// Nothing runs until Start.
func OpenLocal(cfg LocalConfig) (*Local, error) {
	if cfg.Clock == nil {
		cfg.Clock = core.SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.EventWorkers <= 0 {
		cfg.EventWorkers = DefaultEventWorkers
	}
	if cfg.ReconcileEvery <= 0 {
		cfg.ReconcileEvery = time.Minute
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.CloudRate == 0 {
		cfg.CloudRate = 4
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	db, err := bolt.Open(filepath.Join(cfg.DataDir, "bucketdesk.db"), 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s (is another bucketdesk using this data directory?): %w", filepath.Join(cfg.DataDir, "bucketdesk.db"), err)
	}
	l := &Local{cfg: cfg, db: db, Hub: localhub.New(), idle: make(chan struct{})}
	close(l.idle)
	fail := func(err error) (*Local, error) {
		l.Close()
		return nil, err
	}
	if l.Store, err = boltstore.New(db, nil); err != nil {
		return fail(err)
	}
	if l.Queue, err = boltqueue.New(db, &boltqueue.Options{Clock: cfg.Clock, Visibility: cfg.Visibility, MaxAttempts: cfg.MaxAttempts, Commit: l.Store.Commit}); err != nil {
		return fail(err)
	}
	sbOpts := simcloud.DemoOptions()
	if cfg.Sandbox != nil {
		o := *cfg.Sandbox
		if o.Clock == nil {
			o.Clock = cfg.Clock
		}
		sbOpts = &o
	}
	// The demo project's log bucket exists in its account, as
	// deploy/project-account.yaml would have made it.
	sbOpts.OutsideBuckets = append(slices.Clone(sbOpts.OutsideBuckets), DemoLogBucket())
	// Its role demands its external id, as the trust policy that
	// deploy/project-account.yaml writes does.
	demo := DemoProject(nil)
	sbOpts.Roles = maps.Clone(sbOpts.Roles)
	if sbOpts.Roles == nil {
		sbOpts.Roles = map[string]string{}
	}
	sbOpts.Roles[demo.RoleARN] = demo.ExternalID
	if l.Sandbox, err = simcloud.New(filepath.Join(cfg.DataDir, "sandbox.db"), sbOpts); err != nil {
		return fail(err)
	}
	burst := int(2 * cfg.CloudRate)
	l.Auditor = engine.NewAuditor(engine.AuditorOptions{Store: l.Store, Projects: l.Store, Hub: l.Hub, Clock: cfg.Clock, Logger: cfg.Logger})
	l.Engine = engine.New(engine.Options{
		Resources: l.Store, Projects: l.Store, Queue: l.Queue, Cloud: paced.Wrap(l.Sandbox, cfg.CloudRate, burst), Objects: l.Sandbox, Hub: l.Hub,
		Clock: cfg.Clock, Logger: cfg.Logger, MaxAttempts: cfg.MaxAttempts, HistoryRetention: cfg.HistoryRetention,
		Auditor: l.Auditor, Audit: l.Store, AuditRetention: cfg.AuditRetention,
	})
	return l, nil
}

// Start runs the workers, the event pump from the sandbox to the mirror and
// the reconciler until Close.
func (l *Local) Start(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	notes := make(chan []byte, 1024)
	unsubscribe := l.Sandbox.Subscribe(func(body []byte) {
		l.track(1)
		select {
		case notes <- body:
		case <-ctx.Done():
			l.track(-1)
		}
	})
	l.wg.Add(2 + l.cfg.EventWorkers)
	go func() {
		defer l.wg.Done()
		<-ctx.Done()
		unsubscribe()
	}()
	for range l.cfg.EventWorkers {
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case body := <-notes:
					// The sandbox's subscription never delivers again: what
					// the mirror hands back is left to the reconciler.
					if err := l.Engine.Mirror.Consume(ctx, cfnevent.ParseSNS, body); err != nil && ctx.Err() == nil {
						l.cfg.Logger.Warn("stack event not applied; the reconciler will repair", "err", err)
					}
					l.track(-1)
				}
			}
		}()
	}
	go func() {
		defer l.wg.Done()
		l.Engine.Worker.Run(ctx, l.cfg.Workers)
	}()
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.Engine.Reconciler.Run(ctx, l.cfg.ReconcileEvery)
	}()
}

// Close stops everything and closes the files.
func (l *Local) Close() error {
	if l.cancel != nil {
		l.cancel()
		l.wg.Wait()
	}
	var errs []error
	if l.Sandbox != nil {
		errs = append(errs, l.Sandbox.Close())
	}
	if l.db != nil {
		errs = append(errs, l.db.Close())
	}
	return errors.Join(errs...)
}

// DemoProject is the project the local binary creates on first start. Its
// buckets log into its log bucket (DemoLogBucket). A data directory that
// registered the demo project before it had a log bucket keeps that
// registration (EnsureProject keeps an existing project): its buckets are
// rendered without logging.
func DemoProject(members []string) *core.Project {
	return &core.Project{
		ID: "demo", Name: "Demo project", AccountID: "123456789012", Region: "eu-west-1",
		RoleARN: "arn:aws:iam::123456789012:role/bucketdesk", ExternalID: "bucketdesk-demo",
		TransferServerID: "s-0123456789abcdef0", LogBucket: "bucketdesk-logs-123456789012-eu-west-1", Members: members,
	}
}

// DemoLogBucket is the demo project's server access log bucket, named as
// deploy/project-account.yaml names it; OpenLocal's sandbox has it as a
// bucket outside any stack.
func DemoLogBucket() simcloud.OutsideBucket {
	p := DemoProject(nil)
	return simcloud.OutsideBucket{Account: p.AccountID, Region: p.Region, Name: p.LogBucket}
}

// EnsureProject registers p unless a project with its id exists.
func (l *Local) EnsureProject(ctx context.Context, p *core.Project) (*core.Project, bool, error) {
	got, err := l.Store.GetProject(ctx, p.ID)
	if err == nil {
		return got, false, nil
	}
	if !errors.Is(err, core.ErrNotFound) {
		return nil, false, err
	}
	if err := p.Validate(); err != nil {
		return nil, false, err
	}
	return p, true, l.Store.PutProject(ctx, p)
}

func (l *Local) track(delta int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending == 0 && delta > 0 {
		l.idle = make(chan struct{})
	}
	l.pending += delta
	if l.pending == 0 {
		close(l.idle)
	}
}

func (l *Local) eventsIdle() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idle
}

// Settle waits until no operation is queued, the sandbox has no stack
// operation in flight and every event it delivered has been applied: the
// quiet point at which tests compare the cache with the sandbox. It is for
// tests and tools; a server never needs it.
func (l *Local) Settle(ctx context.Context) error {
	projects, err := l.Store.ListProjects(ctx)
	if err != nil {
		return err
	}
	ids := make([]string, len(projects))
	for i, p := range projects {
		ids[i] = p.ID
	}
	for {
		sub := l.Hub.Subscribe(ids, 1<<16)
		queued, err := l.queued(ctx, ids)
		if err != nil {
			sub.Close()
			return err
		}
		if !queued {
			if err := l.Sandbox.WaitIdle(ctx); err != nil {
				sub.Close()
				return err
			}
			select {
			case <-l.eventsIdle():
			case <-ctx.Done():
				sub.Close()
				return ctx.Err()
			}
			if again, err := l.queued(ctx, ids); err != nil || !again {
				sub.Close()
				return err
			}
		}
		// Something is still queued: wait for the next change.
		select {
		case <-sub.C:
		case <-ctx.Done():
			sub.Close()
			return ctx.Err()
		}
		sub.Close()
	}
}

func (l *Local) queued(ctx context.Context, projects []string) (bool, error) {
	for _, p := range projects {
		items, _, err := l.Store.ListResources(ctx, p, core.Page{})
		if err != nil {
			return false, err
		}
		for _, r := range items {
			if r.Op != nil && r.Op.Status == core.OpQueued {
				return true, nil
			}
		}
	}
	return false, nil
}
