package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"

	"bucketdesk/internal/core"
)

// Signature algorithms the verifier accepts. Every other alg ("none", the
// HS* family, PS*, ES384, …) is refused.
const (
	AlgRS256 = "RS256"
	AlgES256 = "ES256"
)

// minRSABits is the smallest RSA modulus accepted from a JWKS.
const minRSABits = 2048

// Key is one public verification key of a JWKS.
type Key struct {
	// ID is the key id ("kid") that tokens name in their header.
	ID string
	// Alg is the only algorithm this key verifies: RS256 for an RSA key,
	// ES256 for a P-256 key.
	Alg string
	// Public is an *rsa.PublicKey or an *ecdsa.PublicKey.
	Public crypto.PublicKey
}

// KeySet is a parsed JWKS document: its usable keys by id.
type KeySet struct {
	keys map[string]Key
}

// Lookup returns the key with this id.
func (s *KeySet) Lookup(kid string) (Key, bool) {
	if s == nil {
		return Key{}, false
	}
	k, ok := s.keys[kid]
	return k, ok
}

// Len returns how many usable keys the set holds.
func (s *KeySet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// jwk is one key of a JWKS document (RFC 7517), with the members we read.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	// RSA
	N string `json:"n"`
	E string `json:"e"`
	// EC
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS parses a JWKS document. Keys that cannot verify our tokens are
// skipped rather than refused, so that a provider adding a key of another
// type does not break sign-in: keys without a kid, with a "use" other than
// "sig", or of a type or curve other than RSA and P-256. A key of a
// supported type with malformed members, an RSA key under 2048 bits, a
// key whose "alg" does not fit its type, or a duplicate kid is an error.
func ParseJWKS(doc []byte) (*KeySet, error) {
	var raw struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("auth: parse JWKS: %w", err)
	}
	if raw.Keys == nil {
		return nil, errors.New(`auth: parse JWKS: no "keys" array`)
	}
	set := &KeySet{keys: make(map[string]Key, len(raw.Keys))}
	for i, k := range raw.Keys {
		if k.Kid == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		var key Key
		var err error
		switch {
		case k.Kty == "RSA":
			key, err = parseRSAJWK(k)
		case k.Kty == "EC" && k.Crv == "P-256":
			key, err = parseECJWK(k)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("auth: parse JWKS: key %d (kid %q): %w", i, k.Kid, err)
		}
		if _, dup := set.keys[k.Kid]; dup {
			return nil, fmt.Errorf("auth: parse JWKS: duplicate kid %q", k.Kid)
		}
		set.keys[k.Kid] = key
	}
	return set, nil
}

func parseRSAJWK(k jwk) (Key, error) {
	if k.Alg != "" && k.Alg != AlgRS256 {
		return Key{}, fmt.Errorf("RSA key with alg %q (only %s is accepted)", k.Alg, AlgRS256)
	}
	n, err := b64Int(k.N)
	if err != nil {
		return Key{}, fmt.Errorf("member n: %w", err)
	}
	e, err := b64Int(k.E)
	if err != nil {
		return Key{}, fmt.Errorf("member e: %w", err)
	}
	if n.BitLen() < minRSABits {
		return Key{}, fmt.Errorf("RSA modulus of %d bits (at least %d required)", n.BitLen(), minRSABits)
	}
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return Key{}, errors.New("unacceptable RSA exponent")
	}
	return Key{ID: k.Kid, Alg: AlgRS256, Public: &rsa.PublicKey{N: n, E: int(e.Int64())}}, nil
}

func parseECJWK(k jwk) (Key, error) {
	if k.Alg != "" && k.Alg != AlgES256 {
		return Key{}, fmt.Errorf("P-256 key with alg %q (only %s is accepted)", k.Alg, AlgES256)
	}
	x, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil || len(x) != 32 {
		return Key{}, errors.New("member x: not 32 bytes of base64url")
	}
	y, err := base64.RawURLEncoding.DecodeString(k.Y)
	if err != nil || len(y) != 32 {
		return Key{}, errors.New("member y: not 32 bytes of base64url")
	}
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return Key{}, fmt.Errorf("invalid P-256 point: %w", err)
	}
	return Key{ID: k.Kid, Alg: AlgES256, Public: pub}, nil
}

func b64Int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("not base64url")
	}
	return new(big.Int).SetBytes(b), nil
}

// ecJWK returns the public JWK members of a P-256 key, and its RFC 7638
// thumbprint, which serves as its kid.
func ecJWK(pub *ecdsa.PublicKey) (jwk, error) {
	b, err := pub.Bytes()
	if err != nil {
		return jwk{}, err
	}
	if len(b) != 65 || pub.Curve != elliptic.P256() {
		return jwk{}, errors.New("not a P-256 key")
	}
	k := jwk{
		Kty: "EC",
		Crv: "P-256",
		X:   base64.RawURLEncoding.EncodeToString(b[1:33]),
		Y:   base64.RawURLEncoding.EncodeToString(b[33:]),
	}
	// RFC 7638: the required members only, in lexicographic order, no
	// whitespace.
	canonical := `{"crv":"P-256","kty":"EC","x":"` + k.X + `","y":"` + k.Y + `"}`
	sum := sha256.Sum256([]byte(canonical))
	k.Kid = base64.RawURLEncoding.EncodeToString(sum[:])
	k.Use = "sig"
	k.Alg = AlgES256
	return k, nil
}

// KeySource finds the public key that verifies a token.
//
// Key returns the key with this id. An id the source does not know is an
// error wrapping ErrUnknownKey (and core.ErrUnauthenticated); a source that
// cannot be read is an error wrapping core.ErrUnavailable, so that a JWKS
// outage answers 503, not 401. Implementations are safe for concurrent use.
type KeySource interface {
	Key(ctx context.Context, kid string) (Key, error)
}

// ErrUnknownKey: a token names a kid that the key source does not hold.
// It is matched by errors.Is and always comes with core.ErrUnauthenticated.
var ErrUnknownKey = errors.New("unknown key id")

func unknownKey() error {
	return fmt.Errorf("auth: %w: %w", ErrUnknownKey, core.ErrUnauthenticated)
}

// StaticKeySource is a fixed JWKS, such as the local issuer's own.
type StaticKeySource struct {
	set *KeySet
}

var _ KeySource = (*StaticKeySource)(nil)

// NewStaticKeySource parses a JWKS document (such as LocalIssuer.JWKS) with
// the same parser as NewHTTPKeySource.
func NewStaticKeySource(jwks []byte) (*StaticKeySource, error) {
	set, err := ParseJWKS(jwks)
	if err != nil {
		return nil, err
	}
	return &StaticKeySource{set: set}, nil
}

// Key returns the key with this id.
func (s *StaticKeySource) Key(_ context.Context, kid string) (Key, error) {
	if k, ok := s.set.Lookup(kid); ok {
		return k, nil
	}
	return Key{}, unknownKey()
}

// Defaults of HTTPKeySourceOptions.
const (
	DefaultMinRefresh   = 30 * time.Second
	DefaultMaxAge       = time.Hour
	DefaultFetchTimeout = 10 * time.Second
)

const (
	// failedFetchRetry is the least time between two fetches while no key
	// set has been fetched yet.
	failedFetchRetry = time.Second
	// maxJWKSBytes bounds what is read from a JWKS endpoint.
	maxJWKSBytes = 1 << 20
)

// HTTPKeySourceOptions tune an HTTPKeySource. Nil or zero fields mean
// defaults.
type HTTPKeySourceOptions struct {
	// MinRefresh is the least time between two fetches caused by unknown
	// kids, so that tokens with made-up kids cannot make us hammer the
	// provider. Default 30 s.
	MinRefresh time.Duration
	// MaxAge is how long a fetched key set is used before it is fetched
	// again on the next lookup; a failed refetch keeps the old set.
	// Default 1 h.
	MaxAge time.Duration
	// FetchTimeout bounds one fetch, whatever the caller's context;
	// default 10 s.
	FetchTimeout time.Duration
	// Clock tells the time; default time.Now.
	Clock func() time.Time
}

// HTTPKeySource fetches a JWKS over HTTP(S) and caches it. It fetches on
// first use, when the cached set is older than MaxAge, and when a token
// names an unknown kid (a key rotation), at most once per MinRefresh.
type HTTPKeySource struct {
	url        string
	client     *http.Client
	minRefresh time.Duration
	maxAge     time.Duration
	timeout    time.Duration
	now        func() time.Time

	// fetchMu serialises fetches so that concurrent lookups of a new kid
	// cause one request, not one each.
	fetchMu sync.Mutex

	mu        sync.Mutex
	set       *KeySet
	fetchedAt time.Time // last successful fetch
	triedAt   time.Time // last fetch attempt, successful or not
}

var _ KeySource = (*HTTPKeySource)(nil)

// CognitoIssuer returns the issuer ("iss") of a Cognito user pool's tokens.
func CognitoIssuer(region, poolID string) string {
	return "https://cognito-idp." + region + ".amazonaws.com/" + poolID
}

// CognitoJWKSURL returns the JWKS address of a Cognito user pool.
func CognitoJWKSURL(region, poolID string) string {
	return CognitoIssuer(region, poolID) + "/.well-known/jwks.json"
}

// NewHTTPKeySource returns a key source reading the JWKS at url with
// client (http.DefaultClient when nil). Nothing is fetched until the first
// lookup.
func NewHTTPKeySource(url string, client *http.Client, opts *HTTPKeySourceOptions) *HTTPKeySource {
	s := &HTTPKeySource{
		url: url, client: client, now: time.Now,
		minRefresh: DefaultMinRefresh, maxAge: DefaultMaxAge, timeout: DefaultFetchTimeout,
	}
	if s.client == nil {
		s.client = http.DefaultClient
	}
	if opts != nil {
		if opts.MinRefresh > 0 {
			s.minRefresh = opts.MinRefresh
		}
		if opts.MaxAge > 0 {
			s.maxAge = opts.MaxAge
		}
		if opts.FetchTimeout > 0 {
			s.timeout = opts.FetchTimeout
		}
		if opts.Clock != nil {
			s.now = opts.Clock
		}
	}
	return s
}

// Key returns the key with this id, fetching the JWKS as described on
// HTTPKeySource.
func (s *HTTPKeySource) Key(ctx context.Context, kid string) (Key, error) {
	if set, fresh, _ := s.snapshot(); fresh {
		if k, ok := set.Lookup(kid); ok {
			return k, nil
		}
	}
	set, err := s.refresh(ctx, kid)
	if err != nil {
		return Key{}, err
	}
	if k, ok := set.Lookup(kid); ok {
		return k, nil
	}
	return Key{}, unknownKey()
}

// snapshot returns the cached set, whether it is younger than MaxAge, and
// whether a fetch may be tried now.
func (s *HTTPKeySource) snapshot() (set *KeySet, fresh, mayFetch bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	wait := s.minRefresh
	if s.set == nil {
		// Nothing to answer from: retry a failed first fetch sooner.
		wait = min(wait, failedFetchRetry)
	}
	fresh = s.set != nil && now.Sub(s.fetchedAt) < s.maxAge
	return s.set, fresh, s.triedAt.IsZero() || now.Sub(s.triedAt) >= wait
}

// refresh returns the set to look kid up in, fetching it if kid is not in
// a fresh cached set and no fetch was tried within MinRefresh. Callers
// wait for a fetch in flight, so that a rotation seen by many requests at
// once costs one fetch and every one of them sees its result. A failed
// fetch keeps the old set if there is one.
func (s *HTTPKeySource) refresh(ctx context.Context, kid string) (*KeySet, error) {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	set, fresh, mayFetch := s.snapshot()
	if _, ok := set.Lookup(kid); (ok && fresh) || !mayFetch {
		if set == nil {
			return nil, fmt.Errorf("auth: JWKS not available (last fetch failed): %w", core.ErrUnavailable)
		}
		return set, nil
	}
	s.mu.Lock()
	s.triedAt = s.now()
	s.mu.Unlock()

	fetched, err := s.fetch(ctx)
	if err != nil {
		if set != nil {
			return set, nil
		}
		return nil, err
	}
	s.mu.Lock()
	s.set, s.fetchedAt = fetched, s.now()
	s.mu.Unlock()
	return fetched, nil
}

func (s *HTTPKeySource) fetch(ctx context.Context) (*KeySet, error) {
	// The fetch serves every waiting lookup, so one caller going away
	// must not fail it (and space the next try by MinRefresh); a hanging
	// provider must not hold them longer than the timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("auth: fetch JWKS: %w: %w", core.ErrInternal, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth: fetch JWKS: %w: %w", core.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("auth: fetch JWKS %s: status %d: %w", s.url, resp.StatusCode, core.ErrUnavailable)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("auth: fetch JWKS %s: %w: %w", s.url, core.ErrUnavailable, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("auth: fetch JWKS %s: document over %d bytes: %w", s.url, maxJWKSBytes, core.ErrUnavailable)
	}
	set, err := ParseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("%w (from %s): %w", err, s.url, core.ErrUnavailable)
	}
	return set, nil
}
