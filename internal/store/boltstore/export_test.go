package boltstore

import "testing"

// SetPurgeBatch makes PurgeOperations delete at most n copies per
// transaction until tb ends, so that a test sees several batches.
func SetPurgeBatch(tb testing.TB, n int) {
	old := purgeBatch
	purgeBatch = n
	tb.Cleanup(func() { purgeBatch = old })
}
