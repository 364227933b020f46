// Package boltqueue is the durable job queue of the local setup, kept in a
// bbolt file (usually the one of the cache store, which owns the buckets
// prefixed "store/"; this package owns those prefixed "queue/").
//
// It implements core.Queue with SQS-like semantics: a received job is
// invisible for the visibility timeout and delivered again unless acked,
// every delivery has its own receipt, and after MaxAttempts deliveries a
// job moves to a dead-letter bucket. Jobs survive a restart.
//
// It is for one process: waiting receivers are woken by an in-process
// signal, and bbolt itself locks its file to one process. Open one Queue
// per (file, Name) in that process. The AWS setup uses SQS instead.
package boltqueue

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"

	"bucketdesk/internal/core"
)

var _ core.Queue = (*Queue)(nil)

// Defaults of Options.
const (
	DefaultVisibility  = 60 * time.Second
	DefaultMaxAttempts = 10
	DefaultName        = "jobs"
)

// Options configures a Queue. The zero value (or nil) means the defaults.
type Options struct {
	// Clock tells time and waits; default core.SystemClock{}.
	Clock core.Clock
	// Visibility is how long a received job stays invisible to other
	// receivers; default 60s.
	Visibility time.Duration
	// MaxAttempts is how many deliveries a job gets before it moves to the
	// dead letters; default 10.
	MaxAttempts int
	// Name tells apart the queues that share one file; default "jobs".
	Name string
	// Commit, when set, runs the queue's enqueues, acks and retries in a
	// read-write transaction of the same file (the db given to New: a
	// Commit of another file would write the queue there) that it may share with other
	// writers (boltstore.Store.Commit: group commit), returning only once
	// that transaction is durable; fn may run more than once. Default: one
	// transaction (db.Update) each.
	Commit func(fn func(*bolt.Tx) error) error
}

// Queue is a durable at-least-once job queue in bbolt.
type Queue struct {
	db          *bolt.DB
	ownDB       bool
	clock       core.Clock
	visibility  time.Duration
	maxAttempts int
	bucket      []byte // top-level bucket: "queue/" + name
	commit      func(fn func(*bolt.Tx) error) error

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when a job may have become visible
	closed  chan struct{}
	once    sync.Once
}

// Nested buckets inside the queue's top-level bucket.
var (
	bucketMessages = []byte("messages") // id → message
	bucketVisible  = []byte("visible")  // visibleAt (8 bytes) + id → nil
	bucketDead     = []byte("dead")     // id → message
)

// message is a job as stored, with its delivery state.
type message struct {
	Job        core.Job  `json:"job"`
	EnqueuedAt time.Time `json:"enqueued_at"`
	// VisibleAt is when the job may be received, in Unix nanoseconds.
	VisibleAt int64 `json:"visible_at"`
	// Attempt counts the deliveries so far.
	Attempt int `json:"attempt"`
	// Receipt is the receipt of the last delivery ("" before the first).
	Receipt string    `json:"receipt,omitempty"`
	DeadAt  time.Time `json:"dead_at,omitzero"`
}

// New returns the queue kept in db, creating its buckets. The caller owns
// db and closes it after the queue.
func New(db *bolt.DB, opts *Options) (*Queue, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	if o.Visibility <= 0 {
		o.Visibility = DefaultVisibility
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	q := &Queue{
		db:          db,
		clock:       o.Clock,
		visibility:  o.Visibility,
		maxAttempts: o.MaxAttempts,
		bucket:      []byte("queue/" + o.Name),
		commit:      o.Commit,
		changed:     make(chan struct{}),
		closed:      make(chan struct{}),
	}
	err := db.Update(func(tx *bolt.Tx) error {
		top, err := tx.CreateBucketIfNotExists(q.bucket)
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bucketMessages, bucketVisible, bucketDead} {
			if _, err := top.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltqueue: create buckets of %q: %w", o.Name, err)
	}
	return q, nil
}

// Open opens (or creates) the bbolt file at path and returns the queue in
// it. The queue owns the file: Close closes it.
func Open(path string, opts *Options) (*Queue, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("boltqueue: open %s: %w", path, err)
	}
	q, err := New(db, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	q.ownDB = true
	return q, nil
}

// Close wakes waiting receivers, which return an error, and closes the
// file if Open opened it.
func (q *Queue) Close() error {
	q.once.Do(func() { close(q.closed) })
	if q.ownDB {
		return q.db.Close()
	}
	return nil
}

// write runs fn in a durable read-write transaction: Options.Commit's,
// which may share it with other writers and run fn more than once, or
// its own. fn must assign, not accumulate, what it reports.
func (q *Queue) write(fn func(*bolt.Tx) error) error {
	if q.commit != nil {
		return q.commit(fn)
	}
	return q.db.Update(fn)
}

// errClosed is returned by calls on a closed queue.
var errClosed = fmt.Errorf("boltqueue: queue closed: %w", core.ErrUnavailable)

// Enqueue stores job durably (the transaction is synced) before it
// returns nil.
func (q *Queue) Enqueue(ctx context.Context, job core.Job) error {
	if err := q.check(ctx); err != nil {
		return err
	}
	id := ulid.Make()
	now := q.clock.Now()
	m := &message{Job: job, EnqueuedAt: now, VisibleAt: now.UnixNano()}
	err := q.write(func(tx *bolt.Tx) error {
		return q.buckets(tx).put(id[:], m)
	})
	if err != nil {
		return fmt.Errorf("boltqueue: enqueue %s: %w", job.OperationID, err)
	}
	q.signal()
	return nil
}

// Receive returns up to max deliveries, waiting up to wait for the first.
// While it waits, it wakes when a job is enqueued or retried in this
// process, and when the earliest invisible job becomes visible.
func (q *Queue) Receive(ctx context.Context, max int, wait time.Duration) ([]core.Delivery, error) {
	if max < 1 {
		return nil, fmt.Errorf("boltqueue: receive max %d: %w", max, core.ErrInvalid)
	}
	if err := q.check(ctx); err != nil {
		return nil, err
	}
	end := q.clock.Now().Add(wait)
	var timeout <-chan time.Time
	for {
		// Take the signal before looking, so that a job enqueued after the
		// look is not missed.
		changed := q.changes()
		ds, next, err := q.receive(max)
		if err != nil || len(ds) > 0 || wait <= 0 {
			return ds, err
		}
		now := q.clock.Now()
		if !now.Before(end) {
			return nil, nil
		}
		var visible <-chan time.Time
		if next != 0 && next < end.UnixNano() {
			visible = q.clock.After(time.Unix(0, next).Sub(now))
		}
		// The wait's own timer is set last, once the receiver is ready to
		// sleep, so that a test seeing it pending knows the receiver waits.
		if timeout == nil {
			timeout = q.clock.After(end.Sub(now))
		}
		select {
		case <-changed:
		case <-visible:
		case <-timeout:
			return q.receiveFinal(max)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-q.closed:
			return nil, errClosed
		}
	}
}

// receiveFinal is the last look of a Receive whose wait has passed.
func (q *Queue) receiveFinal(max int) ([]core.Delivery, error) {
	ds, _, err := q.receive(max)
	return ds, err
}

// receive delivers up to max visible jobs, moving those out of attempts to
// the dead letters. When none is visible it returns the time (Unix
// nanoseconds) at which the earliest invisible job becomes visible, or 0.
func (q *Queue) receive(max int) ([]core.Delivery, int64, error) {
	now := q.clock.Now().UnixNano()
	// A read transaction first: most looks of waiting receivers find
	// nothing, and a read neither blocks others nor syncs the file.
	var next int64
	var any bool
	err := q.db.View(func(tx *bolt.Tx) error {
		k, _ := q.buckets(tx).visible.Cursor().First()
		if k == nil {
			return nil
		}
		if at := visibleAt(k); at > now {
			next = at
			return nil
		}
		any = true
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("boltqueue: receive: %w", err)
	}
	if !any {
		return nil, next, nil
	}

	var ds []core.Delivery
	err = q.db.Update(func(tx *bolt.Tx) error {
		ds = ds[:0]
		b := q.buckets(tx)
		for len(ds) < max {
			// Collect first: the loop below moves keys within the bucket
			// the cursor walks.
			var ids [][]byte
			c := b.visible.Cursor()
			for k, _ := c.First(); k != nil && len(ids) < max-len(ds); k, _ = c.Next() {
				if visibleAt(k) > now {
					break
				}
				ids = append(ids, bytes.Clone(k[8:]))
			}
			if len(ids) == 0 {
				return nil
			}
			for _, id := range ids {
				m, err := b.get(id)
				if err != nil {
					return err
				}
				if m.Attempt >= q.maxAttempts {
					if err := b.bury(id, m, q.clock.Now()); err != nil {
						return err
					}
					continue
				}
				m.Attempt++
				m.Receipt = newReceipt(id)
				if err := b.move(id, m, now+int64(q.visibility)); err != nil {
					return err
				}
				ds = append(ds, core.Delivery{Job: m.Job, Receipt: m.Receipt, Attempt: m.Attempt})
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("boltqueue: receive: %w", err)
	}
	return ds, 0, nil
}

// Ack removes the job delivered with receipt. A receipt that no longer
// holds its job (acked, or the job was received again) is ErrNotFound.
func (q *Queue) Ack(ctx context.Context, receipt string) error {
	if err := q.check(ctx); err != nil {
		return err
	}
	var stale error
	err := q.write(func(tx *bolt.Tx) error {
		b := q.buckets(tx)
		id, m, err := b.byReceipt(receipt)
		if stale = err; err != nil {
			return nil // refused: nothing written
		}
		if err := b.visible.Delete(visibleKey(m.VisibleAt, id)); err != nil {
			return err
		}
		return b.messages.Delete(id)
	})
	if err == nil {
		err = stale
	}
	if err != nil {
		return fmt.Errorf("boltqueue: ack: %w", err)
	}
	return nil
}

// Retry makes the job delivered with receipt visible again after delay
// (at once for a delay of zero or less). The receipt stays valid until the
// job is delivered again. Stale receipts are ErrNotFound, as for Ack.
func (q *Queue) Retry(ctx context.Context, receipt string, delay time.Duration) error {
	if err := q.check(ctx); err != nil {
		return err
	}
	delay = max(delay, 0)
	at := q.clock.Now().Add(delay).UnixNano()
	var stale error
	err := q.write(func(tx *bolt.Tx) error {
		b := q.buckets(tx)
		id, m, err := b.byReceipt(receipt)
		if stale = err; err != nil {
			return nil // refused: nothing written
		}
		return b.move(id, m, at)
	})
	if err == nil {
		err = stale
	}
	if err != nil {
		return fmt.Errorf("boltqueue: retry: %w", err)
	}
	// Waiting receivers may sleep until a later job; let them look again.
	q.signal()
	return nil
}

// DeadLetters returns the jobs moved to the dead letters, oldest enqueued
// first.
func (q *Queue) DeadLetters(ctx context.Context) ([]core.Job, error) {
	if err := q.check(ctx); err != nil {
		return nil, err
	}
	var jobs []core.Job
	err := q.db.View(func(tx *bolt.Tx) error {
		return q.buckets(tx).dead.ForEach(func(_, v []byte) error {
			var m message
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("decode dead letter: %w: %w", core.ErrInternal, err)
			}
			jobs = append(jobs, m.Job)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltqueue: dead letters: %w", err)
	}
	return jobs, nil
}

// Redrive moves every dead letter back to the queue, visible at once and
// with its attempts reset, and returns how many it moved.
func (q *Queue) Redrive(ctx context.Context) (int, error) {
	if err := q.check(ctx); err != nil {
		return 0, err
	}
	n := 0
	now := q.clock.Now().UnixNano()
	err := q.db.Update(func(tx *bolt.Tx) error {
		n = 0
		b := q.buckets(tx)
		var ids [][]byte
		if err := b.dead.ForEach(func(k, _ []byte) error {
			ids = append(ids, bytes.Clone(k))
			return nil
		}); err != nil {
			return err
		}
		for _, id := range ids {
			var m message
			if err := json.Unmarshal(b.dead.Get(id), &m); err != nil {
				return fmt.Errorf("decode dead letter: %w: %w", core.ErrInternal, err)
			}
			m.Attempt, m.Receipt, m.DeadAt, m.VisibleAt = 0, "", time.Time{}, now
			if err := b.dead.Delete(id); err != nil {
				return err
			}
			if err := b.put(id, &m); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("boltqueue: redrive: %w", err)
	}
	if n > 0 {
		q.signal()
	}
	return n, nil
}

// check returns the context's error or errClosed.
func (q *Queue) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-q.closed:
		return errClosed
	default:
		return nil
	}
}

// changes returns a channel closed at the next signal.
func (q *Queue) changes() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.changed
}

// signal wakes every waiting receiver.
func (q *Queue) signal() {
	q.mu.Lock()
	defer q.mu.Unlock()
	close(q.changed)
	q.changed = make(chan struct{})
}

// newReceipt returns a fresh receipt of one delivery of the message id:
// the id (to find the message) and a random part (to tell deliveries
// apart).
func newReceipt(id []byte) string {
	var u ulid.ULID
	copy(u[:], id)
	return u.String() + "." + rand.Text()
}

// visibleKey is the key of the visible index: the time, big-endian so that
// keys sort by time, then the id.
func visibleKey(at int64, id []byte) []byte {
	k := make([]byte, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(at))
	copy(k[8:], id)
	return k
}

func visibleAt(k []byte) int64 { return int64(binary.BigEndian.Uint64(k)) }

// buckets are the queue's buckets in one transaction.
type buckets struct {
	messages, visible, dead *bolt.Bucket
}

func (q *Queue) buckets(tx *bolt.Tx) buckets {
	top := tx.Bucket(q.bucket)
	return buckets{
		messages: top.Bucket(bucketMessages),
		visible:  top.Bucket(bucketVisible),
		dead:     top.Bucket(bucketDead),
	}
}

func (b buckets) get(id []byte) (*message, error) {
	v := b.messages.Get(id)
	if v == nil {
		return nil, fmt.Errorf("message %x indexed but missing: %w", id, core.ErrInternal)
	}
	var m message
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, fmt.Errorf("decode message %x: %w: %w", id, core.ErrInternal, err)
	}
	return &m, nil
}

// put stores a new message and indexes it at m.VisibleAt.
func (b buckets) put(id []byte, m *message) error {
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := b.messages.Put(id, v); err != nil {
		return err
	}
	return b.visible.Put(visibleKey(m.VisibleAt, id), nil)
}

// move stores m, reindexed from its current visibility to at.
func (b buckets) move(id []byte, m *message, at int64) error {
	if err := b.visible.Delete(visibleKey(m.VisibleAt, id)); err != nil {
		return err
	}
	m.VisibleAt = at
	return b.put(id, m)
}

// bury moves a message to the dead letters.
func (b buckets) bury(id []byte, m *message, now time.Time) error {
	if err := b.visible.Delete(visibleKey(m.VisibleAt, id)); err != nil {
		return err
	}
	if err := b.messages.Delete(id); err != nil {
		return err
	}
	m.DeadAt = now
	v, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return b.dead.Put(id, v)
}

// byReceipt finds the message whose current delivery has receipt.
func (b buckets) byReceipt(receipt string) ([]byte, *message, error) {
	idText, _, ok := strings.Cut(receipt, ".")
	u, err := ulid.ParseStrict(idText)
	if !ok || err != nil {
		return nil, nil, fmt.Errorf("malformed receipt: %w", core.ErrNotFound)
	}
	id := u[:]
	v := b.messages.Get(id)
	if v == nil {
		return nil, nil, fmt.Errorf("receipt of a job no longer queued: %w", core.ErrNotFound)
	}
	var m message
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, nil, fmt.Errorf("decode message %x: %w: %w", id, core.ErrInternal, err)
	}
	if m.Receipt != receipt {
		return nil, nil, fmt.Errorf("stale receipt, the job was delivered again: %w", core.ErrNotFound)
	}
	return id, &m, nil
}
