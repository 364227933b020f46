// Package realtime is the wire form of the real-time protocol
// (docs/api.md, "Real-time protocol"), shared by everything that speaks it:
// the local WebSocket endpoint and the API Gateway Lambdas
// (internal/wsapi), and the hubs that fan messages out
// (internal/hub/localhub, internal/hub/apigwhub). Sending the same bytes
// from every transport is what this package is for.
//
// A server sends JSON text frames: first a hello (Hello), then one
// core.Message per frame, encoded by Encode under the frame limit. A
// message over the limit is sent without its operation's event list,
// failing that as a resync notice (Resync): the client then re-reads its
// lists. A client may send {"type":"ping"}, answered with Pong.
//
// core.Message and core.Hub stay in package core: the engine publishes
// through the Hub port, and a message is made of core's domain types. This
// package owns the rest of the wire: the frames besides the messages, the
// frame-size rule and its fallbacks, and Frame, the encoding of one
// published message shared by every connection it goes to.
package realtime

import (
	"encoding/binary"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"bucketdesk/internal/core"
)

// Frame types besides the message types of core (core.MsgResource, …).
const (
	// TypeHello is the first frame of every connection.
	TypeHello = "hello"
	// TypeResync stands for a message too big for a frame: the client
	// re-reads its lists.
	TypeResync = "resync"
	// TypePing is a client's keep-alive.
	TypePing = "ping"
	// TypePong answers a client's ping.
	TypePong = "pong"
)

// DefaultMaxFrame is the largest frame in bytes: API Gateway's WebSocket
// frame limit, which the local endpoint enforces too.
const DefaultMaxFrame = 32 * 1024

// Hello is the content of the first frame of a connection.
type Hello struct {
	// User is who the connection's ticket was issued to.
	User string
	// Projects are the projects whose messages the connection receives.
	Projects []string
	// MaxFrame is the largest frame, in bytes, in either direction.
	MaxFrame int
	// IdleTimeout closes a connection whose client sent nothing for that
	// long; it is sent in whole seconds.
	IdleTimeout time.Duration
	// MaxAge is the longest a connection lives; it is sent in whole
	// seconds.
	MaxAge time.Duration
}

type helloFrame struct {
	Type     string      `json:"type"`
	User     string      `json:"user"`
	Projects []string    `json:"projects"`
	Limits   helloLimits `json:"limits"`
}

type helloLimits struct {
	MaxFrame     int   `json:"max_frame"`
	IdleTimeoutS int64 `json:"idle_timeout_s"`
	MaxAgeS      int64 `json:"max_age_s"`
}

// Encode returns the hello frame:
// {"type":"hello","user","projects","limits":{"max_frame","idle_timeout_s","max_age_s"}}.
// Projects are never null: none is [].
func (h Hello) Encode() []byte {
	projects := h.Projects
	if projects == nil {
		projects = []string{}
	}
	b, _ := json.Marshal(helloFrame{Type: TypeHello, User: h.User, Projects: projects, Limits: helloLimits{
		MaxFrame:     h.MaxFrame,
		IdleTimeoutS: int64(h.IdleTimeout / time.Second),
		MaxAgeS:      int64(h.MaxAge / time.Second),
	}})
	return b
}

// Pong returns the answer to a client's ping, {"type":"pong"}, in a new
// slice.
func Pong() []byte { return []byte(`{"type":"pong"}`) }

// Resync returns the notice that stands for a message of project too big
// for a frame: {"type":"resync","project":…}.
func Resync(project string) []byte {
	b, _ := json.Marshal(struct {
		Type    string `json:"type"`
		Project string `json:"project"`
	}{TypeResync, project})
	return b
}

// ClientType returns the type of a client's text frame ({"type":…}), or ""
// when it is not a JSON object with a string type. Every type but ping is
// ignored by the servers.
func ClientType(b []byte) string {
	var m struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(b, &m) != nil {
		return ""
	}
	return m.Type
}

// Encode returns m as one JSON frame of at most maxFrame bytes: m itself;
// else m without its operation's event list (operation.events and
// resource.operation.events); else Resync(m.Project). It never changes m,
// whose pointers may be shared.
func Encode(m core.Message, maxFrame int) []byte {
	b, err := json.Marshal(m)
	if err == nil && len(b) <= maxFrame {
		return b
	}
	if s, ok := withoutEvents(m); ok && err == nil {
		if b, err := json.Marshal(s); err == nil && len(b) <= maxFrame {
			return b
		}
	}
	return Resync(m.Project)
}

// withoutEvents returns m without operation.events and
// resource.operation.events, copying what it changes (the message is shared
// with other subscribers); ok is false when there was nothing to strip.
func withoutEvents(m core.Message) (core.Message, bool) {
	ok := false
	if m.Operation != nil && len(m.Operation.Events) > 0 {
		op := *m.Operation
		op.Events = nil
		m.Operation = &op
		ok = true
	}
	if m.Resource != nil && m.Resource.Op != nil && len(m.Resource.Op.Events) > 0 {
		r := *m.Resource
		op := *r.Op
		op.Events = nil
		r.Op = &op
		m.Resource = &r
		ok = true
	}
	return m, ok
}

// Frame is one published message on its way to the connections that
// follow its project. A hub hands the same *Frame to all of them, and
// Bytes encodes it once per frame limit rather than once per connection.
// A Frame is safe for concurrent use and must not be changed.
type Frame struct {
	// Msg is the published message. Its pointers are shared: read only.
	Msg core.Message

	enc perLimit[encoding]
}

// encoding is Encode(Msg, maxFrame) as a WebSocket frame: b is its
// payload, the tail of ws.
type encoding struct{ b, ws []byte }

// NewFrame returns a Frame of msg.
func NewFrame(msg core.Message) *Frame { return &Frame{Msg: msg} }

// Bytes returns Encode(f.Msg, maxFrame). The first caller for a limit
// encodes; the others, concurrent or later, get its result without
// waiting on a lock. The returned bytes are shared and must not be
// changed.
func (f *Frame) Bytes(maxFrame int) []byte { return f.encoding(maxFrame).b }

// WebSocket returns Bytes(maxFrame) as one WebSocket text frame, as a
// server sends it (RFC 6455 §5.2: FIN, opcode 1, unmasked), memoized with
// it: a server that writes the same published message to many
// connections frames it once. The returned bytes are shared and must not
// be changed.
func (f *Frame) WebSocket(maxFrame int) []byte { return f.encoding(maxFrame).ws }

func (f *Frame) encoding(maxFrame int) encoding {
	return f.enc.get(maxFrame, func() encoding {
		p := Encode(f.Msg, maxFrame)
		ws := WebSocketText(p)
		return encoding{ws: ws, b: ws[len(ws)-len(p):]}
	})
}

// perLimit memoizes one value per frame limit for many concurrent
// readers: the first caller for a limit computes it, under a lock, and
// the others, concurrent or later, get it from a list read without one.
type perLimit[T any] struct {
	mu   sync.Mutex
	head atomic.Pointer[limitEntry[T]] // newest first
}

type limitEntry[T any] struct {
	maxFrame int
	v        T
	next     *limitEntry[T]
}

func (m *perLimit[T]) get(maxFrame int, compute func() T) T {
	if e := m.lookup(maxFrame); e != nil {
		return e.v
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.lookup(maxFrame); e != nil {
		return e.v
	}
	e := &limitEntry[T]{maxFrame: maxFrame, v: compute(), next: m.head.Load()}
	m.head.Store(e)
	return e.v
}

func (m *perLimit[T]) lookup(maxFrame int) *limitEntry[T] {
	for e := m.head.Load(); e != nil; e = e.next {
		if e.maxFrame == maxFrame {
			return e
		}
	}
	return nil
}

// WebSocketText returns payload as one unmasked WebSocket text frame
// (RFC 6455 §5.2), the form a server sends: FIN and opcode 1, then the
// payload length in 7 bits, or 126 and 16 bits, or 127 and 64 bits.
func WebSocketText(payload []byte) []byte {
	n := len(payload)
	var b []byte
	switch {
	case n <= 125:
		b = make([]byte, 2, 2+n)
		b[1] = byte(n)
	case n <= 0xffff:
		b = make([]byte, 4, 4+n)
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
	default:
		b = make([]byte, 10, 10+n)
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
	}
	b[0] = 0x81 // FIN, text
	return append(b, payload...)
}

// Batch is the frames of one publish, in order, as every connection that
// follows the publish's project receives them. A hub hands the same
// *Batch to all of them, and WebSocket joins their WebSocket frames once
// per frame limit, so that a server writes a publish to each connection
// with one write of shared bytes. A Batch is safe for concurrent use and
// must not be changed.
type Batch struct {
	// Frames are the publish's frames, in publish order. Read only.
	Frames []*Frame

	joined perLimit[[]byte]
}

// NewBatch returns the Batch of frames.
func NewBatch(frames []*Frame) *Batch { return &Batch{Frames: frames} }

// WebSocket returns the WebSocket(maxFrame) forms of b's frames, end to
// end, memoized as Frame.WebSocket is. The returned bytes are shared and
// must not be changed.
func (b *Batch) WebSocket(maxFrame int) []byte {
	if len(b.Frames) == 1 {
		return b.Frames[0].WebSocket(maxFrame)
	}
	return b.joined.get(maxFrame, func() []byte {
		n := 0
		for _, f := range b.Frames {
			n += len(f.WebSocket(maxFrame))
		}
		ws := make([]byte, 0, n)
		for _, f := range b.Frames {
			ws = append(ws, f.WebSocket(maxFrame)...)
		}
		return ws
	})
}
