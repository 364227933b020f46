package engine_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/cloud/cfncloud"
	"bucketdesk/internal/cloud/cfncloud/cfntest"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/stacks"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var root = core.Principal{User: "root", Groups: []string{core.DefaultAdminGroup}, Admin: true}

// auditLog records audit records.
type auditLog struct {
	mu sync.Mutex
	rs []core.AuditRecord
}

func (a *auditLog) Record(_ context.Context, r core.AuditRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rs = append(a.rs, r)
}

func (a *auditLog) records() []core.AuditRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.rs)
}

// disconnects records what a Disconnector was asked.
type disconnects struct {
	mu    sync.Mutex
	calls []string // "project:user,user" ("project:*" for everyone)
}

func (d *disconnects) Disconnect(_ context.Context, project string, users []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	who := "*"
	if len(users) > 0 {
		who = strings.Join(users, ",")
	}
	d.calls = append(d.calls, project+":"+who)
	return nil
}

func (d *disconnects) taken() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.calls
	d.calls = nil
	return c
}

func geoInput(members ...string) core.ProjectInput {
	return core.ProjectInput{
		ID: "geo", Name: "Geodata", AccountID: "333333333333", Region: "eu-west-1", Role: "bucketdesk-portal",
		ExternalID: "geo-ext", TransferServerID: "s-0123456789abcdef1", Members: members,
	}
}

func fieldErr(t *testing.T, err error, field, want string) {
	t.Helper()
	var ve *core.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a validation error on %s, got %v", field, err)
	}
	for _, p := range ve.Problems {
		if p.Field == field && strings.Contains(p.Message, want) {
			return
		}
	}
	t.Fatalf("want a problem on %s saying %q, got %+v", field, want, ve.Problems)
}

// An administrator registers a project in an account whose role trusts
// its external id: its members see it, others do not, the reconciler
// adopts the stacks bucketdesk made there before, and every step is
// audited.
func TestAdminRegisterAdoptsAndShows(t *testing.T) {
	ctx := t.Context()
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	audits := &auditLog{}
	adm := engine.NewAdmin(engine.AdminOptions{Projects: l.Store, Cloud: l.Sandbox, Auditor: audits})

	// A bucket of project geo already lives in its account.
	in := geoInput("bob")
	acct := core.Account{ID: in.AccountID, Region: in.Region, RoleARN: "arn:aws:iam::333333333333:role/bucketdesk-portal", ExternalID: in.ExternalID}
	spec := bucket("geo-tiles")
	tpl, caps, err := stacks.Render(&core.Project{ID: "geo", AccountID: acct.ID, Region: acct.Region}, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Sandbox.CreateStack(ctx, acct, core.StackRequest{
		StackName: stacks.StackName("geo", core.KindBucket, "geo-tiles"), Template: tpl, Capabilities: caps,
		Tags: stacks.Tags("geo", core.KindBucket, "geo-tiles"), Token: "made-before",
	}); err != nil {
		t.Fatal(err)
	}
	if err := l.Sandbox.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}

	if _, err := adm.Register(ctx, alice, in); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("register by a non-administrator: %v, want forbidden", err)
	}
	p, err := adm.Register(ctx, root, in)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if p.RoleARN != acct.RoleARN || p.SFTPHost != "s-0123456789abcdef1.server.transfer.eu-west-1.amazonaws.com" || !slices.Equal(p.Members, []string{"bob"}) {
		t.Fatalf("registered %+v", p)
	}
	if _, err := adm.Register(ctx, root, in); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("register again: %v, want conflict", err)
	}
	mine, err := l.Engine.Service.Projects(ctx, bob)
	if err != nil || !slices.ContainsFunc(mine, func(p *core.Project) bool { return p.ID == "geo" }) {
		t.Fatalf("bob's projects: %v %v", mine, err)
	}
	if _, err := l.Engine.Service.Project(ctx, alice, "geo"); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("alice reads geo: %v, want forbidden", err)
	}

	// The reconciler's next pass adopts the bucket.
	if _, err := l.Engine.Reconciler.Reconcile(ctx); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	if r, err := l.Engine.Service.Get(ctx, bob, "geo", core.KindBucket, "geo-tiles"); err != nil || r.Observed.StackID == "" {
		t.Fatalf("adopted bucket: %+v %v", r, err)
	}

	rs := audits.records()
	if len(rs) != 3 {
		t.Fatalf("audit records: %+v", rs)
	}
	for i, want := range []string{core.OutcomeRefused, core.OutcomeSucceeded, core.OutcomeRefused} {
		if rs[i].Action != core.AuditProjectRegister || rs[i].Project != "geo" || rs[i].Outcome != want || rs[i].ID == "" {
			t.Errorf("audit record %d: %+v, want %s", i, rs[i], want)
		}
	}
	if rs[0].Actor != "alice" || rs[1].Actor != "root" || rs[1].Detail["members"] != "bob" {
		t.Errorf("audit records: %+v", rs)
	}
	for _, r := range rs {
		for _, v := range r.Detail {
			if strings.Contains(v, in.ExternalID) {
				t.Errorf("audit record holds the external id: %+v", r)
			}
		}
	}
}

// Registration says exactly what is wrong: bad fields, a role of another
// account, and (against the sandbox's trust of the demo role) a wrong
// external id; nothing is stored.
func TestAdminRegisterRefusals(t *testing.T) {
	ctx := t.Context()
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	adm := engine.NewAdmin(engine.AdminOptions{Projects: l.Store, Cloud: l.Sandbox, Logger: quiet})

	bad := geoInput("bob", "not a user")
	bad.ID, bad.AccountID, bad.Region = "Geo_1", "12345", "moon"
	_, err := adm.Register(ctx, root, bad)
	fieldErr(t, err, "id", "lowercase")
	fieldErr(t, err, "account_id", "12-digit")
	fieldErr(t, err, "region", "region")
	fieldErr(t, err, "members", "not a user")

	other := geoInput()
	other.Role = "arn:aws:iam::444444444444:role/bucketdesk-portal"
	_, err = adm.Register(ctx, root, other)
	fieldErr(t, err, "role", "not in the project's account 333333333333")

	// The demo account's role trusts only the demo external id.
	wrong := geoInput()
	wrong.AccountID, wrong.Role, wrong.ExternalID = "123456789012", "bucketdesk", "guessed"
	_, err = adm.Register(ctx, root, wrong)
	fieldErr(t, err, "account", `external id "guessed"`)
	fieldErr(t, err, "account", "AccessDenied")
	if _, err := l.Store.GetProject(ctx, "geo"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a refused registration was stored: %v", err)
	}
	wrong.ExternalID = "bucketdesk-demo"
	if _, err := adm.Register(ctx, root, wrong); err != nil {
		t.Fatalf("register with the right external id: %v", err)
	}
}

// Against CloudFormation and STS (cfncloud in front of cfntest), a wrong
// external id fails the registration with the account, role, external id
// and STS's answer in the message.
func TestAdminRegisterWrongExternalIDOnAWS(t *testing.T) {
	ctx := t.Context()
	sb, err := simcloud.New(filepath.Join(t.TempDir(), "sandbox.db"), simcloud.ZeroOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	role := "arn:aws:iam::333333333333:role/bucketdesk-portal"
	srv := cfntest.New(sb, &cfntest.Options{ExternalIDs: map[string]string{role: "geo-ext"}})
	t.Cleanup(srv.Close)
	cloud := cfncloud.New(srv.Config("us-east-1"), nil)
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	adm := engine.NewAdmin(engine.AdminOptions{Projects: l.Store, Cloud: cloud, Logger: quiet})

	in := geoInput("bob")
	in.ExternalID = "geo-oops"
	_, err = adm.Register(ctx, root, in)
	fieldErr(t, err, "account", "cannot reach account 333333333333 in region eu-west-1 through role "+role)
	fieldErr(t, err, "account", `external id "geo-oops"`)
	fieldErr(t, err, "account", "AccessDenied")
	if srv.Calls("AssumeRole") == 0 {
		t.Fatal("the account was not checked through STS")
	}
	in.ExternalID = "geo-ext"
	if _, err := adm.Register(ctx, root, in); err != nil {
		t.Fatalf("register with the right external id: %v", err)
	}
}

// Members come and go: removed users lose their connections to the
// project, a removed group closes everyone's, and retiring hides the
// project from its members, closes every connection, keeps the
// registration and is left alone by the reconciler.
func TestAdminMembersAndRetire(t *testing.T) {
	ctx := t.Context()
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	audits := &auditLog{}
	disc := &disconnects{}
	adm := engine.NewAdmin(engine.AdminOptions{Projects: l.Store, Cloud: l.Sandbox, Auditor: audits, Disconnector: disc})
	if _, err := adm.Register(ctx, root, geoInput("bob")); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.ChangeMembers(ctx, bob, "geo", core.MembersChange{Add: []string{"bob"}}); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("bob changes members: %v, want forbidden", err)
	}
	p, err := adm.ChangeMembers(ctx, root, "geo", core.MembersChange{Add: []string{"carol", "group:geo-team", " bob "}})
	if err != nil || !slices.Equal(p.Members, []string{"bob", "carol", "group:geo-team"}) {
		t.Fatalf("add: %v %v", p, err)
	}
	if got := disc.taken(); len(got) != 0 {
		t.Fatalf("adding closed connections: %v", got)
	}
	dave := core.Principal{User: "dave", Groups: []string{"geo-team"}}
	if _, err := l.Engine.Service.Project(ctx, dave, "geo"); err != nil {
		t.Fatalf("a member through a group: %v", err)
	}
	if p, err = adm.ChangeMembers(ctx, root, "geo", core.MembersChange{Remove: []string{"bob"}}); err != nil || !slices.Equal(p.Members, []string{"carol", "group:geo-team"}) {
		t.Fatalf("remove bob: %v %v", p, err)
	}
	if got := disc.taken(); !slices.Equal(got, []string{"geo:bob"}) {
		t.Fatalf("removing bob closed %v, want geo:bob", got)
	}
	if _, err := l.Engine.Service.Project(ctx, bob, "geo"); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("bob after removal: %v, want forbidden", err)
	}
	if _, err := adm.ChangeMembers(ctx, root, "geo", core.MembersChange{Remove: []string{"group:geo-team"}}); err != nil {
		t.Fatal(err)
	}
	if got := disc.taken(); !slices.Equal(got, []string{"geo:*"}) {
		t.Fatalf("removing a group closed %v, want everyone's (geo:*)", got)
	}
	if _, err := adm.ChangeMembers(ctx, root, "geo", core.MembersChange{Add: []string{"group:"}}); err == nil {
		t.Fatal("an empty group name was accepted")
	}

	// An update that drops a member closes that member's connections.
	up := geoInput("erin")
	up.ID = ""
	if p, err = adm.Update(ctx, root, "geo", up); err != nil || !slices.Equal(p.Members, []string{"erin"}) {
		t.Fatalf("update: %v %v", p, err)
	}
	if got := disc.taken(); !slices.Equal(got, []string{"geo:carol"}) {
		t.Fatalf("update closed %v, want geo:carol", got)
	}
	up.ID = "other"
	if _, err := adm.Update(ctx, root, "geo", up); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("update with another id: %v, want invalid", err)
	}

	// Retire.
	erin := core.Principal{User: "erin"}
	if p, err = adm.Retire(ctx, root, "geo"); err != nil || !p.Retired {
		t.Fatalf("retire: %v %v", p, err)
	}
	if got := disc.taken(); !slices.Equal(got, []string{"geo:*"}) {
		t.Fatalf("retire closed %v, want everyone's", got)
	}
	if mine, _ := l.Engine.Service.Projects(ctx, erin); len(mine) != 0 {
		t.Fatalf("erin still sees %v", mine)
	}
	if _, err := l.Engine.Service.Create(ctx, erin, "geo", bucket("geo-late")); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("a write to a retired project: %v, want forbidden", err)
	}
	if _, err := adm.ChangeMembers(ctx, root, "geo", core.MembersChange{Add: []string{"bob"}}); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("members of a retired project: %v, want conflict", err)
	}
	if _, err := adm.Register(ctx, root, geoInput()); !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "retired") {
		t.Fatalf("register a retired id: %v, want conflict", err)
	}
	if all, err := adm.Projects(ctx, root); err != nil || len(all) != 2 {
		t.Fatalf("administrators still see every project: %v %v", all, err)
	}
	if p, err = adm.Retire(ctx, root, "geo"); err != nil || !p.Retired || len(disc.taken()) != 0 {
		t.Fatalf("retire again: %v %v", p, err)
	}
	if _, err := adm.Retire(ctx, root, "nope"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("retire an unknown project: %v", err)
	}

	var actions []string
	for _, r := range audits.records() {
		if r.Outcome == core.OutcomeSucceeded {
			actions = append(actions, string(r.Action))
		}
	}
	want := []string{"project-register", "members", "members", "members", "project-update", "project-retire", "project-retire"}
	if !slices.Equal(actions, want) {
		t.Fatalf("audited %v, want %v", actions, want)
	}
}

// The reconciler leaves a retired project alone, even when its account no
// longer lets bucketdesk in.
func TestReconcilerSkipsRetired(t *testing.T) {
	ctx := t.Context()
	l := open(t, t.TempDir(), simcloud.ZeroOptions())
	gone := &core.Project{ID: "gone", Name: "Gone", AccountID: "555555555555", Region: "eu-west-1",
		RoleARN: "arn:aws:iam::666666666666:role/elsewhere", Retired: true}
	if err := l.Store.PutProject(ctx, gone); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := l.Engine.Reconciler.Reconcile(ctx); err != nil {
		t.Fatalf("reconcile with a retired project: %v", err)
	}
	gone.Retired = false
	if err := l.Store.PutProject(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Engine.Reconciler.Reconcile(ctx); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("reconcile of an unreachable live project: %v, want forbidden (the check above is meaningful)", err)
	}
}
