package realtime_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/realtime"
)

// The frames besides messages, byte for byte: web/live.js reads them.
func TestWireForm(t *testing.T) {
	hello := realtime.Hello{User: "alice", Projects: []string{"p1", "p2"}, MaxFrame: 32768, IdleTimeout: 10 * time.Minute, MaxAge: 2 * time.Hour}
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"hello", hello.Encode(), `{"type":"hello","user":"alice","projects":["p1","p2"],"limits":{"max_frame":32768,"idle_timeout_s":600,"max_age_s":7200}}`},
		{"hello without projects", realtime.Hello{User: "bob"}.Encode(), `{"type":"hello","user":"bob","projects":[],"limits":{"max_frame":0,"idle_timeout_s":0,"max_age_s":0}}`},
		{"pong", realtime.Pong(), `{"type":"pong"}`},
		{"resync", realtime.Resync("p1"), `{"type":"resync","project":"p1"}`},
	} {
		if string(tc.got) != tc.want {
			t.Errorf("%s = %s, want %s", tc.name, tc.got, tc.want)
		}
	}
}

func TestClientType(t *testing.T) {
	for in, want := range map[string]string{
		`{"type":"ping"}`:         realtime.TypePing,
		`{"type":"hello","x":1}`:  realtime.TypeHello,
		`{"type":3}`:              "",
		`ping`:                    "",
		`["ping"]`:                "",
		`{"kind":"ping"}`:         "",
		`{"type":"subscribe"}   `: "subscribe",
	} {
		if got := realtime.ClientType([]byte(in)); got != want {
			t.Errorf("ClientType(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestEncodeFallbacks(t *testing.T) {
	const limit = 4096
	events := make([]core.StackEvent, 60)
	for i := range events {
		events[i] = core.StackEvent{EventID: fmt.Sprint(i), LogicalResourceID: "Bucket", ResourceStatus: "UPDATE_IN_PROGRESS", StatusReason: "User Initiated"}
	}
	op := &core.Operation{ID: "01OP", Project: "a", Events: events}
	res := &core.Resource{Project: "a", Kind: core.KindBucket, Name: "b1", Version: 4, Op: op}

	small := core.Message{Type: core.MsgOperation, Project: "a", Version: 5, Operation: &core.Operation{ID: "01OP", Events: events[:2]}}
	if got, want := realtime.Encode(small, limit), mustMarshal(t, small); !bytes.Equal(got, want) {
		t.Errorf("a message under the limit = %s, want %s", got, want)
	}

	for _, m := range []core.Message{
		{Type: core.MsgOperation, Project: "a", Version: 3, Operation: op},
		{Type: core.MsgResource, Project: "a", Version: 4, Resource: res},
	} {
		b := realtime.Encode(m, limit)
		var got core.Message
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		stripped := got.Operation
		if got.Resource != nil {
			stripped = got.Resource.Op
		}
		if len(b) > limit || got.Version != m.Version || stripped == nil || stripped.ID != "01OP" || len(stripped.Events) != 0 {
			t.Errorf("%s over the limit with its events (%d bytes) = %.200s, want it without them", m.Type, len(b), b)
		}
	}

	huge := core.Message{Type: core.MsgResource, Project: "a", Name: strings.Repeat("n", limit), Version: 6}
	if got := realtime.Encode(huge, limit); string(got) != `{"type":"resync","project":"a"}` {
		t.Errorf("a message over the limit without events = %.200s, want a resync", got)
	}
	if len(op.Events) != 60 || len(res.Op.Events) != 60 {
		t.Error("Encode changed the message it was given")
	}
}

// A message shows a user's missing grants as [], as the REST API does,
// never null; the shared message is not changed.
func TestMessageShowsNoNullGrants(t *testing.T) {
	spec := core.Spec{User: &core.UserSpec{Name: "u0"}}
	m := core.Message{Type: core.MsgResource, Project: "a", Kind: core.KindUser, Name: "u0", Version: 1,
		Resource:  &core.Resource{Project: "a", Kind: core.KindUser, Name: "u0", Spec: spec, Op: &core.Operation{ID: "op1", Spec: spec}},
		Operation: &core.Operation{ID: "op1", Spec: spec}}
	b := realtime.Encode(m, 1<<20)
	if bytes.Contains(b, []byte(`"grants":null`)) || bytes.Count(b, []byte(`"grants":[]`)) != 3 {
		t.Fatalf("encoded %s", b)
	}
	if spec.User.Grants != nil || m.Resource.Spec.User.Grants != nil || m.Operation.Spec.User.Grants != nil {
		t.Fatal("the shared message was changed")
	}
}

// A Frame encodes once per limit, whoever asks and however many at once.
func TestFrameEncodesOncePerLimit(t *testing.T) {
	m := core.Message{Type: core.MsgOperation, Project: "a", Version: 7,
		Operation: &core.Operation{ID: "01OP", Events: []core.StackEvent{{EventID: strings.Repeat("e", 200)}}}}
	f := realtime.NewFrame(m)
	const readers = 8
	got := make([][]byte, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() { got[i] = f.Bytes(1024) })
	}
	wg.Wait()
	for i := range got {
		if &got[i][0] != &got[0][0] {
			t.Fatalf("reader %d got its own encoding", i)
		}
	}
	if !bytes.Equal(got[0], realtime.Encode(m, 1024)) {
		t.Errorf("Bytes(1024) = %s", got[0])
	}
	// Another limit is another encoding.
	small := f.Bytes(100)
	if bytes.Equal(small, got[0]) || !bytes.Equal(small, realtime.Encode(m, 100)) {
		t.Errorf("Bytes(100) = %s", small)
	}
	if b := f.Bytes(1024); &b[0] != &got[0][0] {
		t.Error("a second limit lost the first one's encoding")
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WebSocketText frames a payload as RFC 6455 §5.7's examples do (text
// instead of binary for the longer two).
func TestWebSocketTextFraming(t *testing.T) {
	for _, c := range []struct {
		n    int
		head []byte
	}{
		{0, []byte{0x81, 0x00}},
		{5, []byte{0x81, 0x05}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 0x7e, 0x00, 126}},
		{256, []byte{0x81, 0x7e, 0x01, 0x00}},
		{65535, []byte{0x81, 0x7e, 0xff, 0xff}},
		{65536, []byte{0x81, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00}},
	} {
		p := bytes.Repeat([]byte("x"), c.n)
		got := realtime.WebSocketText(p)
		if !bytes.Equal(got[:len(c.head)], c.head) || !bytes.Equal(got[len(c.head):], p) {
			t.Errorf("%d bytes: header % x, %d bytes after it", c.n, got[:min(len(got), 10)], len(got)-len(c.head))
		}
	}
	if got := realtime.WebSocketText([]byte("Hello")); !bytes.Equal(got, []byte{0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}) {
		t.Errorf("Hello: % x", got)
	}
}

// A Frame's WebSocket form is its Bytes behind a frame header, in the same
// memory, for each limit.
func TestFrameWebSocketIsBytesFramed(t *testing.T) {
	m := core.Message{Type: core.MsgOperation, Project: "a", Version: 7,
		Operation: &core.Operation{ID: "01OP", Events: []core.StackEvent{{EventID: strings.Repeat("e", 200)}}}}
	f := realtime.NewFrame(m)
	for _, limit := range []int{1024, 100} {
		ws, b := f.WebSocket(limit), f.Bytes(limit)
		if !bytes.Equal(ws, realtime.WebSocketText(realtime.Encode(m, limit))) {
			t.Errorf("WebSocket(%d) = % x…", limit, ws[:8])
		}
		if &ws[len(ws)-len(b)] != &b[0] {
			t.Errorf("limit %d: Bytes is not the tail of WebSocket", limit)
		}
	}
}

// A Batch's WebSocket form is its frames' WebSocket forms end to end, in
// order, joined once per limit however many ask at once.
func TestBatchJoinsFramesOncePerLimit(t *testing.T) {
	var frames []*realtime.Frame
	for v := int64(1); v <= 3; v++ {
		frames = append(frames, realtime.NewFrame(core.Message{Type: core.MsgOperation, Project: "a", Version: v,
			Operation: &core.Operation{ID: "01OP", Events: []core.StackEvent{{EventID: strings.Repeat("e", 100*int(v))}}}}))
	}
	b := realtime.NewBatch(frames)
	const readers = 8
	got := make([][]byte, readers)
	var wg sync.WaitGroup
	for i := range readers {
		wg.Go(func() { got[i] = b.WebSocket(1024) })
	}
	wg.Wait()
	for i := range got {
		if &got[i][0] != &got[0][0] {
			t.Fatalf("reader %d got its own join", i)
		}
	}
	for _, limit := range []int{1024, 250} {
		var want []byte
		for _, f := range frames {
			want = append(want, realtime.WebSocketText(realtime.Encode(f.Msg, limit))...)
		}
		if ws := b.WebSocket(limit); !bytes.Equal(ws, want) {
			t.Errorf("WebSocket(%d) = % x…, want % x…", limit, ws[:8], want[:8])
		}
	}
	if ws := b.WebSocket(1024); &ws[0] != &got[0][0] {
		t.Error("a second limit lost the first one's join")
	}
	// One frame is that frame's own bytes.
	one := realtime.NewBatch(frames[:1])
	if ws := one.WebSocket(1024); &ws[0] != &frames[0].WebSocket(1024)[0] {
		t.Error("a batch of one frame copied it")
	}
}
