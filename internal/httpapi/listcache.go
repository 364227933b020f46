package httpapi

import (
	"encoding/json"
	"fmt"
	"sync"

	"bucketdesk/internal/core"
)

// listCache keeps the encoded list answer of each project and kind, and
// reuses it while the list holds the same resources at the same versions
// (every change of a resource bumps its version). Encoding a list of
// hundreds of resources is most of a LIST's cost; see DESIGN.md §9.
type listCache struct {
	mu      sync.Mutex
	entries map[listKey]*listEntry
}

type listKey struct {
	project string
	kind    core.Kind
}

type listEntry struct {
	stamp []stamp
	body  []byte
}

// stamp identifies one resource at one version.
type stamp struct {
	stackName string
	version   int64
}

// encode returns the JSON of {"items": rs}, from the cache when nothing
// changed. The returned bytes must not be modified.
func (c *listCache) encode(project string, kind core.Kind, rs []*core.Resource) ([]byte, error) {
	key := listKey{project, kind}
	c.mu.Lock()
	e := c.entries[key]
	c.mu.Unlock()
	if e != nil && sameStamp(e.stamp, rs) {
		return e.body, nil
	}
	if rs == nil {
		rs = []*core.Resource{}
	}
	body, err := json.Marshal(items[*core.Resource]{Items: listView(rs)})
	if err != nil {
		return nil, fmt.Errorf("%w: encode list: %v", core.ErrInternal, err)
	}
	st := make([]stamp, len(rs))
	for i, r := range rs {
		st[i] = stamp{r.StackName, r.Version}
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[listKey]*listEntry{}
	}
	c.entries[key] = &listEntry{stamp: st, body: body}
	c.mu.Unlock()
	return body, nil
}

func sameStamp(st []stamp, rs []*core.Resource) bool {
	if len(st) != len(rs) {
		return false
	}
	for i, r := range rs {
		if st[i].stackName != r.StackName || st[i].version != r.Version {
			return false
		}
	}
	return true
}

// listView returns the resources as a list shows them: an operation keeps
// only its latest stack event, the one a table row shows. The full
// progress is one GET of the resource or the operation away; without this
// a list of 200 resources weighs most of a megabyte.
func listView(rs []*core.Resource) []*core.Resource {
	out := make([]*core.Resource, len(rs))
	for i, r := range rs {
		out[i] = r
		if r.Op != nil && len(r.Op.Events) > 1 {
			c := *r
			op := *r.Op
			op.Events = op.Events[len(op.Events)-1:]
			c.Op = &op
			out[i] = &c
		}
	}
	return out
}
