package auth

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"bucketdesk/internal/core"
)

func testHash(t testing.TB, pw string) string {
	t.Helper()
	h, err := HashPasswordCost(pw, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func testUsers(t testing.TB) []UserEntry {
	return []UserEntry{
		{Username: "alice", PasswordHash: testHash(t, "alice-pw-1234567"), Groups: []string{"admins"}},
		{Username: "bob", PasswordHash: testHash(t, "bob-pw-12345678")},
	}
}

func TestUsersCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), UsersFile)
	if err := WriteUsers(path, testUsers(t)); err != nil {
		t.Fatal(err)
	}
	u, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := u.Check("alice", "alice-pw-1234567")
	if err != nil {
		t.Fatal(err)
	}
	if want := (core.Principal{User: "alice", Groups: []string{"admins"}}); !reflect.DeepEqual(p, want) {
		t.Errorf("Check = %+v, want %+v", p, want)
	}
	if p, err := u.Check("bob", "bob-pw-12345678"); err != nil || p.User != "bob" || len(p.Groups) != 0 {
		t.Errorf("Check(bob) = %+v, %v", p, err)
	}

	// A wrong password and an unknown user read the same.
	var msgs []string
	for _, c := range []struct{ user, pw string }{
		{"alice", "bob-pw-12345678"},
		{"alice", ""},
		{"Alice", "alice-pw-1234567"},
		{"carol", "alice-pw-1234567"},
		{"", ""},
	} {
		p, err := u.Check(c.user, c.pw)
		if !errors.Is(err, core.ErrUnauthenticated) || !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("Check(%q) = %v, want bad credentials", c.user, err)
		}
		if p.User != "" {
			t.Errorf("failed Check gave user %q", p.User)
		}
		if c.pw != "" && strings.Contains(err.Error(), c.pw) {
			t.Errorf("error %q holds the password", err)
		}
		msgs = append(msgs, err.Error())
	}
	for _, m := range msgs {
		if m != msgs[0] {
			t.Errorf("errors differ: %q vs %q", m, msgs[0])
		}
	}
	if !strings.Contains(msgs[0], "invalid username or password") {
		t.Errorf("error %q", msgs[0])
	}
}

func TestUsersFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), UsersFile)
	in := testUsers(t)
	if err := WriteUsers(path, in); err != nil {
		t.Fatal(err)
	}
	if in[1].Groups != nil {
		t.Error("WriteUsers changed its argument")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("users file mode %v, want 0600", m)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"groups": []`) {
		t.Errorf("a user without groups is not written with \"groups\": []:\n%s", raw)
	}
	u, err := LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if u.Len() != 2 {
		t.Fatalf("loaded %d users", u.Len())
	}

	// Overwriting replaces the file whole and leaves no temporary behind.
	if err := WriteUsers(path, in[:1]); err != nil {
		t.Fatal(err)
	}
	u, err = LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Check("bob", "bob-pw-12345678"); err == nil {
		t.Error("bob survived the rewrite")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("dir holds %d files after two writes", len(entries))
	}

	// An empty list is a valid file.
	if err := WriteUsers(path, nil); err != nil {
		t.Fatal(err)
	}
	if u, err := LoadUsers(path); err != nil || u.Len() != 0 {
		t.Fatalf("empty users file: %v, %v", u, err)
	}
}

func TestLoadUsersErrors(t *testing.T) {
	dir := t.TempDir()
	hash := testHash(t, "secret-password")
	for name, content := range map[string]string{
		"not JSON":        `{"users": [`,
		"no users":        `{}`,
		"users not array": `{"users": {}}`,
		"unknown field":   `{"users": [], "admins": []}`,
		"empty username":  `{"users": [{"username": "", "password_hash": "` + hash + `"}]}`,
		"not bcrypt":      `{"users": [{"username": "a", "password_hash": "plaintext"}]}`,
		"duplicate":       `{"users": [{"username": "a", "password_hash": "` + hash + `"}, {"username": "a", "password_hash": "` + hash + `"}]}`,
		"two documents":   `{"users": []} {"users": []}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadUsers(path)
		if err == nil {
			t.Errorf("%s: loaded", name)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
		if strings.Contains(err.Error(), hash) {
			t.Errorf("%s: error %q holds a hash", name, err)
		}
	}
	if _, err := LoadUsers(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	if err := WriteUsers(filepath.Join(dir, "w.json"), []UserEntry{{Username: "a", PasswordHash: "x"}}); err == nil {
		t.Error("WriteUsers wrote a user without a bcrypt hash")
	}
}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := bcrypt.Cost([]byte(h)); err != nil || c != DefaultBcryptCost {
		t.Errorf("cost %d, %v; want %d", c, err, DefaultBcryptCost)
	}
	if bcrypt.CompareHashAndPassword([]byte(h), []byte("correct horse battery")) != nil {
		t.Error("hash does not match its password")
	}
	for _, pw := range []string{"", strings.Repeat("x", 73)} {
		if _, err := HashPasswordCost(pw, bcrypt.MinCost); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("HashPassword(%d bytes) = %v, want ErrInvalid", len(pw), err)
		}
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		pw := GeneratePassword()
		if len(pw) < 16 {
			t.Fatalf("password %q is shorter than 16", pw)
		}
		for i, r := range pw {
			if (i+1)%6 == 0 {
				if r != '-' {
					t.Fatalf("password %q: no dash at %d", pw, i)
				}
				continue
			}
			if !strings.ContainsRune(passwordAlphabet, r) {
				t.Fatalf("password %q has %q", pw, r)
			}
		}
		if seen[pw] {
			t.Fatalf("password %q repeated", pw)
		}
		seen[pw] = true
	}
}
