package engine_test

// A bucket that was never versioned is not created "versioning suspended";
// once versioned, turning versioning off suspends it for good
// (core.BucketSpec.VersioningSuspended, which bucketdesk keeps and the
// client cannot set).

import (
	"encoding/json"
	"strings"
	"testing"

	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
)

// stackBucket returns the Bucket properties of the template the sandbox
// holds for bucket name, and the spec parsed back from it.
func stackBucket(t *testing.T, s *stepper, name string) (map[string]any, core.Spec) {
	t.Helper()
	p, err := s.l.Store.GetProject(t.Context(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := s.l.Sandbox.GetTemplate(t.Context(), p.Account(), stacks.StackName("demo", core.KindBucket, name))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Resources struct {
			Bucket struct{ Properties map[string]any }
		}
	}
	if err := json.Unmarshal([]byte(tpl), &m); err != nil {
		t.Fatal(err)
	}
	spec, err := stacks.Parse(tpl)
	if err != nil {
		t.Fatal(err)
	}
	return m.Resources.Bucket.Properties, spec
}

// versioningStatus is the stack's VersioningConfiguration.Status, "" when
// the template has none.
func versioningStatus(props map[string]any) string {
	vc, _ := props["VersioningConfiguration"].(map[string]any)
	s, _ := vc["Status"].(string)
	return s
}

// uiBucket is the bucket as the API (and so the UI) sends it.
func uiBucket(t *testing.T, r *core.Resource) map[string]any {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Spec struct{ Bucket map[string]any }
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.Spec.Bucket
}

func TestVersioningNeverSuspendedUnlessVersionedBefore(t *testing.T) {
	s := newStepper(t)
	ctx := t.Context()
	get := func(name string) *core.Resource {
		t.Helper()
		r, err := s.eng.Service.Get(ctx, alice, "demo", core.KindBucket, name)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// step submits an update and checks the item, its operation, the
	// stack's template and what the UI is sent.
	step := func(what string, spec core.Spec, wantVersioning, wantSuspended bool, wantStatus string) {
		t.Helper()
		op := s.submit(s.eng.Service.Update(ctx, alice, "demo", spec, 0))
		if op.Spec.Bucket.VersioningSuspended != wantSuspended {
			t.Errorf("%s: operation spec suspended = %v, want %v", what, op.Spec.Bucket.VersioningSuspended, wantSuspended)
		}
		if got := s.operation(op.ID); got.Status != core.OpSucceeded {
			t.Fatalf("%s: operation %s: %s", what, got.Status, got.Error)
		}
		r := get(spec.Bucket.Name)
		if b := r.Spec.Bucket; b.Versioning != wantVersioning || b.VersioningSuspended != wantSuspended {
			t.Errorf("%s: item versioning %v suspended %v, want %v %v", what, b.Versioning, b.VersioningSuspended, wantVersioning, wantSuspended)
		}
		props, parsed := stackBucket(t, s, spec.Bucket.Name)
		if got := versioningStatus(props); got != wantStatus {
			t.Errorf("%s: stack VersioningConfiguration.Status %q, want %q", what, got, wantStatus)
		}
		if !stacks.Equal(parsed, r.Spec) {
			t.Errorf("%s: the stack's template says %+v, the item %+v", what, *parsed.Bucket, *r.Spec.Bucket)
		}
		ui := uiBucket(t, r)
		if got, _ := ui["versioning_suspended"].(bool); got != wantSuspended {
			t.Errorf("%s: the UI is sent versioning_suspended %v, want %v (%v)", what, ui["versioning_suspended"], wantSuspended, ui)
		}
	}

	// Created without versioning, even if the client claims it was
	// suspended: no VersioningConfiguration at all.
	spec := bucket("ver-never")
	spec.Bucket.VersioningSuspended = true
	spec.Bucket.ExpiryDays = 30
	op := s.submit(s.eng.Service.Create(ctx, alice, "demo", spec))
	if got := s.operation(op.ID); got.Status != core.OpSucceeded {
		t.Fatalf("create: %s: %s", got.Status, got.Error)
	}
	if !spec.Bucket.VersioningSuspended {
		t.Error("Create changed the caller's spec")
	}
	r := get("ver-never")
	if r.Spec.Bucket.Versioning || r.Spec.Bucket.VersioningSuspended {
		t.Errorf("created item: %+v", *r.Spec.Bucket)
	}
	props, _ := stackBucket(t, s, "ver-never")
	if _, ok := props["VersioningConfiguration"]; ok {
		t.Errorf("a never-versioned bucket has a VersioningConfiguration: %v", props["VersioningConfiguration"])
	}
	if _, ok := uiBucket(t, r)["versioning_suspended"]; ok {
		t.Error("versioning_suspended sent for a bucket that was never versioned (omitempty)")
	}
	rules := js(props["LifecycleConfiguration"])
	if !strings.Contains(rules, `"DaysAfterInitiation":7`) || strings.Contains(rules, "NoncurrentVersionExpiration") || strings.Contains(rules, "ExpiredObjectDeleteMarker") {
		t.Errorf("lifecycle of an unversioned bucket with expiry: %s", rules)
	}

	// Tags only, still never versioned.
	tagged := bucket("ver-never")
	tagged.Bucket.ExpiryDays = 30
	tagged.Bucket.Tags = map[string]string{"team": "geo"}
	tagged.Bucket.VersioningSuspended = true // ignored
	step("tags on a never-versioned bucket", tagged, false, false, "")

	on := tagged
	on.Bucket = ptr(*tagged.Bucket)
	on.Bucket.Versioning = true
	step("versioning on", on, true, false, "Enabled")
	props, _ = stackBucket(t, s, "ver-never")
	if rules := js(props["LifecycleConfiguration"]); !strings.Contains(rules, `"NoncurrentVersionExpiration":{"NoncurrentDays":30}`) || !strings.Contains(rules, `"ExpiredObjectDeleteMarker":true`) {
		t.Errorf("lifecycle of a versioned bucket with expiry: %s", rules)
	}

	off := on
	off.Bucket = ptr(*on.Bucket)
	off.Bucket.Versioning = false
	off.Bucket.VersioningSuspended = false // what the client sends does not matter
	step("versioning off", off, false, true, "Suspended")
	props, _ = stackBucket(t, s, "ver-never")
	if rules := js(props["LifecycleConfiguration"]); !strings.Contains(rules, `"NoncurrentVersionExpiration":{"NoncurrentDays":30}`) || !strings.Contains(rules, `"ExpiredObjectDeleteMarker":true`) {
		t.Errorf("a suspended bucket keeps expiring its noncurrent versions and delete markers: %s", rules)
	}

	later := off
	later.Bucket = ptr(*off.Bucket)
	later.Bucket.Tags = map[string]string{"team": "geo", "cost": "4711"}
	step("tags only, later", later, false, true, "Suspended")

	again := later
	again.Bucket = ptr(*later.Bucket)
	again.Bucket.Versioning = true
	step("versioning on again", again, true, false, "Enabled")
	step("versioning off again", later, false, true, "Suspended")
	assertMirrors(t, s.l, "demo")
}

// What the client sends as versioning_suspended is ignored: a new
// versioned bucket is Enabled, not suspended.
func TestVersioningSuspendedIsNotTheClients(t *testing.T) {
	s := newStepper(t)
	ctx := t.Context()
	spec := bucket("ver-client")
	spec.Bucket.Versioning = true
	spec.Bucket.VersioningSuspended = true
	op := s.submit(s.eng.Service.Create(ctx, alice, "demo", spec))
	if op.Spec.Bucket.VersioningSuspended {
		t.Error("a versioned bucket is created suspended")
	}
	props, _ := stackBucket(t, s, "ver-client")
	if got := versioningStatus(props); got != "Enabled" {
		t.Errorf("VersioningConfiguration.Status %q, want Enabled", got)
	}
}

func ptr[T any](v T) *T { return &v }

func js(v any) string { b, _ := json.Marshal(v); return string(b) }
