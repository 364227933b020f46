package simcloud

import (
	"context"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"bucketdesk/internal/core"
)

var _ core.Cloud = (*Sandbox)(nil)

// Sandbox is the simulated CloudFormation of every account. It is safe
// for concurrent use.
type Sandbox struct {
	opts    Options
	clock   core.Clock
	db      *bolt.DB
	aead    cipher.AEAD
	hashKey []byte

	// mu guards every field below, those of the groups included (except
	// delivery.rng, the deliverer's own).
	mu       sync.Mutex
	store    store
	work     work
	delivery delivery
	limits   map[string]*tokenBucket // by account id
	phys     physIndex               // physical resources by type and id
	failRng  *rand.Rand              // Options.FailRate
	broken   error                   // a failed write: the sandbox answers ErrUnavailable
	closed   bool

	quit chan struct{}
	wg   sync.WaitGroup
}

// store is the sandbox's state in memory, as the bbolt file holds it
// (events and outbox aside): commit writes a change to both.
type store struct {
	stacks  map[string]*stack         // by stack id, deleted ones until their retention ends
	byName  map[string]string         // account + "\x00" + name → id of the live stack
	objects map[string]*bucketObjects // bucket name → what it holds
	ops     map[uint64]OpRecord       // by key in the ops bucket
	expiry  []expiring                // the deleted stacks, oldest deletion first
	nevents int                       // events kept
}

// work is what WaitIdle and Hold watch: the stack operations in flight
// and the holds that pause them.
type work struct {
	inflight int
	holds    int
	released chan struct{} // closed when holds drops to 0
	changed  chan struct{} // closed and replaced on every state change WaitIdle watches
}

// delivery is the notifications on their way to the subscribers.
type delivery struct {
	outq       []outItem
	wake       chan struct{}
	subs       []*subscriber
	started    bool // a subscriber has subscribed: deliver
	delivering int
	delayed    int
	rng        *rand.Rand // chaos, used by the deliverer goroutine only
}

var (
	bStacks  = []byte("stacks")
	bEvents  = []byte("events")
	bOutbox  = []byte("outbox")
	bOps     = []byte("ops")
	bObjects = []byte("objects")
)

// New opens (or creates) the sandbox stored in the bbolt file at path,
// with its secret key in path + ".key", and resumes every stack operation
// that was in flight when it was last closed. opts nil means DemoOptions.
func New(path string, opts *Options) (*Sandbox, error) {
	if opts == nil {
		opts = DemoOptions()
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	o := *opts
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	if o.Retention == 0 {
		o.Retention = defaultRetention
	}
	_, statErr := os.Stat(path)
	fresh := errors.Is(statErr, os.ErrNotExist)
	key, err := loadKey(keyFile(path), fresh)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(key)
	if err != nil {
		return nil, err
	}
	hk := sha256.Sum256(append([]byte("simcloud hash\x00"), key...))
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, NoSync: o.NoSync})
	if err != nil {
		return nil, fmt.Errorf("simcloud: open %s: %w", path, err)
	}
	s := &Sandbox{
		opts:    o,
		clock:   o.Clock,
		db:      db,
		aead:    aead,
		hashKey: hk[:],
		store: store{
			stacks:  map[string]*stack{},
			byName:  map[string]string{},
			objects: map[string]*bucketObjects{},
			ops:     map[uint64]OpRecord{},
		},
		work: work{released: make(chan struct{}), changed: make(chan struct{})},
		delivery: delivery{
			wake: make(chan struct{}, 1),
			rng:  rand.New(rand.NewPCG(uint64(o.Chaos.Seed), 0x5eed)),
		},
		limits:  map[string]*tokenBucket{},
		failRng: rand.New(rand.NewPCG(uint64(o.Chaos.Seed), 0xfa11)),
		quit:    make(chan struct{}),
	}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	s.mu.Lock()
	err = s.sweepAll() // what expired while the sandbox was closed
	s.mu.Unlock()
	if err != nil {
		db.Close()
		return nil, err
	}
	s.wg.Add(1)
	go s.deliver()
	// Resumed operations count as in flight before any of them can finish
	// and uncount itself.
	s.mu.Lock()
	var resume []*stack
	for _, st := range s.store.stacks {
		if st.Op != nil {
			s.work.inflight++
			resume = append(resume, st)
		}
	}
	s.mu.Unlock()
	for _, st := range resume {
		s.wg.Add(1)
		go s.run(st)
	}
	return s, nil
}

// load reads the persisted state.
func (s *Sandbox) load() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bStacks, bEvents, bOutbox, bOps, bObjects} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		err := tx.Bucket(bStacks).ForEach(func(k, v []byte) error {
			st := &stack{}
			if err := json.Unmarshal(v, st); err != nil {
				return fmt.Errorf("simcloud: stack %s: %w", k, err)
			}
			if st.Resources == nil {
				st.Resources = map[string]*record{}
			}
			s.store.stacks[st.ID] = st
			s.reindex(st)
			if !st.Deleted {
				s.store.byName[st.Account+"\x00"+st.Name] = st.ID
				return nil
			}
			if st.DeletedAt.IsZero() {
				st.DeletedAt = st.LastEvent // deleted before DeletedAt existed
			}
			s.store.expiry = append(s.store.expiry, expiring{at: st.DeletedAt, id: st.ID})
			return nil
		})
		if err != nil {
			return err
		}
		s.sortExpiry()
		eb := tx.Bucket(bEvents)
		err = eb.ForEach(func(k, v []byte) error {
			// Events are only ever added, so a stack's sequence counts them.
			if nb := eb.Bucket(k); v == nil && nb != nil {
				n := int(nb.Sequence())
				s.store.nevents += n
				if st := s.store.stacks[string(k)]; st != nil {
					st.nevents = n
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bOutbox).ForEach(func(k, v []byte) error {
			s.delivery.outq = append(s.delivery.outq, outItem{seq: binary.BigEndian.Uint64(k), body: slices.Clone(v)})
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bOps).ForEach(func(k, v []byte) error {
			var r OpRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			seq := binary.BigEndian.Uint64(k)
			s.store.ops[seq] = r
			if st := s.store.stacks[r.StackID]; st != nil {
				st.opSeqs = append(st.opSeqs, seq)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bObjects).ForEach(func(k, v []byte) error {
			b, err := decodeObjects(v)
			if err != nil {
				return fmt.Errorf("simcloud: objects of bucket %s: %w", k, err)
			}
			s.store.objects[string(k)] = b
			return nil
		})
	})
}

// Close stops the sandbox: running operations stop between two steps and
// resume when the file is opened again; notifications not yet handed to
// subscribers are kept and delivered then. Close waits for a subscriber
// call in progress to return.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.quit)
	s.broadcast()
	s.mu.Unlock()
	s.wg.Wait()
	return s.db.Close()
}

// change collects what one step writes, in one bbolt transaction.
type change struct {
	stacks  []*stack
	events  []core.StackEvent
	out     [][]byte
	ops     []OpRecord
	objects []string // bucket names whose count changed
	forget  []*stack // expired stacks to remove with their events
	dropOps []uint64 // keys of OpRecords to remove
	opSeqs  []uint64 // set by commit: the keys given to ops
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// commit writes c; s.mu is held. A failed write breaks the sandbox: the
// memory state may be ahead of the file.
func (s *Sandbox) commit(c *change) error {
	if s.broken != nil {
		return s.broken
	}
	var seqs []uint64
	err := s.db.Update(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bStacks)
		seen := map[*stack]bool{}
		for _, st := range c.stacks {
			if seen[st] {
				continue
			}
			seen[st] = true
			b, err := json.Marshal(st)
			if err != nil {
				return err
			}
			if err := sb.Put([]byte(st.ID), b); err != nil {
				return err
			}
		}
		eb := tx.Bucket(bEvents)
		for _, e := range c.events {
			nb, err := eb.CreateBucketIfNotExists([]byte(e.StackID))
			if err != nil {
				return err
			}
			seq, _ := nb.NextSequence()
			b, _ := json.Marshal(e)
			if err := nb.Put(u64(seq), b); err != nil {
				return err
			}
		}
		ob := tx.Bucket(bOutbox)
		for _, body := range c.out {
			seq, _ := ob.NextSequence()
			if err := ob.Put(u64(seq), body); err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		pb := tx.Bucket(bOps)
		c.opSeqs = nil
		for _, r := range c.ops {
			seq, _ := pb.NextSequence()
			b, _ := json.Marshal(r)
			if err := pb.Put(u64(seq), b); err != nil {
				return err
			}
			c.opSeqs = append(c.opSeqs, seq)
		}
		objb := tx.Bucket(bObjects)
		for _, name := range c.objects {
			var err error
			if b, ok := s.store.objects[name]; ok {
				var v []byte
				if v, err = json.Marshal(b); err == nil {
					err = objb.Put([]byte(name), v)
				}
			} else {
				err = objb.Delete([]byte(name))
			}
			if err != nil {
				return err
			}
		}
		for _, st := range c.forget {
			if err := sb.Delete([]byte(st.ID)); err != nil {
				return err
			}
			if eb.Bucket([]byte(st.ID)) != nil {
				if err := eb.DeleteBucket([]byte(st.ID)); err != nil {
					return err
				}
			}
		}
		for _, seq := range c.dropOps {
			if err := pb.Delete(u64(seq)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.broken = fmt.Errorf("simcloud: write state: %v: %w", err, core.ErrUnavailable)
		return s.broken
	}
	for _, st := range c.stacks {
		s.reindex(st)
	}
	for _, st := range c.forget {
		s.unindex(st.ID)
	}
	for i, body := range c.out {
		s.delivery.outq = append(s.delivery.outq, outItem{seq: seqs[i], body: body})
	}
	if len(c.out) > 0 {
		select {
		case s.delivery.wake <- struct{}{}:
		default:
		}
	}
	for i, r := range c.ops {
		s.store.ops[c.opSeqs[i]] = r
	}
	s.broadcast()
	return nil
}

// broadcast wakes WaitIdle; s.mu is held.
func (s *Sandbox) broadcast() {
	close(s.work.changed)
	s.work.changed = make(chan struct{})
}

// call is the front of every API call: latency, then the rate limit.
// assumable answers AccessDenied, as STS's AssumeRole would, for a role of
// another account or an external id that the role's trust (Options.Roles)
// does not accept.
func (s *Sandbox) assumable(a core.Account) error {
	if a.RoleARN == "" {
		return nil
	}
	denied := apiErr(core.ErrForbidden, "AccessDenied", "User: arn:aws:sts::000000000000:assumed-role/bucketdesk is not authorized to perform: sts:AssumeRole on resource: %s", a.RoleARN)
	if !strings.HasPrefix(a.RoleARN, "arn:aws:iam::"+a.ID+":role/") {
		return denied
	}
	if want, ok := s.opts.Roles[a.RoleARN]; ok && want != a.ExternalID {
		return denied
	}
	return nil
}

func (s *Sandbox) call(ctx context.Context, a core.Account, limited bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if a.ID == "" {
		return validationErr(core.ErrInvalid, "account id is required")
	}
	if err := s.assumable(a); err != nil {
		return err
	}
	if d := s.opts.APILatency; d > 0 {
		select {
		case <-s.clock.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return apiErr(core.ErrUnavailable, "ServiceUnavailable", "the sandbox is closed")
	}
	if s.broken != nil {
		return s.broken
	}
	if l := s.opts.RateLimit; limited && l.PerSecond > 0 {
		b := s.limits[a.ID]
		if b == nil {
			b = &tokenBucket{}
			s.limits[a.ID] = b
		}
		if !b.allow(s.clock.Now(), l) {
			return apiErr(core.ErrThrottled, "Throttling", "Rate exceeded")
		}
	}
	return nil
}

var stackNameRe = regexp.MustCompile(`^[a-zA-Z][-a-zA-Z0-9]{0,127}$`)

func region(a core.Account) string {
	if a.Region == "" {
		return "us-east-1"
	}
	return a.Region
}

// find returns the live stack named nameOrID, or the stack with that id
// (deleted too when withDeleted, until its retention ends), or nil. s.mu
// is held.
func (s *Sandbox) find(a core.Account, nameOrID string, withDeleted bool) *stack {
	if strings.HasPrefix(nameOrID, "arn:") {
		st := s.store.stacks[nameOrID]
		if st == nil || st.Account != a.ID || (st.Deleted && (!withDeleted || s.expired(st))) {
			return nil
		}
		return st
	}
	return s.store.stacks[s.store.byName[a.ID+"\x00"+nameOrID]]
}

func notExist(name string) error {
	return validationErr(core.ErrNotFound, "Stack with id %s does not exist", name)
}

// checkCapabilities answers InsufficientCapabilities as CloudFormation
// does when a template has IAM resources that were not acknowledged.
func checkCapabilities(t *template, caps []string) error {
	need := ""
	for _, name := range t.order {
		r := t.Resources[name]
		rt := types[r.Type]
		if !rt.iam {
			continue
		}
		if need == "" {
			need = "CAPABILITY_IAM"
		}
		if _, named := r.Properties[rt.iamName]; rt.iamName != "" && named {
			need = "CAPABILITY_NAMED_IAM"
		}
	}
	switch {
	case need == "":
		return nil
	case slices.Contains(caps, "CAPABILITY_NAMED_IAM"):
		return nil
	case need == "CAPABILITY_IAM" && slices.Contains(caps, "CAPABILITY_IAM"):
		return nil
	}
	return apiErr(core.ErrInvalid, "InsufficientCapabilitiesException", "Requires capabilities : [%s]", need)
}

// sameJSON reports whether two JSON documents are equal as values.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return a == b
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func sameTags(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

var topicRe = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$`)

// topic returns the SNS topic of a stack's notifications.
func (s *Sandbox) topic(a core.Account, arns []string) (string, error) {
	for _, arn := range arns {
		if !topicRe.MatchString(arn) {
			return "", validationErr(core.ErrInvalid, "Invalid NotificationARNs: %s", arn)
		}
	}
	switch {
	case len(arns) > 0:
		return arns[0], nil
	case s.opts.TopicARN != "":
		return s.opts.TopicARN, nil
	}
	return "arn:" + core.Partition(region(a)) + ":sns:" + region(a) + ":" + a.ID + ":bucketdesk-events", nil
}

// CreateStack creates a stack and starts creating its resources. An
// existing stack is ErrConflict (AlreadyExistsException) unless it was
// created with the same token, which returns its id.
func (s *Sandbox) CreateStack(ctx context.Context, a core.Account, req core.StackRequest) (string, error) {
	if err := s.call(ctx, a, true); err != nil {
		return "", err
	}
	if !stackNameRe.MatchString(req.StackName) {
		return "", validationErr(core.ErrInvalid, "1 validation error detected: Value '%s' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*", req.StackName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.find(a, req.StackName, false); st != nil {
		if req.Token != "" && st.Tokens[req.Token] == actionCreate {
			return st.ID, nil
		}
		return "", apiErr(core.ErrConflict, "AlreadyExistsException", "Stack [%s] already exists", req.StackName)
	}
	t, err := parseTemplate(req.Template)
	if err != nil {
		return "", err
	}
	if err := checkCapabilities(t, req.Capabilities); err != nil {
		return "", err
	}
	topic, err := s.topic(a, req.NotificationARNs)
	if err != nil {
		return "", err
	}
	now := s.clock.Now().UTC()
	st := &stack{
		ID:        "arn:" + core.Partition(region(a)) + ":cloudformation:" + region(a) + ":" + a.ID + ":stack/" + req.StackName + "/" + uuid(),
		Name:      req.StackName,
		Account:   a.ID,
		Region:    region(a),
		Status:    "CREATE_IN_PROGRESS",
		Template:  req.Template,
		Tags:      cloneMap(req.Tags),
		Topic:     topic,
		Created:   now,
		Resources: map[string]*record{},
		Tokens:    map[string]string{},
		tpl:       t,
	}
	st.Op = &operation{Token: req.Token, Action: actionCreate, Queue: slices.Clone(t.order)}
	return st.ID, s.start(st, now)
}

// start records and begins an operation set on st.Op, emitting the
// stack's IN_PROGRESS event; s.mu is held.
func (s *Sandbox) start(st *stack, now time.Time) error {
	c := &change{stacks: []*stack{st}}
	s.expire(c)
	if st.Op.Token != "" {
		st.Tokens[st.Op.Token] = st.Op.Action
	}
	s.trimOps(c, st)
	st.Op.FailNext = s.drawFailure(st.Op.Action)
	c.ops = append(c.ops, OpRecord{Token: st.Op.Token, Account: st.Account, StackName: st.Name, StackID: st.ID, Action: st.Op.Action, At: now})
	st.Reason = ""
	s.emitStack(c, st, st.Status, "User Initiated")
	if err := s.commit(c); err != nil {
		return err
	}
	st.opSeqs = append(st.opSeqs, c.opSeqs...)
	s.store.stacks[st.ID] = st
	s.store.byName[st.Account+"\x00"+st.Name] = st.ID
	s.work.inflight++
	s.wg.Add(1)
	go s.run(st)
	return nil
}

// UpdateStack starts an update. No change is ErrNoChange ("No updates are
// to be performed."); a stack in progress (unless with the same token) or
// in a state that cannot be updated is ErrConflict; a missing stack is
// ErrNotFound.
func (s *Sandbox) UpdateStack(ctx context.Context, a core.Account, req core.StackRequest) (string, error) {
	if err := s.call(ctx, a, true); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.find(a, req.StackName, false)
	if st == nil {
		return "", validationErr(core.ErrNotFound, "Stack [%s] does not exist", req.StackName)
	}
	if req.Token != "" {
		if st.Op != nil && st.Op.Token == req.Token {
			return st.ID, nil
		}
		switch st.Tokens[req.Token] {
		case actionUpdate:
			return st.ID, nil
		case "":
		default:
			return "", validationErr(core.ErrConflict, "ClientRequestToken %s was already used for a %s operation", req.Token, st.Tokens[req.Token])
		}
	}
	switch st.Status {
	case "CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE":
	default:
		return "", validationErr(core.ErrConflict, "Stack:%s is in %s state and can not be updated.", st.ID, st.Status)
	}
	t, err := parseTemplate(req.Template)
	if err != nil {
		return "", err
	}
	if err := checkCapabilities(t, req.Capabilities); err != nil {
		return "", err
	}
	topic, err := s.topic(a, req.NotificationARNs)
	if err != nil {
		return "", err
	}
	tags := st.Tags
	if req.Tags != nil {
		tags = cloneMap(req.Tags)
	}
	if sameJSON(st.Template, req.Template) && sameTags(st.Tags, tags) {
		return "", validationErr(core.ErrNoChange, "No updates are to be performed.")
	}
	now := s.clock.Now().UTC()
	st.Op = &operation{
		Token: req.Token, Action: actionUpdate, Queue: slices.Clone(t.order),
		Old: cloneRecords(st.Resources), OldTemplate: st.Template, OldOutputs: cloneMap(st.Outputs), OldTags: cloneMap(st.Tags),
	}
	st.Template, st.tpl, st.Tags = req.Template, t, tags
	if len(req.NotificationARNs) > 0 {
		st.Topic = topic
	}
	st.Status, st.Updated = "UPDATE_IN_PROGRESS", now
	return st.ID, s.start(st, now)
}

// cloneRecords copies a map of records; the records are immutable.
func cloneRecords(m map[string]*record) map[string]*record {
	c := make(map[string]*record, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// DeleteStack starts deleting a stack. A missing stack, a stack being
// deleted and a retry with the same token are success; a stack with
// another operation in progress is ErrConflict.
func (s *Sandbox) DeleteStack(ctx context.Context, a core.Account, stackName, token string) error {
	if err := s.call(ctx, a, true); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.find(a, stackName, false)
	if st == nil {
		return nil
	}
	if token != "" && (st.Tokens[token] == actionDelete || st.Op != nil && st.Op.Token == token) {
		return nil
	}
	if st.Op != nil {
		if st.Op.Action == actionDelete {
			return nil
		}
		return validationErr(core.ErrConflict, "Stack [%s] cannot be deleted while in status %s", st.Name, st.Status)
	}
	now := s.clock.Now().UTC()
	op := &operation{Token: token, Action: actionDelete}
	for _, r := range st.Retired {
		op.Queue = append(op.Queue, r.ID)
	}
	order := st.template().order
	seen := map[string]bool{}
	for i := len(order) - 1; i >= 0; i-- {
		if r := st.Resources[order[i]]; r != nil {
			op.Queue = append(op.Queue, r.ID)
			seen[order[i]] = true
		}
	}
	var rest []string
	for l, r := range st.Resources {
		if !seen[l] {
			rest = append(rest, r.ID)
		}
	}
	sort.Strings(rest)
	op.Queue = append(op.Queue, rest...)
	st.Op, st.Status, st.Updated = op, "DELETE_IN_PROGRESS", now
	return s.start(st, now)
}

// DescribeStack returns a stack by name, or by id (deleted ones too, until
// Options.Retention after their deletion).
func (s *Sandbox) DescribeStack(ctx context.Context, a core.Account, name string) (*core.Stack, error) {
	if err := s.call(ctx, a, true); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.find(a, name, true)
	if st == nil {
		return nil, notExist(name)
	}
	return st.describe(), nil
}

// ListStacks returns the account's stacks whose name starts with prefix,
// except DELETE_COMPLETE ones, ordered by name, reading them page by page
// as ListStacksPaced does.
func (s *Sandbox) ListStacks(ctx context.Context, a core.Account, prefix string) ([]core.StackSummary, error) {
	return s.ListStacksPaced(ctx, a, prefix, nil)
}

// ListPageSize is the number of stack summaries in one page of the
// sandbox's ListStacks, the size CloudFormation's pages have in practice
// (its documentation bounds a page by 1 MB of output, not by a count).
const ListPageSize = 100

// ListStacksPaced is ListStacks as CloudFormation serves it: one request
// per page of ListPageSize summaries of the account's live stacks, in
// name order, each request with the API's latency and rate limit, the
// prefix applied by the caller's side to every page (ListStacks has no
// name filter). wait, when not nil, is called before each request (the
// caller's pacing, internal/cloud/paced). A page that fails ends the
// listing with its error.
func (s *Sandbox) ListStacksPaced(ctx context.Context, a core.Account, prefix string, wait func(context.Context) error) ([]core.StackSummary, error) {
	var out []core.StackSummary
	after := "" // the NextToken: the last name of the previous page
	for {
		if wait != nil {
			if err := wait(ctx); err != nil {
				return nil, err
			}
		}
		if err := s.call(ctx, a, true); err != nil {
			return nil, err
		}
		page, more := s.listPage(a.ID, after)
		for _, st := range page {
			if strings.HasPrefix(st.StackName, prefix) {
				out = append(out, st)
			}
		}
		if !more {
			return out, nil
		}
		after = page[len(page)-1].StackName
	}
}

// listPage returns the account's live stacks named after after, in name
// order, at most ListPageSize, and whether more follow. It keeps only the
// first ListPageSize+1 names as it goes, in order, rather than sorting
// every name after after: a listing of N stacks then costs N/ListPageSize
// passes of N comparisons under the sandbox's lock, not as many sorts.
func (s *Sandbox) listPage(account, after string) ([]core.StackSummary, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	const keep = ListPageSize + 1 // one more tells whether more follow
	page := make([]core.StackSummary, 0, keep+1)
	byName := func(e core.StackSummary, name string) int { return strings.Compare(e.StackName, name) }
	for st := range s.liveStacks(account) {
		if st.Name <= after || (len(page) == keep && st.Name >= page[keep-1].StackName) {
			continue
		}
		i, _ := slices.BinarySearchFunc(page, st.Name, byName)
		page = slices.Insert(page, i, core.StackSummary{StackID: st.ID, StackName: st.Name, Status: st.Status})
		if len(page) > keep {
			page = page[:keep]
		}
	}
	if len(page) > ListPageSize {
		return page[:ListPageSize], true
	}
	return page, false
}

// GetTemplate returns the body of the stack's current template: during
// an update the new one, after an update rollback the previous one.
func (s *Sandbox) GetTemplate(ctx context.Context, a core.Account, name string) (string, error) {
	if err := s.call(ctx, a, true); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.find(a, name, true)
	if st == nil {
		return "", notExist(name)
	}
	return st.Template, nil
}

// GetSecretValue returns the SecretString of a secret created by a stack
// of the account, by ARN or name. It is not rate limited (Secrets
// Manager's limits are far higher than CloudFormation's).
func (s *Sandbox) GetSecretValue(ctx context.Context, a core.Account, secret string) (string, error) {
	if err := s.call(ctx, a, false); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var found *record
	for st := range s.liveStacks(a.ID) {
		st.live(func(r *record) bool {
			if r.Type == "AWS::SecretsManager::Secret" && (r.Physical == secret || secretName(r.Physical) == secret) {
				found = r
				return false
			}
			return true
		})
	}
	if found == nil {
		return "", apiErr(core.ErrNotFound, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
	}
	v, err := s.open(found.Sealed["SecretString"])
	if err != nil {
		return "", apiErr(core.ErrInternal, "InternalServiceError", "%v", err)
	}
	return v, nil
}

// Events returns every event of a stack, oldest first (DescribeStackEvents
// lists them newest first). The stack is named by id, or by name: the live
// stack of that name or else, unlike DescribeStackEvents, the last deleted
// one. Resource event ids, as CloudFormation's, are unique per stack only.
func (s *Sandbox) Events(a core.Account, stackName string) ([]core.StackEvent, error) {
	s.mu.Lock()
	st := s.find(a, stackName, true)
	if st == nil {
		for _, x := range s.store.stacks {
			if x.Account == a.ID && x.Name == stackName && !s.expired(x) && (st == nil || x.Created.After(st.Created)) {
				st = x
			}
		}
	}
	closed := s.closed
	s.mu.Unlock()
	if st == nil {
		return nil, notExist(stackName)
	}
	if closed {
		return nil, apiErr(core.ErrUnavailable, "ServiceUnavailable", "the sandbox is closed")
	}
	var out []core.StackEvent
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bEvents).Bucket([]byte(st.ID))
		if b == nil {
			return notExist(stackName) // forgotten since s.mu was released
		}
		return b.ForEach(func(k, v []byte) error {
			var e core.StackEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	})
	return out, err
}

// Operations returns the stack operations accepted so far, oldest first:
// those of the stacks kept (see Options.Retention), at most the last 100
// of each stack.
func (s *Sandbox) Operations() []OpRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	seqs := slices.Sorted(maps.Keys(s.store.ops))
	out := make([]OpRecord, len(seqs))
	for i, seq := range seqs {
		out[i] = s.store.ops[seq]
	}
	return out
}

// Hold pauses every stack operation between two steps until release is
// called, so that a test can act while an operation is in progress. API
// calls keep working; operations accepted while held start and stay in
// their IN_PROGRESS state.
func (s *Sandbox) Hold() (release func()) {
	s.mu.Lock()
	s.work.holds++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.work.holds--
			if s.work.holds == 0 {
				close(s.work.released)
				s.work.released = make(chan struct{})
			}
		})
	}
}

// WaitIdle returns when no stack operation is in flight and every
// notification has been handed to the subscribers (once there are any),
// or when ctx ends. With a manual clock and non-zero durations or delays,
// the caller must advance the clock meanwhile. It must not be called from
// a subscriber.
func (s *Sandbox) WaitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		idle := s.work.inflight == 0 && (!s.delivery.started || len(s.delivery.outq) == 0 && s.delivery.delivering == 0 && s.delivery.delayed == 0)
		ch := s.work.changed
		closed := s.closed
		s.mu.Unlock()
		if idle {
			return nil
		}
		if closed {
			return apiErr(core.ErrUnavailable, "ServiceUnavailable", "the sandbox is closed")
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// drawFailure decides whether a stack operation of action fails on
// purpose (Options.FailRate); s.mu is held.
func (s *Sandbox) drawFailure(action string) bool {
	var p float64
	switch action {
	case actionCreate:
		p = s.opts.FailRate.Create
	case actionUpdate:
		p = s.opts.FailRate.Update
	case actionDelete:
		p = s.opts.FailRate.Delete
	}
	return p > 0 && s.failRng.Float64() < p
}

// liveStacks yields the live stacks of an account ("": of every account),
// never the deleted ones kept for their retention, which may be many;
// s.mu is held.
func (s *Sandbox) liveStacks(account string) iter.Seq[*stack] {
	return func(yield func(*stack) bool) {
		for _, id := range s.store.byName {
			if st := s.store.stacks[id]; (account == "" || st.Account == account) && !yield(st) {
				return
			}
		}
	}
}
