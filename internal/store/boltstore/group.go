package boltstore

import (
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// Group commit. bbolt makes every read-write transaction durable with
// fsyncs before Update returns, and an fsync costs milliseconds, so one
// transaction per write caps a store at a few hundred writes per second
// however many goroutines write. The writes that arrive while a commit is
// in progress wait for it, then all go in the next transaction: one
// commit makes them all durable, and each caller returns only after that
// commit (nothing is acknowledged before it is on disk).
//
// Unlike bbolt's DB.Batch, a group never waits on a timer: a write that
// arrives while nothing is committing is committed at once, so a lone
// writer pays no more than one transaction, and the group grows with the
// load by itself (it holds whatever arrived during the last commit).
//
// The order within a group is the order of arrival, and each function
// sees what the functions before it wrote: the group is equivalent to
// running its functions one after the other, each in its own
// transaction, except that they become durable together.
//
// A function may run more than once. When one returns an error (or
// panics), the transaction is rolled back, that caller gets its error
// (it saw the writes of the functions before it, which run again
// unchanged: it failed in the same serial order) and the rest of the
// group runs again without it. So a function must assign, not
// accumulate, what it reports through its closure, and a refusal that
// wrote nothing (a version conflict) is better reported through the
// closure with a nil error, so that it does not cost the others a second
// run.
type committer struct {
	db *bolt.DB
	// max bounds a group; the rest waits for the next commit.
	max int

	mu    sync.Mutex
	queue []*groupCall
	// busy is set while a leader takes or commits a group; the next
	// leader is the first caller of the queue when it ends.
	busy bool

	commits atomic.Int64 // transactions committed by groups
	writes  atomic.Int64 // functions committed in them
}

// maxGroup is bbolt's DefaultMaxBatchSize: far above what the callers of
// one process have in flight at once (the event workers).
const maxGroup = 1000

type groupCall struct {
	fn func(*bolt.Tx) error
	// done receives true when this caller is to lead the next group, and
	// false once its function was committed or failed (err, panicked).
	done     chan bool
	err      error
	panicked any
}

// do runs fn in a transaction shared with the writers waiting at the
// same time, and returns once that transaction has committed (nil) or
// failed, or fn failed on its own (fn's error).
func (c *committer) do(fn func(*bolt.Tx) error) error {
	call := &groupCall{fn: fn, done: make(chan bool, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, call)
	lead := !c.busy
	c.busy = true
	c.mu.Unlock()
	if lead {
		c.lead()
	}
	// true: the lead was handed over, and this call is the queue's first.
	for <-call.done {
		c.lead()
	}
	if call.panicked != nil {
		panic(call.panicked)
	}
	return call.err
}

// lead takes the queue (up to max: it always holds the leader's own call,
// which is first), commits it as one group, finishes its calls and hands
// the lead to the first caller that arrived meanwhile.
func (c *committer) lead() {
	c.mu.Lock()
	n := min(len(c.queue), c.max)
	group := c.queue[:n:n]
	if n == len(c.queue) {
		c.queue = nil
	} else {
		c.queue = c.queue[n:]
	}
	c.mu.Unlock()

	c.run(group)

	c.mu.Lock()
	if len(c.queue) == 0 {
		c.busy = false
	} else {
		c.queue[0].done <- true
	}
	c.mu.Unlock()
}

// run commits group in one transaction, taking out and finishing each
// call whose function fails, and finishes the rest with the commit's
// result.
func (c *committer) run(group []*groupCall) {
	for len(group) > 0 {
		failed := -1
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, call := range group {
				if err := call.run(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			call := group[failed]
			if call.panicked == nil {
				call.err = err
			}
			call.done <- false
			group = append(group[:failed:failed], group[failed+1:]...)
			continue
		}
		if err == nil {
			c.commits.Add(1)
			c.writes.Add(int64(len(group)))
		}
		for _, call := range group {
			call.err = err
			call.done <- false
		}
		return
	}
}

// run calls the function, turning a panic into a failure that do
// re-raises in the caller's goroutine.
func (call *groupCall) run(tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			call.panicked = p
			err = errPanicked
		}
	}()
	return call.fn(tx)
}

type panickedError struct{}

func (panickedError) Error() string { return "write function panicked" }

var errPanicked error = panickedError{}

// GroupStats counts the group commits of a Store since it was made.
type GroupStats struct {
	// Commits is the number of transactions that committed groups, Writes
	// the number of writes (PutResource, DeleteResource, PutOperation,
	// AppendAudit) they made durable, refused ones included.
	Commits, Writes int64
}

// GroupStats returns the Store's group-commit counters; both stay zero
// when Options.NoGroupCommit is set.
func (s *Store) GroupStats() GroupStats {
	if s.group == nil {
		return GroupStats{}
	}
	return GroupStats{Commits: s.group.commits.Load(), Writes: s.group.writes.Load()}
}
