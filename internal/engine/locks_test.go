package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/stacks"
)

// N managers race to change one bucket: exactly one is accepted, the others
// are told who holds it; the lock ends with the operation's terminal event,
// also when the stack rolls back.
func TestLockRace(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, simcloud.ZeroOptions())
	ctx := t.Context()
	l.Start(ctx)
	must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", bucket("race-bucket")))
	settleAndReconcile(t, l)
	l.Close()

	// Workers stopped: the race is decided by the conditional write alone.
	l = open(t, dir, simcloud.ZeroOptions())
	const n = 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted []*core.Operation
		locked   []*core.LockedError
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			spec := bucket("race-bucket")
			spec.Bucket.Tags = map[string]string{"writer": fmt.Sprint(i)}
			who := alice
			if i%2 == 1 {
				who = bob
			}
			op, err := l.Engine.Service.Update(ctx, who, "demo", spec, 0)
			mu.Lock()
			defer mu.Unlock()
			var le *core.LockedError
			switch {
			case err == nil:
				accepted = append(accepted, op)
			case errors.As(err, &le) && errors.Is(err, core.ErrLocked):
				locked = append(locked, le)
			default:
				t.Errorf("writer %d: unexpected error %v", i, err)
			}
		}()
	}
	wg.Wait()
	if len(accepted) != 1 || len(locked) != n-1 {
		t.Fatalf("%d accepted, %d locked; want 1 and %d", len(accepted), len(locked), n-1)
	}
	win := accepted[0]
	for _, le := range locked {
		if le.Lock.OperationID != win.ID || le.Lock.By != win.RequestedBy || le.Lock.Action != core.ActionUpdate || le.Lock.Since.IsZero() {
			t.Fatalf("locked error names %+v, want the holder %s by %s", le.Lock, win.ID, win.RequestedBy)
		}
		if !strings.Contains(le.Error(), win.RequestedBy) {
			t.Fatalf("message %q does not name the holder", le.Error())
		}
	}
	// A stale If-Match is refused even before the lock.
	r, _ := l.Engine.Service.Get(ctx, alice, "demo", core.KindBucket, "race-bucket")
	if _, err := l.Engine.Service.Update(ctx, alice, "demo", bucket("race-bucket"), r.Version-1); !errors.Is(err, core.ErrPrecondition) && !errors.Is(err, core.ErrLocked) {
		t.Fatalf("stale If-Match: %v", err)
	}

	l.Start(ctx)
	settleAndReconcile(t, l)
	r, err := l.Engine.Service.Get(ctx, alice, "demo", core.KindBucket, "race-bucket")
	if err != nil || r.Lock != nil || r.Op.ID != win.ID || r.Op.Status != core.OpSucceeded {
		t.Fatalf("after the winner's operation: %+v %v", r, err)
	}
	l.Close()

	// The same bucket now fails to update (the sandbox refuses S3 changes):
	// the stack rolls back and the rollback's terminal event ends the lock.
	failing := simcloud.ZeroOptions()
	failing.FailTypes = map[string]string{"AWS::S3::Bucket": "API: s3:PutBucketTagging Access Denied"}
	l = open(t, dir, failing)
	l.Start(ctx)
	spec := bucket("race-bucket")
	spec.Bucket.Tags = map[string]string{"writer": "rollback"}
	op := must{t}.op(l.Engine.Service.Update(ctx, bob, "demo", spec, r.Version))
	if _, err := l.Engine.Service.Delete(ctx, alice, "demo", core.KindBucket, "race-bucket", 0); !errors.Is(err, core.ErrLocked) {
		t.Fatalf("delete during the update: %v, want locked", err)
	}
	if err := l.Settle(ctx); err != nil { // no reconcile: the events alone end the lock
		t.Fatal(err)
	}
	r, err = l.Engine.Service.Get(ctx, alice, "demo", core.KindBucket, "race-bucket")
	if err != nil {
		t.Fatal(err)
	}
	if r.Lock != nil || r.Op.ID != op.ID || r.Op.Status != core.OpFailed {
		t.Fatalf("after rollback: lock %+v op %+v", r.Lock, r.Op)
	}
	if r.Observed.StackStatus != "UPDATE_ROLLBACK_COMPLETE" || r.Observed.Phase != core.PhaseReady || !strings.Contains(r.Observed.LastFailure, "Access Denied") {
		t.Fatalf("after rollback: %+v", r.Observed)
	}
	if r.Spec.Bucket.Tags["writer"] == "rollback" {
		t.Fatal("the rolled-back spec was kept as the resource's spec")
	}
	h, err := l.Engine.Service.Operation(ctx, bob, op.ID)
	if err != nil || h.Status != core.OpFailed || !strings.Contains(h.Error, "Access Denied") {
		t.Fatalf("operation history: %+v %v", h, err)
	}
}

// Secret access keys live only in the sandbox's Secrets Manager: never in
// the cache, the operation history or a published message.
func TestSecretsNeverLeaveSecretsManager(t *testing.T) {
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	ctx := t.Context()
	rec := record(t, l, "demo")
	l.Start(ctx)
	must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", bucket("secret-data")))
	must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", user("keyholder", 2, "secret-data")))
	settleAndReconcile(t, l)
	u, err := l.Engine.Service.Get(ctx, alice, "demo", core.KindUser, "keyholder")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := l.Store.GetProject(ctx, "demo")
	var secrets []string
	for _, out := range []string{"AccessKey1SecretArn", "AccessKey2SecretArn"} {
		arn := u.Observed.Outputs[out]
		if arn == "" {
			t.Fatalf("no %s in outputs %v", out, u.Observed.Outputs)
		}
		v, err := l.Sandbox.GetSecretValue(ctx, p.Account(), arn)
		if err != nil {
			t.Fatal(err)
		}
		var kp struct{ AccessKeyId, SecretAccessKey string }
		if err := json.Unmarshal([]byte(v), &kp); err != nil || len(kp.SecretAccessKey) < 30 {
			t.Fatalf("secret %q: %v", v, err)
		}
		secrets = append(secrets, kp.SecretAccessKey)
	}
	var everything strings.Builder
	items, _, _ := l.Store.ListResources(ctx, "demo", core.Page{})
	ops, _, _ := l.Store.ListOperations(ctx, "demo", core.Page{})
	for _, v := range []any{items, ops, rec.stop()} {
		b, _ := json.Marshal(v)
		everything.Write(b)
	}
	for _, s := range secrets {
		if strings.Contains(everything.String(), s) {
			t.Fatal("a secret access key reached the cache or a message")
		}
	}
}

// failingQueue refuses every job, as a queue that is down does.
type failingQueue struct{ core.Queue }

func (failingQueue) Enqueue(context.Context, core.Job) error {
	return fmt.Errorf("%w: queue down", core.ErrUnavailable)
}

// A request whose job cannot be queued is refused, and leaves neither a
// lock nor an operation that nobody will run.
func TestUnqueuedRequestLeavesNoLock(t *testing.T) {
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	ctx := t.Context()
	e := engine.New(engine.Options{Resources: l.Store, Projects: l.Store, Queue: failingQueue{l.Queue}, Cloud: l.Sandbox, Hub: l.Hub,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	_, err := e.Service.Create(ctx, alice, "demo", bucket("never-queued"))
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("err = %v, want unavailable", err)
	}
	r, err := l.Store.GetResource(ctx, core.ResourceKey{Project: "demo", StackName: stacks.StackName("demo", core.KindBucket, "never-queued")})
	if err != nil {
		t.Fatal(err)
	}
	if r.Lock != nil || r.Op.Status != core.OpFailed || !strings.Contains(r.Op.Error, "queue down") {
		t.Fatalf("after a failed enqueue: lock %+v op %+v", r.Lock, r.Op)
	}
	// The name is free again for a request that can be queued.
	l.Start(ctx)
	must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", bucket("never-queued")))
}

// Bad input gets a clear error and changes nothing.
func TestBadRequestsChangeNothing(t *testing.T) {
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	ctx := t.Context()
	cases := []struct {
		name string
		do   func() error
		kind error
	}{
		{"invalid bucket name", func() error { _, err := l.Engine.Service.Create(ctx, alice, "demo", bucket("Bad_Name")); return err }, core.ErrInvalid},
		{"grant of an unknown bucket", func() error {
			_, err := l.Engine.Service.Create(ctx, alice, "demo", user("grantee", 1, "no-such-bucket"))
			return err
		}, core.ErrInvalid},
		{"non-member", func() error {
			_, err := l.Engine.Service.Create(ctx, core.Principal{User: "mallory"}, "demo", bucket("mallory-bucket"))
			return err
		}, core.ErrForbidden},
		{"unknown project", func() error { _, err := l.Engine.Service.Create(ctx, alice, "nope", bucket("x-bucket")); return err }, core.ErrNotFound},
		{"update of nothing", func() error {
			_, err := l.Engine.Service.Update(ctx, alice, "demo", bucket("ghost-bucket"), 0)
			return err
		}, core.ErrNotFound},
		{"delete of nothing", func() error {
			_, err := l.Engine.Service.Delete(ctx, alice, "demo", core.KindUser, "ghost", 0)
			return err
		}, core.ErrNotFound},
		{"rotate a key of nothing", func() error { _, err := l.Engine.Service.RotateKey(ctx, alice, "demo", "ghost", 0, 0); return err }, core.ErrNotFound},
	}
	for _, c := range cases {
		err := c.do()
		if !errors.Is(err, c.kind) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.kind)
		}
		if err != nil && err.Error() == c.kind.Error() {
			t.Errorf("%s: error %q says nothing useful", c.name, err)
		}
	}
	items, _, _ := l.Store.ListResources(ctx, "demo", core.Page{})
	ops, _, _ := l.Store.ListOperations(ctx, "demo", core.Page{})
	if len(items) != 0 || len(ops) != 0 {
		t.Fatalf("bad requests left %d items and %d operations", len(items), len(ops))
	}
}

// A secret is revealed once, and only to members.
func TestRevealKeyOnce(t *testing.T) {
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	ctx := t.Context()
	l.Start(ctx)
	must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", user("partner", 1)))
	settleAndReconcile(t, l)
	if _, _, err := l.Engine.Service.RevealKey(ctx, core.Principal{User: "mallory"}, "demo", "partner", 1); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("non-member: %v", err)
	}
	if _, _, err := l.Engine.Service.RevealKey(ctx, alice, "demo", "partner", 2); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	id, secret, err := l.Engine.Service.RevealKey(ctx, bob, "demo", "partner", 1)
	if err != nil || !strings.HasPrefix(id, "AKIA") || len(secret) < 30 {
		t.Fatalf("reveal: %q %v", id, err)
	}
	if _, _, err := l.Engine.Service.RevealKey(ctx, alice, "demo", "partner", 1); !errors.Is(err, core.ErrConflict) || strings.Contains(err.Error(), secret) {
		t.Fatalf("second reveal: %v", err)
	}
	// Rotating gives a new key whose secret can be revealed.
	must{t}.op(l.Engine.Service.RotateKey(ctx, alice, "demo", "partner", 0, 0))
	settleAndReconcile(t, l)
	id2, secret2, err := l.Engine.Service.RevealKey(ctx, alice, "demo", "partner", 1)
	if err != nil || id2 == id || secret2 == secret {
		t.Fatalf("reveal after rotation: %q %v", id2, err)
	}
}
