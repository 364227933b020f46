package deploy_test

// The templates against the tables of internal/setup/awssetup/awsenv.go. Both
// templates are loaded with goformation. Its default intrinsic handlers
// resolve Ref only to parameter defaults and turn Fn::GetAtt into nothing,
// which would hide exactly what these tests check (which table, which
// queue). So the handlers are overridden to keep intrinsics readable as
// strings: Ref X is the parameter's default when it has one, else "${X}";
// Fn::GetAtt [X, A] is "${X.A}"; Fn::Sub keeps its template string;
// Fn::If is "If(cond, a, b)". Nothing else needed a fallback parser.

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
	"github.com/awslabs/goformation/v7/intrinsics"

	"bucketdesk/internal/queue/boltqueue"
	"bucketdesk/internal/setup/awssetup"
)

// symbolic keeps intrinsic functions as readable strings.
var symbolic = &intrinsics.ProcessorOptions{IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{
	"Ref": func(_ string, in, tpl any) any {
		name, _ := in.(string)
		if name == "AWS::NoValue" {
			return nil
		}
		if t, ok := tpl.(map[string]any); ok {
			if ps, ok := t["Parameters"].(map[string]any); ok {
				if p, ok := ps[name].(map[string]any); ok {
					// As given: typed fields need numbers, environment
					// variables strings (numeric defaults used in both
					// places are quoted in the template).
					if def, ok := p["Default"]; ok {
						return def
					}
				}
			}
		}
		return "${" + name + "}"
	},
	"Fn::GetAtt": func(_ string, in, _ any) any {
		switch v := in.(type) {
		case []any:
			parts := make([]string, len(v))
			for i, p := range v {
				parts[i] = fmt.Sprint(p)
			}
			return "${" + strings.Join(parts, ".") + "}"
		case string:
			return "${" + v + "}"
		}
		return fmt.Sprintf("GetAtt(%v)", in)
	},
	"Fn::Sub": func(_ string, in, _ any) any {
		if v, ok := in.([]any); ok && len(v) > 0 {
			return fmt.Sprint(v[0])
		}
		return fmt.Sprint(in)
	},
	"Fn::If": func(_ string, in, _ any) any {
		b, _ := json.Marshal(in)
		return "If(" + string(b) + ")"
	},
}}

func load(t *testing.T, file string) *cloudformation.Template {
	t.Helper()
	m, err := readProcessed(file)
	if err != nil {
		t.Fatalf("goformation cannot process %s: %v", file, err)
	}
	samCompat(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	// goformation.OpenWithOptions, with the intrinsics already processed.
	tpl, err := goformation.ParseJSONWithOptions(b, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatalf("goformation cannot load %s: %v", file, err)
	}
	return tpl
}

// samCompat renames what goformation's SAM schema spells differently from
// SAM: AWS::Serverless::HttpApi's AccessLogSettings (SAM, and cfn-lint's
// SAM translator, say AccessLogSettings; goformation v7 says
// AccessLogSetting, which SAM would refuse on an HttpApi).
func samCompat(m map[string]any) {
	rs, _ := m["Resources"].(map[string]any)
	for _, r := range rs {
		r, _ := r.(map[string]any)
		if r["Type"] != "AWS::Serverless::HttpApi" {
			continue
		}
		if p, ok := r["Properties"].(map[string]any); ok {
			if v, ok := p["AccessLogSettings"]; ok {
				p["AccessLogSetting"] = v
				delete(p, "AccessLogSettings")
			}
		}
	}
}

// fn is one function of template.yaml with its role.
type fn struct {
	logicalID string
	role      string // BUCKETDESK_ROLE
	f         *serverless.Function
}

func functions(t *testing.T, tpl *cloudformation.Template) []fn {
	t.Helper()
	var out []fn
	for _, id := range slices.Sorted(maps.Keys(tpl.GetAllServerlessFunctionResources())) {
		f := tpl.GetAllServerlessFunctionResources()[id]
		var role string
		if f.Environment != nil {
			role = f.Environment.Variables[awssetup.EnvRole]
		}
		out = append(out, fn{logicalID: id, role: role, f: f})
	}
	if len(out) == 0 {
		t.Fatal("template.yaml has no AWS::Serverless::Function")
	}
	return out
}

// (a) one function per role of awssetup.LambdaRoles, and nothing else.
func TestOneFunctionPerRole(t *testing.T) {
	tpl := load(t, "template.yaml")
	count := map[string]int{}
	for _, f := range functions(t, tpl) {
		if !slices.Contains(awssetup.LambdaRoles, f.role) {
			t.Errorf("%s: %s=%q is not in awssetup.LambdaRoles", f.logicalID, awssetup.EnvRole, f.role)
		}
		count[f.role]++
	}
	for _, r := range awssetup.LambdaRoles {
		if count[r] != 1 {
			t.Errorf("role %q has %d functions, want exactly 1", r, count[r])
		}
	}
}

// Every function runs the one binary: the same zip, bootstrap on
// provided.al2023, arm64 (set in Globals or on the function).
func TestFunctionsRunTheOneBinary(t *testing.T) {
	tpl := load(t, "template.yaml")
	g := globalsFunction(t)
	for _, f := range functions(t, tpl) {
		codeURI := g["CodeUri"]
		if f.f.CodeUri != nil && f.f.CodeUri.String != nil {
			codeURI = *f.f.CodeUri.String
		}
		handler, runtime, arch := g["Handler"], g["Runtime"], g["Architectures"]
		if f.f.Handler != nil {
			handler = *f.f.Handler
		}
		if f.f.Runtime != nil {
			runtime = *f.f.Runtime
		}
		if f.f.Architectures != nil {
			arch = strings.Join(f.f.Architectures, ",")
		}
		if codeURI != "../bin/bucketdesk-lambda.zip" || handler != "bootstrap" || runtime != "provided.al2023" || arch != "arm64" {
			t.Errorf("%s: CodeUri %q, Handler %q, Runtime %q, Architectures %q; want the zip of make package, bootstrap, provided.al2023, arm64",
				f.logicalID, codeURI, handler, runtime, arch)
		}
	}
	if _, ok := g["Environment"]; ok {
		t.Error("Globals.Function sets Environment: set each function's variables on the function, so the test sees exactly what each role gets")
	}
}

// globalsFunction returns Globals.Function of template.yaml, its scalar
// values as strings (goformation keeps SAM Globals untyped).
func globalsFunction(t *testing.T) map[string]string {
	t.Helper()
	raw := rawTemplate(t, "template.yaml")
	g, _ := raw["Globals"].(map[string]any)
	f, _ := g["Function"].(map[string]any)
	out := map[string]string{}
	for k, v := range f {
		switch v := v.(type) {
		case []any:
			s := make([]string, len(v))
			for i, e := range v {
				s[i] = fmt.Sprint(e)
			}
			out[k] = strings.Join(s, ",")
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	return out
}

// rawTemplate is the template as goformation's intrinsic processor sees it
// (YAML to JSON, short-form tags expanded), with the symbolic handlers.
func rawTemplate(t *testing.T, file string) map[string]any {
	t.Helper()
	tpl := load(t, file)
	b, err := tpl.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	// Globals do not survive goformation's typed round trip: read them from
	// the processed source instead.
	src, err := readProcessed(file)
	if err != nil {
		t.Fatal(err)
	}
	m["Globals"] = src["Globals"]
	return m
}

func readProcessed(file string) (map[string]any, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	b, err := intrinsics.ProcessYAML(data, symbolic)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// (b) each function sets exactly the variables awssetup.AWSEnv gives its role:
// none unknown, none meant for other roles, every required one.
func TestEnvironmentMatchesAWSEnv(t *testing.T) {
	tpl := load(t, "template.yaml")
	byName := map[string]awssetup.EnvVar{}
	for _, v := range awssetup.AWSEnv {
		byName[v.Name] = v
	}
	for _, f := range functions(t, tpl) {
		vars := f.f.Environment.Variables
		for name := range vars {
			v, ok := byName[name]
			if !ok {
				t.Errorf("%s sets %s, which is not in awssetup.AWSEnv", f.logicalID, name)
				continue
			}
			if v.Roles != nil && !slices.Contains(v.Roles, f.role) {
				t.Errorf("%s (role %s) sets %s, which awssetup.AWSEnv gives only to %v", f.logicalID, f.role, name, v.Roles)
			}
		}
		for _, v := range awssetup.AWSEnv {
			if !v.Required || (v.Roles != nil && !slices.Contains(v.Roles, f.role)) {
				continue
			}
			if vars[v.Name] == "" {
				t.Errorf("%s (role %s) does not set %s, which awssetup.AWSEnv requires", f.logicalID, f.role, v.Name)
			}
		}
	}
}

// statement is one IAM policy statement, normalised.
type statement struct {
	Sid       string
	Effect    string
	Actions   []string
	Resources []string
	Condition any
	NotAction bool
	// Principal is kept raw.
	Principal any
}

func statements(t *testing.T, doc any) []statement {
	t.Helper()
	d, _ := doc.(map[string]any)
	var raw []any
	switch s := d["Statement"].(type) {
	case []any:
		raw = s
	case map[string]any:
		raw = []any{s}
	default:
		t.Fatalf("policy document without statements: %v", doc)
	}
	var out []statement
	for _, r := range raw {
		m, _ := r.(map[string]any)
		out = append(out, statement{
			Sid:       fmt.Sprint(m["Sid"]),
			Effect:    fmt.Sprint(m["Effect"]),
			Actions:   strs(m["Action"]),
			Resources: strs(m["Resource"]),
			Condition: m["Condition"],
			NotAction: m["NotAction"] != nil || m["NotResource"] != nil,
			Principal: m["Principal"],
		})
	}
	return out
}

func strs(v any) []string {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			out[i] = fmt.Sprint(e)
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// roleStatements returns the inline statements of the IAM role that
// function f runs as.
func roleStatements(t *testing.T, tpl *cloudformation.Template, f fn) []statement {
	t.Helper()
	if f.f.Role == nil || !strings.HasPrefix(*f.f.Role, "${") || !strings.HasSuffix(*f.f.Role, ".Arn}") {
		t.Fatalf("%s: Role must be !GetAtt <its own role>.Arn, got %v", f.logicalID, f.f.Role)
	}
	if f.f.Policies != nil {
		t.Errorf("%s: SAM Policies are ignored when Role is set; put statements on the role", f.logicalID)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(*f.f.Role, "${"), ".Arn}")
	r, err := tpl.GetIAMRoleWithName(id)
	if err != nil {
		t.Fatalf("%s: role %s: %v", f.logicalID, id, err)
	}
	if len(r.ManagedPolicyArns) > 0 {
		t.Errorf("%s: role %s has managed policies %v; least privilege is inline here", f.logicalID, id, r.ManagedPolicyArns)
	}
	var out []statement
	for _, p := range r.Policies {
		out = append(out, statements(t, p.PolicyDocument)...)
	}
	return out
}

// The resources each service's actions must be scoped to, exactly.
const (
	tableARN       = "${Table.Arn}"
	indexARN       = "${Table.Arn}/index/gsi1"
	queueARN       = "${Queue.Arn}"
	projectRoleARN = "arn:aws:iam::*:role/${ProjectRoleName}"
	connectionsARN = "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/ws/*/@connections/*"
)

func wantResources(action string) []string {
	switch {
	case action == "dynamodb:Query":
		return []string{tableARN, indexARN}
	case strings.HasPrefix(action, "dynamodb:"):
		return []string{tableARN}
	case strings.HasPrefix(action, "sqs:"):
		return []string{queueARN}
	case action == "sts:AssumeRole":
		return []string{projectRoleARN}
	case action == "execute-api:ManageConnections":
		return []string{connectionsARN}
	}
	return nil
}

// extraActions are the actions a function's role may allow beyond
// awssetup.RoleAPIs, by role, each with its reason; none today. Logging to its
// own log group is every function's; see logActions.
var extraActions = map[string]map[string]string{}

var logActions = []string{"logs:CreateLogStream", "logs:PutLogEvents"}

// (c) each function's role allows every action of awssetup.RoleAPIs on
// exactly its resources, and nothing else: no wildcard action, no
// Resource "*" (none is needed: every action here supports resource-level
// permissions), no NotAction/NotResource.
func TestPoliciesAreLeastPrivilege(t *testing.T) {
	tpl := load(t, "template.yaml")
	for _, f := range functions(t, tpl) {
		sts := roleStatements(t, tpl, f)
		allowed := map[string][]string{} // action -> resources
		for _, s := range sts {
			if s.Effect != "Allow" {
				continue
			}
			if s.NotAction {
				t.Errorf("%s: statement %s uses NotAction/NotResource", f.logicalID, s.Sid)
			}
			for _, a := range s.Actions {
				if strings.Contains(a, "*") {
					t.Errorf("%s: statement %s allows the wildcard action %q", f.logicalID, s.Sid, a)
				}
				allowed[a] = append(allowed[a], s.Resources...)
			}
			for _, r := range s.Resources {
				if r == "*" {
					t.Errorf("%s: statement %s allows Resource \"*\"", f.logicalID, s.Sid)
				}
			}
		}
		want := awssetup.RoleAPIs[f.role]
		for _, a := range want {
			got, ok := allowed[a]
			if !ok {
				t.Errorf("%s (role %s): no statement allows %s", f.logicalID, f.role, a)
				continue
			}
			for _, r := range wantResources(a) {
				if !slices.Contains(got, r) {
					t.Errorf("%s (role %s): %s is not allowed on %s (allowed on %v)", f.logicalID, f.role, a, r, got)
				}
			}
		}
		for a, rs := range allowed {
			switch {
			case slices.Contains(want, a):
				for _, r := range rs {
					if !slices.Contains(wantResources(a), r) {
						t.Errorf("%s (role %s): %s is allowed on %s, beyond its resources %v", f.logicalID, f.role, a, r, wantResources(a))
					}
				}
			case extraActions[f.role][a] != "":
				for _, r := range rs {
					if !slices.Contains(wantResources(a), r) {
						t.Errorf("%s (role %s): %s is allowed on %s, beyond %v", f.logicalID, f.role, a, r, wantResources(a))
					}
				}
			case slices.Contains(logActions, a):
				logGroup := "${" + strings.TrimSuffix(f.logicalID, "Function") + "LogGroup.Arn}"
				if !slices.Equal(rs, []string{logGroup}) {
					t.Errorf("%s: %s is allowed on %v, want only its own log group %s", f.logicalID, a, rs, logGroup)
				}
			default:
				t.Errorf("%s (role %s): allows %s, which awssetup.RoleAPIs does not list for the role", f.logicalID, f.role, a)
			}
		}
	}
}

// (d) SQS dead-letters a job after as many receipts as the worker and the
// local queue count.
func TestQueueMaxReceiveCount(t *testing.T) {
	tpl := load(t, "template.yaml")
	q, err := tpl.GetSQSQueueWithName("Queue")
	if err != nil {
		t.Fatal(err)
	}
	rp, _ := q.RedrivePolicy.(map[string]any)
	n, err := strconv.Atoi(fmt.Sprint(rp["maxReceiveCount"]))
	if err != nil {
		t.Fatalf("RedrivePolicy.maxReceiveCount: %v (%v)", err, rp)
	}
	if n != boltqueue.DefaultMaxAttempts {
		t.Errorf("maxReceiveCount is %d, want the default max attempts %d", n, boltqueue.DefaultMaxAttempts)
	}
	if dlq := fmt.Sprint(rp["deadLetterTargetArn"]); dlq != "${DeadLetterQueue.Arn}" {
		t.Errorf("deadLetterTargetArn is %s, want the DeadLetterQueue", dlq)
	}
	for _, f := range functions(t, tpl) {
		if f.role != awssetup.RoleWorker {
			continue
		}
		if got := f.f.Environment.Variables[awssetup.EnvMaxAttempts]; got != strconv.Itoa(n) {
			t.Errorf("the worker's %s is %q, want the queue's maxReceiveCount %d", awssetup.EnvMaxAttempts, got, n)
		}
		if f.f.Timeout == nil || q.VisibilityTimeout == nil || *q.VisibilityTimeout < 6**f.f.Timeout {
			t.Errorf("the queue's visibility timeout %v must be at least 6x the worker's timeout %v", q.VisibilityTimeout, f.f.Timeout)
		}
		// goformation's typed SAM events come back empty when they carry a
		// property it does not know (FunctionResponseTypes): read them raw.
		var sqsEvent bool
		for _, e := range rawEvents(t, f.logicalID) {
			if e["Type"] != "SQS" {
				continue
			}
			sqsEvent = true
			p, _ := e["Properties"].(map[string]any)
			if fmt.Sprint(p["Queue"]) != queueARN {
				t.Errorf("the worker's SQS event reads %v, want %s", p["Queue"], queueARN)
			}
			if !slices.Equal(strs(p["FunctionResponseTypes"]), []string{"ReportBatchItemFailures"}) {
				t.Error("the worker's SQS event must report partial batch failures (FunctionResponseTypes: [ReportBatchItemFailures])")
			}
		}
		if !sqsEvent {
			t.Error("the worker has no SQS event on the queue")
		}
	}
}

// rawEvents returns the SAM Events of a function as written (intrinsics
// symbolic).
func rawEvents(t *testing.T, logicalID string) map[string]map[string]any {
	t.Helper()
	src, err := readProcessed("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, _ := src["Resources"].(map[string]any)
	r, _ := res[logicalID].(map[string]any)
	props, _ := r["Properties"].(map[string]any)
	evs, _ := props["Events"].(map[string]any)
	out := map[string]map[string]any{}
	for k, v := range evs {
		out[k], _ = v.(map[string]any)
	}
	return out
}

// The HTTP API: every /api/ route needs a Cognito JWT except the OpenAPI
// document; the probes and the share links' page (/s/…) are public; all
// of it goes to the api function.
func TestHTTPRoutes(t *testing.T) {
	tpl := load(t, "template.yaml")
	var apiFn string
	for _, f := range functions(t, tpl) {
		if f.role == awssetup.RoleAPI {
			apiFn = f.logicalID
		}
	}
	public := map[string]bool{}
	var proxied bool
	for name, e := range rawEvents(t, apiFn) {
		if e["Type"] != "HttpApi" {
			t.Errorf("the api function's event %s is %v, want HttpApi", name, e["Type"])
			continue
		}
		p, _ := e["Properties"].(map[string]any)
		path := fmt.Sprint(p["Path"])
		auth, _ := p["Auth"].(map[string]any)
		open := auth != nil && auth["Authorizer"] == "NONE"
		if path == "/api/{proxy+}" {
			proxied = true
			if open {
				t.Error("/api/{proxy+} must need the JWT authorizer")
			}
			continue
		}
		if !open {
			t.Errorf("%s should be public (Auth.Authorizer NONE)", path)
		}
		public[path] = true
	}
	if !proxied {
		t.Error("no /api/{proxy+} route")
	}
	if want := map[string]bool{"/healthz": true, "/readyz": true, "/api/openapi.yaml": true, "/auth/login": true, "/s/{proxy+}": true}; !maps.Equal(public, want) {
		t.Errorf("public routes %v, want %v", slices.Sorted(maps.Keys(public)), slices.Sorted(maps.Keys(want)))
	}
	src, err := readProcessed("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(src["Resources"].(map[string]any)["HttpApi"])
	for _, want := range []string{`"DefaultAuthorizer":"Cognito"`, `"issuer":"https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"`, `"audience":["${UserPoolClient}"]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("HttpApi lacks %s: %s", want, b)
		}
	}
}

// The table has the keys, index and TTL attribute dynamostore uses.
func TestTable(t *testing.T) {
	tpl := load(t, "template.yaml")
	tb, err := tpl.GetDynamoDBTableWithName("Table")
	if err != nil {
		t.Fatal(err)
	}
	if tb.BillingMode == nil || *tb.BillingMode != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode %v, want PAY_PER_REQUEST", tb.BillingMode)
	}
	var schema []string
	for _, k := range tb.KeySchema {
		schema = append(schema, k.AttributeName+":"+k.KeyType)
	}
	if !slices.Equal(schema, []string{"pk:HASH", "sk:RANGE"}) {
		t.Errorf("KeySchema %v, want pk HASH, sk RANGE", schema)
	}
	if len(tb.GlobalSecondaryIndexes) != 1 || tb.GlobalSecondaryIndexes[0].IndexName != "gsi1" {
		t.Fatalf("want one GSI gsi1, got %+v", tb.GlobalSecondaryIndexes)
	}
	schema = nil
	for _, k := range tb.GlobalSecondaryIndexes[0].KeySchema {
		schema = append(schema, k.AttributeName+":"+k.KeyType)
	}
	if !slices.Equal(schema, []string{"gsi1pk:HASH", "gsi1sk:RANGE"}) {
		t.Errorf("gsi1 KeySchema %v, want gsi1pk HASH, gsi1sk RANGE", schema)
	}
	for _, a := range tb.AttributeDefinitions {
		if a.AttributeType != "S" {
			t.Errorf("attribute %s is %s, want S", a.AttributeName, a.AttributeType)
		}
	}
	if tb.TimeToLiveSpecification == nil || tb.TimeToLiveSpecification.AttributeName == nil ||
		*tb.TimeToLiveSpecification.AttributeName != "expires_at" || !tb.TimeToLiveSpecification.Enabled {
		t.Errorf("TTL %+v, want expires_at enabled", tb.TimeToLiveSpecification)
	}
}

// The WebSocket API routes $connect (behind the ticket authorizer),
// $disconnect and $default to the functions of their roles.
func TestWebSocketRoutes(t *testing.T) {
	tpl := load(t, "template.yaml")
	roleOf := map[string]string{}
	for _, f := range functions(t, tpl) {
		roleOf[f.logicalID] = f.role
	}
	// functionIn returns the role of the function whose ARN uri names.
	functionIn := func(uri string) string {
		for id, role := range roleOf {
			if strings.Contains(uri, "${"+id+".Arn}") {
				return role
			}
		}
		return ""
	}
	want := map[string]string{"$connect": awssetup.RoleWSConnect, "$disconnect": awssetup.RoleWSDisconnect, "$default": awssetup.RoleWSDefault}
	routes := tpl.GetAllApiGatewayV2RouteResources()
	seen := map[string]bool{}
	for id, r := range routes {
		role, ok := want[r.RouteKey]
		if !ok {
			t.Errorf("route %s has unexpected key %s", id, r.RouteKey)
			continue
		}
		seen[r.RouteKey] = true
		target := strings.TrimSuffix(strings.TrimPrefix(*r.Target, "integrations/${"), "}")
		in, err := tpl.GetApiGatewayV2IntegrationWithName(target)
		if err != nil {
			t.Errorf("route %s: integration %s: %v", r.RouteKey, target, err)
			continue
		}
		if got := functionIn(*in.IntegrationUri); got != role {
			t.Errorf("route %s invokes the %q function, want %q", r.RouteKey, got, role)
		}
		if r.RouteKey == "$connect" {
			if r.AuthorizationType == nil || *r.AuthorizationType != "CUSTOM" || r.AuthorizerId == nil {
				t.Errorf("$connect must use the CUSTOM ticket authorizer, got %v %v", r.AuthorizationType, r.AuthorizerId)
				continue
			}
			az, err := tpl.GetApiGatewayV2AuthorizerWithName(strings.Trim(*r.AuthorizerId, "${}"))
			if err != nil {
				t.Fatal(err)
			}
			if az.AuthorizerType != "REQUEST" || !slices.Equal(az.IdentitySource, []string{"route.request.querystring.ticket"}) {
				t.Errorf("authorizer %s %v, want REQUEST on the ticket query string", az.AuthorizerType, az.IdentitySource)
			}
			if got := functionIn(*az.AuthorizerUri); got != awssetup.RoleWSAuthorizer {
				t.Errorf("the authorizer invokes the %q function, want %q", got, awssetup.RoleWSAuthorizer)
			}
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("no %s route", k)
		}
	}
}

// (e) the project account's role trusts only the portal account, and only
// with the external id; its permissions are scoped to bucketdesk's stacks
// and resources, with Resource "*" only where AWS requires it.
func TestProjectAccountRole(t *testing.T) {
	tpl := load(t, "project-account.yaml")
	for _, p := range []string{"PortalAccountId", "ExternalId", "RoleName"} {
		if _, ok := tpl.Parameters[p]; !ok {
			t.Errorf("project-account.yaml lacks the parameter %s", p)
		}
	}
	r, err := tpl.GetIAMRoleWithName("PortalRole")
	if err != nil {
		t.Fatal(err)
	}
	if r.RoleName == nil || *r.RoleName != fmt.Sprint(tpl.Parameters["RoleName"].Default) {
		t.Errorf("RoleName %v, want !Ref RoleName", r.RoleName)
	}
	trust := statements(t, r.AssumeRolePolicyDocument)
	for _, s := range trust {
		if s.Effect != "Allow" {
			continue
		}
		if fmt.Sprint(s.Principal) != "map[AWS:arn:aws:iam::${PortalAccountId}:root]" {
			t.Errorf("trust statement %s: principal %v, want the portal account", s.Sid, s.Principal)
		}
		c, _ := s.Condition.(map[string]any)
		eq, _ := c["StringEquals"].(map[string]any)
		if fmt.Sprint(eq["sts:ExternalId"]) != "${ExternalId}" {
			t.Errorf("trust statement %s has no StringEquals sts:ExternalId = ExternalId condition: %v", s.Sid, s.Condition)
		}
	}
	if len(trust) == 0 {
		t.Error("PortalRole trusts no one")
	}

	// Resource "*" where AWS requires it, and only there.
	starOK := map[string]string{
		"cloudformation:ListStacks": "ListStacks has no resource-level permissions",
	}
	var stacksScoped, reveal, count bool
	for _, p := range r.Policies {
		for _, s := range statements(t, p.PolicyDocument) {
			if s.NotAction {
				t.Errorf("statement %s uses NotAction/NotResource", s.Sid)
			}
			for _, a := range s.Actions {
				if strings.Contains(a, "*") {
					t.Errorf("statement %s allows the wildcard action %q", s.Sid, a)
				}
				if slices.Contains(s.Resources, "*") && starOK[a] == "" {
					t.Errorf("statement %s allows %s on Resource \"*\"", s.Sid, a)
				}
				if strings.HasPrefix(a, "cloudformation:") && starOK[a] == "" {
					stacksScoped = true
					if !slices.Equal(s.Resources, []string{"arn:aws:cloudformation:*:${AWS::AccountId}:stack/bd-*"}) {
						t.Errorf("%s is allowed on %v, want only bucketdesk's stacks", a, s.Resources)
					}
				}
				if a == "s3:ListBucketVersions" {
					// The count before a delete is the portal's own call,
					// not CloudFormation's: no CalledVia condition.
					count = len(s.Resources) == 1 && s.Resources[0] == "arn:aws:s3:::*" && s.Condition == nil
				}
				if a == "secretsmanager:GetSecretValue" {
					reveal = true
					if !slices.Equal(s.Resources, []string{"arn:aws:secretsmanager:*:${AWS::AccountId}:secret:bucketdesk/*"}) {
						t.Errorf("%s is allowed on %v, want only bucketdesk's secrets", a, s.Resources)
					}
				}
				if strings.HasPrefix(a, "iam:") && strings.Contains(a, "User") || strings.Contains(a, "AccessKey") {
					if !slices.Equal(s.Resources, []string{"arn:aws:iam::${AWS::AccountId}:user/bucketdesk/*"}) {
						t.Errorf("%s is allowed on %v, want only users under /bucketdesk/", a, s.Resources)
					}
				}
			}
		}
	}
	if !stacksScoped || !reveal || !count {
		t.Errorf("PortalRole must allow the stack actions (found %v), the secret reveal (found %v) and s3:ListBucketVersions on every bucket without a condition (found %v)", stacksScoped, reveal, count)
	}
}

// accessLogVariables are the $context variables an access log may name:
// none carries a secret. Not allowed, among others: $context.path and
// anything with the query string (the WebSocket $connect URL holds the
// single-use ticket, /ws?ticket=...), request headers (Authorization),
// $context.authorizer.claims.* and $context.authorizer.<property>.
var accessLogVariables = []string{
	"$context.requestId", "$context.identity.sourceIp", "$context.requestTime",
	"$context.httpMethod", "$context.routeKey", "$context.status", "$context.protocol",
	"$context.responseLength", "$context.responseLatency",
	"$context.integrationErrorMessage", "$context.authorizer.error",
	"$context.eventType", "$context.connectionId", "$context.error.message", "$context.integration.error",
}

// checkAccessLog checks one stage's access log (Security Hub APIGateway.9):
// a destination that is a log group of this template with the
// LogRetentionDays retention, and a JSON format of allowed variables only.
func checkAccessLog(t *testing.T, tpl *cloudformation.Template, stage string, dest, format *string) {
	t.Helper()
	if dest == nil || format == nil {
		t.Errorf("%s: no access log (DestinationArn and Format)", stage)
		return
	}
	groups := tpl.GetAllLogsLogGroupResources()
	var group string
	for id := range groups {
		if strings.HasSuffix(*dest, ":log-group:${"+id+"}") {
			group = id
		}
	}
	if group == "" {
		t.Errorf("%s: access log destination %q is not a log group of the template", stage, *dest)
	} else if want := tpl.Parameters["LogRetentionDays"].Default; groups[group].RetentionInDays == nil ||
		fmt.Sprint(*groups[group].RetentionInDays) != fmt.Sprint(want) {
		t.Errorf("%s: log group %s retention %v, want LogRetentionDays (%v)", stage, group, groups[group].RetentionInDays, want)
	}
	var fields map[string]string
	if err := json.Unmarshal([]byte(*format), &fields); err != nil {
		t.Errorf("%s: access log format is not a JSON object of strings: %v", stage, err)
		return
	}
	for k, v := range fields {
		if !slices.Contains(accessLogVariables, v) {
			t.Errorf("%s: access log field %s = %q is not one of the allowed $context variables", stage, k, v)
		}
	}
	lower := strings.ToLower(*format)
	for _, bad := range []string{"path", "query", "header", "authorization", "claims", "$request", "$input", "ticket"} {
		if strings.Contains(lower, bad) {
			t.Errorf("%s: access log format mentions %q", stage, bad)
		}
	}
	for _, want := range []string{"$context.requestId", "$context.routeKey", "$context.status"} {
		if !slices.Contains(slices.Collect(maps.Values(fields)), want) {
			t.Errorf("%s: access log format lacks %s", stage, want)
		}
	}
}

// Both APIs log access (APIGateway.9) to log groups with a retention, in a
// format without secrets; the WebSocket stage logs execution errors
// (APIGateway.1) without data trace (message bodies) and to a log group of
// this template, through the account's API Gateway CloudWatch role.
func TestAPILogs(t *testing.T) {
	tpl := load(t, "template.yaml")

	https := tpl.GetAllServerlessHttpApiResources()
	if len(https) == 0 {
		t.Fatal("no AWS::Serverless::HttpApi")
	}
	for id, api := range https {
		if api.AccessLogSetting == nil { // AccessLogSettings in the template (samCompat)
			t.Errorf("%s: no AccessLogSettings", id)
		} else {
			checkAccessLog(t, tpl, id, api.AccessLogSetting.DestinationArn, api.AccessLogSetting.Format)
		}
		for _, rs := range []*serverless.HttpApi_RouteSettings{api.DefaultRouteSettings, api.RouteSettings} {
			if rs != nil && rs.DataTraceEnabled != nil && *rs.DataTraceEnabled {
				t.Errorf("%s: DataTraceEnabled", id)
			}
		}
	}

	stages := tpl.GetAllApiGatewayV2StageResources()
	if len(stages) == 0 {
		t.Fatal("no AWS::ApiGatewayV2::Stage")
	}
	groups := tpl.GetAllLogsLogGroupResources()
	for id, st := range stages {
		if st.AccessLogSettings == nil {
			t.Errorf("%s: no AccessLogSettings", id)
		} else {
			checkAccessLog(t, tpl, id, st.AccessLogSettings.DestinationArn, st.AccessLogSettings.Format)
		}
		rs := st.DefaultRouteSettings
		if rs == nil || rs.LoggingLevel == nil || (*rs.LoggingLevel != "ERROR" && *rs.LoggingLevel != "INFO") {
			t.Errorf("%s: DefaultRouteSettings.LoggingLevel must be ERROR or INFO (execution logging)", id)
		}
		if rs == nil || rs.DataTraceEnabled == nil || *rs.DataTraceEnabled {
			t.Errorf("%s: DefaultRouteSettings.DataTraceEnabled must be false (data trace logs message bodies)", id)
		}
		if st.RouteSettings != nil {
			t.Errorf("%s: per-route settings could turn data trace on or logging off: %v", id, st.RouteSettings)
		}
		// The execution log group API Gateway writes to, created first with a retention.
		execName := "API-Gateway-Execution-Logs_" + st.ApiId + "/" + st.StageName
		found := false
		for gid, g := range groups {
			if g.LogGroupName != nil && *g.LogGroupName == execName {
				found = slices.Contains(st.AWSCloudFormationDependsOn, gid) && g.RetentionInDays != nil
			}
		}
		if !found {
			t.Errorf("%s: no log group %s with a retention that the stage depends on", id, execName)
		}
		// Execution logging needs the account's CloudWatch role; with the default
		// ApiGatewayLogRole=create the stack sets it before the stage exists.
		acct, err := tpl.GetApiGatewayAccountWithName("ApiGatewayAccount")
		if err != nil {
			t.Fatalf("no AWS::ApiGateway::Account: %v", err)
		}
		if acct.CloudWatchRoleArn == nil || *acct.CloudWatchRoleArn != "${ApiGatewayCloudWatchRole.Arn}" {
			t.Errorf("ApiGatewayAccount.CloudWatchRoleArn = %v", acct.CloudWatchRoleArn)
		}
		if st.Description == nil || !strings.Contains(*st.Description, "${ApiGatewayAccount}") {
			t.Errorf("%s: Description %v must name ${ApiGatewayAccount} (the stage waits for the account role)", id, st.Description)
		}
	}
	if def := tpl.Parameters["ApiGatewayLogRole"].Default; def != "create" {
		t.Errorf("ApiGatewayLogRole defaults to %v, want create", def)
	}
}

// (f) the project account's server access log bucket (Security Hub S3.9):
// SSE-S3 (S3 cannot deliver logs to an SSE-KMS bucket), no Object Lock, no
// public access, ACLs disabled, logs expired after AccessLogRetentionDays,
// kept when the stack goes, written only by the logging service for this
// account's buckets and over HTTPS only; not logging itself; its name an
// output for the registration's log_bucket; and the portal role may set a
// bucket's logging.
func TestProjectAccountLogBucket(t *testing.T) {
	tpl := load(t, "project-account.yaml")
	raw, err := readProcessed("project-account.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, _ := raw["Resources"].(map[string]any)["AccessLogBucket"].(map[string]any)
	if res["DeletionPolicy"] != "Retain" || res["UpdateReplacePolicy"] != "Retain" {
		t.Errorf("AccessLogBucket DeletionPolicy %v, UpdateReplacePolicy %v, want Retain both", res["DeletionPolicy"], res["UpdateReplacePolicy"])
	}
	b, err := tpl.GetS3BucketWithName("AccessLogBucket")
	if err != nil {
		t.Fatal(err)
	}
	if b.BucketName == nil || *b.BucketName != "bucketdesk-logs-${AWS::AccountId}-${AWS::Region}" {
		t.Errorf("BucketName %v", b.BucketName)
	}
	if e := b.BucketEncryption; e == nil || len(e.ServerSideEncryptionConfiguration) != 1 ||
		e.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault == nil ||
		e.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm != "AES256" {
		t.Errorf("BucketEncryption %+v, want SSE-S3 (AES256) only", e)
	}
	if b.ObjectLockEnabled != nil || b.ObjectLockConfiguration != nil {
		t.Error("Object Lock on the log bucket: S3 refuses a destination with a default retention")
	}
	if b.LoggingConfiguration != nil {
		t.Error("the log bucket logs: into itself it would log its own deliveries forever")
	}
	pab := b.PublicAccessBlockConfiguration
	if pab == nil || pab.BlockPublicAcls == nil || !*pab.BlockPublicAcls || pab.BlockPublicPolicy == nil || !*pab.BlockPublicPolicy ||
		pab.IgnorePublicAcls == nil || !*pab.IgnorePublicAcls || pab.RestrictPublicBuckets == nil || !*pab.RestrictPublicBuckets {
		t.Errorf("PublicAccessBlockConfiguration %+v, want all four true", pab)
	}
	if o := b.OwnershipControls; o == nil || len(o.Rules) != 1 || o.Rules[0].ObjectOwnership == nil || *o.Rules[0].ObjectOwnership != "BucketOwnerEnforced" {
		t.Errorf("OwnershipControls %+v, want BucketOwnerEnforced", o)
	}
	if def := fmt.Sprint(tpl.Parameters["AccessLogRetentionDays"].Default); def != "365" {
		t.Errorf("AccessLogRetentionDays defaults to %s, want 365", def)
	}
	var expires, aborts bool
	if b.LifecycleConfiguration != nil {
		for _, r := range b.LifecycleConfiguration.Rules {
			if r.Status != "Enabled" {
				continue
			}
			// Ref AccessLogRetentionDays reads as its default here.
			expires = expires || r.ExpirationInDays != nil && *r.ExpirationInDays == 365
			aborts = aborts || r.AbortIncompleteMultipartUpload != nil && r.AbortIncompleteMultipartUpload.DaysAfterInitiation == 7
		}
	}
	if !expires || !aborts {
		t.Errorf("lifecycle: expiry after AccessLogRetentionDays %v, abort of incomplete uploads after 7 days %v", expires, aborts)
	}

	var policy *struct {
		bucket string
		doc    any
	}
	for id, p := range tpl.GetAllS3BucketPolicyResources() {
		if p.Bucket == "${AccessLogBucket}" {
			policy = &struct {
				bucket string
				doc    any
			}{id, p.PolicyDocument}
		}
	}
	if policy == nil {
		t.Fatal("no bucket policy on AccessLogBucket")
	}
	var logging, tls bool
	for _, s := range statements(t, policy.doc) {
		switch s.Effect {
		case "Allow":
			if fmt.Sprint(s.Principal) != "map[Service:logging.s3.amazonaws.com]" || !slices.Equal(s.Actions, []string{"s3:PutObject"}) ||
				!slices.Equal(s.Resources, []string{"arn:${AWS::Partition}:s3:::${AccessLogBucket}/*"}) {
				t.Errorf("%s allows %v %v on %v; only the logging service's s3:PutObject on the log objects belongs here", s.Sid, s.Principal, s.Actions, s.Resources)
				continue
			}
			c, _ := s.Condition.(map[string]any)
			eq, _ := c["StringEquals"].(map[string]any)
			like, _ := c["ArnLike"].(map[string]any)
			if fmt.Sprint(eq["aws:SourceAccount"]) != "${AWS::AccountId}" || fmt.Sprint(like["aws:SourceArn"]) != "arn:${AWS::Partition}:s3:::*" {
				t.Errorf("%s: condition %v, want aws:SourceAccount this account and aws:SourceArn an S3 bucket", s.Sid, s.Condition)
			}
			logging = true
		case "Deny":
			c, _ := s.Condition.(map[string]any)
			bl, _ := c["Bool"].(map[string]any)
			tls = fmt.Sprint(s.Principal) == "*" && slices.Equal(s.Actions, []string{"s3:*"}) && fmt.Sprint(bl["aws:SecureTransport"]) == "false" &&
				slices.Equal(s.Resources, []string{"arn:${AWS::Partition}:s3:::${AccessLogBucket}", "arn:${AWS::Partition}:s3:::${AccessLogBucket}/*"})
		}
	}
	if !logging || !tls {
		t.Errorf("%s: grant to logging.s3.amazonaws.com %v, HTTPS-only deny on bucket and objects %v", policy.bucket, logging, tls)
	}

	if o, ok := tpl.Outputs["AccessLogBucket"]; !ok || fmt.Sprint(o.Value) != "${AccessLogBucket}" {
		t.Errorf("output AccessLogBucket = %+v, want the log bucket's name", o)
	}

	role, err := tpl.GetIAMRoleWithName("PortalRole")
	if err != nil {
		t.Fatal(err)
	}
	canLog := false
	for _, p := range role.Policies {
		for _, s := range statements(t, p.PolicyDocument) {
			canLog = canLog || s.Effect == "Allow" && slices.Contains(s.Actions, "s3:PutBucketLogging") && slices.Contains(s.Resources, "arn:aws:s3:::*")
		}
	}
	if !canLog {
		t.Error("PortalRole may not s3:PutBucketLogging on the project buckets")
	}
}
