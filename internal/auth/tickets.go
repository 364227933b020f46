package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"bucketdesk/internal/core"
)

// DefaultTicketTTL is how long a WebSocket ticket is valid by default.
const DefaultTicketTTL = 30 * time.Second

// ticketBytes is the size of a ticket's random secret.
const ticketBytes = 32

// TicketOptions tune Tickets. Nil or zero fields mean defaults.
type TicketOptions struct {
	// TTL is how long a ticket is valid; default 30 s.
	TTL time.Duration
	// Clock tells the time; default time.Now.
	Clock func() time.Time
}

// Tickets issues and redeems the single-use tickets with which a browser
// opens a WebSocket (it cannot set an Authorization header there, and a
// JWT in a URL would end up in access logs). A ticket is 32 random bytes;
// the store holds only its SHA-256, so a copy of the store cannot open a
// connection.
type Tickets struct {
	store core.TicketStore
	ttl   time.Duration
	now   func() time.Time
}

// NewTickets returns Tickets kept in store.
func NewTickets(store core.TicketStore, opts *TicketOptions) *Tickets {
	t := &Tickets{store: store, ttl: DefaultTicketTTL, now: time.Now}
	if opts != nil {
		if opts.TTL > 0 {
			t.ttl = opts.TTL
		}
		if opts.Clock != nil {
			t.now = opts.Clock
		}
	}
	return t
}

// ticketHash is what the store keeps of a ticket.
func ticketHash(ticket string) string {
	sum := sha256.Sum256([]byte(ticket))
	return hex.EncodeToString(sum[:])
}

// Issue returns a new ticket bound to who and projects, and how long it is
// valid. The principal's groups are not kept: membership was decided when
// projects was computed.
func (t *Tickets) Issue(ctx context.Context, who core.Principal, projects []string) (string, time.Duration, error) {
	if who.User == "" {
		return "", 0, fmt.Errorf("auth: issue ticket: no user: %w", core.ErrInvalid)
	}
	var secret [ticketBytes]byte
	rand.Read(secret[:])
	ticket := base64.RawURLEncoding.EncodeToString(secret[:])
	if projects == nil {
		projects = []string{}
	}
	err := t.store.PutTicket(ctx, &core.Ticket{
		Hash:      ticketHash(ticket),
		User:      who.User,
		Projects:  slices.Clone(projects),
		ExpiresAt: t.now().Add(t.ttl),
	})
	if err != nil {
		return "", 0, fmt.Errorf("auth: issue ticket: %w", err)
	}
	return ticket, t.ttl, nil
}

// Redeem takes a ticket, once: it returns the user and projects it was
// issued for and removes it. A malformed, unknown, used or expired ticket
// is an error wrapping core.ErrUnauthenticated; a store failure keeps its
// kind (core.ErrUnavailable, …).
func (t *Tickets) Redeem(ctx context.Context, ticket string) (core.Principal, []string, error) {
	// A ticket that cannot be one of ours costs no store call.
	if raw, err := base64.RawURLEncoding.DecodeString(ticket); err != nil || len(raw) != ticketBytes {
		return core.Principal{}, nil, reject("invalid or expired ticket")
	}
	now := t.now()
	tk, err := t.store.TakeTicket(ctx, ticketHash(ticket), now)
	if errors.Is(err, core.ErrNotFound) {
		return core.Principal{}, nil, reject("invalid or expired ticket")
	}
	if err != nil {
		return core.Principal{}, nil, fmt.Errorf("auth: redeem ticket: %w", err)
	}
	// The store checks expiry too; this guards a store that does not.
	if !now.Before(tk.ExpiresAt) {
		return core.Principal{}, nil, reject("invalid or expired ticket")
	}
	return core.Principal{User: tk.User}, tk.Projects, nil
}
