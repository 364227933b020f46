package wsapi

import (
	"bytes"
	"errors"
	"net"
	"testing"
)

// No data frame follows a close frame: once coder/websocket has written
// one (answering a client's close, or on Close), the writer loop's frames
// are refused. The handshake's answer, written before the upgrade, is not
// mistaken for a frame (its first byte, 'H', has the close opcode's low
// bits).
func TestSocketWriterNoDataAfterClose(t *testing.T) {
	var sock bytes.Buffer
	s := &socketWriter{w: &sock}
	if _, err := s.Write([]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	s.upgraded()
	data := []byte{0x81, 0x02, '{', '}'}
	if err := s.writeFrames(data); err != nil {
		t.Fatalf("data after the handshake: %v", err)
	}
	if _, err := s.Write([]byte{0x89, 0x00}); err != nil { // ping
		t.Fatal(err)
	}
	if err := s.writeFrames(data); err != nil {
		t.Fatalf("data after a ping: %v", err)
	}
	if err := s.writeBatch(&net.Buffers{data, data}); err != nil {
		t.Fatalf("a batch: %v", err)
	}
	if !bytes.HasSuffix(sock.Bytes(), append([]byte{0x89, 0x00}, bytes.Repeat(data, 3)...)) {
		t.Fatalf("socket holds % x", sock.Bytes())
	}
	if _, err := s.Write([]byte{0x88, 0x02, 0x03, 0xe8}); err != nil { // close 1000
		t.Fatal(err)
	}
	n := sock.Len()
	if err := s.writeFrames(data); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("data after a close frame: %v, want net.ErrClosed", err)
	}
	if err := s.writeBatch(&net.Buffers{data}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("a batch after a close frame: %v, want net.ErrClosed", err)
	}
	if sock.Len() != n {
		t.Fatal("a data frame reached the socket after the close frame")
	}
}
