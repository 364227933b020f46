package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/core"
)

func TestLocalIssuerKeyPersists(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state") // created on first use
	clk := clock.NewManual(t0)
	opts := &IssuerOptions{Clock: clk.Now}

	first, err := OpenLocalIssuer(dir, "http://localhost:8080", "bucketdesk-local", opts)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, SigningKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("key file mode %v, want 0600", m)
	}
	tok, err := first.Issue(core.Principal{User: "alice", Groups: []string{"admins"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	again, err := OpenLocalIssuer(dir, "http://localhost:8080", "bucketdesk-local", opts)
	if err != nil {
		t.Fatal(err)
	}
	if again.KeyID() != first.KeyID() {
		t.Fatalf("kid changed across reopen: %q → %q", first.KeyID(), again.KeyID())
	}
	if string(again.JWKS()) != string(first.JWKS()) {
		t.Errorf("JWKS changed across reopen")
	}
	src, err := NewStaticKeySource(again.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	if p, err := NewVerifier(src, again.VerifierConfig()).Verify(ctx, tok); err != nil || p.User != "alice" {
		t.Fatalf("token from before the reopen: %+v, %v", p, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("dir holds %d files, want only the key (no temporary left)", len(entries))
	}
}

func TestLocalIssuerConcurrentFirstOpen(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	kids := make([]string, 8)
	errs := make([]error, 8)
	for i := range kids {
		wg.Go(func() {
			iss, err := OpenLocalIssuer(dir, "i", "a", nil)
			if err != nil {
				errs[i] = err
				return
			}
			kids[i] = iss.KeyID()
		})
	}
	wg.Wait()
	for i := range kids {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if kids[i] != kids[0] {
			t.Fatalf("concurrent opens made different keys: %q and %q", kids[0], kids[i])
		}
	}
}

func TestLocalIssuerRefusesBadKeyFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenLocalIssuer(dir, "i", "a", nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, SigningKeyFile)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLocalIssuer(dir, "i", "a", nil); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("open with a world-readable key = %v, want a refusal", err)
	}

	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := OpenLocalIssuer(dir, "i", "a", nil)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("open with a garbage key = %v, want an error naming %s", err, path)
	}

	if _, err := OpenLocalIssuer(t.TempDir(), "", "a", nil); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("open without an issuer = %v, want ErrInvalid", err)
	}
}

func TestLocalIssuerTokenShape(t *testing.T) {
	clk := clock.NewManual(t0)
	iss, err := OpenLocalIssuer(t.TempDir(), "http://localhost:8080", "bucketdesk-local", &IssuerOptions{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	decode := func(tok string) (header, claims map[string]any) {
		t.Helper()
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("token has %d parts", len(parts))
		}
		for i, into := range []*map[string]any{&header, &claims} {
			b, err := base64.RawURLEncoding.DecodeString(parts[i])
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, into); err != nil {
				t.Fatal(err)
			}
		}
		return header, claims
	}

	tok, err := iss.Issue(core.Principal{User: "alice", Groups: []string{"admins", "team-a"}}, 90*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	h, c := decode(tok)
	if h["alg"] != "ES256" || h["kid"] != iss.KeyID() {
		t.Errorf("header = %v", h)
	}
	want := map[string]any{
		"iss":              "http://localhost:8080",
		"aud":              "bucketdesk-local", // a string, as Cognito's ID tokens
		"token_use":        "id",
		"cognito:username": "alice",
		"exp":              float64(t0.Add(90 * time.Minute).Unix()),
		"iat":              float64(t0.Unix()),
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	if g, _ := json.Marshal(c["cognito:groups"]); string(g) != `["admins","team-a"]` {
		t.Errorf("cognito:groups = %s", g)
	}
	sub, _ := c["sub"].(string)
	if len(sub) != 36 || sub[14] != '8' {
		t.Errorf("sub = %q, want a UUID (version 8)", sub)
	}
	jti, _ := c["jti"].(string)
	if jti == "" {
		t.Error("no jti")
	}

	// sub is stable per user, jti unique per token; no groups, no claim.
	tok2, err := iss.Issue(core.Principal{User: "alice"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, c2 := decode(tok2)
	if c2["sub"] != sub || c2["jti"] == jti {
		t.Errorf("second token: sub %v (want %v), jti %v (want other than %v)", c2["sub"], sub, c2["jti"], jti)
	}
	if _, ok := c2["cognito:groups"]; ok {
		t.Error("cognito:groups present for a user without groups")
	}
	if _, ok := c2["nbf"]; ok {
		t.Error("nbf present") // Cognito's ID tokens have none
	}

	// The JWKS: one P-256 key whose kid is its RFC 7638 thumbprint.
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(iss.JWKS(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 1 {
		t.Fatalf("JWKS has %d keys", len(doc.Keys))
	}
	k := doc.Keys[0]
	if k["kty"] != "EC" || k["crv"] != "P-256" || k["alg"] != "ES256" || k["use"] != "sig" || k["kid"] != iss.KeyID() {
		t.Errorf("JWKS key = %v", k)
	}
	if _, ok := k["d"]; ok {
		t.Fatal("JWKS holds the private key")
	}
	if len(iss.KeyID()) != 43 {
		t.Errorf("kid %q is not a base64url SHA-256", iss.KeyID())
	}

	for _, bad := range []struct {
		p   core.Principal
		ttl time.Duration
	}{{core.Principal{}, time.Hour}, {core.Principal{User: "a"}, 0}} {
		if _, err := iss.Issue(bad.p, bad.ttl); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("Issue(%+v, %v) = %v, want ErrInvalid", bad.p, bad.ttl, err)
		}
	}
}

// The kid must follow RFC 7638 exactly, so that anyone can recompute it:
// SHA-256 of the required members in lexicographic order, no whitespace.
// The key is RFC 7515 appendix A.3's.
func TestThumbprintRFC7638(t *testing.T) {
	const x, y = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
	set, err := ParseJWKS(jwksDoc(t, map[string]any{"kty": "EC", "crv": "P-256", "kid": "k", "x": x, "y": y}))
	if err != nil {
		t.Fatal(err)
	}
	k, _ := set.Lookup("k")
	j, err := ecJWK(k.Public.(*ecdsa.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	canonical, err := json.Marshal(struct {
		Crv string `json:"crv"`
		Kty string `json:"kty"`
		X   string `json:"x"`
		Y   string `json:"y"`
	}{"P-256", "EC", x, y})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(canonical)
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); j.Kid != want {
		t.Errorf("thumbprint = %q, want %q", j.Kid, want)
	}
	if j.X != x || j.Y != y {
		t.Errorf("coordinates changed: %s %s", j.X, j.Y)
	}
}
