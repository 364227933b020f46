package engine_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/cfnevent"
	"bucketdesk/internal/clock"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/stacks"
)

// newClockStepper is newStepper with the engine on a manual clock.
func newClockStepper(t *testing.T, c *clock.Manual) *stepper {
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	s := &stepper{t: t, l: l, hc: &hookCloud{Cloud: l.Sandbox}}
	s.eng = engine.New(engine.Options{Resources: l.Store, Projects: l.Store, Queue: l.Queue, Cloud: s.hc, Objects: l.Sandbox, Hub: l.Hub,
		Clock: c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	cancel := l.Sandbox.Subscribe(func(body []byte) {
		ev, err := cfnevent.ParseSNS(body)
		if err != nil {
			t.Errorf("notification: %v", err)
			return
		}
		s.mu.Lock()
		s.events = append(s.events, ev)
		s.mu.Unlock()
	})
	t.Cleanup(cancel)
	return s
}

// deployed returns the statuses of the access keys and whether a Transfer
// user is in the template the sandbox runs for user name.
func deployed(t *testing.T, s *stepper, name string) (keys []string, sftp bool) {
	t.Helper()
	p, err := s.l.Store.GetProject(t.Context(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := s.l.Sandbox.GetTemplate(t.Context(), p.Account(), stacks.StackName("demo", core.KindUser, name))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Resources map[string]struct {
			Type       string
			Properties struct{ Status string }
		}
	}
	if err := json.Unmarshal([]byte(tpl), &m); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"AccessKey1", "AccessKey2"} {
		if r, ok := m.Resources[id]; ok {
			keys = append(keys, r.Properties.Status)
		}
	}
	_, sftp = m.Resources["SftpUser"]
	return keys, sftp
}

// A user's end date: refused when not ahead; once the clock passes it,
// the reconciler starts an update by bucketdesk that makes the keys
// Inactive and removes the Transfer user, and the user shows expired; a
// manager's later end date reactivates it.
func TestAccessEndsByItself(t *testing.T) {
	start := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	c := clock.NewManual(start)
	s := newClockStepper(t, c)
	ctx := t.Context()
	s.submit(s.eng.Service.Create(ctx, alice, "demo", bucket("ends-b")))

	spec := user("partner", 2, "ends-b")
	spec.User.SFTP = core.SFTP{Enabled: true, SSHKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq8cq2Y0xPVyOb0aZ0QWPH6cFbO0v9vP3Zc3q1sLk7M partner@host"}}
	for _, tc := range []struct {
		until time.Time
		want  string
	}{{start, "must be in the future"}, {start.Add(-time.Hour), "must be in the future"}, {start.AddDate(0, 0, core.MaxAccessDays+1), "at most 730 days"}} {
		bad := spec.Clone()
		bad.User.AccessUntil = tc.until
		var v *core.ValidationError
		if _, err := s.eng.Service.Create(ctx, alice, "demo", bad); !errors.As(err, &v) || v.Problems[0].Field != "access_until" || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("end date %s: %v, want access_until %q", tc.until, err, tc.want)
		}
	}

	until := start.Add(72 * time.Hour)
	spec.User.AccessUntil = until
	spec.User.Expired = true // bucketdesk's: what a client sends is ignored
	s.submit(s.eng.Service.Create(ctx, alice, "demo", spec))
	get := func() *core.Resource {
		t.Helper()
		r, err := s.eng.Service.Get(ctx, alice, "demo", core.KindUser, "partner")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := get(); r.Observed.Phase != core.PhaseReady || r.Spec.User.Expired || !r.Spec.User.AccessUntil.Equal(until) {
		t.Fatalf("created: phase %s, expired %v, until %v", r.Observed.Phase, r.Spec.User.Expired, r.Spec.User.AccessUntil)
	}
	if keys, sftp := deployed(t, s, "partner"); strings.Join(keys, ",") != "Active,Active" || !sftp {
		t.Fatalf("before the end date: keys %v, SFTP user %v", keys, sftp)
	}
	// The details: who created it and when its keys were made.
	if r := get(); r.CreatedBy != alice.User || r.CreatedAt.IsZero() || r.ChangedBy != alice.User || !r.ChangedAt.Equal(r.CreatedAt) {
		t.Errorf("created by %q at %v, changed by %q at %v", r.CreatedBy, r.CreatedAt, r.ChangedBy, r.ChangedAt)
	} else {
		for _, out := range []string{"AccessKey1Id", "AccessKey2Id"} {
			if id := r.Observed.Outputs[out]; id == "" || r.KeysCreated[id].IsZero() {
				t.Errorf("%s %q: no creation time in %v", out, id, r.KeysCreated)
			}
		}
	}

	// A second before the end: nothing happens.
	c.Advance(until.Sub(start) - time.Second)
	st, err := s.eng.Reconciler.Reconcile(ctx)
	if err != nil || st.Expired != 0 {
		t.Fatalf("before the end: %+v, %v", st, err)
	}

	// At the end date: one update, requested by bucketdesk.
	c.Advance(time.Second)
	if st, err = s.eng.Reconciler.Reconcile(ctx); err != nil || st.Expired != 1 {
		t.Fatalf("at the end: %+v, %v", st, err)
	}
	r := get()
	if r.Op == nil || r.Op.RequestedBy != engine.SystemActor || r.Op.Action != core.ActionUpdate {
		t.Fatalf("operation %+v, want an update requested by %s", r.Op, engine.SystemActor)
	}
	s.work()
	s.apply(s.take())
	r = get()
	if r.Op.Status != core.OpSucceeded || !r.Spec.User.Expired || r.Observed.Phase != core.PhaseReady {
		t.Fatalf("after the deactivation: op %s %s, expired %v, phase %s", r.Op.Status, r.Op.Error, r.Spec.User.Expired, r.Observed.Phase)
	}
	if r.ChangedBy != engine.SystemActor || r.CreatedBy != alice.User {
		t.Errorf("after the deactivation: created by %q, changed by %q", r.CreatedBy, r.ChangedBy)
	}
	if keys, sftp := deployed(t, s, "partner"); strings.Join(keys, ",") != "Inactive,Inactive" || sftp {
		t.Fatalf("after the end date: keys %v, SFTP user %v", keys, sftp)
	}
	// The SFTP settings are kept for an extension.
	if !r.Spec.User.SFTP.Enabled || len(r.Spec.User.SFTP.SSHKeys) != 1 {
		t.Errorf("expired user lost its SFTP settings: %+v", r.Spec.User.SFTP)
	}
	// Once is enough.
	if st, err = s.eng.Reconciler.Reconcile(ctx); err != nil || st.Expired != 0 {
		t.Fatalf("next pass: %+v, %v", st, err)
	}

	// Other changes keep the passed end date and the user expired.
	same := r.Spec.Clone()
	same.User.AccessKeys = 1
	s.submit(s.eng.Service.Update(ctx, alice, "demo", same, 0))
	if r = get(); !r.Spec.User.Expired || r.Op.Status != core.OpSucceeded {
		t.Fatalf("an update of an expired user: expired %v, op %s %s", r.Spec.User.Expired, r.Op.Status, r.Op.Error)
	}
	if len(r.KeysCreated) != 1 || r.KeysCreated[r.Observed.Outputs["AccessKey1Id"]].IsZero() {
		t.Errorf("after dropping key 2: key creation times %v, outputs %v", r.KeysCreated, r.Observed.Outputs)
	}

	// A manager extends the date: the keys and the Transfer user are back.
	ext := r.Spec.Clone()
	ext.User.AccessUntil = c.Now().Add(30 * 24 * time.Hour)
	s.submit(s.eng.Service.Update(ctx, alice, "demo", ext, 0))
	if r = get(); r.Spec.User.Expired || r.Op.Status != core.OpSucceeded || r.Op.RequestedBy != alice.User {
		t.Fatalf("extended: expired %v, op %s %s by %s", r.Spec.User.Expired, r.Op.Status, r.Op.Error, r.Op.RequestedBy)
	}
	if keys, sftp := deployed(t, s, "partner"); strings.Join(keys, ",") != "Active" || !sftp {
		t.Fatalf("after the extension: keys %v, SFTP user %v", keys, sftp)
	}
}
