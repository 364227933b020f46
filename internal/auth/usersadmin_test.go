package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"bucketdesk/internal/core"
)

// auditLog keeps the records it is given.
type auditLog struct {
	mu   sync.Mutex
	recs []core.AuditRecord
}

func (a *auditLog) Record(_ context.Context, r core.AuditRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, r)
}

// A UsersAdmin refuses non-administrators before it reads the file,
// creates the file at the first add, keeps each login's flags, puts a
// change in force at the watcher's next Check and records every change,
// never with a password or hash.
func TestUsersAdmin(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sub", "users.json")
	audit := &auditLog{}
	a := NewUsersAdmin(path, UsersAdminOptions{Auditor: audit, Cost: bcrypt.MinCost})
	root := core.Principal{User: "root", Admin: true}

	if _, err := a.Users(ctx, core.Principal{User: "alice"}); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("alice lists: %v", err)
	}
	if _, err := a.Add(ctx, core.Principal{User: "alice"}, core.LocalUserInput{Name: "x", Password: "pw"}); !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("alice adds: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused add wrote the file: %v", err)
	}
	if _, err := a.SetPassword(ctx, root, "alice", "pw"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("passwd without a file: %v", err)
	}
	u, err := a.Add(ctx, root, core.LocalUserInput{Name: "alice", Password: "alice-pw", Groups: []string{"geo"}})
	if err != nil || u.Name != "alice" || u.Admin || strings.Join(u.Groups, ",") != "geo" {
		t.Fatalf("add alice: %+v %v", u, err)
	}
	watched, err := OpenWatchedUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	a.o.Watched = watched
	if _, err := a.Add(ctx, root, core.LocalUserInput{Name: "bob", Password: "bob-pw", Admin: true}); err != nil {
		t.Fatal(err)
	}
	if p, err := watched.Check("bob", "bob-pw"); err != nil || !p.Admin {
		t.Fatalf("bob: %+v %v", p, err)
	}
	if _, err := a.Add(ctx, root, core.LocalUserInput{Name: "bob", Password: "pw"}); !errors.Is(err, core.ErrConflict) {
		t.Errorf("add bob again: %v", err)
	}
	for _, in := range []core.LocalUserInput{
		{Name: "", Password: "pw"}, {Name: "a b", Password: "pw"}, {Name: "a:b", Password: "pw"}, {Name: "group:x", Password: "pw"},
		{Name: "carol", Password: ""}, {Name: "carol", Password: strings.Repeat("x", 73)}, {Name: "carol", Password: "pw", Groups: []string{""}},
	} {
		if _, err := a.Add(ctx, root, in); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("add %+v: %v", in, err)
		}
	}
	if _, err := a.SetPassword(ctx, root, "bob", "bob-new"); err != nil {
		t.Fatal(err)
	}
	if _, err := watched.Check("bob", "bob-new"); err != nil {
		t.Fatalf("bob's new password: %v", err)
	}
	if u, err := a.SetDisabled(ctx, root, "bob", true); err != nil || !u.Disabled || !u.Admin {
		t.Fatalf("disable bob: %+v %v", u, err)
	}
	if _, err := watched.Check("bob", "bob-new"); err == nil {
		t.Fatal("disabled bob logs in")
	}
	if _, err := a.SetDisabled(ctx, root, "nobody", true); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("disable nobody: %v", err)
	}
	us, err := a.Users(ctx, root)
	if err != nil || len(us) != 2 || us[0].Name != "alice" || us[1].Name != "bob" || !us[1].Disabled {
		t.Fatalf("users: %+v %v", us, err)
	}
	text := fmt.Sprintf("%+v", audit.recs)
	for _, secret := range []string{"alice-pw", "bob-pw", "bob-new", "$2a$"} {
		if strings.Contains(text, secret) {
			t.Errorf("%q is in the audit records: %s", secret, text)
		}
	}
	want := map[core.AuditAction]bool{core.AuditUserAdd: true, core.AuditUserPassword: true, core.AuditUserDisable: true}
	for _, r := range audit.recs {
		if r.Project != core.PortalProject || r.Actor == "" {
			t.Errorf("record %+v", r)
		}
		delete(want, r.Action)
	}
	if len(want) > 0 {
		t.Errorf("not recorded: %v", want)
	}
}
