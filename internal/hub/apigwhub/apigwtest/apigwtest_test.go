package apigwtest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"bucketdesk/internal/hub/apigwhub/apigwtest"
)

func TestConnectionLifecycleThroughTheSDK(t *testing.T) {
	s := apigwtest.NewServer(t)
	c := s.Client()
	ctx := context.Background()
	id := "TWegAcC4EowCHnA="
	s.Register(id)

	info, err := c.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if info.ConnectedAt == nil || info.LastActiveAt == nil || info.Identity == nil || aws.ToString(info.Identity.SourceIp) == "" {
		t.Errorf("GetConnection = %+v", info)
	}
	if _, err := c.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	if got := s.Frames(id); len(got) != 1 || string(got[0]) != `{"a":1}` {
		t.Errorf("frames = %q", got)
	}
	if _, err := c.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if s.Open(id) {
		t.Error("connection still open after DeleteConnection")
	}

	var gone *types.GoneException
	_, err = c.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte("x")})
	if !errors.As(err, &gone) {
		t.Errorf("post after delete = %v, want GoneException", err)
	}
	_, err = c.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
	if !errors.As(err, &gone) {
		t.Errorf("get after delete = %v, want GoneException", err)
	}
	_, err = c.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(id)})
	if !errors.As(err, &gone) {
		t.Errorf("delete after delete = %v, want GoneException", err)
	}
}

func TestInjectedFailures(t *testing.T) {
	s := apigwtest.NewServer(t)
	c := s.Client()
	ctx := context.Background()
	s.Register("c1")
	s.Fail("c1", 1, http.StatusTooManyRequests)
	s.Fail("", 1, http.StatusInternalServerError)

	post := func() error {
		_, err := c.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("c1"), Data: []byte("x")})
		return err
	}
	var limit *types.LimitExceededException
	if err := post(); !errors.As(err, &limit) {
		t.Errorf("first post = %v, want LimitExceededException", err)
	}
	var re interface{ HTTPStatusCode() int }
	if err := post(); !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusInternalServerError {
		t.Errorf("second post = %v, want a 500", err)
	}
	if err := post(); err != nil {
		t.Errorf("third post = %v, want success", err)
	}
	if n := s.Posts(); n != 3 {
		t.Errorf("posts = %d", n)
	}
	if n := len(s.Frames("c1")); n != 1 {
		t.Errorf("frames = %d, want 1", n)
	}
}

func TestAnswersAsAPIGateway(t *testing.T) {
	s := apigwtest.NewServer(t)
	for _, tc := range []struct {
		name, path string
		signed     bool
		status     int
		errType    string
		body       string
	}{
		{"unsigned", "/" + apigwtest.Stage + "/@connections/c1", false, 403, "ForbiddenException", `{"message":"Missing Authentication Token"}`},
		{"wrong stage", "/prod/@connections/c1", true, 403, "ForbiddenException", `{"message":"Forbidden"}`},
		{"unknown connection", "/" + apigwtest.Stage + "/@connections/nope", true, 410, "GoneException", `{"message":null}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, strings.TrimSuffix(s.Endpoint, "/"+apigwtest.Stage)+tc.path, strings.NewReader("x"))
			if tc.signed {
				req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/execute-api/aws4_request, SignedHeaders=host, Signature=0")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || resp.Header.Get("x-amzn-ErrorType") != tc.errType || string(b) != tc.body {
				t.Errorf("got %d %q %s, want %d %q %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), b, tc.status, tc.errType, tc.body)
			}
			if resp.Header.Get("x-amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId")
			}
		})
	}
}

func TestHoldHoldsOneConnection(t *testing.T) {
	s := apigwtest.NewServer(t)
	c := s.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.Register("slow")
	s.Register("fast")
	release := s.Hold("slow")

	post := func(id string) error {
		_, err := c.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte(id)})
		return err
	}
	held := make(chan error, 1)
	go func() { held <- post("slow") }()
	if err := s.WaitInFlight(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := post("fast"); err != nil {
		t.Fatalf("post to another connection while one is held = %v", err)
	}
	if got := s.Frames("slow"); len(got) != 0 {
		t.Errorf("held post answered: frames %q", got)
	}
	release()
	release() // twice is harmless
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if got := s.Frames("slow"); len(got) != 1 || string(got[0]) != "slow" {
		t.Errorf("frames after release = %q", got)
	}
}

// A post's payload is at most 128 KB (413 PayloadTooLargeException); one
// over 32 KB, a WebSocket frame's limit, is accepted and closes the
// connection, as its client closes with 1009.
func TestPayloadAndFrameLimits(t *testing.T) {
	s := apigwtest.NewServer(t)
	c := s.Client()
	ctx := context.Background()
	post := func(id string, n int) error {
		_, err := c.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String(id), Data: []byte(strings.Repeat("x", n))})
		return err
	}
	s.Register("c1")
	var tooLarge *types.PayloadTooLargeException
	if err := post("c1", apigwtest.MaxPayload+1); !errors.As(err, &tooLarge) {
		t.Errorf("post of 128 KB + 1 = %v, want PayloadTooLargeException", err)
	}
	if err := post("c1", apigwtest.MaxFrame); err != nil || len(s.Frames("c1")) != 1 || !s.Open("c1") {
		t.Errorf("post of 32 KB = %v, frames %d, open %v; want delivered", err, len(s.Frames("c1")), s.Open("c1"))
	}
	if err := post("c1", apigwtest.MaxFrame+1); err != nil {
		t.Errorf("post of 32 KB + 1 = %v, want accepted", err)
	}
	if s.Open("c1") || len(s.Frames("c1")) != 1 || s.Oversize() != 1 {
		t.Errorf("after a frame over 32 KB: open %v, frames %d, oversize %d; want closed, 1, 1", s.Open("c1"), len(s.Frames("c1")), s.Oversize())
	}
	var gone *types.GoneException
	if err := post("c1", 1); !errors.As(err, &gone) {
		t.Errorf("post after the oversize frame = %v, want GoneException", err)
	}
	if n, last := s.Delivered(); n != 1 || last.IsZero() {
		t.Errorf("Delivered = %d, %v; want 1 frame", n, last)
	}
}

// Beyond the account's throttle every request is 429
// LimitExceededException.
func TestThrottle(t *testing.T) {
	s := apigwtest.NewServer(t)
	s.SetThrottle(0.001, 3) // no refill within the test
	c := s.Client()
	ctx := context.Background()
	s.Register("c1")
	var limit *types.LimitExceededException
	for i := range 5 {
		_, err := c.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("c1"), Data: []byte("x")})
		if i < 3 && err != nil {
			t.Errorf("request %d within the bucket = %v", i, err)
		}
		if i >= 3 && !errors.As(err, &limit) {
			t.Errorf("request %d beyond the bucket = %v, want LimitExceededException", i, err)
		}
	}
	if _, err := c.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String("c1")}); !errors.As(err, &limit) {
		t.Errorf("delete beyond the bucket = %v, want LimitExceededException", err)
	}
	if n := s.Throttled(); n != 3 {
		t.Errorf("throttled = %d, want 3", n)
	}
	if !s.Open("c1") || len(s.Frames("c1")) != 3 {
		t.Errorf("open %v, frames %d; want open, 3", s.Open("c1"), len(s.Frames("c1")))
	}
}

// SetLatency keeps every request in flight for its latency.
func TestLatencyKeepsRequestsInFlight(t *testing.T) {
	s := apigwtest.NewServer(t)
	s.SetLatency(time.Hour)
	c := s.Client()
	s.Register("c1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pctx, pcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := c.PostToConnection(pctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("c1"), Data: []byte("x")})
		done <- err
	}()
	if err := s.WaitInFlight(ctx, 1); err != nil {
		t.Fatal(err)
	}
	pcancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("post cancelled during the latency = %v", err)
	}
	if n := len(s.Frames("c1")); n != 0 {
		t.Errorf("frames = %d, want 0: the post never got through its latency", n)
	}
	s.SetLatency(0)
	if _, err := c.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("c1"), Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
}
