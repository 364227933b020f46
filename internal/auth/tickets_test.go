package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/core"
	"bucketdesk/internal/store/boltstore"
)

func newTicketsFixture(t *testing.T) (*Tickets, *boltstore.Store, *clock.Manual, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	store, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clk := clock.NewManual(t0)
	return NewTickets(store, &TicketOptions{Clock: clk.Now}), store, clk, path
}

func TestTicketsSingleUse(t *testing.T) {
	ctx := context.Background()
	tickets, store, _, path := newTicketsFixture(t)
	who := core.Principal{User: "alice", Groups: []string{"admins"}}
	ticket, ttl, err := tickets.Issue(ctx, who, []string{"demo", "web"})
	if err != nil {
		t.Fatal(err)
	}
	if ttl != DefaultTicketTTL {
		t.Errorf("ttl %v, want %v", ttl, DefaultTicketTTL)
	}
	if len(ticket) != 43 {
		t.Errorf("ticket of %d characters, want 43 (32 bytes base64url)", len(ticket))
	}

	// The store holds the hash, never the ticket.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), ticket) {
		t.Fatal("the database file holds the ticket itself")
	}
	if h := ticketHash(ticket); h == ticket || !strings.Contains(string(raw), h) {
		t.Fatal("the database file does not hold the ticket's hash")
	}
	if _, err := store.TakeTicket(ctx, ticket, t0); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("ticket found under its own value: %v", err)
	}

	p, projects, err := tickets.Redeem(ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	if p.User != "alice" || p.Groups != nil || !reflect.DeepEqual(projects, []string{"demo", "web"}) {
		t.Errorf("Redeem = %+v, %v", p, projects)
	}
	_, _, err = tickets.Redeem(ctx, ticket)
	wantUnauthenticated(t, err, "invalid or expired ticket", ticket)

	// Each ticket is new.
	a, _, _ := tickets.Issue(ctx, who, nil)
	b, _, _ := tickets.Issue(ctx, who, nil)
	if a == b {
		t.Fatal("two tickets are equal")
	}
	if _, projects, err := tickets.Redeem(ctx, a); err != nil || len(projects) != 0 {
		t.Fatalf("Redeem of a ticket without projects = %v, %v", projects, err)
	}
}

func TestTicketsRedeemedOnceUnderRace(t *testing.T) {
	ctx := context.Background()
	tickets, _, _, _ := newTicketsFixture(t)
	ticket, _, err := tickets.Issue(ctx, core.Principal{User: "alice"}, []string{"demo"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 10 {
		wg.Go(func() {
			if _, _, err := tickets.Redeem(ctx, ticket); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("ticket redeemed %d times", wins)
	}
}

func TestTicketsExpire(t *testing.T) {
	ctx := context.Background()
	tickets, _, clk, _ := newTicketsFixture(t)
	who := core.Principal{User: "alice"}

	ticket, _, err := tickets.Issue(ctx, who, []string{"demo"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(DefaultTicketTTL - time.Second)
	if _, _, err := tickets.Redeem(ctx, ticket); err != nil {
		t.Fatalf("redeem within the ttl: %v", err)
	}

	ticket, _, err = tickets.Issue(ctx, who, []string{"demo"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(DefaultTicketTTL)
	_, _, err = tickets.Redeem(ctx, ticket)
	wantUnauthenticated(t, err, "invalid or expired ticket", ticket)

	// A custom ttl.
	short := NewTickets(tickets.store, &TicketOptions{TTL: 5 * time.Second, Clock: clk.Now})
	ticket, ttl, err := short.Issue(ctx, who, nil)
	if err != nil || ttl != 5*time.Second {
		t.Fatalf("Issue = %v, %v", ttl, err)
	}
	clk.Advance(5 * time.Second)
	_, _, err = short.Redeem(ctx, ticket)
	wantUnauthenticated(t, err, "invalid or expired ticket", ticket)
}

func TestTicketsRejectGarbage(t *testing.T) {
	ctx := context.Background()
	tickets, _, _, _ := newTicketsFixture(t)
	for _, bad := range []string{"", "x", "not base64!", strings.Repeat("A", 43), strings.Repeat("A", 44), strings.Repeat("A", 4000)} {
		_, _, err := tickets.Redeem(ctx, bad)
		wantUnauthenticated(t, err, "invalid or expired ticket", bad)
	}
	if _, _, err := tickets.Issue(ctx, core.Principal{}, nil); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("Issue without a user = %v, want ErrInvalid", err)
	}
}

func TestTicketsStoreFailureKeepsItsKind(t *testing.T) {
	ctx := context.Background()
	tickets, store, _, _ := newTicketsFixture(t)
	ticket, _, err := tickets.Issue(ctx, core.Principal{User: "alice"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	_, _, err = tickets.Redeem(ctx, ticket)
	if err == nil || errors.Is(err, core.ErrUnauthenticated) {
		t.Fatalf("Redeem with the store closed = %v, want a store error, not a 401", err)
	}
	if strings.Contains(err.Error(), ticket) {
		t.Errorf("error %q holds the ticket", err)
	}
}
