// Package apigwtest is a stand-in for API Gateway's @connections API (the
// API Gateway Management API) for tests: an httptest server that answers
// the documented requests with the documented responses, errors included,
// so that the real AWS SDK client talks to it. No local stand-in exists for
// this API.
//
// It serves, under the stage path (the management endpoint on AWS is
// https://{api-id}.execute-api.{region}.amazonaws.com/{stage}):
//
//   - POST /{stage}/@connections/{connectionId}: the body is the frame;
//     200 with an empty body, and the frame is recorded;
//   - GET: 200 with {"connectedAt","identity":{"sourceIp","userAgent"},"lastActiveAt"};
//   - DELETE: 204, and the connection is closed.
//
// An unknown or closed connection is 410 with the header
// x-amzn-ErrorType: GoneException and the body {"message":null}. A request
// without a SigV4 Authorization header for execute-api is 403
// ForbiddenException, a body over 128 KB is 413 PayloadTooLargeException.
// A post over 32 KB (API Gateway's WebSocket frame size) is accepted but
// closes its connection, as a client that receives a frame over the limit
// closes with code 1009: later requests for it are 410. Requests beyond
// API Gateway's default account throttle (10,000 per second, a bucket of
// 5,000) are 429 LimitExceededException. docs/sandbox-fidelity.md lists
// these rules with AWS's pages.
//
// Knobs inject failures into posts and closes (Fail: 500 InternalServerErrorException, 429
// LimitExceededException, …), hold posts in flight, all of them (Pause)
// or those to one connection (Hold), so that a test can count concurrency
// and play a slow client without timing, and add a latency to every
// request (SetLatency), as the network and API Gateway do, for benchmarks.
//
// It is not a WebSocket server: connections exist because a test
// registers them (Register), as API Gateway would after a $connect.
package apigwtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
)

// Stage is the stage name in the endpoint path.
const Stage = "test"

// Region is the region of Client.
const Region = "us-east-1"

// MaxPayload is the largest POST body API Gateway accepts (128 KB).
const MaxPayload = 128 * 1024

// MaxFrame is API Gateway's WebSocket frame size (32 KB): a post with more
// closes its connection.
const MaxFrame = 32 * 1024

// API Gateway's default throttle per account and Region, shared by every
// API of the account and by the @connections calls: a token bucket of
// ThrottleBurst requests refilled at ThrottleRate per second.
const (
	ThrottleRate  = 10000
	ThrottleBurst = 5000
)

// Server is a fake @connections API. It is safe for concurrent use.
type Server struct {
	// Endpoint is the management API endpoint, with the stage path: the
	// BaseEndpoint of an SDK client.
	Endpoint string

	srv       *httptest.Server
	transport *http.Transport

	mu          sync.Mutex
	conns       map[string]*conn
	failures    []failure
	posts       int
	inFlight    int
	maxInFlight int
	paused      chan struct{}            // non-nil while paused; closed by Resume
	held        map[string]chan struct{} // by connection; closed on release
	changed     chan struct{}            // closed and replaced when inFlight changes
	reqSeq      int
	latency     time.Duration
	rate, burst float64   // the throttle: refill per second, bucket size
	tokens      float64   // the throttle's bucket
	refilled    time.Time // when tokens was last refilled
	throttled   int
	frames      int       // frames recorded, over every connection
	lastFrame   time.Time // when the last one was recorded
	oversize    int       // connections closed by a post over MaxFrame
}

type conn struct {
	open         bool
	connectedAt  time.Time
	lastActiveAt time.Time
	frames       [][]byte
}

type failure struct {
	id     string // "" matches any connection
	n      int
	status int
}

// NewServer starts a fake @connections API; it is closed when the test
// ends.
func NewServer(tb testing.TB) *Server {
	s := Start()
	tb.Cleanup(s.Stop)
	return s
}

// Start starts a fake @connections API outside a test (a benchmark); the
// caller stops it (Stop).
func Start() *Server {
	s := &Server{conns: map[string]*conn{}, held: map[string]chan struct{}{}, changed: make(chan struct{}),
		rate: ThrottleRate, burst: ThrottleBurst, tokens: ThrottleBurst, refilled: time.Now()}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.Endpoint = s.srv.URL + "/" + Stage
	// Enough idle connections for a fan-out's posts in flight: the
	// transport's default of 2 would open a connection per post.
	s.transport = &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}
	return s
}

// Stop resumes held posts and stops the server.
func (s *Server) Stop() {
	s.Resume()
	s.mu.Lock()
	for id, ch := range s.held {
		close(ch)
		delete(s.held, id)
	}
	s.mu.Unlock()
	s.transport.CloseIdleConnections()
	s.srv.Close()
}

// Client returns an SDK client for this server: region, static
// credentials, BaseEndpoint = Endpoint and one attempt per call, so nothing
// reads ~/.aws and no SDK retry hides what the code under test does.
func (s *Server) Client() *apigatewaymanagementapi.Client {
	return apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region:           Region,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint:     aws.String(s.Endpoint),
		RetryMaxAttempts: 1,
		Retryer:          aws.NopRetryer{},
		HTTPClient:       &http.Client{Transport: s.transport},
	})
}

// Register opens a connection with this id, as API Gateway does when a
// $connect succeeds. Registering a closed id opens it again.
func (s *Server) Register(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC()
	s.conns[id] = &conn{open: true, connectedAt: now, lastActiveAt: now}
}

// Close closes a connection, as a client going away does: later requests
// for it answer 410 GoneException. Its frames stay readable.
func (s *Server) Close(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.conns[id]; c != nil {
		c.open = false
	}
}

// Open reports whether a connection is registered and open.
func (s *Server) Open(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[id]
	return c != nil && c.open
}

// Frames returns copies of the frames posted to a connection, in order.
func (s *Server) Frames(id string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[id]
	if c == nil {
		return nil
	}
	out := make([][]byte, len(c.frames))
	for i, f := range c.frames {
		out[i] = append([]byte(nil), f...)
	}
	return out
}

// Fail makes the next n POSTs or DELETEs to connection id ("" for any
// connection) answer status with the matching AWS error: 429 LimitExceededException,
// 403 ForbiddenException, 413 PayloadTooLargeException, 410 GoneException,
// 400 BadRequestException, any other status InternalServerErrorException. Failures queue up in the
// order they were set.
func (s *Server) Fail(id string, n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, failure{id: id, n: n, status: status})
}

// Posts returns how many POST requests arrived, failed ones included.
func (s *Server) Posts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.posts
}

// MaxInFlight returns the largest number of POSTs that were being handled
// at once.
func (s *Server) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// SetLatency makes every later request wait d before it is answered (0:
// none), in flight all the while: the time a call to API Gateway takes.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetThrottle replaces the account's throttle (default ThrottleRate per
// second, a bucket of ThrottleBurst) with rate per second and a full
// bucket of burst: a test can reach it in a few requests.
func (s *Server) SetThrottle(rate float64, burst int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate, s.burst, s.tokens, s.refilled = rate, float64(burst), float64(burst), time.Now()
}

// Throttled returns how many requests were answered 429 because they
// exceeded the account's throttle (injected failures not counted).
func (s *Server) Throttled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled
}

// Delivered returns how many frames were recorded, over every connection,
// and when the last one was.
func (s *Server) Delivered() (frames int, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames, s.lastFrame
}

// Oversize returns how many connections a post over MaxFrame closed.
func (s *Server) Oversize() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oversize
}

// Pause holds every later POST in flight (counted, not yet answered) until
// Resume.
func (s *Server) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused == nil {
		s.paused = make(chan struct{})
	}
}

// Resume releases held POSTs.
func (s *Server) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused != nil {
		close(s.paused)
		s.paused = nil
	}
}

// Hold holds every later POST to connection id in flight (counted, not
// yet answered), as a client that stopped reading does, until release is
// called; posts to other connections are answered as usual. Calling
// release again does nothing.
func (s *Server) Hold(id string) (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := s.held[id]
	if ch == nil {
		ch = make(chan struct{})
		s.held[id] = ch
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.held[id] == ch {
			close(ch)
			delete(s.held, id)
		}
	}
}

// WaitInFlight waits until at least n POSTs are in flight, or ctx ends.
func (s *Server) WaitInFlight(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		if s.inFlight >= n {
			s.mu.Unlock()
			return nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("apigwtest: waiting for %d posts in flight: %w", n, ctx.Err())
		}
	}
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// serve routes /{stage}/@connections/{connectionId}.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqSeq++
	w.Header().Set("x-amzn-RequestId", fmt.Sprintf("00000000-0000-4000-8000-%012d", s.reqSeq))
	s.mu.Unlock()

	// API Gateway answers an unsigned request 403 before anything else.
	if a := r.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 ") || !strings.Contains(a, "/execute-api/aws4_request") {
		writeError(w, http.StatusForbidden, "ForbiddenException", `"Missing Authentication Token"`)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/"+Stage+"/@connections/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		writeError(w, http.StatusForbidden, "ForbiddenException", `"Forbidden"`)
		return
	}
	id, err := url.PathUnescape(rest)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequestException", `"Invalid connection id"`)
		return
	}
	if !s.admit() {
		writeError(w, http.StatusTooManyRequests, "LimitExceededException", `"Rate exceeded"`)
		return
	}
	switch r.Method {
	case http.MethodPost:
		s.post(w, r, id)
	case http.MethodGet:
		s.get(w, r, id)
	case http.MethodDelete:
		s.delete(w, r, id)
	default:
		writeError(w, http.StatusForbidden, "ForbiddenException", `"Forbidden"`)
	}
}

// admit takes a token of the account's throttle; false when none is left.
func (s *Server) admit() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.tokens = min(s.burst, s.tokens+now.Sub(s.refilled).Seconds()*s.rate)
	s.refilled = now
	if s.tokens < 1 {
		s.throttled++
		return false
	}
	s.tokens--
	return true
}

// wait waits the latency set by SetLatency; false if the request ended
// first.
func (s *Server) wait(r *http.Request) bool {
	s.mu.Lock()
	d := s.latency
	s.mu.Unlock()
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func (s *Server) post(w http.ResponseWriter, r *http.Request, id string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxPayload+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadRequestException", `"Could not read the request body"`)
		return
	}

	s.mu.Lock()
	s.posts++
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.notifyLocked()
	hold, held := s.paused, s.held[id]
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.notifyLocked()
		s.mu.Unlock()
	}()
	for _, ch := range []chan struct{}{hold, held} {
		if ch == nil {
			continue
		}
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
	}
	if !s.wait(r) {
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if status, ok := s.takeFailureLocked(id); ok {
		writeStatus(w, status)
		return
	}
	c := s.conns[id]
	if c == nil || !c.open {
		writeGone(w)
		return
	}
	if len(body) > MaxPayload {
		writeError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", `"Message too long"`)
		return
	}
	if len(body) > MaxFrame {
		// The client gets a frame over the limit and closes with 1009.
		c.open = false
		s.oversize++
		w.WriteHeader(http.StatusOK)
		return
	}
	c.frames = append(c.frames, body)
	c.lastActiveAt = time.Now().UTC()
	s.frames++
	s.lastFrame = c.lastActiveAt
	w.WriteHeader(http.StatusOK)
}

func (s *Server) takeFailureLocked(id string) (int, bool) {
	for i := range s.failures {
		f := &s.failures[i]
		if f.n <= 0 || (f.id != "" && f.id != id) {
			continue
		}
		f.n--
		status := f.status
		if f.n == 0 {
			s.failures = append(s.failures[:i], s.failures[i+1:]...)
		}
		return status, true
	}
	return 0, false
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, id string) {
	if !s.wait(r) {
		return
	}
	s.mu.Lock()
	c := s.conns[id]
	if c == nil || !c.open {
		s.mu.Unlock()
		writeGone(w)
		return
	}
	info := map[string]any{
		"connectedAt":  c.connectedAt.Format(time.RFC3339Nano),
		"identity":     map[string]string{"sourceIp": "192.0.2.1", "userAgent": "apigwtest"},
		"lastActiveAt": c.lastActiveAt.Format(time.RFC3339Nano),
	}
	s.mu.Unlock()
	b, _ := json.Marshal(info)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, id string) {
	if !s.wait(r) {
		return
	}
	s.mu.Lock()
	if status, ok := s.takeFailureLocked(id); ok {
		s.mu.Unlock()
		writeStatus(w, status)
		return
	}
	c := s.conns[id]
	if c == nil || !c.open {
		s.mu.Unlock()
		writeGone(w)
		return
	}
	c.open = false
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// writeStatus answers an injected failure.
func writeStatus(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusGone:
		writeGone(w)
	case http.StatusTooManyRequests:
		writeError(w, status, "LimitExceededException", `"Rate exceeded"`)
	case http.StatusForbidden:
		writeError(w, status, "ForbiddenException", `"Forbidden"`)
	case http.StatusRequestEntityTooLarge:
		writeError(w, status, "PayloadTooLargeException", `"Message too long"`)
	case http.StatusBadRequest:
		writeError(w, status, "BadRequestException", `"Bad request"`)
	default:
		writeError(w, status, "InternalServerErrorException", `"Internal server error"`)
	}
}

// writeGone answers as API Gateway does for a connection that is closed or
// never existed.
func writeGone(w http.ResponseWriter) {
	writeError(w, http.StatusGone, "GoneException", "null")
}

// writeError writes an AWS REST-JSON error: the type in x-amzn-ErrorType
// and {"message": …} (message is raw JSON: a string or null).
func writeError(w http.ResponseWriter, status int, errType, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-ErrorType", errType)
	w.WriteHeader(status)
	io.WriteString(w, `{"message":`+message+`}`)
}
