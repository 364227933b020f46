package core

import (
	"bytes"
	"context"
	"errors"
	"time"
)

// ErrGone: a share link that was used, revoked, locked or has expired.
// It answers 410.
var ErrGone = errors.New("gone")

// LinkState is where a share link is in its life. A link starts created,
// may be opened (its page was loaded, which fetches nothing secret), and
// ends once: revealed (its ciphertext was handed out, once), expired,
// revoked by a manager, or locked after too many wrong passphrases.
type LinkState string

// The states of a share link.
const (
	LinkCreated  LinkState = "created"
	LinkOpened   LinkState = "opened"
	LinkRevealed LinkState = "revealed"
	LinkExpired  LinkState = "expired"
	LinkRevoked  LinkState = "revoked"
	LinkLocked   LinkState = "locked"
)

// Live reports whether a link in state s can still be revealed (before
// its expiry).
func (s LinkState) Live() bool { return s == LinkCreated || s == LinkOpened }

// Share link limits.
const (
	// DefaultLinkTTL is a link's lifetime when the manager does not say.
	DefaultLinkTTL = 24 * time.Hour
	// MaxLinkTTL is the longest lifetime a link may have.
	MaxLinkTTL = 7 * 24 * time.Hour
	// MaxLinkPassphraseFailures wrong passphrases lock a link for good.
	MaxLinkPassphraseFailures = 5
	// LinkRetention is how long a link's record (never its ciphertext,
	// which goes when the link ends) stays visible after its expiry;
	// DynamoDB's TTL then deletes it.
	LinkRetention = 30 * 24 * time.Hour
)

// MsgShareLink is the real-time message of a change of a share link's
// state: Kind is user, Name the managed user, Version the link's version.
// It carries no link; a client re-reads the user's links.
const MsgShareLink MessageType = "share_link"

// LinkVisit is when, from where and with what a link was opened or
// revealed.
type LinkVisit struct {
	At        time.Time `json:"at"`
	SourceIP  string    `json:"source_ip,omitempty"`
	UserAgent string    `json:"user_agent,omitempty"`
}

// ShareLink is a one-time link through which a managed user's credentials
// are handed to a third party. The server keeps only what cannot decrypt
// them: the ciphertext of the credentials package (whose key travels only
// in the link's URL fragment), the SHA-256 of the token's verifier, and a
// bcrypt hash of the passphrase. The ciphertext is dropped when the link
// ends.
type ShareLink struct {
	// ID is the link's public id (a ULID): the first part of its token,
	// what managers and audit records name it by.
	ID      string `json:"id"`
	Project string `json:"project"`
	// User is the managed user whose credentials the link hands over.
	User string `json:"user"`
	// Key is the access key number (1 or 2), 0 for an SFTP-only link.
	Key         int    `json:"key,omitempty"`
	AccessKeyID string `json:"access_key_id,omitempty"`
	// SFTP: the package holds the user's SFTP details.
	SFTP bool `json:"sftp,omitempty"`
	// Withheld: the manager chose never to see the secret; the key was
	// marked revealed when the link was made, so the link is the only way
	// the secret leaves the secret store.
	Withheld  bool      `json:"withheld,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	State     LinkState `json:"state"`
	// VerifierHash is the hex SHA-256 of the token's secret part.
	VerifierHash string `json:"verifier_hash"`
	// PassphraseHash is a bcrypt hash, "" when the link has no passphrase.
	PassphraseHash     string `json:"passphrase_hash,omitempty"`
	PassphraseFailures int    `json:"passphrase_failures,omitempty"`
	// Ciphertext is the nonce followed by the AES-256-GCM sealed package;
	// nil once the link has ended.
	Ciphertext []byte     `json:"ciphertext,omitempty"`
	Opened     *LinkVisit `json:"opened,omitempty"`
	Revealed   *LinkVisit `json:"revealed,omitempty"`
	// EndedAt is when the link left the live states; EndedBy who revoked
	// it (revoked links only).
	EndedAt time.Time `json:"ended_at,omitzero"`
	EndedBy string    `json:"ended_by,omitempty"`
	// Version increases by one on every write.
	Version int64 `json:"version"`
}

// Clone returns a deep copy of l.
func (l *ShareLink) Clone() *ShareLink {
	c := *l
	c.Ciphertext = bytes.Clone(l.Ciphertext)
	if l.Opened != nil {
		v := *l.Opened
		c.Opened = &v
	}
	if l.Revealed != nil {
		v := *l.Revealed
		c.Revealed = &v
	}
	return &c
}

// RetainUntil is when the link's record may be deleted.
func (l *ShareLink) RetainUntil() time.Time { return l.ExpiresAt.Add(LinkRetention) }

// LinkRequest asks for a share link of a managed user.
type LinkRequest struct {
	// Key is the access key (1 or 2) to hand over; 0 hands over SFTP only.
	Key int
	// SFTP adds the user's SFTP details.
	SFTP bool
	// ExpiresIn is the link's lifetime: 0 means DefaultLinkTTL, at most
	// MaxLinkTTL.
	ExpiresIn time.Duration
	// Passphrase, when set, must be given to reveal the link; it is sent
	// to the recipient by another channel.
	Passphrase string
	// Withhold: the manager will never see the secret. The key is marked
	// revealed when the link is made, so RevealKey refuses it and the
	// link is the only way the secret leaves the secret store.
	Withhold bool
}

// ShareLinkStore keeps share links. Adapters do not retry: a transient
// failure is a wrapped ErrUnavailable or ErrThrottled that the caller
// classifies.
type ShareLinkStore interface {
	// PutShareLink writes l atomically if the stored link's version equals
	// prev, where prev 0 means the link must not exist. l.Version must be
	// greater than prev. A failed condition returns ErrConflict and
	// changes nothing: of concurrent writers from the same version,
	// exactly one wins.
	PutShareLink(ctx context.Context, l *ShareLink, prev int64) error
	// GetShareLink returns ErrNotFound for an unknown id.
	GetShareLink(ctx context.Context, id string) (*ShareLink, error)
	// ListShareLinks returns a project's links, newest first (by id).
	// Links of other projects never appear; an adapter may have deleted
	// links past their RetainUntil.
	ListShareLinks(ctx context.Context, project string) ([]*ShareLink, error)
}
