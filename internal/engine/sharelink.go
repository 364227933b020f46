package engine

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"bucketdesk/internal/core"
)

// ShareLinkOptions configure ShareLinks.
type ShareLinkOptions struct {
	// Store keeps the links. Required.
	Store core.ShareLinkStore
	// Auditor records link-create, -open, -reveal, -revoke and -expire;
	// nil records nothing.
	Auditor core.Auditor
	// MaxMisses is how many requests naming no valid link one client
	// address may make per MissWindow before it is refused (default 20
	// per 10 minutes).
	MaxMisses  int
	MissWindow time.Duration
}

// ShareLinks hands a managed user's credentials to a third party through
// one-time links (docs/share-links.md). A link's credentials package is
// encrypted at creation with a fresh AES-256-GCM key that only the link's
// URL fragment carries: the store keeps the ciphertext, the SHA-256 of the
// token's verifier and a bcrypt hash of the passphrase, none of which
// decrypts it. The secret is read from the secret store at creation and
// never stored, logged, audited or published.
type ShareLinks struct {
	s      *Service
	o      ShareLinkOptions
	misses missLimiter
}

// NewShareLinks returns the share links of s's projects.
func NewShareLinks(s *Service, o ShareLinkOptions) *ShareLinks {
	if o.MaxMisses <= 0 {
		o.MaxMisses = 20
	}
	if o.MissWindow <= 0 {
		o.MissWindow = 10 * time.Minute
	}
	return &ShareLinks{s: s, o: o, misses: missLimiter{max: o.MaxMisses, window: o.MissWindow}}
}

// Token layout: the link's id (a 26-character ULID) then the verifier,
// 32 random bytes in unpadded base64url (43 characters, 256 bits). The
// fragment key is 32 random bytes in the same encoding.
const (
	linkIDLen      = 26
	linkSecretLen  = 32
	linkVerifierB4 = 43
	// MaxPassphrase bounds a link's passphrase (bcrypt reads 72 bytes).
	MaxPassphrase = 72
	// MinLinkTTL is the shortest lifetime a link may have.
	MinLinkTTL = time.Minute
)

// anonymous is the actor of what a link's recipient does.
const anonymous = "anonymous"

// systemActor is the actor of a link's expiry.
const systemActor = "bucketdesk"

// CreateLink makes a link for user's credentials and returns it with the
// path to give the recipient, "/s/<token>#<key>": the only time the token
// and the key exist outside the caller's hands. Neither is stored.
func (l *ShareLinks) CreateLink(ctx context.Context, who core.Principal, project, user string, req core.LinkRequest) (*core.ShareLink, string, error) {
	v := &core.ValidationError{}
	if req.Key < 0 || req.Key > core.MaxAccessKeys {
		v.Problems = append(v.Problems, core.FieldError{Field: "key", Message: "must be 1 or 2 (or 0 for SFTP only)"})
	}
	if req.Key == 0 && !req.SFTP {
		v.Problems = append(v.Problems, core.FieldError{Field: "key", Message: "choose an access key, SFTP, or both"})
	}
	if req.Withhold && req.Key == 0 {
		v.Problems = append(v.Problems, core.FieldError{Field: "withhold_secret", Message: "needs an access key"})
	}
	if req.ExpiresIn == 0 {
		req.ExpiresIn = core.DefaultLinkTTL
	}
	if req.ExpiresIn < MinLinkTTL || req.ExpiresIn > core.MaxLinkTTL {
		v.Problems = append(v.Problems, core.FieldError{Field: "expires_in_s", Message: fmt.Sprintf("must be %d to %d seconds (1 minute to 7 days)", int(MinLinkTTL/time.Second), int(core.MaxLinkTTL/time.Second))})
	}
	if len(req.Passphrase) > MaxPassphrase || !utf8.ValidString(req.Passphrase) {
		v.Problems = append(v.Problems, core.FieldError{Field: "passphrase", Message: fmt.Sprintf("must be valid text of at most %d bytes", MaxPassphrase)})
	}
	if len(v.Problems) > 0 {
		return nil, "", v
	}
	p, err := l.s.Project(ctx, who, project)
	if err != nil {
		return nil, "", err
	}
	r, err := l.s.Get(ctx, who, project, core.KindUser, user)
	if err != nil {
		return nil, "", err
	}
	if req.SFTP && (r.Spec.User == nil || !r.Spec.User.SFTP.Enabled || r.Observed.Outputs["SftpUserName"] == "") {
		return nil, "", fmt.Errorf("%w: user %q has no SFTP access (yet)", core.ErrConflict, user)
	}
	now := l.s.d.Clock.Now().UTC()
	link := &core.ShareLink{
		ID: l.s.d.ids.next(), Project: project, User: user, Key: req.Key, SFTP: req.SFTP, Withheld: req.Withhold,
		CreatedBy: who.User, CreatedAt: now, ExpiresAt: now.Add(req.ExpiresIn), State: core.LinkCreated, Version: 1,
	}
	var keyID, secret string
	if req.Key > 0 {
		if keyID, secret, err = l.readKey(ctx, p, r, req.Key); err != nil {
			return nil, "", err
		}
		link.AccessKeyID = keyID
		if req.Withhold {
			if err := l.withhold(ctx, r.Key(), keyID); err != nil {
				return nil, "", err
			}
		}
	}
	plain, err := json.Marshal(buildPackage(p, r, keyID, secret, req.SFTP, link.ExpiresAt))
	if err != nil {
		return nil, "", fmt.Errorf("%w: encode the credentials package: %v", core.ErrInternal, err)
	}
	key := make([]byte, linkSecretLen)
	verifier := make([]byte, linkSecretLen)
	rand.Read(key)
	rand.Read(verifier)
	if link.Ciphertext, err = Seal(key, plain, []byte(link.ID)); err != nil {
		return nil, "", err
	}
	clear(plain)
	verifierText := base64.RawURLEncoding.EncodeToString(verifier)
	link.VerifierHash = verifierHash(verifierText)
	if req.Passphrase != "" {
		h, err := bcrypt.GenerateFromPassword([]byte(req.Passphrase), bcrypt.DefaultCost)
		if err != nil {
			return nil, "", fmt.Errorf("%w: hash the passphrase: %v", core.ErrInternal, err)
		}
		link.PassphraseHash = string(h)
	}
	if err := l.o.Store.PutShareLink(ctx, link, 0); err != nil {
		if req.Withhold {
			return nil, "", fmt.Errorf("the link was not stored and access key %s is now marked revealed; rotate it to share a new secret: %w", keyID, err)
		}
		return nil, "", err
	}
	l.audit(ctx, core.AuditLinkCreate, link, who.User, core.OutcomeSucceeded, "", map[string]string{
		"expires_at": link.ExpiresAt.Format(time.RFC3339), "passphrase": strconv.FormatBool(req.Passphrase != ""),
		"withheld": strconv.FormatBool(req.Withhold), "sftp": strconv.FormatBool(req.SFTP), "key": strconv.Itoa(req.Key),
	})
	l.publish(ctx, link)
	path := "/s/" + link.ID + verifierText + "#" + base64.RawURLEncoding.EncodeToString(key)
	return link, path, nil
}

// readKey reads access key key's id and secret from the secret store, as
// RevealKey does; the secret is never logged or quoted.
func (l *ShareLinks) readKey(ctx context.Context, p *core.Project, r *core.Resource, key int) (string, string, error) {
	id := r.Observed.Outputs[fmt.Sprintf("AccessKey%dId", key)]
	arn := r.Observed.Outputs[fmt.Sprintf("AccessKey%dSecretArn", key)]
	if id == "" || arn == "" {
		return "", "", fmt.Errorf("%w: user %q has no access key %d yet", core.ErrNotFound, r.Name, key)
	}
	value, err := l.s.d.Cloud.GetSecretValue(ctx, p.Account(), arn)
	if err != nil {
		return "", "", err
	}
	var pair struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(value), &pair); err != nil || pair.AccessKeyId != id || pair.SecretAccessKey == "" {
		return "", "", fmt.Errorf("%w: the secret of access key %s is not an access key pair", core.ErrInternal, id)
	}
	return id, pair.SecretAccessKey, nil
}

// withhold marks the key revealed, as RevealKey does when it shows the
// secret: from now on no manager sees it. A key already revealed cannot be
// withheld: someone has seen it.
func (l *ShareLinks) withhold(ctx context.Context, key core.ResourceKey, id string) error {
	_, err := l.s.d.change(ctx, key, func(r *core.Resource) (bool, error) {
		if slices.Contains(r.Revealed, id) {
			return false, fmt.Errorf("%w: the secret of access key %s was already revealed or shared; rotate the key to share a secret nobody has seen", core.ErrConflict, id)
		}
		live := r.Revealed[:0]
		for _, k := range r.Revealed {
			if k == r.Observed.Outputs["AccessKey1Id"] || k == r.Observed.Outputs["AccessKey2Id"] {
				live = append(live, k)
			}
		}
		r.Revealed = append(live, id)
		return true, nil
	})
	return err
}

// Links returns the links of a user that are still kept, newest first;
// those past their expiry are marked expired first.
func (l *ShareLinks) Links(ctx context.Context, who core.Principal, project, user string) ([]*core.ShareLink, error) {
	if _, err := l.s.Get(ctx, who, project, core.KindUser, user); err != nil {
		return nil, err
	}
	all, err := l.o.Store.ListShareLinks(ctx, project)
	if err != nil {
		return nil, err
	}
	now := l.s.d.Clock.Now()
	var out []*core.ShareLink
	for _, link := range all {
		if link.User != user || !now.Before(link.RetainUntil()) {
			continue
		}
		if link.State.Live() && !now.Before(link.ExpiresAt) {
			if ended, err := l.expire(ctx, link.ID); err == nil {
				link = ended
			}
		}
		out = append(out, link)
	}
	return out, nil
}

// RevokeLink ends a live link of user; an ended one is ErrConflict.
func (l *ShareLinks) RevokeLink(ctx context.Context, who core.Principal, project, user, id string) (*core.ShareLink, error) {
	if _, err := l.s.Get(ctx, who, project, core.KindUser, user); err != nil {
		return nil, err
	}
	link, err := l.update(ctx, id, func(link *core.ShareLink) error {
		if link.Project != project || link.User != user {
			return fmt.Errorf("%w: no link %s for user %q", core.ErrNotFound, id, user)
		}
		if !link.State.Live() {
			return fmt.Errorf("%w: the link is already %s", core.ErrConflict, link.State)
		}
		end(link, core.LinkRevoked, l.s.d.Clock.Now())
		link.EndedBy = who.User
		return nil
	})
	if err != nil {
		return nil, err
	}
	l.audit(ctx, core.AuditLinkRevoke, link, who.User, core.OutcomeSucceeded, "", nil)
	l.publish(ctx, link)
	return link, nil
}

// Visit is a recipient loading the link's page, which fetches nothing
// secret: it returns the link (to tell whether a passphrase is needed) and
// records the first visit (opened, with when, the address and the user
// agent of the request info in ctx). An ended link is ErrGone; a token
// that names no link is ErrNotFound and counts against the client's
// address (ErrThrottled, with a *core.RetryAfterError, past the limit).
func (l *ShareLinks) Visit(ctx context.Context, token string) (*core.ShareLink, error) {
	link, err := l.resolve(ctx, token)
	if err != nil {
		return nil, err
	}
	if !link.State.Live() {
		return link, gone(link)
	}
	if link.State != core.LinkCreated {
		return link, nil
	}
	ri := core.RequestInfoFrom(ctx)
	opened, err := l.update(ctx, link.ID, func(cur *core.ShareLink) error {
		if cur.State != core.LinkCreated {
			return errNoChange
		}
		cur.State = core.LinkOpened
		cur.Opened = &core.LinkVisit{At: l.s.d.Clock.Now().UTC(), SourceIP: ri.SourceIP, UserAgent: ri.UserAgent}
		return nil
	})
	switch {
	case errors.Is(err, errNoChange):
		return link, nil
	case err != nil:
		return nil, err
	}
	l.audit(ctx, core.AuditLinkOpen, opened, anonymous, core.OutcomeSucceeded, "", nil)
	l.publish(ctx, opened)
	return opened, nil
}

// Open hands out the link's ciphertext, once: the write that marks the
// link revealed and drops the ciphertext is conditional on the version
// read, so of concurrent opens exactly one gets it. A wrong passphrase is
// ErrForbidden and counts; the last allowed failure locks the link
// (ErrGone from then on).
func (l *ShareLinks) Open(ctx context.Context, token, passphrase string) ([]byte, error) {
	link, err := l.resolve(ctx, token)
	if err != nil {
		return nil, err
	}
	if !link.State.Live() {
		return nil, gone(link)
	}
	ri := core.RequestInfoFrom(ctx)
	var (
		ciphertext []byte
		wrong      bool
	)
	// bcrypt runs once, outside the retried write: the passphrase does
	// not change between retries, its hash never does.
	if link.PassphraseHash != "" {
		wrong = bcrypt.CompareHashAndPassword([]byte(link.PassphraseHash), []byte(passphrase)) != nil
	}
	link, err = l.update(ctx, link.ID, func(cur *core.ShareLink) error {
		if !cur.State.Live() {
			return gone(cur)
		}
		now := l.s.d.Clock.Now().UTC()
		if wrong {
			cur.PassphraseFailures++
			if cur.PassphraseFailures >= core.MaxLinkPassphraseFailures {
				end(cur, core.LinkLocked, now)
			}
			return nil
		}
		ciphertext = cur.Ciphertext
		end(cur, core.LinkRevealed, now)
		cur.Revealed = &core.LinkVisit{At: now, SourceIP: ri.SourceIP, UserAgent: ri.UserAgent}
		return nil
	})
	if err != nil {
		return nil, err
	}
	l.publish(ctx, link)
	if wrong {
		l.audit(ctx, core.AuditLinkOpen, link, anonymous, core.OutcomeRefused, "wrong passphrase", map[string]string{"failures": strconv.Itoa(link.PassphraseFailures)})
		if link.State == core.LinkLocked {
			return nil, fmt.Errorf("%w: too many wrong passphrases; the link is locked for good", core.ErrGone)
		}
		left := core.MaxLinkPassphraseFailures - link.PassphraseFailures
		return nil, fmt.Errorf("%w: wrong passphrase; %d %s left", core.ErrForbidden, left, plural(left, "attempt", "attempts"))
	}
	l.audit(ctx, core.AuditLinkReveal, link, anonymous, core.OutcomeSucceeded, "", nil)
	return ciphertext, nil
}

// resolve finds the live or ended link a token names, checking its
// verifier in constant time, and marks it expired when its time has
// passed. What names no link counts as a miss of the client's address.
func (l *ShareLinks) resolve(ctx context.Context, token string) (*core.ShareLink, error) {
	addr := core.RequestInfoFrom(ctx).SourceIP
	now := l.s.d.Clock.Now()
	if wait := l.misses.blocked(addr, now); wait > 0 {
		return nil, &core.RetryAfterError{Wait: wait, Err: fmt.Errorf("%w: too many requests for links that do not exist from this address", core.ErrThrottled)}
	}
	miss := func() (*core.ShareLink, error) {
		l.misses.add(addr, now)
		return nil, fmt.Errorf("%w: no such link", core.ErrNotFound)
	}
	if len(token) != linkIDLen+linkVerifierB4 || !core.IsOperationID(token[:linkIDLen]) {
		return miss()
	}
	link, err := l.o.Store.GetShareLink(ctx, token[:linkIDLen])
	if errors.Is(err, core.ErrNotFound) {
		return miss()
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(verifierHash(token[linkIDLen:])), []byte(link.VerifierHash)) != 1 {
		return miss()
	}
	if link.State.Live() && !now.Before(link.ExpiresAt) {
		return l.expire(ctx, link.ID)
	}
	return link, nil
}

// expire marks a live link past its expiry expired, drops its ciphertext
// and records it once.
func (l *ShareLinks) expire(ctx context.Context, id string) (*core.ShareLink, error) {
	link, err := l.update(ctx, id, func(cur *core.ShareLink) error {
		if !cur.State.Live() {
			return errNoChange
		}
		end(cur, core.LinkExpired, cur.ExpiresAt)
		return nil
	})
	if errors.Is(err, errNoChange) {
		return l.o.Store.GetShareLink(ctx, id)
	}
	if err != nil {
		return nil, err
	}
	l.audit(ctx, core.AuditLinkExpire, link, systemActor, core.OutcomeSucceeded, "", nil)
	l.publish(ctx, link)
	return link, nil
}

// end moves a link to a final state and drops its ciphertext.
func end(l *core.ShareLink, state core.LinkState, at time.Time) {
	l.State, l.EndedAt, l.Ciphertext = state, at.UTC(), nil
}

// errNoChange makes update write nothing and return it.
var errNoChange = errors.New("no change")

// update reads the link, lets fn change a copy and writes it back on the
// condition of the version read, retrying when a concurrent writer won.
// An error from fn is returned and nothing is written.
func (l *ShareLinks) update(ctx context.Context, id string, fn func(*core.ShareLink) error) (*core.ShareLink, error) {
	for range maxRaces {
		cur, err := l.o.Store.GetShareLink(ctx, id)
		if err != nil {
			return nil, err
		}
		next := cur.Clone()
		if err := fn(next); err != nil {
			return nil, err
		}
		next.Version = cur.Version + 1
		err = l.o.Store.PutShareLink(ctx, next, cur.Version)
		if errors.Is(err, core.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return next, nil
	}
	return nil, fmt.Errorf("%w: link %s changed too often to write", core.ErrUnavailable, id)
}

func gone(l *core.ShareLink) error {
	switch l.State {
	case core.LinkRevealed:
		return fmt.Errorf("%w: this link was already used", core.ErrGone)
	case core.LinkExpired:
		return fmt.Errorf("%w: this link has expired", core.ErrGone)
	case core.LinkRevoked:
		return fmt.Errorf("%w: this link was revoked", core.ErrGone)
	default:
		return fmt.Errorf("%w: this link is locked after too many wrong passphrases", core.ErrGone)
	}
}

func (l *ShareLinks) audit(ctx context.Context, action core.AuditAction, link *core.ShareLink, actor, outcome, reason string, detail map[string]string) {
	ri := core.RequestInfoFrom(ctx)
	core.Audit(ctx, l.o.Auditor, core.AuditRecord{
		ID: l.s.d.ids.next(), Project: link.Project, At: l.s.d.Clock.Now().UTC(), Actor: actor, Action: action,
		Kind: core.KindUser, Name: link.User, Outcome: outcome, Reason: reason,
		SourceIP: ri.SourceIP, UserAgent: ri.UserAgent, LinkID: link.ID, Detail: detail,
	})
}

// publish tells the project's subscribers that a link changed; the
// message carries no link (a client re-reads the user's links).
func (l *ShareLinks) publish(ctx context.Context, link *core.ShareLink) {
	msg := core.Message{Type: core.MsgShareLink, Project: link.Project, Kind: core.KindUser, Name: link.User, Version: link.Version}
	if err := l.s.d.Hub.Publish(ctx, link.Project, msg); err != nil {
		l.s.d.Logger.Warn("publish failed", "project", link.Project, "type", msg.Type, "err", err)
	}
}

// verifierHash is the hex SHA-256 of a token's verifier: what is stored.
func verifierHash(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return hex.EncodeToString(sum[:])
}

// Seal encrypts plain with AES-256-GCM under key (32 bytes), binding aad:
// a random 12-byte nonce followed by the sealed bytes, as the recipient's
// page (Web Crypto) decrypts it.
func Seal(key, plain, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	return gcm.Seal(nonce, nonce, plain, aad), nil
}

// OpenSealed decrypts what Seal made; a wrong key, changed bytes or
// another aad fail.
func OpenSealed(key, sealed, aad []byte) ([]byte, error) {
	gcm, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, fmt.Errorf("%w: sealed data too short", core.ErrInvalid)
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", core.ErrInvalid, err)
	}
	return plain, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", core.ErrInternal, err)
	}
	return cipher.NewGCM(b)
}

// missLimiter counts, per client address, requests that named no valid
// link, in fixed windows. It lives in one process: on Lambda each
// instance counts for itself, behind API Gateway's own throttling.
type missLimiter struct {
	max    int
	window time.Duration
	mu     sync.Mutex
	m      map[string]*missWindow
}

type missWindow struct {
	start time.Time
	n     int
}

// maxTracked bounds the addresses a limiter remembers; past it, windows
// that have ended are forgotten.
const maxTracked = 10000

func (m *missLimiter) blocked(addr string, now time.Time) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.m[addr]
	if w == nil || now.Sub(w.start) >= m.window || w.n < m.max {
		return 0
	}
	return w.start.Add(m.window).Sub(now)
}

func (m *missLimiter) add(addr string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]*missWindow{}
	}
	if len(m.m) >= maxTracked {
		for a, w := range m.m {
			if now.Sub(w.start) >= m.window {
				delete(m.m, a)
			}
		}
	}
	w := m.m[addr]
	if w == nil || now.Sub(w.start) >= m.window {
		w = &missWindow{start: now}
		m.m[addr] = w
	}
	w.n++
}
