package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/setup"
)

// trail returns the demo project's records of one resource, oldest first.
func trail(t *testing.T, l *setup.Local, kind core.Kind, name string) []*core.AuditRecord {
	t.Helper()
	rs, _, err := l.Auditor.List(t.Context(), alice, "demo", core.AuditFilter{Kind: kind, Name: name}, core.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
	return rs
}

// outcomes is the outcome of each record, in order.
func outcomes(rs []*core.AuditRecord) []string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r.Action)+":"+r.Outcome)
	}
	return out
}

func sameStrings(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// lockedBuffer is a log destination safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestAuditChanges: a create is recorded accepted, with the request's
// address and user agent, then succeeded with the same operation id; a
// second create is refused (409) with its reason; a create that
// CloudFormation fails is recorded failed with the stack's reason; every
// record reaches the project's live subscribers.
func TestAuditChanges(t *testing.T) {
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	ctx := core.WithRequestInfo(t.Context(), core.RequestInfo{SourceIP: "203.0.113.7", UserAgent: "audit-test/1"})
	l.Start(t.Context())
	live := record(t, l, "demo")

	op := must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", bucket("logs")))
	settleAndReconcile(t, l)
	if _, err := l.Engine.Service.Create(ctx, bob, "demo", bucket("logs")); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("second create error = %v, want ErrConflict", err)
	}
	rs := trail(t, l, core.KindBucket, "logs")
	if want := []string{"create:accepted", "create:succeeded", "create:refused"}; !sameStrings(outcomes(rs), want) {
		t.Fatalf("records of bucket logs = %v, want %v", outcomes(rs), want)
	}
	acc, end, ref := rs[0], rs[1], rs[2]
	if acc.Actor != "alice" || acc.OperationID != op.ID || acc.SourceIP != "203.0.113.7" || acc.UserAgent != "audit-test/1" || acc.At.IsZero() {
		t.Errorf("accepted record = %+v, want alice's, operation %s, from 203.0.113.7 with audit-test/1", acc, op.ID)
	}
	if end.Actor != "alice" || end.OperationID != op.ID || end.Reason != "" {
		t.Errorf("succeeded record = %+v, want alice's operation %s without a reason", end, op.ID)
	}
	if ref.Actor != "bob" || ref.OperationID != "" || !strings.Contains(ref.Reason, "already exists") || ref.SourceIP != "203.0.113.7" {
		t.Errorf("refused record = %+v, want bob's, with the reason, from 203.0.113.7", ref)
	}

	// A create that CloudFormation fails.
	spec := bucket("doomed")
	spec.Bucket.Tags = map[string]string{simcloud.FailTag: "create"}
	op = must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", spec))
	settleAndReconcile(t, l)
	rs = trail(t, l, core.KindBucket, "doomed")
	if want := []string{"create:accepted", "create:failed"}; !sameStrings(outcomes(rs), want) {
		t.Fatalf("records of bucket doomed = %v, want %v", outcomes(rs), want)
	}
	if rs[1].OperationID != op.ID || rs[1].Reason == "" {
		t.Errorf("failed record = %+v, want operation %s with a reason", rs[1], op.ID)
	}

	// Recording an end again (a retry, another process) adds nothing.
	before := len(trail(t, l, core.KindBucket, "doomed"))
	settleAndReconcile(t, l)
	if after := len(trail(t, l, core.KindBucket, "doomed")); after != before {
		t.Errorf("a reconcile changed the trail of doomed from %d to %d records", before, after)
	}

	// Every record went live, as MsgAudit messages of the project.
	var audits int
	for _, m := range live.stop() {
		if m.Type == core.MsgAudit {
			if m.Audit == nil || m.Project != "demo" || m.Audit.Project != "demo" {
				t.Errorf("audit message %+v: want a record of demo", m)
			}
			audits++
		}
	}
	if audits != 5 {
		t.Errorf("%d audit messages published, want 5 (one per record)", audits)
	}

	// A request for a project that does not exist leaves no record; a
	// non-member's attempt on demo is recorded refused.
	if _, err := l.Engine.Service.Create(ctx, alice, "nope", bucket("x")); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("create in a missing project: %v", err)
	}
	mallory := core.Principal{User: "mallory"}
	if _, err := l.Engine.Service.Create(ctx, mallory, "demo", bucket("x")); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("create by a non-member: %v", err)
	}
	rs = trail(t, l, core.KindBucket, "x")
	if len(rs) != 1 || rs[0].Actor != "mallory" || rs[0].Outcome != core.OutcomeRefused {
		t.Errorf("records of bucket x = %+v, want mallory's refusal", rs)
	}
	if _, _, err := l.Auditor.List(t.Context(), mallory, "demo", core.AuditFilter{}, core.Page{}); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("a non-member's List error = %v, want ErrForbidden", err)
	}
	if _, _, err := l.Auditor.List(t.Context(), alice, core.PortalProject, core.AuditFilter{}, core.Page{}); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("a non-administrator's List of the portal error = %v, want ErrForbidden", err)
	}
	if _, _, err := l.Auditor.List(t.Context(), core.Principal{User: "root", Admin: true}, core.PortalProject, core.AuditFilter{}, core.Page{}); err != nil {
		t.Errorf("an administrator's List of the portal: %v", err)
	}
}

// TestAuditRevealHoldsNoSecret: a reveal is recorded with the key's id;
// a second reveal is recorded refused; and the secret is nowhere in the
// records, the cache file or the logs.
func TestAuditRevealHoldsNoSecret(t *testing.T) {
	dir := t.TempDir()
	logs := &lockedBuffer{}
	l := open(t, dir, simcloud.ZeroOptions(), func(c *setup.LocalConfig) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := t.Context()
	l.Start(ctx)
	must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", user("partner", 1)))
	settleAndReconcile(t, l)
	id, secret, err := l.Engine.Service.RevealKey(ctx, bob, "demo", "partner", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Engine.Service.RevealKey(ctx, alice, "demo", "partner", 1); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("second reveal: %v", err)
	}
	var reveals []*core.AuditRecord
	for _, r := range trail(t, l, core.KindUser, "partner") {
		if r.Action == core.AuditReveal {
			reveals = append(reveals, r)
		}
	}
	if len(reveals) != 2 || reveals[0].Actor != "bob" || reveals[0].Outcome != core.OutcomeSucceeded ||
		reveals[0].Detail["access_key_id"] != id || reveals[0].Detail["key"] != "1" ||
		reveals[1].Actor != "alice" || reveals[1].Outcome != core.OutcomeRefused {
		t.Fatalf("reveal records = %s, want bob's succeeded (key 1, %s) then alice's refused", jsonOf(t, reveals), id)
	}

	all, _, err := l.Auditor.List(ctx, alice, "demo", core.AuditFilter{}, core.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if s := jsonOf(t, all); strings.Contains(s, secret) {
		t.Errorf("an audit record holds the secret: %s", s)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(dir, "bucketdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(db, []byte(secret)) {
		t.Error("the cache file holds the secret")
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("the logs hold the secret")
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAuditPurge: the reconciler deletes records older than the
// retention, the portal's too.
func TestAuditPurge(t *testing.T) {
	l := open(t, t.TempDir(), simcloud.ZeroOptions(), func(c *setup.LocalConfig) { c.AuditRetention = time.Millisecond })
	ctx := t.Context()
	l.Start(ctx)
	must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", bucket("logs")))
	settleAndReconcile(t, l) // purges the create's records already
	l.Auditor.Record(ctx, core.AuditRecord{Project: "demo", Actor: "alice", Action: core.AuditReveal, Kind: core.KindUser, Name: "u", Outcome: core.OutcomeSucceeded})
	l.Auditor.Record(ctx, core.AuditRecord{Project: core.PortalProject, Actor: "alice", Action: core.AuditLogin, Outcome: core.OutcomeSucceeded})
	time.Sleep(5 * time.Millisecond)
	st, err := l.Engine.Reconciler.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// At least the reveal and the login; a late write of the create's end
	// (its record is written again, idempotently, by a repeated apply)
	// may be purged in the same pass.
	if st.Audit < 2 {
		t.Errorf("reconcile purged %d audit records, want at least 2 (the reveal, the login)", st.Audit)
	}
	for _, p := range []string{"demo", core.PortalProject} {
		rs, _, err := l.Auditor.List(ctx, core.Principal{User: "alice", Admin: true}, p, core.AuditFilter{}, core.Page{})
		if err != nil || len(rs) != 0 {
			t.Errorf("%s's trail after the purge = %d records, %v; want none", p, len(rs), err)
		}
	}
}

// brokenAudit is an AuditStore that is down.
type brokenAudit struct{}

func (brokenAudit) AppendAudit(context.Context, *core.AuditRecord) error {
	return core.ErrUnavailable
}

func (brokenAudit) ListAudit(context.Context, string, core.AuditFilter, core.Page) ([]*core.AuditRecord, string, error) {
	return nil, "", core.ErrUnavailable
}

func (brokenAudit) PurgeAudit(context.Context, string, time.Time, int) (int, error) {
	return 0, core.ErrUnavailable
}

// TestAuditorBestEffort: a record that cannot be written is logged, not
// published, and the caller goes on.
func TestAuditorBestEffort(t *testing.T) {
	logs := &lockedBuffer{}
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	live := record(t, l, "demo")
	a := engine.NewAuditor(engine.AuditorOptions{Store: brokenAudit{}, Hub: l.Hub, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	a.Record(t.Context(), core.AuditRecord{Project: "demo", Actor: "alice", Action: core.AuditDelete, Kind: core.KindBucket, Name: "logs", Outcome: core.OutcomeAccepted})
	if !strings.Contains(logs.String(), "audit record not written") || !strings.Contains(logs.String(), "name=logs") {
		t.Errorf("log = %q, want the record that was not written", logs.String())
	}
	if msgs := live.stop(); len(msgs) != 0 {
		t.Errorf("%d messages published for a record not written, want none", len(msgs))
	}
}
