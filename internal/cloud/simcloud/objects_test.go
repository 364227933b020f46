package simcloud_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
)

func putObjects(t *testing.T, s *simcloud.Sandbox, a core.Account, bucket string, n int) {
	t.Helper()
	for i := range n {
		if _, err := s.PutObject(t.Context(), a, bucket, fmt.Sprintf("data/%04d.csv", i), 10); err != nil {
			t.Fatalf("PutObject: %v", err)
		}
	}
}

func emptyBucket(t *testing.T, s *simcloud.Sandbox, a core.Account, bucket string) {
	t.Helper()
	if _, err := s.EmptyBucket(t.Context(), a, bucket); err != nil {
		t.Fatalf("EmptyBucket: %v", err)
	}
}

func count(t *testing.T, s *simcloud.Sandbox, a core.Account, bucket string) core.ObjectCount {
	t.Helper()
	c, err := s.CountObjects(t.Context(), a, bucket)
	if err != nil {
		t.Fatalf("CountObjects: %v", err)
	}
	return c
}

// specBucket creates the stack of a rendered bucket spec.
func specBucket(t *testing.T, s *simcloud.Sandbox, stack string, b core.BucketSpec) {
	t.Helper()
	b.Encryption = core.Encryption{Type: core.EncryptionS3}
	p := &core.Project{ID: "demo", AccountID: acct.ID, Region: acct.Region}
	tpl, caps, err := stacks.Render(p, core.Spec{Bucket: &b})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, acct, core.StackRequest{StackName: stack, Template: tpl, Capabilities: caps, Token: "t-" + stack})
	if st := status(t, s, acct, stack); st.Status != "CREATE_COMPLETE" {
		t.Fatalf("%s: %s %s", stack, st.Status, st.StatusReason)
	}
}

// Objects behave as S3's under each versioning status: what a delete
// leaves behind decides whether the bucket can be deleted.
func TestObjectsFollowVersioning(t *testing.T) {
	s, _ := open(t, nil)
	ctx := t.Context()
	specBucket(t, s, "plain", core.BucketSpec{Name: "plain-b"})
	specBucket(t, s, "versioned", core.BucketSpec{Name: "versioned-b", Versioning: true})
	specBucket(t, s, "suspended", core.BucketSpec{Name: "suspended-b", VersioningSuspended: true})

	for _, tc := range []struct {
		bucket               string
		afterPuts, afterDel  core.ObjectCount
		putVersion, delIsDel bool
	}{
		// Unversioned: a PUT replaces the "null" version, a DELETE removes it.
		{bucket: "plain-b", afterPuts: core.ObjectCount{Versions: 1}, afterDel: core.ObjectCount{}},
		// Versioned: every PUT is kept, a DELETE adds a marker.
		{bucket: "versioned-b", afterPuts: core.ObjectCount{Versions: 2}, afterDel: core.ObjectCount{Versions: 2, DeleteMarkers: 1}, putVersion: true, delIsDel: true},
		// Suspended: a PUT replaces the "null" version, a DELETE replaces it with a "null" marker.
		{bucket: "suspended-b", afterPuts: core.ObjectCount{Versions: 1}, afterDel: core.ObjectCount{DeleteMarkers: 1}, delIsDel: true},
	} {
		t.Run(tc.bucket, func(t *testing.T) {
			var v core.ObjectVersion
			for range 2 {
				var err error
				if v, err = s.PutObject(ctx, acct, tc.bucket, "report.csv", 5); err != nil {
					t.Fatal(err)
				}
			}
			if (v.VersionID != "null") != tc.putVersion || !v.IsLatest {
				t.Errorf("PUT made version %q latest=%v", v.VersionID, v.IsLatest)
			}
			if got := count(t, s, acct, tc.bucket); got != tc.afterPuts {
				t.Errorf("after two PUTs: %+v, want %+v", got, tc.afterPuts)
			}
			d, err := s.DeleteObject(ctx, acct, tc.bucket, "report.csv", "")
			if err != nil {
				t.Fatal(err)
			}
			if d.DeleteMarker != tc.delIsDel {
				t.Errorf("DELETE: %+v", d)
			}
			if got := count(t, s, acct, tc.bucket); got != tc.afterDel {
				t.Errorf("after DELETE: %+v, want %+v", got, tc.afterDel)
			}
			// Removing each version and marker by id empties the bucket.
			vs, _, err := s.ListObjectVersions(ctx, acct, tc.bucket, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				if _, err := s.DeleteObject(ctx, acct, tc.bucket, v.Key, v.VersionID); err != nil {
					t.Fatal(err)
				}
			}
			if got := count(t, s, acct, tc.bucket); !got.Empty() {
				t.Errorf("after deleting every version: %+v", got)
			}
		})
	}

	// Newest first within a key; the latest is flagged.
	for _, k := range []string{"b", "a", "b"} {
		if _, err := s.PutObject(ctx, acct, "versioned-b", k, 1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DeleteObject(ctx, acct, "versioned-b", "a", ""); err != nil {
		t.Fatal(err)
	}
	vs, _, _ := s.ListObjectVersions(ctx, acct, "versioned-b", 0)
	var got []string
	for _, v := range vs {
		got = append(got, fmt.Sprintf("%s:marker=%v:latest=%v", v.Key, v.DeleteMarker, v.IsLatest))
	}
	if want := "a:marker=true:latest=true a:marker=false:latest=false b:marker=false:latest=true b:marker=false:latest=false"; strings.Join(got, " ") != want {
		t.Errorf("ListObjectVersions:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if _, err := s.DeleteObject(ctx, acct, "versioned-b", "a", "no-such-version"); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("delete of an unknown version: %v", err)
	}
}

// S3's answers to the wrong bucket, and to the wrong key or size.
func TestObjectsErrors(t *testing.T) {
	s, _ := open(t, nil)
	ctx := t.Context()
	specBucket(t, s, "mine", core.BucketSpec{Name: "mine-b"})
	code := func(err error) string {
		var ae *simcloud.APIError
		if errors.As(err, &ae) {
			return ae.Code
		}
		return fmt.Sprint(err)
	}
	other := core.Account{ID: "222222222222", Region: acct.Region}
	elsewhere := core.Account{ID: acct.ID, Region: "us-east-2"}
	for _, tc := range []struct {
		name string
		a    core.Account
		b, k string
		size int64
		want string
	}{
		{"no such bucket", acct, "nobody-b", "k", 1, "NoSuchBucket"},
		{"another account's bucket", other, "mine-b", "k", 1, "AccessDenied"},
		{"another region", elsewhere, "mine-b", "k", 1, "PermanentRedirect"},
		{"empty key", acct, "mine-b", "", 1, "InvalidArgument"},
		{"key over 1024 bytes", acct, "mine-b", strings.Repeat("k", 1025), 1, "KeyTooLongError"},
		{"negative size", acct, "mine-b", "k", -1, "InvalidArgument"},
		{"over 5 GiB", acct, "mine-b", "k", 5<<30 + 1, "EntityTooLarge"},
	} {
		if _, err := s.PutObject(ctx, tc.a, tc.b, tc.k, tc.size); code(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	if !count(t, s, acct, "mine-b").Empty() {
		t.Error("a refused PUT wrote an object")
	}
	// A bucket that does not exist holds nothing: the count is zero.
	if c := count(t, s, acct, "nobody-b"); !c.Empty() {
		t.Errorf("count of a missing bucket: %+v", c)
	}
	if _, err := s.CountObjects(ctx, other, "mine-b"); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("count of another account's bucket: %v", err)
	}
}

// One count looks at one page of ListObjectVersions, and says when there
// is more; the objects outlive a restart.
func TestObjectsCountPageAndPersist(t *testing.T) {
	s, path := open(t, nil)
	specBucket(t, s, "big", core.BucketSpec{Name: "big-b"})
	putObjects(t, s, acct, "big-b", core.ObjectCountLimit+1)
	if c := count(t, s, acct, "big-b"); !c.More || c.Versions != core.ObjectCountLimit || c.Empty() {
		t.Errorf("count of %d objects: %+v", core.ObjectCountLimit+1, c)
	} else if got := c.String(); got != "more than 1000 object versions and delete markers" {
		t.Errorf("String: %q", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, path, nil)
	if n, err := s.EmptyBucket(t.Context(), acct, "big-b"); err != nil || n != core.ObjectCountLimit+1 {
		t.Fatalf("EmptyBucket after a restart: %d, %v", n, err)
	}
}

// A bucket tagged sandbox-fail=delete gets an object as CloudFormation
// starts to delete it, once: the delete fails with S3's BucketNotEmpty,
// and after emptying the next delete succeeds.
func TestFailTagDeleteRacesAWriter(t *testing.T) {
	s, _ := open(t, nil)
	ctx := t.Context()
	mustCreate(t, s, acct, taggedBucketReq(t, "race", "race-b", map[string]string{simcloud.FailTag: "delete"}))
	if !count(t, s, acct, "race-b").Empty() {
		t.Fatal("the bucket holds objects before the delete")
	}
	if err := s.DeleteStack(ctx, acct, "race", "d1"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	st := status(t, s, acct, "race")
	if st.Status != "DELETE_FAILED" {
		t.Fatalf("delete: %s %s", st.Status, st.StatusReason)
	}
	evs, _ := s.Events(acct, "race")
	var reason string
	for _, e := range evs {
		if e.LogicalResourceID == "Bucket" && e.ResourceStatus == "DELETE_FAILED" {
			reason = e.StatusReason
		}
	}
	if !strings.Contains(reason, "BucketNotEmpty") {
		t.Errorf("bucket's DELETE_FAILED reason %q", reason)
	}
	if c := count(t, s, acct, "race-b"); c != (core.ObjectCount{Versions: 1}) {
		t.Errorf("after the failed delete: %+v", c)
	}
	emptyBucket(t, s, acct, "race-b")
	if err := s.DeleteStack(ctx, acct, "race", "d2"); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	if st := status(t, s, acct, st.StackID); st.Status != "DELETE_COMPLETE" {
		t.Fatalf("delete after emptying: %s %s", st.Status, st.StatusReason)
	}
}

func TestObjectCountString(t *testing.T) {
	for c, want := range map[core.ObjectCount]string{
		{Versions: 1}:                   "1 object version",
		{Versions: 3, DeleteMarkers: 1}: "3 object versions and 1 delete marker",
		{DeleteMarkers: 2}:              "2 delete markers",
	} {
		if got := c.String(); got != want {
			t.Errorf("%+v: %q, want %q", c, got, want)
		}
	}
}
