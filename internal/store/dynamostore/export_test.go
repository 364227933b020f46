package dynamostore

import "testing"

// SetPurgePage makes PurgeOperations read at most n index entries per
// Query until tb ends, so that a test sees several pages.
func SetPurgePage(tb testing.TB, n int32) {
	old := purgePage
	purgePage = n
	tb.Cleanup(func() { purgePage = old })
}
