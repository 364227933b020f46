package core

import (
	"time"

	"github.com/oklog/ulid/v2"
)

// Operation ids are ULIDs in their canonical form (26 upper-case
// characters): as strings they sort by the millisecond they were made,
// which is what lets a store find old history with a range of ids.

// OperationIDBound returns the smallest canonical ULID whose time is not
// before before: every operation id below it, as a string, was requested
// before before. ULID times are whole milliseconds, so before is rounded
// up. ok is false when no ULID time is before before.
func OperationIDBound(before time.Time) (bound string, ok bool) {
	switch {
	case !before.After(time.UnixMilli(0)):
		return "", false
	case before.After(ulid.Time(ulid.MaxTime())):
		// Every ULID is older. Canonical ULIDs start with 0-7.
		return "8", true
	}
	ms := uint64(before.UnixMilli()) // rounds towards the past
	if ulid.Time(ms).Before(before) {
		ms++
	}
	var u ulid.ULID
	if err := u.SetTime(ms); err != nil {
		return "8", true // unreachable: ms is at most MaxTime
	}
	return u.String(), true
}

// IsOperationID reports whether id is a canonical ULID, as the engine
// makes operation ids: only those sort by time.
func IsOperationID(id string) bool {
	u, err := ulid.ParseStrict(id)
	return err == nil && u.String() == id
}
