package core_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"bucketdesk/internal/core"
)

// A retry-after hint is found anywhere in a chain, and the failure keeps
// its kind.
func TestRetryAfter(t *testing.T) {
	err := fmt.Errorf("layer: %w", &core.RetryAfterError{Wait: 3 * time.Second, Err: fmt.Errorf("%w: slow down", core.ErrThrottled)})
	wait, ok := core.RetryAfter(err)
	if !ok || wait != 3*time.Second {
		t.Errorf("RetryAfter = %v, %v; want 3s, true", wait, ok)
	}
	if !errors.Is(err, core.ErrThrottled) {
		t.Error("the hint hides the failure's kind")
	}
	if got, want := err.Error(), "layer: throttled: slow down (retry after 3s)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if wait, ok := core.RetryAfter(&core.RetryAfterError{Err: core.ErrUnavailable}); !ok || wait != 0 {
		t.Errorf("RetryAfter of a zero wait = %v, %v; want 0, true", wait, ok)
	}
	if _, ok := core.RetryAfter(core.ErrThrottled); ok {
		t.Error("RetryAfter found a hint in an error without one")
	}
	if _, ok := core.RetryAfter(nil); ok {
		t.Error("RetryAfter found a hint in nil")
	}
}
