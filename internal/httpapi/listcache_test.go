package httpapi

import (
	"encoding/json"
	"testing"

	"bucketdesk/internal/core"
)

// A list shows each operation's latest event only, without changing the
// resources it was given; the same versions give the same cached bytes,
// other versions or the other kind miss.
func TestListViewKeepsTheLatestEvent(t *testing.T) {
	op := &core.Operation{ID: "op", Events: []core.StackEvent{{EventID: "e1"}, {EventID: "e2"}, {EventID: "e3"}}}
	rs := []*core.Resource{{StackName: "a", Version: 3, Op: op}, {StackName: "b", Version: 1}}
	var c listCache
	vs := []core.ItemVersion{{StackName: "a", Version: 3}, {StackName: "b", Version: 1}}
	if _, ok := c.lookup("p", core.KindBucket, vs); ok {
		t.Fatal("a hit in an empty cache")
	}
	e, err := c.encode("p", core.KindBucket, vs, rs)
	if err != nil {
		t.Fatal(err)
	}
	body := e.body
	var got items[core.Resource]
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if ev := got.Items[0].Op.Events; len(ev) != 1 || ev[0].EventID != "e3" {
		t.Fatalf("list events %+v, want only e3", ev)
	}
	if len(op.Events) != 3 {
		t.Fatal("the resource given to the list was changed")
	}
	again, ok := c.lookup("p", core.KindBucket, vs)
	if !ok || again != e || &again.body[0] != &body[0] {
		t.Fatal("an unchanged list was not reused")
	}
	if _, ok := c.lookup("p", core.KindBucket, []core.ItemVersion{{StackName: "a", Version: 4}, {StackName: "b", Version: 1}}); ok {
		t.Fatal("a changed project hit the cache")
	}
	if _, ok := c.lookup("p", core.KindUser, vs); ok {
		t.Fatal("the users' list hit the buckets' entry")
	}
}
