package httpapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"bucketdesk/internal/core"
)

// listCache keeps the encoded list answer of each project and kind, and
// reuses it while the project's items are at the same versions (every
// change of a resource bumps its version). The versions come from
// core.ResourceStore.ListVersions, which reads no whole item, so an unchanged LIST
// neither decodes, copies nor encodes the resources; see docs/targets.md.
type listCache struct {
	mu      sync.Mutex
	entries map[listKey]*listEntry
}

type listKey struct {
	project string
	kind    core.Kind
}

// listEntry is one encoded list: its JSON, its entity tag, and its gzip
// encoding, made once, when a client first asks for it.
type listEntry struct {
	versions []core.ItemVersion
	body     []byte
	etag     string

	gzOnce sync.Once
	gz     []byte
}

// gzipped returns the entry's body gzip-encoded (made at the first call).
func (e *listEntry) gzipped() []byte {
	e.gzOnce.Do(func() {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.DefaultCompression)
		zw.Write(e.body)
		zw.Write(newline)
		zw.Close()
		e.gz = b.Bytes()
	})
	return e.gz
}

// lookup returns the entry encoded when the project was at versions.
func (c *listCache) lookup(project string, kind core.Kind, versions []core.ItemVersion) (*listEntry, bool) {
	c.mu.Lock()
	e := c.entries[listKey{project, kind}]
	c.mu.Unlock()
	if e != nil && slices.Equal(e.versions, versions) {
		return e, true
	}
	return nil, false
}

// encode returns the entry of {"items": rs} and keeps it for versions, the
// project's versions read before rs. A change between the two reads makes
// the next lookup miss, since versions only grow.
func (c *listCache) encode(project string, kind core.Kind, versions []core.ItemVersion, rs []*core.Resource) (*listEntry, error) {
	if rs == nil {
		rs = []*core.Resource{}
	}
	body, err := json.Marshal(items[listItem]{Items: listView(rs)})
	if err != nil {
		return nil, fmt.Errorf("%w: encode list: %v", core.ErrInternal, err)
	}
	// A weak tag: the JSON and its gzip encoding are the same list.
	sum := sha256.Sum256(body)
	e := &listEntry{versions: slices.Clone(versions), body: body, etag: `W/"` + hex.EncodeToString(sum[:12]) + `"`}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[listKey]*listEntry{}
	}
	c.entries[listKey{project, kind}] = e
	c.mu.Unlock()
	return e, nil
}
