package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"bucketdesk/internal/core"
)

// t0 is the time every test starts at.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	testIssuer   = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TEST"
	testAudience = "client-abc"
)

// RSA keys are slow to make: make each test key once per binary.
var (
	rsaKeysMu sync.Mutex
	rsaKeys   = map[string]*rsa.PrivateKey{}
)

func rsaKey(t testing.TB, name string) *rsa.PrivateKey {
	t.Helper()
	rsaKeysMu.Lock()
	defer rsaKeysMu.Unlock()
	if k, ok := rsaKeys[name]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaKeys[name] = k
	return k
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// jwkOf returns the public JWK of an RSA or P-256 key under kid, as a
// provider would publish it.
func jwkOf(t testing.TB, kid string, pub crypto.PublicKey) map[string]any {
	t.Helper()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return map[string]any{
			"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes()),
		}
	case *ecdsa.PublicKey:
		j, err := ecJWK(k)
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{"kty": "EC", "crv": "P-256", "kid": kid, "x": j.X, "y": j.Y}
	}
	t.Fatalf("unsupported key %T", pub)
	return nil
}

func jwksDoc(t testing.TB, keys ...map[string]any) []byte {
	t.Helper()
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cognitoClaims returns the claims of a valid Cognito ID token at now.
func cognitoClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":              testIssuer,
		"sub":              "9c1e2f4a-0000-4000-8000-000000000001",
		"aud":              testAudience,
		"exp":              now.Add(time.Hour).Unix(),
		"iat":              now.Unix(),
		"auth_time":        now.Unix(),
		"token_use":        "id",
		"cognito:username": "alice",
		"cognito:groups":   []string{"admins", "team-a"},
	}
}

// sign signs claims with method and key, naming kid ("" for no kid).
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawToken builds a token from a header and claims as given, with sig as
// its signature segment, bypassing any signer's checks.
func rawToken(t testing.TB, header map[string]any, claims jwt.MapClaims, sig string) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "." + sig
}

// wantUnauthenticated checks that err is a rejection with reason in its
// message, and that it does not quote the token.
func wantUnauthenticated(t testing.TB, err error, reason, token string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want rejection %q", reason)
	}
	if !errors.Is(err, core.ErrUnauthenticated) {
		t.Fatalf("error %v does not wrap core.ErrUnauthenticated", err)
	}
	if reason != "" && !strings.Contains(err.Error(), reason) {
		t.Errorf("error %q does not say %q", err, reason)
	}
	if len(token) >= 8 && strings.Contains(err.Error(), token) {
		t.Errorf("error %q contains the token", err)
	}
	for _, seg := range strings.Split(token, ".") {
		if len(seg) > 16 && strings.Contains(err.Error(), seg) {
			t.Errorf("error %q contains a segment of the token", err)
		}
	}
}
