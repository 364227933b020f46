package awssetup_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"bucketdesk/internal/auth"
	"bucketdesk/internal/cloud/cfncloud/cfntest"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/hub/apigwhub/apigwtest"
	"bucketdesk/internal/queue/sqsqueue/sqstest"
	"bucketdesk/internal/setup/awssetup"
	"bucketdesk/internal/stacks"
	"bucketdesk/internal/store/dynamostore/dynalitetest"
)

// awsWorld is bucketdesk on AWS without AWS: DynamoDB is dynalite, SQS,
// CloudFormation (with STS) and API Gateway's @connections are httptest
// servers speaking their documented protocols, CloudFormation backed by the
// sandbox; Cognito is a local issuer verified through the same JWKS code.
type awsWorld struct {
	t       *testing.T
	clients awssetup.AWSClients
	env     map[string]string
	sb      *simcloud.Sandbox
	gw      *apigwtest.Server
	issuer  *auth.LocalIssuer
	sqs     *sqs.Client
	queue   string
	mu      sync.Mutex
	notes   [][]byte // SNS notifications the sandbox sent
}

const (
	region     = "eu-west-1"
	accountID  = "123456789012"
	roleARN    = "arn:aws:iam::123456789012:role/bucketdesk-project"
	externalID = "ext-7f3a"
	clientID   = "bucketdesk-client"
)

func newAWSWorld(t *testing.T) *awsWorld {
	t.Helper()
	ctx := t.Context()
	w := &awsWorld{t: t}
	ddb := dynalitetest.Client(dynalitetest.Start(t))
	table := dynalitetest.CreateTable(t, ddb)

	sq := sqstest.NewServer(nil)
	t.Cleanup(sq.Close)
	w.sqs = sq.Client()
	if _, err := w.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("ops-dlq")}); err != nil {
		t.Fatal(err)
	}
	q, err := w.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("ops"), Attributes: map[string]string{
		"VisibilityTimeout": "60",
		"RedrivePolicy":     `{"deadLetterTargetArn":"` + sq.QueueARN("ops-dlq") + `","maxReceiveCount":"10"}`,
	}})
	if err != nil {
		t.Fatal(err)
	}
	w.queue = aws.ToString(q.QueueUrl)

	w.sb, err = simcloud.New(filepath.Join(t.TempDir(), "sandbox.db"), simcloud.ZeroOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.sb.Close() })
	cancel := w.sb.Subscribe(func(body []byte) {
		w.mu.Lock()
		w.notes = append(w.notes, body)
		w.mu.Unlock()
	})
	t.Cleanup(cancel)
	cfn := cfntest.New(w.sb, &cfntest.Options{ExternalIDs: map[string]string{roleARN: externalID}})
	t.Cleanup(cfn.Close)

	w.gw = apigwtest.NewServer(t)
	w.issuer, err = auth.OpenLocalIssuer(t.TempDir(), "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Test", clientID, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := auth.NewStaticKeySource(w.issuer.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	w.clients = awssetup.AWSClients{DynamoDB: ddb, SQS: w.sqs, Management: w.gw.Client(), Base: cfn.Config(region), KeySource: keys, Issuer: w.issuer.Issuer()}
	w.env = map[string]string{
		"AWS_REGION": region, awssetup.EnvTable: table, awssetup.EnvQueueURL: w.queue, awssetup.EnvWSEndpoint: w.gw.Endpoint,
		awssetup.EnvUserPoolID: "eu-west-1_Test", awssetup.EnvClientID: clientID, awssetup.EnvCloudRate: "50",
	}
	// The project, registered by an admin.
	a := w.function(awssetup.RoleReconcile)
	if err := a.Store.PutProject(ctx, &core.Project{ID: "demo", Name: "Demo", AccountID: accountID, Region: region,
		RoleARN: roleARN, ExternalID: externalID, Members: []string{"alice", "group:partners"}}); err != nil {
		t.Fatal(err)
	}
	return w
}

// function wires one Lambda function of the given role, as bootstrap does.
func (w *awsWorld) function(role string) *awssetup.AWS {
	w.t.Helper()
	env := map[string]string{awssetup.EnvRole: role}
	for k, v := range w.env {
		env[k] = v
	}
	cfg, err := awssetup.LoadAWSConfig(func(k string) string { return env[k] })
	if err != nil {
		w.t.Fatal(err)
	}
	a, err := awssetup.OpenAWS(cfg, w.clients, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

// invoke runs role's handler on a JSON payload as the Lambda runtime does.
func (w *awsWorld) invoke(role string, payload any) []byte {
	w.t.Helper()
	h, err := w.function(role).Handler()
	if err != nil {
		w.t.Fatal(err)
	}
	in, ok := payload.([]byte)
	if !ok {
		in, _ = json.Marshal(payload)
	}
	out, err := lambda.NewHandler(h).Invoke(w.t.Context(), in)
	if err != nil {
		w.t.Fatalf("%s: %v", role, err)
	}
	return out
}

// httpEvent is an API Gateway HTTP API (payload 2.0) request.
func httpEvent(method, path, token string, body any) map[string]any {
	b := ""
	if body != nil {
		js, _ := json.Marshal(body)
		b = string(js)
	}
	return map[string]any{
		"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
		"headers": map[string]string{"authorization": "Bearer " + token, "content-type": "application/json", "host": "api.example.com"},
		"requestContext": map[string]any{
			"accountId": "111122223333", "apiId": "httpapi", "domainName": "api.example.com", "requestId": "req-" + path,
			"routeKey": "$default", "stage": "$default", "timeEpoch": time.Now().UnixMilli(),
			"http": map[string]any{"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "e2e"},
		},
		"body": b, "isBase64Encoded": false,
	}
}

type httpAnswer struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
	Body       string            `json:"body"`
}

// header reads a response header whatever its case.
func (a httpAnswer) header(name string) string {
	for k, v := range a.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (w *awsWorld) api(method, path, token string, body any) httpAnswer {
	w.t.Helper()
	var a httpAnswer
	if err := json.Unmarshal(w.invoke(awssetup.RoleAPI, httpEvent(method, path, token, body)), &a); err != nil {
		w.t.Fatal(err)
	}
	return a
}

// runWorker hands the queue's messages to the worker function as an SQS
// event source mapping does, and returns the batch item failures.
func (w *awsWorld) runWorker() int {
	w.t.Helper()
	out, err := w.sqs.ReceiveMessage(w.t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.queue), MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
	if err != nil {
		w.t.Fatal(err)
	}
	var records []map[string]any
	for _, m := range out.Messages {
		records = append(records, map[string]any{
			"messageId": aws.ToString(m.MessageId), "receiptHandle": aws.ToString(m.ReceiptHandle), "body": aws.ToString(m.Body),
			"attributes": m.Attributes, "messageAttributes": map[string]any{}, "md5OfBody": aws.ToString(m.MD5OfBody),
			"eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:111122223333:ops", "awsRegion": region,
		})
	}
	if len(records) == 0 {
		return -1
	}
	var resp struct {
		BatchItemFailures []struct{ ItemIdentifier string } `json:"batchItemFailures"`
	}
	json.Unmarshal(w.invoke(awssetup.RoleWorker, map[string]any{"Records": records}), &resp)
	// Lambda deletes what succeeded.
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for _, m := range out.Messages {
		if !failed[aws.ToString(m.MessageId)] {
			w.sqs.DeleteMessage(w.t.Context(), &sqs.DeleteMessageInput{QueueUrl: aws.String(w.queue), ReceiptHandle: m.ReceiptHandle})
		}
	}
	return len(resp.BatchItemFailures)
}

// deliverNotifications hands what the sandbox published to the events-sns
// function, one SNS record per invocation, as SNS invokes Lambda.
func (w *awsWorld) deliverNotifications() int {
	w.t.Helper()
	if err := w.sb.WaitIdle(w.t.Context()); err != nil {
		w.t.Fatal(err)
	}
	w.mu.Lock()
	notes := w.notes
	w.notes = nil
	w.mu.Unlock()
	for _, body := range notes {
		var env map[string]any
		if err := json.Unmarshal(body, &env); err != nil {
			w.t.Fatal(err)
		}
		// Lambda's SNS record spells two URL fields differently from the
		// HTTP envelope.
		env["SigningCertUrl"], env["UnsubscribeUrl"] = env["SigningCertURL"], env["UnsubscribeURL"]
		delete(env, "SigningCertURL")
		delete(env, "UnsubscribeURL")
		env["MessageAttributes"] = map[string]any{}
		w.invoke(awssetup.RoleEventsSNS, map[string]any{"Records": []any{map[string]any{
			"EventSource": "aws:sns", "EventVersion": "1.0",
			"EventSubscriptionArn": env["TopicArn"].(string) + ":2bcfbf39-05c3-41de-beaa-fcfcc21c8f55", "Sns": env,
		}}})
	}
	return len(notes)
}

// A bucket created through the API handler ends ready in the table, and the
// connected client's posted messages show its way there.
func TestAWSWiringEndToEnd(t *testing.T) {
	w := newAWSWorld(t)
	ctx := t.Context()
	token, err := w.issuer.Issue(core.Principal{User: "alice"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// Alice's browser: a ticket, then the WebSocket API's $connect with its
	// REQUEST authorizer.
	r := w.api("POST", "/api/ws-ticket", token, nil)
	if r.StatusCode != 201 {
		t.Fatalf("ticket: %d %s", r.StatusCode, r.Body)
	}
	var tk struct{ Ticket string }
	json.Unmarshal([]byte(r.Body), &tk)
	wsContext := map[string]any{"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "conn-alice", "apiId": "wsapi", "stage": "prod",
		"requestId": "ws-1", "domainName": "ws.example.com", "connectedAt": time.Now().UnixMilli()}
	var authz struct {
		PrincipalID    string `json:"principalId"`
		PolicyDocument struct {
			Statement []struct{ Effect string }
		} `json:"policyDocument"`
		Context map[string]any `json:"context"`
	}
	json.Unmarshal(w.invoke(awssetup.RoleWSAuthorizer, map[string]any{
		"type": "REQUEST", "methodArn": "arn:aws:execute-api:eu-west-1:111122223333:wsapi/prod/$connect",
		"headers": map[string]string{"Host": "ws.example.com"}, "queryStringParameters": map[string]string{"ticket": tk.Ticket},
		"requestContext": wsContext,
	}), &authz)
	if authz.PrincipalID != "alice" || len(authz.PolicyDocument.Statement) == 0 || authz.PolicyDocument.Statement[0].Effect != "Allow" {
		t.Fatalf("authorizer: %+v", authz)
	}
	wsContext["authorizer"] = map[string]any{"principalId": authz.PrincipalID, "user": authz.Context["user"], "projects": authz.Context["projects"]}
	w.gw.Register("conn-alice")
	w.invoke(awssetup.RoleWSConnect, map[string]any{"requestContext": wsContext, "isBase64Encoded": false})

	// Alice creates a bucket: 202, the job on SQS, the lock pushed.
	r = w.api("POST", "/api/projects/demo/buckets", token, map[string]any{"name": "aws-e2e-reports", "encryption": map[string]string{"type": "SSE-S3"}, "versioning": true})
	if r.StatusCode != 202 || !strings.HasPrefix(r.header("Location"), "/api/operations/") {
		t.Fatalf("create: %d %v %s", r.StatusCode, r.Headers, r.Body)
	}
	var op core.Operation
	json.Unmarshal([]byte(r.Body), &op)

	// The worker function creates the stack through STS in the project
	// account; CloudFormation's notifications reach the events function.
	if failures := w.runWorker(); failures != 0 {
		t.Fatalf("worker: %d batch item failures", failures)
	}
	if n := w.deliverNotifications(); n < 4 {
		t.Fatalf("only %d notifications", n)
	}

	// In the table: ready, unlocked, with the stack's outputs.
	reader := w.function(awssetup.RoleReconcile)
	res, err := reader.Store.GetResource(ctx, core.ResourceKey{Project: "demo", StackName: stacks.StackName("demo", core.KindBucket, "aws-e2e-reports")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Observed.Phase != core.PhaseReady || res.Lock != nil || res.Op.Status != core.OpSucceeded || res.Observed.Outputs["BucketArn"] != "arn:aws:s3:::aws-e2e-reports" {
		t.Fatalf("in the table: %+v", res)
	}
	r = w.api("GET", "/api/projects/demo/buckets/aws-e2e-reports", token, nil)
	if r.StatusCode != 200 || r.header("ETag") != fmt.Sprintf("%q", fmt.Sprint(res.Version)) {
		t.Fatalf("GET: %d %v", r.StatusCode, r.Headers)
	}

	// Alice's connection was posted its way there, in version order.
	var versions []int64
	sawLocked, sawEvent, sawReady := false, false, false
	for _, f := range w.gw.Frames("conn-alice") {
		var m core.Message
		if err := json.Unmarshal(f, &m); err != nil {
			t.Fatalf("frame %s: %v", f, err)
		}
		if m.Name != "aws-e2e-reports" {
			continue
		}
		switch m.Type {
		case core.MsgEvent:
			sawEvent = true
		case core.MsgResource:
			versions = append(versions, m.Version)
			sawLocked = sawLocked || m.Resource.Lock != nil && m.Resource.Lock.By == "alice" && m.Resource.Lock.OperationID == op.ID
			sawReady = sawReady || m.Resource.Observed.Phase == core.PhaseReady && m.Resource.Lock == nil
		}
	}
	if !sawLocked || !sawEvent || !sawReady {
		t.Fatalf("frames: locked %v, events %v, ready %v (versions %v)", sawLocked, sawEvent, sawReady, versions)
	}
	for i := 1; i < len(versions); i++ {
		if versions[i] <= versions[i-1] {
			t.Fatalf("versions out of order: %v", versions)
		}
	}

	// The audit trail, in the same table: the API function recorded the
	// request, the events function the operation's end; both went out live.
	trail, _, err := reader.Auditor.List(ctx, core.Principal{User: "alice"}, "demo", core.AuditFilter{Kind: core.KindBucket, Name: "aws-e2e-reports"}, core.Page{})
	if err != nil || len(trail) != 2 || trail[0].Outcome != core.OutcomeSucceeded || trail[1].Outcome != core.OutcomeAccepted ||
		trail[0].OperationID != op.ID || trail[1].OperationID != op.ID || trail[1].Actor != "alice" {
		t.Fatalf("audit trail of the bucket: %+v, %v; want alice's create accepted, then succeeded", trail, err)
	}
	var liveAudits int
	for _, f := range w.gw.Frames("conn-alice") {
		var m core.Message
		if json.Unmarshal(f, &m) == nil && m.Type == core.MsgAudit && m.Name == "aws-e2e-reports" {
			liveAudits++
		}
	}
	if liveAudits != 2 {
		t.Fatalf("%d audit frames for the bucket, want 2", liveAudits)
	}

	// EventBridge brings the same stack's change again: nothing moves back.
	w.invoke(awssetup.RoleEventsEventBridge, map[string]any{
		"version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718", "detail-type": "CloudFormation Stack Status Change",
		"source": "aws.cloudformation", "account": accountID, "time": res.LastEvent.Time.Add(-time.Minute).UTC().Format(time.RFC3339), "region": region,
		"resources": []string{res.Observed.StackID},
		"detail":    map[string]any{"stack-id": res.Observed.StackID, "status-details": map[string]any{"status": "CREATE_IN_PROGRESS", "status-reason": "User Initiated"}, "client-request-token": op.ID},
	})
	// The scheduled reconciler finds nothing to repair.
	w.invoke(awssetup.RoleReconcile, map[string]any{"version": "0", "detail-type": "Scheduled Event", "source": "aws.events"})
	after, err := reader.Store.GetResource(ctx, res.Key())
	if err != nil || after.Observed.StackStatus != "CREATE_COMPLETE" {
		t.Fatalf("after a stale EventBridge event and a reconcile: %+v %v", after.Observed, err)
	}

	// $default answers a ping; $disconnect forgets the connection.
	before := len(w.gw.Frames("conn-alice"))
	wsContext["routeKey"], wsContext["eventType"] = "$default", "MESSAGE"
	w.invoke(awssetup.RoleWSDefault, map[string]any{"requestContext": wsContext, "body": `{"type":"ping"}`, "isBase64Encoded": false})
	frames := w.gw.Frames("conn-alice")
	if len(frames) != before+1 || !strings.Contains(string(frames[len(frames)-1]), `"pong"`) {
		t.Fatalf("no pong: %d frames", len(frames))
	}
	wsContext["routeKey"], wsContext["eventType"] = "$disconnect", "DISCONNECT"
	w.invoke(awssetup.RoleWSDisconnect, map[string]any{"requestContext": wsContext, "isBase64Encoded": false})
	conns, err := reader.Store.ListConnections(ctx, "demo", time.Now())
	if err != nil || len(conns) != 0 {
		t.Fatalf("connections after $disconnect: %d %v", len(conns), err)
	}
}
