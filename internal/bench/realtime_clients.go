package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// The event-to-browser section runs its WebSocket clients in a process of
// their own: the benchmark starts its own executable again with
// WSClientsArg as its only argument, and that process (WSClientsMain)
// dials, reads and times frames on the parent's commands. The server
// under test keeps its process to itself, as it would with browsers on
// other machines, and the parent measures the server's own memory.
//
// The protocol is JSON lines. The parent writes rtCmd lines on the
// child's stdin; the child writes rtReply lines on its stdout: one "ready"
// when it starts, one "reply" per command, in order, and "progress" lines
// (event frames of the current run read so far) every few milliseconds
// while a run is open. The child's stderr carries only diagnostics.
//
// Latency needs no clock shared by message: every event the benchmark
// injects carries, in its id ("rt-<seq>-<ns>"), the wall-clock time in
// Unix nanoseconds taken just before it was injected, and the child
// subtracts it from the wall clock when a client has read the frame. Both
// processes read the same system clock (CLOCK_REALTIME) on one machine.

// WSClientsArg is the hidden argument that makes a benchmark executable
// the client process of the event-to-browser section.
const WSClientsArg = "-bucketdesk-bench-ws-clients"

// WSClientsProcess reports whether args (os.Args[1:]) ask for the client
// process.
func WSClientsProcess(args []string) bool { return len(args) == 1 && args[0] == WSClientsArg }

// rtCmd is a command of the parent to the client process.
type rtCmd struct {
	// Op is "dial", "run", "wait" or "close".
	Op string `json:"op"`

	// dial: N clients to WS (scheme, host and port), each with a ticket
	// from TicketURL (POST with Token as bearer; the ticket's url is
	// appended to WS); without TicketURL, WS is the whole URL. Stalled
	// clients read their hello and then nothing.
	N         int    `json:"n,omitempty"`
	WS        string `json:"ws,omitempty"`
	TicketURL string `json:"ticket_url,omitempty"`
	Token     string `json:"token,omitempty"`
	Stalled   bool   `json:"stalled,omitempty"`

	// run: a measurement of the events with sequence numbers First to
	// First+Count-1; Record keeps their latencies.
	First  int64 `json:"first,omitempty"`
	Count  int64 `json:"count,omitempty"`
	Record bool  `json:"record,omitempty"`
	// Acc names an accumulator that keeps the run's latencies across runs
	// (Reset empties it first): wait then reports the accumulated ones, so
	// that two servers measured in alternating rounds each get
	// percentiles over all their rounds.
	Acc   string `json:"acc,omitempty"`
	Reset bool   `json:"reset,omitempty"`

	// wait: until clients have read Want event frames of the run, or
	// TimeoutMS; it ends the run. close: the stalled clients (Stalled),
	// else every client.
	Want      int64 `json:"want,omitempty"`
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// rtReply is a line of the client process.
type rtReply struct {
	// Kind is "ready", "reply" or "progress".
	Kind string `json:"kind"`
	Err  string `json:"err,omitempty"`
	// Note says how the child's file-descriptor limit was set (ready).
	Note string `json:"note,omitempty"`
	// Clients is the number of reading clients (dial, close).
	Clients int `json:"clients,omitempty"`
	// Events counts the run's event frames read by any client (progress,
	// wait); First names the run a progress line belongs to.
	Events int64 `json:"events,omitempty"`
	First  int64 `json:"first,omitempty"`
	// Frames, EventBytes and OtherFrames/OtherBytes count what every
	// client read between run and wait: all frames, and the bytes of the
	// event frames and of the others.
	Frames      int64 `json:"frames,omitempty"`
	EventBytes  int64 `json:"event_bytes,omitempty"`
	OtherFrames int64 `json:"other_frames,omitempty"`
	OtherBytes  int64 `json:"other_bytes,omitempty"`
	// CPU is the client process's CPU time so far (user and system), in
	// nanoseconds (run, wait).
	CPU int64 `json:"cpu,omitempty"`
	// Latencies of the run's (client, event) pairs, in nanoseconds, or of
	// every run of its accumulator (wait).
	Lat rtLat `json:"lat"`
}

type rtLat struct {
	N   int   `json:"n"`
	P50 int64 `json:"p50"`
	P99 int64 `json:"p99"`
	Max int64 `json:"max"`
}

// WSClientsMain is the client process: it serves the parent's commands
// from in until in ends and answers on out. It returns the exit code.
func WSClientsMain(in io.Reader, out io.Writer) int {
	_, note := rtRaiseNoFile()
	// The clients' garbage is not what is measured: collect less often.
	debug.SetGCPercent(400)
	ch := &rtChild{out: json.NewEncoder(out)}
	ch.http = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	ch.readers = &http.Client{Transport: &http.Transport{DialContext: rtDialBuffered}}
	ch.send(rtReply{Kind: "ready", Note: note})
	stop := make(chan struct{})
	go ch.reportProgress(stop)
	defer close(stop)
	defer ch.closeAll(false)

	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var c rtCmd
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			ch.send(rtReply{Kind: "reply", Err: "bad command: " + err.Error()})
			continue
		}
		ch.send(ch.do(c))
	}
	return 0
}

// rtChild is the client process's state.
type rtChild struct {
	outMu sync.Mutex
	out   *json.Encoder

	http    *http.Client // tickets
	readers *http.Client // WebSocket dials, reading through rtBufConn

	clients []*rtReader
	stalled []*websocket.Conn
	run     atomic.Pointer[rtChildRun]
	acc     map[string]*Recorder
}

// rtChildRun is one measurement in the client process.
type rtChildRun struct {
	first, count int64
	record       bool
	acc          string
	events       atomic.Int64
	signal       chan struct{}
	want         atomic.Int64
}

// rtReader is one reading client: a browser that reads every frame.
type rtReader struct {
	c    *websocket.Conn
	done chan struct{}

	mu  sync.Mutex
	lat []time.Duration

	frames, eventBytes, otherFrames, otherBytes atomic.Int64
}

func (ch *rtChild) send(r rtReply) {
	ch.outMu.Lock()
	defer ch.outMu.Unlock()
	ch.out.Encode(r)
}

// reportProgress writes the current run's event count every 5 ms when it
// changed, so that the parent can pace a saturating load.
func (ch *rtChild) reportProgress(stop <-chan struct{}) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	last := int64(-1)
	var lastRun *rtChildRun
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		r := ch.run.Load()
		if r == nil {
			continue
		}
		if n := r.events.Load(); n != last || r != lastRun {
			last, lastRun = n, r
			ch.send(rtReply{Kind: "progress", Events: n, First: r.first})
		}
	}
}

func (ch *rtChild) do(c rtCmd) rtReply {
	switch c.Op {
	case "dial":
		err := ch.dial(c)
		ch.fitProcs()
		if err != nil {
			return rtReply{Kind: "reply", Err: err.Error(), Clients: len(ch.clients)}
		}
		return rtReply{Kind: "reply", Clients: len(ch.clients)}
	case "run":
		for _, r := range ch.clients {
			r.mu.Lock()
			r.lat = r.lat[:0]
			r.mu.Unlock()
		}
		if c.Acc != "" && (c.Reset || ch.acc[c.Acc] == nil) {
			if ch.acc == nil {
				ch.acc = map[string]*Recorder{}
			}
			ch.acc[c.Acc] = NewRecorder(0)
		}
		run := &rtChildRun{first: c.First, count: c.Count, record: c.Record, acc: c.Acc, signal: make(chan struct{}, 1)}
		run.want.Store(-1)
		ch.run.Store(run)
		rep := rtReply{Kind: "reply", CPU: rtCPU()}
		ch.counters(&rep, -1)
		return rep
	case "wait":
		return ch.wait(c)
	case "close":
		ch.closeAll(c.Stalled)
		ch.fitProcs()
		return rtReply{Kind: "reply", Clients: len(ch.clients)}
	}
	return rtReply{Kind: "reply", Err: fmt.Sprintf("unknown op %q", c.Op)}
}

// rtOneCore is the most clients the client process reads with one core
// (GOMAXPROCS 1): they stand for browsers on other machines, so they
// should leave the server under test a core of its own while one is
// enough for them (1,000 clients at 50 events/s take about half a core);
// 10,000 at 10 events/s need more, and get every core.
const rtOneCore = 1000

// fitProcs sets the client process's GOMAXPROCS for its number of
// clients (rtOneCore).
func (ch *rtChild) fitProcs() {
	procs := runtime.NumCPU()
	if len(ch.clients) <= rtOneCore {
		procs = 1
	}
	runtime.GOMAXPROCS(procs)
}

// counters adds (sign 1) or subtracts (sign -1) the clients' frame and
// byte counters into r.
func (ch *rtChild) counters(r *rtReply, sign int64) {
	for _, c := range ch.clients {
		r.Frames += sign * c.frames.Load()
		r.EventBytes += sign * c.eventBytes.Load()
		r.OtherFrames += sign * c.otherFrames.Load()
		r.OtherBytes += sign * c.otherBytes.Load()
	}
}

// wait waits until the run's event frames reach c.Want or c.TimeoutMS
// passes, ends the run and reports it.
func (ch *rtChild) wait(c rtCmd) rtReply {
	run := ch.run.Load()
	if run == nil {
		return rtReply{Kind: "reply", Err: "wait without run"}
	}
	run.want.Store(c.Want)
	deadline := time.NewTimer(time.Duration(c.TimeoutMS) * time.Millisecond)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
wait:
	for run.events.Load() < c.Want {
		select {
		case <-run.signal:
		case <-tick.C:
		case <-deadline.C:
			break wait
		}
	}
	ch.run.Store(nil)
	rep := rtReply{Kind: "reply", Events: run.events.Load(), CPU: rtCPU()}
	// Frames are counted since the run started: the "run" reply carried
	// the counters then, negated, and the parent adds the two.
	ch.counters(&rep, 1)
	rec := NewRecorder(int(max(c.Want, 0)))
	if run.acc != "" {
		rec = ch.acc[run.acc]
	}
	for _, r := range ch.clients {
		r.mu.Lock()
		for _, l := range r.lat {
			rec.Add(l)
		}
		r.lat = r.lat[:0]
		r.mu.Unlock()
	}
	rep.Lat = rtLat{N: rec.Count(), P50: int64(rec.Percentile(50)), P99: int64(rec.Percentile(99)), Max: int64(rec.Max())}
	return rep
}

// dial opens c.N clients from 16 goroutines.
func (ch *rtChild) dial(c rtCmd) error {
	ctx := context.Background()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range min(c.N, 16) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for int(next.Add(1)) <= c.N {
				ws, err := ch.dialOne(ctx, c)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				if c.Stalled {
					ch.stalled = append(ch.stalled, ws)
				} else {
					r := &rtReader{c: ws, done: make(chan struct{})}
					ch.clients = append(ch.clients, r)
					go ch.read(r)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("connect %d clients: %w", c.N, errs[0])
	}
	return nil
}

// dialOne gets a ticket (when c has a ticket URL), connects and reads the
// hello frame.
func (ch *rtChild) dialOne(ctx context.Context, c rtCmd) (*websocket.Conn, error) {
	url, ticket := c.WS, ""
	if c.TicketURL != "" {
		req, err := http.NewRequestWithContext(ctx, "POST", c.TicketURL, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+c.Token)
		res, err := ch.http.Do(req)
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return nil, err
		}
		if res.StatusCode != http.StatusCreated {
			return nil, fmt.Errorf("ticket: %d %s", res.StatusCode, bytes.TrimSpace(b))
		}
		var tk struct{ Ticket, URL string }
		if err := json.Unmarshal(b, &tk); err != nil {
			return nil, fmt.Errorf("ticket: %w", err)
		}
		url, ticket = c.WS+tk.URL, tk.Ticket
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{CompressionMode: websocket.CompressionDisabled, HTTPClient: ch.readers})
	if err != nil {
		// The dial error quotes the URL, and the URL holds the ticket.
		msg := err.Error()
		if ticket != "" {
			msg = strings.ReplaceAll(msg, ticket, "…")
		}
		return nil, errors.New("dial: " + msg)
	}
	ws.SetReadLimit(1 << 20)
	_, b, err := ws.Read(dctx)
	if err != nil || !bytes.HasPrefix(b, []byte(`{"type":"hello"`)) {
		ws.CloseNow()
		return nil, fmt.Errorf("hello: %.60q %v", b, err)
	}
	return ws, nil
}

// closeAll closes the stalled clients, or every client, and waits for
// their readers.
func (ch *rtChild) closeAll(stalledOnly bool) {
	for _, c := range ch.stalled {
		c.CloseNow()
	}
	ch.stalled = nil
	if stalledOnly {
		return
	}
	for _, r := range ch.clients {
		r.c.CloseNow()
	}
	for _, r := range ch.clients {
		<-r.done
	}
	ch.clients = nil
}

var (
	rtEventPrefix = []byte(`{"type":"event"`)
	rtEventID     = []byte(`"event_id":"rt-`)
)

// rtParseEventID finds "event_id":"rt-<seq>-<ns>" in an event frame.
func rtParseEventID(b []byte) (seq, ns int64, ok bool) {
	if !bytes.HasPrefix(b, rtEventPrefix) {
		return 0, 0, false
	}
	i := bytes.Index(b, rtEventID)
	if i < 0 {
		return 0, 0, false
	}
	b = b[i+len(rtEventID):]
	j := bytes.IndexByte(b, '"')
	if j < 0 {
		return 0, 0, false
	}
	s, n, found := bytes.Cut(b[:j], []byte("-"))
	if !found {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseInt(string(s), 10, 64)
	ns, err2 := strconv.ParseInt(string(n), 10, 64)
	return seq, ns, err1 == nil && err2 == nil
}

// rtCPU returns this process's CPU time so far (user and system), in
// nanoseconds.
func rtCPU() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// rtEventIDOf is the id of the injected event seq, stamped ns.
func rtEventIDOf(seq, ns int64) string {
	return "rt-" + strconv.FormatInt(seq, 10) + "-" + strconv.FormatInt(ns, 10)
}

// read is a client's read loop: it reads whole frames into one reused
// buffer and looks for the event id without decoding the JSON.
func (ch *rtChild) read(r *rtReader) {
	defer close(r.done)
	var buf bytes.Buffer
	for {
		_, rd, err := r.c.Reader(context.Background())
		if err != nil {
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(rd); err != nil {
			return
		}
		now := time.Now().UnixNano()
		r.frames.Add(1)
		b := buf.Bytes()
		seq, ns, ok := rtParseEventID(b)
		if !ok {
			r.otherFrames.Add(1)
			r.otherBytes.Add(int64(len(b)))
			continue
		}
		r.eventBytes.Add(int64(len(b)))
		run := ch.run.Load()
		if run == nil || seq < run.first || seq >= run.first+run.count {
			continue
		}
		if run.record {
			r.mu.Lock()
			r.lat = append(r.lat, time.Duration(now-ns))
			r.mu.Unlock()
		}
		if run.events.Add(1) == run.want.Load() {
			select {
			case run.signal <- struct{}{}:
			default:
			}
		}
	}
}

// rtDialBuffered dials a TCP connection that reads through a 16 KiB
// buffer. coder/websocket's client reads through 4 KiB, which costs a
// reading client several system calls when a batch of frames arrives; the
// clients share the machine with the server under test, so they should
// cost it as little as they can.
func rtDialBuffered(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &rtBufConn{Conn: c, r: bufio.NewReaderSize(c, 16<<10)}, nil
}

type rtBufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *rtBufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// rtClients is the parent's handle on a client process.
type rtClients struct {
	cmd      *exec.Cmd
	in       io.WriteCloser
	enc      *json.Encoder
	replies  chan rtReply
	progress atomic.Int64 // event frames of the current run read so far
	runFirst atomic.Int64 // first sequence number of the current run
	exited   chan struct{}
	stderr   rtTail
	note     string // the child's file-descriptor note
}

// rtTail keeps the last 4 KiB written to it.
type rtTail struct {
	mu sync.Mutex
	b  []byte
}

func (t *rtTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = append([]byte(nil), t.b[len(t.b)-4096:]...)
	}
	return len(p), nil
}

func (t *rtTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// startClients starts this executable again as the client process and
// waits for it to be ready.
func startClients(ctx context.Context) (*rtClients, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: client process: %w", err)
	}
	p := &rtClients{replies: make(chan rtReply, 16), exited: make(chan struct{})}
	p.cmd = exec.Command(exe, WSClientsArg)
	p.cmd.Stderr = &p.stderr
	if p.in, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: client process: %w", err)
	}
	p.enc = json.NewEncoder(p.in)
	go p.readReplies(out)
	select {
	case r, ok := <-p.replies:
		if ok && r.Kind == "ready" {
			p.note = r.Note
			return p, nil
		}
	case <-time.After(30 * time.Second):
	case <-ctx.Done():
	}
	p.close()
	return nil, fmt.Errorf("bench: client process did not start (%s is run with %s): %s", exe, WSClientsArg, p.stderr.String())
}

func (p *rtClients) readReplies(out io.Reader) {
	defer close(p.exited)
	defer close(p.replies)
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r rtReply
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue // not ours: a stray line
		}
		if r.Kind == "progress" {
			// A line of an earlier run may come late: it is not this one's.
			if r.First == p.runFirst.Load() {
				p.progress.Store(r.Events)
			}
			continue
		}
		p.replies <- r
	}
}

// do sends c and waits for its reply.
func (p *rtClients) do(c rtCmd) (rtReply, error) {
	if err := p.enc.Encode(c); err != nil {
		return rtReply{}, fmt.Errorf("bench: client process: %s: %w (%s)", c.Op, err, p.stderr.String())
	}
	r, ok := <-p.replies
	if !ok {
		return rtReply{}, fmt.Errorf("bench: client process ended during %s: %s", c.Op, p.stderr.String())
	}
	if r.Err != "" {
		return r, fmt.Errorf("bench: client process: %s: %s", c.Op, r.Err)
	}
	return r, nil
}

// close ends the client process: end of input, then a kill after 10 s.
func (p *rtClients) close() {
	p.in.Close()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd.Wait()
}
