// Package cfncloud is core.Cloud on AWS CloudFormation: each project
// account is reached through STS AssumeRole with the project's role ARN and
// external id, with one cached client (and one cached, self-refreshing set
// of credentials) per account. It paces each CloudFormation request, page
// by page, through Options.Pace: the wiring passes internal/cloud/paced's
// limiter, which keeps bucketdesk under CloudFormation's API rate limit.
//
// The adapter does not retry (its SDK clients make one attempt); it maps
// CloudFormation's answers onto core's error kinds as core.Cloud documents,
// and makes the ClientRequestToken idempotency of core.Cloud hold whatever
// CloudFormation answers to a repeated token: a conflict or "no updates"
// answer is success when the stack's events show an operation of the same
// kind started with the same token.
//
// Package cfntest is its local stand-in: an httptest server speaking the
// STS and CloudFormation query protocols, backed by the sandbox.
package cfncloud

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"bucketdesk/internal/core"
)

var (
	_ core.Cloud   = (*Cloud)(nil)
	_ core.Objects = (*Cloud)(nil)
)

// Options configure a Cloud. The zero value (or nil) means: clients built
// from the base config with one attempt per call, the SDK's endpoints,
// sessions of an hour refreshed five minutes before
// they expire.
type Options struct {
	// NewCFN builds the CloudFormation client of one account from cfg,
	// which carries the account's region and assumed-role credentials.
	// nil: cloudformation.NewFromConfig with no retries (and Endpoint).
	NewCFN func(cfg aws.Config) *cloudformation.Client
	// NewSTS builds the STS client that assumes an account's role; cfg is
	// the base config in the account's region. nil: sts.NewFromConfig with
	// no retries (and Endpoint).
	NewSTS func(cfg aws.Config) *sts.Client
	// NewS3 builds the S3 client of one account, as NewCFN. nil:
	// s3.NewFromConfig with no retries (and Endpoint, path-style).
	NewS3 func(cfg aws.Config) *s3.Client
	// Endpoint, when set, is the base endpoint of the default STS,
	// CloudFormation and S3 clients: a local stand-in such as cfntest.
	Endpoint string
	// SessionName is the RoleSessionName of assumed roles, as CloudTrail
	// shows it; "" is "bucketdesk".
	SessionName string
	// SessionDuration is the lifetime asked of AssumeRole; 0 is an hour
	// (the default maximum of a role).
	SessionDuration time.Duration
	// ExpiryWindow is how long before their expiry credentials are
	// refreshed; 0 is five minutes.
	ExpiryWindow time.Duration
	// Pace, when set, is called before each CloudFormation request, each
	// page of a listing included, and may wait: internal/setup passes
	// paced.Limiter's Wait, so that bucketdesk stays under CloudFormation's
	// API rate of the account. An error ends the call. nil: unpaced.
	Pace func(ctx context.Context, a core.Account) error
	// GetSecretValue, when set, reads a Secrets Manager secret with cfg,
	// the account's config (region, assumed-role credentials), so that the
	// wiring can plug in a Secrets Manager client. nil: GetSecretValue
	// answers ErrUnavailable (the module does not depend on Secrets
	// Manager's SDK yet).
	GetSecretValue func(ctx context.Context, cfg aws.Config, secretARN string) (string, error)
}

// Cloud is core.Cloud on CloudFormation. It is safe for concurrent use.
type Cloud struct {
	base aws.Config
	opts Options

	mu       sync.Mutex
	accounts map[string]*account // by accountKey
}

// account is the cached way into one account.
type account struct {
	cfg aws.Config
	cfn *cloudformation.Client
	s3  *s3.Client
}

// New returns a Cloud that reaches project accounts from base: its
// credentials assume each account's role (an account without a role ARN
// is reached with base's own credentials), and its HTTP client, endpoint
// and region (when an account has none) are kept. opts nil means the
// defaults of Options.
func New(base aws.Config, opts *Options) *Cloud {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.SessionName == "" {
		o.SessionName = "bucketdesk"
	}
	if o.SessionDuration <= 0 {
		o.SessionDuration = time.Hour
	}
	if o.ExpiryWindow <= 0 {
		o.ExpiryWindow = 5 * time.Minute
	}
	return &Cloud{base: base.Copy(), opts: o, accounts: map[string]*account{}}
}

func accountKey(a core.Account) string {
	return strings.Join([]string{a.ID, a.Region, a.RoleARN, a.ExternalID}, "\x00")
}

// account returns the cached client of a, building it on first use.
// Building calls nothing: the role is assumed on the first call that
// needs credentials, and again shortly before they expire.
func (c *Cloud) account(a core.Account) (*account, error) {
	if a.ID == "" {
		return nil, fmt.Errorf("cfncloud: account id is required: %w", core.ErrInvalid)
	}
	key := accountKey(a)
	c.mu.Lock()
	defer c.mu.Unlock()
	if ac := c.accounts[key]; ac != nil {
		return ac, nil
	}
	cfg := c.base.Copy()
	if a.Region != "" {
		cfg.Region = a.Region
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if a.RoleARN != "" {
		prov := stscreds.NewAssumeRoleProvider(c.newSTS(cfg.Copy()), a.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = c.opts.SessionName
			o.Duration = c.opts.SessionDuration
			if a.ExternalID != "" {
				o.ExternalID = aws.String(a.ExternalID)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(prov, func(o *aws.CredentialsCacheOptions) {
			o.ExpiryWindow = c.opts.ExpiryWindow
		})
	}
	ac := &account{cfg: cfg, cfn: c.newCFN(cfg), s3: c.newS3(cfg)}
	c.accounts[key] = ac
	return ac, nil
}

func (c *Cloud) newSTS(cfg aws.Config) *sts.Client {
	if c.opts.NewSTS != nil {
		return c.opts.NewSTS(cfg)
	}
	return sts.NewFromConfig(cfg, func(o *sts.Options) {
		o.Retryer = aws.NopRetryer{}
		if c.opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.opts.Endpoint)
		}
	})
}

func (c *Cloud) newCFN(cfg aws.Config) *cloudformation.Client {
	if c.opts.NewCFN != nil {
		return c.opts.NewCFN(cfg)
	}
	return cloudformation.NewFromConfig(cfg, func(o *cloudformation.Options) {
		o.Retryer = aws.NopRetryer{}
		if c.opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.opts.Endpoint)
		}
	})
}

func (c *Cloud) newS3(cfg aws.Config) *s3.Client {
	if c.opts.NewS3 != nil {
		return c.opts.NewS3(cfg)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.Retryer = aws.NopRetryer{}
		if c.opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.opts.Endpoint)
			o.UsePathStyle = true
		}
	})
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func tagList(m map[string]string) []types.Tag {
	if m == nil {
		return nil
	}
	tags := make([]types.Tag, 0, len(m))
	for k, v := range m {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	slices.SortFunc(tags, func(x, y types.Tag) int { return strings.Compare(*x.Key, *y.Key) })
	return tags
}

func capabilities(caps []string) []types.Capability {
	var out []types.Capability
	for _, c := range caps {
		out = append(out, types.Capability(c))
	}
	return out
}

// pace waits for Options.Pace before a CloudFormation request.
func (c *Cloud) pace(ctx context.Context, a core.Account) error {
	if c.opts.Pace == nil {
		return nil
	}
	return c.opts.Pace(ctx, a)
}

// CreateStack creates a stack. An existing stack is ErrConflict unless the
// stack's events show a create with the same token: then it is a retry,
// and its stack id is returned.
func (c *Cloud) CreateStack(ctx context.Context, a core.Account, req core.StackRequest) (string, error) {
	ac, err := c.account(a)
	if err != nil {
		return "", err
	}
	if err := c.pace(ctx, a); err != nil {
		return "", err
	}
	out, err := ac.cfn.CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName:          aws.String(req.StackName),
		TemplateBody:       aws.String(req.Template),
		Tags:               tagList(req.Tags),
		Capabilities:       capabilities(req.Capabilities),
		NotificationARNs:   req.NotificationARNs,
		ClientRequestToken: optional(req.Token),
	})
	if err == nil {
		return aws.ToString(out.StackId), nil
	}
	kerr := mapError(a, "CreateStack "+req.StackName, err)
	if req.Token != "" && errorCodeIn(err, "AlreadyExistsException", "TokenAlreadyExistsException") {
		if id, ok, terr := c.tokenUsed(ctx, ac, a, req.StackName, req.Token, "CREATE_"); terr != nil {
			return "", terr
		} else if ok {
			return id, nil
		}
	}
	return "", kerr
}

// UpdateStack starts an update. A stack in progress or without changes is
// success when the stack's events show an update with the same token (a
// retry); otherwise ErrConflict or ErrNoChange.
func (c *Cloud) UpdateStack(ctx context.Context, a core.Account, req core.StackRequest) (string, error) {
	ac, err := c.account(a)
	if err != nil {
		return "", err
	}
	in := &cloudformation.UpdateStackInput{
		StackName:          aws.String(req.StackName),
		TemplateBody:       aws.String(req.Template),
		Tags:               tagList(req.Tags),
		Capabilities:       capabilities(req.Capabilities),
		NotificationARNs:   req.NotificationARNs,
		ClientRequestToken: optional(req.Token),
	}
	if err := c.pace(ctx, a); err != nil {
		return "", err
	}
	out, err := ac.cfn.UpdateStack(ctx, in)
	if err == nil {
		return aws.ToString(out.StackId), nil
	}
	kerr := mapError(a, "UpdateStack "+req.StackName, err)
	if req.Token != "" && (errors.Is(kerr, core.ErrConflict) || errors.Is(kerr, core.ErrNoChange)) {
		if id, ok, terr := c.tokenUsed(ctx, ac, a, req.StackName, req.Token, "UPDATE_"); terr != nil {
			return "", terr
		} else if ok {
			return id, nil
		}
	}
	return "", kerr
}

// DeleteStack starts deleting a stack. A missing stack is success; a
// conflict is success when the stack's events show a delete with the same
// token.
func (c *Cloud) DeleteStack(ctx context.Context, a core.Account, stackName, token string) error {
	ac, err := c.account(a)
	if err != nil {
		return err
	}
	if err := c.pace(ctx, a); err != nil {
		return err
	}
	_, err = ac.cfn.DeleteStack(ctx, &cloudformation.DeleteStackInput{
		StackName:          aws.String(stackName),
		ClientRequestToken: optional(token),
	})
	if err == nil {
		return nil
	}
	kerr := mapError(a, "DeleteStack "+stackName, err)
	switch {
	case errors.Is(kerr, core.ErrNotFound):
		return nil
	case token != "" && errors.Is(kerr, core.ErrConflict):
		if _, ok, terr := c.tokenUsed(ctx, ac, a, stackName, token, "DELETE_"); terr != nil {
			return terr
		} else if ok {
			return nil
		}
	}
	return kerr
}

// tokenPages bounds how many pages of events (newest first) tokenUsed
// reads: a retry follows its first attempt closely.
const tokenPages = 5

// tokenUsed reports whether the stack's events show a stack-level event
// of an operation started with token whose status starts with prefix
// (CREATE_, UPDATE_, DELETE_), and the stack's id. A missing stack is not
// an error: the token was not used on it.
func (c *Cloud) tokenUsed(ctx context.Context, ac *account, a core.Account, stack, token, prefix string) (string, bool, error) {
	p := cloudformation.NewDescribeStackEventsPaginator(ac.cfn, &cloudformation.DescribeStackEventsInput{StackName: aws.String(stack)})
	for i := 0; i < tokenPages && p.HasMorePages(); i++ {
		if err := c.pace(ctx, a); err != nil {
			return "", false, err
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			kerr := mapError(a, "DescribeStackEvents "+stack, err)
			if errors.Is(kerr, core.ErrNotFound) {
				return "", false, nil
			}
			return "", false, kerr
		}
		for _, e := range page.StackEvents {
			if aws.ToString(e.ResourceType) == "AWS::CloudFormation::Stack" &&
				aws.ToString(e.ClientRequestToken) == token &&
				strings.HasPrefix(string(e.ResourceStatus), prefix) {
				return aws.ToString(e.StackId), true, nil
			}
		}
	}
	return "", false, nil
}

// DescribeStack returns a stack by name or id (a deleted one by id).
func (c *Cloud) DescribeStack(ctx context.Context, a core.Account, stack string) (*core.Stack, error) {
	ac, err := c.account(a)
	if err != nil {
		return nil, err
	}
	if err := c.pace(ctx, a); err != nil {
		return nil, err
	}
	out, err := ac.cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		return nil, mapError(a, "DescribeStacks "+stack, err)
	}
	if len(out.Stacks) == 0 {
		return nil, fmt.Errorf("cfncloud: DescribeStacks %s in account %s: no stack in the answer: %w", stack, a.ID, core.ErrNotFound)
	}
	s := out.Stacks[0]
	st := &core.Stack{
		StackID:         aws.ToString(s.StackId),
		StackName:       aws.ToString(s.StackName),
		Status:          string(s.StackStatus),
		StatusReason:    aws.ToString(s.StackStatusReason),
		CreationTime:    aws.ToTime(s.CreationTime),
		LastUpdatedTime: aws.ToTime(s.LastUpdatedTime),
	}
	if len(s.Outputs) > 0 {
		st.Outputs = make(map[string]string, len(s.Outputs))
		for _, o := range s.Outputs {
			st.Outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
		}
	}
	if len(s.Tags) > 0 {
		st.Tags = make(map[string]string, len(s.Tags))
		for _, t := range s.Tags {
			st.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return st, nil
}

// liveStatuses is every stack status but DELETE_COMPLETE: ListStacks
// filters on the server, so deleted stacks (kept for 90 days) are not
// paged through.
var liveStatuses = func() []types.StackStatus {
	var out []types.StackStatus
	for _, s := range types.StackStatus("").Values() {
		if s != types.StackStatusDeleteComplete {
			out = append(out, s)
		}
	}
	return out
}()

// ListStacks returns the account's stacks whose name starts with prefix
// and that are not DELETE_COMPLETE, ordered by name. CloudFormation
// cannot filter by name, so every page is read, each paced as one
// request.
func (c *Cloud) ListStacks(ctx context.Context, a core.Account, prefix string) ([]core.StackSummary, error) {
	ac, err := c.account(a)
	if err != nil {
		return nil, err
	}
	var out []core.StackSummary
	p := cloudformation.NewListStacksPaginator(ac.cfn, &cloudformation.ListStacksInput{StackStatusFilter: liveStatuses})
	for p.HasMorePages() {
		if err := c.pace(ctx, a); err != nil {
			return nil, err
		}
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapError(a, "ListStacks", err)
		}
		for _, s := range page.StackSummaries {
			name := aws.ToString(s.StackName)
			if !strings.HasPrefix(name, prefix) || s.StackStatus == types.StackStatusDeleteComplete {
				continue
			}
			out = append(out, core.StackSummary{StackID: aws.ToString(s.StackId), StackName: name, Status: string(s.StackStatus)})
		}
	}
	slices.SortFunc(out, func(x, y core.StackSummary) int { return strings.Compare(x.StackName, y.StackName) })
	return out, nil
}

// GetTemplate returns the body of the stack's current template (stage
// Original: as submitted).
func (c *Cloud) GetTemplate(ctx context.Context, a core.Account, stack string) (string, error) {
	ac, err := c.account(a)
	if err != nil {
		return "", err
	}
	if err := c.pace(ctx, a); err != nil {
		return "", err
	}
	out, err := ac.cfn.GetTemplate(ctx, &cloudformation.GetTemplateInput{
		StackName:     aws.String(stack),
		TemplateStage: types.TemplateStageOriginal,
	})
	if err != nil {
		return "", mapError(a, "GetTemplate "+stack, err)
	}
	return aws.ToString(out.TemplateBody), nil
}

// GetSecretValue reads a secret through Options.GetSecretValue. Without
// it the answer is ErrUnavailable: the reveal of a key is not wired on AWS
// yet. The value is never logged nor kept.
func (c *Cloud) GetSecretValue(ctx context.Context, a core.Account, secretARN string) (string, error) {
	if c.opts.GetSecretValue == nil {
		return "", fmt.Errorf("cfncloud: reveal is not wired on AWS yet (no Secrets Manager client): %w", core.ErrUnavailable)
	}
	ac, err := c.account(a)
	if err != nil {
		return "", err
	}
	return c.opts.GetSecretValue(ctx, ac.cfg, secretARN)
}

// CountObjects counts a bucket's object versions and delete markers with
// one ListObjectVersions page (core.Objects), through the project's role
// (which needs s3:ListBucketVersions on the bucket). S3's request rates
// are per bucket prefix and far above one call per delete, so the wiring
// does not pace it.
func (c *Cloud) CountObjects(ctx context.Context, a core.Account, bucket string) (core.ObjectCount, error) {
	ac, err := c.account(a)
	if err != nil {
		return core.ObjectCount{}, err
	}
	out, err := ac.s3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{
		Bucket: aws.String(bucket), MaxKeys: aws.Int32(core.ObjectCountLimit),
	})
	if err != nil {
		if errorCode(err) == "NoSuchBucket" {
			return core.ObjectCount{}, nil
		}
		return core.ObjectCount{}, mapError(a, "ListObjectVersions of bucket "+bucket, err)
	}
	return core.ObjectCount{
		Versions: len(out.Versions), DeleteMarkers: len(out.DeleteMarkers),
		More: aws.ToBool(out.IsTruncated),
	}, nil
}
