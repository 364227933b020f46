package core

import (
	"context"
	"fmt"
	"time"
)

// ObjectCountLimit is how many object versions and delete markers one
// count looks at: one page of S3's ListObjectVersions.
const ObjectCountLimit = 1000

// ObjectVersion is one version of an object in a bucket, or one delete
// marker, as S3's ListObjectVersions lists it (the local sandbox keeps them;
// bucketdesk itself only counts them).
type ObjectVersion struct {
	Key       string `json:"key"`
	VersionID string `json:"version_id"`
	// IsLatest: the current version of its key (a delete marker that is
	// latest hides the key from listings of objects).
	IsLatest     bool      `json:"is_latest"`
	DeleteMarker bool      `json:"delete_marker,omitempty"`
	Size         int64     `json:"size"`
	LastModified time.Time `json:"last_modified"`
}

// ObjectCount is what a bucket holds, as far as one count looked.
type ObjectCount struct {
	// Versions counts object versions, current and noncurrent.
	Versions int `json:"versions"`
	// DeleteMarkers counts delete markers: S3 deletes only a bucket
	// without objects, versions and delete markers.
	DeleteMarkers int `json:"delete_markers"`
	// More says the bucket holds more than ObjectCountLimit entries, which
	// the count did not look at.
	More bool `json:"more,omitempty"`
}

// Empty reports whether the bucket holds nothing that stops S3 deleting it.
func (c ObjectCount) Empty() bool { return c.Versions == 0 && c.DeleteMarkers == 0 && !c.More }

// String says what the bucket holds, for a manager: "3 object versions and
// 1 delete marker", "more than 1000 object versions and delete markers".
func (c ObjectCount) String() string {
	if c.More {
		return fmt.Sprintf("more than %d object versions and delete markers", c.Versions+c.DeleteMarkers)
	}
	v := fmt.Sprintf("%d object %s", c.Versions, plural(c.Versions, "version", "versions"))
	m := fmt.Sprintf("%d delete %s", c.DeleteMarkers, plural(c.DeleteMarkers, "marker", "markers"))
	switch {
	case c.DeleteMarkers == 0:
		return v
	case c.Versions == 0:
		return m
	}
	return v + " and " + m
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Objects counts what a bucket holds (S3's ListObjectVersions through the
// project's role), so that a delete CloudFormation would fail on — S3
// deletes only empty buckets — is refused before it is accepted.
//
// A bucket that does not exist holds nothing: a zero count and nil. A
// caller without permission is ErrForbidden; a rate limit ErrThrottled; a
// transient failure ErrUnavailable.
type Objects interface {
	CountObjects(ctx context.Context, a Account, bucket string) (ObjectCount, error)
}
