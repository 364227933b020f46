package wsapi

// The real-time protocol on AWS: API Gateway's WebSocket API holds the
// sockets and invokes a Lambda per event. The $connect route is guarded by
// a REQUEST authorizer that redeems the ticket (Authorizer); $connect
// registers the connection in the store with a TTL, so that apigwhub finds
// it by project (APIGW.Connect); $disconnect removes it, best effort
// (APIGW.Disconnect); $default answers a client's ping and hello
// (APIGW.Default). Frames are the same JSON as the local endpoint's.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"bucketdesk/internal/core"
	"bucketdesk/internal/realtime"
)

// HelloFrame returns the first frame of a connection, as the local endpoint
// sends it (realtime.Hello). Zero fields of l take their DefaultLimits
// values.
func HelloFrame(user string, projects []string, l Limits) []byte {
	return l.withDefaults().hello(user, projects).Encode()
}

// Authorizer context keys set by Authorizer and read by Connect and Default.
// API Gateway passes an authorizer's context to every route of the
// connection, as requestContext.authorizer (with principalId added).
const (
	AuthContextUser     = "user"
	AuthContextProjects = "projects"
)

// errUnauthorized is the error with which a Lambda authorizer makes API
// Gateway answer 401: the message must be exactly "Unauthorized". Any other
// error is a 500; a Deny policy is a 403.
//
//lint:ignore ST1005 API Gateway matches this exact message.
var errUnauthorized = errors.New("Unauthorized")

// Authorizer returns the $connect REQUEST authorizer: it redeems the
// single-use `ticket` query parameter and allows the connection, with the
// user as principalId and a context carrying the user and the projects
// (comma-joined; project ids are slugs without commas). A missing, used or
// expired ticket returns the error "Unauthorized" (API Gateway answers
// 401); a store failure returns another error (API Gateway answers 500,
// and the client retries with a new ticket).
//
// Authorizer caching must stay off (TTL 0): a ticket is single use, and a
// cached Allow would let it open a second connection.
func Authorizer(tickets TicketRedeemer) func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	return func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		ticket := req.QueryStringParameters["ticket"]
		if ticket == "" {
			if vs := req.MultiValueQueryStringParameters["ticket"]; len(vs) > 0 {
				ticket = vs[0]
			}
		}
		if ticket == "" {
			return events.APIGatewayCustomAuthorizerResponse{}, errUnauthorized
		}
		who, projects, err := tickets.Redeem(ctx, ticket)
		switch {
		case err == nil:
		case errors.Is(err, core.ErrUnauthenticated), errors.Is(err, core.ErrNotFound):
			return events.APIGatewayCustomAuthorizerResponse{}, errUnauthorized
		default:
			return events.APIGatewayCustomAuthorizerResponse{}, fmt.Errorf("wsapi: authorizer: redeem ticket: %w", err)
		}
		if who.User == "" {
			return events.APIGatewayCustomAuthorizerResponse{}, errUnauthorized
		}
		return events.APIGatewayCustomAuthorizerResponse{
			PrincipalID: who.User,
			PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
				Version: "2012-10-17",
				Statement: []events.IAMPolicyStatement{{
					Action:   []string{"execute-api:Invoke"},
					Effect:   "Allow",
					Resource: []string{req.MethodArn},
				}},
			},
			Context: map[string]any{
				AuthContextUser:     who.User,
				AuthContextProjects: strings.Join(projects, ","),
			},
		}, nil
	}
}

// APIGW holds the WebSocket Lambdas of API Gateway: one value, one method
// per route. Store, Post and, for Authorize, Tickets are required.
type APIGW struct {
	// Store registers connections (PutConnection, DeleteConnection).
	Store core.ConnectionStore
	// Tickets redeems the ticket of each $connect, in Authorize.
	Tickets TicketRedeemer
	// Post sends one frame to one connection (apigwhub.Hub.Post: the
	// @connections API's PostToConnection).
	Post func(ctx context.Context, connectionID string, data []byte) error
	// Clock tells the time of registrations; nil is the system clock.
	Clock core.Clock
	// MaxAge is how long a connection item lives (its TTL): API Gateway's
	// maximum connection duration, 2 h, when zero.
	MaxAge time.Duration
	// Logger receives failures of best-effort steps; nil discards them.
	Logger *slog.Logger
}

// DefaultMaxAge is API Gateway's maximum WebSocket connection duration.
const DefaultMaxAge = 2 * time.Hour

func (a *APIGW) now() time.Time {
	if a.Clock == nil {
		return time.Now()
	}
	return a.Clock.Now()
}

func (a *APIGW) maxAge() time.Duration {
	if a.MaxAge <= 0 {
		return DefaultMaxAge
	}
	return a.MaxAge
}

func (a *APIGW) log() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}

// limits are API Gateway's limits, as the hello frame tells them.
func (a *APIGW) limits() Limits {
	l := DefaultLimits()
	l.MaxAge = a.maxAge()
	return l
}

// Authorize is the $connect REQUEST authorizer; see Authorizer.
func (a *APIGW) Authorize(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	return Authorizer(a.Tickets)(ctx, req)
}

// Connect handles $connect, after the authorizer allowed it: it registers
// the connection under the user's projects with a TTL of MaxAge and answers
// 200. Without an authorizer context (a misconfigured route) it answers
// 401, and API Gateway refuses the connection. A store failure is an error
// (API Gateway answers 500; the client reconnects).
func (a *APIGW) Connect(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	id := req.RequestContext.ConnectionID
	user, projects, ok := authContext(req.RequestContext.Authorizer)
	if !ok || id == "" {
		return events.APIGatewayProxyResponse{StatusCode: http.StatusUnauthorized}, nil
	}
	now := a.now()
	err := a.Store.PutConnection(ctx, &core.Connection{
		ID:          id,
		User:        user,
		Projects:    projects,
		ConnectedAt: now,
		ExpiresAt:   now.Add(a.maxAge()),
	})
	if err != nil {
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, fmt.Errorf("wsapi: $connect %s: %w", id, err)
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}

// Disconnect handles $disconnect: it removes the connection from the store.
// API Gateway delivers $disconnect on a best-effort basis, so a failure is
// logged, not returned: the item expires anyway, and a post to it answers
// 410, which deletes it.
func (a *APIGW) Disconnect(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	id := req.RequestContext.ConnectionID
	if id != "" {
		if err := a.Store.DeleteConnection(ctx, id); err != nil {
			a.log().Warn("ws $disconnect: delete connection", "connection", id, "err", err)
		}
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}

// Default handles $default, every client message: {"type":"ping"} is
// answered with {"type":"pong"}, {"type":"hello"} and {"type":"subscribe"}
// with the hello frame; anything else is ignored, as the local endpoint
// does. A failed post is an error (logged by Lambda); the client's own
// ping timeout takes over.
func (a *APIGW) Default(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	ok := events.APIGatewayProxyResponse{StatusCode: http.StatusOK}
	id := req.RequestContext.ConnectionID
	if req.IsBase64Encoded {
		return ok, nil // binary: ignored
	}
	typ := realtime.ClientType([]byte(req.Body))
	var frame []byte
	switch typ {
	case realtime.TypePing:
		frame = realtime.Pong()
	case realtime.TypeHello, "subscribe":
		user, projects, _ := authContext(req.RequestContext.Authorizer)
		frame = HelloFrame(user, projects, a.limits())
	default:
		return ok, nil
	}
	if err := a.Post(ctx, id, frame); err != nil {
		return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, fmt.Errorf("wsapi: $default %s %s: %w", typ, id, err)
	}
	return ok, nil
}

// authContext reads the user and projects that Authorizer put into the
// authorizer context; API Gateway hands it over as a JSON object (a
// map[string]any once unmarshalled). ok is false when there is no user.
func authContext(v any) (user string, projects []string, ok bool) {
	m, _ := v.(map[string]any)
	if m == nil {
		return "", nil, false
	}
	user, _ = m[AuthContextUser].(string)
	if user == "" {
		user, _ = m["principalId"].(string)
	}
	projects = []string{}
	if s, _ := m[AuthContextProjects].(string); s != "" {
		projects = strings.Split(s, ",")
	}
	return user, projects, user != ""
}
