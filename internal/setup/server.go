package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"time"

	"bucketdesk/internal/auth"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/httpapi"
	"bucketdesk/internal/wsapi"
	"bucketdesk/web"
)

// The local issuer's identity: tokens it issues name these, and only these
// verify.
const (
	LocalIssuerName = "urn:bucketdesk:local"
	LocalAudience   = "bucketdesk"
)

// ServerConfig configures the local HTTP server.
type ServerConfig struct {
	// WS limits the WebSocket connections like API Gateway does; zero
	// fields take wsapi's defaults.
	WS wsapi.Limits
	// TokenTTL is how long a login lasts (default 1 h).
	TokenTTL time.Duration
	// LoginLimits limit failed logins (zero fields: auth's defaults).
	LoginLimits auth.LimitOptions
}

// Server is the local binary's HTTP side: the REST API, login, the
// WebSocket endpoint and the web UI on one handler.
type Server struct {
	Handler http.Handler
	ws      *wsapi.Handler
	Issuer  *auth.LocalIssuer
}

// Server builds the HTTP handler over the running engine: identity from
// the data directory's users file and signing key, tickets in the store,
// live updates from the hub.
func (l *Local) Server(cfg ServerConfig) (*Server, error) {
	issuer, err := auth.OpenLocalIssuer(l.cfg.DataDir, LocalIssuerName, LocalAudience, nil)
	if err != nil {
		return nil, err
	}
	// The same verifier as on AWS, with the local issuer's JWKS instead of
	// Cognito's.
	keys, err := auth.NewStaticKeySource(issuer.JWKS())
	if err != nil {
		return nil, err
	}
	// Read again when `bucketdesk users` changes it.
	users, err := auth.OpenWatchedUsers(UsersFile(l.cfg.DataDir))
	if err != nil {
		return nil, err
	}
	verifier := auth.NewVerifier(keys, issuer.VerifierConfig())
	login := auth.NewLogin(users, issuer, &auth.LoginOptions{TokenTTL: cfg.TokenTTL, Limits: cfg.LoginLimits})
	tickets := auth.NewTickets(l.Store, nil)

	limits := wsapi.DefaultLimits()
	if cfg.WS.MaxAge > 0 {
		limits.MaxAge = cfg.WS.MaxAge
	}
	if cfg.WS.IdleTimeout > 0 {
		limits.IdleTimeout = cfg.WS.IdleTimeout
	}
	if cfg.WS.PingInterval > 0 {
		limits.PingInterval = cfg.WS.PingInterval
	}
	if cfg.WS.MaxFrame > 0 {
		limits.MaxFrame = cfg.WS.MaxFrame
	}
	if cfg.WS.SendQueue > 0 {
		limits.SendQueue = cfg.WS.SendQueue
	}
	subscribe := func(projects []string, sink wsapi.Sink) wsapi.Subscription {
		return l.Hub.SubscribeSink(projects, sink)
	}
	ws := wsapi.NewHandler(wsapi.Options{Tickets: tickets, Subscribe: subscribe, Limits: limits, Logger: l.cfg.Logger})
	api := httpapi.New(httpapi.Options{
		Service: l.Engine.Service, Admin: l.Admin(ws), Auth: verifier, Login: login.Login, JWKS: issuer.JWKS(), Tickets: tickets, Sandbox: l.Sandbox,
		Links: engine.NewShareLinks(l.Engine.Service, engine.ShareLinkOptions{Store: l.Store, Auditor: l.Auditor}),
		Ready: func(ctx context.Context) error {
			_, err := l.Store.ListProjects(ctx)
			return err
		},
		Metrics: []func(io.Writer){func(w io.Writer) { writeWSMetrics(w, ws.Stats()) }, writeRuntimeMetrics},
		Logger:  l.cfg.Logger,
		Auditor: l.Auditor, AuditTrail: l.Auditor,
		// The users file's logins, administered through the API as well.
		LocalUsers: auth.NewUsersAdmin(UsersFile(l.cfg.DataDir), auth.UsersAdminOptions{Auditor: l.Auditor, Watched: users}),
	})
	mux := http.NewServeMux()
	mux.Handle("/ws", ws)
	for _, p := range []string{"/api/", "/auth/", "/s/", "/.well-known/", "/healthz", "/readyz", "/metrics"} {
		mux.Handle(p, api)
	}
	mux.Handle("/", web.Handler())
	return &Server{Handler: mux, ws: ws, Issuer: issuer}, nil
}

// Close ends the live WebSocket connections.
func (s *Server) Close() { s.ws.Close() }

// UsersFile is where the local users and their bcrypt hashes live.
func UsersFile(dataDir string) string { return filepath.Join(dataDir, "users.json") }

// DemoUsers are the local binary's demo logins: two managers of the demo
// project, one user who is a member of nothing, and the administrator
// (DemoAdmin), who is a member of nothing either.
var DemoUsers = []string{"alice", "bob", "mallory", DemoAdmin}

// DemoAdmin is the demo login that administers the portal.
const DemoAdmin = "admin"

// EnsureDemoUsers creates the users file with the demo users on first
// start. The password is password when given (and then also set on the
// demo users of an existing file, adding those it lacks, DemoAdmin as an
// administrator, and keeping every other user and every flag, so
// BUCKETDESK_DEMO_PASSWORD always works), otherwise a new one is
// generated on first start. It returns the password when it set
// one, "" when it left the file as it was.
func EnsureDemoUsers(dataDir, password string) (string, error) {
	path := UsersFile(dataDir)
	_, err := os.Stat(path)
	exists := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if exists && password == "" {
		return "", nil
	}
	var entries []auth.UserEntry
	if exists {
		if entries, err = auth.LoadUserEntries(path); err != nil {
			return "", err
		}
		if _, err := auth.NewUsers(entries); err != nil {
			return "", fmt.Errorf("users file %s: %w", path, err)
		}
	}
	if password == "" {
		password = auth.GeneratePassword()
	}
	// Add the demo users the file lacks and give those whose password is
	// another this one; keep everything else (other users, flags, groups).
	changed := !exists
	for _, u := range DemoUsers {
		i := slices.IndexFunc(entries, func(e auth.UserEntry) bool { return e.Username == u })
		if i >= 0 && entries[i].HasPassword(password) {
			continue
		}
		h, err := auth.HashPassword(password)
		if err != nil {
			return "", err
		}
		changed = true
		if i >= 0 {
			entries[i].PasswordHash = h
			continue
		}
		entries = append(entries, auth.UserEntry{Username: u, PasswordHash: h, Admin: u == DemoAdmin})
	}
	if !changed {
		return password, nil
	}
	if err := auth.WriteUsers(path, entries); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return password, nil
}

// writeWSMetrics writes the WebSocket counters in Prometheus text format.
func writeWSMetrics(w io.Writer, s wsapi.Stats) {
	for _, m := range []struct {
		name, typ, help string
		v               int64
	}{
		{"bucketdesk_ws_connections", "gauge", "Open WebSocket connections.", s.Connections},
		{"bucketdesk_ws_connections_total", "counter", "WebSocket connections accepted.", s.ConnectionsTotal},
		{"bucketdesk_ws_messages_sent_total", "counter", "Messages written to WebSocket clients.", s.MessagesSent},
		{"bucketdesk_ws_slow_consumer_disconnects_total", "counter", "Connections closed because the client could not keep up.", s.SlowConsumerDisconnects},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", m.name, m.help, m.name, m.typ, m.name, m.v)
	}
}

// runtimeMetrics are the Go runtime's figures an operator watches for
// growth, under the names Prometheus' Go collector gives them: the heap's
// live objects tell the process's own memory apart from the pages of the
// bbolt files it maps, which its resident set also counts.
var runtimeMetrics = []struct{ name, sample, help string }{
	{"go_memory_classes_heap_objects_bytes", "/memory/classes/heap/objects:bytes", "Memory occupied by live objects and dead objects not yet freed."},
	{"go_memory_classes_total_bytes", "/memory/classes/total:bytes", "All memory mapped by the Go runtime (not the bbolt files' mappings)."},
	{"go_gc_heap_goal_bytes", "/gc/heap/goal:bytes", "Heap size target for the end of the GC cycle."},
	{"go_sched_goroutines_goroutines", "/sched/goroutines:goroutines", "Count of live goroutines."},
}

func writeRuntimeMetrics(w io.Writer) {
	samples := make([]metrics.Sample, len(runtimeMetrics))
	for i, m := range runtimeMetrics {
		samples[i].Name = m.sample
	}
	metrics.Read(samples)
	for i, m := range runtimeMetrics {
		if samples[i].Value.Kind() != metrics.KindUint64 {
			continue
		}
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", m.name, m.help, m.name, m.name, samples[i].Value.Uint64())
	}
}
