package simcloud

import (
	"sort"
	"time"
)

// Bounds on what the sandbox keeps, so that it does not grow under churn.
const (
	// sweepBatch is how many expired stacks one sweep forgets at most,
	// so that a step's commit stays small; each stack operation sweeps
	// and deletes at most one stack, so a backlog drains.
	sweepBatch = 100
	// keptOps is how many operations a stack remembers: their OpRecords
	// and the ClientRequestTokens that make retries idempotent. Retries
	// come within minutes, so only a stack updated for ever loses any.
	keptOps = 100
)

// expiring is an entry of the FIFO of deleted stacks, in deletion order.
type expiring struct {
	at time.Time // the stack's DeletedAt
	id string
}

// expired reports whether st is a deleted stack past its retention:
// CloudFormation no longer knows it, even before a sweep forgets it.
func (s *Sandbox) expired(st *stack) bool {
	return st.Deleted && !s.clock.Now().Before(st.DeletedAt.Add(s.opts.Retention))
}

// expire adds to c the removal of up to sweepBatch deleted stacks past
// their retention, taken from the head of the FIFO, and forgets them in
// memory; s.mu is held. Deletion times follow the clock, so the head is
// the oldest; should the clock go back, a stack is kept a little longer,
// never forgotten early. It reports whether it forgot any.
func (s *Sandbox) expire(c *change) bool {
	n := 0
	for n < sweepBatch && len(s.store.expiry) > 0 {
		head := s.store.expiry[0]
		st := s.store.stacks[head.id]
		if st != nil && !s.expired(st) {
			break
		}
		s.store.expiry[0] = expiring{}
		s.store.expiry = s.store.expiry[1:]
		if st == nil {
			continue
		}
		c.forget = append(c.forget, st)
		c.dropOps = append(c.dropOps, st.opSeqs...)
		for _, seq := range st.opSeqs {
			delete(s.store.ops, seq)
		}
		delete(s.store.stacks, st.ID)
		s.store.nevents -= st.nevents
		n++
	}
	return n > 0
}

// sweepAll forgets every expired stack, a batch per commit; s.mu is held.
func (s *Sandbox) sweepAll() error {
	for {
		c := &change{}
		if !s.expire(c) {
			return nil
		}
		if err := s.commit(c); err != nil {
			return err
		}
	}
}

// trimOps drops the oldest OpRecords of st beyond keptOps - 1, to make
// room for the one being started, with the tokens only they hold; s.mu
// is held.
func (s *Sandbox) trimOps(c *change, st *stack) {
	for len(st.opSeqs) >= keptOps {
		seq := st.opSeqs[0]
		st.opSeqs = st.opSeqs[1:]
		old := s.store.ops[seq]
		delete(s.store.ops, seq)
		c.dropOps = append(c.dropOps, seq)
		if old.Token == "" || old.Token == st.Op.Token {
			continue
		}
		kept := false
		for _, k := range st.opSeqs {
			kept = kept || s.store.ops[k].Token == old.Token
		}
		if !kept {
			delete(st.Tokens, old.Token)
		}
	}
}

// sortExpiry orders the FIFO built at load by deletion time.
func (s *Sandbox) sortExpiry() {
	sort.Slice(s.store.expiry, func(i, j int) bool {
		a, b := s.store.expiry[i], s.store.expiry[j]
		return a.at.Before(b.at) || a.at.Equal(b.at) && a.id < b.id
	})
}

// Stats counts what a Sandbox keeps, to watch its growth: under churn it
// levels off once deleted stacks start to outlive Options.Retention.
type Stats struct {
	// Stacks counts the stacks kept, live and deleted.
	Stacks int
	// DeletedStacks counts the DELETE_COMPLETE stacks kept until their
	// retention ends.
	DeletedStacks int
	// Events counts the stack events kept.
	Events int
	// OpRecords counts the records Operations returns.
	OpRecords int
	// Outbox counts the notifications not yet handed to subscribers.
	Outbox int
}

// Stats returns the counts of what the sandbox keeps now.
func (s *Sandbox) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Stacks:        len(s.store.stacks),
		DeletedStacks: len(s.store.expiry),
		Events:        s.store.nevents,
		OpRecords:     len(s.store.ops),
		Outbox:        len(s.delivery.outq) + s.delivery.delivering,
	}
}
