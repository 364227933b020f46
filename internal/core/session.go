package core

// SessionRefresh lets the web UI renew a session without asking for the
// password again: on AWS, Cognito's refresh token, which the browser trades
// for a new ID token with Cognito's InitiateAuth (REFRESH_TOKEN_AUTH) at
// URL, for the public app client ClientID. The local binary has none (its
// web UI signs in again).
type SessionRefresh struct {
	URL      string `json:"url"`
	ClientID string `json:"client_id"`
	Token    string `json:"token"`
}
