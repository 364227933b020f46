package cfncloud_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"

	"bucketdesk/internal/clock"
	"bucketdesk/internal/cloud/cfncloud"
	"bucketdesk/internal/cloud/cfncloud/cfntest"
	"bucketdesk/internal/cloud/paced"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/core/porttest"
)

var (
	account = core.Account{ID: "111111111111", Region: "eu-west-1",
		RoleARN: "arn:aws:iam::111111111111:role/bucketdesk-project", ExternalID: "ext-one"}
	other = core.Account{ID: "222222222222", Region: "eu-central-1",
		RoleARN: "arn:aws:iam::222222222222:role/bucketdesk-project", ExternalID: "ext-two"}
)

// env is cfncloud → cfntest → sandbox.
type env struct {
	sb    *simcloud.Sandbox
	srv   *cfntest.Server
	cloud *cfncloud.Cloud
}

func newEnv(t *testing.T, simOpts *simcloud.Options, srvOpts *cfntest.Options, opts *cfncloud.Options) *env {
	t.Helper()
	if simOpts == nil {
		simOpts = simcloud.ZeroOptions()
	}
	sb, err := simcloud.New(filepath.Join(t.TempDir(), "sandbox.db"), simOpts)
	if err != nil {
		t.Fatalf("simcloud.New: %v", err)
	}
	t.Cleanup(func() { sb.Close() })
	if srvOpts == nil {
		srvOpts = &cfntest.Options{}
	}
	if srvOpts.ExternalIDs == nil {
		srvOpts.ExternalIDs = map[string]string{account.RoleARN: account.ExternalID, other.RoleARN: other.ExternalID}
	}
	srv := cfntest.New(sb, srvOpts)
	t.Cleanup(srv.Close) // before the sandbox's Close: cleanups run last first
	return &env{sb: sb, srv: srv, cloud: cfncloud.New(srv.Config("us-east-1"), opts)}
}

// secretsFromSandbox plays Secrets Manager for Options.GetSecretValue (on
// AWS, internal/setup plugs in the Secrets Manager client there): as AWS,
// it reads the secret in the account whose assumed-role credentials sign
// the call, whatever account the ARN names.
func secretsFromSandbox(e **env) func(context.Context, aws.Config, string) (string, error) {
	return func(ctx context.Context, cfg aws.Config, arn string) (string, error) {
		creds, err := cfg.Credentials.Retrieve(ctx)
		if err != nil {
			return "", err
		}
		acct, ok := (*e).srv.AccountOf(creds.AccessKeyID)
		if !ok {
			return "", fmt.Errorf("%w: credentials of no assumed role", core.ErrForbidden)
		}
		return (*e).sb.GetSecretValue(ctx, core.Account{ID: acct, Region: cfg.Region}, arn)
	}
}

func TestConformance(t *testing.T) {
	porttest.RunCloudTests(t, func(t *testing.T) porttest.CloudHarness {
		var e *env
		e = newEnv(t, nil, nil, &cfncloud.Options{GetSecretValue: secretsFromSandbox(&e)})
		return porttest.CloudHarness{
			Cloud:   e.cloud,
			Account: account,
			Other:   other,
			Settle:  e.sb.WaitIdle,
			Hold:    e.sb.Hold,
		}
	})
}

// The paginated paths (ListStacks, DescribeStackEvents) with pages of one.
func TestConformanceSmallPages(t *testing.T) {
	porttest.RunCloudTests(t, func(t *testing.T) porttest.CloudHarness {
		var e *env
		e = newEnv(t, nil, &cfntest.Options{PageSize: 1}, &cfncloud.Options{GetSecretValue: secretsFromSandbox(&e)})
		return porttest.CloudHarness{Cloud: e.cloud, Account: account, Other: other, Settle: e.sb.WaitIdle, Hold: e.sb.Hold}
	})
}

func TestGetSecretValueNotWired(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	_, err := e.cloud.GetSecretValue(t.Context(), account, "arn:aws:secretsmanager:eu-west-1:111111111111:secret:x-AbCdEf")
	if !errors.Is(err, core.ErrUnavailable) || !strings.Contains(err.Error(), "not wired") {
		t.Fatalf("GetSecretValue = %v, want ErrUnavailable saying it is not wired", err)
	}
	// The hook gets the account's config: its region and assumed role.
	var got aws.Config
	c := cfncloud.New(e.srv.Config("us-east-1"), &cfncloud.Options{GetSecretValue: func(ctx context.Context, cfg aws.Config, arn string) (string, error) {
		got = cfg
		return "value", nil
	}})
	v, err := c.GetSecretValue(t.Context(), account, "arn")
	if err != nil || v != "value" || got.Region != account.Region {
		t.Fatalf("GetSecretValue through the hook = %q, %v, region %q", v, err, got.Region)
	}
	creds, err := got.Credentials.Retrieve(t.Context())
	if err != nil || !strings.HasPrefix(creds.AccessKeyID, "ASIA") {
		t.Fatalf("the hook's credentials = %s, %v; want the assumed role's session", creds.AccessKeyID, err)
	}
}

const bucketTemplate = `{"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": %q}}}}`

func bucketRequest(stack, bucket, token string) core.StackRequest {
	return core.StackRequest{
		StackName: stack,
		Template:  strings.Replace(bucketTemplate, "%q", `"`+bucket+`"`, 1),
		Tags:      map[string]string{"bucketdesk:name": bucket},
		Token:     token,
	}
}

func settle(t *testing.T, e *env) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := e.sb.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
}

// TestErrorMapping feeds CloudFormation's own error documents to the SDK
// and checks the kind cfncloud returns.
func TestErrorMapping(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	ctx := t.Context()
	body := cfntest.ErrorBody
	// Stack "s" does not exist in the sandbox: when cfncloud reads its
	// events to tell a retry from a conflict, it finds none.
	describe := func() error { _, err := e.cloud.DescribeStack(ctx, account, "s"); return err }
	create := func() error { _, err := e.cloud.CreateStack(ctx, account, bucketRequest("s", "b", "t")); return err }
	update := func() error { _, err := e.cloud.UpdateStack(ctx, account, bucketRequest("s", "b", "t")); return err }
	del := func() error { return e.cloud.DeleteStack(ctx, account, "s", "t") }
	list := func() error { _, err := e.cloud.ListStacks(ctx, account, ""); return err }
	template := func() error { _, err := e.cloud.GetTemplate(ctx, account, "s"); return err }
	tests := []struct {
		name   string
		action string
		status int
		body   string
		call   func() error
		want   error
	}{
		{"throttling", "DescribeStacks", 400, body(400, "Throttling", "Rate exceeded"), describe, core.ErrThrottled},
		{"no updates", "UpdateStack", 400, body(400, "ValidationError", "No updates are to be performed."), update, core.ErrNoChange},
		{"does not exist", "DescribeStacks", 400, body(400, "ValidationError", "Stack with id s does not exist"), describe, core.ErrNotFound},
		{"update of a missing stack", "UpdateStack", 400, body(400, "ValidationError", "Stack [s] does not exist"), update, core.ErrNotFound},
		{"template of a missing stack", "GetTemplate", 400, body(400, "ValidationError", "Stack with id s does not exist"), template, core.ErrNotFound},
		{"already exists", "CreateStack", 400, body(400, "AlreadyExistsException", "Stack [s] already exists"), create, core.ErrConflict},
		{"token used elsewhere", "CreateStack", 400, body(400, "TokenAlreadyExistsException", "Token t already exists"), create, core.ErrConflict},
		{"in progress", "UpdateStack", 400, body(400, "ValidationError",
			"Stack:arn:aws:cloudformation:eu-west-1:111111111111:stack/s/1 is in UPDATE_IN_PROGRESS state and can not be updated."), update, core.ErrConflict},
		{"rollback complete", "UpdateStack", 400, body(400, "ValidationError",
			"Stack:arn:aws:cloudformation:eu-west-1:111111111111:stack/s/1 is in ROLLBACK_COMPLETE state and can not be updated."), update, core.ErrConflict},
		{"delete in progress", "DeleteStack", 400, body(400, "ValidationError", "Stack [s] cannot be deleted while in status UPDATE_IN_PROGRESS"), del, core.ErrConflict},
		{"delete of a missing stack", "DeleteStack", 400, body(400, "ValidationError", "Stack [s] does not exist"), del, nil},
		{"insufficient capabilities", "CreateStack", 400, body(400, "InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_NAMED_IAM]"), create, core.ErrInvalid},
		{"invalid template", "CreateStack", 400, body(400, "ValidationError", "Template format error: JSON not well-formed. (line 1,  column 15)"), create, core.ErrInvalid},
		{"stack limit", "CreateStack", 400, body(400, "LimitExceededException", "Limit on the number of stacks has been exceeded"), create, core.ErrConflict},
		{"internal failure", "ListStacks", 500, body(500, "InternalFailure", "The request processing has failed because of an unknown error, exception or failure."), list, core.ErrUnavailable},
		{"unavailable", "GetTemplate", 503, body(503, "ServiceUnavailable", "Service is unavailable."), template, core.ErrUnavailable},
		{"500 without a document", "DescribeStacks", 500, "oops", describe, core.ErrUnavailable},
		{"502 with an unknown code", "DescribeStacks", 502, body(502, "BadGateway", "bad gateway"), describe, core.ErrUnavailable},
		{"expired session", "DescribeStacks", 400, body(400, "ExpiredToken", "The security token included in the request is expired"), describe, core.ErrUnavailable},
		{"access denied", "DescribeStacks", 403, body(403, "AccessDenied", "User: arn:aws:sts::111111111111:assumed-role/r/s is not authorized to perform: cloudformation:DescribeStacks"), describe, core.ErrForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.srv.Inject(tc.action, tc.status, tc.body)
			err := tc.call()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("error = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error = %v, want %v", err, tc.want)
			}
			if tc.body != "oops" {
				var ae smithy.APIError
				if !errors.As(err, &ae) {
					t.Errorf("the cause is lost: %v has no smithy.APIError", err)
				}
			}
		})
	}
}

// A repeated token is success when the stack's events show it, whatever
// CloudFormation answers to the repeat.
func TestTokenRetriesFromEvents(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	ctx := t.Context()
	create := bucketRequest("tok", "tok-bucket", "create-1")
	id, err := e.cloud.CreateStack(ctx, account, create)
	if err != nil {
		t.Fatalf("CreateStack: %v", err)
	}
	settle(t, e)

	e.srv.Inject("CreateStack", 400, cfntest.ErrorBody(400, "AlreadyExistsException", "Stack [tok] already exists"))
	if got, err := e.cloud.CreateStack(ctx, account, create); err != nil || got != id {
		t.Errorf("CreateStack answered AlreadyExists for its own token = %q, %v; want %q, nil", got, err, id)
	}
	e.srv.Inject("CreateStack", 400, cfntest.ErrorBody(400, "TokenAlreadyExistsException", "token exists"))
	if got, err := e.cloud.CreateStack(ctx, account, create); err != nil || got != id {
		t.Errorf("CreateStack answered TokenAlreadyExists for its own token = %q, %v; want %q, nil", got, err, id)
	}
	e.srv.Inject("CreateStack", 400, cfntest.ErrorBody(400, "AlreadyExistsException", "Stack [tok] already exists"))
	if _, err := e.cloud.CreateStack(ctx, account, bucketRequest("tok", "tok-bucket", "create-2")); !errors.Is(err, core.ErrConflict) {
		t.Errorf("CreateStack with another token = %v, want ErrConflict", err)
	}

	update := bucketRequest("tok", "tok-bucket", "update-1")
	update.Tags = map[string]string{"changed": "yes"}
	if _, err := e.cloud.UpdateStack(ctx, account, update); err != nil {
		t.Fatalf("UpdateStack: %v", err)
	}
	settle(t, e)
	e.srv.Inject("UpdateStack", 400, cfntest.ErrorBody(400, "ValidationError", "No updates are to be performed."))
	if got, err := e.cloud.UpdateStack(ctx, account, update); err != nil || got != id {
		t.Errorf("UpdateStack answered no updates after its own update = %q, %v; want %q, nil", got, err, id)
	}
	// The create token does not make an update a retry.
	e.srv.Inject("UpdateStack", 400, cfntest.ErrorBody(400, "ValidationError", "No updates are to be performed."))
	if _, err := e.cloud.UpdateStack(ctx, account, bucketRequest("tok", "tok-bucket", "create-1")); !errors.Is(err, core.ErrNoChange) {
		t.Errorf("UpdateStack with a create's token = %v, want ErrNoChange", err)
	}
	if n := e.srv.Calls("DescribeStackEvents"); n < 4 {
		t.Errorf("DescribeStackEvents calls = %d, want the events read on every repeat", n)
	}
}

func TestAssumeRoleCached(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	ctx := t.Context()
	for range 10 {
		if _, err := e.cloud.ListStacks(ctx, account, ""); err != nil {
			t.Fatalf("ListStacks: %v", err)
		}
	}
	if n := e.srv.Calls("AssumeRole"); n != 1 {
		t.Errorf("AssumeRole calls for 10 calls in one account = %d, want 1", n)
	}
	if _, err := e.cloud.ListStacks(ctx, other, ""); err != nil {
		t.Fatalf("ListStacks(other): %v", err)
	}
	if n := e.srv.Calls("AssumeRole"); n != 2 {
		t.Errorf("AssumeRole calls after a second account = %d, want 2", n)
	}
}

// Sessions that expire within the expiry window are renewed before the
// next call; the server's manual clock never moves, so no call fails.
func TestAssumeRoleRenewedBeforeExpiry(t *testing.T) {
	e := newEnv(t, nil, &cfntest.Options{SessionDuration: 4 * time.Minute}, nil)
	ctx := t.Context()
	for range 3 {
		if _, err := e.cloud.ListStacks(ctx, account, ""); err != nil {
			t.Fatalf("ListStacks: %v", err)
		}
	}
	if n := e.srv.Calls("AssumeRole"); n != 3 {
		t.Errorf("AssumeRole calls with sessions of 4 min (window 5 min) = %d, want one per call", n)
	}
	// A window shorter than the session keeps it.
	c := cfncloud.New(e.srv.Config("us-east-1"), &cfncloud.Options{ExpiryWindow: time.Minute})
	for range 3 {
		if _, err := c.ListStacks(ctx, account, ""); err != nil {
			t.Fatalf("ListStacks: %v", err)
		}
	}
	if n := e.srv.Calls("AssumeRole"); n != 4 {
		t.Errorf("AssumeRole calls with a 1 min window = %d, want 4 (one more)", n)
	}
}

// Credentials the server considers expired are refused as STS sessions
// are: ExpiredToken, a transient error.
func TestExpiredSession(t *testing.T) {
	// The server's clock starts at the real time, so that the SDK's cache
	// (which reads the real clock) trusts the session it hands out.
	clk := clock.NewManual(time.Now())
	e := newEnv(t, nil, &cfntest.Options{Clock: clk}, &cfncloud.Options{ExpiryWindow: time.Nanosecond})
	ctx := t.Context()
	if _, err := e.cloud.ListStacks(ctx, account, ""); err != nil {
		t.Fatalf("ListStacks: %v", err)
	}
	clk.Advance(2 * time.Hour) // the server's clock only: the SDK's cache still trusts the session
	_, err := e.cloud.ListStacks(ctx, account, "")
	if !errors.Is(err, core.ErrUnavailable) || e.srv.Errors("ExpiredToken") != 1 {
		t.Fatalf("ListStacks with an expired session = %v (ExpiredToken answers %d), want ErrUnavailable", err, e.srv.Errors("ExpiredToken"))
	}
}

func TestWrongExternalID(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	wrong := account
	wrong.ExternalID = "not-the-one"
	_, err := e.cloud.DescribeStack(t.Context(), wrong, "s")
	if !errors.Is(err, core.ErrForbidden) {
		t.Fatalf("DescribeStack with a wrong external id = %v, want ErrForbidden", err)
	}
	t.Logf("the error reads: %v", err)
	for _, want := range []string{"AccessDenied", account.RoleARN, "external id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := e.srv.Errors("AccessDenied"); n != 1 {
		t.Errorf("AccessDenied answers = %d, want 1", n)
	}
	if n := e.srv.Calls("DescribeStacks"); n != 0 {
		t.Errorf("DescribeStacks calls without credentials = %d, want 0", n)
	}
	none := account
	none.ExternalID = ""
	if _, err := e.cloud.DescribeStack(t.Context(), none, "s"); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("DescribeStack without the external id = %v, want ErrForbidden", err)
	}
}

// With the sandbox's clock stopped its bucket never refills: unpaced
// calls past the burst are throttled, deterministically.
func TestThrottledWithoutPacing(t *testing.T) {
	sim := simcloud.ZeroOptions()
	sim.Clock = clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sim.RateLimit = simcloud.RateLimit{PerSecond: 1, Burst: 5}
	e := newEnv(t, sim, nil, nil)
	throttled := 0
	for range 8 {
		_, err := e.cloud.ListStacks(t.Context(), account, "")
		if errors.Is(err, core.ErrThrottled) {
			throttled++
		} else if err != nil {
			t.Fatalf("ListStacks: %v", err)
		}
	}
	if throttled != 3 || e.srv.Errors("Throttling") != 3 {
		t.Errorf("throttled = %d (server answered %d), want 3 of 8 calls past a burst of 5", throttled, e.srv.Errors("Throttling"))
	}
}

// Paced below the sandbox's rate limit (by internal/cloud/paced's limiter,
// as the AWS wiring does: Options.Pace), no request is throttled, the pages
// of a listing included: each page takes a token. The client sends at
// most 1 + 10·w requests in any window w, one at a time; the sandbox
// allows 5 + 20·w.
func TestPacedNeverThrottled(t *testing.T) {
	sim := simcloud.ZeroOptions()
	sim.RateLimit = simcloud.RateLimit{PerSecond: 20, Burst: 5}
	e := newEnv(t, sim, &cfntest.Options{PageSize: 2}, &cfncloud.Options{Pace: paced.NewLimiter(10, 1).Wait})
	ctx := t.Context()
	for i := range 9 {
		if _, err := e.cloud.CreateStack(ctx, account, bucketRequest(fmt.Sprintf("paged-%d", i), fmt.Sprintf("paged-%d-b", i), fmt.Sprint("t", i))); err != nil {
			t.Fatalf("CreateStack: %v", err)
		}
	}
	settle(t, e)
	for range 6 {
		l, err := e.cloud.ListStacks(ctx, account, "")
		if err != nil {
			t.Fatalf("ListStacks: %v", err)
		}
		if len(l) != 9 {
			t.Fatalf("ListStacks: %d stacks, want 9", len(l))
		}
	}
	if n := e.srv.Errors("Throttling"); n != 0 {
		t.Errorf("Throttling answers = %d, want 0", n)
	}
	if n := e.srv.Calls("ListStacks"); n != 6*5 {
		t.Errorf("ListStacks requests = %d, want 30 (6 listings of 5 pages)", n)
	}
}

// Pacing waits for the caller's context and says why it gave up.
func TestPacingHonoursContext(t *testing.T) {
	e := newEnv(t, nil, nil, &cfncloud.Options{Pace: paced.NewLimiter(0.001, 1).Wait})
	if _, err := e.cloud.ListStacks(t.Context(), account, ""); err != nil {
		t.Fatalf("ListStacks: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := e.cloud.DescribeStack(ctx, account, "s")
	if !errors.Is(err, core.ErrThrottled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("DescribeStack without a token = %v, want ErrThrottled and context.Canceled", err)
	}
	if n := e.srv.Calls("DescribeStacks"); n != 0 {
		t.Errorf("DescribeStacks calls = %d, want 0", n)
	}
}

// The request carries what CloudFormation needs: token, notification
// ARNs, tags, capabilities.
func TestRequestParameters(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	ctx := t.Context()
	topic := "arn:aws:sns:eu-west-1:111111111111:bucketdesk-events"
	req := bucketRequest("params", "params-bucket", "op-1")
	req.NotificationARNs = []string{topic}
	req.Capabilities = []string{"CAPABILITY_NAMED_IAM"}
	var mu sync.Mutex
	var notes []string
	cancel := e.sb.Subscribe(func(body []byte) {
		mu.Lock()
		notes = append(notes, string(body))
		mu.Unlock()
	})
	defer cancel()
	id, err := e.cloud.CreateStack(ctx, account, req)
	if err != nil {
		t.Fatalf("CreateStack: %v", err)
	}
	settle(t, e)
	if !strings.HasPrefix(id, "arn:aws:cloudformation:eu-west-1:111111111111:stack/params/") {
		t.Errorf("stack id %q is not in the account's region", id)
	}
	mu.Lock()
	if len(notes) == 0 || !strings.Contains(notes[0], topic) {
		t.Errorf("notifications = %d, the first %.200q; want them sent to %s", len(notes), notes, topic)
	}
	mu.Unlock()
	ops := e.sb.Operations()
	if len(ops) != 1 || ops[0].Token != "op-1" || ops[0].Account != account.ID {
		t.Errorf("sandbox operations = %+v, want one with token op-1 in %s", ops, account.ID)
	}
	events, err := e.sb.Events(account, "params")
	if err != nil || len(events) == 0 || events[0].ClientRequestToken != "op-1" {
		t.Errorf("events = %+v, %v; want the token on them", events, err)
	}
	st, err := e.cloud.DescribeStack(ctx, account, "params")
	if err != nil || st.Tags["bucketdesk:name"] != "params-bucket" || st.CreationTime.IsZero() {
		t.Errorf("DescribeStack = %+v, %v", st, err)
	}
	// An unsigned request is refused as AWS refuses it.
	resp, err := e.srv.Client().Post(e.srv.URL, "application/x-www-form-urlencoded", strings.NewReader("Action=CreateStack&Version=2010-05-15"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("an unsigned request: status %d, want 403", resp.StatusCode)
	}
}

// CountObjects is S3's ListObjectVersions through the account's role: it
// counts versions and delete markers of the account's bucket, a missing
// bucket holds nothing, and another account's bucket is forbidden.
func TestCountObjects(t *testing.T) {
	e := newEnv(t, nil, nil, nil)
	ctx := t.Context()
	if _, err := e.cloud.CreateStack(ctx, account, bucketRequest("counted", "counted-b", "t1")); err != nil {
		t.Fatal(err)
	}
	settle(t, e)
	if c, err := e.cloud.CountObjects(ctx, account, "counted-b"); err != nil || !c.Empty() {
		t.Fatalf("count of a new bucket: %+v, %v", c, err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if _, err := e.sb.PutObject(ctx, account, "counted-b", k, 1); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := e.cloud.CountObjects(ctx, account, "counted-b"); err != nil || c != (core.ObjectCount{Versions: 3}) {
		t.Fatalf("count of 3 objects: %+v, %v", c, err)
	}
	if c, err := e.cloud.CountObjects(ctx, account, "nobody-b"); err != nil || !c.Empty() {
		t.Errorf("count of a missing bucket: %+v, %v", c, err)
	}
	if _, err := e.cloud.CountObjects(ctx, core.Account{ID: other.ID, Region: account.Region, RoleARN: other.RoleARN, ExternalID: other.ExternalID}, "counted-b"); !errors.Is(err, core.ErrForbidden) {
		t.Errorf("count of another account's bucket: %v", err)
	}
	if n := e.srv.Calls("ListObjectVersions"); n != 4 {
		t.Errorf("ListObjectVersions calls = %d, want 4", n)
	}
}
