package auth

import (
	"fmt"
	"os"
	"sync"
	"time"

	"bucketdesk/internal/core"
)

// Checker checks a username and password and returns whom they name:
// *Users, and *WatchedUsers.
type Checker interface {
	Check(username, password string) (core.Principal, error)
}

// WatchedUsers is a users file that Check reads again when it has changed
// (its modification time or size), so that what `bucketdesk users` writes
// into it applies to a running server from the next login on. WriteUsers
// renames a complete file into place, so a reader never sees half of one.
// It is safe for concurrent use.
type WatchedUsers struct {
	path string

	mu    sync.Mutex
	users *Users
	mod   time.Time
	size  int64
}

// OpenWatchedUsers reads the users file at path.
func OpenWatchedUsers(path string) (*WatchedUsers, error) {
	f := &WatchedUsers{path: path}
	if err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// reload reads the file if it changed since it was last read. The caller
// holds f.mu or owns f.
func (f *WatchedUsers) reload() error {
	fi, err := os.Stat(f.path)
	if err != nil {
		return fmt.Errorf("auth: users file: %w", err)
	}
	if f.users != nil && fi.ModTime().Equal(f.mod) && fi.Size() == f.size {
		return nil
	}
	u, err := LoadUsers(f.path)
	if err != nil {
		return err
	}
	f.users, f.mod, f.size = u, fi.ModTime(), fi.Size()
	return nil
}

// Check checks username and password against the file as it is now. A
// file that cannot be read (or no longer parses) leaves the users of the
// last good read in force, and the read is tried again at the next call.
func (f *WatchedUsers) Check(username, password string) (core.Principal, error) {
	f.mu.Lock()
	_ = f.reload()
	u := f.users
	f.mu.Unlock()
	return u.Check(username, password)
}

// changed makes the next Check read the file again, whatever its
// modification time and size: a change written by this process (a new
// password hash has the size of the old one) may keep both.
func (f *WatchedUsers) changed() {
	f.mu.Lock()
	f.size = -1
	f.mu.Unlock()
}
