package simcloud

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"

	"bucketdesk/internal/core"
)

var _ core.Objects = (*Sandbox)(nil)

// nullVersion is the version id S3 gives what is written while a bucket
// is unversioned or versioning is suspended.
const nullVersion = "null"

// maxObjectSize is the largest object one PUT may write (5 GiB).
const maxObjectSize = 5 << 30

// bucketObjects is what one bucket holds: each key's versions, oldest
// first, the last one current.
type bucketObjects struct {
	Keys map[string][]core.ObjectVersion `json:"keys"`
	// Raced: the sandbox wrote its object into the bucket during a
	// delete, on purpose (FailTag "delete"); it does so once per bucket.
	Raced bool `json:"raced,omitempty"`
}

func (b *bucketObjects) count() (versions, markers int) {
	for _, vs := range b.Keys {
		for _, v := range vs {
			if v.DeleteMarker {
				markers++
			} else {
				versions++
			}
		}
	}
	return versions, markers
}

// decodeObjects reads a bucket's persisted objects. Sandboxes written
// before objects were modelled stored only a count: it becomes that many
// objects.
func decodeObjects(v []byte) (*bucketObjects, error) {
	b := &bucketObjects{Keys: map[string][]core.ObjectVersion{}}
	if len(v) == 8 && v[0] != '{' {
		for i := range int(binary.BigEndian.Uint64(v)) {
			k := fmt.Sprintf("object-%d", i+1)
			b.Keys[k] = []core.ObjectVersion{{Key: k, VersionID: nullVersion}}
		}
		return b, nil
	}
	if err := json.Unmarshal(v, b); err != nil {
		return nil, err
	}
	if b.Keys == nil {
		b.Keys = map[string][]core.ObjectVersion{}
	}
	return b, nil
}

// bucketState finds the live bucket of that name and its versioning
// status ("" when it never had one, "Enabled", "Suspended"), answering as
// S3 does to a caller in account a: no such bucket, a bucket of another
// account, a bucket in another region. s.mu is held.
func (s *Sandbox) bucketState(a core.Account, bucket string) (status string, err error) {
	var found *record
	var owner *stack
	for st := range s.liveStacks("") {
		st.live(func(r *record) bool {
			if r.Type == "AWS::S3::Bucket" && r.Physical == bucket {
				found, owner = r, st
				return false
			}
			return true
		})
		if found != nil {
			break
		}
	}
	switch {
	case found == nil:
		return "", apiErr(core.ErrNotFound, "NoSuchBucket", "The specified bucket does not exist")
	case owner.Account != a.ID:
		return "", apiErr(core.ErrForbidden, "AccessDenied", "Access Denied")
	case owner.Region != region(a):
		return "", apiErr(core.ErrInvalid, "PermanentRedirect", "The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.")
	}
	var props struct {
		VersioningConfiguration struct{ Status string }
	}
	_ = json.Unmarshal(found.Resolved, &props)
	return props.VersioningConfiguration.Status, nil
}

// objectsOf returns what bucket holds, creating its entry; s.mu is held.
func (s *Sandbox) objectsOf(bucket string) *bucketObjects {
	b := s.store.objects[bucket]
	if b == nil {
		b = &bucketObjects{Keys: map[string][]core.ObjectVersion{}}
		s.store.objects[bucket] = b
	}
	return b
}

// raceDelete writes an object into a bucket tagged FailTag "delete" as
// CloudFormation starts to delete it, once per bucket, as a writer that
// raced bucketdesk's emptiness check would: the delete then fails with
// BucketNotEmpty. s.mu is held; c collects the write.
func (s *Sandbox) raceDelete(c *change, r *record) {
	var props struct {
		Tags                    []struct{ Key, Value string }
		VersioningConfiguration struct{ Status string }
	}
	_ = json.Unmarshal(r.Resolved, &props)
	if !slices.Contains(props.Tags, struct{ Key, Value string }{FailTag, "delete"}) {
		return
	}
	b := s.objectsOf(r.Physical)
	if b.Raced {
		return
	}
	b.Raced = true
	b.put(props.VersioningConfiguration.Status, core.ObjectVersion{Key: "written-during-delete.txt", Size: 42, LastModified: s.clock.Now().UTC()})
	c.objects = append(c.objects, r.Physical)
}

// write persists bucket's objects (or their absence); s.mu is held.
func (s *Sandbox) writeObjects(bucket string) error {
	if b := s.store.objects[bucket]; b != nil && len(b.Keys) == 0 && !b.Raced {
		delete(s.store.objects, bucket)
	}
	return s.commit(&change{objects: []string{bucket}})
}

func newVersionID() string { return randomString(mixedAlnum+"._", 32) }

// put adds v as the current version of its key, under the bucket's
// versioning status: a versioned bucket keeps the key's versions, an
// unversioned or suspended one replaces its "null" version.
func (b *bucketObjects) put(status string, v core.ObjectVersion) core.ObjectVersion {
	vs := b.Keys[v.Key]
	if status == "Enabled" {
		v.VersionID = newVersionID()
	} else {
		v.VersionID = nullVersion
		vs = slices.DeleteFunc(vs, func(o core.ObjectVersion) bool { return o.VersionID == nullVersion })
	}
	b.Keys[v.Key] = append(vs, v)
	return v
}

// PutObject writes an object of size bytes (its content is not kept) to a
// bucket of account a, as S3's PutObject: a new version in a versioned
// bucket, the "null" version otherwise. Tests and the local binary use it
// to fill buckets, so that a delete meets S3's rule that only empty
// buckets are deleted.
func (s *Sandbox) PutObject(ctx context.Context, a core.Account, bucket, key string, size int64) (core.ObjectVersion, error) {
	if err := s.call(ctx, a, false); err != nil {
		return core.ObjectVersion{}, err
	}
	switch {
	case key == "":
		return core.ObjectVersion{}, apiErr(core.ErrInvalid, "InvalidArgument", "An object key must not be empty")
	case len(key) > 1024:
		return core.ObjectVersion{}, apiErr(core.ErrInvalid, "KeyTooLongError", "Your key is too long")
	case !utf8.ValidString(key):
		return core.ObjectVersion{}, apiErr(core.ErrInvalid, "InvalidArgument", "An object key must be UTF-8")
	case size < 0:
		return core.ObjectVersion{}, apiErr(core.ErrInvalid, "InvalidArgument", "An object's size must not be negative")
	case size > maxObjectSize:
		return core.ObjectVersion{}, apiErr(core.ErrInvalid, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	status, err := s.bucketState(a, bucket)
	if err != nil {
		return core.ObjectVersion{}, err
	}
	v := s.objectsOf(bucket).put(status, core.ObjectVersion{Key: key, Size: size, LastModified: s.clock.Now().UTC()})
	if err := s.writeObjects(bucket); err != nil {
		return core.ObjectVersion{}, err
	}
	v.IsLatest = true
	return v, nil
}

// DeleteObject deletes as S3's DeleteObject does. Without a version id, a
// versioned bucket gets a delete marker, a suspended one a "null" delete
// marker (replacing the "null" version), and an unversioned one loses the
// object; with a version id, that version (or delete marker) is removed
// for good. It returns what the delete made or removed.
func (s *Sandbox) DeleteObject(ctx context.Context, a core.Account, bucket, key, versionID string) (core.ObjectVersion, error) {
	if err := s.call(ctx, a, false); err != nil {
		return core.ObjectVersion{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	status, err := s.bucketState(a, bucket)
	if err != nil {
		return core.ObjectVersion{}, err
	}
	b := s.objectsOf(bucket)
	var out core.ObjectVersion
	switch {
	case versionID != "":
		vs := b.Keys[key]
		i := slices.IndexFunc(vs, func(o core.ObjectVersion) bool { return o.VersionID == versionID })
		if i < 0 {
			return core.ObjectVersion{}, apiErr(core.ErrNotFound, "NoSuchVersion", "The specified version does not exist.")
		}
		out = vs[i]
		if vs = slices.Delete(vs, i, i+1); len(vs) == 0 {
			delete(b.Keys, key)
		} else {
			b.Keys[key] = vs
		}
	case status == "":
		delete(b.Keys, key)
		out = core.ObjectVersion{Key: key, VersionID: nullVersion}
	default:
		out = b.put(status, core.ObjectVersion{Key: key, DeleteMarker: true, LastModified: s.clock.Now().UTC()})
		out.IsLatest = true
	}
	return out, s.writeObjects(bucket)
}

// EmptyBucket removes every object version and delete marker of a bucket,
// as the S3 console's Empty action does, and returns how many it removed.
func (s *Sandbox) EmptyBucket(ctx context.Context, a core.Account, bucket string) (int, error) {
	if err := s.call(ctx, a, false); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.bucketState(a, bucket); err != nil {
		return 0, err
	}
	b := s.store.objects[bucket]
	if b == nil {
		return 0, nil
	}
	v, m := b.count()
	clear(b.Keys)
	return v + m, s.writeObjects(bucket)
}

// ListObjectVersions lists up to max (1 to 1000) object versions and
// delete markers of a bucket, ordered by key and, within a key, newest
// first, as S3's ListObjectVersions; truncated says there are more.
func (s *Sandbox) ListObjectVersions(ctx context.Context, a core.Account, bucket string, max int) (versions []core.ObjectVersion, truncated bool, err error) {
	if err := s.call(ctx, a, false); err != nil {
		return nil, false, err
	}
	if max < 1 || max > core.ObjectCountLimit {
		max = core.ObjectCountLimit
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.bucketState(a, bucket); err != nil {
		return nil, false, err
	}
	b := s.store.objects[bucket]
	if b == nil {
		return []core.ObjectVersion{}, false, nil
	}
	keys := make([]string, 0, len(b.Keys))
	for k := range b.Keys {
		keys = append(keys, k)
	}
	slices.Sort(keys) // S3 lists keys in UTF-8 binary order
	out := []core.ObjectVersion{}
	for _, k := range keys {
		vs := b.Keys[k]
		for i := len(vs) - 1; i >= 0; i-- {
			if len(out) == max {
				return out, true, nil
			}
			v := vs[i]
			v.IsLatest = i == len(vs)-1
			out = append(out, v)
		}
	}
	return out, false, nil
}

// CountObjects counts a bucket's object versions and delete markers, one
// page of ListObjectVersions (core.Objects). A bucket that does not exist
// holds nothing.
func (s *Sandbox) CountObjects(ctx context.Context, a core.Account, bucket string) (core.ObjectCount, error) {
	vs, more, err := s.ListObjectVersions(ctx, a, bucket, core.ObjectCountLimit)
	if err != nil {
		if ae, ok := err.(*APIError); ok && ae.Code == "NoSuchBucket" {
			return core.ObjectCount{}, nil
		}
		return core.ObjectCount{}, err
	}
	var c core.ObjectCount
	for _, v := range vs {
		if v.DeleteMarker {
			c.DeleteMarkers++
		} else {
			c.Versions++
		}
	}
	c.More = more
	return c, nil
}

// bucketNotEmpty is S3's answer to a delete of a bucket that holds
// objects, as CloudFormation's bucket handler reports it.
func bucketNotEmpty() error {
	return handlerErr("GeneralServiceException", fmt.Sprintf("The bucket you tried to delete is not empty (Service: S3, Status Code: 409, Error Code: BucketNotEmpty, Request ID: %s)", randomString(upperAlnum, 16)))
}
