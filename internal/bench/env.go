package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"bucketdesk/internal/auth"
	"bucketdesk/internal/cloud/paced"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/setup"
	"bucketdesk/internal/wsapi"
)

const benchPassword = "bench-password-not-secret"

// env is a whole local bucketdesk (setup.OpenLocal, setup.Server) behind
// an httptest server on 127.0.0.1, over a sandbox holding one project per
// size, plus the direct reader on the same sandbox under /direct/.
type env struct {
	dir   string
	l     *setup.Local
	srv   *setup.Server
	hs    *httptest.Server
	token string
	// cached counts the CloudFormation calls of the server's engine,
	// direct those of the direct reader.
	cached, direct *counting
	projects       map[int]string
	client         *http.Client
}

// envOptions configure the sandbox the reads are measured on.
type envOptions struct {
	Sizes       []int
	APILatency  time.Duration
	SandboxRate float64
	Log         io.Writer
}

func projectID(n int) string { return fmt.Sprintf("bench-%d", n) }

// bucketName is the i-th bucket of the project of size n (bucket names are
// global in the sandbox, as in S3).
func bucketName(n, i int) string { return fmt.Sprintf("bench-%d-bucket-%04d", n, i) }

// newEnv creates the projects through the engine on an instantaneous
// sandbox, then reopens the same data directory with the realistic API
// latency and rate limit for the measurements.
func newEnv(ctx context.Context, o envOptions) (_ *env, err error) {
	dir, err := os.MkdirTemp("", "bucketdesk-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, projects: map[int]string{}}
	defer func() {
		if err != nil {
			e.Close()
		}
	}()
	logger := slog.New(slog.DiscardHandler)
	zero := simcloud.ZeroOptions()
	zero.NoSync = true
	l, err := setup.OpenLocal(setup.LocalConfig{
		DataDir: dir, Sandbox: zero, CloudRate: -1, Workers: 8, ReconcileEvery: 24 * time.Hour, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	alice := core.Principal{User: "alice"}
	for i, n := range o.Sizes {
		p := setup.DemoProject([]string{"alice", "bob"})
		p.ID, p.Name = projectID(n), fmt.Sprintf("Bench project of %d buckets", n)
		p.AccountID = fmt.Sprintf("2100000000%02d", i)
		p.RoleARN = "arn:aws:iam::" + p.AccountID + ":role/bucketdesk"
		p.LogBucket = "" // the sandbox knows only the demo account's log bucket
		if _, _, err := l.EnsureProject(ctx, p); err != nil {
			l.Close()
			return nil, err
		}
		e.projects[n] = p.ID
	}
	l.Start(ctx)
	fmt.Fprintf(o.Log, "bench: creating projects of %v buckets (+10%% users) through the engine…\n", o.Sizes)
	for _, n := range o.Sizes {
		var specs []core.Spec
		for i := range n {
			specs = append(specs, core.Spec{Bucket: &core.BucketSpec{Name: bucketName(n, i), Versioning: i%2 == 0,
				Encryption: core.Encryption{Type: core.EncryptionS3}, Tags: map[string]string{"team": "bench"}}})
		}
		for i := range max(1, n/10) {
			specs = append(specs, core.Spec{User: &core.UserSpec{Name: fmt.Sprintf("bench-user-%03d", i),
				Grants: []core.Grant{{Bucket: bucketName(n, i), Access: core.AccessRead}}}})
		}
		for _, s := range specs {
			if _, err := l.Engine.Service.Create(ctx, alice, projectID(n), s); err != nil {
				l.Close()
				return nil, fmt.Errorf("create %s: %w", s.Name(), err)
			}
		}
	}
	settle, cancel := context.WithTimeout(ctx, 5*time.Minute)
	err = l.Settle(settle)
	cancel()
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("settle: %w", err)
	}

	// The same files with CloudFormation's latency and rate limit.
	if e.l, err = setup.OpenLocal(setup.LocalConfig{DataDir: dir, Sandbox: realSandbox(o.APILatency, o.SandboxRate), ReconcileEvery: 24 * time.Hour, Logger: logger}); err != nil {
		return nil, err
	}
	// The engine as OpenLocal wires it (paced at 80 % of the sandbox's
	// limit), with a counter under the pacer. Its workers and reconciler
	// are not started: nothing but the measured requests may call
	// CloudFormation.
	pace := 0.8 * o.SandboxRate
	e.cached = &counting{Cloud: e.l.Sandbox}
	e.l.Engine = engine.New(engine.Options{
		Resources: e.l.Store, Projects: e.l.Store, Queue: e.l.Queue, Cloud: paced.Wrap(e.cached, pace, int(2*pace)), Hub: e.l.Hub, Logger: logger,
	})
	e.direct = &counting{Cloud: e.l.Sandbox}
	if _, err := setup.EnsureDemoUsers(dir, benchPassword); err != nil {
		return nil, err
	}
	if e.srv, err = e.l.Server(setup.ServerConfig{WS: wsapi.Limits{MaxAge: time.Hour, IdleTimeout: time.Hour}}); err != nil {
		return nil, err
	}
	keys, err := auth.NewStaticKeySource(e.srv.Issuer.JWKS())
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/direct/", &directHandler{
		verifier: auth.NewVerifier(keys, e.srv.Issuer.VerifierConfig()),
		projects: e.l.Store,
		reader:   &engine.Direct{Cloud: paced.Wrap(e.direct, pace, int(2*pace))},
	})
	mux.Handle("/", e.srv.Handler)
	e.hs = httptest.NewUnstartedServer(mux)
	e.hs.Listener.Close()
	if e.hs.Listener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	e.hs.Start()
	e.client = &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		MaxIdleConns: 8192, MaxIdleConnsPerHost: 8192, IdleConnTimeout: time.Minute,
	}}
	return e, e.login(ctx)
}

// login gets a bearer token through POST /auth/login, as the browser does.
func (e *env) login(ctx context.Context) error {
	body := `{"username":"alice","password":"` + benchPassword + `"}`
	req, err := http.NewRequestWithContext(ctx, "POST", e.hs.URL+"/auth/login", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var tok struct{ Token string }
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != 200 {
		return fmt.Errorf("login: %d %v", res.StatusCode, err)
	}
	e.token = tok.Token
	return nil
}

// get sends one authenticated GET and reads the whole answer; anything
// but 200 is an error.
func (e *env) get(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", e.hs.URL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	res, err := e.client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, res.Status)
	}
	return err
}

// Close stops the server and removes the data directory.
func (e *env) Close() {
	if e.hs != nil {
		e.hs.Close()
	}
	if e.srv != nil {
		e.srv.Close()
	}
	if e.l != nil {
		e.l.Close()
	}
	os.RemoveAll(e.dir)
}

// counting is a core.Cloud decorator that counts every call.
type counting struct {
	core.Cloud
	n atomic.Int64
}

func (c *counting) CreateStack(ctx context.Context, a core.Account, req core.StackRequest) (string, error) {
	c.n.Add(1)
	return c.Cloud.CreateStack(ctx, a, req)
}

func (c *counting) UpdateStack(ctx context.Context, a core.Account, req core.StackRequest) (string, error) {
	c.n.Add(1)
	return c.Cloud.UpdateStack(ctx, a, req)
}

func (c *counting) DeleteStack(ctx context.Context, a core.Account, stackName, token string) error {
	c.n.Add(1)
	return c.Cloud.DeleteStack(ctx, a, stackName, token)
}

func (c *counting) DescribeStack(ctx context.Context, a core.Account, stack string) (*core.Stack, error) {
	c.n.Add(1)
	return c.Cloud.DescribeStack(ctx, a, stack)
}

func (c *counting) ListStacks(ctx context.Context, a core.Account, prefix string) ([]core.StackSummary, error) {
	if _, ok := c.Cloud.(paced.PagedLister); ok {
		return c.ListStacksPaced(ctx, a, prefix, nil)
	}
	c.n.Add(1)
	return c.Cloud.ListStacks(ctx, a, prefix)
}

// ListStacksPaced counts each page of a paged listing as one call, and
// lets the pacer above wait before each (paced.PagedLister).
func (c *counting) ListStacksPaced(ctx context.Context, a core.Account, prefix string, wait func(context.Context) error) ([]core.StackSummary, error) {
	pl, ok := c.Cloud.(paced.PagedLister)
	if !ok {
		if wait != nil {
			if err := wait(ctx); err != nil {
				return nil, err
			}
		}
		return c.ListStacks(ctx, a, prefix)
	}
	return pl.ListStacksPaced(ctx, a, prefix, func(ctx context.Context) error {
		c.n.Add(1)
		if wait != nil {
			return wait(ctx)
		}
		return nil
	})
}

func (c *counting) GetTemplate(ctx context.Context, a core.Account, stack string) (string, error) {
	c.n.Add(1)
	return c.Cloud.GetTemplate(ctx, a, stack)
}

func (c *counting) GetSecretValue(ctx context.Context, a core.Account, secretARN string) (string, error) {
	c.n.Add(1)
	return c.Cloud.GetSecretValue(ctx, a, secretARN)
}

// directHandler serves GET /direct/projects/{p}/{buckets|users}[/{name}]
// through engine.Direct: the design without a cache, read from
// CloudFormation on every request. It authenticates like the API (the
// same verifier of the same issuer's tokens) and checks membership, so
// that both readers do the same work apart from where they read.
type directHandler struct {
	verifier *auth.Verifier
	projects core.ProjectStore
	reader   *engine.Direct
}

func (h *directHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/direct/projects/"), "/")
	if r.Method != http.MethodGet || len(parts) < 2 || len(parts) > 3 {
		http.NotFound(w, r)
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		http.Error(w, "bearer token required", http.StatusUnauthorized)
		return
	}
	who, err := h.verifier.Verify(r.Context(), token)
	if err != nil {
		http.Error(w, "token refused", http.StatusUnauthorized)
		return
	}
	p, err := h.projects.GetProject(r.Context(), parts[0])
	if err != nil || !p.IsMember(who) {
		http.NotFound(w, r)
		return
	}
	kind := core.KindBucket
	if parts[1] == "users" {
		kind = core.KindUser
	}
	var v any
	if len(parts) == 3 {
		v, err = h.reader.Get(r.Context(), p, kind, parts[2])
	} else {
		var rs []*core.Resource
		rs, err = h.reader.List(r.Context(), p, kind)
		v = struct {
			Items []*core.Resource `json:"items"`
		}{rs}
	}
	switch {
	case errors.Is(err, core.ErrNotFound):
		http.NotFound(w, r)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}
