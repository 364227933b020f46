package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"bucketdesk/internal/core"
)

// SigningKeyFile is the name of the local issuer's private key in its
// directory.
const SigningKeyFile = "jwt-signing-key.pem"

// IssuerOptions tune a LocalIssuer. Nil or zero fields mean defaults.
type IssuerOptions struct {
	// Clock tells the time; default time.Now.
	Clock func() time.Time
}

// LocalIssuer is the local binary's built-in identity provider: it signs
// Cognito-shaped ID tokens with an ES256 key kept in a file, and publishes
// the public key as a JWKS, so that the local server verifies its tokens
// with the same Verifier as Cognito's. It is not for AWS, where Cognito
// issues the tokens.
type LocalIssuer struct {
	key      *ecdsa.PrivateKey
	kid      string
	jwks     []byte
	issuer   string
	audience string
	now      func() time.Time
}

// OpenLocalIssuer opens the issuer whose key is dir/jwt-signing-key.pem,
// creating dir and the key (mode 0600) on first use and keeping it after,
// so that tokens survive a restart. A key file readable by others is
// refused. The kid is the key's RFC 7638 thumbprint.
func OpenLocalIssuer(dir, issuer, audience string, opts *IssuerOptions) (*LocalIssuer, error) {
	if issuer == "" || audience == "" {
		return nil, fmt.Errorf("auth: local issuer needs an issuer and an audience: %w", core.ErrInvalid)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth: local issuer: %w", err)
	}
	path := filepath.Join(dir, SigningKeyFile)
	key, err := readSigningKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createSigningKey(path)
	}
	if err != nil {
		return nil, err
	}
	pub, err := ecJWK(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("auth: signing key %s: %w", path, err)
	}
	doc, err := json.Marshal(struct {
		Keys []jwk `json:"keys"`
	}{[]jwk{pub}})
	if err != nil {
		return nil, fmt.Errorf("auth: local issuer: %w", err)
	}
	i := &LocalIssuer{key: key, kid: pub.Kid, jwks: doc, issuer: issuer, audience: audience, now: time.Now}
	if opts != nil && opts.Clock != nil {
		i.now = opts.Clock
	}
	return i, nil
}

func readSigningKey(path string) (*ecdsa.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("auth: signing key %s has mode %v: others may read it; chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read signing key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("auth: signing key %s: no PEM block of type PRIVATE KEY", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("auth: signing key %s: %w", path, err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, fmt.Errorf("auth: signing key %s: not a P-256 ECDSA key", path)
	}
	return ek, nil
}

// createSigningKey writes a new key to a temporary file and links it into
// place, so that a reader never sees half a key and two processes starting
// at once end up with the same key.
func createSigningKey(path string) (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("auth: encode signing key: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".jwt-signing-key-*")
	if err != nil {
		return nil, fmt.Errorf("auth: write signing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600.
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("auth: write signing key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("auth: write signing key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("auth: write signing key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process won the race: use its key.
			return readSigningKey(path)
		}
		return nil, fmt.Errorf("auth: write signing key: %w", err)
	}
	return key, nil
}

// KeyID returns the kid of the issuer's key.
func (i *LocalIssuer) KeyID() string { return i.kid }

// Issuer returns the "iss" of the tokens it issues.
func (i *LocalIssuer) Issuer() string { return i.issuer }

// Audience returns the "aud" of the tokens it issues.
func (i *LocalIssuer) Audience() string { return i.audience }

// JWKS returns the JWKS document of the issuer's public key, as served at
// /.well-known/jwks.json.
func (i *LocalIssuer) JWKS() []byte { return slices.Clone(i.jwks) }

// VerifierConfig returns the configuration of a Verifier of this issuer's
// tokens.
func (i *LocalIssuer) VerifierConfig() VerifierConfig {
	return VerifierConfig{Issuer: i.issuer, Audience: i.audience, TokenUse: TokenUseID, Clock: i.now}
}

// Issue signs an ID token for p valid for ttl, shaped like Cognito's:
// iss, sub (a stable UUID derived from the user), aud, exp, iat,
// auth_time, token_use "id", cognito:username, cognito:groups and a
// random jti.
func (i *LocalIssuer) Issue(p core.Principal, ttl time.Duration) (string, error) {
	if p.User == "" {
		return "", fmt.Errorf("auth: issue token: no user: %w", core.ErrInvalid)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("auth: issue token: ttl %v: %w", ttl, core.ErrInvalid)
	}
	var jti [16]byte
	rand.Read(jti[:])
	now := i.now()
	// aud is a single string, as Cognito writes it in ID tokens.
	c := jwt.MapClaims{
		"iss":              i.issuer,
		"sub":              subjectFor(p.User),
		"aud":              i.audience,
		"exp":              now.Add(ttl).Unix(),
		"iat":              now.Unix(),
		"auth_time":        now.Unix(),
		"token_use":        TokenUseID,
		"cognito:username": p.User,
		"jti":              hex.EncodeToString(jti[:]),
	}
	if len(p.Groups) > 0 {
		c["cognito:groups"] = p.Groups
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	t.Header["kid"] = i.kid
	s, err := t.SignedString(i.key)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return s, nil
}

// subjectFor derives a stable UUID (version 8, RFC 9562) from a user name,
// standing in for the UUID that Cognito gives every user.
func subjectFor(user string) string {
	h := sha256.Sum256([]byte("bucketdesk local user\x00" + user))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
