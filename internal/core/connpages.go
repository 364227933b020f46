package core

import (
	"context"
	"time"
)

// ConnectionPager is what a ConnectionStore may offer beyond
// ListConnections: a project's connections read page by page, so that a
// hub that posts to each of them (API Gateway's) starts posting after the
// first page and never holds every connection of a large project at once.
type ConnectionPager interface {
	// ConnectionPages calls page with each page of at most size of the
	// project's connections unexpired at now, in the store's order, until
	// the last page or until page returns an error, which it returns. A
	// page may be empty (every connection in it had expired). size <= 0
	// means the adapter's default.
	ConnectionPages(ctx context.Context, project string, now time.Time, size int, page func([]*Connection) error) error
}
