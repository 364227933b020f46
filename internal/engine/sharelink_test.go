package engine_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/setup"
)

// actions lists the records as action/outcome (auditLog: admin_test.go).
func (a *auditLog) actions() []string {
	var out []string
	for _, r := range a.records() {
		out = append(out, string(r.Action)+"/"+r.Outcome)
	}
	return out
}

// linkRig is a local bucketdesk with a user of the demo project that has
// one access key, and share links over an engine whose clock the test
// moves.
type linkRig struct {
	l      *setup.Local
	dir    string
	clk    *clock.Manual
	audit  *auditLog
	logs   *syncBuffer
	links  *engine.ShareLinks
	svc    *engine.Service
	secret string // the access key's secret, as the secret store holds it
	keyID  string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newLinkRig(t *testing.T) *linkRig {
	t.Helper()
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := t.TempDir()
	l := open(t, dir, simcloud.ZeroOptions(), func(c *setup.LocalConfig) { c.Logger = logger })
	l.Start(t.Context())
	ctx := t.Context()
	must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", bucket("links-b")))
	must{t}.op(l.Engine.Service.Create(ctx, alice, "demo", user("partner-upload", 1, "links-b")))
	if err := l.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := l.Engine.Service.Get(ctx, alice, "demo", core.KindUser, "partner-upload")
	if err != nil || r.Observed.Phase != core.PhaseReady {
		t.Fatalf("user not ready: %v %+v", err, r)
	}
	p, err := l.Store.GetProject(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	value, err := l.Sandbox.GetSecretValue(ctx, p.Account(), r.Observed.Outputs["AccessKey1SecretArn"])
	if err != nil {
		t.Fatal(err)
	}
	var pair struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(value), &pair); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewManual(time.Now())
	eng := engine.New(engine.Options{Resources: l.Store, Projects: l.Store, Queue: l.Queue, Cloud: l.Sandbox, Hub: l.Hub, Clock: clk, Logger: logger})
	audit := &auditLog{}
	return &linkRig{
		l: l, dir: dir, clk: clk, audit: audit, logs: logs, svc: eng.Service,
		links:  engine.NewShareLinks(eng.Service, engine.ShareLinkOptions{Store: l.Store, Auditor: audit, MaxMisses: 5, MissWindow: time.Minute}),
		secret: pair.SecretAccessKey, keyID: pair.AccessKeyId,
	}
}

// from is a request from one recipient's address.
func from(ctx context.Context, addr string) context.Context {
	return core.WithRequestInfo(ctx, core.RequestInfo{SourceIP: addr, UserAgent: "recipient-browser/1.0"})
}

// splitURL returns the token and the fragment key of "/s/<token>#<key>".
func splitURL(t *testing.T, url string) (token, key string) {
	t.Helper()
	rest, ok := strings.CutPrefix(url, "/s/")
	token, key, ok2 := strings.Cut(rest, "#")
	if !ok || !ok2 || len(token) < 26+22 || len(key) != 43 {
		t.Fatalf("link URL %q is not /s/<token>#<key>", url)
	}
	return token, key
}

func decryptPackage(t *testing.T, ct []byte, key, id string) engine.CredentialsPackage {
	t.Helper()
	k, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := engine.OpenSealed(k, ct, []byte(id))
	if err != nil {
		t.Fatalf("decrypt with the fragment key: %v", err)
	}
	var pkg engine.CredentialsPackage
	if err := json.Unmarshal(plain, &pkg); err != nil {
		t.Fatal(err)
	}
	return pkg
}

// The whole life of a link whose secret the manager never sees: made,
// opened by a preview (which burns nothing), revealed once, gone after;
// every step audited and published; nothing secret anywhere but in the
// recipient's hands.
func TestShareLinkWithheldSecretRevealedOnce(t *testing.T) {
	rig := newLinkRig(t)
	ctx := t.Context()
	rec := record(t, rig.l, "demo")
	link, url, err := rig.links.CreateLink(from(ctx, "198.51.100.1"), alice, "demo", "partner-upload", core.LinkRequest{Key: 1, Withhold: true})
	if err != nil {
		t.Fatal(err)
	}
	token, key := splitURL(t, url)
	if link.State != core.LinkCreated || !link.ExpiresAt.Equal(link.CreatedAt.Add(core.DefaultLinkTTL)) || link.AccessKeyID != rig.keyID {
		t.Errorf("new link %+v: want created, expiring in 24 h, for key %s", link, rig.keyID)
	}
	// The manager chose never to see it: reveal is refused from now on.
	if _, _, err := rig.svc.RevealKey(ctx, alice, "demo", "partner-upload", 1); !errors.Is(err, core.ErrConflict) {
		t.Errorf("RevealKey after a withheld link: %v, want ErrConflict", err)
	}
	stored, err := rig.l.Store.GetShareLink(ctx, link.ID)
	if err != nil {
		t.Fatal(err)
	}
	sealed := bytes.Clone(stored.Ciphertext)

	// Loading the page (a link preview, a prefetch) burns nothing.
	for range 3 {
		got, err := rig.links.Visit(from(ctx, "203.0.113.9"), token)
		if err != nil || got.State != core.LinkOpened {
			t.Fatalf("Visit: %+v, %v; want opened", got, err)
		}
	}
	ct, err := rig.links.Open(from(ctx, "203.0.113.9"), token, "")
	if err != nil {
		t.Fatal(err)
	}
	pkg := decryptPackage(t, ct, key, link.ID)
	if pkg.AccessKeyID != rig.keyID || pkg.SecretAccessKey != rig.secret || pkg.Region != "eu-west-1" ||
		pkg.S3Endpoint != "https://s3.eu-west-1.amazonaws.com" || len(pkg.Buckets) != 1 || pkg.Buckets[0].S3URI != "s3://links-b/in/" ||
		!strings.Contains(pkg.Examples["aws_cli"], "aws s3 ls s3://links-b/in/") || !strings.Contains(pkg.Examples["rclone"], "type = s3") {
		t.Errorf("package %+v lacks what the recipient needs", pkg)
	}
	// Single use.
	if _, err := rig.links.Open(from(ctx, "203.0.113.9"), token, ""); !errors.Is(err, core.ErrGone) {
		t.Errorf("second Open: %v, want ErrGone", err)
	}
	if _, err := rig.links.Visit(from(ctx, "203.0.113.9"), token); !errors.Is(err, core.ErrGone) {
		t.Errorf("Visit after use: %v, want ErrGone", err)
	}
	stored, err = rig.l.Store.GetShareLink(ctx, link.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.State != core.LinkRevealed || stored.Ciphertext != nil || stored.Opened == nil || stored.Opened.SourceIP != "203.0.113.9" ||
		stored.Opened.UserAgent != "recipient-browser/1.0" || stored.Revealed == nil {
		t.Errorf("stored link after use %+v: want revealed, ciphertext dropped, visits recorded", stored)
	}
	if got, want := strings.Join(rig.audit.actions(), " "), "link-create/succeeded link-open/succeeded link-reveal/succeeded"; got != want {
		t.Errorf("audit records %s, want %s", got, want)
	}
	for _, r := range rig.audit.records() {
		if r.LinkID != link.ID || r.Project != "demo" || r.Name != "partner-upload" {
			t.Errorf("audit record %+v does not name the link", r)
		}
	}

	// What the server kept does not decrypt without the fragment.
	for name, k := range map[string][]byte{"zero key": make([]byte, 32), "random key": randomKey()} {
		if _, err := engine.OpenSealed(k, sealed, []byte(link.ID)); err == nil {
			t.Errorf("the stored ciphertext decrypted with a %s", name)
		}
	}
	right, _ := base64.RawURLEncoding.DecodeString(key)
	if _, err := engine.OpenSealed(right, sealed, []byte("01JOTHERLINK00000000000000")); err == nil {
		t.Error("the ciphertext decrypted under another link's id")
	}

	msgs := rec.stop()
	var states []int64
	for _, m := range msgs {
		if m.Type == core.MsgShareLink && m.Name == "partner-upload" {
			states = append(states, m.Version)
		}
	}
	if fmt.Sprint(states) != "[1 2 3]" {
		t.Errorf("share_link messages at versions %v, want [1 2 3] (created, opened, revealed)", states)
	}
	assertNothingSecret(t, rig, msgs, rig.secret, token, token[26:], key)
}

func randomKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// assertNothingSecret scans the audit records, the published messages,
// the logs and every file of the data directory for the secrets.
func assertNothingSecret(t *testing.T, rig *linkRig, msgs []core.Message, secrets ...string) {
	t.Helper()
	records, _ := json.Marshal(rig.audit.records())
	published, _ := json.Marshal(msgs)
	places := map[string][]byte{"audit records": records, "published messages": published, "logs": []byte(rig.logs.String())}
	// Read the files as they are on disk (bbolt pages, the sandbox's sealed store).
	filepath.WalkDir(rig.dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			places[path] = b
		}
		return nil
	})
	if len(places) < 5 {
		t.Fatalf("scanned only %d places; want the data directory's files too", len(places))
	}
	for where, b := range places {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret (%d bytes long)", where, len(s))
			}
		}
	}
}

// Two recipients racing: exactly one gets the ciphertext.
func TestShareLinkConcurrentOpensOneWins(t *testing.T) {
	rig := newLinkRig(t)
	ctx := t.Context()
	_, url, err := rig.links.CreateLink(ctx, alice, "demo", "partner-upload", core.LinkRequest{Key: 1})
	if err != nil {
		t.Fatal(err)
	}
	token, _ := splitURL(t, url)
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = rig.links.Open(from(ctx, fmt.Sprintf("192.0.2.%d", i)), token, "")
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, core.ErrGone):
			t.Errorf("opener %d: %v, want nil or ErrGone", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent opens got the ciphertext, want exactly 1", won, n)
	}
}

// Wrong passphrases are limited per link: the fifth locks it for good.
func TestShareLinkPassphraseLimit(t *testing.T) {
	rig := newLinkRig(t)
	ctx := t.Context()
	_, url, err := rig.links.CreateLink(ctx, alice, "demo", "partner-upload", core.LinkRequest{Key: 1, Passphrase: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	token, key := splitURL(t, url)
	for i := 1; i < core.MaxLinkPassphraseFailures; i++ {
		_, err := rig.links.Open(ctx, token, "wrong")
		if !errors.Is(err, core.ErrForbidden) || !strings.Contains(err.Error(), fmt.Sprintf("%d attempt", core.MaxLinkPassphraseFailures-i)) {
			t.Fatalf("wrong passphrase %d: %v, want ErrForbidden with the attempts left", i, err)
		}
	}
	// The right one still works before the limit.
	ct, err := rig.links.Open(ctx, token, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	decryptPackage(t, ct, key, token[:26])

	_, url, err = rig.links.CreateLink(ctx, alice, "demo", "partner-upload", core.LinkRequest{Key: 1, Passphrase: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	token, _ = splitURL(t, url)
	for i := 1; i <= core.MaxLinkPassphraseFailures; i++ {
		_, err = rig.links.Open(ctx, token, "")
	}
	if !errors.Is(err, core.ErrGone) {
		t.Fatalf("wrong passphrase %d: %v, want ErrGone (locked)", core.MaxLinkPassphraseFailures, err)
	}
	if _, err := rig.links.Open(ctx, token, "correct horse"); !errors.Is(err, core.ErrGone) {
		t.Errorf("right passphrase after the lock: %v, want ErrGone", err)
	}
	l, err := rig.l.Store.GetShareLink(ctx, token[:26])
	if err != nil || l.State != core.LinkLocked || l.Ciphertext != nil {
		t.Errorf("locked link %+v, %v: want locked without ciphertext", l, err)
	}
}

// A link past its expiry (an injected clock) is gone, marked expired once
// and audited; a revoked one is gone too.
func TestShareLinkExpiredAndRevoked(t *testing.T) {
	rig := newLinkRig(t)
	ctx := t.Context()
	expiring, url, err := rig.links.CreateLink(ctx, alice, "demo", "partner-upload", core.LinkRequest{Key: 1, ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	expToken, _ := splitURL(t, url)
	revoked, url, err := rig.links.CreateLink(ctx, alice, "demo", "partner-upload", core.LinkRequest{Key: 1, ExpiresIn: 3 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	revToken, _ := splitURL(t, url)
	if _, err := rig.links.RevokeLink(ctx, bob, "demo", "partner-upload", revoked.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := rig.links.RevokeLink(ctx, bob, "demo", "partner-upload", revoked.ID); !errors.Is(err, core.ErrConflict) {
		t.Errorf("second revoke: %v, want ErrConflict", err)
	}
	if _, err := rig.links.Open(ctx, revToken, ""); !errors.Is(err, core.ErrGone) || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("Open of a revoked link: %v, want ErrGone (revoked)", err)
	}
	rig.clk.Advance(time.Hour)
	if _, err := rig.links.Visit(ctx, expToken); !errors.Is(err, core.ErrGone) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("Visit of an expired link: %v, want ErrGone (expired)", err)
	}
	if _, err := rig.links.Open(ctx, expToken, ""); !errors.Is(err, core.ErrGone) {
		t.Errorf("Open of an expired link: %v, want ErrGone", err)
	}
	list, err := rig.links.Links(ctx, alice, "demo", "partner-upload")
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]core.LinkState{}
	for _, l := range list {
		states[l.ID] = l.State
		if l.Ciphertext != nil {
			t.Errorf("ended link %s kept its ciphertext", l.ID)
		}
	}
	if states[expiring.ID] != core.LinkExpired || states[revoked.ID] != core.LinkRevoked {
		t.Errorf("states %v, want %s expired and %s revoked", states, expiring.ID, revoked.ID)
	}
	if got, want := strings.Join(rig.audit.actions(), " "), "link-create/succeeded link-create/succeeded link-revoke/succeeded link-expire/succeeded"; got != want {
		t.Errorf("audit records %s, want %s (expired recorded once)", got, want)
	}
	// Past its retention a link is no longer listed.
	rig.clk.Advance(core.LinkRetention + 3*time.Hour)
	if list, err := rig.links.Links(ctx, alice, "demo", "partner-upload"); err != nil || len(list) != 0 {
		t.Errorf("links after their retention: %d, %v; want none", len(list), err)
	}
}

// Requests for links that do not exist are limited per client address,
// across tokens.
func TestShareLinkGuessingIsLimited(t *testing.T) {
	rig := newLinkRig(t)
	ctx := t.Context()
	_, url, err := rig.links.CreateLink(ctx, alice, "demo", "partner-upload", core.LinkRequest{Key: 1})
	if err != nil {
		t.Fatal(err)
	}
	token, _ := splitURL(t, url)
	guess := func(i int) string {
		b := []byte(token)
		b[len(b)-1-i%10] ^= 1 // a wrong verifier for a real id
		return string(b)
	}
	attacker := from(ctx, "192.0.2.66")
	for i := range 5 {
		if _, err := rig.links.Open(attacker, guess(i), ""); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("guess %d: %v, want ErrNotFound", i, err)
		}
	}
	_, err = rig.links.Visit(attacker, "short")
	var ra *core.RetryAfterError
	if !errors.Is(err, core.ErrThrottled) || !errors.As(err, &ra) || ra.Wait <= 0 {
		t.Fatalf("sixth guess: %v, want ErrThrottled with a wait", err)
	}
	// Another address is not held up, and the link was not burned.
	if _, err := rig.links.Open(from(ctx, "198.51.100.7"), token, ""); err != nil {
		t.Errorf("the recipient after someone's guesses: %v", err)
	}
	rig.clk.Advance(time.Minute)
	if _, err := rig.links.Visit(attacker, guess(0)); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("a guess after the window: %v, want ErrNotFound", err)
	}
}

// Only members make, list and revoke links; requests are checked.
func TestShareLinkMembersAndValidation(t *testing.T) {
	rig := newLinkRig(t)
	ctx := t.Context()
	mallory := core.Principal{User: "mallory"}
	link, _, err := rig.links.CreateLink(ctx, alice, "demo", "partner-upload", core.LinkRequest{Key: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rig.links.CreateLink(ctx, mallory, "demo", "partner-upload", core.LinkRequest{Key: 1}); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("mallory creates: %v, want ErrForbidden", err)
	}
	if _, err := rig.links.Links(ctx, mallory, "demo", "partner-upload"); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("mallory lists: %v, want ErrForbidden", err)
	}
	if _, err := rig.links.RevokeLink(ctx, mallory, "demo", "partner-upload", link.ID); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("mallory revokes: %v, want ErrForbidden", err)
	}
	for name, req := range map[string]core.LinkRequest{
		"8 days":            {Key: 1, ExpiresIn: 8 * 24 * time.Hour},
		"nothing to share":  {Key: 0},
		"key 3":             {Key: 3},
		"withhold no key":   {Key: 0, SFTP: true, Withhold: true},
		"long passphrase":   {Key: 1, Passphrase: strings.Repeat("x", 73)},
		"SFTP while it off": {Key: 1, SFTP: true},
	} {
		if _, _, err := rig.links.CreateLink(ctx, alice, "demo", "partner-upload", req); !errors.Is(err, core.ErrInvalid) && !errors.Is(err, core.ErrConflict) {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
	if _, _, err := rig.links.CreateLink(ctx, alice, "demo", "nobody", core.LinkRequest{Key: 1}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("link for a missing user: %v, want ErrNotFound", err)
	}
	// A key revealed to a manager cannot be withheld afterwards.
	if _, _, err := rig.svc.RevealKey(ctx, alice, "demo", "partner-upload", 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rig.links.CreateLink(ctx, alice, "demo", "partner-upload", core.LinkRequest{Key: 1, Withhold: true}); !errors.Is(err, core.ErrConflict) {
		t.Errorf("withholding a revealed key: %v, want ErrConflict", err)
	}
	// Sharing it (not withheld) still works.
	if _, _, err := rig.links.CreateLink(ctx, alice, "demo", "partner-upload", core.LinkRequest{Key: 1}); err != nil {
		t.Errorf("link for a revealed key: %v", err)
	}
}
