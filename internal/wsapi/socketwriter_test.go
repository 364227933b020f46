package wsapi

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"
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

// A data write that the socket takes only in part keeps its rest, and the
// rest goes out before anything else: a control frame of the library's,
// written while the client is not reading, lands after the whole data
// frame, not inside it. Over a real TCP connection, whose buffers fill.
func TestSocketWriterPartialWriteKeepsFramesWhole(t *testing.T) {
	server, client := tcpPair(t)
	s := &socketWriter{w: server, raw: rawConn(server)}
	if s.raw == nil {
		t.Skip("no descriptor for writes that do not wait on this platform")
	}
	s.upgraded()
	frame := realtimeFrame(bytes.Repeat([]byte("x"), 10000))
	sent := 0
	for {
		wrote, tried, err := s.tryWrite(frame)
		if err != nil || !tried {
			t.Fatalf("tryWrite: tried %v, %v", tried, err)
		}
		sent++
		if wrote < len(frame) {
			break // the socket is full: the rest is kept
		}
		if sent > 100000 {
			t.Fatal("the socket never filled")
		}
	}
	if s.rest == nil {
		t.Fatal("a partial write kept no rest")
	}
	if _, tried, _ := s.tryWrite(frame); tried {
		t.Fatal("tryWrite wrote past a kept rest")
	}
	ping := []byte{0x89, 0x00}
	wrote := make(chan error, 1)
	go func() { // waits for the client to read
		_, err := s.Write(ping)
		wrote <- err
	}()
	var got []byte
	buf := make([]byte, 64<<10)
	want := sent*len(frame) + len(ping)
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(got) < want {
		n, err := client.Read(buf)
		if err != nil {
			t.Fatalf("read after %d of %d bytes: %v", len(got), want, err)
		}
		got = append(got, buf[:n]...)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:sent*len(frame)], bytes.Repeat(frame, sent)) || !bytes.Equal(got[sent*len(frame):], ping) {
		t.Fatal("the control frame did not follow the whole data frames")
	}
	if s.rest != nil {
		t.Fatal("rest still kept after Write")
	}
}

func realtimeFrame(p []byte) []byte {
	return append([]byte{0x81, 126, byte(len(p) >> 8), byte(len(p))}, p...)
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() {
		server.Close()
		client.Close()
	})
	return server, client
}
