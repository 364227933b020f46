package soak

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/setup"
	"bucketdesk/internal/stacks"
	"bucketdesk/internal/store/boltstore"
)

// TestCompareFindsMismatches builds a cache and a sandbox that disagree in
// every way Compare knows, on files, and checks each is reported.
func TestCompareFindsMismatches(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	store, err := boltstore.Open(filepath.Join(dir, "bucketdesk.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	sbOpts := simcloud.ZeroOptions()
	sbOpts.OutsideBuckets = []simcloud.OutsideBucket{setup.DemoLogBucket()} // the demo project's buckets log into it
	sb, err := simcloud.New(filepath.Join(dir, "sandbox.db"), sbOpts)
	if err != nil {
		t.Fatal(err)
	}
	p := setup.DemoProject([]string{"alice"})
	if err := store.PutProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	create := func(name string) *core.Stack {
		spec := core.Spec{Bucket: &core.BucketSpec{Name: name, Encryption: core.Encryption{Type: core.EncryptionS3}}}
		tpl, caps, err := stacks.Render(p, spec)
		if err != nil {
			t.Fatal(err)
		}
		sn := stacks.StackName(p.ID, core.KindBucket, name)
		id, err := sb.CreateStack(ctx, p.Account(), core.StackRequest{StackName: sn, Template: tpl, Tags: stacks.Tags(p.ID, core.KindBucket, name), Token: "t-" + name, Capabilities: caps})
		if err != nil {
			t.Fatal(err)
		}
		if err := sb.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := sb.DescribeStack(ctx, p.Account(), id)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	put := func(name string, obs core.Observed, lock *core.Lock, op *core.Operation) {
		r := &core.Resource{Project: p.ID, Kind: core.KindBucket, Name: name, StackName: stacks.StackName(p.ID, core.KindBucket, name),
			Observed: obs, Lock: lock, Op: op, Version: 1, UpdatedAt: time.Now()}
		if err := store.PutResource(ctx, r, 0); err != nil {
			t.Fatal(err)
		}
	}
	ready := func(st *core.Stack) core.Observed {
		return core.Observed{Phase: core.PhaseOf(st.Status), StackID: st.StackID, StackStatus: st.Status, Outputs: st.Outputs}
	}
	done := &core.Operation{ID: "op-done", Status: core.OpSucceeded}

	same := create("same-1")
	put("same-1", ready(same), nil, done)
	create("only-in-cloud")
	put("only-in-cache", core.Observed{Phase: core.PhaseReady, StackID: "arn:x/gone", StackStatus: "CREATE_COMPLETE"}, nil, done)
	put("gone-both", core.Observed{Phase: core.PhaseDeleted, StackStatus: "DELETE_COMPLETE"}, nil, done)
	put("never-made", core.Observed{Phase: core.PhaseDeleted}, &core.Lock{OperationID: "op-9", Action: core.ActionDelete}, &core.Operation{ID: "op-9", Status: core.OpRunning})
	other := create("other-id")
	o := ready(other)
	o.StackID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/x/older"
	put("other-id", o, nil, done)
	status := create("other-status")
	o = ready(status)
	o.StackStatus, o.Phase = "UPDATE_IN_PROGRESS", core.PhaseUpdating
	put("other-status", o, nil, done)
	outs := create("other-outputs")
	o = ready(outs)
	o.Outputs = nil
	put("other-outputs", o, nil, done)
	sb.Close()
	store.Close()

	fc, err := CompareFiles(ctx, dir, p.ID, []string{"same-1", "never-there", "gone-both"})
	if err != nil {
		t.Fatal(err)
	}
	if fc.Checked != 9 || fc.Live != 5 || fc.Absent != 4 || fc.InFlight != 0 {
		t.Errorf("counts %+v", fc.Comparison)
	}
	want := map[string]string{
		"only-in-cloud": "CloudFormation has a stack the cache does not show",
		"only-in-cache": "the cache shows a resource CloudFormation does not have",
		"never-made":    "lock left (delete, operation op-9); operation op-9 still running",
		"other-id":      "another stack id",
		"other-status":  "another status",
		"other-outputs": "other outputs: BucketArn missing in the cache",
	}
	got := map[string]string{}
	for _, m := range fc.Mismatches {
		got[m.Name] = m.Problem
	}
	for name, problem := range want {
		if !strings.HasPrefix(got[name], problem) {
			t.Errorf("%s: problem %q, want %q", name, got[name], problem)
		}
	}
	if len(got) != len(want) {
		t.Errorf("mismatches %v", got)
	}
	var out, errs strings.Builder
	if code := Main([]string{"--compare", dir}, &out, &errs); code != 1 || !strings.Contains(out.String(), "**Mismatches: 6.**") ||
		!strings.Contains(out.String(), "| only-in-cloud | no item | ready CREATE_COMPLETE") {
		t.Errorf("--compare: status %d\n%s%s", code, out.String(), errs.String())
	}
	if fc.SandboxStats.Stacks == 0 {
		t.Errorf("the sandbox statistics count no stack: %+v", fc.SandboxStats)
	}
}
