package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/coder/websocket"
)

// rtRaw is the peer the event-to-browser section compares bucketdesk
// with: the least a broadcast server on the same WebSocket library does.
// It accepts every connection (no ticket), sends a hello, and writes each
// broadcast frame to every connection from that connection's goroutine,
// through a queue of 256 frames (a connection whose queue is full is
// closed, as bucketdesk drops a slow consumer). No cache, no hub, no
// encoding: the frames are bytes made once per event.
type rtRaw struct {
	hs *httptest.Server
	ws string // ws:// URL of the endpoint

	mu    sync.RWMutex
	conns map[*rtRawConn]struct{}
	wg    sync.WaitGroup
}

type rtRawConn struct {
	ws *websocket.Conn
	q  chan []byte
}

var rtRawHello = []byte(`{"type":"hello"}`)

func newRTRaw() *rtRaw {
	s := &rtRaw{conns: map[*rtRawConn]struct{}{}}
	s.hs = httptest.NewServer(http.HandlerFunc(s.serve))
	s.ws = "ws" + strings.TrimPrefix(s.hs.URL, "http") + "/ws"
	return s
}

func (s *rtRaw) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	// CloseRead reads (and answers control frames) in a goroutine of its
	// own, as bucketdesk's reader does; its context ends with the
	// connection.
	ctx := ws.CloseRead(context.Background())
	defer ws.CloseNow()
	// Registered before the hello goes out, so that a client that has
	// read its hello receives every later broadcast.
	c := &rtRawConn{ws: ws, q: make(chan []byte, 256)}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	if ws.Write(ctx, websocket.MessageText, rtRawHello) != nil {
		return
	}
	for {
		select {
		case b := <-c.q:
			// A write with a context that can end costs coder/websocket a
			// context.AfterFunc per write; bucketdesk writes without one,
			// and so does its peer.
			if ws.Write(context.Background(), websocket.MessageText, b) != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// broadcast queues frames for every connection.
func (s *rtRaw) broadcast(frames ...[]byte) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for c := range s.conns {
		for _, b := range frames {
			select {
			case c.q <- b:
			default:
				c.ws.CloseNow()
			}
		}
	}
}

// connections returns the number of open connections.
func (s *rtRaw) connections() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.conns)
}

func (s *rtRaw) close() {
	s.hs.CloseClientConnections()
	s.hs.Close()
	s.wg.Wait()
}

// rtRawFrames returns an event frame carrying id and a frame standing for
// the resource message, padded to the sizes bucketdesk's frames had.
func rtRawFrames(id string, eventSize, otherSize int) (event, other []byte) {
	event = rtPad(`{"type":"event","event":{"event_id":"`+id+`"},"pad":"`, eventSize)
	other = rtPad(`{"type":"resource","pad":"`, otherSize)
	return event, other
}

func rtPad(head string, size int) []byte {
	b := make([]byte, 0, max(size, len(head)+2))
	b = append(b, head...)
	for len(b) < size-2 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}
