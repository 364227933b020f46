package auth

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/core"
)

func TestVerifyLocalIssuerToken(t *testing.T) {
	clk := clock.NewManual(t0)
	iss, err := OpenLocalIssuer(t.TempDir(), "http://localhost:8080", "bucketdesk-local", &IssuerOptions{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewStaticKeySource(iss.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(src, iss.VerifierConfig())
	ctx := context.Background()

	for _, p := range []core.Principal{
		{User: "alice", Groups: []string{"admins", "team-a"}},
		{User: "bob"},
	} {
		tok, err := iss.Issue(p, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Verify(ctx, tok)
		if err != nil {
			t.Fatalf("Verify(%s's token): %v", p.User, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("Verify = %+v, want %+v", got, p)
		}
	}

	// The token lives its ttl, not a second more.
	tok, err := iss.Issue(core.Principal{User: "alice"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(59 * time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("Verify before expiry: %v", err)
	}
	clk.Advance(2 * time.Second)
	_, err = v.Verify(ctx, tok)
	wantUnauthenticated(t, err, "token expired", tok)

	// A token of another local issuer (another key) is refused.
	other, err := OpenLocalIssuer(t.TempDir(), "http://localhost:8080", "bucketdesk-local", &IssuerOptions{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	tok, err = other.Issue(core.Principal{User: "mallory"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(ctx, tok)
	wantUnauthenticated(t, err, "unknown key id", tok)
	if !errors.Is(err, ErrUnknownKey) {
		t.Errorf("error %v does not wrap ErrUnknownKey", err)
	}
}

// jwksServer serves a JWKS document that a test can replace, and counts
// the fetches.
type jwksServer struct {
	*httptest.Server
	doc     atomic.Pointer[[]byte]
	status  atomic.Int32
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, doc []byte) *jwksServer {
	s := &jwksServer{}
	s.set(doc)
	s.status.Store(http.StatusOK)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if r.URL.Path != "/.well-known/jwks.json" {
			http.NotFound(w, r)
			return
		}
		if st := int(s.status.Load()); st != http.StatusOK {
			http.Error(w, "down", st)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(*s.doc.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(doc []byte) { s.doc.Store(&doc) }

func (s *jwksServer) url() string { return s.URL + "/.well-known/jwks.json" }

func TestVerifyHTTPKeySourceRotation(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewManual(t0)
	k1, k2 := rsaKey(t, "k1"), rsaKey(t, "k2")
	srv := newJWKSServer(t, jwksDoc(t, jwkOf(t, "kid-1", &k1.PublicKey)))
	src := NewHTTPKeySource(srv.url(), srv.Client(), &HTTPKeySourceOptions{
		MinRefresh: 30 * time.Second, MaxAge: time.Hour, Clock: clk.Now,
	})
	v := NewVerifier(src, VerifierConfig{Issuer: testIssuer, Audience: testAudience, TokenUse: TokenUseID, Clock: clk.Now})
	verify := func(key *rsa.PrivateKey, kid string) (string, error) {
		tok := sign(t, jwt.SigningMethodRS256, key, kid, cognitoClaims(clk.Now()))
		_, err := v.Verify(ctx, tok)
		return tok, err
	}
	wantFetches := func(n int32) {
		t.Helper()
		if got := srv.fetches.Load(); got != n {
			t.Fatalf("JWKS fetched %d times, want %d", got, n)
		}
	}

	wantFetches(0) // lazily: nothing before the first token
	for range 10 {
		if _, err := verify(k1, "kid-1"); err != nil {
			t.Fatal(err)
		}
	}
	wantFetches(1)

	// The provider rotates: kid-2 replaces kid-1. Within MinRefresh of the
	// last fetch, kid-2 is not looked for.
	srv.set(jwksDoc(t, jwkOf(t, "kid-2", &k2.PublicKey)))
	tok, err := verify(k2, "kid-2")
	wantUnauthenticated(t, err, "unknown key id", tok)
	wantFetches(1)

	// After it, the first token naming kid-2 causes one refetch; many at
	// once still cause one, and all of them see the new key.
	clk.Advance(30 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if _, err := verify(k2, "kid-2"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	wantFetches(2)

	// kid-1 is gone from the new set.
	tok, err = verify(k1, "kid-1")
	wantUnauthenticated(t, err, "unknown key id", tok)
	wantFetches(2) // within MinRefresh of the last fetch: no request

	// Made-up kids do not make us hammer the provider.
	for i := range 50 {
		tok, err := verify(k1, fmt.Sprintf("made-up-%d", i))
		wantUnauthenticated(t, err, "unknown key id", tok)
	}
	wantFetches(2)

	// Past MinRefresh, an unknown kid may cause one more fetch; it is
	// still unknown after it.
	clk.Advance(31 * time.Second)
	tok, err = verify(k1, "still-unknown")
	wantUnauthenticated(t, err, "unknown key id", tok)
	wantFetches(3)
	tok, err = verify(k1, "still-unknown")
	wantUnauthenticated(t, err, "unknown key id", tok)
	wantFetches(3)

	// Known kids are served from the cache until MaxAge, then refetched.
	if _, err := verify(k2, "kid-2"); err != nil {
		t.Fatal(err)
	}
	wantFetches(3)
	clk.Advance(time.Hour)
	if _, err := verify(k2, "kid-2"); err != nil {
		t.Fatal(err)
	}
	wantFetches(4)

	// The provider fails: the cached set goes on serving past MaxAge.
	srv.status.Store(http.StatusInternalServerError)
	clk.Advance(2 * time.Hour)
	if _, err := verify(k2, "kid-2"); err != nil {
		t.Fatalf("Verify with the provider down and a cached set: %v", err)
	}
	wantFetches(5)
	if _, err := verify(k2, "kid-2"); err != nil {
		t.Fatal(err)
	}
	wantFetches(5) // the failed attempt also counts against MinRefresh
}

func TestHTTPKeySourceUnavailable(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewManual(t0)
	k1 := rsaKey(t, "k1")
	srv := newJWKSServer(t, jwksDoc(t, jwkOf(t, "kid-1", &k1.PublicKey)))
	srv.status.Store(http.StatusServiceUnavailable)
	src := NewHTTPKeySource(srv.url(), srv.Client(), &HTTPKeySourceOptions{Clock: clk.Now})
	v := NewVerifier(src, VerifierConfig{Issuer: testIssuer, Audience: testAudience, Clock: clk.Now})
	tok := sign(t, jwt.SigningMethodRS256, k1, "kid-1", cognitoClaims(t0))

	// No key set yet and the provider down: that is our outage (503), not
	// the caller's bad token (401).
	_, err := v.Verify(ctx, tok)
	if !errors.Is(err, core.ErrUnavailable) || errors.Is(err, core.ErrUnauthenticated) {
		t.Fatalf("Verify with the provider down = %v, want ErrUnavailable only", err)
	}
	if strings.Contains(err.Error(), tok) {
		t.Errorf("error %q contains the token", err)
	}
	_, err = v.Verify(ctx, tok)
	if !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("second Verify = %v, want ErrUnavailable", err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetched %d times, want 1 (retries are spaced)", n)
	}

	// It comes back: a failed first fetch is retried after a second.
	srv.status.Store(http.StatusOK)
	clk.Advance(time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}

	// A provider that hangs is cut off after FetchTimeout.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	v = NewVerifier(NewHTTPKeySource(hang.URL, hang.Client(), &HTTPKeySourceOptions{FetchTimeout: 50 * time.Millisecond}),
		VerifierConfig{Issuer: testIssuer, Audience: testAudience, Clock: clk.Now})
	if _, err := v.Verify(ctx, tok); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Verify with a hanging provider = %v, want ErrUnavailable", err)
	}

	// A document that is not a JWKS is an outage too.
	bad := newJWKSServer(t, []byte(`<html>login</html>`))
	v = NewVerifier(NewHTTPKeySource(bad.url(), bad.Client(), nil), VerifierConfig{Issuer: testIssuer, Audience: testAudience, Clock: clk.Now})
	if _, err := v.Verify(ctx, tok); !errors.Is(err, core.ErrUnavailable) {
		t.Fatalf("Verify with a broken JWKS = %v, want ErrUnavailable", err)
	}
}

func TestVerifyRejections(t *testing.T) {
	ctx := context.Background()
	now := t0
	rk := rsaKey(t, "k1")
	ek := ecKey(t)
	other := rsaKey(t, "other")
	doc := jwksDoc(t, jwkOf(t, "rsa-1", &rk.PublicKey), jwkOf(t, "ec-1", &ek.PublicKey))
	src, err := NewStaticKeySource(doc)
	if err != nil {
		t.Fatal(err)
	}
	cfg := VerifierConfig{Issuer: testIssuer, Audience: testAudience, Leeway: 5 * time.Second, Clock: func() time.Time { return now }}
	anyUse := NewVerifier(src, cfg)
	cfg.TokenUse = TokenUseID
	idOnly := NewVerifier(src, cfg)
	cfg.TokenUse = TokenUseAccess
	accessOnly := NewVerifier(src, cfg)

	with := func(edit func(c jwt.MapClaims)) jwt.MapClaims {
		c := cognitoClaims(now)
		edit(c)
		return c
	}
	access := func(clientID string) jwt.MapClaims {
		return with(func(c jwt.MapClaims) {
			delete(c, "aud")
			delete(c, "cognito:username")
			c["token_use"] = "access"
			c["client_id"] = clientID
			c["username"] = "alice"
			c["scope"] = "aws.cognito.signin.user.admin"
		})
	}
	rs := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodRS256, rk, "rsa-1", c) }
	good := rs(cognitoClaims(now))
	parts := strings.Split(good, ".")

	pubDER, err := x509.MarshalPKIXPublicKey(&rk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	tampered := func() string {
		c := cognitoClaims(now)
		c["cognito:username"] = "root"
		b, _ := json.Marshal(c)
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}()
	badSig := func() string {
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		sig[10] ^= 1
		return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	}()

	okCases := []struct {
		name string
		v    *Verifier
		tok  string
		want core.Principal
	}{
		{"id token", idOnly, good, core.Principal{User: "alice", Groups: []string{"admins", "team-a"}}},
		{"ES256 key", idOnly, sign(t, jwt.SigningMethodES256, ek, "ec-1", cognitoClaims(now)), core.Principal{User: "alice", Groups: []string{"admins", "team-a"}}},
		{"aud array", idOnly, rs(with(func(c jwt.MapClaims) { c["aud"] = []string{"other", testAudience} })), core.Principal{User: "alice", Groups: []string{"admins", "team-a"}}},
		{"access token with client_id", accessOnly, rs(access(testAudience)), core.Principal{User: "alice", Groups: []string{"admins", "team-a"}}},
		{"access token, any use", anyUse, rs(access(testAudience)), core.Principal{User: "alice", Groups: []string{"admins", "team-a"}}},
		{"user from sub", anyUse, rs(with(func(c jwt.MapClaims) { delete(c, "cognito:username"); delete(c, "cognito:groups") })), core.Principal{User: "9c1e2f4a-0000-4000-8000-000000000001"}},
		{"expired within leeway", idOnly, rs(with(func(c jwt.MapClaims) { c["exp"] = now.Add(-3 * time.Second).Unix() })), core.Principal{User: "alice", Groups: []string{"admins", "team-a"}}},
		{"nbf within leeway", idOnly, rs(with(func(c jwt.MapClaims) { c["nbf"] = now.Add(3 * time.Second).Unix() })), core.Principal{User: "alice", Groups: []string{"admins", "team-a"}}},
	}
	for _, tc := range okCases {
		t.Run("ok/"+tc.name, func(t *testing.T) {
			got, err := tc.v.Verify(ctx, tc.tok)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Verify = %+v, want %+v", got, tc.want)
			}
		})
	}

	bad := []struct {
		name, reason string
		v            *Verifier
		tok          string
	}{
		{"expired", "token expired", idOnly, rs(with(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Minute).Unix() }))},
		{"no exp", "missing required claim", idOnly, rs(with(func(c jwt.MapClaims) { delete(c, "exp") }))},
		{"not yet valid", "token not valid yet", idOnly, rs(with(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() }))},
		{"issued in the future", "token issued in the future", idOnly, rs(with(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() }))},
		{"wrong iss", "wrong issuer", idOnly, rs(with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" }))},
		{"no iss", "missing required claim", idOnly, rs(with(func(c jwt.MapClaims) { delete(c, "iss") }))},
		{"wrong aud", "wrong audience", idOnly, rs(with(func(c jwt.MapClaims) { c["aud"] = "other-client" }))},
		{"wrong aud array", "wrong audience", idOnly, rs(with(func(c jwt.MapClaims) { c["aud"] = []string{"a", "b"} }))},
		{"no aud", "no audience", idOnly, rs(with(func(c jwt.MapClaims) { delete(c, "aud") }))},
		{"id token with client_id only", "no audience", anyUse, rs(with(func(c jwt.MapClaims) { delete(c, "aud"); c["client_id"] = testAudience }))},
		{"access token, wrong client_id", "wrong client id", accessOnly, rs(access("other-client"))},
		{"access token, no client_id", "no audience", accessOnly, rs(with(func(c jwt.MapClaims) { delete(c, "aud"); c["token_use"] = "access" }))},
		{"access token where id wanted", "wrong token use", idOnly, rs(access(testAudience))},
		{"id token where access wanted", "wrong token use", accessOnly, good},
		{"no user", "no user in token", anyUse, rs(with(func(c jwt.MapClaims) {
			delete(c, "cognito:username")
			delete(c, "sub")
		}))},
		{"groups not strings", "malformed token", idOnly, rs(with(func(c jwt.MapClaims) { c["cognito:groups"] = "admins" }))},
		{"alg none", "unsupported algorithm", idOnly, rawToken(t, map[string]any{"alg": "none", "typ": "JWT", "kid": "rsa-1"}, cognitoClaims(now), "")},
		{"alg None", "unsupported algorithm", idOnly, rawToken(t, map[string]any{"alg": "None", "kid": "rsa-1"}, cognitoClaims(now), "")},
		{"HS256 with the public key PEM", "unsupported algorithm", idOnly, sign(t, jwt.SigningMethodHS256, pubPEM, "rsa-1", cognitoClaims(now))},
		{"HS256 with the JWKS", "unsupported algorithm", idOnly, sign(t, jwt.SigningMethodHS256, doc, "rsa-1", cognitoClaims(now))},
		{"PS256 with the right key", "unsupported algorithm", idOnly, sign(t, jwt.SigningMethodPS256, rk, "rsa-1", cognitoClaims(now))},
		{"RS512 with the right key", "unsupported algorithm", idOnly, sign(t, jwt.SigningMethodRS512, rk, "rsa-1", cognitoClaims(now))},
		{"ES256 naming an RSA key", "algorithm does not match the key", idOnly, sign(t, jwt.SigningMethodES256, ek, "rsa-1", cognitoClaims(now))},
		{"RS256 naming an EC key", "algorithm does not match the key", idOnly, sign(t, jwt.SigningMethodRS256, rk, "ec-1", cognitoClaims(now))},
		{"signed by another key", "invalid signature", idOnly, sign(t, jwt.SigningMethodRS256, other, "rsa-1", cognitoClaims(now))},
		{"ES256 signed by another key", "invalid signature", idOnly, sign(t, jwt.SigningMethodES256, ecKey(t), "ec-1", cognitoClaims(now))},
		{"tampered payload", "invalid signature", idOnly, tampered},
		{"tampered signature", "invalid signature", idOnly, badSig},
		{"no signature", "invalid signature", idOnly, parts[0] + "." + parts[1] + "."},
		{"kid missing", "no key id", idOnly, sign(t, jwt.SigningMethodRS256, rk, "", cognitoClaims(now))},
		{"kid not a string", "no key id", idOnly, rawToken(t, map[string]any{"alg": "RS256", "kid": 7}, cognitoClaims(now), parts[2])},
		{"kid unknown", "unknown key id", idOnly, sign(t, jwt.SigningMethodRS256, rk, "rsa-2", cognitoClaims(now))},
		{"empty", "no token", idOnly, ""},
		{"garbage", "malformed token", idOnly, "not-a-token"},
		{"two segments", "malformed token", idOnly, parts[0] + "." + parts[1]},
		{"four segments", "malformed token", idOnly, good + ".x"},
		{"bad base64", "malformed token", idOnly, "!!!." + parts[1] + "." + parts[2]},
		{"header not JSON", "malformed token", idOnly, base64.RawURLEncoding.EncodeToString([]byte("nope")) + "." + parts[1] + "." + parts[2]},
		{"Bearer prefix left on", "malformed token", idOnly, "Bearer " + good},
	}
	for _, tc := range bad {
		t.Run("reject/"+tc.name, func(t *testing.T) {
			p, err := tc.v.Verify(ctx, tc.tok)
			wantUnauthenticated(t, err, tc.reason, tc.tok)
			if p.User != "" {
				t.Errorf("rejected token still gave user %q", p.User)
			}
		})
	}
}

func TestNewVerifierNeedsIssuerAndAudience(t *testing.T) {
	src, err := NewStaticKeySource(jwksDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []VerifierConfig{
		{Audience: testAudience},
		{Issuer: testIssuer},
		{Issuer: testIssuer, Audience: testAudience, TokenUse: "refresh"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewVerifier(%+v) did not panic", cfg)
				}
			}()
			NewVerifier(src, cfg)
		}()
	}
}

func TestParseJWKS(t *testing.T) {
	rk := rsaKey(t, "k1")
	ek := ecKey(t)
	small, err := rsa.GenerateKey(testRand{}, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaJWK := jwkOf(t, "rsa-1", &rk.PublicKey)
	ecJ := jwkOf(t, "ec-1", &ek.PublicKey)

	set, err := ParseJWKS(jwksDoc(t,
		rsaJWK, ecJ,
		map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
		map[string]any{"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"},
		map[string]any{"kty": "RSA", "kid": "enc", "use": "enc", "n": "AA", "e": "AQAB"},
		map[string]any{"kty": "RSA", "n": "AA", "e": "AQAB"},
	))
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 2 {
		t.Fatalf("parsed %d keys, want 2 (unsupported ones skipped)", set.Len())
	}
	if k, ok := set.Lookup("rsa-1"); !ok || k.Alg != AlgRS256 || !rk.PublicKey.Equal(k.Public) {
		t.Errorf("rsa-1 = %+v, %v", k, ok)
	}
	if k, ok := set.Lookup("ec-1"); !ok || k.Alg != AlgES256 || !ek.PublicKey.Equal(k.Public) {
		t.Errorf("ec-1 = %+v, %v", k, ok)
	}

	edit := func(m map[string]any, kv ...any) map[string]any {
		c := map[string]any{}
		for k, v := range m {
			c[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	for name, doc := range map[string][]byte{
		"not JSON":        []byte("{"),
		"no keys":         []byte(`{"foo": []}`),
		"keys not array":  []byte(`{"keys": {}}`),
		"small RSA":       jwksDoc(t, jwkOf(t, "small", &small.PublicKey)),
		"RSA bad n":       jwksDoc(t, edit(rsaJWK, "n", "***")),
		"RSA even e":      jwksDoc(t, edit(rsaJWK, "e", "AAI")),
		"RSA alg HS256":   jwksDoc(t, edit(rsaJWK, "alg", "HS256")),
		"EC alg RS256":    jwksDoc(t, edit(ecJ, "alg", "RS256")),
		"EC short x":      jwksDoc(t, edit(ecJ, "x", "AAAA")),
		"EC off curve":    jwksDoc(t, edit(ecJ, "y", ecJ["x"])),
		"duplicate kid":   jwksDoc(t, rsaJWK, edit(ecJ, "kid", "rsa-1")),
		"null document":   []byte("null"),
		"trailing object": []byte(`{"keys": []} {}`),
	} {
		if _, err := ParseJWKS(doc); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// testRand is a fast deterministic reader for a throwaway key that
// crypto/rsa refuses to make from crypto/rand below 1024 bits.
type testRand struct{}

func (testRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i*7 + 3)
	}
	return len(p), nil
}

func TestCognitoAddresses(t *testing.T) {
	if got, want := CognitoJWKSURL("eu-west-1", "eu-west-1_AbC"), "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC/.well-known/jwks.json"; got != want {
		t.Errorf("CognitoJWKSURL = %q, want %q", got, want)
	}
	if got, want := CognitoIssuer("eu-west-1", "eu-west-1_AbC"), "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"; got != want {
		t.Errorf("CognitoIssuer = %q, want %q", got, want)
	}
}

func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	iss, err := OpenLocalIssuer(b.TempDir(), "http://localhost", "local", nil)
	if err != nil {
		b.Fatal(err)
	}
	rk := rsaKey(b, "k1")
	src, err := NewStaticKeySource(jwksDoc(b, jwkOf(b, "rsa-1", &rk.PublicKey), jwkOf(b, iss.KeyID(), mustPublic(b, iss))))
	if err != nil {
		b.Fatal(err)
	}
	es, err := iss.Issue(core.Principal{User: "alice", Groups: []string{"g"}}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		v    *Verifier
		tok  string
	}{
		{"ES256", NewVerifier(src, iss.VerifierConfig()), es},
		{"RS256", NewVerifier(src, VerifierConfig{Issuer: testIssuer, Audience: testAudience}), sign(b, jwt.SigningMethodRS256, rk, "rsa-1", cognitoClaims(time.Now()))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := bc.v.Verify(ctx, bc.tok); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func mustPublic(tb testing.TB, i *LocalIssuer) any {
	tb.Helper()
	set, err := ParseJWKS(i.JWKS())
	if err != nil {
		tb.Fatal(err)
	}
	k, ok := set.Lookup(i.KeyID())
	if !ok {
		tb.Fatal("issuer's JWKS lacks its kid")
	}
	return k.Public
}
