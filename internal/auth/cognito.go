package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"bucketdesk/internal/core"
)

// CognitoLogin signs users in against a Cognito user pool on AWS, so that
// the web UI's login form (POST /auth/login) works there as it does
// locally: USER_PASSWORD_AUTH with the pool's public app client, answered
// with Cognito's ID token, which the Verifier checks through the pool's
// JWKS like any other request. Limiter, if set, limits failed sign-ins as
// Login does before Cognito is asked; Cognito also rate-limits and locks
// out failed sign-ins itself.
type CognitoLogin struct {
	Client   *cip.Client
	ClientID string
	// Endpoint is where the web UI trades the refresh token for a new
	// ID token (CognitoEndpoint of the client's region when empty).
	Endpoint string
	// Limiter limits failed sign-ins per (username, address) and per
	// address; nil for none.
	Limiter *LoginLimiter
}

// CognitoEndpoint is the URL of Cognito's user pools API in region, where
// InitiateAuth is called.
func CognitoEndpoint(region string) string {
	return "https://cognito-idp." + region + ".amazonaws.com/"
}

// Login has the shape of Login.Login. The password goes to Cognito only.
func (c *CognitoLogin) Login(ctx context.Context, username, password, clientAddr string) (string, time.Duration, string, error) {
	token, ttl, user, _, err := c.LoginWithRefresh(ctx, username, password, clientAddr)
	return token, ttl, user, err
}

// LoginWithRefresh is Login that also returns how the web UI renews the
// session without the password: Cognito's refresh token (nil when Cognito
// gave none).
func (c *CognitoLogin) LoginWithRefresh(ctx context.Context, username, password, clientAddr string) (string, time.Duration, string, *core.SessionRefresh, error) {
	if username == "" || password == "" {
		return "", 0, "", nil, fmt.Errorf("%w: username and password are required", core.ErrUnauthenticated)
	}
	if c.Limiter == nil {
		return c.initiate(ctx, username, password)
	}
	if len(username) > maxUsernameBytes || len(password) > maxLoginPassword {
		if err := c.Limiter.Begin("", clientAddr); err != nil {
			return "", 0, "", nil, err
		}
		return "", 0, "", nil, badCredentials()
	}
	if err := c.Limiter.Begin(username, clientAddr); err != nil {
		return "", 0, "", nil, err
	}
	token, ttl, user, refresh, err := c.initiate(ctx, username, password)
	if err == nil {
		c.Limiter.Succeeded(username, clientAddr)
	}
	return token, ttl, user, refresh, err
}

// initiate asks Cognito with USER_PASSWORD_AUTH.
func (c *CognitoLogin) initiate(ctx context.Context, username, password string) (string, time.Duration, string, *core.SessionRefresh, error) {
	out, err := c.Client.InitiateAuth(ctx, &cip.InitiateAuthInput{
		AuthFlow: ciptypes.AuthFlowTypeUserPasswordAuth,
		ClientId: aws.String(c.ClientID),
		AuthParameters: map[string]string{
			"USERNAME": username,
			"PASSWORD": password,
		},
	})
	var (
		notAuthorized *ciptypes.NotAuthorizedException
		notFound      *ciptypes.UserNotFoundException
		tooMany       *ciptypes.TooManyRequestsException
		notConfirmed  *ciptypes.UserNotConfirmedException
		reset         *ciptypes.PasswordResetRequiredException
	)
	switch {
	case errors.As(err, &notAuthorized), errors.As(err, &notFound):
		return "", 0, "", nil, fmt.Errorf("%w: %w", core.ErrUnauthenticated, ErrBadCredentials)
	case errors.As(err, &tooMany):
		return "", 0, "", nil, tooManyLogins(30 * time.Second)
	case errors.As(err, &notConfirmed):
		return "", 0, "", nil, fmt.Errorf("%w: the user is not confirmed yet", core.ErrUnauthenticated)
	case errors.As(err, &reset):
		return "", 0, "", nil, fmt.Errorf("%w: the password must be reset; ask an administrator", core.ErrUnauthenticated)
	case err != nil:
		return "", 0, "", nil, fmt.Errorf("%w: sign-in: %w", core.ErrUnavailable, err)
	}
	if out.ChallengeName != "" {
		// An admin-created user must set a password first (see
		// docs/deploy.md: admin-set-user-password --permanent).
		return "", 0, "", nil, fmt.Errorf("%w: Cognito asks for %s before the first sign-in; an administrator sets a permanent password", core.ErrUnauthenticated, out.ChallengeName)
	}
	res := out.AuthenticationResult
	if res == nil || aws.ToString(res.IdToken) == "" {
		return "", 0, "", nil, fmt.Errorf("%w: Cognito answered without a token", core.ErrUnavailable)
	}
	var refresh *core.SessionRefresh
	if rt := aws.ToString(res.RefreshToken); rt != "" {
		endpoint := c.Endpoint
		if endpoint == "" {
			endpoint = CognitoEndpoint(c.Client.Options().Region)
		}
		refresh = &core.SessionRefresh{URL: endpoint, ClientID: c.ClientID, Token: rt}
	}
	return aws.ToString(res.IdToken), time.Duration(res.ExpiresIn) * time.Second, username, refresh, nil
}
