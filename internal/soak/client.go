package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// API is a logged-in client of one bucketdesk server. The bearer token
// and the password stay in memory: no error or report carries them.
type API struct {
	base     string
	hc       *http.Client
	user     string
	password string

	mu    sync.RWMutex
	token string
}

// NewAPI returns a client of the server at base (e.g.
// "http://127.0.0.1:8080") with a per-request timeout.
func NewAPI(base string, timeout time.Duration, conns int) *API {
	return &API{
		base: strings.TrimRight(base, "/"),
		hc: &http.Client{Timeout: timeout, Transport: &http.Transport{
			MaxIdleConns: 2 * conns, MaxIdleConnsPerHost: 2 * conns, IdleConnTimeout: time.Minute,
			ResponseHeaderTimeout: timeout,
		}},
	}
}

// Close drops the idle connections.
func (a *API) Close() { a.hc.CloseIdleConnections() }

// Login gets a token through POST /auth/login, as the browser does.
func (a *API) Login(ctx context.Context, user, password string) error {
	a.user, a.password = user, password
	return a.login(ctx)
}

func (a *API) login(ctx context.Context) error {
	body, _ := json.Marshal(map[string]string{"username": a.user, "password": a.password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/auth/login", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("login as %s: %w", a.user, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		p := parseProblem(raw)
		return fmt.Errorf("login as %s: %s %s", a.user, res.Status, p.Detail)
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(raw, &tok); err != nil || tok.Token == "" {
		return fmt.Errorf("login as %s: no token in the answer", a.user)
	}
	a.mu.Lock()
	a.token = tok.Token
	a.mu.Unlock()
	return nil
}

// Problem is the part of an RFC 9457 problem the soak reads.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Lock   *struct {
		OperationID string `json:"operation_id"`
		Action      string `json:"action"`
	} `json:"lock,omitempty"`
}

func parseProblem(raw []byte) Problem {
	var p Problem
	_ = json.Unmarshal(raw, &p)
	return p
}

// Answer is one HTTP exchange: a status and body, or the transport error.
type Answer struct {
	Status  int
	Body    []byte
	Problem Problem
	Err     error
}

// Do sends one authenticated request with a JSON body (nil: none) and
// reads the whole answer. A 401 (an expired login) logs in again and
// retries once.
func (a *API) Do(ctx context.Context, method, path string, body any) Answer {
	ans := a.do(ctx, method, path, body)
	if ans.Err == nil && ans.Status == http.StatusUnauthorized && a.password != "" {
		if err := a.login(ctx); err != nil {
			return Answer{Err: err}
		}
		ans = a.do(ctx, method, path, body)
	}
	return ans
}

func (a *API) do(ctx context.Context, method, path string, body any) Answer {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return Answer{Err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return Answer{Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	a.mu.RLock()
	req.Header.Set("Authorization", "Bearer "+a.token)
	a.mu.RUnlock()
	res, err := a.hc.Do(req)
	if err != nil {
		return Answer{Err: scrub(err)}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return Answer{Err: scrub(err)}
	}
	ans := Answer{Status: res.StatusCode, Body: raw}
	if res.StatusCode >= 400 {
		ans.Problem = parseProblem(raw)
	}
	return ans
}

// scrub keeps an error's kind and message but never a request (whose
// header holds the token): url.Error names only the method and URL, which
// is safe; anything else is reduced to its text.
func scrub(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("timeout: %v", err)
	}
	return errors.New(err.Error())
}

// HeapMetric is the /metrics gauge of the server's Go heap (live objects
// and garbage not yet freed): its own memory, where the resident set also
// counts the pages of the bbolt files it maps.
const HeapMetric = "go_memory_classes_heap_objects_bytes"

// Heap reads HeapMetric from the server's /metrics (no token needed); -1
// when the server does not publish it (an older binary).
func (a *API) Heap(ctx context.Context) int64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/metrics", nil)
	if err != nil {
		return -1
	}
	res, err := a.hc.Do(req)
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode != http.StatusOK {
		return -1
	}
	return parseGauge(string(raw), HeapMetric)
}

// parseGauge returns the value of an unlabelled metric in Prometheus'
// text format, or -1.
func parseGauge(text, name string) int64 {
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), name+" ")
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(rest, &v); err == nil && v >= 0 {
			return int64(v)
		}
	}
	return -1
}
