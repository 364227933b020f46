package auth

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"bucketdesk/internal/core"
)

// Token uses of Cognito tokens ("token_use").
const (
	TokenUseID     = "id"
	TokenUseAccess = "access"
)

// VerifierConfig says which tokens a Verifier accepts.
type VerifierConfig struct {
	// Issuer is the required "iss", e.g. CognitoIssuer(region, pool).
	// Required.
	Issuer string
	// Audience must be one of the token's "aud" values or, for an access
	// token (which has no "aud"), its "client_id". For Cognito it is the
	// app client id. Required.
	Audience string
	// TokenUse, when set ("id" or "access"), is the required "token_use".
	TokenUse string
	// Leeway tolerates clock skew on exp, nbf and iat.
	Leeway time.Duration
	// Clock tells the time; default time.Now.
	Clock func() time.Time
	// AdminGroup is the group whose members administer the portal
	// (core.Principal.Admin); "" is core.DefaultAdminGroup.
	AdminGroup string
}

// Verifier checks JWT bearer tokens signed with RS256 or ES256 by a key of
// its KeySource and turns their claims into a core.Principal. It is safe
// for concurrent use.
type Verifier struct {
	src    KeySource
	cfg    VerifierConfig
	parser *jwt.Parser

	// verified remembers tokens that passed every check, by their SHA-256
	// (the token itself is never kept), so that a client presenting the
	// same token again skips the signature check: an ES256 verification
	// was ~15 % of the CPU of an API request under load (docs/benchmarks.md).
	// An entry lasts until the token expires and at most
	// verifiedTTL, and a hit still asks the key source for the token's key,
	// so a key withdrawn from the JWKS stops its tokens as before.
	mu       sync.Mutex
	verified map[[sha256.Size]byte]verifiedToken
}

// verifiedTTL bounds how long a verified token is remembered;
// maxVerified bounds how many are.
const (
	verifiedTTL = time.Minute
	maxVerified = 10000
)

type verifiedToken struct {
	who   core.Principal
	kid   string
	until time.Time
}

// NewVerifier returns a Verifier of tokens whose keys src holds. It panics
// when cfg has no Issuer or no Audience: accepting any issuer or audience
// is a wiring bug that must not reach a running server.
func NewVerifier(src KeySource, cfg VerifierConfig) *Verifier {
	if src == nil || cfg.Issuer == "" || cfg.Audience == "" {
		panic("auth: NewVerifier needs a key source, an issuer and an audience")
	}
	if cfg.TokenUse != "" && cfg.TokenUse != TokenUseID && cfg.TokenUse != TokenUseAccess {
		panic(fmt.Sprintf("auth: NewVerifier: token use %q is neither %q nor %q", cfg.TokenUse, TokenUseID, TokenUseAccess))
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.AdminGroup == "" {
		cfg.AdminGroup = core.DefaultAdminGroup
	}
	return &Verifier{
		src: src,
		cfg: cfg,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{AlgRS256, AlgES256}),
			jwt.WithIssuer(cfg.Issuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(cfg.Leeway),
			jwt.WithTimeFunc(cfg.Clock),
		),
		verified: map[[sha256.Size]byte]verifiedToken{},
	}
}

// claims are the members of a Cognito-shaped token that we read or write.
type claims struct {
	jwt.RegisteredClaims
	TokenUse        string   `json:"token_use,omitempty"`
	ClientID        string   `json:"client_id,omitempty"`
	CognitoUsername string   `json:"cognito:username,omitempty"`
	Username        string   `json:"username,omitempty"`
	CognitoGroups   []string `json:"cognito:groups,omitempty"`
}

// reasonError is a rejection of a token: a short reason and the kind
// core.ErrUnauthenticated. The token never goes into it.
type reasonError struct {
	reason string
}

// Error says why the token was refused.
func (e *reasonError) Error() string {
	return "auth: " + e.reason + ": " + core.ErrUnauthenticated.Error()
}

func (e *reasonError) Unwrap() error { return core.ErrUnauthenticated }

func reject(reason string) error { return &reasonError{reason: reason} }

// Verify checks a token (without the "Bearer " prefix) and returns whom it
// names: the user from "cognito:username", else "username", else "sub";
// the groups from "cognito:groups"; Admin when they hold the
// configured AdminGroup.
//
// An unacceptable token is an error wrapping core.ErrUnauthenticated with
// a short reason ("token expired", "unknown key id", …); a key source
// that cannot be read is an error wrapping core.ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, token string) (core.Principal, error) {
	if token == "" {
		return core.Principal{}, reject("no token")
	}
	sum := sha256.Sum256([]byte(token))
	now := v.cfg.Clock()
	v.mu.Lock()
	hit, ok := v.verified[sum]
	v.mu.Unlock()
	if ok && now.Before(hit.until) {
		if _, err := v.src.Key(ctx, hit.kid); err == nil {
			return clonePrincipal(hit.who), nil
		}
		v.forget(sum)
	}
	var c claims
	var kidUsed string
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, reject("no key id in token header")
		}
		key, err := v.src.Key(ctx, kid)
		if err != nil {
			return nil, err
		}
		// The key decides the algorithm, never the token: an RS256 token
		// must not be checked with an EC key and the reverse.
		if t.Method.Alg() != key.Alg {
			return nil, reject("algorithm does not match the key")
		}
		kidUsed = kid
		return key.Public, nil
	})
	if err != nil {
		return core.Principal{}, classify(err)
	}
	switch {
	case len(c.Audience) > 0:
		if !slices.Contains(c.Audience, v.cfg.Audience) {
			return core.Principal{}, reject("wrong audience")
		}
	case c.TokenUse == TokenUseAccess && c.ClientID != "":
		if c.ClientID != v.cfg.Audience {
			return core.Principal{}, reject("wrong client id")
		}
	default:
		return core.Principal{}, reject("no audience")
	}
	if v.cfg.TokenUse != "" && c.TokenUse != v.cfg.TokenUse {
		return core.Principal{}, reject("wrong token use")
	}
	p := core.Principal{User: c.CognitoUsername}
	if p.User == "" {
		p.User = c.Username
	}
	if p.User == "" {
		p.User = c.Subject
	}
	if p.User == "" {
		return core.Principal{}, reject("no user in token")
	}
	if len(c.CognitoGroups) > 0 {
		p.Groups = slices.Clone(c.CognitoGroups)
		p.Admin = slices.Contains(p.Groups, v.cfg.AdminGroup)
	}
	// Remember it until it expires (without the leeway) and at most
	// verifiedTTL.
	until := now.Add(verifiedTTL)
	if exp := c.ExpiresAt.Time; exp.Before(until) {
		until = exp
	}
	v.mu.Lock()
	if len(v.verified) >= maxVerified {
		clear(v.verified)
	}
	v.verified[sum] = verifiedToken{who: clonePrincipal(p), kid: kidUsed, until: until}
	v.mu.Unlock()
	return p, nil
}

func (v *Verifier) forget(sum [sha256.Size]byte) {
	v.mu.Lock()
	delete(v.verified, sum)
	v.mu.Unlock()
}

// classify turns a parser error into one of ours with a short reason. The
// parser's own messages are dropped: they may quote claim values.
func classify(err error) error {
	// Errors of our key function come first: they already carry a kind.
	switch {
	case errors.Is(err, core.ErrUnavailable):
		return fmt.Errorf("auth: token keys unavailable: %w", core.ErrUnavailable)
	case errors.Is(err, ErrUnknownKey):
		return unknownKey()
	}
	if re := (*reasonError)(nil); errors.As(err, &re) {
		return re
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return reject("malformed token")
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return reject("unsupported algorithm")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// The same kind covers a bad signature and an alg outside
		// WithValidMethods; only the first wraps a verification error.
		if errors.Is(err, rsa.ErrVerification) || errors.Is(err, jwt.ErrECDSAVerification) {
			return reject("invalid signature")
		}
		return reject("unsupported algorithm")
	case errors.Is(err, jwt.ErrTokenExpired):
		return reject("token expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return reject("token not valid yet")
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return reject("token issued in the future")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return reject("wrong issuer")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return reject("missing required claim")
	}
	return reject("invalid token")
}

// clonePrincipal copies p so that the remembered one is never shared.
func clonePrincipal(p core.Principal) core.Principal {
	p.Groups = slices.Clone(p.Groups)
	return p
}
