package auth

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"bucketdesk/internal/core"
)

func hashMin(t *testing.T, pw string) string {
	t.Helper()
	h, err := HashPasswordCost(pw, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A local login flagged admin gets the administrators' group, which the
// verifier turns into Principal.Admin; a disabled login is refused like a
// wrong password; another configured group makes other administrators.
func TestAdminFlagAndGroup(t *testing.T) {
	users, err := NewUsers([]UserEntry{
		{Username: "root", PasswordHash: hashMin(t, "pw"), Admin: true, Groups: []string{"ops"}},
		{Username: "alice", PasswordHash: hashMin(t, "pw")},
		{Username: "gone", PasswordHash: hashMin(t, "pw"), Disabled: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	root, err := users.Check("root", "pw")
	if err != nil || !root.Admin || !slices.Equal(root.Groups, []string{"ops", core.DefaultAdminGroup}) {
		t.Fatalf("root: %+v %v", root, err)
	}
	if alice, err := users.Check("alice", "pw"); err != nil || alice.Admin {
		t.Fatalf("alice: %+v %v", alice, err)
	}
	if _, err := users.Check("gone", "pw"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("a disabled user: %v, want bad credentials", err)
	}

	issuer, err := OpenLocalIssuer(t.TempDir(), "urn:test", "aud", nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := NewStaticKeySource(issuer.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := issuer.Issue(root, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	aliceTok, err := issuer.Issue(core.Principal{User: "alice", Groups: []string{"ops"}}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(keys, issuer.VerifierConfig())
	if p, err := v.Verify(t.Context(), tok); err != nil || !p.Admin {
		t.Fatalf("root's token: %+v %v", p, err)
	}
	if p, err := v.Verify(t.Context(), aliceTok); err != nil || p.Admin {
		t.Fatalf("alice's token: %+v %v", p, err)
	}
	cfg := issuer.VerifierConfig()
	cfg.AdminGroup = "ops"
	v = NewVerifier(keys, cfg)
	if p, err := v.Verify(t.Context(), aliceTok); err != nil || !p.Admin {
		t.Fatalf("alice in the configured group ops: %+v %v", p, err)
	}
}

// WatchedUsers follows the file: a user added, a password changed and a
// user disabled apply at the next Check; a broken file keeps the last good
// users.
func TestWatchedUsersFollowTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), UsersFile)
	write := func(entries ...UserEntry) {
		t.Helper()
		if err := WriteUsers(path, entries); err != nil {
			t.Fatal(err)
		}
		// Modification times may be coarse: make each write visible.
		future := time.Now().Add(time.Duration(len(entries)) * time.Second)
		os.Chtimes(path, future, future)
	}
	write(UserEntry{Username: "alice", PasswordHash: hashMin(t, "one")})
	w, err := OpenWatchedUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Check("bob", "two"); err == nil {
		t.Fatal("bob logged in before he was added")
	}
	write(UserEntry{Username: "alice", PasswordHash: hashMin(t, "one")}, UserEntry{Username: "bob", PasswordHash: hashMin(t, "two")})
	if _, err := w.Check("bob", "two"); err != nil {
		t.Fatalf("bob after he was added: %v", err)
	}
	write(UserEntry{Username: "alice", PasswordHash: hashMin(t, "one")}, UserEntry{Username: "bob", PasswordHash: hashMin(t, "two"), Disabled: true}, UserEntry{Username: "carol", PasswordHash: hashMin(t, "3")})
	if _, err := w.Check("bob", "two"); err == nil {
		t.Fatal("bob logged in after he was disabled")
	}
	if err := os.WriteFile(path, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Check("alice", "one"); err != nil {
		t.Fatalf("a broken file dropped the users: %v", err)
	}
}
