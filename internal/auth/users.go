package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/crypto/bcrypt"

	"bucketdesk/internal/core"
)

// UsersFile is the name of the local users file in the issuer's directory.
const UsersFile = "users.json"

// DefaultBcryptCost is the bcrypt cost of HashPassword.
const DefaultBcryptCost = 10

// maxPasswordBytes is bcrypt's limit: it ignores what follows.
const maxPasswordBytes = 72

// UserEntry is one user of the users file.
type UserEntry struct {
	Username     string   `json:"username"`
	PasswordHash string   `json:"password_hash"`
	Groups       []string `json:"groups"`
	// Admin makes the user an administrator of the portal: the local
	// issuer puts core.DefaultAdminGroup into the user's groups.
	Admin bool `json:"admin,omitempty"`
	// Disabled refuses the user's logins (as bad credentials); tokens
	// issued before last until they expire.
	Disabled bool `json:"disabled,omitempty"`
}

// usersDoc is the users file: {"users": [...]}.
type usersDoc struct {
	Users []UserEntry `json:"users"`
}

// Users are the local binary's users and their bcrypt password hashes. It
// is not for AWS, where Cognito holds the users. It is safe for
// concurrent use.
type Users struct {
	byName map[string]UserEntry
	// dummy is compared against when the user is unknown, so that an
	// unknown name costs as much time as a wrong password.
	dummy []byte
}

// ErrBadCredentials is the one answer to an unknown user and to a wrong
// password, so that the answer does not tell which names exist. It is
// matched by errors.Is and comes with core.ErrUnauthenticated.
var ErrBadCredentials = errors.New("invalid username or password")

func badCredentials() error {
	return fmt.Errorf("auth: %w: %w", ErrBadCredentials, core.ErrUnauthenticated)
}

// LoadUsers reads a users file. An error names the file and the entry at
// fault, never a hash.
func LoadUsers(path string) (*Users, error) {
	entries, err := LoadUserEntries(path)
	if err != nil {
		return nil, err
	}
	u, err := NewUsers(entries)
	if err != nil {
		return nil, fmt.Errorf("auth: users file %s: %w", path, err)
	}
	return u, nil
}

// LoadUserEntries reads the entries of a users file, as `bucketdesk users`
// edits them, without checking them (NewUsers does).
func LoadUserEntries(path string) ([]UserEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: users file: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var doc usersDoc
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("auth: users file %s: malformed: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("auth: users file %s: malformed: data after the document", path)
	}
	if doc.Users == nil {
		return nil, fmt.Errorf("auth: users file %s: no \"users\" array", path)
	}
	return doc.Users, nil
}

// NewUsers returns the given users. Names must be non-empty and unique,
// and hashes must be bcrypt hashes.
func NewUsers(entries []UserEntry) (*Users, error) {
	u := &Users{byName: make(map[string]UserEntry, len(entries))}
	cost := 0
	for i, e := range entries {
		if err := checkEntry(e); err != nil {
			return nil, fmt.Errorf("user %d (%q): %w", i, e.Username, err)
		}
		if _, dup := u.byName[e.Username]; dup {
			return nil, fmt.Errorf("user %d: duplicate username %q", i, e.Username)
		}
		c, _ := bcrypt.Cost([]byte(e.PasswordHash))
		cost = max(cost, c)
		e.Groups = slices.Clone(e.Groups)
		u.byName[e.Username] = e
	}
	if cost == 0 {
		cost = DefaultBcryptCost
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("no such user"), cost)
	if err != nil {
		return nil, fmt.Errorf("auth: users: %w", err)
	}
	u.dummy = dummy
	return u, nil
}

func checkEntry(e UserEntry) error {
	if e.Username == "" {
		return errors.New("empty username")
	}
	if _, err := bcrypt.Cost([]byte(e.PasswordHash)); err != nil {
		return errors.New("password_hash is not a bcrypt hash")
	}
	for _, g := range e.Groups {
		if g == "" {
			return errors.New("empty group name")
		}
	}
	return nil
}

// WriteUsers writes a users file atomically (a temporary file renamed into
// place) with mode 0600.
func WriteUsers(path string, users []UserEntry) error {
	users = slices.Clone(users)
	for i, e := range users {
		if err := checkEntry(e); err != nil {
			return fmt.Errorf("auth: write users file %s: user %d (%q): %w", path, i, e.Username, err)
		}
		if e.Groups == nil {
			users[i].Groups = []string{}
		}
	}
	if users == nil {
		users = []UserEntry{} // "users": [], not null
	}
	b, err := json.MarshalIndent(usersDoc{Users: users}, "", "  ")
	if err != nil {
		return fmt.Errorf("auth: write users file %s: %w", path, err)
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), ".users-*.json")
	if err != nil {
		return fmt.Errorf("auth: write users file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("auth: write users file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("auth: write users file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("auth: write users file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("auth: write users file: %w", err)
	}
	return nil
}

// HashPassword returns the bcrypt hash of pw at DefaultBcryptCost.
func HashPassword(pw string) (string, error) {
	return HashPasswordCost(pw, DefaultBcryptCost)
}

// HashPasswordCost returns the bcrypt hash of pw at the given cost; tests
// use bcrypt.MinCost. An empty password or one over 72 bytes (bcrypt
// ignores the rest) is ErrInvalid.
func HashPasswordCost(pw string, cost int) (string, error) {
	if pw == "" || len(pw) > maxPasswordBytes {
		return "", fmt.Errorf("auth: password must be 1 to %d bytes long: %w", maxPasswordBytes, core.ErrInvalid)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// Check returns the principal of the user if password is theirs. An
// unknown user and a wrong password give the same error, wrapping
// ErrBadCredentials and core.ErrUnauthenticated, after about the same
// time.
func (u *Users) Check(username, password string) (core.Principal, error) {
	e, ok := u.byName[username]
	hash := u.dummy
	if ok {
		hash = []byte(e.PasswordHash)
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if !ok || err != nil || e.Disabled {
		return core.Principal{}, badCredentials()
	}
	p := core.Principal{User: e.Username, Groups: slices.Clone(e.Groups)}
	if e.Admin && !slices.Contains(p.Groups, core.DefaultAdminGroup) {
		p.Groups = append(p.Groups, core.DefaultAdminGroup)
	}
	p.Admin = e.Admin || slices.Contains(p.Groups, core.DefaultAdminGroup)
	return p, nil
}

// HasPassword reports whether pw is the entry's password, whatever its
// flags (a disabled user's password is still its password).
func (e UserEntry) HasPassword(pw string) bool {
	return bcrypt.CompareHashAndPassword([]byte(e.PasswordHash), []byte(pw)) == nil
}

// Len returns how many users there are.
func (u *Users) Len() int { return len(u.byName) }

// passwordAlphabet has no look-alikes (0/o, 1/l/i).
const passwordAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// GeneratePassword returns a random password that reads well: four groups
// of five characters from a 31-letter alphabet joined by dashes ("k7mfq-
// …"), 23 characters and about 99 bits of entropy.
func GeneratePassword() string {
	const groups, per = 4, 5
	out := make([]byte, 0, groups*(per+1)-1)
	var buf [1]byte
	// Rejection sampling keeps every letter equally likely: 248 is the
	// largest multiple of 31 not above 256.
	limit := byte(256 - 256%len(passwordAlphabet))
	for n := 0; n < groups*per; {
		rand.Read(buf[:])
		if buf[0] >= limit {
			continue
		}
		if n > 0 && n%per == 0 {
			out = append(out, '-')
		}
		out = append(out, passwordAlphabet[int(buf[0])%len(passwordAlphabet)])
		n++
	}
	return string(out)
}
