package bench

import (
	"errors"
	"io"
	"strings"
	"testing"

	"bucketdesk/internal/store/dynamostore/dynalite"
)

// TestFanoutQuick runs the fan-out section on a small project and checks
// what it asserts besides time: the bound held, every live connection got
// every event, the gone ones were deleted by the first and never posted
// to again, nothing was throttled.
func TestFanoutQuick(t *testing.T) {
	tb, err := fanout(t.Context(), io.Discard, 120, 3)
	if errors.Is(err, dynalite.ErrMissing) {
		t.Skipf("SKIPPED: %v; run `%s`", err, dynalite.InstallHint)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tb.Title, "120 connections") {
		t.Errorf("title %q", tb.Title)
	}
	checkShape(t, tb)
	checked := 0
	for _, r := range tb.Rows {
		if strings.HasPrefix(r[0], "time to") || r[2] == "" {
			continue // timing: not asserted
		}
		checked++
		if !strings.HasSuffix(r[2], "✅") {
			t.Errorf("%s: %s, target %s", r[0], r[1], r[2])
		}
	}
	if checked != 5 {
		t.Errorf("checked %d rows, want 5", checked)
	}
	if got := tb.Rows[6][1]; got != "6 of 6" {
		t.Errorf("gone deleted: %q, want 6 of 6", got)
	}
}
