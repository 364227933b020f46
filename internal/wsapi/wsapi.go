// Package wsapi is the local WebSocket endpoint of the real-time protocol
// (docs/api.md, "Real-time protocol"): GET /ws?ticket=… redeems a single-use
// ticket before the upgrade, subscribes the connection to its projects
// with a bounded queue (Options.Subscribe), and sends a hello frame followed
// by each core.Message as one JSON text frame, in the wire form of package
// realtime.
//
// It enforces the limits API Gateway's WebSocket API would (maximum age,
// idle timeout, frame size), so that clients always exercise
// reconnect-and-resync locally. Each publish is encoded and framed once,
// not once per connection: the hub hands every connection the same
// *realtime.Batch, which memoizes its WebSocket frames end to end. A hub
// worker writes them to each connection's socket itself when the socket
// takes them at once; a connection whose socket is full, or that has
// frames queued, gets them queued (up to Limits.SendQueue messages) for
// its own goroutine, which writes what is queued in one vectored write.
//
// Close codes: 4001 "max age", 4002 "idle", 4008 "slow consumer", 1009 for
// a client frame over the limit, 1007 for a client text frame that is not
// valid UTF-8, 1001 on Close (server shutdown).
//
// Every answer carries X-Content-Type-Options: nosniff; every refusal
// before the upgrade (401, 400, 403, 405, 426, 503) is an RFC 9457
// application/problem+json document with Cache-Control: no-store, those
// websocket.Accept writes (a bad handshake, a foreign origin) included.
//
// On AWS, API Gateway's WebSocket API holds the sockets and the same
// protocol runs in Lambdas: see APIGW (apigw.go) for the $connect
// authorizer and the $connect, $disconnect and $default routes.
//
// Client messages: {"type":"ping"} is answered with {"type":"pong"}; every
// other client message, text (valid UTF-8) or binary, is ignored but
// counts as activity for the idle timeout. WebSocket-level pongs (answers to the server's
// pings) do not count as activity, because browsers send them by
// themselves.
package wsapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"bucketdesk/internal/core"
	"bucketdesk/internal/realtime"
)

// Close codes of the protocol, besides the standard 1001 (shutdown) and
// 1009 (client frame too big).
const (
	// CloseMaxAge closes a connection older than Limits.MaxAge.
	CloseMaxAge websocket.StatusCode = 4001
	// CloseIdle closes a connection whose client sent nothing for
	// Limits.IdleTimeout.
	CloseIdle websocket.StatusCode = 4002
	// CloseRevoked closes a connection whose user lost a project it is
	// subscribed to (removed from its members, or the project retired):
	// the client reconnects with a ticket of its remaining projects.
	CloseRevoked websocket.StatusCode = 4003
	// CloseSlowConsumer closes a connection whose send queue overflowed.
	CloseSlowConsumer websocket.StatusCode = 4008
)

// TicketRedeemer takes a WebSocket ticket: it returns who it was issued to
// and the projects the connection may follow, and makes the ticket unusable.
// A missing, used or expired ticket is an error wrapping
// core.ErrUnauthenticated. internal/auth.Tickets implements it.
type TicketRedeemer interface {
	Redeem(ctx context.Context, ticket string) (core.Principal, []string, error)
}

// Limits bounds each connection. A zero field takes its DefaultLimits value.
type Limits struct {
	// MaxAge is the longest a connection lives (close 4001).
	MaxAge time.Duration
	// IdleTimeout closes a connection whose client sent no message for
	// that long (close 4002).
	IdleTimeout time.Duration
	// PingInterval is the period of WebSocket-level pings; a client that
	// does not answer within WriteTimeout is dropped.
	PingInterval time.Duration
	// MaxFrame is the largest message, in bytes, in either direction.
	MaxFrame int
	// SendQueue is the number of messages a connection may fall behind
	// before it is closed as a slow consumer (close 4008).
	SendQueue int
	// WriteTimeout bounds each write to a client and the wait for a pong.
	WriteTimeout time.Duration
}

// DefaultLimits returns the limits of API Gateway's WebSocket API, with a
// send queue of 256 messages.
func DefaultLimits() Limits {
	return Limits{
		MaxAge:       2 * time.Hour,
		IdleTimeout:  10 * time.Minute,
		PingInterval: 30 * time.Second,
		MaxFrame:     realtime.DefaultMaxFrame,
		SendQueue:    256,
		WriteTimeout: 10 * time.Second,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxAge <= 0 {
		l.MaxAge = d.MaxAge
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.PingInterval <= 0 {
		l.PingInterval = d.PingInterval
	}
	if l.MaxFrame <= 0 {
		l.MaxFrame = d.MaxFrame
	}
	if l.SendQueue <= 0 {
		l.SendQueue = d.SendQueue
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = d.WriteTimeout
	}
	return l
}

// hello is the first frame of a connection under l.
func (l Limits) hello(user string, projects []string) realtime.Hello {
	return realtime.Hello{User: user, Projects: projects, MaxFrame: l.MaxFrame, IdleTimeout: l.IdleTimeout, MaxAge: l.MaxAge}
}

// Sink is a connection as a hub delivers to it (localhub.Sink).
type Sink interface {
	// Deliver takes the frames of one publish of the connection's
	// projects, in publish order, without waiting, and reports false
	// when the connection has fallen Limits.SendQueue messages behind:
	// the hub then drops it.
	Deliver(b *realtime.Batch) bool
}

// Subscription is a connection's subscription to its projects, as a hub
// (localhub.Hub's SubscribeSink) holds it.
type Subscription interface {
	// Done is closed as soon as the subscription ends. The handler never
	// ends a subscription before it is done with it, so Done closing
	// means the hub dropped the connection for falling behind.
	Done() <-chan struct{}
	// Close ends the subscription; no Deliver follows its return.
	Close()
}

// Options configure a Handler. Tickets and Subscribe are required.
type Options struct {
	// Tickets redeems the ticket of each connection.
	Tickets TicketRedeemer
	// Subscribe subscribes a connection, sink, to its projects'
	// publishes. internal/setup wires it to the local binary's
	// localhub.Hub.
	Subscribe func(projects []string, sink Sink) Subscription
	// Limits bound each connection; zero fields take DefaultLimits.
	Limits Limits
	// Logger receives connection events; nil discards them. The ticket
	// (the query string) is never logged.
	Logger *slog.Logger
	// OriginPatterns are the browser origins allowed besides the request's
	// own host (same-origin only by default); see
	// websocket.AcceptOptions.OriginPatterns.
	OriginPatterns []string
}

// Stats are counters for /metrics.
type Stats struct {
	// Connections is the number of open connections.
	Connections int64
	// ConnectionsTotal counts connections accepted since start.
	ConnectionsTotal int64
	// MessagesSent counts hub messages written to clients (a resync frame
	// standing for a message counts too; hello and pong do not).
	MessagesSent int64
	// SlowConsumerDisconnects counts connections closed because their send
	// queue overflowed or a write to them timed out.
	SlowConsumerDisconnects int64
}

// Handler serves GET /ws. Create it with NewHandler; stop it with Close.
type Handler struct {
	tickets   TicketRedeemer
	subscribe func(projects []string, sink Sink) Subscription
	limits    Limits
	log       *slog.Logger
	accept    websocket.AcceptOptions

	mu      sync.Mutex
	closing bool
	done    chan struct{}
	wg      sync.WaitGroup
	conns   map[*conn]struct{} // the open connections, for Disconnect

	open, total, sent, slow atomic.Int64
}

// NewHandler returns the WebSocket endpoint. It panics when Tickets or
// Subscribe is missing, which is a wiring bug.
func NewHandler(o Options) *Handler {
	if o.Tickets == nil || o.Subscribe == nil {
		panic("wsapi: NewHandler needs Tickets and Subscribe")
	}
	h := &Handler{
		tickets:   o.Tickets,
		subscribe: o.Subscribe,
		limits:    o.Limits.withDefaults(),
		log:       o.Logger,
		done:      make(chan struct{}),
		conns:     map[*conn]struct{}{},
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.accept = websocket.AcceptOptions{
		OriginPatterns:  append([]string(nil), o.OriginPatterns...),
		CompressionMode: websocket.CompressionDisabled,
	}
	return h
}

// Stats returns the current counters.
func (h *Handler) Stats() Stats {
	return Stats{
		Connections:             h.open.Load(),
		ConnectionsTotal:        h.total.Load(),
		MessagesSent:            h.sent.Load(),
		SlowConsumerDisconnects: h.slow.Load(),
	}
}

// Close closes every connection with 1001 (going away) and waits for them
// to end; later requests are answered 503. It is safe to call more than
// once.
func (h *Handler) Close() {
	h.mu.Lock()
	if !h.closing {
		h.closing = true
		close(h.done)
		for c := range h.conns {
			c.poke()
		}
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// ServeHTTP redeems the ticket, upgrades and serves the connection until
// it ends.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeProblem(w, http.StatusMethodNotAllowed, "method-not-allowed", "Method Not Allowed", "use GET with a WebSocket upgrade")
		return
	}
	// Refuse a plain request before the ticket is spent on it.
	if !isUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		writeProblem(w, http.StatusUpgradeRequired, "upgrade-required", "Upgrade Required", "this endpoint speaks WebSocket only")
		return
	}
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Service Unavailable", "the server is shutting down")
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()

	ticket := r.URL.Query().Get("ticket")
	if ticket == "" {
		writeUnauthenticated(w, "a ticket is required: POST /api/ws-ticket, then connect to /ws?ticket=…")
		return
	}
	who, projects, err := h.tickets.Redeem(r.Context(), ticket)
	switch {
	case err == nil:
	case errors.Is(err, core.ErrUnauthenticated), errors.Is(err, core.ErrNotFound):
		writeUnauthenticated(w, "the ticket is missing, used or expired; ask for a new one")
		return
	case core.Retryable(err):
		w.Header().Set("Retry-After", "1")
		writeProblem(w, http.StatusServiceUnavailable, "unavailable", "Service Unavailable", "tickets cannot be checked now; retry")
		h.log.Warn("ws ticket check failed", "path", r.URL.Path, "err", err)
		return
	default:
		writeProblem(w, http.StatusInternalServerError, "internal", "Internal Server Error", "tickets cannot be checked")
		h.log.Error("ws ticket check failed", "path", r.URL.Path, "err", err)
		return
	}

	bw := &socketWriter{}
	brw := &hijackingWriter{ResponseWriter: w, bw: bw}
	ws, err := websocket.Accept(brw, r, &h.accept)
	bw.upgraded()
	if err != nil {
		// Accept has refused (bad origin, bad handshake) in plain text,
		// which brw held back: answer it as a problem.
		if brw.refused != 0 {
			writeRefusal(w, brw.refused, strings.TrimSpace(brw.text.String()))
		}
		h.log.Info("ws upgrade refused", "path", r.URL.Path, "user", who.User, "err", err)
		return
	}
	c := &conn{h: h, ws: ws, bw: bw, user: who.User, projects: projects, revoked: make(chan struct{}), wake: make(chan struct{}, 1),
		kick: make(chan struct{}, 1), backlog: true}
	h.open.Add(1)
	h.total.Add(1)
	defer h.open.Add(-1)
	h.track(c)
	defer h.untrack(c)
	c.serve()
}

func isUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func writeUnauthenticated(w http.ResponseWriter, detail string) {
	w.Header().Set("WWW-Authenticate", "Bearer")
	writeProblem(w, http.StatusUnauthorized, "unauthenticated", "Unauthenticated", detail)
}

// writeRefusal answers as a problem a refusal that websocket.Accept wrote
// as text.
func writeRefusal(w http.ResponseWriter, status int, text string) {
	kind, title := "invalid", "Bad Request"
	switch {
	case status == http.StatusForbidden:
		kind, title = "forbidden", "Forbidden"
	case status == http.StatusUpgradeRequired:
		kind, title = "upgrade-required", "Upgrade Required"
	case status >= 500:
		kind, title = "internal", "Internal Server Error"
	}
	if text == "" {
		text = http.StatusText(status)
	}
	writeProblem(w, status, kind, title, text)
}

func writeProblem(w http.ResponseWriter, status int, kind, title, detail string) {
	b, _ := json.Marshal(problem{Type: "urn:bucketdesk:problem:" + kind, Title: title, Status: status, Detail: detail})
	w.Header().Del("Content-Length")
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// conn is one accepted connection. serve runs its writer loop in the
// request goroutine; a second goroutine reads client frames; and the
// hub's workers hand it publishes (Deliver).
type conn struct {
	h        *Handler
	ws       *websocket.Conn
	bw       *socketWriter
	user     string
	projects []string

	lastRead atomic.Int64 // unix nanoseconds of the last client message
	// readEnd is why readLoop stopped, when it closes the connection
	// (code 0: the connection ended under it); set before readDone closes.
	readEnd endReason
	pinging atomic.Bool
	stuck   atomic.Bool // a write outlived WriteTimeout
	// revoked is closed (once, under Handler.mu) by Disconnect.
	revoked chan struct{}
	// wake tells the writer loop to look at everything but its frames:
	// the reader's end, shutdown (Handler.done), revoked, and the timers'
	// due bits. Buffered (1): a poke is never lost and never blocks.
	wake chan struct{}
	due  atomic.Uint32 // dueMaxAge, dueIdle, duePing

	// kick tells the writer loop that Deliver queued frames, or left the
	// rest of a write for it (buffered 1, as wake).
	kick chan struct{}
	qmu  sync.Mutex
	// backlog: the writer loop owns the socket's data writes (from the
	// start until the hello is written, and whenever the socket was full)
	// until it has written everything queued; meanwhile Deliver queues.
	backlog bool
	queue   [][]byte // WebSocket frames for the writer loop, in order
	queued  int      // messages in queue
	gone    bool     // the connection ended or its socket failed
	failed  error    // why a write of Deliver's failed
}

// Deliver writes a publish to the socket when the socket takes it at
// once and nothing is queued before it; otherwise it queues the publish
// for the writer loop, unless that makes more than Limits.SendQueue
// messages behind (false: the hub drops the connection). It never waits
// for the socket: a hub worker calls it for many connections in turn.
func (c *conn) Deliver(b *realtime.Batch) bool {
	l := c.h.limits
	ws, n := b.WebSocket(l.MaxFrame), len(b.Frames)
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.gone {
		return true
	}
	if !c.backlog {
		wrote, tried, err := c.bw.tryWrite(ws)
		if err != nil {
			// The socket is closed or failed: the writer loop ends the
			// connection (the reader may not notice a failed write).
			c.gone, c.failed = true, err
			c.kickWriter()
			return true
		}
		if tried {
			c.h.sent.Add(int64(n))
			if wrote == len(ws) {
				return true
			}
			// Begun: the socket writer keeps the rest and writes it
			// before anything else; the writer loop writes it.
			c.backlog = true
			c.kickWriter()
			return true
		}
		// Not tried (the library is writing a frame of its own, or the
		// socket cannot be written without waiting): queue.
		c.backlog = true
		c.kickWriter()
	}
	if c.queued+n > l.SendQueue {
		return false
	}
	c.queue = append(c.queue, ws)
	c.queued += n
	return true
}

// errDropped is drain's answer once the hub has dropped the connection.
var errDropped = errors.New("wsapi: dropped by the hub as a slow consumer")

// kickWriter wakes the writer loop to drain.
func (c *conn) kickWriter() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// drain writes what a write begun by Deliver left over, then what
// Deliver queued, with blocking writes (each bounded by WriteTimeout
// through stuck), until nothing is left; then Deliver writes to the socket
// itself again. Everything queued when it looks goes out in one vectored
// write (writev) of the shared frames. It holds qmu only to take the
// queue, never while it writes or waits for the socket's lock, so that
// Deliver, and the hub worker calling it, never wait for this socket.
// Once dropped is closed (the hub dropped the connection) it writes
// nothing more and returns errDropped.
func (c *conn) drain(stuck *time.Timer, dropped <-chan struct{}) error {
	for {
		select {
		case <-dropped:
			return errDropped
		default:
		}
		c.qmu.Lock()
		q, n, failed := c.queue, c.queued, c.failed
		c.queue, c.queued = nil, 0
		c.qmu.Unlock()
		if failed != nil {
			return failed
		}
		// While backlog is set Deliver leaves no rest, so this write
		// sends what rest there is.
		bufs := net.Buffers(q)
		stuck.Reset(c.h.limits.WriteTimeout)
		err := c.bw.writeBatch(&bufs)
		stuck.Stop()
		if err != nil {
			return err
		}
		c.h.sent.Add(int64(n))
		c.qmu.Lock()
		if len(c.queue) == 0 {
			c.backlog = false
			c.qmu.Unlock()
			return nil
		}
		c.qmu.Unlock()
	}
}

// Timers of a connection, set in conn.due when they fire.
const (
	dueMaxAge = 1 << iota
	dueIdle
	duePing
)

// poke wakes the writer loop.
func (c *conn) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// fire marks timer d due and wakes the writer loop.
func (c *conn) fire(d uint32) {
	c.due.Or(d)
	c.poke()
}

// stopped returns why the connection must end, when its reader ended,
// the server is shutting down or its project access was revoked.
func (c *conn) stopped(readDone <-chan struct{}) (endReason, bool) {
	select {
	case <-readDone:
		return c.readEnd, true
	default:
	}
	select {
	case <-c.h.done:
		return endReason{websocket.StatusGoingAway, "server shutting down"}, true
	default:
	}
	select {
	case <-c.revoked:
		return endReason{CloseRevoked, "project access revoked"}, true
	default:
	}
	return endReason{}, false
}

// endReason is why serve ended a connection.
type endReason struct {
	code   websocket.StatusCode
	reason string
}

func (c *conn) serve() {
	h, l := c.h, c.h.limits
	start := time.Now()
	c.lastRead.Store(start.UnixNano())
	c.ws.SetReadLimit(int64(l.MaxFrame))

	// Deliver queues until the hello is written (backlog).
	sub := h.subscribe(c.projects, c)
	defer sub.Close()

	// A write that outlives WriteTimeout drops the connection. One timer,
	// re-armed per write, rather than a context (and its timer) per write.
	stuck := time.AfterFunc(time.Hour, func() {
		c.stuck.Store(true)
		c.ws.CloseNow()
	})
	stuck.Stop()
	defer stuck.Stop()
	write := func(b []byte) error {
		stuck.Reset(l.WriteTimeout)
		err := c.bw.writeFrames(b)
		stuck.Stop()
		return err
	}

	readDone := make(chan struct{})
	go func() {
		c.readLoop(readDone)
		c.poke()
	}()

	end := func(r endReason, err error) {
		c.qmu.Lock()
		c.gone, c.queue = true, nil
		c.qmu.Unlock()
		switch {
		case r.code == 0:
			c.ws.CloseNow()
		default:
			c.ws.Close(r.code, r.reason)
		}
		<-readDone
		lvl := slog.LevelDebug
		if r.code == CloseSlowConsumer || err != nil {
			lvl = slog.LevelInfo
		}
		attrs := []any{"user", c.user, "code", int(r.code), "reason", r.reason, "age", time.Since(start).Round(time.Millisecond)}
		if err != nil {
			attrs = append(attrs, "err", err)
		}
		h.log.Log(context.Background(), lvl, "ws closed", attrs...)
	}

	if err := write(realtime.WebSocketText(l.hello(c.user, c.projects).Encode())); err != nil {
		end(endReason{}, err)
		return
	}
	h.log.Debug("ws open", "user", c.user, "projects", len(c.projects))

	// drained drains (see drain) and reports whether the connection goes
	// on; otherwise it has ended it: with 4008 when the hub dropped it,
	// before its backlog rather than after.
	slow := endReason{CloseSlowConsumer, "slow consumer"}
	drained := func() bool {
		err := c.drain(stuck, sub.Done())
		switch {
		case err == nil:
			return true
		case errors.Is(err, errDropped):
			h.slow.Add(1)
			end(slow, nil)
		default:
			if c.stuck.Load() {
				h.slow.Add(1) // the client stopped reading
			}
			end(endReason{}, err)
		}
		return false
	}
	if !drained() {
		return
	}

	// The writer loop waits on three channels only: kick (frames to
	// drain), the end of its subscription, and wake, which every other
	// cause to act pokes (the reader's end, shutdown, revocation, and the
	// three timers, which run as AfterFuncs). A select costs per channel,
	// and a timer channel in a select is put in the timer heap each time
	// the select blocks. Most publishes never wake it: the hub's worker
	// writes them (Deliver).
	maxAge := time.AfterFunc(l.MaxAge, func() { c.fire(dueMaxAge) })
	defer maxAge.Stop()
	idle := time.AfterFunc(l.IdleTimeout, func() { c.fire(dueIdle) })
	defer idle.Stop()
	ping := time.AfterFunc(l.PingInterval, func() { c.fire(duePing) })
	defer ping.Stop()

	for {
		select {
		case <-c.kick:
			if !drained() {
				return
			}
		case <-sub.Done():
			// Dropped while frames are still queued: tell the client now
			// rather than after the backlog.
			h.slow.Add(1)
			end(slow, nil)
			return
		case <-c.wake:
			if r, ok := c.stopped(readDone); ok {
				end(r, nil)
				return
			}
			due := c.due.Swap(0)
			if due&dueMaxAge != 0 {
				end(endReason{CloseMaxAge, "max age"}, nil)
				return
			}
			if due&dueIdle != 0 {
				quiet := time.Since(time.Unix(0, c.lastRead.Load()))
				if quiet >= l.IdleTimeout {
					end(endReason{CloseIdle, "idle"}, nil)
					return
				}
				idle.Reset(l.IdleTimeout - quiet)
			}
			if due&duePing != 0 {
				if c.pinging.CompareAndSwap(false, true) {
					go c.ping(l.WriteTimeout)
				}
				ping.Reset(l.PingInterval)
			}
		}
	}
}

// ping sends a WebSocket ping and drops the connection when no pong comes
// within timeout.
func (c *conn) ping(timeout time.Duration) {
	defer c.pinging.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := c.ws.Ping(ctx); err != nil {
		c.h.log.Debug("ws ping unanswered", "user", c.user, "err", err)
		c.ws.CloseNow()
	}
}

// readLoop reads client messages until the connection ends, answers pings
// and records activity for the idle timeout. Reading also processes the
// client's pongs and close frames. A text message that is not valid UTF-8
// ends the connection with 1007 (RFC 6455 §8.1).
func (c *conn) readLoop(done chan<- struct{}) {
	defer close(done)
	for {
		typ, b, err := c.ws.Read(context.Background())
		if err != nil {
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		if typ != websocket.MessageText {
			continue
		}
		if !utf8.Valid(b) {
			c.readEnd = endReason{websocket.StatusInvalidFramePayloadData, "invalid UTF-8"}
			return
		}
		if realtime.ClientType(b) != realtime.TypePing {
			continue // unknown client messages are ignored
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.h.limits.WriteTimeout)
		err = c.ws.Write(ctx, websocket.MessageText, realtime.Pong())
		cancel()
		if err != nil {
			return
		}
	}
}

var _ http.Handler = (*Handler)(nil)

// socketWriter serializes every write to a connection's socket. Hub
// workers write data frames through tryWrite, without waiting, and the
// writer loop through writeFrames and writeBatch (whole frames, framed by
// realtime); coder/websocket's bufio.Writer flushes into Write the frames
// the library writes itself (pings, pongs and close frames, and the
// answer to a client's ping, {"type":"pong"}, sent through the library for
// its write timeout), each of them whole, since every frame it writes ends
// with a flush and none exceeds the buffer (4 KiB). A message sent through
// the library must stay under that size, or Write would see it in pieces.
//
// A tryWrite that the socket took only in part leaves the rest of its
// frames in rest: every later write sends rest first, so that frames never
// interleave.
//
// After a close frame has gone out no data frame may follow (RFC 6455
// §5.5.1): Write notices the library's close frame by its opcode, and the
// data writes then fail with net.ErrClosed, as the library's own Write
// would.
type socketWriter struct {
	mu        sync.Mutex
	w         io.Writer       // the socket, set on hijack
	raw       syscall.RawConn // the socket's descriptor, when it has one
	rest      []byte          // the unwritten end of a tryWrite
	framing   bool            // the handshake is over: Write gets frames
	closeSent bool
}

// Write writes p, the handshake's answer or a frame of coder/websocket's,
// to the socket, after rest.
func (s *socketWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flushRest(); err != nil {
		return 0, err
	}
	if s.framing && len(p) > 0 && p[0]&0x0f == 0x8 {
		s.closeSent = true
	}
	return s.w.Write(p)
}

// flushRest writes rest, waiting for the socket.
func (s *socketWriter) flushRest() error {
	if s.rest == nil {
		return nil
	}
	_, err := s.w.Write(s.rest)
	s.rest = nil
	return err
}

// upgraded marks the end of the handshake: what Write gets from then on
// are WebSocket frames.
func (s *socketWriter) upgraded() {
	s.mu.Lock()
	s.framing = true
	s.mu.Unlock()
}

// tryWrite writes as much of b, whole data frames, as the socket takes
// without waiting, and keeps what it did not take in rest. It does not
// try (tried false) when the socket has no descriptor, another write
// holds the socket, or rest is left from before; the caller then queues b
// for a write that waits.
func (s *socketWriter) tryWrite(b []byte) (wrote int, tried bool, err error) {
	if s.raw == nil || !s.mu.TryLock() {
		return 0, false, nil
	}
	defer s.mu.Unlock()
	switch {
	case s.closeSent:
		return 0, true, net.ErrClosed
	case s.rest != nil:
		return 0, false, nil
	}
	n, err := writeNow(s.raw, b)
	if err != nil {
		return 0, true, err
	}
	if n < len(b) {
		s.rest = b[n:]
	}
	return n, true, nil
}

// writeBatch writes rest, then the whole data frames of bufs, to the
// socket in one vectored write (writev on a TCP connection), unless a
// close frame has gone out.
func (s *socketWriter) writeBatch(bufs *net.Buffers) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeSent {
		return net.ErrClosed
	}
	b := *bufs // WriteTo consumes its slice
	if s.rest != nil {
		b = append(net.Buffers{s.rest}, b...)
		s.rest = nil
	}
	if len(b) == 0 {
		return nil
	}
	_, err := b.WriteTo(s.w)
	return err
}

// writeFrames writes rest, then whole data frames, to the socket, unless a
// close frame has gone out.
func (s *socketWriter) writeFrames(b []byte) error {
	return s.writeBatch(&net.Buffers{b})
}

// hijackingWriter hands websocket.Accept a hijacked connection whose
// bufio.Writer writes through bw, a socketWriter. net/http makes a new
// bufio.Writer for a hijacked connection, so this costs no memory.
//
// It also holds back a refusal (a status of 400 or more, and its text)
// that websocket.Accept writes, for ServeHTTP to answer as a problem.
type hijackingWriter struct {
	http.ResponseWriter
	bw      *socketWriter
	refused int
	text    bytes.Buffer
}

func (w *hijackingWriter) WriteHeader(code int) {
	if code >= 400 {
		w.refused = code
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *hijackingWriter) Write(p []byte) (int, error) {
	if w.refused != 0 {
		if w.text.Len() < 1024 {
			w.text.Write(p)
		}
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (w *hijackingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hijacks the underlying connection and puts bw between its
// buffered writer and the socket.
func (w *hijackingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		nc.Close()
		return nil, nil, err
	}
	w.bw.w = nc
	w.bw.raw = rawConn(nc)
	brw.Writer.Reset(w.bw)
	return nc, brw, nil
}
