package httpapi

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"bucketdesk/internal/core"
)

// A list row keeps what a table row shows and nothing of the details: a
// locked resource's operation with its latest event only, an unlocked
// one's none, a user's access key ids only of its outputs; the resources
// it was given are left unchanged. The same versions give the same cached
// bytes, other versions or the other kind miss.
func TestListRowsAndCache(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := func(id string) core.StackEvent {
		return core.StackEvent{StackID: "arn:aws:cloudformation:eu-west-1:1:stack/s/x", StackName: "s", EventID: id, Timestamp: at, LogicalResourceID: "Bucket",
			PhysicalResourceID: "phys", ResourceType: "AWS::S3::Bucket", ResourceStatus: "UPDATE_IN_PROGRESS", ClientRequestToken: "op"}
	}
	op := &core.Operation{ID: "op", Kind: core.KindBucket, Name: "a", Action: core.ActionUpdate, Status: core.OpRunning, RequestedBy: "alice", RequestedAt: at,
		Spec: core.Spec{Bucket: &core.BucketSpec{Name: "a"}}, Events: []core.StackEvent{ev("e1"), ev("e2"), ev("e3")}, Rev: 4}
	locked := &core.Resource{Project: "p", Kind: core.KindBucket, Name: "a", StackName: "sa", Version: 3, Op: op,
		Spec:      core.Spec{Bucket: &core.BucketSpec{Name: "a", Versioning: true, Tags: map[string]string{"team": "geo"}}},
		Observed:  core.Observed{Phase: core.PhaseUpdating, StackID: "arn:stack/sa", StackStatus: "UPDATE_IN_PROGRESS", Outputs: map[string]string{"BucketArn": "arn:aws:s3:::a"}},
		Lock:      &core.Lock{OperationID: "op", Action: core.ActionUpdate, By: "alice", Since: at},
		LastEvent: core.EventRef{ID: "e3", Time: at}, UpdatedAt: at, CreatedBy: "bob", CreatedAt: at, ChangedBy: "bob", ChangedAt: at}
	done := *op
	done.ID, done.Status = "op0", core.OpSucceeded
	user := &core.Resource{Project: "p", Kind: core.KindUser, Name: "u", StackName: "su", Version: 1, Op: &done, Revealed: []string{"AKIA1"},
		Spec: core.Spec{User: &core.UserSpec{Name: "u", AccessKeys: 2, Grants: []core.Grant{{Bucket: "a", Access: core.AccessRead}}}},
		Observed: core.Observed{Phase: core.PhaseReady, StackStatus: "CREATE_COMPLETE", LastFailure: "it failed once", Outputs: map[string]string{
			"AccessKey1Id": "AKIA1", "AccessKey2Id": "AKIA2", "AccessKey1SecretArn": "arn:secret", "UserArn": "arn:user"}},
		KeysCreated: map[string]time.Time{"AKIA1": at}}
	rs := []*core.Resource{locked, user}
	var c listCache
	vs := []core.ItemVersion{{StackName: "sa", Version: 3}, {StackName: "su", Version: 1}}
	if _, ok := c.lookup("p", core.KindBucket, vs); ok {
		t.Fatal("a hit in an empty cache")
	}
	e, err := c.encode("p", core.KindBucket, vs, rs)
	if err != nil {
		t.Fatal(err)
	}
	body := e.body
	var got items[map[string]any]
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	keys := func(m any) []string { return slices.Sorted(maps.Keys(m.(map[string]any))) }
	a, u := got.Items[0], got.Items[1]
	if k := keys(a); !slices.Equal(k, []string{"changed_by", "kind", "lock", "name", "observed", "operation", "spec", "version"}) {
		t.Fatalf("locked row fields %v", k)
	}
	if k := keys(u); !slices.Equal(k, []string{"kind", "name", "observed", "revealed_keys", "spec", "version"}) {
		t.Fatalf("unlocked row fields %v (its finished operation is no row's business)", k)
	}
	if k := keys(a["observed"]); !slices.Equal(k, []string{"phase", "stack_status"}) {
		t.Fatalf("bucket row observed %v", k)
	}
	if k := keys(u["observed"].(map[string]any)["outputs"]); !slices.Equal(k, []string{"AccessKey1Id", "AccessKey2Id"}) {
		t.Fatalf("user row outputs %v", k)
	}
	if u["observed"].(map[string]any)["last_failure"] != "it failed once" {
		t.Fatalf("user row observed %v", u["observed"])
	}
	opm := a["operation"].(map[string]any)
	if k := keys(opm); !slices.Equal(k, []string{"action", "events", "id", "kind", "name", "requested_at", "requested_by", "rev", "status"}) {
		t.Fatalf("row operation fields %v", k)
	}
	evs := opm["events"].([]any)
	if len(evs) != 1 || evs[0].(map[string]any)["event_id"] != "e3" {
		t.Fatalf("row events %v, want only e3", evs)
	}
	if k := keys(evs[0]); !slices.Equal(k, []string{"client_request_token", "event_id", "logical_resource_id", "resource_status", "resource_type", "stack_name", "timestamp"}) {
		t.Fatalf("row event fields %v", k)
	}
	var spec core.Spec
	b, _ := json.Marshal(a["spec"])
	if err := json.Unmarshal(b, &spec); err != nil || spec.Bucket == nil || !spec.Bucket.Versioning || spec.Bucket.Tags["team"] != "geo" {
		t.Fatalf("row spec %s", b)
	}
	if len(op.Events) != 3 || len(user.Observed.Outputs) != 4 || locked.Op != op {
		t.Fatal("the resources given to the list were changed")
	}
	again, ok := c.lookup("p", core.KindBucket, vs)
	if !ok || again != e || &again.body[0] != &body[0] {
		t.Fatal("an unchanged list was not reused")
	}
	if _, ok := c.lookup("p", core.KindBucket, []core.ItemVersion{{StackName: "sa", Version: 4}, {StackName: "su", Version: 1}}); ok {
		t.Fatal("a changed project hit the cache")
	}
	if _, ok := c.lookup("p", core.KindUser, vs); ok {
		t.Fatal("the users' list hit the buckets' entry")
	}
}
