// Package auth owns identity: it verifies JWT bearer tokens through a JWKS
// (Cognito's on AWS, the local issuer's own locally: one code path), runs
// the local binary's built-in issuer with its users file and login
// limiter, and issues and redeems the single-use tickets that open a
// WebSocket.
//
// It has no HTTP handlers: package httpapi wraps it. Errors carry the kinds
// of package core (ErrUnauthenticated, ErrThrottled, ErrUnavailable, …)
// with a short reason; no error or log line ever holds a token, a password
// or a ticket.
package auth
