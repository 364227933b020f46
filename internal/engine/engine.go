// Package engine holds bucketdesk's verbs: the Service answers requests
// (validate, lock, record, enqueue), the Worker turns jobs into
// CloudFormation calls, the Mirror turns stack events into cache writes and
// real-time messages, and the Reconciler relists CloudFormation so that the
// cache converges whatever happened to the events. Direct is the design
// without a cache, kept as a baseline for the benchmarks.
//
// Every change of a resource goes through one function, change: read the
// item, apply a pure rule from core, write it back with one conditional
// write, then record the operation's history and publish.
package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"bucketdesk/internal/core"
)

// Options wires the engine to its adapters.
type Options struct {
	// Resources holds the resource items and their operation history.
	Resources core.ResourceStore
	// Projects holds the project registrations.
	Projects core.ProjectStore

	Queue core.Queue
	Cloud core.Cloud
	Hub   core.Hub
	// Objects counts what a bucket holds, so that the delete of a bucket
	// that is not empty is refused before it is accepted; nil skips the
	// check (CloudFormation then fails such a delete, and the bucket keeps
	// its data and its HTTPS-only policy).
	Objects core.Objects
	// Clock defaults to the system clock.
	Clock core.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// TopicARN is passed to CloudFormation as NotificationARNs ("" locally
	// when the sandbox delivers events to subscribers directly).
	TopicARN string
	// MaxAttempts is the queue's maximum number of deliveries of one job;
	// the worker fails an operation on its last attempt (default 10).
	MaxAttempts int
	// HistoryRetention is how long the history of an ended operation is
	// kept after it was requested (default DefaultHistoryRetention); the
	// reconciler deletes older history. A resource's latest operation
	// stays in its item however old.
	HistoryRetention time.Duration
	// Auditor records each change request (accepted or refused), each
	// operation's end and each reveal of a key; nil records nothing.
	Auditor core.Auditor
	// Audit is the audit trail the reconciler prunes of records older than
	// AuditRetention (default DefaultAuditRetention); nil prunes nothing.
	Audit          core.AuditStore
	AuditRetention time.Duration
}

// DefaultHistoryRetention keeps a year of operations: what a project
// manager looks back on, and what an audit of the year asks for.
const DefaultHistoryRetention = 365 * 24 * time.Hour

// Engine bundles the four verbs over one set of adapters.
type Engine struct {
	Service    *Service
	Worker     *Worker
	Mirror     *Mirror
	Reconciler *Reconciler
}

// New returns an engine over the adapters in o.
func New(o Options) *Engine {
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.HistoryRetention <= 0 {
		o.HistoryRetention = DefaultHistoryRetention
	}
	if o.AuditRetention <= 0 {
		o.AuditRetention = DefaultAuditRetention
	}
	d := &deps{Options: o, ids: &idSource{clock: o.Clock}}
	return &Engine{
		Service:    &Service{d: d},
		Worker:     &Worker{d: d},
		Mirror:     &Mirror{d: d},
		Reconciler: &Reconciler{d: d},
	}
}

type deps struct {
	Options
	ids   *idSource
	items keyLocks
}

// keyLocks serializes this process's changes of one item, so that its
// messages are published in version order and its writers do not race
// each other; writers in other processes are still kept apart by the
// conditional write alone, and clients drop messages older than what they
// show.
type keyLocks struct {
	mu    sync.Mutex
	locks map[core.ResourceKey]*keyLock
}

type keyLock struct {
	sync.Mutex
	users int
}

func (k *keyLocks) lock(key core.ResourceKey) func() {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[core.ResourceKey]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// maxRaces bounds the retries of one conditional write lost to concurrent
// writers; each retry re-reads the item, so it always makes progress unless
// the item is hot beyond reason.
const maxRaces = 50

// change reads the item at key, lets fn change a copy, and writes it back
// with one conditional write, retrying when a concurrent writer won. An
// item that does not exist is passed to fn with Version 0 (fn may create
// it). fn returns false to write nothing. After a write the operation's
// history copy is recorded and the change is published. It returns the
// item as stored.
func (d *deps) change(ctx context.Context, key core.ResourceKey, fn func(r *core.Resource) (bool, error)) (*core.Resource, error) {
	defer d.items.lock(key)()
	for range maxRaces {
		cur, err := d.Resources.GetResource(ctx, key)
		if errors.Is(err, core.ErrNotFound) {
			cur = &core.Resource{Project: key.Project, StackName: key.StackName}
		} else if err != nil {
			return nil, err
		}
		next := cur.Clone()
		ok, err := fn(next)
		if err != nil || !ok {
			return cur, err
		}
		next.Version = cur.Version + 1
		next.UpdatedAt = d.Clock.Now().UTC()
		err = d.Resources.PutResource(ctx, next, cur.Version)
		if errors.Is(err, core.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		d.afterWrite(ctx, cur, next)
		return next, nil
	}
	return nil, fmt.Errorf("%w: %s changed too often to write", core.ErrUnavailable, key.StackName)
}

// afterWrite records the history copy of an operation whose status changed
// and publishes the change. A stack event that only adds progress is
// neither copied to the history (Service.Operation reads a running
// operation from its item) nor repeated in whole: its own "event" message
// carries it, and the "resource" message carries only the operation's
// latest event. Both writes are repairable from the item, so failures are
// logged, not returned.
func (d *deps) afterWrite(ctx context.Context, before, after *core.Resource) {
	statusChanged := after.Op != nil && (before.Op == nil || before.Op.ID != after.Op.ID || before.Op.Status != after.Op.Status)
	if statusChanged {
		if err := d.Resources.PutOperation(ctx, after.Op); err != nil {
			d.Logger.Warn("operation history write failed; the resource item keeps it", "operation", after.Op.ID, "err", err)
		}
		d.auditEnded(ctx, after)
	}
	typ := core.MsgResource
	if after.Observed.Phase == core.PhaseDeleted && after.Lock == nil {
		typ = core.MsgResourceDeleted
	}
	d.publish(ctx, core.Message{Type: typ, Resource: after.WithLatestEvent()}, after)
	if statusChanged {
		d.publish(ctx, core.Message{Type: core.MsgOperation, Operation: after.Op}, after)
	}
}

func (d *deps) publish(ctx context.Context, msg core.Message, r *core.Resource) {
	msg.Project, msg.Kind, msg.Name, msg.Version = r.Project, r.Kind, r.Name, r.Version
	if batched(ctx, r.Project, msg) {
		return
	}
	if err := d.Hub.Publish(ctx, r.Project, msg); err != nil {
		d.Logger.Warn("publish failed", "project", r.Project, "type", msg.Type, "err", err)
	}
}

// idSource makes ULIDs: sortable by time, so operation lists are newest
// first by id, and unique, so each is a valid ClientRequestToken.
type idSource struct {
	mu      sync.Mutex
	clock   core.Clock
	entropy *ulid.MonotonicEntropy
}

func (s *idSource) next() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.entropy == nil {
		s.entropy = ulid.Monotonic(rand.Reader, 0)
	}
	return ulid.MustNew(ulid.Timestamp(s.clock.Now()), s.entropy).String()
}
