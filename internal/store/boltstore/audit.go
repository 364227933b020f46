package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"bucketdesk/internal/core"
)

var _ core.AuditStore = (*Store)(nil)

// bucketAudit holds the audit trail: project sep id → AuditRecord. IDs
// are ULIDs, so a project's keys are in time order. The bucket is made by
// the first append; until then every project's trail is empty.
var bucketAudit = []byte("store/audit")

// AppendAudit stores r unless a record with its ID is stored already.
func (s *Store) AppendAudit(ctx context.Context, r *core.AuditRecord) error {
	what := "append audit record " + r.ID
	if err := checkID("project", r.Project); err != nil {
		return err
	}
	if !core.IsOperationID(r.ID) {
		return fmt.Errorf("boltstore: %s: the id must be a canonical ULID: %w", what, core.ErrInvalid)
	}
	data, err := encode(r)
	if err != nil {
		return fmt.Errorf("boltstore: %s: %w", what, err)
	}
	// Grouped: the mirror appends one when an operation ends. Idempotent,
	// so it may run twice.
	return s.grouped(ctx, what, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketAudit)
		if err != nil {
			return err
		}
		k := []byte(r.Project + sep + r.ID)
		if b.Get(k) != nil {
			return nil // appended before: append-only, idempotent
		}
		return b.Put(k, data)
	})
}

// ListAudit walks the project's keys backwards from the page's start (the
// cursor's id, or the end of f's time range), skipping records that do not
// match f. The cursor is the last id returned, encoded.
func (s *Store) ListAudit(ctx context.Context, project string, f core.AuditFilter, page core.Page) ([]*core.AuditRecord, string, error) {
	what := "list audit records of " + project
	before, err := decodeCursor(page.Cursor)
	if err == nil && before != "" && !core.IsOperationID(before) {
		err = fmt.Errorf("bad cursor: %w", core.ErrInvalid)
	}
	if err != nil {
		return nil, "", fmt.Errorf("boltstore: %s: %w", what, err)
	}
	rs := []*core.AuditRecord{}
	lo, hi, empty := f.IDRange()
	if empty {
		return rs, "", nil
	}
	if hi != "" && (before == "" || hi < before) {
		before = hi
	}
	var next string
	err = s.view(ctx, what, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b == nil {
			return nil
		}
		prefix := []byte(project + sep)
		c := b.Cursor()
		from := []byte(project + "\x01") // the end of the project's keys
		if before != "" {
			from = append(prefix, before...)
		}
		k, v := c.Seek(from)
		if k == nil {
			k, v = c.Last()
		} else {
			k, v = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			if lo != "" && string(k[len(prefix):]) < lo {
				break
			}
			r := new(core.AuditRecord)
			if err := decode(v, r); err != nil {
				return err
			}
			if !f.Match(r) {
				continue
			}
			if page.Limit > 0 && len(rs) == page.Limit {
				// One more match exists: only then is there a next page.
				next = encodeCursor(rs[len(rs)-1].ID)
				break
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

// PurgeAudit deletes the project's records older than before, oldest
// first, in batches of at most purgeBatch per read-write transaction.
func (s *Store) PurgeAudit(ctx context.Context, project string, before time.Time, limit int) (int, error) {
	what := fmt.Sprintf("purge audit records of %s before %s", project, before.UTC().Format(time.RFC3339Nano))
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
	deleted := 0
	for {
		want := purgeBatch
		if limit > 0 && limit-deleted < want {
			want = limit - deleted
		}
		n := 0
		err := s.update(ctx, what, func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			if b == nil {
				return nil
			}
			c := b.Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && n < want; k, _ = c.Seek(prefix) {
				if string(k[len(prefix):]) >= bound {
					return nil
				}
				if err := c.Delete(); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		deleted += n
		if err != nil {
			return deleted, err
		}
		if n < want || limit > 0 && deleted >= limit {
			return deleted, nil
		}
	}
}
