package awssetup

import "bucketdesk/internal/core"

// The Lambda bootstrap runs one of these roles, chosen by the
// environment variable BUCKETDESK_ROLE. deploy/template.yaml declares one
// function per role; a test checks the two agree.
const (
	RoleAPI               = "api"
	RoleWSAuthorizer      = "ws-authorizer"
	RoleWSConnect         = "ws-connect"
	RoleWSDisconnect      = "ws-disconnect"
	RoleWSDefault         = "ws-default"
	RoleEventsSNS         = "events-sns"
	RoleEventsEventBridge = "events-eventbridge"
	RoleWorker            = "worker"
	RoleReconcile         = "reconcile"
)

// LambdaRoles lists every role, in the order the template declares them.
var LambdaRoles = []string{
	RoleAPI, RoleWSAuthorizer, RoleWSConnect, RoleWSDisconnect, RoleWSDefault,
	RoleEventsSNS, RoleEventsEventBridge, RoleWorker, RoleReconcile,
}

// EnvVar is one environment variable of the AWS configuration.
type EnvVar struct {
	Name string
	// Roles that need it; nil means every role.
	Roles []string
	// Required: a role that needs it refuses to start without it.
	Required bool
	Doc      string
}

// The environment variables of the AWS configuration.
const (
	EnvRole           = "BUCKETDESK_ROLE"
	EnvTable          = "BUCKETDESK_TABLE"
	EnvQueueURL       = "BUCKETDESK_QUEUE_URL"
	EnvEventsTopicARN = "BUCKETDESK_EVENTS_TOPIC_ARN"
	EnvWSEndpoint     = "BUCKETDESK_WS_ENDPOINT"
	EnvUserPoolID     = "BUCKETDESK_COGNITO_USER_POOL_ID"
	EnvClientID       = "BUCKETDESK_COGNITO_CLIENT_ID"
	EnvCloudRate      = "BUCKETDESK_CLOUD_RATE"
	EnvMaxAttempts    = "BUCKETDESK_MAX_ATTEMPTS"
	EnvHistoryDays    = "BUCKETDESK_HISTORY_RETENTION_DAYS"
	EnvAuditDays      = "BUCKETDESK_AUDIT_RETENTION_DAYS"
	EnvLogLevel       = "BUCKETDESK_LOG_LEVEL"
	EnvAdminGroup     = "BUCKETDESK_ADMIN_GROUP"

	EnvLoginMaxFailures        = "BUCKETDESK_LOGIN_MAX_FAILURES"
	EnvLoginMaxAddressFailures = "BUCKETDESK_LOGIN_MAX_ADDRESS_FAILURES"
	EnvLoginWindow             = "BUCKETDESK_LOGIN_WINDOW"
)

// publishers are the roles whose code pushes real-time messages.
var publishers = []string{RoleAPI, RoleWSDefault, RoleEventsSNS, RoleEventsEventBridge, RoleWorker, RoleReconcile}

// auditWriters are the roles whose code writes audit records (each with
// its TTL): the API records requests, reveals and logins; the roles that
// end operations record their outcome; the reconciler also purges.
var auditWriters = []string{RoleAPI, RoleEventsSNS, RoleEventsEventBridge, RoleWorker, RoleReconcile}

// AWSEnv is every environment variable the AWS configuration reads (besides
// AWS_REGION, which Lambda sets).
var AWSEnv = []EnvVar{
	{Name: EnvRole, Required: true, Doc: "which handler the function runs: " + "api, ws-authorizer, ws-connect, ws-disconnect, ws-default, events-sns, events-eventbridge, worker or reconcile"},
	{Name: EnvTable, Required: true, Doc: "the DynamoDB table of the cache"},
	{Name: EnvQueueURL, Roles: []string{RoleAPI, RoleWorker}, Required: true, Doc: "the SQS queue of operations (the API enqueues; the worker re-enqueues throttled work)"},
	{Name: EnvEventsTopicARN, Roles: []string{RoleWorker}, Doc: "the SNS topic CloudFormation notifies (NotificationARNs); empty when EventBridge brings the events"},
	{Name: EnvWSEndpoint, Roles: publishers, Required: true, Doc: "the WebSocket API's management endpoint, https://{api-id}.execute-api.{region}.amazonaws.com/{stage}"},
	{Name: EnvUserPoolID, Roles: []string{RoleAPI}, Required: true, Doc: "the Cognito user pool whose JWKS verifies tokens"},
	{Name: EnvClientID, Roles: []string{RoleAPI}, Required: true, Doc: "the Cognito app client id (the tokens' audience)"},
	{Name: EnvAdminGroup, Roles: []string{RoleAPI}, Doc: "the Cognito group whose members administer the portal (default " + core.DefaultAdminGroup + ")"},
	{Name: EnvLoginMaxFailures, Roles: []string{RoleAPI}, Doc: "failed sign-ins one username may make from one client address per window, before Cognito is asked (default 5)"},
	{Name: EnvLoginMaxAddressFailures, Roles: []string{RoleAPI}, Doc: "failed sign-ins one client address may make per window across usernames (default 20; at least twice the above plus one)"},
	{Name: EnvLoginWindow, Roles: []string{RoleAPI}, Doc: "the window of the sign-in limits, a Go duration (default 1m)"},
	{Name: EnvCloudRate, Doc: "CloudFormation calls per second per project account (default 2)"},
	{Name: EnvMaxAttempts, Roles: []string{RoleWorker}, Doc: "the queue's maxReceiveCount, so the worker knows its last attempt (default 10)"},
	{Name: EnvHistoryDays, Roles: []string{RoleReconcile}, Doc: "days an ended operation stays in the history before the reconciler deletes it (default 365)"},
	{Name: EnvAuditDays, Roles: auditWriters, Doc: "days an audit record is kept: its DynamoDB TTL, and the reconciler's purge (default 400)"},
	{Name: EnvLogLevel, Doc: "debug, info, warn or error (default info)"},
}

// RoleAPIs lists the IAM actions each role's code calls. The template test
// checks that each function's role allows exactly them.
var RoleAPIs = map[string][]string{
	// The API reads and writes the cache, enqueues, publishes the lock,
	// and reads a key's secret in the project account for the one-time
	// reveal.
	RoleAPI:          append(storeActions(), "sqs:SendMessage", "execute-api:ManageConnections", "sts:AssumeRole"),
	RoleWSAuthorizer: {"dynamodb:DeleteItem"}, // TakeTicket
	// A connection is one item per project, replaced as a whole.
	RoleWSConnect:         {"dynamodb:Query", "dynamodb:BatchWriteItem"},
	RoleWSDisconnect:      {"dynamodb:Query", "dynamodb:BatchWriteItem"},
	RoleWSDefault:         {"execute-api:ManageConnections"},
	RoleEventsSNS:         append(storeActions(), "sts:AssumeRole", "execute-api:ManageConnections"),
	RoleEventsEventBridge: append(storeActions(), "sts:AssumeRole", "execute-api:ManageConnections"),
	RoleWorker: append(storeActions(), "sts:AssumeRole", "execute-api:ManageConnections",
		"sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"),
	RoleReconcile: append(storeActions(), "sts:AssumeRole", "execute-api:ManageConnections"),
}

// storeActions are the DynamoDB actions of the Store on DynamoDB; a
// publisher deletes a gone connection's items with BatchWriteItem.
func storeActions() []string {
	return []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:BatchWriteItem"}
}
