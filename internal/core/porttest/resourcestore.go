package porttest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"bucketdesk/internal/core"
)

// RunResourceStoreTests runs the conformance suite of core.ResourceStore:
// resources and their operation history. newStore must return a fresh,
// empty store for each subtest and register its own cleanup with
// t.Cleanup.
//
// The suite needs nothing beyond the port: no transactions and no
// particular cursor format, so a DynamoDB adapter run against dynalite
// passes it unchanged.
func RunResourceStoreTests(t *testing.T, newStore func(t *testing.T) core.ResourceStore) {
	runStoreTests(t, newStore, []storeTest[core.ResourceStore]{
		{"Resources/Create", testResourcesCreate},
		{"Resources/CreateExistingConflicts", testResourcesCreateExisting},
		{"Resources/Update", testResourcesUpdate},
		{"Resources/UpdateWrongPrevConflicts", testResourcesWrongPrev},
		{"Resources/UpdateMissingConflicts", testResourcesUpdateMissing},
		{"Resources/VersionNotAbovePrevRejected", testResourcesVersionNotAbovePrev},
		{"Resources/RoundTrip", testResourcesRoundTrip},
		{"Resources/NotFound", testResourcesNotFound},
		{"Resources/Delete", testResourcesDelete},
		{"Resources/ListOrdered", testResourcesListOrdered},
		{"Resources/ListPaging", testResourcesListPaging},
		{"Resources/ListProjectIsolation", testResourcesListIsolation},
		{"Resources/ConcurrentUpdate", testResourcesConcurrentUpdate},
		{"Resources/ConcurrentCreate", testResourcesConcurrentCreate},
		{"Resources/ReturnedCopies", testResourcesCopies},
		{"Resources/ListVersions", testResourcesListVersions},

		{"Operations/PutGet", testOperationsPutGet},
		{"Operations/LowerRevKept", testOperationsLowerRev},
		{"Operations/NotFound", testOperationsNotFound},
		{"Operations/ListNewestFirst", testOperationsList},
		{"Operations/ListProjectIsolation", testOperationsIsolation},
		{"Operations/PurgeOldEnded", testOperationsPurge},
		{"Operations/PurgeLimitOldestFirst", testOperationsPurgeLimit},
		{"Operations/PurgeNothingOld", testOperationsPurgeNothingOld},
		{"Operations/PurgeConcurrent", testOperationsPurgeConcurrent},
	})
}

// ---- resources ----

// resource returns a small valid bucket resource.
func resource(proj, stack string, version int64) *core.Resource {
	return &core.Resource{
		Project:   proj,
		Kind:      core.KindBucket,
		Name:      stack,
		StackName: stack,
		Spec: core.Spec{Bucket: &core.BucketSpec{
			Name: stack, Encryption: core.Encryption{Type: core.EncryptionS3},
		}},
		Observed:  core.Observed{Phase: core.PhaseReady, StackStatus: "CREATE_COMPLETE"},
		Version:   version,
		UpdatedAt: base,
	}
}

// fullResource returns a resource with every field set, so that a round
// trip shows any field an adapter drops.
func fullResource() *core.Resource {
	started := base.Add(time.Second)
	finished := base.Add(90 * time.Second)
	// A time in another zone: only the instant has to survive.
	updated := base.Add(2 * time.Minute).In(time.FixedZone("CET", 3600))
	ev := func(i int, status string) core.StackEvent {
		return core.StackEvent{
			StackID:            "arn:aws:cloudformation:eu-west-1:123456789012:stack/bd-p1-bucket-logs/0f1e2d3c",
			StackName:          "bd-p1-bucket-logs",
			EventID:            fmt.Sprintf("ev-%d", i),
			Timestamp:          base.Add(time.Duration(i) * time.Second),
			LogicalResourceID:  "Bucket",
			PhysicalResourceID: "p1-logs",
			ResourceType:       "AWS::S3::Bucket",
			ResourceStatus:     status,
			StatusReason:       "Resource creation Initiated",
			ClientRequestToken: "01JNJ5Y0R9ZK4T3V7Q8W2X6M1A",
		}
	}
	spec := core.Spec{
		Bucket: &core.BucketSpec{
			Name:       "p1-logs",
			Versioning: true,
			Encryption: core.Encryption{Type: core.EncryptionKMS, KMSKeyARN: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
			ExpiryDays: 30,
			Tags:       map[string]string{"team": "data", "cost-center": "42"},
		},
		// The store does not validate specs; a user spec here checks that
		// its fields survive too.
		User: &core.UserSpec{
			Name:       "etl",
			Grants:     []core.Grant{{Bucket: "p1-logs", Access: core.AccessRead, Prefix: "in/"}, {Bucket: "p1-out", Access: core.AccessReadWrite}},
			AccessKeys: 2,
			KeySerials: []int{3, 1},
			SFTP:       core.SFTP{Enabled: true, SSHKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl etl@host"}},
		},
	}
	return &core.Resource{
		Project:   "p1",
		Kind:      core.KindBucket,
		Name:      "p1-logs",
		StackName: "bd-p1-bucket-logs",
		Spec:      spec,
		Observed: core.Observed{
			Phase:        core.PhaseUpdating,
			StackID:      "arn:aws:cloudformation:eu-west-1:123456789012:stack/bd-p1-bucket-logs/0f1e2d3c",
			StackStatus:  "UPDATE_IN_PROGRESS",
			StatusReason: "User Initiated",
			Outputs:      map[string]string{"BucketArn": "arn:aws:s3:::p1-logs", "AccessKeyId1": "AKIAEXAMPLE"},
			LastFailure:  "Resource handler returned message: \"quota\"",
			Stale:        true,
		},
		LastEvent: core.EventRef{ID: "ev-2", Time: base.Add(2 * time.Second)},
		Version:   7,
		Lock: &core.Lock{
			OperationID: "01JNJ5Y0R9ZK4T3V7Q8W2X6M1A", Action: core.ActionUpdate,
			By: "alice", Since: base,
		},
		Op: &core.Operation{
			ID: "01JNJ5Y0R9ZK4T3V7Q8W2X6M1A", Project: "p1", Kind: core.KindBucket,
			Name: "p1-logs", StackName: "bd-p1-bucket-logs", Action: core.ActionUpdate,
			Spec: spec.Clone(), RequestedBy: "alice", RequestedAt: base,
			Status: core.OpFailed, StartedAt: &started, FinishedAt: &finished,
			Error:  "update failed: quota",
			Events: []core.StackEvent{ev(1, "UPDATE_IN_PROGRESS"), ev(2, "UPDATE_FAILED")},
			Rev:    4,
		},
		UpdatedAt: updated,
	}
}

func testResourcesCreate(t *testing.T, s core.ResourceStore) {
	r := resource("p1", "bd-p1-bucket-a", 1)
	mustPutResource(t, s, r, 0)
	sameResource(t, mustGetResource(t, s, r.Key()), r)
}

func testResourcesCreateExisting(t *testing.T, s core.ResourceStore) {
	r := resource("p1", "bd-p1-bucket-a", 1)
	mustPutResource(t, s, r, 0)
	other := resource("p1", "bd-p1-bucket-a", 5)
	other.Observed.StackStatus = "UPDATE_COMPLETE"
	err := s.PutResource(t.Context(), other, 0)
	if !errors.Is(err, core.ErrConflict) {
		t.Fatalf("PutResource(prev 0) on an existing item error = %v, want ErrConflict", err)
	}
	sameResource(t, mustGetResource(t, s, r.Key()), r)
}

func testResourcesUpdate(t *testing.T, s core.ResourceStore) {
	r := resource("p1", "bd-p1-bucket-a", 1)
	mustPutResource(t, s, r, 0)
	for v := int64(2); v <= 4; v++ {
		u := resource("p1", "bd-p1-bucket-a", v)
		u.Observed.StackStatus = fmt.Sprintf("UPDATE_COMPLETE-%d", v)
		u.UpdatedAt = base.Add(time.Duration(v) * time.Second)
		mustPutResource(t, s, u, v-1)
		sameResource(t, mustGetResource(t, s, r.Key()), u)
	}
	// A version may jump: only "greater than prev" is required.
	u := resource("p1", "bd-p1-bucket-a", 10)
	mustPutResource(t, s, u, 4)
	sameResource(t, mustGetResource(t, s, r.Key()), u)
}

func testResourcesWrongPrev(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	r := resource("p1", "bd-p1-bucket-a", 1)
	mustPutResource(t, s, r, 0)
	r2 := resource("p1", "bd-p1-bucket-a", 2)
	mustPutResource(t, s, r2, 1)
	for _, prev := range []int64{1, 3, 99} {
		u := resource("p1", "bd-p1-bucket-a", 100)
		u.Observed.StackStatus = "WRONG"
		if err := s.PutResource(ctx, u, prev); !errors.Is(err, core.ErrConflict) {
			t.Errorf("PutResource(prev %d) on version 2 error = %v, want ErrConflict", prev, err)
		}
	}
	sameResource(t, mustGetResource(t, s, r.Key()), r2)
}

func testResourcesUpdateMissing(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	r := resource("p1", "bd-p1-bucket-a", 2)
	if err := s.PutResource(ctx, r, 1); !errors.Is(err, core.ErrConflict) {
		t.Errorf("PutResource(prev 1) on a missing item error = %v, want ErrConflict", err)
	}
	if _, err := s.GetResource(ctx, r.Key()); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("GetResource after a failed update of a missing item error = %v, want ErrNotFound", err)
	}
}

// testResourcesVersionNotAbovePrev: the contract requires r.Version >
// prev but does not name the kind of the refusal; either a bad request
// (ErrInvalid) or a failed condition (ErrConflict) keeps the rule.
func testResourcesVersionNotAbovePrev(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	isRefusal := func(err error) bool {
		return errors.Is(err, core.ErrConflict) || errors.Is(err, core.ErrInvalid)
	}
	r0 := resource("p1", "bd-p1-bucket-a", 0)
	if err := s.PutResource(ctx, r0, 0); !isRefusal(err) {
		t.Errorf("PutResource(version 0, prev 0) error = %v, want ErrConflict or ErrInvalid", err)
	}
	if _, err := s.GetResource(ctx, r0.Key()); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("a refused create left an item behind: GetResource error = %v, want ErrNotFound", err)
	}

	r := resource("p1", "bd-p1-bucket-a", 3)
	mustPutResource(t, s, r, 0)
	for _, v := range []int64{3, 2, 0, -1} {
		u := resource("p1", "bd-p1-bucket-a", v)
		u.Observed.StackStatus = "WRONG"
		if err := s.PutResource(ctx, u, 3); !isRefusal(err) {
			t.Errorf("PutResource(version %d, prev 3) error = %v, want ErrConflict or ErrInvalid", v, err)
		}
	}
	sameResource(t, mustGetResource(t, s, r.Key()), r)
}

func testResourcesRoundTrip(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	r := fullResource()
	mustPutResource(t, s, r, 0)
	sameResource(t, mustGetResource(t, s, r.Key()), r)

	rs, _, err := s.ListResources(ctx, r.Project, core.Page{})
	if err != nil {
		t.Fatalf("ListResources: %v", err)
	}
	if len(rs) != 1 {
		t.Fatalf("ListResources = %d items, want 1", len(rs))
	}
	sameResource(t, rs[0], r)

	// Clearing optional parts must clear them in the store, not merge.
	u := resource(r.Project, r.StackName, r.Version+1)
	mustPutResource(t, s, u, r.Version)
	sameResource(t, mustGetResource(t, s, r.Key()), u)
}

func testResourcesNotFound(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	if _, err := s.GetResource(ctx, core.ResourceKey{Project: "p1", StackName: "nope"}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("GetResource(unknown) error = %v, want ErrNotFound", err)
	}
	mustPutResource(t, s, resource("ab", "stack", 1), 0)
	for _, k := range []core.ResourceKey{
		{Project: "ab-c", StackName: "stack"},
		{Project: "a", StackName: "stack"},
		{Project: "ab", StackName: "stac"},
		{Project: "ab", StackName: "stack2"},
	} {
		if _, err := s.GetResource(ctx, k); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("GetResource(%+v) error = %v, want ErrNotFound", k, err)
		}
	}
}

func testResourcesDelete(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	r := resource("p1", "bd-p1-bucket-a", 1)
	mustPutResource(t, s, r, 0)
	r3 := resource("p1", "bd-p1-bucket-a", 3)
	mustPutResource(t, s, r3, 1)
	keep := resource("p1", "bd-p1-bucket-b", 1)
	mustPutResource(t, s, keep, 0)

	for _, prev := range []int64{0, 1, 2, 4} {
		if err := s.DeleteResource(ctx, r.Key(), prev); !errors.Is(err, core.ErrConflict) {
			t.Errorf("DeleteResource(prev %d) on version 3 error = %v, want ErrConflict", prev, err)
		}
	}
	sameResource(t, mustGetResource(t, s, r.Key()), r3)

	if err := s.DeleteResource(ctx, r.Key(), 3); err != nil {
		t.Fatalf("DeleteResource(prev 3) on version 3: %v", err)
	}
	if _, err := s.GetResource(ctx, r.Key()); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("GetResource after delete error = %v, want ErrNotFound", err)
	}
	// Idempotent: a gone item is success whatever prev says.
	for _, prev := range []int64{3, 0, 7} {
		if err := s.DeleteResource(ctx, r.Key(), prev); err != nil {
			t.Errorf("DeleteResource(prev %d) of a deleted item: %v, want nil", prev, err)
		}
	}
	if err := s.DeleteResource(ctx, core.ResourceKey{Project: "p2", StackName: "never"}, 1); err != nil {
		t.Errorf("DeleteResource of an item that never existed: %v, want nil", err)
	}
	sameResource(t, mustGetResource(t, s, keep.Key()), keep)
	got := listAllResources(t, s, "p1", 0)
	if names := stackNames(got); !slices.Equal(names, []string{"bd-p1-bucket-b"}) {
		t.Errorf("ListResources after delete = %q, want only bd-p1-bucket-b", names)
	}

	// A deleted key can be created again.
	again := resource("p1", "bd-p1-bucket-a", 1)
	mustPutResource(t, s, again, 0)
	sameResource(t, mustGetResource(t, s, r.Key()), again)
}

func testResourcesListOrdered(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	if rs, cur, err := s.ListResources(ctx, "p1", core.Page{}); err != nil || len(rs) != 0 || cur != "" {
		t.Fatalf("ListResources of an empty project = %d items, cursor %q, %v; want none, \"\", nil", len(rs), cur, err)
	}
	names := []string{"m", "a", "Z", "a-b", "ab", "b", "a.b", "aa", "0"}
	for _, n := range names {
		r := resource("p1", n, 1)
		if n == "b" {
			// Tombstones are listed; callers filter.
			r.Observed = core.Observed{Phase: core.PhaseDeleted, StackStatus: "DELETE_COMPLETE"}
		}
		mustPutResource(t, s, r, 0)
	}
	want := slices.Clone(names)
	slices.Sort(want) // byte order, as DynamoDB sorts string keys
	rs, cur, err := s.ListResources(ctx, "p1", core.Page{})
	if err != nil {
		t.Fatalf("ListResources: %v", err)
	}
	if cur != "" {
		t.Errorf("ListResources(Limit 0) cursor = %q, want \"\"", cur)
	}
	if got := stackNames(rs); !slices.Equal(got, want) {
		t.Errorf("ListResources order = %q, want %q", got, want)
	}
	for _, r := range rs {
		if r.Project != "p1" {
			t.Errorf("ListResources(p1) returned an item of project %q", r.Project)
		}
	}
}

func testResourcesListPaging(t *testing.T, s core.ResourceStore) {
	const n = 37
	var want []string
	for _, i := range rand.Perm(n) {
		name := fmt.Sprintf("bd-p1-bucket-%03d", i)
		mustPutResource(t, s, resource("p1", name, 1), 0)
	}
	for i := range n {
		want = append(want, fmt.Sprintf("bd-p1-bucket-%03d", i))
	}
	// Another project's items must not leak into any page.
	mustPutResource(t, s, resource("p1-x", "bd-p1-bucket-000x", 1), 0)

	for _, limit := range []int{10, 1, 36, 37, 38, 0} {
		got := stackNames(listAllResources(t, s, "p1", limit))
		if !slices.Equal(got, want) {
			t.Errorf("paging with Limit %d listed %q, want every item once in order: %q", limit, got, want)
		}
	}
}

func testResourcesListIsolation(t *testing.T, s core.ResourceStore) {
	// Each id is a prefix of the next, so a prefix scan that forgets the
	// separator shows one project's items in another's list.
	projects := []string{"a", "ab", "ab-c", "abc"}
	for _, p := range projects {
		for _, n := range []string{"s1", "s2", p + "-own"} {
			r := resource(p, n, 1)
			r.Observed.StatusReason = "of " + p
			mustPutResource(t, s, r, 0)
		}
	}
	for _, p := range projects {
		for _, limit := range []int{0, 1, 2} {
			rs := listAllResources(t, s, p, limit)
			want := []string{p + "-own", "s1", "s2"}
			if got := stackNames(rs); !slices.Equal(got, want) {
				t.Errorf("ListResources(%q, Limit %d) = %q, want %q", p, limit, got, want)
			}
			for _, r := range rs {
				if r.Project != p || r.Observed.StatusReason != "of "+p {
					t.Errorf("ListResources(%q) returned %s/%s (%q)", p, r.Project, r.StackName, r.Observed.StatusReason)
				}
			}
		}
	}
	if rs := listAllResources(t, s, "b", 0); len(rs) != 0 {
		t.Errorf("ListResources of a project without items = %q, want none", stackNames(rs))
	}
}

func testResourcesConcurrentUpdate(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	key := core.ResourceKey{Project: "p1", StackName: "bd-p1-bucket-a"}
	mustPutResource(t, s, resource(key.Project, key.StackName, 1), 0)
	errs := race(racers, func(i int) error {
		r := resource(key.Project, key.StackName, 2)
		r.Lock = &core.Lock{OperationID: fmt.Sprintf("op-%d", i), Action: core.ActionUpdate, By: "racer", Since: base}
		return s.PutResource(ctx, r, 1)
	})
	winner := oneWinner(t, errs)
	got := mustGetResource(t, s, key)
	if got.Version != 2 || got.Lock == nil || got.Lock.OperationID != fmt.Sprintf("op-%d", winner) {
		t.Errorf("stored item = version %d, lock %+v; want version 2 locked by op-%d, the only writer told it won", got.Version, got.Lock, winner)
	}
}

func testResourcesConcurrentCreate(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	key := core.ResourceKey{Project: "p1", StackName: "bd-p1-bucket-a"}
	errs := race(racers, func(i int) error {
		r := resource(key.Project, key.StackName, 1)
		r.Observed.StatusReason = fmt.Sprintf("racer %d", i)
		return s.PutResource(ctx, r, 0)
	})
	winner := oneWinner(t, errs)
	if got := mustGetResource(t, s, key); got.Observed.StatusReason != fmt.Sprintf("racer %d", winner) {
		t.Errorf("stored item was written by %q, but racer %d was told it won", got.Observed.StatusReason, winner)
	}
}

func testResourcesCopies(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	r := fullResource()
	in := r.Clone()
	mustPutResource(t, s, in, 0)
	// Changing the caller's value after the write must not reach the store.
	mutateResource(in)

	got := mustGetResource(t, s, r.Key())
	mutateResource(got)
	rs, _, err := s.ListResources(ctx, r.Project, core.Page{})
	if err != nil || len(rs) != 1 {
		t.Fatalf("ListResources = %d items, %v; want 1, nil", len(rs), err)
	}
	mutateResource(rs[0])

	sameResource(t, mustGetResource(t, s, r.Key()), r)
	rs, _, err = s.ListResources(ctx, r.Project, core.Page{})
	if err != nil || len(rs) != 1 {
		t.Fatalf("ListResources = %d items, %v; want 1, nil", len(rs), err)
	}
	sameResource(t, rs[0], r)
}

// mutateResource changes r in place, down to its maps and slices.
func mutateResource(r *core.Resource) {
	r.Version = 999
	r.Observed.Phase = core.PhaseFailed
	r.Observed.Outputs["BucketArn"] = "changed"
	r.Spec.Bucket.Tags["team"] = "changed"
	r.Spec.User.Grants[0].Bucket = "changed"
	r.Spec.User.SFTP.SSHKeys[0] = "changed"
	r.Lock.By = "mallory"
	r.Op.Events[0].ResourceStatus = "changed"
	*r.Op.StartedAt = time.Time{}
	r.Op.Spec.Bucket.Tags["team"] = "changed"
}

// ---- operations ----

// opID returns a ULID at base + i seconds, so ids sort by i.
func opID(i int) string {
	return ulid.MustNewDefault(base.Add(time.Duration(i) * time.Second)).String()
}

func operation(proj, id string, rev int64) *core.Operation {
	started := base.Add(time.Second)
	return &core.Operation{
		ID: id, Project: proj, Kind: core.KindUser, Name: "etl", StackName: "bd-" + proj + "-user-etl",
		Action: core.ActionCreate,
		Spec: core.Spec{User: &core.UserSpec{
			Name: "etl", Grants: []core.Grant{{Bucket: proj + "-logs", Access: core.AccessRead}}, AccessKeys: 1,
		}},
		RequestedBy: "alice", RequestedAt: base, Status: core.OpRunning, StartedAt: &started,
		Events: []core.StackEvent{{
			StackName: "bd-" + proj + "-user-etl", EventID: "e1", Timestamp: base.Add(2 * time.Second),
			LogicalResourceID: "User", ResourceType: "AWS::IAM::User", ResourceStatus: "CREATE_IN_PROGRESS",
			ClientRequestToken: id,
		}},
		Rev: rev,
	}
}

func testOperationsPutGet(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	op := operation("p1", opID(1), 1)
	for range 2 { // idempotent
		if err := s.PutOperation(ctx, op); err != nil {
			t.Fatalf("PutOperation: %v", err)
		}
	}
	got, err := s.GetOperation(ctx, op.ID)
	if err != nil {
		t.Fatalf("GetOperation: %v", err)
	}
	sameOperation(t, got, op)
	if ops := listAllOperations(t, s, "p1", 0); len(ops) != 1 {
		t.Errorf("ListOperations after putting one operation twice = %d items, want 1", len(ops))
	}

	// A returned copy is the caller's to change.
	got.Events[0].ResourceStatus = "changed"
	*got.StartedAt = time.Time{}
	got.Status = core.OpFailed
	again, err := s.GetOperation(ctx, op.ID)
	if err != nil {
		t.Fatal(err)
	}
	sameOperation(t, again, op)
}

func testOperationsLowerRev(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	id := opID(1)
	v3 := operation("p1", id, 3)
	v3.Status = core.OpSucceeded
	finished := base.Add(time.Minute)
	v3.FinishedAt = &finished
	if err := s.PutOperation(ctx, v3); err != nil {
		t.Fatal(err)
	}
	for _, rev := range []int64{2, 0} {
		old := operation("p1", id, rev)
		if err := s.PutOperation(ctx, old); err != nil {
			t.Errorf("PutOperation(rev %d) over rev 3 error = %v, want nil (kept silently)", rev, err)
		}
		got, err := s.GetOperation(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		sameOperation(t, got, v3)
		ops := listAllOperations(t, s, "p1", 0)
		if len(ops) != 1 {
			t.Fatalf("ListOperations = %d items, want 1", len(ops))
		}
		sameOperation(t, ops[0], v3)
	}
	v4 := operation("p1", id, 4)
	v4.Status = core.OpFailed
	v4.Error = "boom"
	if err := s.PutOperation(ctx, v4); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetOperation(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	sameOperation(t, got, v4)
}

func testOperationsNotFound(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	if _, err := s.GetOperation(ctx, opID(1)); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("GetOperation(unknown) error = %v, want ErrNotFound", err)
	}
	if ops := listAllOperations(t, s, "p1", 0); len(ops) != 0 {
		t.Errorf("ListOperations on an empty store = %d items, want none", len(ops))
	}
}

func testOperationsList(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	const n = 25
	ids := make([]string, n)
	for i := range n {
		ids[i] = opID(i)
	}
	for _, i := range rand.Perm(n) {
		if err := s.PutOperation(ctx, operation("p1", ids[i], 1)); err != nil {
			t.Fatal(err)
		}
	}
	want := slices.Clone(ids)
	slices.Reverse(want)
	for _, limit := range []int{0, 7, 1, 25, 26} {
		ops := listAllOperations(t, s, "p1", limit)
		var got []string
		for _, op := range ops {
			got = append(got, op.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("ListOperations(Limit %d) ids = %q, want newest first, each once: %q", limit, got, want)
		}
	}
	ops := listAllOperations(t, s, "p1", 0)
	sameOperation(t, ops[0], operation("p1", ids[n-1], 1))
}

func testOperationsIsolation(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	projects := []string{"a", "ab", "ab-c", "abc"}
	want := map[string][]string{}
	i := 0
	for range 3 {
		for _, p := range projects {
			id := opID(i)
			i++
			if err := s.PutOperation(ctx, operation(p, id, 1)); err != nil {
				t.Fatal(err)
			}
			want[p] = append([]string{id}, want[p]...)
		}
	}
	for _, p := range projects {
		for _, limit := range []int{0, 2} {
			var got []string
			for _, op := range listAllOperations(t, s, p, limit) {
				got = append(got, op.ID)
				if op.Project != p {
					t.Errorf("ListOperations(%q) returned an operation of %q", p, op.Project)
				}
			}
			if !slices.Equal(got, want[p]) {
				t.Errorf("ListOperations(%q, Limit %d) = %q, want %q", p, limit, got, want[p])
			}
		}
	}
}

// opAt returns an operation of proj whose ULID id has the time at, in
// status st (ended at at + 1 minute if st is terminal).
func opAt(proj string, at time.Time, st core.OpStatus) *core.Operation {
	op := operation(proj, ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String(), 1)
	op.RequestedAt = at
	op.Status = st
	if st.Terminal() {
		finished := at.Add(time.Minute)
		op.FinishedAt = &finished
	}
	return op
}

func mustPutOperations(t *testing.T, s core.ResourceStore, ops ...*core.Operation) {
	t.Helper()
	for _, op := range ops {
		if err := s.PutOperation(t.Context(), op); err != nil {
			t.Fatalf("PutOperation(%s %s): %v", op.ID, op.Status, err)
		}
	}
}

func mustPurge(t *testing.T, s core.ResourceStore, project string, before time.Time, limit, want int) {
	t.Helper()
	n, err := s.PurgeOperations(t.Context(), project, before, limit)
	if err != nil {
		t.Fatalf("PurgeOperations(%q, %s, limit %d): %v", project, before.Format(time.RFC3339Nano), limit, err)
	}
	if n != want {
		t.Errorf("PurgeOperations(%q, %s, limit %d) = %d, want %d", project, before.Format(time.RFC3339Nano), limit, n, want)
	}
}

// wantOperations checks that GetOperation finds exactly the kept ones,
// unchanged, and that ListOperations lists exactly them, newest first.
func wantOperations(t *testing.T, s core.ResourceStore, project string, kept, gone []*core.Operation) {
	t.Helper()
	for _, op := range gone {
		if _, err := s.GetOperation(t.Context(), op.ID); !errors.Is(err, core.ErrNotFound) {
			t.Errorf("GetOperation(%s, %s, requested %s) after its purge error = %v, want ErrNotFound",
				op.ID, op.Status, op.RequestedAt.Format(time.RFC3339Nano), err)
		}
	}
	var want []string
	for _, op := range kept {
		got, err := s.GetOperation(t.Context(), op.ID)
		if err != nil {
			t.Errorf("GetOperation(%s, %s, requested %s) of a kept operation: %v",
				op.ID, op.Status, op.RequestedAt.Format(time.RFC3339Nano), err)
			continue
		}
		sameOperation(t, got, op)
		want = append(want, op.ID)
	}
	slices.Sort(want)
	slices.Reverse(want)
	var got []string
	for _, op := range listAllOperations(t, s, project, 0) {
		got = append(got, op.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListOperations(%q) after a purge = %q, want %q", project, got, want)
	}
}

// testOperationsPurge: a purge deletes exactly the project's ended
// operations older than the cutoff, by their ULID time, and nothing else.
func testOperationsPurge(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	// base has nanoseconds: the cutoff falls inside a millisecond.
	cutoff := base.Add(24 * time.Hour)
	ms := ulid.Time(ulid.Timestamp(cutoff)) // the cutoff's millisecond, before it
	old := []*core.Operation{
		opAt("p1", cutoff.Add(-72*time.Hour), core.OpSucceeded),
		opAt("p1", cutoff.Add(-2*time.Hour), core.OpFailed),
		opAt("p1", cutoff.Add(-time.Minute), core.OpSucceeded),
		opAt("p1", ms, core.OpFailed),
	}
	queued := opAt("p1", cutoff.Add(-100*time.Hour), core.OpQueued)
	running := opAt("p1", cutoff.Add(-90*time.Minute), core.OpRunning)
	// Not a ULID: it has no time, and sorts before the cutoff's ULID.
	legacy := operation("p1", "0-legacy", 1)
	legacy.Status = core.OpSucceeded
	kept := []*core.Operation{
		queued, running, legacy,
		opAt("p1", ms.Add(time.Millisecond), core.OpSucceeded), // the next millisecond
		opAt("p1", cutoff.Add(time.Hour), core.OpFailed),
		opAt("p1", cutoff.Add(time.Hour), core.OpRunning),
	}
	// "p1" prefixes "p1-b": a purge of p1 must not reach into it.
	other := []*core.Operation{
		opAt("p1-b", cutoff.Add(-72*time.Hour), core.OpSucceeded),
		opAt("p1-b", cutoff.Add(-time.Minute), core.OpFailed),
		opAt("p1-b", cutoff.Add(-time.Minute), core.OpRunning),
	}
	for _, i := range rand.Perm(len(old) + len(kept)) {
		if i < len(old) {
			mustPutOperations(t, s, old[i])
		} else {
			mustPutOperations(t, s, kept[i-len(old)])
		}
	}
	mustPutOperations(t, s, other...)

	mustPurge(t, s, "p1", cutoff, 0, len(old))
	wantOperations(t, s, "p1", kept, old)
	wantOperations(t, s, "p1-b", other, nil)

	// Idempotent.
	mustPurge(t, s, "p1", cutoff, 0, 0)
	wantOperations(t, s, "p1", kept, old)

	// An old operation that has ended since goes at the next purge.
	ended := running.Clone()
	ended.Status = core.OpSucceeded
	ended.Rev = 2
	mustPutOperations(t, s, ended)
	mustPurge(t, s, "p1", cutoff, 0, 1)
	wantOperations(t, s, "p1", slices.DeleteFunc(slices.Clone(kept), func(op *core.Operation) bool { return op == running }), []*core.Operation{ended})

	// A purged copy written again is stored again.
	mustPutOperations(t, s, old[0])
	if _, err := s.GetOperation(ctx, old[0].ID); err != nil {
		t.Errorf("GetOperation of a purged operation put again: %v", err)
	}

	mustPurge(t, s, "p1-b", cutoff, 0, 2)
	wantOperations(t, s, "p1-b", other[2:], other[:2])
}

// testOperationsPurgeLimit: at most limit copies go, the oldest first,
// and operations that have not ended do not count.
func testOperationsPurgeLimit(t *testing.T, s core.ResourceStore) {
	cutoff := base.Add(time.Hour)
	var ended, running []*core.Operation
	for i := range 7 {
		at := cutoff.Add(-time.Duration(10-i) * time.Minute)
		ended = append(ended, opAt("p1", at, core.OpSucceeded))
		// One just before each ended one: a purge walks past them.
		running = append(running, opAt("p1", at.Add(-30*time.Second), core.OpRunning))
	}
	young := opAt("p1", cutoff.Add(time.Second), core.OpFailed)
	mustPutOperations(t, s, young)
	for _, i := range rand.Perm(len(ended)) {
		mustPutOperations(t, s, ended[i], running[i])
	}
	keep := func(i int) []*core.Operation {
		return append(slices.Concat(running, ended[i:]), young)
	}
	mustPurge(t, s, "p1", cutoff, 3, 3)
	wantOperations(t, s, "p1", keep(3), ended[:3])
	mustPurge(t, s, "p1", cutoff, 1, 1)
	wantOperations(t, s, "p1", keep(4), ended[:4])
	mustPurge(t, s, "p1", cutoff, 5, 3)
	wantOperations(t, s, "p1", keep(7), ended)
	mustPurge(t, s, "p1", cutoff, 5, 0)
}

// testOperationsPurgeNothingOld: a cutoff before every operation, or
// before any ULID time, deletes nothing; a negative limit is refused.
func testOperationsPurgeNothingOld(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	ops := []*core.Operation{
		opAt("p1", base, core.OpSucceeded),
		opAt("p1", base.Add(time.Minute), core.OpFailed),
	}
	mustPutOperations(t, s, ops...)
	for _, before := range []time.Time{ulid.Time(ulid.Timestamp(base)), base.Add(-time.Hour), time.Unix(0, 0), {}} {
		mustPurge(t, s, "p1", before, 0, 0)
	}
	mustPurge(t, s, "unknown", base.Add(time.Hour), 0, 0)
	if _, err := s.PurgeOperations(ctx, "p1", base.Add(time.Hour), -1); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("PurgeOperations(limit -1) error = %v, want ErrInvalid", err)
	}
	wantOperations(t, s, "p1", ops, nil)
}

// testOperationsPurgeConcurrent: purges racing over the same copies
// delete each once and count it once between them.
func testOperationsPurgeConcurrent(t *testing.T, s core.ResourceStore) {
	cutoff := base.Add(time.Hour)
	var old []*core.Operation
	for i := range 12 {
		old = append(old, opAt("p1", base.Add(time.Duration(i)*time.Second), core.OpFailed))
	}
	young := opAt("p1", cutoff.Add(time.Second), core.OpSucceeded)
	mustPutOperations(t, s, old...)
	mustPutOperations(t, s, young)
	counts := make([]int, racers)
	errs := race(racers, func(i int) error {
		var err error
		counts[i], err = s.PurgeOperations(t.Context(), "p1", cutoff, 0)
		return err
	})
	total := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("purger %d: %v", i, err)
		}
		total += counts[i]
	}
	if total != len(old) {
		t.Errorf("%d concurrent purges deleted %d copies between them (%v), want %d", racers, total, counts, len(old))
	}
	wantOperations(t, s, "p1", []*core.Operation{young}, old)
}

// ---- helpers ----

func mustPutResource(t *testing.T, s core.ResourceStore, r *core.Resource, prev int64) {
	t.Helper()
	if err := s.PutResource(t.Context(), r, prev); err != nil {
		t.Fatalf("PutResource(%s/%s, version %d, prev %d): %v", r.Project, r.StackName, r.Version, prev, err)
	}
}

func mustGetResource(t *testing.T, s core.ResourceStore, k core.ResourceKey) *core.Resource {
	t.Helper()
	r, err := s.GetResource(t.Context(), k)
	if err != nil {
		t.Fatalf("GetResource(%s/%s): %v", k.Project, k.StackName, err)
	}
	return r
}

// maxPages bounds a paging loop, so that a cursor that never ends fails
// the test instead of hanging it.
const maxPages = 1000

// listAllResources pages through a project's resources with limit,
// checking that no page is larger than asked. A full page may come with a
// cursor to an empty last page (DynamoDB cannot always tell that a page is
// the last), but an empty page must end the listing.
func listAllResources(t *testing.T, s core.ResourceStore, project string, limit int) []*core.Resource {
	t.Helper()
	return listAll(t, "ListResources", project, limit, func(p core.Page) ([]*core.Resource, string, error) {
		return s.ListResources(t.Context(), project, p)
	})
}

// listAllOperations is listAllResources for operations.
func listAllOperations(t *testing.T, s core.ResourceStore, project string, limit int) []*core.Operation {
	t.Helper()
	return listAll(t, "ListOperations", project, limit, func(p core.Page) ([]*core.Operation, string, error) {
		return s.ListOperations(t.Context(), project, p)
	})
}

// listAll pages through one listing (named op, for messages) with limit.
func listAll[T any](t *testing.T, op, project string, limit int, list func(core.Page) ([]T, string, error)) []T {
	t.Helper()
	var all []T
	cursor := ""
	for range maxPages {
		items, next, err := list(core.Page{Limit: limit, Cursor: cursor})
		if err != nil {
			t.Fatalf("%s(%q, Limit %d, cursor %q): %v", op, project, limit, cursor, err)
		}
		if limit > 0 && len(items) > limit {
			t.Fatalf("%s(%q, Limit %d) returned %d items", op, project, limit, len(items))
		}
		if limit == 0 && next != "" {
			t.Fatalf("%s(%q, Limit 0) returned cursor %q, want \"\"", op, project, next)
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		if len(items) == 0 {
			t.Fatalf("%s(%q, Limit %d) returned an empty page with cursor %q", op, project, limit, next)
		}
		cursor = next
	}
	t.Fatalf("%s(%q, Limit %d): no end after %d pages", op, project, limit, maxPages)
	return nil
}

func stackNames(rs []*core.Resource) []string {
	names := make([]string, 0, len(rs))
	for _, r := range rs {
		names = append(names, r.StackName)
	}
	return names
}

// sameResource compares with JSON semantics: what survives a JSON round
// trip must survive the store, and times compare as instants.
func sameResource(t *testing.T, got, want *core.Resource) {
	t.Helper()
	sameJSON(t, "resource "+want.Project+"/"+want.StackName, utcResource(got), utcResource(want))
}

// sameOperation is sameResource for operations.
func sameOperation(t *testing.T, got, want *core.Operation) {
	t.Helper()
	sameJSON(t, "operation "+want.ID, utcOperation(got), utcOperation(want))
}

// utcResource returns a copy of r with every time in UTC, so that two
// values holding the same instants encode alike.
func utcResource(r *core.Resource) *core.Resource {
	if r == nil {
		return nil
	}
	c := r.Clone()
	c.UpdatedAt = c.UpdatedAt.UTC()
	c.LastEvent.Time = c.LastEvent.Time.UTC()
	if c.Lock != nil {
		c.Lock.Since = c.Lock.Since.UTC()
	}
	c.Op = utcOperation(c.Op)
	return c
}

func utcOperation(op *core.Operation) *core.Operation {
	if op == nil {
		return nil
	}
	c := op.Clone()
	c.RequestedAt = c.RequestedAt.UTC()
	if c.StartedAt != nil {
		*c.StartedAt = c.StartedAt.UTC()
	}
	if c.FinishedAt != nil {
		*c.FinishedAt = c.FinishedAt.UTC()
	}
	for i := range c.Events {
		c.Events[i].Timestamp = c.Events[i].Timestamp.UTC()
	}
	return c
}

// ListVersions gives every item's stack name and current version, in stack
// name order, for one project only, and follows every write and delete.
func testResourcesListVersions(t *testing.T, s core.ResourceStore) {
	ctx := t.Context()
	check := func(project string, want []core.ItemVersion) {
		t.Helper()
		got, err := s.ListVersions(ctx, project)
		if err != nil {
			t.Fatalf("ListVersions(%s): %v", project, err)
		}
		if len(got) != len(want) {
			t.Fatalf("ListVersions(%s) = %v, want %v", project, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("ListVersions(%s) = %v, want %v", project, got, want)
			}
		}
	}
	check("ab", nil)
	for _, st := range []string{"bd-ab--b-c", "bd-ab--b-a", "bd-ab--u-b"} {
		if err := s.PutResource(ctx, resource("ab", st, 1), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutResource(ctx, resource("ab-c", "bd-ab-c--b-x", 4), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.PutResource(ctx, resource("ab", "bd-ab--b-a", 5), 1); err != nil {
		t.Fatal(err)
	}
	check("ab", []core.ItemVersion{{StackName: "bd-ab--b-a", Version: 5}, {StackName: "bd-ab--b-c", Version: 1}, {StackName: "bd-ab--u-b", Version: 1}})
	if err := s.DeleteResource(ctx, core.ResourceKey{Project: "ab", StackName: "bd-ab--b-c"}, 1); err != nil {
		t.Fatal(err)
	}
	check("ab", []core.ItemVersion{{StackName: "bd-ab--b-a", Version: 5}, {StackName: "bd-ab--u-b", Version: 1}})
	check("ab-c", []core.ItemVersion{{StackName: "bd-ab-c--b-x", Version: 4}})
}
