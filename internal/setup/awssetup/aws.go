// Package awssetup wires bucketdesk on AWS, one Lambda role at a time
// (cmd/bucketdesk-lambda): DynamoDB for the cache, SQS for the queue, API
// Gateway's @connections for the hub, CloudFormation (paced) in the project
// accounts, Cognito's keys for identity. It reads its configuration from
// the environment (awsenv.go) and imports nothing of the local binary.
package awssetup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"bucketdesk/internal/auth"
	"bucketdesk/internal/cfnevent"
	"bucketdesk/internal/cloud/cfncloud"
	"bucketdesk/internal/cloud/paced"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/httpapi"
	"bucketdesk/internal/hub/apigwhub"
	"bucketdesk/internal/queue/sqsqueue"
	"bucketdesk/internal/store/dynamostore"
	"bucketdesk/internal/wsapi"
)

// AWSConfig is the configuration of one Lambda function, read from its
// environment (see AWSEnv).
type AWSConfig struct {
	Role           string
	Region         string
	Table          string
	QueueURL       string
	EventsTopicARN string
	WSEndpoint     string
	UserPoolID     string
	ClientID       string
	CloudRate      float64
	MaxAttempts    int
	// AdminGroup is the Cognito group of the portal's administrators
	// ("": core.DefaultAdminGroup).
	AdminGroup string
	// HistoryRetention is how long ended operations stay in the history
	// (0: the engine's default).
	HistoryRetention time.Duration
	// AuditRetention is how long audit records are kept (0: the engine's
	// default): the TTL of each record, and the reconciler's purge.
	AuditRetention time.Duration
	// LoginLimits limit failed sign-ins through POST /auth/login in front
	// of Cognito, per API function instance (zero fields: auth's
	// defaults).
	LoginLimits auth.LimitOptions
	LogLevel    slog.Level
}

// LoadAWSConfig reads the configuration from getenv and checks that
// everything the role needs is there, naming what is missing.
func LoadAWSConfig(getenv func(string) string) (AWSConfig, error) {
	c := AWSConfig{
		Role: getenv(EnvRole), Region: getenv("AWS_REGION"), Table: getenv(EnvTable), QueueURL: getenv(EnvQueueURL),
		EventsTopicARN: getenv(EnvEventsTopicARN), WSEndpoint: getenv(EnvWSEndpoint),
		UserPoolID: getenv(EnvUserPoolID), ClientID: getenv(EnvClientID), CloudRate: 2, MaxAttempts: 10,
		AdminGroup: getenv(EnvAdminGroup),
	}
	var problems []string
	if !slices.Contains(LambdaRoles, c.Role) {
		problems = append(problems, fmt.Sprintf("%s must be one of %s, got %q", EnvRole, strings.Join(LambdaRoles, ", "), c.Role))
	}
	if c.Region == "" {
		problems = append(problems, "AWS_REGION is not set")
	}
	for _, v := range AWSEnv {
		if v.Name == EnvRole {
			continue // checked above
		}
		if v.Required && (v.Roles == nil || slices.Contains(v.Roles, c.Role)) && getenv(v.Name) == "" {
			problems = append(problems, v.Name+" is required: "+v.Doc)
		}
	}
	if s := getenv(EnvCloudRate); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r <= 0 {
			problems = append(problems, EnvCloudRate+" must be a positive number of calls per second")
		}
		c.CloudRate = r
	}
	if s := getenv(EnvMaxAttempts); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			problems = append(problems, EnvMaxAttempts+" must be a positive integer")
		}
		c.MaxAttempts = n
	}
	if s := getenv(EnvHistoryDays); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			problems = append(problems, EnvHistoryDays+" must be a positive number of days")
		}
		c.HistoryRetention = time.Duration(n) * 24 * time.Hour
	}
	if s := getenv(EnvAuditDays); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			problems = append(problems, EnvAuditDays+" must be a positive number of days")
		}
		c.AuditRetention = time.Duration(n) * 24 * time.Hour
	}
	for name, dst := range map[string]*int{EnvLoginMaxFailures: &c.LoginLimits.MaxFailures, EnvLoginMaxAddressFailures: &c.LoginLimits.MaxAddressFailures} {
		if s := getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				problems = append(problems, name+" must be a positive integer")
			}
			*dst = n
		}
	}
	if s := getenv(EnvLoginWindow); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			problems = append(problems, EnvLoginWindow+" must be a positive duration, e.g. 1m")
		}
		c.LoginLimits.Window = d
	}
	if s := getenv(EnvLogLevel); s != "" {
		if err := c.LogLevel.UnmarshalText([]byte(s)); err != nil {
			problems = append(problems, EnvLogLevel+": "+err.Error())
		}
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("%w: %s", core.ErrInvalid, strings.Join(problems, "; "))
	}
	return c, nil
}

// AWSClients are the AWS SDK clients the adapters use. In a function they
// come from the Lambda's own credentials; tests point them at stand-ins.
type AWSClients struct {
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	// Cognito signs users in for POST /auth/login (nil: no login route).
	Cognito *cip.Client
	// Management posts to WebSocket connections (nil without an endpoint).
	Management *apigatewaymanagementapi.Client
	// Base is the configuration from which cfncloud assumes each project
	// account's role.
	Base aws.Config
	// CloudOptions overrides cfncloud's options (tests: endpoints).
	CloudOptions *cfncloud.Options
	// KeySource overrides the Cognito JWKS (tests: a local issuer's).
	KeySource auth.KeySource
	// Issuer overrides the Cognito issuer the tokens must name (tests).
	Issuer string
	HTTP   *http.Client
	Clock  core.Clock
}

// NewAWSClients builds the clients of a function from its configuration.
func NewAWSClients(cfg AWSConfig, base aws.Config) AWSClients {
	c := AWSClients{DynamoDB: dynamodb.NewFromConfig(base), SQS: sqs.NewFromConfig(base), Base: base}
	if cfg.Role == RoleAPI {
		c.Cognito = cip.NewFromConfig(base)
	}
	if cfg.WSEndpoint != "" {
		c.Management = apigatewaymanagementapi.NewFromConfig(base, func(o *apigatewaymanagementapi.Options) {
			o.BaseEndpoint = aws.String(cfg.WSEndpoint)
			// apigwhub retries a post itself (backoff, then it closes the
			// connection it gave up on); the SDK's own attempts would
			// multiply its own.
			o.RetryMaxAttempts = 1
			// A publish keeps up to apigwhub.DefaultConcurrency posts in
			// flight to this one host: keep that many connections open
			// between publishes (the SDK keeps 10), or each publish opens
			// and TLS-handshakes most of them again.
			if b, ok := o.HTTPClient.(*awshttp.BuildableClient); ok {
				o.HTTPClient = b.WithTransportOptions(func(t *http.Transport) {
					t.MaxIdleConnsPerHost = apigwhub.DefaultConcurrency
					t.MaxIdleConns = max(t.MaxIdleConns, 2*apigwhub.DefaultConcurrency)
				})
			}
		})
	}
	return c
}

// AWS is bucketdesk wired on AWS for one function.
type AWS struct {
	Config  AWSConfig
	Store   *dynamostore.Store
	Queue   *sqsqueue.Queue
	Hub     core.Hub
	Engine  *engine.Engine
	Auditor *engine.Auditor
	// Admin registers projects and manages their members; it closes
	// removed members' connections through API Gateway.
	Admin   *engine.Admin
	Tickets *auth.Tickets
	hub     *apigwhub.Hub
	clients AWSClients
	log     *slog.Logger
}

// OpenAWS wires the adapters of one function.
func OpenAWS(cfg AWSConfig, c AWSClients, log *slog.Logger) (*AWS, error) {
	if c.Clock == nil {
		c.Clock = core.SystemClock{}
	}
	auditRetention := cfg.AuditRetention
	if auditRetention <= 0 {
		auditRetention = engine.DefaultAuditRetention
	}
	store, err := dynamostore.New(c.DynamoDB, cfg.Table, &dynamostore.Options{AuditRetention: auditRetention})
	if err != nil {
		return nil, err
	}
	a := &AWS{Config: cfg, Store: store, clients: c, log: log, Tickets: auth.NewTickets(store, nil)}
	if cfg.QueueURL != "" {
		a.Queue = sqsqueue.New(c.SQS, cfg.QueueURL, nil)
	}
	a.Hub = noHub{}
	if c.Management != nil {
		a.hub = apigwhub.New(c.Management, store, &apigwhub.Options{Logger: log, Clock: c.Clock})
		a.Hub = a.hub
	}
	var co cfncloud.Options
	if c.CloudOptions != nil {
		co = *c.CloudOptions
	}
	if co.GetSecretValue == nil {
		co.GetSecretValue = readSecret
	}
	if co.Pace == nil {
		// Each CloudFormation request (each page too) is paced per
		// project account; counting a bucket's objects (S3) is not.
		co.Pace = paced.NewLimiter(cfg.CloudRate, 2*int(cfg.CloudRate)+1).Wait
	}
	cloud := cfncloud.New(c.Base, &co)
	var queue core.Queue = noQueue{}
	if a.Queue != nil {
		queue = a.Queue
	}
	a.Auditor = engine.NewAuditor(engine.AuditorOptions{Store: store, Projects: store, Hub: a.Hub, Clock: c.Clock, Logger: log})
	a.Engine = engine.New(engine.Options{
		Resources: store, Projects: store, Queue: queue, Cloud: cloud, Objects: cloud, Hub: a.Hub, Clock: c.Clock, Logger: log,
		TopicARN: cfg.EventsTopicARN, MaxAttempts: cfg.MaxAttempts, HistoryRetention: cfg.HistoryRetention,
		Auditor: a.Auditor, Audit: store, AuditRetention: auditRetention,
	})
	adm := engine.AdminOptions{Projects: store, Cloud: cloud, Auditor: a.Auditor, Clock: c.Clock, Logger: log}
	if a.hub != nil {
		adm.Disconnector = a.hub
	}
	a.Admin = engine.NewAdmin(adm)
	return a, nil
}

// Handler returns the Lambda handler of the configured role, a value
// lambda.Start accepts.
func (a *AWS) Handler() (any, error) {
	switch a.Config.Role {
	case RoleAPI:
		return a.apiHandler()
	case RoleWSAuthorizer:
		return a.apigw().Authorize, nil
	case RoleWSConnect:
		return a.apigw().Connect, nil
	case RoleWSDisconnect:
		return a.apigw().Disconnect, nil
	case RoleWSDefault:
		return a.apigw().Default, nil
	case RoleEventsSNS:
		return a.HandleSNS, nil
	case RoleEventsEventBridge:
		return a.HandleEventBridge, nil
	case RoleWorker:
		return a.Queue.Handler(a.Engine.Worker.Handle), nil
	case RoleReconcile:
		return a.HandleReconcile, nil
	}
	return nil, fmt.Errorf("%w: unknown role %q", core.ErrInvalid, a.Config.Role)
}

func (a *AWS) apiHandler() (func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error), error) {
	h, err := a.HTTPHandler()
	if err != nil {
		return nil, err
	}
	return httpadapter.NewV2(h).ProxyWithContext, nil
}

// HTTPHandler is the API's http.Handler, the same as the local server's,
// verifying Cognito's tokens through Cognito's JWKS.
func (a *AWS) HTTPHandler() (http.Handler, error) {
	keys := a.clients.KeySource
	issuer := a.clients.Issuer
	if keys == nil {
		keys = auth.NewHTTPKeySource(auth.CognitoJWKSURL(a.Config.Region, a.Config.UserPoolID), a.clients.HTTP, nil)
		issuer = auth.CognitoIssuer(a.Config.Region, a.Config.UserPoolID)
	}
	verifier := auth.NewVerifier(keys, auth.VerifierConfig{Issuer: issuer, Audience: a.Config.ClientID, AdminGroup: a.Config.AdminGroup})
	var login httpapi.RefreshingLoginFunc
	if a.clients.Cognito != nil {
		lim := a.Config.LoginLimits
		login = (&auth.CognitoLogin{Client: a.clients.Cognito, ClientID: a.Config.ClientID, Endpoint: auth.CognitoEndpoint(a.Config.Region),
			Limiter: auth.NewLoginLimiter(&lim)}).LoginWithRefresh
	}
	return httpapi.New(httpapi.Options{
		Service: a.Engine.Service, Admin: a.Admin, Auth: verifier, Tickets: a.Tickets, Logger: a.log, LoginWithRefresh: login,
		Auditor: a.Auditor, AuditTrail: a.Auditor,
		Links: engine.NewShareLinks(a.Engine.Service, engine.ShareLinkOptions{Store: a.Store, Auditor: a.Auditor}),
		Ready: func(ctx context.Context) error {
			_, err := a.Store.ListProjects(ctx)
			return err
		},
	}), nil
}

func (a *AWS) apigw() *wsapi.APIGW {
	post := func(context.Context, string, []byte) error {
		return fmt.Errorf("%w: no WebSocket management endpoint", core.ErrUnavailable)
	}
	if a.hub != nil {
		post = a.hub.Post
	}
	return &wsapi.APIGW{Store: a.Store, Tickets: a.Tickets, Post: post, Clock: a.clients.Clock, MaxAge: 2 * time.Hour, Logger: a.log}
}

// HandleSNS applies CloudFormation's SNS notifications to the mirror
// (engine.Mirror.Consume): an unreadable notification or an event that
// fails for good is dropped for the reconciler; one still failing
// transiently fails the invocation so that Lambda retries it.
func (a *AWS) HandleSNS(ctx context.Context, ev events.SNSEvent) error {
	var errs []error
	for _, rec := range ev.Records {
		errs = append(errs, a.Engine.Mirror.Consume(ctx, parseSNSMessage, []byte(rec.SNS.Message)))
	}
	return errors.Join(errs...)
}

// parseSNSMessage reads the message of a Lambda SNS record: the
// notification's text, its envelope already taken off by Lambda.
func parseSNSMessage(msg []byte) (core.StackEvent, error) { return cfnevent.ParseMessage(string(msg)) }

// HandleEventBridge applies one EventBridge CloudFormation status change,
// as HandleSNS does.
func (a *AWS) HandleEventBridge(ctx context.Context, body json.RawMessage) error {
	return a.Engine.Mirror.Consume(ctx, cfnevent.ParseEventBridge, body)
}

// HandleReconcile runs one reconcile pass (on a schedule).
func (a *AWS) HandleReconcile(ctx context.Context) error {
	s, err := a.Engine.Reconciler.Reconcile(ctx)
	a.log.Info("reconciled", "stacks", s.Stacks, "described", s.Described, "adopted", s.Adopted, "repaired", s.Repaired, "deleted", s.Deleted, "errors", s.Errors)
	return err
}

// noHub publishes nothing: functions without a WebSocket endpoint.
type noHub struct{}

func (noHub) Publish(context.Context, string, core.Message) error { return nil }

// noQueue is the queue of the functions configured without one (the
// event, reconcile and WebSocket roles): none of their handlers enqueue
// or receive jobs, and every call is ErrUnavailable.
type noQueue struct{}

var errNoQueue = fmt.Errorf("%w: this function has no queue", core.ErrUnavailable)

func (noQueue) Enqueue(context.Context, core.Job) error { return errNoQueue }

func (noQueue) Receive(context.Context, int, time.Duration) ([]core.Delivery, error) {
	return nil, errNoQueue
}

func (noQueue) Ack(context.Context, string) error { return errNoQueue }

func (noQueue) Retry(context.Context, string, time.Duration) error { return errNoQueue }

// readSecret reads a secret in a project account with that account's
// assumed-role configuration, for the one-time reveal of an access key.
// The value is returned to the caller only; errors never carry it.
func readSecret(ctx context.Context, cfg aws.Config, arn string) (string, error) {
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	var nf *smtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return "", fmt.Errorf("%w: secret %s: %w", core.ErrNotFound, arn, err)
	case err != nil:
		return "", fmt.Errorf("%w: secret %s: %w", core.ErrUnavailable, arn, err)
	}
	return aws.ToString(out.SecretString), nil
}
