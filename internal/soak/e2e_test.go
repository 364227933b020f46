package soak

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/setup"
	"bucketdesk/internal/wsapi"
)

// TestChurnAgainstInProcessServer runs the soak's churn, tracker, drain,
// comparison and report against the whole local server (setup.OpenLocal
// and its handler) behind httptest on loopback, as bucketdesk serve runs
// it, over a fast sandbox. It asserts what the soak must get right whatever
// the engine does: every answer and operation accounted for, every name
// compared, and no secret in the report.
func TestChurnAgainstInProcessServer(t *testing.T) {
	const password = "soak-test-password-not-secret"
	dir := t.TempDir()
	sb := simcloud.ZeroOptions()
	sb.ResourceDuration = 5 * time.Millisecond
	sb.NoSync = true
	l, err := setup.OpenLocal(setup.LocalConfig{
		DataDir: dir, Sandbox: sb, CloudRate: -1, ReconcileEvery: time.Hour,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			l.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, _, err := l.EnsureProject(ctx, setup.DemoProject([]string{"alice", "bob"})); err != nil {
		t.Fatal(err)
	}
	if _, err := setup.EnsureDemoUsers(dir, password); err != nil {
		t.Fatal(err)
	}
	srv, err := l.Server(setup.ServerConfig{WS: wsapi.Limits{MaxAge: time.Minute, IdleTimeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler)
	hs.Listener.Close()
	if hs.Listener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	hs.Start()
	defer hs.Close()
	defer srv.Close()
	l.Start(ctx)

	api := NewAPI(hs.URL, 10*time.Second, 4)
	defer api.Close()
	if err := api.Login(ctx, "alice", "zq-bad-pw-7Qx"); err == nil {
		t.Fatal("a wrong password logged in")
	} else if strings.Contains(err.Error(), "zq-bad-pw") {
		t.Fatalf("the login error quotes the password: %v", err)
	}
	if err := api.Login(ctx, "alice", password); err != nil {
		t.Fatal(err)
	}

	o := ChurnOptions{Project: "demo", RunID: "t3st", Clients: 2, Names: 3, Seed: 42, DeleteProb: 0.5, Pause: 2 * time.Millisecond}
	start := time.Now()
	rec := NewRecorder(start)
	stop := make(chan struct{})
	trackerStop := make(chan struct{})
	trackerDone := make(chan struct{})
	go func() {
		TrackUntil(ctx, trackerStop, api, rec, 200*time.Millisecond)
		close(trackerDone)
	}()
	time.AfterFunc(2*time.Second, func() { close(stop) })
	Churn(ctx, stop, api, o, rec)
	close(trackerStop)
	<-trackerDone
	churned := time.Since(start)

	drainCtx, cancelDrain := context.WithTimeout(ctx, 20*time.Second)
	left := Drain(drainCtx, api, rec, 100*time.Millisecond)
	cancelDrain()

	// The quiet point and one reconcile pass, then the comparison both on
	// the live objects and on the files, as the command makes it.
	if err := l.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Engine.Reconciler.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	names := o.AllNames()
	live, err := Compare(ctx, l.Store, l.Store, l.Sandbox, "demo", names)
	if err != nil {
		t.Fatal(err)
	}
	hs.Close()
	srv.Close()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	fc, err := CompareFiles(ctx, dir, "demo", names)
	if err != nil {
		t.Fatal(err)
	}
	if fc.Checked != live.Checked || len(fc.Mismatches) != len(live.Mismatches) || fc.Live != live.Live {
		t.Errorf("files %+v, live objects %+v", fc.Comparison, live)
	}

	res := rec.Results()
	rep := &Report{RunID: o.RunID, Bin: "(in process)", Churn: o, Planned: 2 * time.Second, Churned: churned,
		DrainLeft: left, DataDir: dir, Results: res, Comparison: fc,
		Samples: []Sample{Measure(dir, 0)}}
	md := rep.Markdown()
	t.Logf("report:\n%s", md)

	// Every name was visited: the first visit of each is a GET 404 and a
	// create.
	if res.Requests[ActionGet][http.StatusNotFound] < len(names) || res.Requests[ActionCreate][http.StatusAccepted] == 0 {
		t.Errorf("requests %v", res.Requests)
	}
	if int(rec.Accepted()) != len(res.Ops) || len(res.Ops) < len(names) {
		t.Errorf("%d accepted, %d ops recorded, %d names", rec.Accepted(), len(res.Ops), len(names))
	}
	seen := map[string]bool{}
	for _, op := range res.Ops {
		if op.ID == "" || seen[op.ID] || op.Name == "" || op.Action == "" {
			t.Errorf("op %+v", op)
		}
		seen[op.ID] = true
		if core.OpStatus(op.Status).Terminal() != (op.Outcome() == OutcomeSucceeded || op.Outcome() == OutcomeFailed) {
			t.Errorf("op %+v outcome %s", op, op.Outcome())
		}
	}
	c := rep.Counts()
	if c.Succeeded+c.Failed+c.NotEnded+c.Gone != len(res.Ops) || c.NotEnded+c.Gone != left {
		t.Errorf("counts %+v, %d ops, %d left", c, len(res.Ops), left)
	}
	if fc.Checked < len(names) || fc.Live+fc.Absent != fc.Checked {
		t.Errorf("comparison %+v", fc.Comparison)
	}
	for _, secret := range []string{password, api.token} {
		if secret == "" || strings.Contains(md, secret) {
			t.Error("a secret in the report")
		}
	}
	for _, want := range []string{"## Operations accepted", "## Cache vs sandbox at the end", "## Growth", "soak-t3st-0-0"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
