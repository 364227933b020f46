package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/setup"
	"bucketdesk/internal/wsapi"
)

// docs/targets.md targets of the event-to-browser path.
const (
	rtTargetP99At100    = 5 * time.Millisecond
	rtTargetP99At1000   = 25 * time.Millisecond
	rtTargetP99At10000  = 250 * time.Millisecond
	rtRateAt10000       = 10 // events/s of the 10,000-client target
	rtTargetIdleConns   = 10000
	rtTargetIdleBytes   = 500 << 20
	rtTargetDeliveries  = 100000
	rtTargetStallFactor = 1.2
	rtTargetPeerRatio   = 1.3
	rtPeerClients       = 1000
)

// rtTargetP99 is the p99 target with n clients.
func rtTargetP99(n int) time.Duration {
	switch {
	case n <= 100:
		return rtTargetP99At100
	case n <= 1000:
		return rtTargetP99At1000
	}
	return rtTargetP99At10000
}

// rtProfiled is what CPU profiles of the server's process (go tool pprof)
// showed, measured on a 2-core machine that other work shared.
const rtProfiled = "What the profiles of the server's process showed (`bucketdesk-bench --sections realtime --clients N --cpuprofile FILE`; 10,000 clients at 10 events/s and 1,000 at 50 events/s, on this machine while other work shared its cores). Each connection used to run coder/websocket's write path once per frame (its lock, taken through a select; a frame header; a bufio flush into a batch) for its `resource` and `event` frames, copy them into a batch buffer that grew and was zeroed (a fifth of the server's CPU at 10,000 clients, in memmove and memclr), and be woken by two publishes; one event then cost the server about 0.18–0.3 s of CPU at 10,000 clients, and the machine sustained 3–7 events/s. Then realtime.Frame came to keep each published message's WebSocket frame beside its JSON, made once per publish and shared by every connection, and the engine to hand a stack event's messages to the hub together once its write is durable (localhub.PublishAll); still, every publish woke each connection's goroutine through its channel, and at 10,000 clients Apply waited about 85 ms (p50) for a CPU after its fsync, in the Go scheduler's run queue behind the thousands of writers the previous event had woken. Now the hub hands each publish, its frames joined once (realtime.Batch), to a few delivery workers (one per core), and each worker writes it to its share of the connections itself, with a write that does not wait: a socket with room takes it whole, and no goroutine of the connection's is woken. Only a full socket (or one that another write holds) leaves the rest, and what follows, queued for the connection's own goroutine, which writes it all in one vectored write, bounded by the send queue and the write timeout as before; a worker that fell behind hands each connection the publishes queued behind each other in one write. Apply now takes about a millisecond at 10,000 clients, and the write system calls are about 70 % of the server's CPU, about 8 µs each, which includes the loopback delivery into the client process and the wake-up of its reader there (work a browser on another machine would not put on the server's CPU). What limits the rest: one write per browser per event is the floor with one socket per browser, so at 10,000 clients an event costs the server about 0.085 s of CPU and the client process about 0.1 s, and 10 events/s keeps most of the 2 cores busy; the last client's latency is mostly the time the two processes take to get through 10,000 writes and 10,000 reads on 2 cores."

// rtPassword is the demo users' password in the benchmark's throwaway
// data directory.
const rtPassword = "bench-realtime-password"

// Realtime measures stack event → browser frame on the whole local stack:
// the sandbox on zero durations and the real server handler on 127.0.0.1
// in this process, and coder/websocket clients in a process of their own
// (this executable started again, see WSClientsMain), all subscribed to
// one project. Events are injected straight into Mirror.Apply (what the
// sandbox's event pump calls) for buckets that exist in the cache, each
// with a unique id that carries its injection time, and timed until every
// client has read the "event" frame that carries it. It reports latency at
// o.Rate (10 events/s above 1,000 clients) for each client count,
// deliveries per second at saturation, the server's memory per idle
// connection, the effect of one stalled client, and the same latency
// beside a raw broadcast server on the same library, each next to its
// target (docs/targets.md).
func Realtime(ctx context.Context, o RealtimeOptions) ([]Table, error) {
	began := time.Now()
	if o.Rate <= 0 {
		o.Rate = 50
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
		if o.Quick {
			o.Duration = 2 * time.Second
		}
	}
	if len(o.Clients) == 0 {
		o.Clients = []int{100, 1000, 10000}
		if o.Quick {
			o.Clients = []int{100, 1000}
		}
	}
	// A quick run measures each figure for half as long; saturation runs
	// for half a measurement, at most 5 s.
	d := o.Duration
	if o.Quick {
		d = d / 2
	}
	satFor := min(d/2, 5*time.Second)
	nofile, nofileNote := rtRaiseNoFile()

	env, err := rtOpen(ctx)
	if err != nil {
		return nil, err
	}
	defer env.close()
	if env.cl, err = startClients(ctx); err != nil {
		return nil, err
	}
	env.raw = newRTRaw()

	// The stalled-client comparison and the raw peer run at the largest
	// count up to 1,000; the largest count is also measured idle.
	largest, stallCount := 0, 0
	for _, n := range o.Clients {
		largest = max(largest, n)
		if n <= rtPeerClients {
			stallCount = max(stallCount, n)
		}
	}

	lat := Table{
		Title:  "Stack event → browser frame",
		Header: []string{"clients", "events/s (achieved)", "events", "deliveries", "Apply p50 / p99", "CPU per event, server / clients", "p50", "p99", "max", "target p99", "met"},
	}
	sat := Table{
		Title:  "Deliveries at saturation",
		Header: []string{"clients", "events applied", "event frames read", "all frames read", "event deliveries/s", "frames/s", "target", "met"},
	}
	stall := Table{
		Title:  "One stalled client",
		Header: []string{"clients", "p99 without", "p99 with one stalled", "ratio", "target", "met", "stalled client"},
	}
	peer := Table{
		Title:  "Beside a raw broadcast server",
		Header: []string{"server", "clients", "events/s (achieved)", "deliveries", "inject p50 / p99", "CPU per event, server / clients", "p50", "p99", "max", "server heap+stacks per connection", "p99 ratio to the faster raw", "target", "met"},
	}
	mem := Table{
		Title:  "Idle connections (server process)",
		Header: []string{"connections", "opened in", "server heap+stacks", "server RSS", "per connection (heap+stacks / RSS)", "projected to 10,000", "target", "met"},
	}
	for _, n := range o.Clients {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// One file descriptor a connection in this process (the clients'
		// are the client process's): above the limit, as many as fit are
		// measured, and the row says so.
		opened := min(n, max(int(int64(nofile)-int64(rtOpenFiles())-64), 1))
		label := strconv.Itoa(n)
		if opened < n {
			label = fmt.Sprintf("%d (%d opened: file descriptors)", n, opened)
		}
		rate := o.Rate
		if n > rtPeerClients {
			rate = min(rate, rtRateAt10000)
		}

		// The raw peer's clients connect first and stay idle while
		// bucketdesk's are measured alone.
		var rawIdle rtMemDelta
		if n == stallCount {
			rm0 := rtMemNow()
			if _, err := env.connectRaw(opened); err != nil {
				return nil, err
			}
			rawIdle = rm0.to(rtMemNow(), opened)
		}
		m0 := rtMemNow()
		took, err := env.connect(opened, false)
		if err != nil {
			return nil, err
		}
		if s := env.l.Hub.Subscribers("demo"); s != opened {
			return nil, fmt.Errorf("bench: %d connections subscribed, want %d", s, opened)
		}
		idle := m0.to(rtMemNow(), opened)
		if n == largest {
			projected := max(idle.perConn(), idle.rssPerConn()) * rtTargetIdleConns
			mem.Rows = append(mem.Rows, []string{
				strconv.Itoa(opened), took.Round(time.Millisecond).String(), rtMiB(idle.heapStack), rtMiB(idle.rss),
				rtKiB(idle.perConn()) + " / " + rtKiB(idle.rssPerConn()), rtMiB(projected),
				"< 500 MiB for 10,000", rtMet(projected < rtTargetIdleBytes),
			})
			mem.Notes = append(mem.Notes, fmt.Sprintf("Measured in the server's process, which holds no client: heap in use plus goroutine stacks (runtime.ReadMemStats) and RSS (/proc/self/status), each after a GC that returns freed pages to the OS, before and after %d clients of the client process connected (tickets over POST /api/ws-ticket, 16 dialers) and read their hello; %d goroutines were added (each connection runs a writer, which writes only what a full socket left queued, and a reader). The projection takes the larger of the two per-connection figures. Kernel socket buffers are not counted.", opened, idle.goroutines))
		}

		var r, rr, rj rtPaced
		if n == stallCount {
			r, rr, rj, err = env.alternate(ctx, opened, rate, d)
		} else {
			r, err = env.paced(ctx, opened, rate, d, env.apply(ctx), "", false)
		}
		if err != nil {
			return nil, err
		}
		target := rtTargetP99(n)
		lat.Rows = append(lat.Rows, []string{
			label, fmt.Sprintf("%.0f (%.1f)", rate, r.achieved), strconv.Itoa(r.events),
			rtDeliveries(r), Ms(r.inject.Percentile(50)) + " / " + Ms(r.inject.Percentile(99)), r.cpuPerEvent(),
			Ms(time.Duration(r.lat.P50)), Ms(time.Duration(r.lat.P99)), Ms(time.Duration(r.lat.Max)),
			"< " + Ms(target), rtMet(r.missing == 0 && time.Duration(r.lat.P99) < target),
		})

		s, err := env.saturate(ctx, opened, satFor)
		if err != nil {
			return nil, err
		}
		sat.Rows = append(sat.Rows, []string{
			label, strconv.Itoa(s.events), strconv.FormatInt(s.eventFrames, 10), strconv.FormatInt(s.frames, 10),
			fmt.Sprintf("%.0f", s.eventRate), fmt.Sprintf("%.0f", s.frameRate),
			fmt.Sprintf("≥ %d/s", rtTargetDeliveries), rtMet(s.eventRate >= rtTargetDeliveries),
		})

		if n != stallCount {
			if err := env.disconnect(ctx); err != nil {
				return nil, err
			}
			continue
		}
		// The stalled-client comparison: the same readers, alone and beside
		// a client that reads its hello and then nothing.
		alone, with, dropped, err := env.stallRounds(ctx, opened, rate, d)
		if err != nil {
			return nil, err
		}
		p0, p1 := time.Duration(alone.lat.P99), time.Duration(with.lat.P99)
		ratio := float64(p1) / float64(max(p0, 1))
		fate := "never dropped: its socket buffers took what its rounds sent"
		if dropped {
			fate = "dropped as a slow consumer"
		}
		if alone.missing > 0 || with.missing > 0 {
			with.missing += alone.missing
			fate += fmt.Sprintf("; %d deliveries to the others not read within 10 s", with.missing)
		}
		stall.Rows = append(stall.Rows, []string{
			strconv.Itoa(n), Ms(p0), Ms(p1), fmt.Sprintf("%.2f×", ratio),
			fmt.Sprintf("< %.1f×", rtTargetStallFactor), rtMet(ratio < rtTargetStallFactor && with.missing == 0), fate,
		})

		others := int(r.others + 0.5)
		floor := min(rr.lat.P99, rj.lat.P99)
		pr := float64(r.lat.P99) / float64(max(floor, 1))
		row := func(name string, p rtPaced, m rtMemDelta, ratio, target, met string) []string {
			return []string{
				name, strconv.Itoa(opened), fmt.Sprintf("%.0f (%.1f)", rate, p.achieved), rtDeliveries(p),
				Ms(p.inject.Percentile(50)) + " / " + Ms(p.inject.Percentile(99)), p.cpuPerEvent(),
				Ms(time.Duration(p.lat.P50)), Ms(time.Duration(p.lat.P99)), Ms(time.Duration(p.lat.Max)),
				rtKiB(m.perConn()), ratio, target, met,
			}
		}
		peer.Rows = append(peer.Rows,
			row("raw broadcast, same frames", rr, rawIdle, fmt.Sprintf("%.2f×", float64(rr.lat.P99)/float64(max(floor, 1))), "—", "—"),
			row("raw broadcast, one frame an event", rj, rawIdle, fmt.Sprintf("%.2f×", float64(rj.lat.P99)/float64(max(floor, 1))), "—", "—"),
			row("bucketdesk", r, idle, fmt.Sprintf("%.2f×", pr), fmt.Sprintf("≤ %.1f× the faster raw", rtTargetPeerRatio), rtMet(pr <= rtTargetPeerRatio && r.missing == 0 && rr.missing == 0 && rj.missing == 0)),
		)
		peer.Notes = append(peer.Notes, fmt.Sprintf("The raw server is the least a broadcast server on coder/websocket does, in this process beside bucketdesk's: it accepts any connection (no ticket), sends a hello, and on each injected event queues for every connection the same frames bucketdesk sends, %d frame(s) of %d bytes (standing for the `resource` message) and the event frame of %d bytes (the average sizes bucketdesk's clients read), each connection's goroutine writing one frame per write (one system call a frame); or, its second way, the same bytes as one event frame (one system call an event, as bucketdesk's batched writes mostly are). No cache, no hub, no encoding, no durable write: its \"inject\" is the broadcast call, where bucketdesk's is Mirror.Apply (a bbolt commit with an fsync, then the publish). The ratio compares with the faster of the two raw ways. Both servers had %d clients of the one client process connected at once, and were measured in alternating rounds of about half a second at the same event rate (each figure over all its rounds), so that what else the machine did weighed on both alike; bucketdesk's row is the %d-client row of the first table.", others, r.otherSize, r.eventSize, opened, opened))
		if err := env.disconnect(ctx); err != nil {
			return nil, err
		}
	}

	fs := rtFilesystem(env.dir)
	lat.Notes = append(lat.Notes,
		fmt.Sprintf("Events are injected at a fixed rate (%.0f events/s; %d/s above %d clients, the rate of the 10,000-client target) straight into Mirror.Apply for %d buckets that exist in the cache (one bbolt transaction with an fsync per event, on %s; the operation's history copy is written only when its status changes). Each event publishes two messages to the project: `resource` (carrying only its operation's latest event) and `event`. Latency runs from just before Apply to the moment a client has read the `event` frame carrying that event id, over every (client, event) pair. CPU per event is the CPU time (user and system, getrusage) the server's process and the client process spent from the run's start until the clients had read it, over the events injected: what one event asks of the machine, whatever else runs on it; the rate the two processes can sustain is at most (cores available) / (their sum).", o.Rate, rtRateAt10000, rtPeerClients, len(env.targets), fs),
		"The clients run in a process of their own (this executable started again), so the server's process serves them as it would serve browsers elsewhere; both processes share this machine's cores. Up to 1,000 clients the client process runs on one core (GOMAXPROCS 1; they take about half of it at 50 events/s), so that, as with browsers elsewhere, the server keeps a core of its own; 10,000 clients need more than one and get every core. Each event's id carries the wall-clock time (Unix nanoseconds) taken just before Apply; a client subtracts it from the wall clock when it has read the frame: one clock, read by two processes on one machine. Tickets come from POST /api/ws-ticket over HTTP. Client process: "+env.cl.note,
		rtProfiled,
	)
	sat.Notes = append(sat.Notes,
		"Events are applied back to back from 4 goroutines for a bounded time, each waiting while it is more than 64 events ahead of what the clients have read (the client process reports every 5 ms), so that no client becomes a slow consumer; deliveries count `event` frames read by clients (the figure the target counts), frames count every message read (resource, operation and event).",
	)
	stall.Notes = append(stall.Notes,
		fmt.Sprintf("p99 of the other %d clients' event latency at %.0f events/s, measured in alternating rounds of about half a second, each figure over all its rounds, so that what else the machine did weighed on both alike: the clients alone, then beside one more client that reads its hello and then nothing (a new one for each of its rounds). A stalled client's socket buffers take what is sent first (on loopback the server's send buffer grows to a few megabytes, more than a whole run sends), then its bounded send queue (%d frames), and then the hub drops it; the hub's workers never wait on it.", stallCount, o.Rate, wsapi.DefaultLimits().SendQueue),
	)
	mem.Notes = append(mem.Notes, nofileNote+" (the server's process)")
	lat.Notes = append(lat.Notes, fmt.Sprintf("The whole section took %s.", time.Since(began).Round(time.Second)))
	return []Table{lat, sat, stall, peer, mem}, nil
}

func rtMet(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func rtDeliveries(r rtPaced) string {
	s := strconv.Itoa(r.lat.N)
	if r.missing > 0 {
		s += fmt.Sprintf(" (%d missing)", r.missing)
	}
	return s
}

// rtRaiseNoFile raises the soft limit on open files to the hard limit and
// returns it with a note saying what happened.
func rtRaiseNoFile() (uint64, string) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1024, fmt.Sprintf("RLIMIT_NOFILE could not be read (%v); assuming 1024.", err)
	}
	if lim.Cur >= lim.Max {
		return lim.Cur, fmt.Sprintf("RLIMIT_NOFILE is %d (soft = hard).", lim.Cur)
	}
	old := lim.Cur
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return old, fmt.Sprintf("RLIMIT_NOFILE could not be raised from %d to %d: %v.", old, lim.Max, err)
	}
	return lim.Max, fmt.Sprintf("RLIMIT_NOFILE raised from %d to the hard limit %d.", old, lim.Max)
}

func rtFilesystem(dir string) string {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return "disk"
	}
	switch st.Type {
	case 0x01021994:
		return "tmpfs"
	case 0xEF53:
		return "ext4, fsync on every commit"
	}
	return fmt.Sprintf("filesystem 0x%x", st.Type)
}

// rtEnv is one running local bucketdesk behind a real listener, the
// client process and the raw peer.
type rtEnv struct {
	dir     string
	l       *setup.Local
	srv     *rtServer
	hs      *httptest.Server
	wsBase  string
	token   string
	http    *http.Client
	targets []rtTarget
	cancel  context.CancelFunc

	cl  *rtClients // the client process
	raw *rtRaw     // the raw broadcast peer

	seq atomic.Int64 // last event sequence number used
}

type rtServer struct {
	*setup.Server
	stats func() wsapi.Stats
}

// WSStats returns the WebSocket counters, read through /metrics.
func (s *rtServer) WSStats() wsapi.Stats { return s.stats() }

// rtTarget is a bucket in the cache and the operation its events belong to.
type rtTarget struct {
	stackID, stackName, opID string
}

func rtOpen(ctx context.Context) (_ *rtEnv, err error) {
	dir, err := os.MkdirTemp("", "bucketdesk-bench-realtime-")
	if err != nil {
		return nil, err
	}
	e := &rtEnv{dir: dir}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	log := slog.New(slog.DiscardHandler)
	e.l, err = setup.OpenLocal(setup.LocalConfig{
		DataDir: dir, Sandbox: simcloud.ZeroOptions(), CloudRate: -1, ReconcileEvery: 24 * time.Hour, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if _, _, err := e.l.EnsureProject(ctx, setup.DemoProject([]string{"alice"})); err != nil {
		return nil, err
	}
	if _, err := setup.EnsureDemoUsers(dir, rtPassword); err != nil {
		return nil, err
	}
	// Idle connections must outlive the benchmark: no server ping (an idle
	// client does not read, so it would not answer) and no idle close.
	srv, err := e.l.Server(setup.ServerConfig{WS: wsapi.Limits{
		MaxAge: time.Hour, IdleTimeout: time.Hour, PingInterval: time.Hour,
	}})
	if err != nil {
		return nil, err
	}
	e.hs = httptest.NewServer(srv.Handler)
	e.wsBase = "ws" + strings.TrimPrefix(e.hs.URL, "http")
	e.http = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	e.srv = &rtServer{Server: srv, stats: e.metrics}
	var runCtx context.Context
	runCtx, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	e.l.Start(runCtx)

	var tok struct{ Token string }
	if err := e.call(ctx, "POST", "/auth/login", map[string]string{"username": "alice", "password": rtPassword}, 200, &tok); err != nil {
		return nil, err
	}
	e.token = tok.Token
	if err := e.createBuckets(ctx, 4); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *rtEnv) close() {
	if e.cl != nil {
		e.cl.close()
	}
	if e.raw != nil {
		e.raw.close()
	}
	if e.srv != nil {
		e.srv.Close()
	}
	if e.hs != nil {
		e.hs.CloseClientConnections()
		e.hs.Close()
	}
	if e.http != nil {
		e.http.CloseIdleConnections()
	}
	if e.l != nil {
		e.l.Close()
	}
	if e.cancel != nil {
		e.cancel()
	}
	os.RemoveAll(e.dir)
}

// call does one API request as alice and decodes the JSON answer into out.
func (e *rtEnv) call(ctx context.Context, method, path string, body any, want int, out any) error {
	return apiCall(ctx, e.http, e.hs.URL, e.token, method, path, body, want, out)
}

// metrics reads the WebSocket counters from /metrics.
func (e *rtEnv) metrics() wsapi.Stats {
	var s wsapi.Stats
	req, _ := http.NewRequest("GET", e.hs.URL+"/metrics", nil)
	res, err := e.http.Do(req)
	if err != nil {
		return s
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for line := range strings.SplitSeq(string(b), "\n") {
		name, v, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		switch name {
		case "bucketdesk_ws_connections":
			s.Connections = n
		case "bucketdesk_ws_connections_total":
			s.ConnectionsTotal = n
		case "bucketdesk_ws_messages_sent_total":
			s.MessagesSent = n
		case "bucketdesk_ws_slow_consumer_disconnects_total":
			s.SlowConsumerDisconnects = n
		}
	}
	return s
}

// createBuckets creates n buckets through the API and waits until the
// sandbox has created their stacks and the mirror has recorded it.
func (e *rtEnv) createBuckets(ctx context.Context, n int) error {
	for i := range n {
		body := map[string]any{"name": fmt.Sprintf("rt-bench-%d", i), "encryption": map[string]any{"type": "SSE-S3"}}
		if err := e.call(ctx, "POST", "/api/projects/demo/buckets", body, 202, nil); err != nil {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := e.l.Settle(sctx); err != nil {
		return fmt.Errorf("settle: %w", err)
	}
	items, _, err := e.l.Store.ListResources(ctx, "demo", core.Page{})
	if err != nil {
		return err
	}
	for _, r := range items {
		if r.Op == nil || r.Observed.StackID == "" {
			return fmt.Errorf("bucket %s has no operation or stack after settling", r.Name)
		}
		e.targets = append(e.targets, rtTarget{stackID: r.Observed.StackID, stackName: r.StackName, opID: r.Op.ID})
	}
	if len(e.targets) != n {
		return fmt.Errorf("%d buckets in the cache, want %d", len(e.targets), n)
	}
	return nil
}

// event returns a new progress event of the operation of target i, with a
// unique id carrying seq and its injection time ns.
func (e *rtEnv) event(i int, seq, ns int64) core.StackEvent {
	t := e.targets[i%len(e.targets)]
	return core.StackEvent{
		StackID: t.stackID, StackName: t.stackName, EventID: rtEventIDOf(seq, ns),
		Timestamp: time.Now().UTC(), LogicalResourceID: "Bucket", PhysicalResourceID: t.stackName,
		ResourceType: "AWS::S3::Bucket", ResourceStatus: "UPDATE_IN_PROGRESS", ClientRequestToken: t.opID,
	}
}

// connect opens n clients in the client process, each with a ticket from
// POST /api/ws-ticket, and returns how long it took. Stalled clients read
// their hello and then nothing.
func (e *rtEnv) connect(n int, stalled bool) (time.Duration, error) {
	start := time.Now()
	_, err := e.cl.do(rtCmd{Op: "dial", N: n, WS: e.wsBase, TicketURL: e.hs.URL + "/api/ws-ticket", Token: e.token, Stalled: stalled})
	return time.Since(start), err
}

// connectRaw opens n clients to the raw peer.
func (e *rtEnv) connectRaw(n int) (time.Duration, error) {
	start := time.Now()
	_, err := e.cl.do(rtCmd{Op: "dial", N: n, WS: e.raw.ws})
	return time.Since(start), err
}

// disconnect closes every client and waits briefly until both servers
// have ended their connections, so that the next measurement starts clean.
func (e *rtEnv) disconnect(ctx context.Context) error {
	if _, err := e.cl.do(rtCmd{Op: "close"}); err != nil {
		return err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
		if e.l.Hub.Subscribers("demo") == 0 && e.raw.connections() == 0 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ctx.Err()
}

// apply injects event seq, stamped ns, for target i into Mirror.Apply
// (what the sandbox's event pump calls).
func (e *rtEnv) apply(ctx context.Context) rtInject {
	return func(i int, seq, ns int64) error {
		return e.l.Engine.Mirror.Apply(ctx, e.event(i, seq, ns))
	}
}

// rawBroadcast injects event seq into the raw peer: others frames of
// otherSize bytes (standing for the resource message) and the event frame
// of eventSize bytes, the sizes bucketdesk's frames had; joined, the same
// bytes as one event frame.
func (e *rtEnv) rawBroadcast(eventSize, otherSize, others int, joined bool) rtInject {
	return func(_ int, seq, ns int64) error {
		if joined {
			ev, _ := rtRawFrames(rtEventIDOf(seq, ns), eventSize+others*otherSize, 0)
			e.raw.broadcast(ev)
			return nil
		}
		ev, other := rtRawFrames(rtEventIDOf(seq, ns), eventSize, otherSize)
		frames := make([][]byte, 0, others+1)
		for range others {
			frames = append(frames, other)
		}
		e.raw.broadcast(append(frames, ev)...)
		return nil
	}
}

// rtInject injects event seq for target i, stamped ns (Unix nanoseconds
// just before the call).
type rtInject func(i int, seq, ns int64) error

// begin opens a run of count events in the client process; acc names
// the accumulator of its latencies ("": none), reset empties it first.
func (e *rtEnv) begin(count int64, record bool, acc string, reset bool) (rtReply, error) {
	first := e.seq.Load() + 1
	e.cl.runFirst.Store(first)
	e.cl.progress.Store(0)
	return e.cl.do(rtCmd{Op: "run", First: first, Count: count, Record: record, Acc: acc, Reset: reset})
}

// end waits until the clients have read want event frames of the run (at
// most 10 s) and returns what they read since begin.
func (e *rtEnv) end(want int64, r0 rtReply) (rtReply, error) {
	r, err := e.cl.do(rtCmd{Op: "wait", Want: want, TimeoutMS: 10000})
	r.CPU -= r0.CPU
	r.Frames += r0.Frames
	r.EventBytes += r0.EventBytes
	r.OtherFrames += r0.OtherFrames
	r.OtherBytes += r0.OtherBytes
	return r, err
}

type rtPaced struct {
	lat      rtLat
	inject   *Recorder // duration of the injection (Mirror.Apply: cache writes and publish)
	events   int
	elapsed  time.Duration
	achieved float64
	// CPU time of the server's process and of the client process over
	// the run (from its start until the clients had read it)
	serverCPU, clientCPU time.Duration
	read                 int64 // event frames of the run read
	missing              int64
	// average sizes of the event frames and the others, and others per
	// event frame
	eventSize, otherSize int
	others               float64
}

// paced injects events at rate for d, open loop, into clients connected
// clients, and collects the latency of every (client, event) pair (with
// acc, of every run of that accumulator: see rtCmd).
func (e *rtEnv) paced(ctx context.Context, clients int, rate float64, d time.Duration, inject rtInject, acc string, reset bool) (rtPaced, error) {
	n := max(1, int(rate*d.Seconds()))
	r0, err := e.begin(int64(n), true, acc, reset)
	if err != nil {
		return rtPaced{}, err
	}
	rec := NewRecorder(n)
	interval := time.Duration(float64(time.Second) / rate)
	cpu0 := rtCPU()
	start := time.Now()
	sent := 0
	var ierr error
	for i := range n {
		// A server that cannot keep up (the injection waits for Apply)
		// sends fewer events in the same time: the achieved rate says so.
		if ctx.Err() != nil || time.Since(start) >= d+interval {
			break
		}
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		seq := e.seq.Add(1)
		t := time.Now()
		if ierr = inject(i, seq, t.UnixNano()); ierr != nil {
			break
		}
		rec.Add(time.Since(t))
		sent++
	}
	elapsed := time.Since(start)
	want := int64(sent) * int64(clients)
	r, err := e.end(want, r0)
	if err != nil {
		return rtPaced{}, err
	}
	cpu := time.Duration(rtCPU() - cpu0)
	if ierr != nil {
		return rtPaced{}, fmt.Errorf("bench: inject: %w", ierr)
	}
	p := rtPaced{lat: r.Lat, inject: rec, events: sent, elapsed: elapsed, achieved: float64(sent) / elapsed.Seconds(), read: r.Events, missing: want - r.Events, serverCPU: cpu, clientCPU: time.Duration(r.CPU)}
	if ev := r.Frames - r.OtherFrames; ev > 0 {
		p.eventSize = int(r.EventBytes / ev)
		p.others = float64(r.OtherFrames) / float64(ev)
	}
	if r.OtherFrames > 0 {
		p.otherSize = int(r.OtherBytes / r.OtherFrames)
	}
	return p, nil
}

// alternate measures bucketdesk and the raw peer (its two ways: the same
// frames, and the same bytes as one frame an event), clients connected to
// each, in alternating rounds of about half a second for d each, so that
// whatever else the machine does in the meantime weighs on all alike.
// The raw peer's frames take the sizes of bucketdesk's first round.
func (e *rtEnv) alternate(ctx context.Context, clients int, rate float64, d time.Duration) (bd, raw, joined rtPaced, err error) {
	rounds, per := rtRounds(d)
	for i := range rounds {
		b, err := e.paced(ctx, clients, rate, per, e.apply(ctx), "bucketdesk", i == 0)
		if err != nil {
			return bd, raw, joined, err
		}
		bd.add(b, i == 0)
		ev, other, others := max(bd.eventSize, 64), max(bd.otherSize, 64), int(bd.others+0.5)
		r, err := e.paced(ctx, clients, rate, per, e.rawBroadcast(ev, other, others, false), "raw", i == 0)
		if err != nil {
			return bd, raw, joined, err
		}
		raw.add(r, i == 0)
		j, err := e.paced(ctx, clients, rate, per, e.rawBroadcast(ev, other, others, true), "joined", i == 0)
		if err != nil {
			return bd, raw, joined, err
		}
		joined.add(j, i == 0)
	}
	return bd, raw, joined, nil
}

// rtRounds splits d into alternating rounds of about half a second, two
// at least: the number of rounds and the length of each.
func rtRounds(d time.Duration) (int, time.Duration) {
	rounds := max(2, int(d/(500*time.Millisecond)))
	return rounds, d / time.Duration(rounds)
}

// stallRounds measures clients alone and beside one stalled client (it
// reads its hello and then nothing; a new one for each round) in
// alternating rounds for d each, and reports whether the server dropped
// a stalled client as a slow consumer.
func (e *rtEnv) stallRounds(ctx context.Context, clients int, rate float64, d time.Duration) (alone, with rtPaced, dropped bool, err error) {
	before := e.srv.WSStats()
	rounds, per := rtRounds(d)
	for i := range rounds {
		a, err := e.paced(ctx, clients, rate, per, e.apply(ctx), "alone", i == 0)
		if err != nil {
			return alone, with, false, err
		}
		alone.add(a, i == 0)
		if _, err := e.connect(1, true); err != nil {
			return alone, with, false, err
		}
		w, err := e.paced(ctx, clients, rate, per, e.apply(ctx), "stalled", i == 0)
		if err != nil {
			return alone, with, false, err
		}
		with.add(w, i == 0)
		if e.l.Hub.Subscribers("demo") == clients {
			dropped = true // the hub let go of it
		}
		if _, err := e.cl.do(rtCmd{Op: "close", Stalled: true}); err != nil {
			return alone, with, false, err
		}
	}
	return alone, with, dropped || e.srv.WSStats().SlowConsumerDisconnects > before.SlowConsumerDisconnects, nil
}

// add adds the round q to p (the first round: is p).
func (p *rtPaced) add(q rtPaced, first bool) {
	if first {
		*p = q
		return
	}
	*p = p.then(q)
}

// cpuPerEvent is the CPU time of each process per event injected.
func (p rtPaced) cpuPerEvent() string {
	n := time.Duration(max(p.events, 1))
	return Ms(p.serverCPU/n) + " / " + Ms(p.clientCPU/n)
}

// then adds the later round q to p; latencies are q's, which accumulate.
func (p rtPaced) then(q rtPaced) rtPaced {
	for _, d := range q.inject.samples {
		p.inject.Add(d)
	}
	p.lat = q.lat
	p.serverCPU += q.serverCPU
	p.clientCPU += q.clientCPU
	p.events += q.events
	p.elapsed += q.elapsed
	p.achieved = float64(p.events) / p.elapsed.Seconds()
	p.read += q.read
	p.missing += q.missing
	return p
}

type rtSat struct {
	events               int
	eventFrames, frames  int64
	eventRate, frameRate float64
}

// saturate applies events back to back from a few goroutines (one per
// bucket, so they do not wait on each other's item lock) for d, then
// waits for the clients to read them, and counts frames per second over
// the whole time from the first Apply to the last frame read.
func (e *rtEnv) saturate(ctx context.Context, clients int, d time.Duration) (rtSat, error) {
	const maxEvents = 1 << 20
	r0, err := e.begin(maxEvents, false, "", false)
	if err != nil {
		return rtSat{}, err
	}
	apply := e.apply(ctx)
	start := time.Now()
	var applied atomic.Int64
	var wg sync.WaitGroup
	for g := range len(e.targets) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < d && ctx.Err() == nil && applied.Load() < maxEvents-int64(len(e.targets)) {
				// Stay within the clients' send queues (two frames an
				// event): a saturated server must not turn every client
				// into a slow consumer. The client process reports what
				// its clients have read every 5 ms.
				for applied.Load()-e.cl.progress.Load()/int64(max(clients, 1)) > 64 && time.Since(start) < d {
					time.Sleep(200 * time.Microsecond)
				}
				seq := e.seq.Add(1)
				if apply(g, seq, time.Now().UnixNano()) != nil {
					return
				}
				applied.Add(1)
			}
		}()
	}
	wg.Wait()
	n := applied.Load()
	r, err := e.end(n*int64(clients), r0)
	if err != nil {
		return rtSat{}, err
	}
	elapsed := time.Since(start)
	return rtSat{
		events: int(n), eventFrames: r.Events, frames: r.Frames,
		eventRate: float64(r.Events) / elapsed.Seconds(), frameRate: float64(r.Frames) / elapsed.Seconds(),
	}, nil
}

// rtMemSnap is this process's memory after a GC.
type rtMemSnap struct {
	heap, stack, rss uint64
	goroutines       int
}

func rtMemNow() rtMemSnap {
	h, s, r := rtMem()
	return rtMemSnap{heap: h, stack: s, rss: r, goroutines: runtime.NumGoroutine()}
}

// rtMemDelta is what n connections added to this process.
type rtMemDelta struct {
	heapStack, rss float64 // bytes
	goroutines     int
	n              int
}

func (a rtMemSnap) to(b rtMemSnap, n int) rtMemDelta {
	return rtMemDelta{
		heapStack:  float64(b.heap+b.stack) - float64(a.heap+a.stack),
		rss:        float64(b.rss) - float64(a.rss),
		goroutines: b.goroutines - a.goroutines,
		n:          max(n, 1),
	}
}

func (d rtMemDelta) perConn() float64    { return d.heapStack / float64(d.n) }
func (d rtMemDelta) rssPerConn() float64 { return d.rss / float64(d.n) }
func rtKiB(b float64) string             { return fmt.Sprintf("%.1f KiB", b/1024) }
func rtMiB(b float64) string             { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

// rtMem returns heap in use, stacks in use and RSS after a GC.
func rtMem() (heap, stack, rss uint64) {
	// FreeOSMemory collects and returns freed pages, so that RSS is not
	// inflated by what earlier measurements left behind.
	debug.FreeOSMemory()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.StackInuse, rtRSS()
}

func rtRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func rtOpenFiles() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 64
	}
	return len(ents)
}
