package setup_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/setup"
	"bucketdesk/internal/wsapi"
)

// lockedBuffer is a log destination shared by the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// linkServer is the whole local bucketdesk with its logs captured and
// every request the server received (target, headers, body) kept.
type linkServer struct {
	*server
	dir      string
	logs     *lockedBuffer
	mu       sync.Mutex
	received bytes.Buffer
}

func startLinkServer(t *testing.T) *linkServer {
	t.Helper()
	dir := t.TempDir()
	logs := &lockedBuffer{}
	l, err := setup.OpenLocal(setup.LocalConfig{
		DataDir: dir, Sandbox: simcloud.ZeroOptions(), CloudRate: -1, ReconcileEvery: 24 * time.Hour,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ctx := t.Context()
	if _, _, err := l.EnsureProject(ctx, setup.DemoProject([]string{"alice", "bob"})); err != nil {
		t.Fatal(err)
	}
	if _, err := setup.EnsureDemoUsers(dir, demoPassword); err != nil {
		t.Fatal(err)
	}
	srv, err := l.Server(setup.ServerConfig{WS: wsapi.Limits{MaxAge: time.Minute, IdleTimeout: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	ls := &linkServer{dir: dir, logs: logs}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ls.mu.Lock()
		ls.received.WriteString(r.Method + " " + r.RequestURI + "\n")
		r.Header.Write(&ls.received)
		ls.received.Write(body)
		ls.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		srv.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	l.Start(ctx)
	ls.server = &server{t: t, url: hs.URL, l: l}
	return ls
}

// The recipient's side over HTTP: the page needs no login and burns
// nothing, the button's POST gets the ciphertext once, which only the
// fragment decrypts; the server never sees the fragment, and neither its
// logs, its data directory nor what it received hold a secret.
func TestShareLinkEndToEnd(t *testing.T) {
	s := startLinkServer(t)
	alice, mallory := s.login("alice"), s.login("mallory")
	anon := &client{s: s.server}
	if r := alice.do("POST", "/api/projects/demo/buckets", bucketBody("partner-drop"), nil); r.status != 202 {
		t.Fatalf("bucket: %d %s", r.status, r.body)
	}
	user := map[string]any{"name": "partner-upload", "access_keys": 1, "grants": []any{map[string]any{"bucket": "partner-drop", "access": "write", "prefix": "incoming/"}}}
	if r := alice.do("POST", "/api/projects/demo/users", user, nil); r.status != 202 {
		t.Fatalf("user: %d %s", r.status, r.body)
	}
	if err := s.l.Settle(t.Context()); err != nil {
		t.Fatal(err)
	}
	lv := alice.connect()

	r := alice.do("POST", "/api/projects/demo/users/partner-upload/links", map[string]any{"key": 1, "withhold_secret": true, "expires_in_s": 3600}, nil)
	if r.status != 201 {
		t.Fatalf("create link: %d %s", r.status, r.body)
	}
	var created struct {
		LinkRaw map[string]any `json:"link"`
		URL     string         `json:"url"`
	}
	r.json(t, &created)
	path, key, _ := strings.Cut(created.URL, "#")
	token := strings.TrimPrefix(path, "/s/")
	id, _ := created.LinkRaw["id"].(string)
	if created.LinkRaw["state"] != "created" || !strings.HasPrefix(token, id) || len(key) != 43 {
		t.Fatalf("created %s", r.body)
	}
	for _, field := range []string{"ciphertext", "verifier_hash", "passphrase_hash"} {
		if _, ok := created.LinkRaw[field]; ok {
			t.Errorf("the link view shows %s", field)
		}
	}
	// The manager chose never to see the secret.
	if r := alice.do("POST", "/api/projects/demo/users/partner-upload/keys/1/reveal", nil, nil); r.status != 409 {
		t.Errorf("reveal after a withheld link: %d %s, want 409", r.status, r.body)
	}

	// The page, twice: no login, nothing secret, nothing burned.
	for range 2 {
		page := anon.do("GET", path, nil, map[string]string{"User-Agent": "Slackbot-LinkExpanding 1.0"})
		if page.status != 200 || !strings.Contains(string(page.body), `src="/s/_/share.js"`) {
			t.Fatalf("page: %d %s", page.status, page.body)
		}
		checkSecretHeaders(t, "page", page.header)
	}
	lv.until(t, func(m core.Message) bool {
		return m.Type == core.MsgShareLink && m.Name == "partner-upload" && m.Version == 2
	})
	var list struct{ Items []map[string]any }
	alice.do("GET", "/api/projects/demo/users/partner-upload/links", nil, nil).json(t, &list)
	if len(list.Items) != 1 || list.Items[0]["state"] != "opened" {
		t.Fatalf("links after the page was loaded: %+v", list.Items)
	}
	opened, _ := list.Items[0]["opened"].(map[string]any)
	if opened["user_agent"] != "Slackbot-LinkExpanding 1.0" || opened["source_ip"] == "" {
		t.Errorf("opened %+v: want the visitor's address and user agent", opened)
	}
	for _, asset := range []string{"/s/_/share.js", "/s/_/share.css"} {
		a := anon.do("GET", asset, nil, nil)
		if a.status != 200 {
			t.Errorf("%s: %d", asset, a.status)
		}
		checkSecretHeaders(t, asset, a.header)
	}

	// The button.
	open := anon.do("POST", path+"/open", map[string]string{}, nil)
	if open.status != 200 {
		t.Fatalf("open: %d %s", open.status, open.body)
	}
	checkSecretHeaders(t, "open", open.header)
	var got struct{ Ciphertext string }
	open.json(t, &got)
	ct, err := base64.RawURLEncoding.DecodeString(got.Ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	k, _ := base64.RawURLEncoding.DecodeString(key)
	plain, err := engine.OpenSealed(k, ct, []byte(id))
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	var pkg engine.CredentialsPackage
	if err := json.Unmarshal(plain, &pkg); err != nil {
		t.Fatal(err)
	}
	secret := sandboxSecret(t, s.server, "partner-upload", pkg.AccessKeyID)
	if pkg.SecretAccessKey != secret || len(pkg.Buckets) != 1 || pkg.Buckets[0].Access != core.AccessWrite {
		t.Errorf("package: %+v", pkg)
	}
	if _, err := engine.OpenSealed(make([]byte, 32), ct, []byte(id)); err == nil {
		t.Error("the ciphertext decrypted with a zero key")
	}
	// Used.
	if again := anon.do("POST", path+"/open", map[string]string{}, nil); again.status != 410 || !strings.Contains(string(again.body), "urn:bucketdesk:problem:gone") {
		t.Errorf("second open: %d %s, want 410 gone", again.status, again.body)
	}
	if page := anon.do("GET", path, nil, nil); page.status != 410 || !strings.Contains(string(page.body), "already used") {
		t.Errorf("page after use: %d %s, want 410 saying it was used", page.status, page.body)
	} else {
		checkSecretHeaders(t, "410 page", page.header)
	}
	if bad := anon.do("GET", "/s/"+strings.Repeat("A", len(token)), nil, nil); bad.status != 404 {
		t.Errorf("unknown token: %d, want 404", bad.status)
	}

	// A passphrase, a revoke, and mallory.
	r = alice.do("POST", "/api/projects/demo/users/partner-upload/links", map[string]any{"key": 1, "passphrase": "by phone"}, nil)
	r.json(t, &created)
	p2, _, _ := strings.Cut(created.URL, "#")
	if w := anon.do("POST", p2+"/open", map[string]string{"passphrase": "guess"}, nil); w.status != 403 || !strings.Contains(string(w.body), "4 attempts left") {
		t.Errorf("wrong passphrase: %d %s", w.status, w.body)
	}
	id2, _ := created.LinkRaw["id"].(string)
	for _, req := range []struct{ method, path string }{
		{"GET", "/api/projects/demo/users/partner-upload/links"},
		{"POST", "/api/projects/demo/users/partner-upload/links"},
		{"POST", "/api/projects/demo/users/partner-upload/links/" + id2 + "/revoke"},
	} {
		if m := mallory.do(req.method, req.path, map[string]any{}, nil); m.status != 404 {
			t.Errorf("mallory %s %s: %d %s, want 404", req.method, req.path, m.status, m.body)
		}
	}
	if rv := alice.do("POST", "/api/projects/demo/users/partner-upload/links/"+id2+"/revoke", nil, nil); rv.status != 200 || !strings.Contains(string(rv.body), `"state":"revoked"`) {
		t.Errorf("revoke: %d %s", rv.status, rv.body)
	}
	if w := anon.do("POST", p2+"/open", map[string]string{"passphrase": "by phone"}, nil); w.status != 410 {
		t.Errorf("open of a revoked link: %d %s", w.status, w.body)
	}

	// Nothing secret anywhere the server keeps or writes; the fragment key
	// never reached it.
	s.mu.Lock()
	received := bytes.Clone(s.received.Bytes())
	s.mu.Unlock()
	if bytes.Contains(received, []byte(key)) {
		t.Error("the server received the fragment key")
	}
	if !bytes.Contains(received, []byte(token)) {
		t.Fatal("the request log is empty: the check above proves nothing")
	}
	places := map[string][]byte{"logs": s.logs.Bytes()}
	filepath.WalkDir(s.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			places[p] = b
		}
		return nil
	})
	for where, b := range places {
		for what, v := range map[string]string{"secret": secret, "token": token, "verifier": token[26:], "key": key, "passphrase": "by phone"} {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds the %s", where, what)
			}
		}
	}
}

func checkSecretHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, want := range map[string]string{
		"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow", "X-Content-Type-Options": "nosniff",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", what, k, got, want)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("%s: CSP %q lacks %s", what, csp, d)
		}
	}
}

// sandboxSecret reads an access key's secret from the sandbox's secret
// store, as only the engine does.
func sandboxSecret(t *testing.T, s *server, user, keyID string) string {
	t.Helper()
	ctx := t.Context()
	p, err := s.l.Store.GetProject(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.l.Engine.Service.Get(ctx, core.Principal{User: "alice"}, "demo", core.KindUser, user)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.l.Sandbox.GetSecretValue(ctx, p.Account(), r.Observed.Outputs["AccessKey1SecretArn"])
	if err != nil {
		t.Fatal(err)
	}
	var pair struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(v), &pair); err != nil || pair.AccessKeyId != keyID {
		t.Fatalf("secret of %s: %v", keyID, err)
	}
	return pair.SecretAccessKey
}
