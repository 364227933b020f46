package engine_test

import (
	"testing"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/stacks"
)

// The direct reader (the design without a cache) and the cache give the
// same answer; only the cost differs.
func TestDirectReaderAgreesWithTheCache(t *testing.T) {
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	ctx := t.Context()
	l.Start(ctx)
	for _, n := range []string{"alpha-data", "beta.data", "gamma-data"} {
		spec := bucket(n)
		spec.Bucket.Tags = map[string]string{"owner": n}
		must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", spec))
	}
	must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", user("reader", 1, "alpha-data", "beta.data")))
	settleAndReconcile(t, l)

	p, _ := l.Store.GetProject(ctx, "demo")
	direct := &engine.Direct{Cloud: l.Sandbox}
	for _, kind := range []core.Kind{core.KindBucket, core.KindUser} {
		cached, err := l.Engine.Service.List(ctx, alice, "demo", kind)
		if err != nil {
			t.Fatal(err)
		}
		listed, err := direct.List(ctx, p, kind)
		if err != nil {
			t.Fatal(err)
		}
		if len(cached) != len(listed) || len(cached) == 0 {
			t.Fatalf("%s: cache has %d, direct %d", kind, len(cached), len(listed))
		}
		for i := range cached {
			c, d := cached[i], listed[i]
			if c.Name != d.Name || !stacks.Equal(c.Spec, d.Spec) || c.Observed.StackStatus != d.Observed.StackStatus {
				t.Errorf("%s %d: cache %s %+v %s, direct %s %+v %s", kind, i, c.Name, c.Spec, c.Observed.StackStatus, d.Name, d.Spec, d.Observed.StackStatus)
			}
		}
	}
	got, err := direct.Get(ctx, p, core.KindUser, "reader")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := l.Engine.Service.Get(ctx, alice, "demo", core.KindUser, "reader")
	if !stacks.Equal(got.Spec, want.Spec) || !sameMap(got.Observed.Outputs, want.Observed.Outputs) {
		t.Fatalf("direct get %+v, cache %+v", got, want)
	}
}
