package apigwhub_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/hub/apigwhub"
	"bucketdesk/internal/hub/apigwhub/apigwtest"
	"bucketdesk/internal/store/dynamostore"
	"bucketdesk/internal/store/dynamostore/dynalitetest"
)

// dynEnv is a Hub on the @connections stand-in whose connections are in
// DynamoDB (dynalite), read by pages.
type dynEnv struct {
	hub   *apigwhub.Hub
	fake  *apigwtest.Server
	store *dynamostore.Store
	now   time.Time
}

func newDynEnv(t *testing.T, opts apigwhub.Options) *dynEnv {
	t.Helper()
	client := dynalitetest.Client(dynalitetest.Start(t))
	st, err := dynamostore.New(client, dynalitetest.CreateTable(t, client), nil)
	if err != nil {
		t.Fatal(err)
	}
	fake := apigwtest.NewServer(t)
	if opts.Backoff == 0 {
		opts.Backoff = time.Millisecond
	}
	return &dynEnv{hub: apigwhub.New(fake.Client(), st, &opts), fake: fake, store: st, now: time.Now()}
}

// connect registers n connections of project, named prefix-000…, in API
// Gateway (the stand-in) and in DynamoDB, and returns their ids.
func (e *dynEnv) connect(t *testing.T, project, prefix string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%03d=", prefix, i)
		e.fake.Register(ids[i])
		err := e.store.PutConnection(t.Context(), &core.Connection{
			ID: ids[i], User: "alice", Projects: []string{project}, ConnectedAt: e.now, ExpiresAt: e.now.Add(2 * time.Hour),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func (e *dynEnv) listed(t *testing.T, project string) []string {
	t.Helper()
	cs, err := e.store.ListConnections(t.Context(), project, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return ids(cs)
}

func ids(cs []*core.Connection) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.ID)
	}
	slices.Sort(out)
	return out
}

// waitFor polls cond until it holds; the deadline only turns a hang into
// a failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Every connection of the project, over several pages, gets the frame
// once; the ones API Gateway says are gone (410) are deleted from
// DynamoDB and the others are untouched; the posts in flight never exceed
// the bound.
func TestFanOutOverPagesCleansUpGone(t *testing.T) {
	e := newDynEnv(t, apigwhub.Options{Concurrency: 8, PageSize: 25})
	all := e.connect(t, "p1", "c", 120)
	// Posts that take a while keep every slot the hub uses busy.
	e.fake.SetLatency(5 * time.Millisecond)
	others := e.connect(t, "p2", "other", 3)
	var gone, live []string
	for i, id := range all {
		if i%20 == 7 { // 5 %: the client went away without $disconnect
			e.fake.Close(id)
			gone = append(gone, id)
		} else {
			live = append(live, id)
		}
	}

	if err := e.hub.Publish(t.Context(), "p1", message("p1")); err != nil {
		t.Fatal(err)
	}
	for _, id := range live {
		if n := len(e.fake.Frames(id)); n != 1 {
			t.Errorf("frames of %s = %d, want 1", id, n)
		}
	}
	for _, id := range append(slices.Clone(gone), others...) {
		if n := len(e.fake.Frames(id)); n != 0 {
			t.Errorf("frames of %s = %d, want 0", id, n)
		}
	}
	if got := e.listed(t, "p1"); !slices.Equal(got, live) {
		t.Errorf("p1's connections after the publish: %d (%v), want the %d live ones", len(got), got, len(live))
	}
	if got := e.listed(t, "p2"); !slices.Equal(got, others) {
		t.Errorf("p2's connections = %v, want %v untouched", got, others)
	}
	// 120 connections by 25: five Queries.
	if s := e.hub.Stats(); s.Posted != int64(len(live)) || s.Gone != int64(len(gone)) || s.Failed != 0 || s.Pages != 5 || s.Published != 1 {
		t.Errorf("stats = %+v, want %d posted, %d gone, 5 pages", s, len(live), len(gone))
	}
	if got := e.fake.MaxInFlight(); got > 8 {
		t.Errorf("max posts in flight = %d, over the bound of 8", got)
	}

	// The next publish posts to the live ones only.
	posts := e.fake.Posts()
	if err := e.hub.Publish(t.Context(), "p1", message("p1")); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.Posts() - posts; n != len(live) {
		t.Errorf("second publish made %d posts, want %d", n, len(live))
	}
	if s := e.hub.Stats(); s.Gone != int64(len(gone)) || s.Posted != 2*int64(len(live)) {
		t.Errorf("stats after the second publish = %+v", s)
	}
}

// The bound holds across pages: with pages smaller than the bound, posts
// of the next page fill the free slots, and never more.
func TestFanOutBoundAcrossPages(t *testing.T) {
	const limit = 5
	e := newDynEnv(t, apigwhub.Options{Concurrency: limit, PageSize: 3})
	n := 23
	e.connect(t, "p1", "c", n)
	e.fake.Pause()
	done := make(chan error, 1)
	go func() { done <- e.hub.Publish(context.Background(), "p1", message("p1")) }()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	// Reaching the bound takes two pages.
	if err := e.fake.WaitInFlight(ctx, limit); err != nil {
		t.Fatal(err)
	}
	// The rest take a while each, so that the hub keeps as many in
	// flight as it lets itself.
	e.fake.SetLatency(10 * time.Millisecond)
	e.fake.Resume()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := e.fake.MaxInFlight(); got != limit {
		t.Errorf("max posts in flight = %d, want %d", got, limit)
	}
	if s := e.hub.Stats(); s.Posted != int64(n) || s.Pages != 8 {
		t.Errorf("stats = %+v, want %d posted over 8 pages", s, n)
	}
}

// Slow connections hold one slot each: with all but one slot held, every
// other connection still gets the frame before they answer.
func TestFanOutSlowConnectionsHoldOnlyTheirSlots(t *testing.T) {
	const limit = 4
	e := newDynEnv(t, apigwhub.Options{Concurrency: limit, PageSize: 7})
	all := e.connect(t, "p1", "c", 40)
	slow := []string{all[0], all[9], all[20]} // limit-1 of them, on several pages
	var releases []func()
	for _, id := range slow {
		releases = append(releases, e.fake.Hold(id))
	}
	var once sync.Once
	releaseAll := func() {
		once.Do(func() {
			for _, r := range releases {
				r()
			}
		})
	}
	t.Cleanup(releaseAll)

	done := make(chan error, 1)
	go func() { done <- e.hub.Publish(context.Background(), "p1", message("p1")) }()
	waitFor(t, "every other connection to get the frame while three are slow", func() bool {
		for _, id := range all {
			if !slices.Contains(slow, id) && len(e.fake.Frames(id)) != 1 {
				return false
			}
		}
		return true
	})
	for _, id := range slow {
		if n := len(e.fake.Frames(id)); n != 0 {
			t.Errorf("slow %s answered before its release: %d frames", id, n)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Publish returned (%v) before the slow posts were answered", err)
	default:
	}
	releaseAll()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, id := range slow {
		if n := len(e.fake.Frames(id)); n != 1 {
			t.Errorf("frames of slow %s = %d, want 1", id, n)
		}
	}
	if got := e.fake.MaxInFlight(); got > limit {
		t.Errorf("max posts in flight = %d, over the bound of %d", got, limit)
	}
}

// pageFailure fails the reading of the connections after its first page.
type pageFailure struct{ *dynamostore.Store }

func (p pageFailure) ConnectionPages(ctx context.Context, project string, now time.Time, size int, page func([]*core.Connection) error) error {
	n := 0
	return p.Store.ConnectionPages(ctx, project, now, size, func(cs []*core.Connection) error {
		if n++; n > 1 {
			return fmt.Errorf("injected: %w", core.ErrUnavailable)
		}
		return page(cs)
	})
}

// A page that cannot be read fails the publish, after the connections
// of the pages before it got the frame.
func TestFanOutPageFailure(t *testing.T) {
	e := newDynEnv(t, apigwhub.Options{})
	all := e.connect(t, "p1", "c", 12)
	h := apigwhub.New(e.fake.Client(), pageFailure{e.store}, &apigwhub.Options{PageSize: 5})
	err := h.Publish(t.Context(), "p1", message("p1"))
	if !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("Publish = %v, want ErrUnavailable", err)
	}
	got := 0
	for _, id := range all {
		got += len(e.fake.Frames(id))
	}
	if got != 5 {
		t.Errorf("frames = %d, want the first page's 5", got)
	}
}

// pageCounter counts the pages the hub reads.
type pageCounter struct {
	*dynamostore.Store
	read atomic.Int64
}

func (p *pageCounter) ConnectionPages(ctx context.Context, project string, now time.Time, size int, page func([]*core.Connection) error) error {
	return p.Store.ConnectionPages(ctx, project, now, size, func(cs []*core.Connection) error {
		p.read.Add(1)
		return page(cs)
	})
}

// The hub reads ahead of its posts by one page at most: while every slot
// waits for API Gateway, it has read the pages it is posting from, one
// more waiting, and holds the one after that, and reads no further.
func TestFanOutReadsAheadOnePage(t *testing.T) {
	const limit = 5
	e := newDynEnv(t, apigwhub.Options{})
	e.connect(t, "p1", "c", 30)
	pc := &pageCounter{Store: e.store}
	h := apigwhub.New(e.fake.Client(), pc, &apigwhub.Options{Concurrency: limit, PageSize: 3})
	e.fake.Pause()
	done := make(chan error, 1)
	go func() { done <- h.Publish(context.Background(), "p1", message("p1")) }()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := e.fake.WaitInFlight(ctx, limit); err != nil {
		t.Fatal(err)
	}
	// Posting from pages 1 and 2 (3 + 2 connections), page 3 waiting,
	// page 4 read and held.
	waitFor(t, "four pages read", func() bool { return pc.read.Load() >= 4 })
	time.Sleep(50 * time.Millisecond) // room for a hub that reads on to show it
	if n := pc.read.Load(); n != 4 {
		t.Errorf("pages read while every slot is busy = %d, want 4", n)
	}
	e.fake.Resume()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Ten full pages, and an empty one: the tenth ended at the Limit, so
	// DynamoDB returned a LastEvaluatedKey.
	if s := h.Stats(); s.Posted != 30 || s.Pages != 11 {
		t.Errorf("stats = %+v, want 30 posted over 11 pages", s)
	}
}
