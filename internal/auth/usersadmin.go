package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"bucketdesk/internal/core"
)

// UsersAdminOptions configure a UsersAdmin.
type UsersAdminOptions struct {
	// Auditor records every change, accepted or refused, under
	// core.PortalProject; nil records none.
	Auditor core.Auditor
	// Watched, when a server checks logins against the same file, reads
	// the file again at its next Check after each change, however close in
	// time the changes come.
	Watched *WatchedUsers
	// Cost is the bcrypt cost of new passwords; zero is DefaultBcryptCost.
	Cost int
}

// UsersAdmin administers the logins of a users file: what `bucketdesk
// users` and the /api/admin/users routes do. Every call requires
// who.Admin and answers core.ErrForbidden otherwise, before it reads the
// file. Passwords follow HashPasswordCost's rules and are stored as bcrypt
// hashes only; no answer, error or audit record holds a password or a
// hash. It is safe for concurrent use: its changes are serialized (a
// change made by another process at the same moment may still be lost,
// as with any two editors of one file).
type UsersAdmin struct {
	path string
	o    UsersAdminOptions
	mu   sync.Mutex
}

// NewUsersAdmin returns the administration of the users file at path.
func NewUsersAdmin(path string, o UsersAdminOptions) *UsersAdmin {
	if o.Cost == 0 {
		o.Cost = DefaultBcryptCost
	}
	return &UsersAdmin{path: path, o: o}
}

// CheckUserName returns a core.ErrInvalid error unless name can be a
// login: a member name of core.NormalizeMembers (no spaces, no colons),
// not a group.
func CheckUserName(name string) error {
	m, err := core.NormalizeMembers([]string{name})
	if err != nil || len(m) != 1 || m[0] != name || strings.HasPrefix(name, core.GroupPrefix) {
		return &core.ValidationError{Problems: []core.FieldError{{Field: "name", Message: fmt.Sprintf("%q is not a user name (no spaces, no colons)", name)}}}
	}
	return nil
}

func requireAdmin(who core.Principal) error {
	if !who.Admin {
		return fmt.Errorf("%w: administrators only (%s is not in the administrators' group)", core.ErrForbidden, who.User)
	}
	return nil
}

func viewOf(e UserEntry) core.LocalUser {
	groups := slices.Clone(e.Groups)
	if groups == nil {
		groups = []string{}
	}
	return core.LocalUser{Name: e.Username, Admin: e.Admin, Disabled: e.Disabled, Groups: groups}
}

// Users returns every login in the file's order.
func (a *UsersAdmin) Users(ctx context.Context, who core.Principal) ([]core.LocalUser, error) {
	if err := requireAdmin(who); err != nil {
		return nil, err
	}
	entries, err := LoadUserEntries(a.path)
	if err != nil {
		return nil, err
	}
	out := make([]core.LocalUser, 0, len(entries))
	for _, e := range entries {
		out = append(out, viewOf(e))
	}
	return out, nil
}

// Add adds a login. A name that is taken is core.ErrConflict; a bad name,
// group or password is core.ErrInvalid. The file (and its directory) is
// created when there is none.
func (a *UsersAdmin) Add(ctx context.Context, who core.Principal, in core.LocalUserInput) (u core.LocalUser, err error) {
	detail := map[string]string{"admin": fmt.Sprint(in.Admin)}
	if len(in.Groups) > 0 {
		detail["groups"] = strings.Join(in.Groups, ",")
	}
	defer func() { a.audit(ctx, who, core.AuditUserAdd, in.Name, detail, err) }()
	if err := requireAdmin(who); err != nil {
		return core.LocalUser{}, err
	}
	if err := CheckUserName(in.Name); err != nil {
		return core.LocalUser{}, err
	}
	for _, g := range in.Groups {
		if g == "" {
			return core.LocalUser{}, &core.ValidationError{Problems: []core.FieldError{{Field: "groups", Message: "a group name is empty"}}}
		}
	}
	return a.change(in.Name, true, func(entries []UserEntry, i int) ([]UserEntry, int, error) {
		if i >= 0 {
			return nil, 0, fmt.Errorf("%w: user %q exists", core.ErrConflict, in.Name)
		}
		hash, err := HashPasswordCost(in.Password, a.o.Cost)
		if err != nil {
			return nil, 0, err
		}
		entries = append(entries, UserEntry{Username: in.Name, PasswordHash: hash, Groups: slices.Clone(in.Groups), Admin: in.Admin})
		return entries, len(entries) - 1, nil
	})
}

// SetPassword gives a login a new password; an unknown login is
// core.ErrNotFound, a bad password core.ErrInvalid.
func (a *UsersAdmin) SetPassword(ctx context.Context, who core.Principal, name, password string) (u core.LocalUser, err error) {
	defer func() { a.audit(ctx, who, core.AuditUserPassword, name, nil, err) }()
	if err := requireAdmin(who); err != nil {
		return core.LocalUser{}, err
	}
	return a.change(name, false, func(entries []UserEntry, i int) ([]UserEntry, int, error) {
		hash, err := HashPasswordCost(password, a.o.Cost)
		if err != nil {
			return nil, 0, err
		}
		entries[i].PasswordHash = hash
		return entries, i, nil
	})
}

// SetDisabled disables a login (its next logins are refused; tokens
// already issued last until they expire) or enables it again; an unknown
// login is core.ErrNotFound.
func (a *UsersAdmin) SetDisabled(ctx context.Context, who core.Principal, name string, disabled bool) (u core.LocalUser, err error) {
	action := core.AuditUserEnable
	if disabled {
		action = core.AuditUserDisable
	}
	defer func() { a.audit(ctx, who, action, name, nil, err) }()
	if err := requireAdmin(who); err != nil {
		return core.LocalUser{}, err
	}
	return a.change(name, false, func(entries []UserEntry, i int) ([]UserEntry, int, error) {
		entries[i].Disabled = disabled
		return entries, i, nil
	})
}

// change reads the file, applies edit to it (i is name's index, -1 when
// there is none, which is core.ErrNotFound unless adding), checks and
// writes the result and returns the changed login.
func (a *UsersAdmin) change(name string, adding bool, edit func(entries []UserEntry, i int) ([]UserEntry, int, error)) (core.LocalUser, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	entries, err := LoadUserEntries(a.path)
	if errors.Is(err, os.ErrNotExist) && adding {
		entries, err = nil, os.MkdirAll(filepath.Dir(a.path), 0o700)
	}
	if err != nil {
		return core.LocalUser{}, err
	}
	i := slices.IndexFunc(entries, func(e UserEntry) bool { return e.Username == name })
	if i < 0 && !adding {
		return core.LocalUser{}, fmt.Errorf("%w: no user %q", core.ErrNotFound, name)
	}
	entries, i, err = edit(entries, i)
	if err != nil {
		return core.LocalUser{}, err
	}
	if _, err := NewUsers(entries); err != nil {
		return core.LocalUser{}, fmt.Errorf("auth: users file %s: %w", a.path, err)
	}
	if err := WriteUsers(a.path, entries); err != nil {
		return core.LocalUser{}, err
	}
	if a.o.Watched != nil {
		a.o.Watched.changed()
	}
	return viewOf(entries[i]), nil
}

// audit records one change and its outcome: refused for the caller's
// mistakes, failed for the server's.
func (a *UsersAdmin) audit(ctx context.Context, who core.Principal, action core.AuditAction, name string, detail map[string]string, err error) {
	r := core.AuditRecord{Project: core.PortalProject, Actor: who.User, Action: action, Name: name, Outcome: core.OutcomeSucceeded}
	if err != nil {
		r.Outcome, r.Reason = core.OutcomeRefused, err.Error()
		if !errors.Is(err, core.ErrInvalid) && !errors.Is(err, core.ErrForbidden) && !errors.Is(err, core.ErrConflict) && !errors.Is(err, core.ErrNotFound) {
			r.Outcome = core.OutcomeFailed
		}
	} else {
		r.Detail = detail
	}
	core.Audit(ctx, a.o.Auditor, r)
}
