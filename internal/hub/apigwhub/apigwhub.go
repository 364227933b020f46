// Package apigwhub is the Hub on AWS: it pushes each message to the
// project's WebSocket connections through API Gateway's @connections API
// (the API Gateway Management API's PostToConnection).
//
// API Gateway holds the sockets; the connections are items in the store,
// registered by the $connect Lambda (internal/wsapi, APIGW) and found by
// project through an index, never a scan. A store that reads them page by
// page (core.ConnectionPager: dynamostore's Query with Limit and
// ExclusiveStartKey) is read so: the posts to one page's connections go
// out while the next page is read, and a publish holds three pages at
// most (the one it posts from, one waiting, one being handed over).
//
// A message is encoded once per publish, with the protocol's JSON and
// frame rule (realtime.Encode), the same bytes as the local endpoint's,
// and posted to every connection by at most Options.Concurrency workers,
// one post each at a time: a slow connection holds one worker. PublishAll
// reads the connections once for several messages (a stack event's) and
// posts them to each connection in order, one frame a post. A
// connection that API Gateway reports gone (410 GoneException) is deleted
// from the store beside the posts; throttling and transient failures are
// retried a few times with a short backoff (internal/retry); a post still
// failing then closes that connection (DeleteConnection) and forgets it,
// so that its client, which missed a frame, reconnects and resyncs (a
// close that fails keeps the connection). Publish is best effort, as
// core.Hub says.
package apigwhub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"bucketdesk/internal/core"
	"bucketdesk/internal/realtime"
	"bucketdesk/internal/retry"
)

var _ core.Hub = (*Hub)(nil)

// Defaults of Options.
const (
	// DefaultConcurrency is how many posts of one publish are in flight at
	// most. API Gateway throttles per account and Region, every API and
	// the @connections calls together: 10,000 requests per second by
	// default, with a bucket of 5,000 for bursts (Amazon API Gateway
	// quotas). A post takes some 20 ms within the Region, so 128 in flight
	// send about 6,400 posts per second while a publish lasts, and a
	// project of 1,000 connections is reached in eight rounds (~160 ms)
	// that take 1,000 requests of the burst bucket: several functions
	// fanning out at once and the HTTP API still fit in the bucket, and
	// a sustained overflow is answered 429 LimitExceededException, which
	// is retried with backoff. More in flight would cost the account's
	// headroom for little: at 100, ten rounds; at 200, five.
	DefaultConcurrency = 128
	// DefaultPageSize is how many connections are read per page from a
	// store that reads by pages (core.ConnectionPager): about one round
	// of posts at the default concurrency, so that the next page is read
	// while one is posted.
	DefaultPageSize = 100
	// DefaultAttempts is how many times a post is tried when it fails
	// with a transient error.
	DefaultAttempts = 3
	// DefaultBackoff is the ceiling of the wait before the first retry; it
	// doubles per retry.
	DefaultBackoff = 50 * time.Millisecond
	// DefaultMaxFrame is API Gateway's WebSocket frame size limit.
	DefaultMaxFrame = realtime.DefaultMaxFrame
)

// cleanupConcurrency bounds the deletions of gone connections from the
// store in flight per publish.
const cleanupConcurrency = 8

// Options tune a Hub. Nil or zero fields mean defaults.
type Options struct {
	// Concurrency bounds the posts in flight per publish; default
	// DefaultConcurrency (which says why).
	Concurrency int
	// PageSize is how many connections are read per page from a store
	// that reads by pages; default DefaultPageSize.
	PageSize int
	// Attempts is the number of tries of a post that fails transiently
	// (throttled, 5xx, network); default 3.
	Attempts int
	// Backoff is the ceiling of the wait before the first retry, doubled
	// per retry, the wait drawn below it (retry.Policy.Base); default 50 ms.
	Backoff time.Duration
	// MaxFrame is the largest frame in bytes; default 32 KB (API
	// Gateway's). A larger message is sent without its event list, else as
	// a resync notice.
	MaxFrame int
	// Clock tells the time (which connections have expired) and waits
	// between retries; default the system clock.
	Clock core.Clock
	// Logger receives one line per publish whose posts failed for good,
	// and store failures when deleting a gone connection; nil discards
	// them. Frames are never logged.
	Logger *slog.Logger
}

// Stats are counters for /metrics, since the Hub was made.
type Stats struct {
	// Published counts Publish calls, and PublishAll calls, that read
	// their connections (their first page at least).
	Published int64
	// Posted counts frames API Gateway accepted.
	Posted int64
	// Gone counts posts answered 410 GoneException; each deleted its
	// connection from the store.
	Gone int64
	// Failed counts posts given up on after their attempts, or failed
	// with an error that retrying cannot fix.
	Failed int64
	// Retried counts retries of posts.
	Retried int64
	// Disconnected counts connections closed and forgotten because a
	// post to them failed for good: their clients reconnect and resync.
	Disconnected int64
	// Pages counts the pages of connections read (a store that does not
	// read by pages: one per publish).
	Pages int64
}

// Hub publishes through API Gateway's @connections API. It is safe for
// concurrent use.
type Hub struct {
	client   *apigatewaymanagementapi.Client
	store    core.ConnectionStore
	conc     int
	pageSize int
	retry    retry.Policy
	maxFrame int
	clock    core.Clock
	log      *slog.Logger

	published, posted, gone, failed, retried, disconnected, pages atomic.Int64
}

// New returns a Hub that posts with client (whose endpoint is the WebSocket
// API's https://{api-id}.execute-api.{region}.amazonaws.com/{stage}) to the
// connections registered in store.
func New(client *apigatewaymanagementapi.Client, store core.ConnectionStore, opts *Options) *Hub {
	h := &Hub{
		client:   client,
		store:    store,
		conc:     DefaultConcurrency,
		pageSize: DefaultPageSize,
		retry:    retry.Policy{Attempts: DefaultAttempts, Base: DefaultBackoff},
		maxFrame: DefaultMaxFrame,
		clock:    core.SystemClock{},
		log:      slog.New(slog.DiscardHandler),
	}
	if opts != nil {
		if opts.Concurrency > 0 {
			h.conc = opts.Concurrency
		}
		if opts.PageSize > 0 {
			h.pageSize = opts.PageSize
		}
		if opts.Attempts > 0 {
			h.retry.Attempts = opts.Attempts
		}
		if opts.Backoff > 0 {
			h.retry.Base = opts.Backoff
		}
		if opts.MaxFrame > 0 {
			h.maxFrame = opts.MaxFrame
		}
		if opts.Clock != nil {
			h.clock = opts.Clock
		}
		if opts.Logger != nil {
			h.log = opts.Logger
		}
	}
	h.retry.Clock = h.clock
	return h
}

// Stats returns the current counters.
func (h *Hub) Stats() Stats {
	return Stats{
		Published: h.published.Load(),
		Posted:    h.posted.Load(),
		Gone:      h.gone.Load(),
		Failed:    h.failed.Load(),
		Retried:   h.retried.Load(),

		Disconnected: h.disconnected.Load(),
		Pages:        h.pages.Load(),
	}
}

// Publish posts msg to every unexpired connection of project. It returns an
// error only when the connections cannot be listed (after posting to
// those of the pages read before the failure); failed posts are counted
// (Stats) and logged, because a client that misses a frame resyncs.
func (h *Hub) Publish(ctx context.Context, project string, msg core.Message) error {
	return h.PublishAll(ctx, project, []core.Message{msg})
}

// PublishAll posts msgs, in order, to every unexpired connection of
// project, as Publish does each, reading the connections once: each
// connection gets one post per message, the next once the last was
// accepted. A connection that is gone, or whose post failed for good (it
// is then closed), gets none of the messages after.
func (h *Hub) PublishAll(ctx context.Context, project string, msgs []core.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	// The pages are read ahead of the posts, one page at most waiting:
	// the next page is read while the posts of this one go out.
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	pages := make(chan []*core.Connection, 1)
	listed := make(chan error, 1)
	go func() {
		defer close(pages)
		listed <- h.list(lctx, project, func(cs []*core.Connection) error {
			select {
			case pages <- cs:
				return nil
			case <-lctx.Done():
				return lctx.Err()
			}
		})
	}()

	var (
		frames  [][]byte
		work    = make(chan string) // connection ids, to idle workers
		workers int
		wg      sync.WaitGroup
		mu      sync.Mutex
		failed  int
		total   int
		first   error // the first failure, for the one log line
		read    bool
	)
	// fail counts n posts failed with err.
	fail := func(err error, n int) {
		h.failed.Add(int64(n))
		mu.Lock()
		failed += n
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	// Gone connections are deleted from the store beside the posts, a
	// few at a time, so that a post slot waits for API Gateway only.
	var (
		cleaning sync.WaitGroup
		cleaners = make(chan struct{}, cleanupConcurrency)
	)
	forget := func(id string) {
		cleaners <- struct{}{}
		cleaning.Go(func() {
			defer func() { <-cleaners }()
			h.forget(ctx, id)
		})
	}
	post := func(id string) {
		for i, frame := range frames {
			ok, err := h.deliver(ctx, id, frame, forget)
			if err != nil {
				fail(err, 1)
			}
			if !ok {
				// Gone or closed: the rest are not tried; a caller that
				// gave up has them counted as failed.
				if ctx.Err() != nil {
					fail(ctx.Err(), len(frames)-i-1)
				}
				return
			}
		}
	}
	// At most h.conc workers, started as the connections come, each
	// posting one frame at a time: the bound. Workers live for the
	// publish, so a large project reuses them (and their grown stacks)
	// for one post after another.
	for page := range pages {
		if !read {
			read = true
			h.published.Add(1)
		}
		h.pages.Add(1)
		total += len(page)
		for _, c := range page {
			if frames == nil {
				for _, m := range msgs {
					frames = append(frames, realtime.Encode(m, h.maxFrame))
				}
			}
			if err := ctx.Err(); err != nil {
				fail(err, len(frames)) // not tried: the caller gave up
				continue
			}
			select {
			case work <- c.ID:
				continue
			default:
			}
			if workers < h.conc {
				workers++
				wg.Go(func() {
					post(c.ID)
					for id := range work {
						post(id)
					}
				})
				continue
			}
			select {
			case work <- c.ID:
			case <-ctx.Done():
				fail(ctx.Err(), len(frames))
			}
		}
	}
	close(work)
	wg.Wait()
	cleaning.Wait()
	err := <-listed
	if failed > 0 {
		// One line per publish, not per connection: an outage would
		// otherwise log once per subscriber.
		h.log.Warn("apigwhub: posts failed", "project", project, "type", string(msgs[0].Type), "messages", len(msgs),
			"failed", failed, "connections", total, "err", first)
	}
	// A caller that gave up after the first page has its posts counted as
	// failed, not a listing error.
	if err != nil && (!read || ctx.Err() == nil) {
		return fmt.Errorf("apigwhub: publish to %s: list connections: %w", project, err)
	}
	return nil
}

// list calls page with the project's connections: page by page when the
// store reads so, else all of them at once.
func (h *Hub) list(ctx context.Context, project string, page func([]*core.Connection) error) error {
	now := h.clock.Now()
	if p, ok := h.store.(core.ConnectionPager); ok {
		return p.ConnectionPages(ctx, project, now, h.pageSize, page)
	}
	cs, err := h.store.ListConnections(ctx, project, now)
	if err != nil {
		return err
	}
	return page(cs)
}

// deliver posts frame to one connection, retrying transient failures
// (internal/retry), and deletes the connection when API Gateway says it is
// gone. It reports whether the connection took the frame, and returns the
// error of a post it gave up on.
func (h *Hub) deliver(ctx context.Context, id string, frame []byte, forget func(id string)) (bool, error) {
	tries := 0
	err := h.retry.Do(ctx, func(ctx context.Context) error {
		if tries++; tries > 1 {
			h.retried.Add(1)
		}
		return h.Post(ctx, id, frame)
	})
	switch {
	case err == nil:
		h.posted.Add(1)
		return true, nil
	case errors.Is(err, core.ErrNotFound):
		h.gone.Add(1)
		forget(id)
		return false, nil
	case ctx.Err() != nil:
		return false, err // the caller gave up, not the connection
	}
	// The client missed this frame and would never know: close its
	// connection, so that it reconnects and resyncs from the lists (as
	// the local endpoint closes a client that cannot keep up).
	h.disconnect(ctx, id)
	return false, fmt.Errorf("after %d attempts, disconnected: %w", tries, err)
}

// forget deletes a connection that API Gateway says is gone from the
// store; a failure is logged (the next publish finds it gone again).
func (h *Hub) forget(ctx context.Context, id string) {
	// That connection, not the sender's: each post names its own.
	if err := h.store.DeleteConnection(ctx, id); err != nil {
		h.log.Warn("apigwhub: delete gone connection", "connection", id, "err", err)
	}
}

// disconnect closes a connection through API Gateway and then forgets it.
// A close that fails is logged and the connection kept: forgotten but
// open, its client would receive nothing and never know; kept, it gets the
// next frames.
func (h *Hub) disconnect(ctx context.Context, id string) {
	_, err := h.client.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(id)})
	var gone *types.GoneException
	if err != nil && !errors.As(err, &gone) {
		h.log.Warn("apigwhub: close a connection that missed a frame", "connection", id, "err", err)
		return
	}
	h.disconnected.Add(1)
	if derr := h.store.DeleteConnection(ctx, id); derr != nil {
		h.log.Warn("apigwhub: forget a closed connection", "connection", id, "err", derr)
	}
}

// Post sends data to one connection, once (the client's own retryer aside),
// and maps API Gateway's errors onto core's kinds:
//
//   - 410 GoneException (the connection is closed or unknown): ErrNotFound;
//   - 429 LimitExceededException: ErrThrottled;
//   - 403 ForbiddenException: ErrForbidden;
//   - 413 PayloadTooLargeException and any other 4xx: ErrInvalid;
//   - anything else (5xx, network): ErrUnavailable.
//
// It suits wsapi.APIGW.Post, for the answers to a client's own messages.
func (h *Hub) Post(ctx context.Context, connectionID string, data []byte) error {
	_, err := h.client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
		ConnectionId: aws.String(connectionID),
		Data:         data,
	})
	if err == nil {
		return nil
	}
	var (
		gone      *types.GoneException
		limit     *types.LimitExceededException
		forbidden *types.ForbiddenException
		tooLarge  *types.PayloadTooLargeException
		status    interface{ HTTPStatusCode() int }
		kind      error
	)
	switch {
	case errors.As(err, &gone):
		kind = core.ErrNotFound
	case errors.As(err, &limit):
		kind = core.ErrThrottled
	case errors.As(err, &forbidden):
		kind = core.ErrForbidden
	case errors.As(err, &tooLarge):
		kind = core.ErrInvalid
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("apigwhub: post to %s: %w", connectionID, err)
	case errors.As(err, &status) && status.HTTPStatusCode() >= 400 && status.HTTPStatusCode() < 500:
		kind = core.ErrInvalid
	default:
		kind = core.ErrUnavailable
	}
	return fmt.Errorf("apigwhub: post to %s: %w: %w", connectionID, kind, err)
}
