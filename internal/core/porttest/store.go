package porttest

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/core"
)

// storeTest is one subtest of the suite of a store port S.
type storeTest[S any] struct {
	name string
	fn   func(t *testing.T, s S)
}

// runStoreTests runs each test on a fresh store from newStore.
func runStoreTests[S any](t *testing.T, newStore func(t *testing.T) S, tests []storeTest[S]) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// base has nanoseconds so that an adapter that truncates times fails.
var base = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.UTC)

// racers is how many goroutines race for one conditional write.
const racers = 20

// race runs fn(0..n-1) concurrently, released together so that they
// contend, and returns their errors by index.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one racer succeeded and every other one
// lost with ErrConflict, and returns the winner's index.
func oneWinner(t *testing.T, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("racers %d and %d both succeeded; want exactly one", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, core.ErrConflict):
			t.Errorf("racer %d error = %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d racers succeeded; want exactly one", len(errs))
	}
	return winner
}

// sameJSON reports an error unless got and want encode to the same JSON.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: encoding the stored value: %v", what, err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("%s: encoding the expected value: %v", what, err)
	}
	if string(g) != string(w) {
		t.Errorf("%s differs from what was written\n got: %s\nwant: %s", what, g, w)
	}
}
