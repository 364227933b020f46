package boltstore

import (
	"bytes"
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"bucketdesk/internal/core"
)

var _ core.ShareLinkStore = (*Store)(nil)

// The share links' buckets, created on first write so that a data
// directory from before share links needs no migration: id → ShareLink,
// and project sep id → "" to list a project's links.
var (
	bucketLinks       = []byte("store/links")
	bucketLinksByProj = []byte("store/links-by-project")
)

// PutShareLink writes l in one transaction if the stored version is prev
// (0: no link with its id exists). Links are kept after they expire: the
// local store sweeps nothing.
func (s *Store) PutShareLink(ctx context.Context, l *core.ShareLink, prev int64) error {
	if err := checkID("link id", l.ID); err != nil {
		return err
	}
	if err := checkID("project", l.Project); err != nil {
		return err
	}
	if l.Version <= prev {
		return fmt.Errorf("boltstore: put share link: version %d must be greater than %d: %w", l.Version, prev, core.ErrInvalid)
	}
	return s.update(ctx, "put share link", func(tx *bolt.Tx) error {
		links, err := tx.CreateBucketIfNotExists(bucketLinks)
		if err != nil {
			return err
		}
		byProj, err := tx.CreateBucketIfNotExists(bucketLinksByProj)
		if err != nil {
			return err
		}
		var cur int64
		if v := links.Get([]byte(l.ID)); v != nil {
			old := new(core.ShareLink)
			if err := decode(v, old); err != nil {
				return err
			}
			cur = old.Version
		}
		if cur != prev {
			return fmt.Errorf("link %s is at version %d, not %d: %w", l.ID, cur, prev, core.ErrConflict)
		}
		if err := putJSON(links, []byte(l.ID), l); err != nil {
			return err
		}
		return byProj.Put([]byte(l.Project+sep+l.ID), nil)
	})
}

// GetShareLink returns ErrNotFound for an unknown id.
func (s *Store) GetShareLink(ctx context.Context, id string) (*core.ShareLink, error) {
	l := new(core.ShareLink)
	err := s.view(ctx, "get share link", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLinks)
		if b == nil {
			return core.ErrNotFound
		}
		v := b.Get([]byte(id))
		if v == nil {
			return core.ErrNotFound
		}
		return decode(v, l)
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// ListShareLinks returns a project's links newest first.
func (s *Store) ListShareLinks(ctx context.Context, project string) ([]*core.ShareLink, error) {
	if err := checkID("project", project); err != nil {
		return nil, err
	}
	var out []*core.ShareLink
	err := s.view(ctx, "list share links", func(tx *bolt.Tx) error {
		links, byProj := tx.Bucket(bucketLinks), tx.Bucket(bucketLinksByProj)
		if links == nil || byProj == nil {
			return nil
		}
		prefix := []byte(project + sep)
		c := byProj.Cursor()
		// Walk the project's index backwards: ids are ULIDs, newest last.
		k, _ := c.Seek(append(bytes.Clone(prefix), 0xff))
		if k == nil {
			k, _ = c.Last()
		} else {
			k, _ = c.Prev()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
			v := links.Get(k[len(prefix):])
			if v == nil {
				continue
			}
			l := new(core.ShareLink)
			if err := decode(v, l); err != nil {
				return err
			}
			out = append(out, l)
		}
		return nil
	})
	return out, err
}
