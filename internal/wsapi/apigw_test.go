package wsapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"bucketdesk/internal/auth"
	"bucketdesk/internal/clock"
	"bucketdesk/internal/core"
	"bucketdesk/internal/hub/apigwhub"
	"bucketdesk/internal/hub/apigwhub/apigwtest"
	"bucketdesk/internal/realtime"
	"bucketdesk/internal/store/boltstore"
	"bucketdesk/internal/wsapi"
)

// The events below are shaped as API Gateway sends them to the WebSocket
// Lambdas (REQUEST authorizer, $connect, $disconnect, $default), and are
// unmarshalled into the aws-lambda-go types, as the Lambda runtime does.

const authorizerEvent = `{
  "type": "REQUEST",
  "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abcdef123/default/$connect",
  "headers": {
    "Connection": "upgrade",
    "content-length": "0",
    "Host": "abcdef123.execute-api.us-east-1.amazonaws.com",
    "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
    "Upgrade": "websocket",
    "X-Amzn-Trace-Id": "Root=1-65ab0f1e-0123456789abcdef01234567",
    "X-Forwarded-For": "192.0.2.10",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Proto": "https"
  },
  "multiValueHeaders": {
    "Connection": ["upgrade"],
    "Host": ["abcdef123.execute-api.us-east-1.amazonaws.com"],
    "Upgrade": ["websocket"]
  },
  "queryStringParameters": %[1]s,
  "multiValueQueryStringParameters": %[2]s,
  "stageVariables": {},
  "requestContext": {
    "routeKey": "$connect",
    "eventType": "CONNECT",
    "extendedRequestId": "R1koeHsUtjMFbRw=",
    "requestTime": "20/Jan/2024:11:54:57 +0000",
    "messageDirection": "IN",
    "stage": "default",
    "connectedAt": 1705751697419,
    "requestTimeEpoch": 1705751697420,
    "identity": {"userAgent": "Mozilla/5.0", "sourceIp": "192.0.2.10"},
    "requestId": "R1koeHsUtjMFbRw=",
    "domainName": "abcdef123.execute-api.us-east-1.amazonaws.com",
    "connectionId": "R1kmxc2VNjMCFIA=",
    "apiId": "abcdef123"
  }
}`

// routeEvent is a $connect, $disconnect or $default event; authorizer is
// the requestContext.authorizer object API Gateway adds on every route of
// a connection whose $connect was authorized ("null" for none).
const routeEvent = `{
  "headers": {"Host": "abcdef123.execute-api.us-east-1.amazonaws.com", "X-Forwarded-For": "192.0.2.10"},
  "multiValueHeaders": {"Host": ["abcdef123.execute-api.us-east-1.amazonaws.com"]},
  "requestContext": {
    "routeKey": %[1]q,
    "eventType": %[2]q,
    "extendedRequestId": "R1lB0dAfNjMCFxw=",
    "requestTime": "20/Jan/2024:11:55:01 +0000",
    "messageDirection": "IN",
    "stage": "default",
    "connectedAt": 1705751697419,
    "requestTimeEpoch": 1705751701000,
    "identity": {"userAgent": "Mozilla/5.0", "sourceIp": "192.0.2.10"},
    "requestId": "R1lB0dAfNjMCFxw=",
    "domainName": "abcdef123.execute-api.us-east-1.amazonaws.com",
    "connectionId": %[3]q,
    "apiId": "abcdef123",
    "authorizer": %[4]s
  },
  "body": %[5]s,
  "isBase64Encoded": false
}`

const aliceContext = `{"principalId": "alice", "user": "alice", "projects": "p1,p2", "integrationLatency": 12}`

func authorizerRequest(t *testing.T, ticket string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	t.Helper()
	q, mq := "{}", "{}"
	if ticket != "" {
		q = fmt.Sprintf(`{"ticket": %q}`, ticket)
		mq = fmt.Sprintf(`{"ticket": [%q]}`, ticket)
	}
	var req events.APIGatewayCustomAuthorizerRequestTypeRequest
	if err := json.Unmarshal(fmt.Appendf(nil, authorizerEvent, q, mq), &req); err != nil {
		t.Fatal(err)
	}
	return req
}

func routeRequest(t *testing.T, route, connectionID, authorizer, body string) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	eventType := map[string]string{"$connect": "CONNECT", "$disconnect": "DISCONNECT", "$default": "MESSAGE"}[route]
	b := "null"
	if body != "" {
		bb, _ := json.Marshal(body)
		b = string(bb)
	}
	var req events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(fmt.Appendf(nil, routeEvent, route, eventType, connectionID, authorizer, b), &req); err != nil {
		t.Fatal(err)
	}
	return req
}

type apigwEnv struct {
	lambdas *wsapi.APIGW
	tickets *auth.Tickets
	store   *boltstore.Store
	clock   *clock.Manual
	fake    *apigwtest.Server
	hub     *apigwhub.Hub
}

func newAPIGWEnv(t *testing.T) *apigwEnv {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewManual(time.Date(2026, 1, 20, 11, 54, 57, 0, time.UTC))
	fake := apigwtest.NewServer(t)
	hub := apigwhub.New(fake.Client(), st, &apigwhub.Options{Clock: clk, Backoff: time.Millisecond})
	tickets := auth.NewTickets(st, &auth.TicketOptions{Clock: clk.Now})
	return &apigwEnv{
		lambdas: &wsapi.APIGW{Store: st, Tickets: tickets, Post: hub.Post, Clock: clk},
		tickets: tickets, store: st, clock: clk, fake: fake, hub: hub,
	}
}

func (e *apigwEnv) issue(t *testing.T, user string, projects ...string) string {
	t.Helper()
	tk, _, err := e.tickets.Issue(context.Background(), core.Principal{User: user}, projects)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func (e *apigwEnv) connections(t *testing.T, project string, at time.Time) []*core.Connection {
	t.Helper()
	cs, err := e.store.ListConnections(context.Background(), project, at)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestAPIGWAuthorizerAllowsATicketOnce(t *testing.T) {
	e := newAPIGWEnv(t)
	ticket := e.issue(t, "alice", "p1", "p2")
	req := authorizerRequest(t, ticket)

	resp, err := e.lambdas.Authorize(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.PrincipalID != "alice" {
		t.Errorf("principalId = %q", resp.PrincipalID)
	}
	if resp.Context["user"] != "alice" || resp.Context["projects"] != "p1,p2" {
		t.Errorf("context = %v", resp.Context)
	}
	// The JSON API Gateway reads.
	b, _ := json.Marshal(resp)
	var out struct {
		PrincipalID    string `json:"principalId"`
		PolicyDocument struct {
			Version   string
			Statement []struct {
				Action   []string
				Effect   string
				Resource []string
			}
		} `json:"policyDocument"`
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	st := out.PolicyDocument.Statement
	if out.PolicyDocument.Version != "2012-10-17" || len(st) != 1 || st[0].Effect != "Allow" ||
		!slices.Equal(st[0].Action, []string{"execute-api:Invoke"}) || !slices.Equal(st[0].Resource, []string{req.MethodArn}) {
		t.Errorf("policy = %s", b)
	}

	// Single use: the same ticket again is a 401.
	if _, err := e.lambdas.Authorize(context.Background(), req); err == nil || err.Error() != "Unauthorized" {
		t.Errorf("second use = %v, want the error \"Unauthorized\"", err)
	}
}

func TestAPIGWAuthorizerRefusesBadTickets(t *testing.T) {
	e := newAPIGWEnv(t)
	expired := e.issue(t, "alice", "p1")
	e.clock.Advance(auth.DefaultTicketTTL)
	for name, ticket := range map[string]string{
		"missing": "",
		"forged":  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"garbage": "not-a-ticket",
		"expired": expired,
	} {
		_, err := e.lambdas.Authorize(context.Background(), authorizerRequest(t, ticket))
		if err == nil || err.Error() != "Unauthorized" {
			t.Errorf("%s ticket: %v, want the error \"Unauthorized\"", name, err)
		}
	}
}

type redeemFunc func(context.Context, string) (core.Principal, []string, error)

func (f redeemFunc) Redeem(ctx context.Context, t string) (core.Principal, []string, error) {
	return f(ctx, t)
}

func TestAPIGWAuthorizerStoreFailureIsNotA401(t *testing.T) {
	down := redeemFunc(func(context.Context, string) (core.Principal, []string, error) {
		return core.Principal{}, nil, fmt.Errorf("injected: %w", core.ErrUnavailable)
	})
	_, err := wsapi.Authorizer(down)(context.Background(), authorizerRequest(t, "some-ticket"))
	if err == nil || err.Error() == "Unauthorized" || !errors.Is(err, core.ErrUnavailable) {
		t.Errorf("authorizer with the store down = %v, want an error other than Unauthorized (a 500)", err)
	}
}

func TestAPIGWConnectRegistersWithTTL(t *testing.T) {
	e := newAPIGWEnv(t)
	now := e.clock.Now()
	resp, err := e.lambdas.Connect(context.Background(), routeRequest(t, "$connect", "R1kmxc2VNjMCFIA=", aliceContext, ""))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Connect = %d, %v", resp.StatusCode, err)
	}
	for _, p := range []string{"p1", "p2"} {
		cs := e.connections(t, p, now)
		if len(cs) != 1 {
			t.Fatalf("%s connections = %v", p, cs)
		}
		c := cs[0]
		if c.ID != "R1kmxc2VNjMCFIA=" || c.User != "alice" || !slices.Equal(c.Projects, []string{"p1", "p2"}) ||
			!c.ConnectedAt.Equal(now) || !c.ExpiresAt.Equal(now.Add(2*time.Hour)) {
			t.Errorf("connection = %+v", c)
		}
	}
	if cs := e.connections(t, "p3", now); len(cs) != 0 {
		t.Errorf("p3 connections = %v", cs)
	}
	if cs := e.connections(t, "p1", now.Add(2*time.Hour+time.Second)); len(cs) != 0 {
		t.Errorf("connections past the TTL = %v, want none", cs)
	}
}

func TestAPIGWConnectWithoutAuthorizerIsRefused(t *testing.T) {
	e := newAPIGWEnv(t)
	resp, err := e.lambdas.Connect(context.Background(), routeRequest(t, "$connect", "c1", "null", ""))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("Connect without authorizer context = %d, %v, want 401", resp.StatusCode, err)
	}
}

func TestAPIGWDisconnectDeletes(t *testing.T) {
	e := newAPIGWEnv(t)
	ctx := context.Background()
	if _, err := e.lambdas.Connect(ctx, routeRequest(t, "$connect", "c1", aliceContext, "")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.lambdas.Connect(ctx, routeRequest(t, "$connect", "c2", aliceContext, "")); err != nil {
		t.Fatal(err)
	}
	resp, err := e.lambdas.Disconnect(ctx, routeRequest(t, "$disconnect", "c1", aliceContext, ""))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Disconnect = %d, %v", resp.StatusCode, err)
	}
	cs := e.connections(t, "p1", e.clock.Now())
	if len(cs) != 1 || cs[0].ID != "c2" {
		t.Errorf("connections after disconnect = %v, want c2 only", cs)
	}
	// Twice, or for a connection never stored: still 200.
	if resp, err := e.lambdas.Disconnect(ctx, routeRequest(t, "$disconnect", "c1", "null", "")); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("second Disconnect = %d, %v", resp.StatusCode, err)
	}
}

func TestAPIGWDefaultAnswersPingAndHello(t *testing.T) {
	e := newAPIGWEnv(t)
	ctx := context.Background()
	id := "R1kmxc2VNjMCFIA="
	e.fake.Register(id)

	for _, body := range []string{`{"type":"ping"}`, `{"type":"nonsense"}`, `not json`, `{"type":"hello"}`} {
		resp, err := e.lambdas.Default(ctx, routeRequest(t, "$default", id, aliceContext, body))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("Default(%s) = %d, %v", body, resp.StatusCode, err)
		}
	}
	fs := e.fake.Frames(id)
	if len(fs) != 2 {
		t.Fatalf("frames = %q, want pong and hello", fs)
	}
	if string(fs[0]) != `{"type":"pong"}` {
		t.Errorf("answer to ping = %s", fs[0])
	}
	var hello struct {
		Type     string   `json:"type"`
		User     string   `json:"user"`
		Projects []string `json:"projects"`
		Limits   struct {
			MaxFrame     int   `json:"max_frame"`
			IdleTimeoutS int64 `json:"idle_timeout_s"`
			MaxAgeS      int64 `json:"max_age_s"`
		} `json:"limits"`
	}
	if err := json.Unmarshal(fs[1], &hello); err != nil {
		t.Fatal(err)
	}
	if hello.Type != "hello" || hello.User != "alice" || !slices.Equal(hello.Projects, []string{"p1", "p2"}) ||
		hello.Limits.MaxFrame != 32768 || hello.Limits.IdleTimeoutS != 600 || hello.Limits.MaxAgeS != 7200 {
		t.Errorf("hello = %s", fs[1])
	}
	if want := wsapi.HelloFrame("alice", []string{"p1", "p2"}, wsapi.Limits{MaxAge: 2 * time.Hour}); !bytes.Equal(fs[1], want) {
		t.Errorf("hello = %s, want %s", fs[1], want)
	}

	// A ping from a connection API Gateway no longer knows fails visibly.
	e.fake.Close(id)
	if _, err := e.lambdas.Default(ctx, routeRequest(t, "$default", id, aliceContext, `{"type":"ping"}`)); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("ping on a gone connection = %v, want ErrNotFound", err)
	}
}

// TestAPIGWTicketToFrame runs the AWS path end to end: a ticket, the
// authorizer, $connect with the context API Gateway builds from the
// authorizer's answer, then a publish that reaches the connection.
func TestAPIGWTicketToFrame(t *testing.T) {
	e := newAPIGWEnv(t)
	ctx := context.Background()
	allow, err := e.lambdas.Authorize(ctx, authorizerRequest(t, e.issue(t, "bob", "p1")))
	if err != nil {
		t.Fatal(err)
	}
	authCtx := map[string]any{"principalId": allow.PrincipalID, "integrationLatency": 3}
	for k, v := range allow.Context {
		authCtx[k] = v
	}
	ac, _ := json.Marshal(authCtx)
	id := "TWegAcC4EowCHnA="
	e.fake.Register(id) // API Gateway opens the socket once $connect answers 200
	if resp, err := e.lambdas.Connect(ctx, routeRequest(t, "$connect", id, string(ac), "")); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("Connect = %d, %v", resp.StatusCode, err)
	}
	msg := core.Message{Type: core.MsgResourceDeleted, Project: "p1", Kind: core.KindBucket, Name: "data", Version: 7}
	if err := e.hub.Publish(ctx, "p1", msg); err != nil {
		t.Fatal(err)
	}
	fs := e.fake.Frames(id)
	if len(fs) != 1 || !bytes.Equal(fs[0], realtime.Encode(msg, 32768)) {
		t.Errorf("frames = %q", fs)
	}
}
