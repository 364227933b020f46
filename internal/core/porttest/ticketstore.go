package porttest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"bucketdesk/internal/core"
)

// RunTicketStoreTests runs the conformance suite of core.TicketStore.
// newStore must return a fresh, empty store for each subtest and register
// its own cleanup with t.Cleanup.
//
// The suite needs no TTL expiry: expiry is always decided by the now
// passed in.
func RunTicketStoreTests(t *testing.T, newStore func(t *testing.T) core.TicketStore) {
	runStoreTests(t, newStore, []storeTest[core.TicketStore]{
		{"Tickets/TakeOnce", testTicketsTakeOnce},
		{"Tickets/Expired", testTicketsExpired},
		{"Tickets/ConcurrentTake", testTicketsConcurrentTake},
	})
}

func ticket(hash string) *core.Ticket {
	return &core.Ticket{Hash: hash, User: "alice", Projects: []string{"p1", "p2"}, ExpiresAt: base.Add(30 * time.Second)}
}

func testTicketsTakeOnce(t *testing.T, s core.TicketStore) {
	ctx := t.Context()
	now := base.Add(10 * time.Second)
	for _, h := range []string{"h1", "h2"} {
		if err := s.PutTicket(ctx, ticket(h)); err != nil {
			t.Fatalf("PutTicket: %v", err)
		}
	}
	got, err := s.TakeTicket(ctx, "h1", now)
	if err != nil {
		t.Fatalf("TakeTicket: %v", err)
	}
	sameJSON(t, "ticket", utcTicket(got), utcTicket(ticket("h1")))
	if _, err := s.TakeTicket(ctx, "h1", now); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("second TakeTicket error = %v, want ErrNotFound", err)
	}
	if _, err := s.TakeTicket(ctx, "unknown", now); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("TakeTicket(unknown) error = %v, want ErrNotFound", err)
	}
	// Taking one ticket leaves the others alone.
	if _, err := s.TakeTicket(ctx, "h2", now); err != nil {
		t.Errorf("TakeTicket(h2) after h1 was taken: %v", err)
	}
}

func testTicketsExpired(t *testing.T, s core.TicketStore) {
	ctx := t.Context()
	tk := ticket("h1")
	if err := s.PutTicket(ctx, tk); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeTicket(ctx, "h1", tk.ExpiresAt.Add(time.Second)); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("TakeTicket after expiry error = %v, want ErrNotFound", err)
	}
}

func testTicketsConcurrentTake(t *testing.T, s core.TicketStore) {
	ctx := t.Context()
	if err := s.PutTicket(ctx, ticket("h1")); err != nil {
		t.Fatal(err)
	}
	now := base.Add(time.Second)
	errs := race(racers, func(int) error {
		_, err := s.TakeTicket(ctx, "h1", now)
		return err
	})
	var won int
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, core.ErrNotFound):
			t.Errorf("taker %d error = %v, want nil or ErrNotFound", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent takes won, want exactly 1", won, racers)
	}
}

// utcTicket is utcConnection for tickets.
func utcTicket(tk *core.Ticket) *core.Ticket {
	u := *tk
	u.Projects = slices.Sorted(slices.Values(tk.Projects))
	u.ExpiresAt = tk.ExpiresAt.UTC()
	return &u
}
