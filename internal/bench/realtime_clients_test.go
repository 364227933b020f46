package bench

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be the bench's child processes (the load
// generator, the event-to-browser clients): the sections start
// os.Executable() again with a hidden argument.
func TestMain(m *testing.M) {
	if code, ok := ChildMain(os.Args[1:]); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// The client process, end to end at 5 clients against the raw peer: it
// dials, reads every frame, counts only the events of the current run,
// reports latencies and frame sizes, and reports a shortfall as one.
func TestClientProcess(t *testing.T) {
	raw := newRTRaw()
	defer raw.close()
	cl, err := startClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.close()
	e := &rtEnv{cl: cl, raw: raw}

	if _, err := e.connectRaw(5); err != nil {
		t.Fatal(err)
	}
	if n := raw.connections(); n != 5 {
		t.Fatalf("raw server has %d connections, want 5", n)
	}

	// An event outside any run: read, but neither counted nor timed.
	ev, other := rtRawFrames(rtEventIDOf(0, time.Now().UnixNano()), 300, 800)
	raw.broadcast(other, ev)

	p, err := e.paced(t.Context(), 5, 100, 200*time.Millisecond, e.rawBroadcast(300, 800, 1, false), "", false)
	if err != nil {
		t.Fatal(err)
	}
	// Up to 20 events (fewer if this machine stalls the injector past
	// the run's time), each read by every client.
	if p.events < 1 || p.events > 20 {
		t.Fatalf("%d events injected, want 1 to 20", p.events)
	}
	if want := int64(5 * p.events); p.read != want || p.missing != 0 || int64(p.lat.N) != want {
		t.Errorf("read %d, missing %d, latencies %d; want %d, 0, %d (5 clients × %d events)", p.read, p.missing, p.lat.N, want, want, p.events)
	}
	if p.lat.P50 <= 0 || p.lat.P99 < p.lat.P50 || p.lat.Max < p.lat.P99 || time.Duration(p.lat.Max) > time.Minute {
		t.Errorf("latencies p50 %d, p99 %d, max %d ns: not ordered or not plausible", p.lat.P50, p.lat.P99, p.lat.Max)
	}
	// Frames are counted from the run's start to its end, whatever they
	// carry: the stray event's frames may fall on either side of it.
	if p.eventSize != 300 || p.otherSize != 800 || p.others < 0.9 || p.others > 1.1 {
		t.Errorf("frames: event %d B, other %d B, %.2f others per event; want 300, 800, about 1", p.eventSize, p.otherSize, p.others)
	}

	// The same bytes as one frame an event.
	j, err := e.paced(t.Context(), 5, 100, 100*time.Millisecond, e.rawBroadcast(300, 800, 1, true), "", false)
	if err != nil {
		t.Fatal(err)
	}
	if j.read != int64(5*j.events) || j.missing != 0 || j.eventSize != 1100 || j.others != 0 {
		t.Errorf("one frame an event: read %d of %d events, missing %d, event %d B, %.2f others; want all, 0, 1100, 0", j.read, j.events, j.missing, j.eventSize, j.others)
	}

	// A shortfall is reported as read, not as the number asked for.
	r0, err := e.begin(2, true, "", false)
	if err != nil {
		t.Fatal(err)
	}
	inject := e.rawBroadcast(300, 800, 0, false)
	for range 2 {
		inject(0, e.seq.Add(1), time.Now().UnixNano())
	}
	r, err := cl.do(rtCmd{Op: "wait", Want: 11, TimeoutMS: 300})
	if err != nil {
		t.Fatal(err)
	}
	if r.Events != 10 || r.Lat.N != 10 {
		t.Errorf("wait for 11 of 10 deliveries: events %d, latencies %d; want 10, 10", r.Events, r.Lat.N)
	}
	if r.Frames+r0.Frames != 10 {
		t.Errorf("%d frames read during the run, want 10", r.Frames+r0.Frames)
	}

	// A refused connection is an error of the command, and the process
	// carries on.
	_, err = cl.do(rtCmd{Op: "dial", N: 1, WS: "ws" + strings.TrimPrefix(raw.hs.URL, "http"), TicketURL: raw.hs.URL + "/api/ws-ticket", Token: "t"})
	if err == nil || !strings.Contains(err.Error(), "ticket") {
		t.Errorf("dial with a ticket the server does not issue: err %v, want a ticket error", err)
	}
	if r, err := cl.do(rtCmd{Op: "close"}); err != nil || r.Clients != 0 {
		t.Errorf("close: %d clients left, err %v", r.Clients, err)
	}
	if _, err := cl.do(rtCmd{Op: "bogus"}); err == nil {
		t.Error("unknown command: no error")
	}
}

func TestParseEventID(t *testing.T) {
	id := rtEventIDOf(42, 1700000000123456789)
	frame := []byte(`{"type":"event","project":"demo","event":{"stack_id":"s","event_id":"` + id + `","status":"UPDATE_IN_PROGRESS"}}`)
	seq, ns, ok := rtParseEventID(frame)
	if !ok || seq != 42 || ns != 1700000000123456789 {
		t.Errorf("parse %s: %d %d %v", frame, seq, ns, ok)
	}
	for _, b := range []string{
		`{"type":"resource","event":{"event_id":"` + id + `"}}`, // not an event frame
		`{"type":"event","event":{"event_id":"rt-42"}}`,         // no stamp
		`{"type":"event","event":{"event_id":"rt-x-1"}}`,
		`{"type":"event","event":{"event_id":"other"}}`,
		`{"type":"event","event":{"event_id":"rt-1-2`,
	} {
		if _, _, ok := rtParseEventID([]byte(b)); ok {
			t.Errorf("parse %s: ok, want not", b)
		}
	}
}
