package wsapi

import (
	"context"
	"slices"

	"bucketdesk/internal/core"
)

var _ core.Disconnector = (*Handler)(nil)

func (h *Handler) track(c *conn) {
	h.mu.Lock()
	h.conns[c] = struct{}{}
	if h.closing {
		// Close has poked the connections it saw; this one it did not.
		c.poke()
	}
	h.mu.Unlock()
}

func (h *Handler) untrack(c *conn) {
	h.mu.Lock()
	delete(h.conns, c)
	h.mu.Unlock()
}

// Disconnect closes, with CloseRevoked, the open connections subscribed to
// project of the given users (of every user when users is empty). It
// returns at once; each connection ends in its own goroutine.
func (h *Handler) Disconnect(_ context.Context, project string, users []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		if !slices.Contains(c.projects, project) || (len(users) > 0 && !slices.Contains(users, c.user)) {
			continue
		}
		select {
		case <-c.revoked:
		default:
			close(c.revoked)
			c.poke()
		}
	}
	return nil
}
