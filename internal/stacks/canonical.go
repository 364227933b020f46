package stacks

import (
	"cmp"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"bucketdesk/internal/core"
)

// Canonical returns the form of spec that a template holds, which is what
// Parse returns: grants sorted by bucket and prefix (a policy has no order,
// and reordering grants must not update a stack) with their prefixes as
// folders ending in "/" (core.CanonicalPrefix), SSH keys trimmed, key
// serials only for existing keys with trailing default serials (1) dropped,
// VersioningSuspended false when versioning is on, a user's end date in
// UTC whole seconds and Expired false without one,
// and empty slices and maps as nil. Render(spec) and Render(Canonical(spec))
// are the same bytes.
func Canonical(spec core.Spec) core.Spec {
	var out core.Spec
	if b := spec.Bucket; b != nil {
		c := *b
		// Only a bucket without versioning can be suspended.
		c.VersioningSuspended = b.VersioningSuspended && !b.Versioning
		c.Tags = nil
		if len(b.Tags) > 0 {
			c.Tags = maps.Clone(b.Tags)
		}
		out.Bucket = &c
	}
	if u := spec.User; u != nil {
		c := *u
		c.Grants = nil
		if len(u.Grants) > 0 {
			c.Grants = slices.Clone(u.Grants)
			for i := range c.Grants {
				c.Grants[i].Prefix = core.CanonicalPrefix(c.Grants[i].Prefix)
			}
			slices.SortFunc(c.Grants, compareGrants)
		}
		c.KeySerials = canonicalSerials(u)
		if !u.AccessUntil.IsZero() {
			c.AccessUntil = u.AccessUntil.UTC().Truncate(time.Second)
		}
		// Only a user with an end date can have expired.
		c.Expired = u.Expired && !u.AccessUntil.IsZero()
		c.SFTP.SSHKeys = nil
		for _, k := range u.SFTP.SSHKeys {
			c.SFTP.SSHKeys = append(c.SFTP.SSHKeys, strings.TrimSpace(k))
		}
		out.User = &c
	}
	return out
}

// Equal reports whether two specs describe the same stack, that is whether
// their canonical forms are equal.
func Equal(a, b core.Spec) bool {
	return reflect.DeepEqual(Canonical(a), Canonical(b))
}

func compareGrants(a, b core.Grant) int {
	return cmp.Or(cmp.Compare(a.Bucket, b.Bucket), cmp.Compare(a.Prefix, b.Prefix), cmp.Compare(a.Access, b.Access))
}

// canonicalSerials keeps the serials of the user's existing key slots and
// drops trailing 1s, the default.
func canonicalSerials(u *core.UserSpec) []int {
	n := min(max(u.AccessKeys, 0), core.MaxAccessKeys)
	s := make([]int, n)
	for i := range s {
		s[i] = u.KeySerial(i)
	}
	for len(s) > 0 && s[len(s)-1] == 1 {
		s = s[:len(s)-1]
	}
	if len(s) == 0 {
		return nil
	}
	return s
}
