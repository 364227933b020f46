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
