package auth

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/core"
)

// withdrawable is a key source whose keys can be withdrawn.
type withdrawable struct {
	KeySource
	gone  atomic.Bool
	calls atomic.Int32
}

func (w *withdrawable) Key(ctx context.Context, kid string) (Key, error) {
	w.calls.Add(1)
	if w.gone.Load() {
		return Key{}, unknownKey()
	}
	return w.KeySource.Key(ctx, kid)
}

// A token verified once is remembered, but never past its expiry and
// never once its key is withdrawn.
func TestVerifiedTokensRemembered(t *testing.T) {
	clk := clock.NewManual(t0)
	iss, err := OpenLocalIssuer(t.TempDir(), "http://localhost:8080", "bucketdesk-local", &IssuerOptions{Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	static, err := NewStaticKeySource(iss.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	src := &withdrawable{KeySource: static}
	v := NewVerifier(src, iss.VerifierConfig())
	ctx := context.Background()
	tok, err := iss.Issue(core.Principal{User: "alice", Groups: []string{"g"}}, 90*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		p, err := v.Verify(ctx, tok)
		if err != nil || p.User != "alice" || len(p.Groups) != 1 {
			t.Fatalf("Verify = %+v, %v", p, err)
		}
		p.Groups[0] = "changed" // the caller's copy, not the remembered one
	}
	if p, _ := v.Verify(ctx, tok); p.Groups[0] != "g" {
		t.Fatalf("remembered principal shared with a caller: %+v", p)
	}
	// Past verifiedTTL the token is checked again (and still valid).
	clk.Advance(61 * time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("Verify after the remembered minute: %v", err)
	}
	// Expired: refused although remembered a moment ago.
	clk.Advance(30 * time.Second)
	_, err = v.Verify(ctx, tok)
	wantUnauthenticated(t, err, "token expired", tok)

	// A withdrawn key stops a remembered token at once.
	tok2, err := iss.Issue(core.Principal{User: "bob"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, tok2); err != nil {
		t.Fatal(err)
	}
	src.gone.Store(true)
	_, err = v.Verify(ctx, tok2)
	wantUnauthenticated(t, err, "unknown key id", tok2)
}
