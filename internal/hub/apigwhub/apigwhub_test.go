package apigwhub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/hub/apigwhub"
	"bucketdesk/internal/hub/apigwhub/apigwtest"
	"bucketdesk/internal/realtime"
	"bucketdesk/internal/store/boltstore"
)

// wait bounds every wait on an event; it is a deadline for a broken test,
// not a timing assertion.
const wait = 30 * time.Second

type env struct {
	hub   *apigwhub.Hub
	fake  *apigwtest.Server
	store *boltstore.Store
	now   time.Time
}

func newEnv(t *testing.T, opts *apigwhub.Options) *env {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fake := apigwtest.NewServer(t)
	if opts == nil {
		opts = &apigwhub.Options{}
	}
	if opts.Backoff == 0 {
		opts.Backoff = time.Millisecond
	}
	return &env{hub: apigwhub.New(fake.Client(), st, opts), fake: fake, store: st, now: time.Now()}
}

// connect registers a live connection in API Gateway (the fake) and in the
// store, as $connect does.
func (e *env) connect(t *testing.T, id string, projects ...string) {
	t.Helper()
	e.fake.Register(id)
	e.put(t, id, e.now.Add(2*time.Hour), projects...)
}

func (e *env) put(t *testing.T, id string, expires time.Time, projects ...string) {
	t.Helper()
	err := e.store.PutConnection(context.Background(), &core.Connection{
		ID: id, User: "alice", Projects: projects, ConnectedAt: e.now, ExpiresAt: expires,
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) listed(t *testing.T, project string) []string {
	t.Helper()
	cs, err := e.store.ListConnections(context.Background(), project, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

func message(project string) core.Message {
	return core.Message{
		Type: core.MsgResource, Project: project, Kind: core.KindBucket, Name: "data", Version: 3,
		Resource: &core.Resource{Project: project, Kind: core.KindBucket, Name: "data", StackName: "bd-" + project + "-bucket-data", Version: 3},
	}
}

func TestPublishFansOutToTheProjectOnly(t *testing.T) {
	e := newEnv(t, nil)
	// API Gateway connection ids look like this, '=' included.
	e.connect(t, "TWegAcC4EowCHnA=", "p1")
	e.connect(t, "R1kmxc2VNjMCFIA=", "p1", "p2")
	e.connect(t, "other", "p2")
	// Registered in API Gateway but expired in the store: not listed.
	e.fake.Register("expired")
	e.put(t, "expired", e.now.Add(-time.Second), "p1")

	msg := message("p1")
	if err := e.hub.Publish(context.Background(), "p1", msg); err != nil {
		t.Fatal(err)
	}
	want := realtime.Encode(msg, apigwhub.DefaultMaxFrame)
	for _, id := range []string{"TWegAcC4EowCHnA=", "R1kmxc2VNjMCFIA="} {
		fs := e.fake.Frames(id)
		if len(fs) != 1 || !bytes.Equal(fs[0], want) {
			t.Errorf("frames of %s = %q, want [%s]", id, fs, want)
		}
	}
	for _, id := range []string{"other", "expired"} {
		if fs := e.fake.Frames(id); len(fs) != 0 {
			t.Errorf("frames of %s = %q, want none", id, fs)
		}
	}
	var got core.Message
	if err := json.Unmarshal(e.fake.Frames("TWegAcC4EowCHnA=")[0], &got); err != nil || got.Type != core.MsgResource || got.Version != 3 || got.Project != "p1" {
		t.Errorf("frame decodes to %+v, %v", got, err)
	}
	if s := e.hub.Stats(); s.Posted != 2 || s.Gone != 0 || s.Failed != 0 || s.Published != 1 {
		t.Errorf("stats = %+v", s)
	}
}

func TestPublishWithoutConnections(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.hub.Publish(context.Background(), "nobody", message("nobody")); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.Posts(); n != 0 {
		t.Errorf("posts = %d, want 0", n)
	}
}

func TestGoneDeletesThatConnectionOnly(t *testing.T) {
	e := newEnv(t, nil)
	e.connect(t, "c1", "p1")
	e.connect(t, "c2", "p1", "p2")
	e.connect(t, "c3", "p1")
	e.fake.Close("c2") // the client went away without $disconnect

	if err := e.hub.Publish(context.Background(), "p1", message("p1")); err != nil {
		t.Fatal(err)
	}
	if got := e.listed(t, "p1"); !slices.Equal(got, []string{"c1", "c3"}) {
		t.Errorf("p1 connections after publish = %v, want [c1 c3]", got)
	}
	if got := e.listed(t, "p2"); len(got) != 0 {
		t.Errorf("p2 connections after publish = %v, want none (c2 is gone everywhere)", got)
	}
	for _, id := range []string{"c1", "c3"} {
		if n := len(e.fake.Frames(id)); n != 1 {
			t.Errorf("frames of %s = %d, want 1", id, n)
		}
	}
	if s := e.hub.Stats(); s.Posted != 2 || s.Gone != 1 || s.Failed != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestRetriesTransientErrorsThenDelivers(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusTooManyRequests} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := newEnv(t, &apigwhub.Options{Attempts: 3})
			e.connect(t, "c1", "p1")
			e.fake.Fail("c1", 2, status)

			if err := e.hub.Publish(context.Background(), "p1", message("p1")); err != nil {
				t.Fatal(err)
			}
			if n := len(e.fake.Frames("c1")); n != 1 {
				t.Errorf("frames = %d, want 1", n)
			}
			if n := e.fake.Posts(); n != 3 {
				t.Errorf("posts = %d, want 3", n)
			}
			if s := e.hub.Stats(); s.Posted != 1 || s.Retried != 2 || s.Failed != 0 || s.Gone != 0 {
				t.Errorf("stats = %+v", s)
			}
		})
	}
}

// A post that still fails after its attempts closes that connection and
// forgets it: its client missed a frame, and reconnecting makes it resync.
// The other connections are not touched.
func TestGivesUpAfterAttemptsAndClosesTheConnection(t *testing.T) {
	var logs bytes.Buffer // written once, after the posts
	e := newEnv(t, &apigwhub.Options{Attempts: 3, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	e.connect(t, "c1", "p1")
	e.connect(t, "c2", "p1")
	e.fake.Fail("c1", 3, http.StatusInternalServerError) // every attempt; the close works

	if err := e.hub.Publish(context.Background(), "p1", message("p1")); err != nil {
		t.Fatalf("Publish = %v, want nil: failed posts are counted, not returned", err)
	}
	if n := len(e.fake.Frames("c2")); n != 1 {
		t.Errorf("frames of c2 = %d, want 1", n)
	}
	if got := e.listed(t, "p1"); !slices.Equal(got, []string{"c2"}) {
		t.Errorf("connections = %v, want c2 only: the failing one is forgotten", got)
	}
	if e.fake.Open("c1") || !e.fake.Open("c2") {
		t.Errorf("open: c1 %v, c2 %v; want c1 closed (its client reconnects and resyncs), c2 open", e.fake.Open("c1"), e.fake.Open("c2"))
	}
	if s := e.hub.Stats(); s.Posted != 1 || s.Failed != 1 || s.Retried != 2 || s.Disconnected != 1 {
		t.Errorf("stats = %+v", s)
	}
	if l := logs.String(); strings.Count(l, "\n") != 1 || !strings.Contains(l, "failed=1") || strings.Contains(l, `"data"`) {
		t.Errorf("logs = %q, want one line counting the failure, without the frame", l)
	}
}

// When API Gateway cannot close the connection either, it is kept: it
// gets the next frames.
func TestKeepsAConnectionItCannotClose(t *testing.T) {
	e := newEnv(t, &apigwhub.Options{Attempts: 2, Logger: slog.New(slog.DiscardHandler)})
	e.connect(t, "c1", "p1")
	e.fake.Fail("c1", 3, http.StatusInternalServerError) // two posts, then the close
	if err := e.hub.Publish(context.Background(), "p1", message("p1")); err != nil {
		t.Fatal(err)
	}
	if got := e.listed(t, "p1"); !slices.Equal(got, []string{"c1"}) || !e.fake.Open("c1") {
		t.Errorf("connections = %v, open %v; want c1 kept", got, e.fake.Open("c1"))
	}
	if s := e.hub.Stats(); s.Disconnected != 0 || s.Failed != 1 {
		t.Errorf("stats = %+v", s)
	}
}

func TestDoesNotRetryWhatRetryingCannotFix(t *testing.T) {
	e := newEnv(t, &apigwhub.Options{Attempts: 5})
	e.connect(t, "c1", "p1")
	e.fake.Fail("c1", 1, http.StatusForbidden)

	if err := e.hub.Publish(context.Background(), "p1", message("p1")); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.Posts(); n != 1 {
		t.Errorf("posts = %d, want 1", n)
	}
	if s := e.hub.Stats(); s.Failed != 1 || s.Retried != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestBoundedConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  *apigwhub.Options
		limit int
	}{
		{"option", &apigwhub.Options{Concurrency: 4}, 4},
		{"default", nil, apigwhub.DefaultConcurrency},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			n := 3*tc.limit + 1
			for i := range n {
				e.connect(t, fmt.Sprintf("c%02d", i), "p1")
			}
			// Hold every post until the hub has as many in flight as it
			// may; then none more can be waiting to start.
			e.fake.Pause()
			done := make(chan error, 1)
			go func() { done <- e.hub.Publish(context.Background(), "p1", message("p1")) }()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			if err := e.fake.WaitInFlight(ctx, tc.limit); err != nil {
				t.Fatal(err)
			}
			e.fake.Resume()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := e.fake.MaxInFlight(); got != tc.limit {
				t.Errorf("max posts in flight = %d, want %d", got, tc.limit)
			}
			if s := e.hub.Stats(); s.Posted != int64(n) {
				t.Errorf("posted = %d, want %d", s.Posted, n)
			}
		})
	}
}

func TestSameBytesToEveryConnection(t *testing.T) {
	e := newEnv(t, &apigwhub.Options{Concurrency: 3})
	for i := range 10 {
		e.connect(t, fmt.Sprintf("c%d", i), "p1")
	}
	msg := message("p1")
	msg.Operation = &core.Operation{ID: "01J00000000000000000000000", Project: "p1", Status: "running",
		Events: []core.StackEvent{{EventID: "e1", ResourceStatus: "UPDATE_IN_PROGRESS"}}}
	if err := e.hub.Publish(context.Background(), "p1", msg); err != nil {
		t.Fatal(err)
	}
	first := e.fake.Frames("c0")
	if len(first) != 1 {
		t.Fatalf("frames of c0 = %d", len(first))
	}
	for i := range 10 {
		fs := e.fake.Frames(fmt.Sprintf("c%d", i))
		if len(fs) != 1 || !bytes.Equal(fs[0], first[0]) {
			t.Errorf("frames of c%d = %q, want %q", i, fs, first)
		}
	}
}

func TestOversizeMessages(t *testing.T) {
	e := newEnv(t, nil)
	e.connect(t, "c1", "p1")

	events := make([]core.StackEvent, 400)
	for i := range events {
		events[i] = core.StackEvent{EventID: fmt.Sprintf("event-%04d", i), StatusReason: strings.Repeat("x", 100)}
	}
	// Too big with its events, small without them: sent without them.
	stripped := message("p1")
	stripped.Type = core.MsgOperation
	stripped.Operation = &core.Operation{ID: "op1", Project: "p1", Events: events}
	// Too big even without events: a resync notice.
	huge := message("p1")
	huge.Resource.Observed.StatusReason = strings.Repeat("y", 40*1024)

	for _, m := range []core.Message{stripped, huge} {
		if err := e.hub.Publish(context.Background(), "p1", m); err != nil {
			t.Fatal(err)
		}
	}
	fs := e.fake.Frames("c1")
	if len(fs) != 2 {
		t.Fatalf("frames = %d, want 2", len(fs))
	}
	for i, f := range fs {
		if len(f) > apigwhub.DefaultMaxFrame {
			t.Errorf("frame %d is %d bytes, over the %d limit", i, len(f), apigwhub.DefaultMaxFrame)
		}
	}
	var got core.Message
	if err := json.Unmarshal(fs[0], &got); err != nil || got.Type != core.MsgOperation || got.Operation == nil || got.Operation.ID != "op1" || len(got.Operation.Events) != 0 {
		t.Errorf("first frame = %.200s (%v), want the operation without events", fs[0], err)
	}
	if want := `{"type":"resync","project":"p1"}`; string(fs[1]) != want {
		t.Errorf("second frame = %.200s, want %s", fs[1], want)
	}
	// The caller's message is shared: it must not have been stripped.
	if len(stripped.Operation.Events) != 400 {
		t.Errorf("publish changed the caller's message")
	}
}

// failingStore injects a listing failure.
type failingStore struct{ core.ConnectionStore }

func (failingStore) ListConnections(context.Context, string, time.Time) ([]*core.Connection, error) {
	return nil, fmt.Errorf("injected: %w", core.ErrUnavailable)
}

func TestPublishFailsWhenListingFails(t *testing.T) {
	e := newEnv(t, nil)
	h := apigwhub.New(e.fake.Client(), failingStore{e.store}, nil)
	err := h.Publish(context.Background(), "p1", message("p1"))
	if !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("Publish = %v, want ErrUnavailable", err)
	}
}

func TestPostMapsErrorKinds(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.Register("c1")
	ctx := context.Background()
	if err := e.hub.Post(ctx, "c1", []byte(`{"type":"pong"}`)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status int
		kind   error
	}{
		{http.StatusGone, core.ErrNotFound},
		{http.StatusTooManyRequests, core.ErrThrottled},
		{http.StatusForbidden, core.ErrForbidden},
		{http.StatusRequestEntityTooLarge, core.ErrInvalid},
		{http.StatusBadRequest, core.ErrInvalid},
		{http.StatusInternalServerError, core.ErrUnavailable},
		{http.StatusBadGateway, core.ErrUnavailable},
	} {
		e.fake.Fail("c1", 1, tc.status)
		if err := e.hub.Post(ctx, "c1", []byte("x")); !errors.Is(err, tc.kind) {
			t.Errorf("post answered %d: %v, want %v", tc.status, err, tc.kind)
		}
	}
	if err := e.hub.Post(ctx, "never-connected", []byte("x")); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("post to an unknown connection = %v, want ErrNotFound", err)
	}
	if got := e.fake.Frames("c1"); len(got) != 1 || string(got[0]) != `{"type":"pong"}` {
		t.Errorf("frames = %q", got)
	}
}

func TestCancelledPublishCountsWhatItDidNotDeliver(t *testing.T) {
	e := newEnv(t, &apigwhub.Options{Concurrency: 1})
	for i := range 3 {
		e.connect(t, fmt.Sprintf("c%d", i), "p1")
	}
	e.fake.Pause()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.hub.Publish(ctx, "p1", message("p1")) }()
	wctx, wcancel := context.WithTimeout(context.Background(), wait)
	defer wcancel()
	if err := e.fake.WaitInFlight(wctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Publish = %v, want nil", err)
	}
	if n := e.fake.Posts(); n != 1 {
		t.Errorf("posts = %d, want 1", n)
	}
	if s := e.hub.Stats(); s.Failed != 3 || s.Posted != 0 {
		t.Errorf("stats = %+v, want 3 failed", s)
	}
}

// PublishAll reads the connections once for all its messages and posts
// them to each connection in order; a connection found gone on the first
// is deleted and not posted the second.
func TestPublishAllReadsConnectionsOnce(t *testing.T) {
	e := newEnv(t, nil)
	e.connect(t, "c1", "p1")
	e.connect(t, "c2", "p1")
	e.connect(t, "c3", "p1")
	e.fake.Close("c2")
	first, second := message("p1"), message("p1")
	second.Type, second.Version = core.MsgEvent, 4
	if err := e.hub.PublishAll(context.Background(), "p1", []core.Message{first, second}); err != nil {
		t.Fatal(err)
	}
	want := [][]byte{realtime.Encode(first, apigwhub.DefaultMaxFrame), realtime.Encode(second, apigwhub.DefaultMaxFrame)}
	for _, id := range []string{"c1", "c3"} {
		fs := e.fake.Frames(id)
		if len(fs) != 2 || !bytes.Equal(fs[0], want[0]) || !bytes.Equal(fs[1], want[1]) {
			t.Errorf("frames of %s = %q, want both messages in order", id, fs)
		}
	}
	if n := e.fake.Posts(); n != 5 {
		t.Errorf("posts = %d, want 5 (2 each to c1 and c3, 1 to the gone c2)", n)
	}
	if got := e.listed(t, "p1"); !slices.Equal(got, []string{"c1", "c3"}) {
		t.Errorf("p1 connections = %v, want [c1 c3]", got)
	}
	if s := e.hub.Stats(); s.Pages != 1 || s.Published != 1 || s.Posted != 4 || s.Gone != 1 || s.Failed != 0 {
		t.Errorf("stats = %+v, want one listing, 4 posted, 1 gone", s)
	}
}
