package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/core"
)

// cognitoServer answers InitiateAuth in Cognito's JSON protocol
// (X-Amz-Target AWSCognitoIdentityProviderService.InitiateAuth), with its
// documented error shapes.
func cognitoServer(t *testing.T, answer func(user, pass string) (int, any)) *cip.Client {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "AWSCognitoIdentityProviderService.InitiateAuth" {
			t.Errorf("target %q", r.Header.Get("X-Amz-Target"))
		}
		var in struct {
			AuthFlow       string
			ClientId       string
			AuthParameters map[string]string
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.AuthFlow != "USER_PASSWORD_AUTH" || in.ClientId != "client-1" {
			t.Errorf("request %+v %v", in, err)
		}
		status, body := answer(in.AuthParameters["USERNAME"], in.AuthParameters["PASSWORD"])
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return cip.New(cip.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("x", "x", "")})
}

func TestCognitoLogin(t *testing.T) {
	client := cognitoServer(t, func(user, pass string) (int, any) {
		switch {
		case user == "alice" && pass == "right":
			return 200, map[string]any{"AuthenticationResult": map[string]any{"IdToken": "id.token.sig", "AccessToken": "a", "ExpiresIn": 3600, "TokenType": "Bearer"}, "ChallengeParameters": map[string]any{}}
		case user == "newbie":
			return 200, map[string]any{"ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": "s", "ChallengeParameters": map[string]any{}}
		case user == "flood":
			return 400, map[string]any{"__type": "TooManyRequestsException", "message": "Too many requests"}
		}
		return 400, map[string]any{"__type": "NotAuthorizedException", "message": "Incorrect username or password."}
	})
	l := &CognitoLogin{Client: client, ClientID: "client-1"}
	ctx := t.Context()
	tok, ttl, user, err := l.Login(ctx, "alice", "right", "203.0.113.7")
	if err != nil || tok != "id.token.sig" || ttl.Seconds() != 3600 || user != "alice" {
		t.Fatalf("login: %q %v %q %v", tok, ttl, user, err)
	}
	if _, _, _, err := l.Login(ctx, "alice", "wrong", ""); !errors.Is(err, core.ErrUnauthenticated) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v", err)
	}
	if _, _, _, err := l.Login(ctx, "flood", "x", ""); !errors.Is(err, core.ErrThrottled) {
		t.Fatalf("too many: %v", err)
	}
	if _, _, _, err := l.Login(ctx, "newbie", "x", ""); !errors.Is(err, core.ErrUnauthenticated) || !strings.Contains(err.Error(), "NEW_PASSWORD_REQUIRED") {
		t.Fatalf("challenge: %v", err)
	}
}

// On AWS the same limiter stands in front of Cognito: a limited attempt
// never reaches Cognito, and the limits are per (username, address).
func TestCognitoLoginLimited(t *testing.T) {
	asked := 0
	client := cognitoServer(t, func(user, pass string) (int, any) {
		asked++
		if pass == "right" {
			return 200, map[string]any{"AuthenticationResult": map[string]any{"IdToken": "id.token.sig", "ExpiresIn": 3600}, "ChallengeParameters": map[string]any{}}
		}
		return 400, map[string]any{"__type": "NotAuthorizedException", "message": "Incorrect username or password."}
	})
	clk := clock.NewManual(t0)
	l := &CognitoLogin{Client: client, ClientID: "client-1", Limiter: NewLoginLimiter(&LimitOptions{MaxFailures: 2, Window: time.Minute, Clock: clk.Now})}
	ctx := t.Context()
	for range 2 {
		_, _, _, err := l.Login(ctx, "alice", "wrong", addrA)
		wantBadCredentials(t, err)
	}
	_, _, _, err := l.Login(ctx, "alice", "right", addrA)
	wantRateLimited(t, err, time.Minute)
	if asked != 2 {
		t.Fatalf("Cognito asked %d times, want 2", asked)
	}
	if _, _, _, err := l.Login(ctx, "alice", "right", addrB); err != nil {
		t.Fatalf("alice from another address: %v", err)
	}
	if _, _, _, err := l.Login(ctx, "bob", "right", addrA); err != nil {
		t.Fatalf("bob behind alice's address: %v", err)
	}
}

// The sign-in answer carries Cognito's refresh token with where the web UI
// trades it (the pool's region unless Endpoint says otherwise); none when
// Cognito gave none.
func TestCognitoLoginWithRefresh(t *testing.T) {
	client := cognitoServer(t, func(user, pass string) (int, any) {
		if user == "norefresh" {
			return 200, map[string]any{"AuthenticationResult": map[string]any{"IdToken": "id.token.sig", "ExpiresIn": 3600}, "ChallengeParameters": map[string]any{}}
		}
		return 200, map[string]any{"AuthenticationResult": map[string]any{"IdToken": "id.token.sig", "RefreshToken": "refresh-1", "ExpiresIn": 3600}, "ChallengeParameters": map[string]any{}}
	})
	l := &CognitoLogin{Client: client, ClientID: "client-1"}
	tok, ttl, user, refresh, err := l.LoginWithRefresh(t.Context(), "alice", "right", "")
	if err != nil || tok != "id.token.sig" || ttl != time.Hour || user != "alice" {
		t.Fatalf("login: %q %v %q %v", tok, ttl, user, err)
	}
	want := core.SessionRefresh{URL: "https://cognito-idp.eu-west-1.amazonaws.com/", ClientID: "client-1", Token: "refresh-1"}
	if refresh == nil || *refresh != want {
		t.Fatalf("refresh %+v, want %+v", refresh, want)
	}
	l.Endpoint = "https://example.test/"
	if _, _, _, refresh, _ := l.LoginWithRefresh(t.Context(), "alice", "right", ""); refresh == nil || refresh.URL != "https://example.test/" {
		t.Fatalf("endpoint: %+v", refresh)
	}
	if _, _, _, refresh, err := l.LoginWithRefresh(t.Context(), "norefresh", "right", ""); err != nil || refresh != nil {
		t.Fatalf("no refresh token: %+v %v", refresh, err)
	}
}
