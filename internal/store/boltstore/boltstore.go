// Package boltstore implements the cache ports of core (ResourceStore,
// ProjectStore, ConnectionStore, TicketStore, AuditStore,
// ShareLinkStore) for the local, one-binary
// setup: the cache mirror kept in a bbolt file, which it may share with the
// durable local queue (each keeps to its own buckets; this package's are
// named "store/…").
//
// Every conditional write runs inside one bbolt read-write transaction,
// and bbolt runs one of those at a time, so the compare and the write of
// PutResource, PutOperation and TakeTicket cannot interleave with another
// writer. The writes of the mirror (PutResource, DeleteResource,
// PutOperation, AppendAudit) that arrive while a commit is in progress
// share the next transaction and its fsyncs (group commit, group.go);
// each returns only once that transaction is durable.
//
// It is not for AWS: a bbolt file belongs to one process at a time (Open
// waits for its file lock), so it cannot back Lambdas that scale out; the
// AWS setup uses dynamostore. Expired connections and tickets are ignored
// on read but not swept.
package boltstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"bucketdesk/internal/core"
)

// Store implements every cache port of core.
var (
	_ core.ResourceStore   = (*Store)(nil)
	_ core.ProjectStore    = (*Store)(nil)
	_ core.ConnectionStore = (*Store)(nil)
	_ core.TicketStore     = (*Store)(nil)
)

// Bucket names. Index keys are project + sep + id: project ids never hold
// sep, so the prefix project+sep matches no other project, even one whose
// id starts with this one's ("ab" and "ab-c").
var (
	bucketProjects    = []byte("store/projects")         // id → Project
	bucketResources   = []byte("store/resources")        // project sep stack → Resource
	bucketOperations  = []byte("store/operations")       // id → Operation
	bucketOpsByProj   = []byte("store/ops-by-project")   // project sep id → ""
	bucketConnections = []byte("store/connections")      // id → Connection
	bucketConnsByProj = []byte("store/conns-by-project") // project sep id → ""
	bucketTickets     = []byte("store/tickets")          // hash → Ticket

	allBuckets = [][]byte{
		bucketProjects, bucketResources, bucketOperations, bucketOpsByProj,
		bucketConnections, bucketConnsByProj, bucketTickets,
	}
)

const sep = "\x00"

// DefaultTimeout is how long Open waits for the file lock by default.
const DefaultTimeout = 5 * time.Second

// Options tune a Store. The zero value (or nil) means defaults.
type Options struct {
	// Timeout is how long Open waits for another process to release the
	// file lock before it fails; 0 means DefaultTimeout. New ignores it.
	Timeout time.Duration
	// NoGroupCommit gives every write its own transaction and fsyncs, as
	// before group commit: only for comparing the two.
	NoGroupCommit bool
}

// Store implements the cache ports of core on a bbolt database. It is
// safe for concurrent use.
type Store struct {
	db *bolt.DB
	// owned is set by Open: Close closes only a database it opened.
	owned bool
	// group commits the mirror's writes together; nil with NoGroupCommit.
	group *committer

	// decoded keeps, per resource key, the last decoded item and the bytes
	// it came from. GET and LIST are the hot reads (§9) and JSON decoding
	// is most of their cost; a hit needs the stored bytes to be equal, so
	// the cache is never stale and needs no invalidation to be correct.
	// Callers get r.Clone(), so it relies on Clone being deep.
	mu      sync.RWMutex
	decoded map[string]decodedResource
	// versionsAt keeps, per project, what ListVersions last read and the
	// id of the transaction it read it in: bbolt gives every committed
	// write transaction the next id, and a read transaction the id of the
	// last one, so a read of the same id sees the same data. (Guarded by mu.)
	versionsAt map[string]readVersions
	// projects keeps, per project id, the last project decoded and the
	// bytes it came from, as decoded does for resources: every request
	// of a member reads its project. (Guarded by mu.)
	projects map[string]decodedProject
}

type decodedProject struct {
	raw []byte
	p   core.Project
}

type readVersions struct {
	txid int
	vs   []core.ItemVersion
}

type decodedResource struct {
	raw []byte
	r   *core.Resource
}

// New returns a Store on db, creating its buckets if needed. The caller
// keeps ownership of db; Close leaves it open.
func New(db *bolt.DB, opts *Options) (*Store, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: create buckets: %w", err)
	}
	s := &Store{db: db, decoded: map[string]decodedResource{}, versionsAt: map[string]readVersions{}, projects: map[string]decodedProject{}}
	if opts == nil || !opts.NoGroupCommit {
		s.group = &committer{db: db, max: maxGroup}
	}
	return s, nil
}

// Open opens (or creates) the bbolt file at path and returns a Store that
// closes it on Close.
func Open(path string, opts *Options) (*Store, error) {
	timeout := DefaultTimeout
	if opts != nil && opts.Timeout > 0 {
		timeout = opts.Timeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("boltstore: open %s: file locked by another process: %w: %w", path, core.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	s, err := New(db, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// DB returns the underlying database, so that the local queue can share a
// file the Store opened.
func (s *Store) DB() *bolt.DB { return s.db }

// Close closes the database if Open opened it; it does nothing for a
// Store made by New.
func (s *Store) Close() error {
	if !s.owned {
		return nil
	}
	return s.db.Close()
}

// ---- core.ProjectStore ----

// PutProject creates or replaces a project registration.
func (s *Store) PutProject(ctx context.Context, p *core.Project) error {
	if err := checkID("project id", p.ID); err != nil {
		return err
	}
	return s.update(ctx, "put project "+p.ID, func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketProjects), []byte(p.ID), p)
	})
}

// GetProject returns ErrNotFound for an unknown id.
func (s *Store) GetProject(ctx context.Context, id string) (*core.Project, error) {
	var p *core.Project
	err := s.view(ctx, "get project "+id, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketProjects).Get([]byte(id))
		if v == nil {
			return core.ErrNotFound
		}
		s.mu.RLock()
		d, ok := s.projects[id]
		s.mu.RUnlock()
		if ok && bytes.Equal(d.raw, v) {
			c := d.p
			c.Members = slices.Clone(d.p.Members)
			p = &c
			return nil
		}
		p = new(core.Project)
		if err := decode(v, p); err != nil {
			return err
		}
		kept := *p
		kept.Members = slices.Clone(p.Members)
		s.mu.Lock()
		s.projects[id] = decodedProject{raw: bytes.Clone(v), p: kept}
		s.mu.Unlock()
		return nil
	})
	return p, err
}

// ListProjects returns every project, ordered by id.
func (s *Store) ListProjects(ctx context.Context) ([]*core.Project, error) {
	ps := []*core.Project{}
	err := s.view(ctx, "list projects", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketProjects).ForEach(func(_, v []byte) error {
			p := new(core.Project)
			if err := decode(v, p); err != nil {
				return err
			}
			ps = append(ps, p)
			return nil
		})
	})
	return ps, err
}

// ---- core.ResourceStore: resources ----

func resourceKey(k core.ResourceKey) []byte { return []byte(k.Project + sep + k.StackName) }

// GetResource returns ErrNotFound when the item does not exist.
func (s *Store) GetResource(ctx context.Context, key core.ResourceKey) (*core.Resource, error) {
	var r *core.Resource
	err := s.view(ctx, "get resource "+key.Project+"/"+key.StackName, func(tx *bolt.Tx) error {
		k := resourceKey(key)
		v := tx.Bucket(bucketResources).Get(k)
		if v == nil {
			return core.ErrNotFound
		}
		var err error
		r, err = s.decodeResource(k, v)
		return err
	})
	return r, err
}

// PutResource writes r if the stored version equals prev (0: absent).
// A version not above prev is ErrInvalid, checked before any read.
func (s *Store) PutResource(ctx context.Context, r *core.Resource, prev int64) error {
	what := fmt.Sprintf("put resource %s/%s version %d", r.Project, r.StackName, r.Version)
	if err := checkID("project", r.Project); err != nil {
		return err
	}
	if r.StackName == "" {
		return fmt.Errorf("boltstore: %s: empty stack name: %w", what, core.ErrInvalid)
	}
	if prev < 0 || r.Version <= prev {
		return fmt.Errorf("boltstore: %s: version must be greater than prev %d: %w", what, prev, core.ErrInvalid)
	}
	k := resourceKey(r.Key())
	data, err := encode(r)
	if err != nil {
		return fmt.Errorf("boltstore: %s: %w", what, err)
	}
	// A conflict writes nothing: it is reported through refused, so that
	// it does not roll back the writes grouped with this one.
	var refused error
	err = s.grouped(ctx, what, func(tx *bolt.Tx) error {
		refused = nil
		b := tx.Bucket(bucketResources)
		if err := s.checkVersion(k, b.Get(k), prev); err != nil {
			refused = err
			return nil
		}
		return b.Put(k, data)
	})
	if err == nil && refused != nil {
		err = wrap(what, refused)
	}
	if err == nil {
		// Committed: the next read finds the item decoded already.
		s.remember(k, data, r.Clone())
	}
	return err
}

// DeleteResource removes the item if its version equals prev; a missing
// item is success.
func (s *Store) DeleteResource(ctx context.Context, key core.ResourceKey, prev int64) error {
	what := fmt.Sprintf("delete resource %s/%s", key.Project, key.StackName)
	k := resourceKey(key)
	var refused error
	err := s.grouped(ctx, what, func(tx *bolt.Tx) error {
		refused = nil
		b := tx.Bucket(bucketResources)
		v := b.Get(k)
		if v == nil {
			return nil
		}
		if err := s.checkVersion(k, v, prev); err != nil {
			refused = err
			return nil
		}
		return b.Delete(k)
	})
	if err == nil && refused != nil {
		return wrap(what, refused)
	}
	if err == nil {
		s.forget(k)
	}
	return err
}

// decodeResource decodes the stored item v under key k, through the
// cache. The caller gets its own copy.
func (s *Store) decodeResource(k, v []byte) (*core.Resource, error) {
	s.mu.RLock()
	d, ok := s.decoded[string(k)]
	s.mu.RUnlock()
	if ok && bytes.Equal(d.raw, v) {
		return d.r.Clone(), nil
	}
	r := new(core.Resource)
	if err := decode(v, r); err != nil {
		return nil, err
	}
	// v lives in bbolt's memory map only as long as the transaction.
	s.remember(k, bytes.Clone(v), r.Clone())
	return r, nil
}

// remember caches r as decoded from raw; raw and r must not be shared.
func (s *Store) remember(k, raw []byte, r *core.Resource) {
	s.mu.Lock()
	s.decoded[string(k)] = decodedResource{raw: raw, r: r}
	s.mu.Unlock()
}

// forget drops a deleted item from the cache, only to save memory: an
// entry whose bytes are no longer stored is never used.
func (s *Store) forget(k []byte) {
	s.mu.Lock()
	delete(s.decoded, string(k))
	s.mu.Unlock()
}

// checkVersion is the condition of a resource write: stored is the item
// under key k as encoded (nil: absent) and prev the version the writer
// read. It runs inside the write transaction, where every microsecond
// holds up the other writes of the group and bbolt's single writer.
func (s *Store) checkVersion(k, stored []byte, prev int64) error {
	if stored == nil {
		if prev != 0 {
			return fmt.Errorf("item is gone, want version %d: %w", prev, core.ErrConflict)
		}
		return nil
	}
	if prev == 0 {
		return fmt.Errorf("item exists: %w", core.ErrConflict)
	}
	version, err := s.storedVersion(k, stored)
	if err != nil {
		return err
	}
	if version != prev {
		return fmt.Errorf("stored version %d, want %d: %w", version, prev, core.ErrConflict)
	}
	return nil
}

// storedVersion returns the version of the item stored under k as
// stored. The writer has almost always just read the item, so the decode
// cache holds these very bytes (compared in full, as a read does); only
// otherwise is the item decoded, which for an item with its operation's
// events costs tens of microseconds.
func (s *Store) storedVersion(k, stored []byte) (int64, error) {
	s.mu.RLock()
	d, ok := s.decoded[string(k)]
	s.mu.RUnlock()
	if ok && bytes.Equal(d.raw, stored) {
		return d.r.Version, nil
	}
	// Only the version is needed: skip decoding the rest.
	var head struct {
		Version int64 `json:"version"`
	}
	if err := decode(stored, &head); err != nil {
		return 0, err
	}
	return head.Version, nil
}

// ListResources returns a project's items ordered by stack name, paged.
// The cursor is the last stack name returned, encoded.
func (s *Store) ListResources(ctx context.Context, project string, page core.Page) ([]*core.Resource, string, error) {
	what := "list resources of " + project
	after, err := decodeCursor(page.Cursor)
	if err != nil {
		return nil, "", fmt.Errorf("boltstore: %s: %w", what, err)
	}
	rs := []*core.Resource{}
	var next string
	err = s.view(ctx, what, func(tx *bolt.Tx) error {
		prefix := []byte(project + sep)
		c := tx.Bucket(bucketResources).Cursor()
		k, v := c.Seek(append(prefix, after...))
		if after != "" && k != nil && string(k[len(prefix):]) == after {
			k, v = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if page.Limit > 0 && len(rs) == page.Limit {
				// One more item exists: only then is there a next page.
				next = encodeCursor(rs[len(rs)-1].StackName)
				break
			}
			r, err := s.decodeResource(k, v)
			if err != nil {
				return err
			}
			rs = append(rs, r)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return rs, next, nil
}

// ListVersions returns the project's (stack name, version) pairs; an item
// whose bytes are in the decode cache is not decoded again, and nothing is
// copied.
func (s *Store) ListVersions(ctx context.Context, project string) ([]core.ItemVersion, error) {
	what := "list versions of " + project
	vs := []core.ItemVersion{}
	err := s.view(ctx, what, func(tx *bolt.Tx) error {
		// Nothing was written since the last read of the project: its
		// answer is this one, without visiting (and comparing) any item.
		s.mu.RLock()
		last, ok := s.versionsAt[project]
		s.mu.RUnlock()
		if ok && last.txid == tx.ID() {
			vs = slices.Clone(last.vs)
			return nil
		}
		prefix := []byte(project + sep)
		c := tx.Bucket(bucketResources).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			s.mu.RLock()
			d, ok := s.decoded[string(k)]
			s.mu.RUnlock()
			if !ok || !bytes.Equal(d.raw, v) {
				r, err := s.decodeResource(k, v)
				if err != nil {
					return err
				}
				d.r = r
			}
			vs = append(vs, core.ItemVersion{StackName: string(k[len(prefix):]), Version: d.r.Version})
		}
		s.mu.Lock()
		s.versionsAt[project] = readVersions{txid: tx.ID(), vs: slices.Clone(vs)}
		s.mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return vs, nil
}

// ---- core.ResourceStore: operations ----

// PutOperation writes a history copy of op unless a copy with a higher Rev
// is stored.
func (s *Store) PutOperation(ctx context.Context, op *core.Operation) error {
	what := "put operation " + op.ID
	if err := checkID("operation id", op.ID); err != nil {
		return err
	}
	if err := checkID("project", op.Project); err != nil {
		return err
	}
	// Encoded once, outside the transaction: the function may run twice.
	data, err := encode(op)
	if err != nil {
		return fmt.Errorf("boltstore: %s: %w", what, err)
	}
	return s.grouped(ctx, what, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOperations)
		idx := tx.Bucket(bucketOpsByProj)
		if v := b.Get([]byte(op.ID)); v != nil {
			var old struct {
				Project string `json:"project"`
				Rev     int64  `json:"rev"`
			}
			if err := decode(v, &old); err != nil {
				return err
			}
			if old.Rev > op.Rev {
				return nil
			}
			if old.Project != op.Project {
				if err := idx.Delete([]byte(old.Project + sep + op.ID)); err != nil {
					return err
				}
			}
		}
		if err := idx.Put([]byte(op.Project+sep+op.ID), nil); err != nil {
			return err
		}
		return b.Put([]byte(op.ID), data)
	})
}

// GetOperation returns ErrNotFound for an unknown id.
func (s *Store) GetOperation(ctx context.Context, id string) (*core.Operation, error) {
	var op *core.Operation
	err := s.view(ctx, "get operation "+id, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketOperations).Get([]byte(id))
		if v == nil {
			return core.ErrNotFound
		}
		op = new(core.Operation)
		return decode(v, op)
	})
	return op, err
}

// ListOperations returns a project's operations newest first by id, paged.
// The cursor is the last id returned, encoded.
func (s *Store) ListOperations(ctx context.Context, project string, page core.Page) ([]*core.Operation, string, error) {
	what := "list operations of " + project
	before, err := decodeCursor(page.Cursor)
	if err != nil {
		return nil, "", fmt.Errorf("boltstore: %s: %w", what, err)
	}
	ops := []*core.Operation{}
	var next string
	err = s.view(ctx, what, func(tx *bolt.Tx) error {
		prefix := []byte(project + sep)
		byID := tx.Bucket(bucketOperations)
		c := tx.Bucket(bucketOpsByProj).Cursor()
		// Walk backwards from the first key past the page's start: the
		// cursor's key, or the end of the prefix (project + "\x01").
		from := []byte(project + "\x01")
		if before != "" {
			from = append(prefix, before...)
		}
		k, _ := c.Seek(from)
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			if page.Limit > 0 && len(ops) == page.Limit {
				next = encodeCursor(ops[len(ops)-1].ID)
				break
			}
			v := byID.Get(k[len(prefix):])
			if v == nil {
				return fmt.Errorf("index names missing operation %q: %w", k[len(prefix):], core.ErrInternal)
			}
			op := new(core.Operation)
			if err := decode(v, op); err != nil {
				return err
			}
			ops = append(ops, op)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return ops, next, nil
}

// purgeBatch bounds how many copies one read-write transaction deletes:
// bbolt runs one writer at a time, so a first purge of a long history
// must not hold every other write back for its whole length. A variable
// so that tests can make it small.
var purgeBatch = 1000

// PurgeOperations deletes the project's ended operation copies whose ULID
// time is before before, oldest first, at most limit (0: all).
//
// It walks the project's index from its start (ids are ULIDs: oldest
// first) and stops at the first id not older than the cutoff, so that a
// call with nothing old reads one key in a read-only transaction. Each
// batch is found in a read-only transaction and deleted in a read-write
// one that checks every copy again, so that a concurrent purge or
// PutOperation in between is neither counted twice nor lost.
func (s *Store) PurgeOperations(ctx context.Context, project string, before time.Time, limit int) (int, error) {
	what := fmt.Sprintf("purge operations of %s before %s", project, before.UTC().Format(time.RFC3339Nano))
	if err := checkID("project", project); err != nil {
		return 0, err
	}
	if limit < 0 {
		return 0, fmt.Errorf("boltstore: %s: negative limit %d: %w", what, limit, core.ErrInvalid)
	}
	bound, ok := core.OperationIDBound(before)
	if !ok {
		return 0, nil
	}
	prefix := []byte(project + sep)
	from := prefix
	deleted := 0
	for {
		want := purgeBatch
		if limit > 0 && limit-deleted < want {
			want = limit - deleted
		}
		ids, next, err := s.purgeCandidates(ctx, what, prefix, from, bound, want)
		if err != nil {
			return deleted, err
		}
		if len(ids) > 0 {
			n, err := s.purgeDelete(ctx, what, project, ids)
			deleted += n
			if err != nil {
				return deleted, err
			}
		}
		if next == nil || limit > 0 && deleted >= limit {
			return deleted, nil
		}
		from = next
	}
}

// purgeCandidates returns up to want ids of ended operations from the
// project's index, starting at key from and stopping before bound, and the
// index key to go on from (nil when the walk reached bound or the end of
// the project).
func (s *Store) purgeCandidates(ctx context.Context, what string, prefix, from []byte, bound string, want int) (ids []string, next []byte, err error) {
	err = s.view(ctx, what, func(tx *bolt.Tx) error {
		byID := tx.Bucket(bucketOperations)
		c := tx.Bucket(bucketOpsByProj).Cursor()
		for k, _ := c.Seek(from); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			id := string(k[len(prefix):])
			if id >= bound {
				return nil
			}
			if len(ids) == want {
				// The key lives in bbolt's memory map only as long as
				// the transaction.
				next = bytes.Clone(k)
				return nil
			}
			if !core.IsOperationID(id) {
				continue
			}
			v := byID.Get([]byte(id))
			if v == nil {
				return fmt.Errorf("index names missing operation %q: %w", id, core.ErrInternal)
			}
			var op opHead
			if err := decode(v, &op); err != nil {
				return err
			}
			if op.Status.Terminal() {
				ids = append(ids, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return ids, next, nil
}

// purgeDelete deletes the copies ids of project's operations from both
// buckets in one transaction, skipping any that is no longer stored under
// this project or no longer ended, and returns how many it deleted.
func (s *Store) purgeDelete(ctx context.Context, what, project string, ids []string) (int, error) {
	n := 0
	err := s.update(ctx, what, func(tx *bolt.Tx) error {
		byID := tx.Bucket(bucketOperations)
		idx := tx.Bucket(bucketOpsByProj)
		for _, id := range ids {
			v := byID.Get([]byte(id))
			if v == nil {
				continue // purged meanwhile
			}
			var op opHead
			if err := decode(v, &op); err != nil {
				return err
			}
			if op.Project != project || !op.Status.Terminal() {
				continue
			}
			if err := idx.Delete([]byte(project + sep + id)); err != nil {
				return err
			}
			if err := byID.Delete([]byte(id)); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// opHead is the part of a stored operation that a purge reads.
type opHead struct {
	Project string        `json:"project"`
	Status  core.OpStatus `json:"status"`
}

// ---- core.ConnectionStore ----

// PutConnection registers c under each of its projects, replacing an
// earlier registration of the same id and its index entries.
func (s *Store) PutConnection(ctx context.Context, c *core.Connection) error {
	if err := checkID("connection id", c.ID); err != nil {
		return err
	}
	for _, p := range c.Projects {
		if err := checkID("project", p); err != nil {
			return err
		}
	}
	return s.update(ctx, "put connection "+c.ID, func(tx *bolt.Tx) error {
		if err := deleteConnection(tx, c.ID); err != nil {
			return err
		}
		idx := tx.Bucket(bucketConnsByProj)
		for _, p := range c.Projects {
			if err := idx.Put([]byte(p+sep+c.ID), nil); err != nil {
				return err
			}
		}
		return putJSON(tx.Bucket(bucketConnections), []byte(c.ID), c)
	})
}

// DeleteConnection removes a connection; an unknown id is not an error.
func (s *Store) DeleteConnection(ctx context.Context, id string) error {
	return s.update(ctx, "delete connection "+id, func(tx *bolt.Tx) error {
		return deleteConnection(tx, id)
	})
}

// deleteConnection removes the connection id and its index entries.
func deleteConnection(tx *bolt.Tx, id string) error {
	b := tx.Bucket(bucketConnections)
	v := b.Get([]byte(id))
	if v == nil {
		return nil
	}
	var old core.Connection
	if err := decode(v, &old); err != nil {
		return err
	}
	idx := tx.Bucket(bucketConnsByProj)
	for _, p := range old.Projects {
		if err := idx.Delete([]byte(p + sep + id)); err != nil {
			return err
		}
	}
	return b.Delete([]byte(id))
}

// ListConnections returns the project's connections unexpired at now,
// through the project index.
func (s *Store) ListConnections(ctx context.Context, project string, now time.Time) ([]*core.Connection, error) {
	cs := []*core.Connection{}
	err := s.view(ctx, "list connections of "+project, func(tx *bolt.Tx) error {
		prefix := []byte(project + sep)
		byID := tx.Bucket(bucketConnections)
		c := tx.Bucket(bucketConnsByProj).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			v := byID.Get(k[len(prefix):])
			if v == nil {
				return fmt.Errorf("index names missing connection %q: %w", k[len(prefix):], core.ErrInternal)
			}
			conn := new(core.Connection)
			if err := decode(v, conn); err != nil {
				return err
			}
			if now.Before(conn.ExpiresAt) {
				cs = append(cs, conn)
			}
		}
		return nil
	})
	return cs, err
}

// ---- core.TicketStore ----

// PutTicket stores a ticket under its hash.
func (s *Store) PutTicket(ctx context.Context, t *core.Ticket) error {
	if t.Hash == "" {
		return fmt.Errorf("boltstore: put ticket: empty hash: %w", core.ErrInvalid)
	}
	return s.update(ctx, "put ticket", func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bucketTickets), []byte(t.Hash), t)
	})
}

// TakeTicket returns and removes the ticket in one transaction, so that
// two takers cannot both get it. An expired ticket is removed too.
func (s *Store) TakeTicket(ctx context.Context, hash string, now time.Time) (*core.Ticket, error) {
	var t *core.Ticket
	// The hash is a credential's digest: keep it out of error messages.
	err := s.update(ctx, "take ticket", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTickets)
		v := b.Get([]byte(hash))
		if v == nil {
			return core.ErrNotFound
		}
		tk := new(core.Ticket)
		if err := decode(v, tk); err != nil {
			return err
		}
		if err := b.Delete([]byte(hash)); err != nil {
			return err
		}
		if !now.Before(tk.ExpiresAt) {
			// Commit the removal, but report the ticket as gone.
			return nil
		}
		t = tk
		return nil
	})
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, fmt.Errorf("boltstore: take ticket: expired: %w", core.ErrNotFound)
	}
	return t, nil
}

// ---- plumbing ----

// view runs fn in a read transaction and wraps its error.
func (s *Store) view(ctx context.Context, what string, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: %s: %w", what, err)
	}
	return wrap(what, s.db.View(fn))
}

// update runs fn in a read-write transaction and wraps its error; an
// error from fn rolls the transaction back.
func (s *Store) update(ctx context.Context, what string, fn func(*bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: %s: %w", what, err)
	}
	return wrap(what, s.db.Update(fn))
}

// grouped runs fn like update, in a transaction it may share with other
// writes (group commit, group.go): fn may run more than once and must
// assign, not accumulate, what it reports. It returns once the
// transaction has committed, as update does.
func (s *Store) grouped(ctx context.Context, what string, fn func(*bolt.Tx) error) error {
	if s.group == nil {
		return s.update(ctx, what, fn)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: %s: %w", what, err)
	}
	return wrap(what, s.group.do(fn))
}

// Commit runs fn in a read-write transaction of the store's file that it
// may share with the store's own writes and other callers' (group commit:
// fn may run more than once and must assign, not accumulate, what it
// reports), and returns once that transaction has committed, durably. It
// lets another user of the same file, the local job queue, share its
// commits and their fsyncs. fn's error is returned as it is.
func (s *Store) Commit(fn func(*bolt.Tx) error) error {
	if s.group == nil {
		return s.db.Update(fn)
	}
	return s.group.do(fn)
}

// wrap names the operation and gives every error a kind: the kinds that
// fn returned stay, a closed database is ErrUnavailable, and any other
// bbolt or file error is ErrInternal.
func wrap(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, core.ErrNotFound), errors.Is(err, core.ErrConflict),
		errors.Is(err, core.ErrInvalid), errors.Is(err, core.ErrInternal):
		return fmt.Errorf("boltstore: %s: %w", what, err)
	case errors.Is(err, bolt.ErrDatabaseNotOpen):
		return fmt.Errorf("boltstore: %s: %w: %w", what, core.ErrUnavailable, err)
	}
	return fmt.Errorf("boltstore: %s: %w: %w", what, core.ErrInternal, err)
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	data, err := encode(v)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}

func encode(v any) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w: %w", core.ErrInvalid, err)
	}
	return data, nil
}

// decode reads a stored item; a value that does not decode is a broken
// invariant, not bad input.
func decode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode stored item: %w: %w", core.ErrInternal, err)
	}
	return nil
}

// checkID rejects ids that would break the key layout: empty ones, and
// ones holding the separator, which could make one project's prefix
// match another's keys.
func checkID(what, id string) error {
	if id == "" || strings.Contains(id, sep) {
		return fmt.Errorf("boltstore: %s %q: must be non-empty and free of NUL bytes: %w", what, id, core.ErrInvalid)
	}
	return nil
}

// Cursors are opaque base64 so that callers do not build them, and so
// that they travel in a URL query unescaped.
func encodeCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", fmt.Errorf("bad cursor: %w", core.ErrInvalid)
	}
	return string(b), nil
}
