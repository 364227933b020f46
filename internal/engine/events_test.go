package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/hub/localhub"
	"bucketdesk/internal/stacks"
	"bucketdesk/internal/store/boltstore"
)

// flakyStore fails GetResource with err on its first fails calls.
type flakyStore struct {
	core.ResourceStore
	mu    sync.Mutex
	err   error
	fails int
	gets  int
}

func (s *flakyStore) GetResource(ctx context.Context, key core.ResourceKey) (*core.Resource, error) {
	s.mu.Lock()
	s.gets++
	fail := s.gets <= s.fails
	s.mu.Unlock()
	if fail {
		return nil, s.err
	}
	return s.ResourceStore.GetResource(ctx, key)
}

// instantClock ends every wait at once and counts them.
type instantClock struct {
	mu    sync.Mutex
	waits int
}

func (c *instantClock) Now() time.Time { return time.Now() }

func (c *instantClock) After(time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.waits++
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Now()
	return ch
}

// parseTest reads "event" as a progress event of a bucket's stack and
// anything else as unreadable.
func parseTest(body []byte) (core.StackEvent, error) {
	if string(body) != "event" {
		return core.StackEvent{}, fmt.Errorf("%w: not an event", core.ErrInvalid)
	}
	return core.StackEvent{StackName: stacks.StackName("demo", core.KindBucket, "flaky"), EventID: "e-1",
		ResourceStatus: "CREATE_IN_PROGRESS", Timestamp: time.Now()}, nil
}

func newConsumer(t *testing.T, err error, fails int) (*engine.Mirror, *flakyStore, *instantClock) {
	t.Helper()
	bs, oerr := boltstore.Open(filepath.Join(t.TempDir(), "db"), nil)
	if oerr != nil {
		t.Fatal(oerr)
	}
	t.Cleanup(func() { bs.Close() })
	store := &flakyStore{ResourceStore: bs, err: err, fails: fails}
	clk := &instantClock{}
	e := engine.New(engine.Options{Resources: store, Projects: bs, Hub: localhub.New(), Clock: clk,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	return e.Mirror, store, clk
}

// An unreadable notification is dropped without touching the cache.
func TestConsumeDropsUnreadable(t *testing.T) {
	m, store, _ := newConsumer(t, nil, 0)
	if err := m.Consume(t.Context(), parseTest, []byte("garbage")); err != nil {
		t.Fatalf("Consume = %v, want nil", err)
	}
	if store.gets != 0 {
		t.Errorf("cache reads = %d, want 0", store.gets)
	}
}

// A transient failure is retried with waits until the event applies.
func TestConsumeRetriesTransientFailures(t *testing.T) {
	m, store, clk := newConsumer(t, fmt.Errorf("%w: throttled read", core.ErrThrottled), 2)
	if err := m.Consume(t.Context(), parseTest, []byte("event")); err != nil {
		t.Fatalf("Consume = %v, want nil", err)
	}
	if store.gets != 3 || clk.waits != 2 {
		t.Errorf("cache reads = %d, waits = %d; want 3 and 2", store.gets, clk.waits)
	}
}

// An event that fails for good is dropped for the reconciler at once.
func TestConsumeDropsPermanentFailures(t *testing.T) {
	m, store, clk := newConsumer(t, fmt.Errorf("%w: corrupt item", core.ErrInternal), 10)
	if err := m.Consume(t.Context(), parseTest, []byte("event")); err != nil {
		t.Fatalf("Consume = %v, want nil", err)
	}
	if store.gets != 1 || clk.waits != 0 {
		t.Errorf("cache reads = %d, waits = %d; want 1 and 0", store.gets, clk.waits)
	}
}

// An event still failing transiently after its retries is handed back,
// named, for its source to deliver again.
func TestConsumeHandsBackPersistentTransientFailures(t *testing.T) {
	m, store, _ := newConsumer(t, fmt.Errorf("%w: table down", core.ErrUnavailable), 1000)
	err := m.Consume(t.Context(), parseTest, []byte("event"))
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "bd-demo--b-flaky") {
		t.Fatalf("Consume = %v, want ErrUnavailable naming the stack", err)
	}
	if store.gets < 2 {
		t.Errorf("cache reads = %d, want retries", store.gets)
	}
	if store.gets >= 1000 {
		t.Errorf("cache reads = %d, want a bounded number", store.gets)
	}
}

// An event whose caller gave up is handed back, not dropped.
func TestConsumeHandsBackWhenContextEnds(t *testing.T) {
	m, _, _ := newConsumer(t, nil, 0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.Consume(ctx, parseTest, []byte("event")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume = %v, want context.Canceled", err)
	}
}
