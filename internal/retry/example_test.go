package retry_test

import (
	"context"
	"fmt"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/retry"
)

func ExamplePolicy_Do() {
	p := retry.Policy{Attempts: 3, Base: time.Millisecond, Max: 10 * time.Millisecond}
	calls := 0
	err := p.Do(context.Background(), func(context.Context) error {
		calls++
		if calls < 3 {
			return fmt.Errorf("%w: busy", core.ErrUnavailable)
		}
		return nil
	})
	fmt.Println(calls, err)
	// Output: 3 <nil>
}
