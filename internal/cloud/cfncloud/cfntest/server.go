// Package cfntest is a local stand-in for STS and CloudFormation (and
// the one S3 call cfncloud makes): an
// httptest server that answers the query protocol (form-encoded
// Action=…&Version=… requests, XML answers and ErrorResponse documents
// with AWS's codes and HTTP statuses) as AWS documents it, backed by a
// simcloud.Sandbox. It exists because no local CloudFormation emulator
// runs on the machines that test bucketdesk; cfncloud's tests and the end-to-end tests run
// the real AWS SDK against it.
//
// STS AssumeRole hands out session credentials for the account of the
// role ARN (checking the external id a role demands); every
// CloudFormation call is signed with such a session, and the server runs
// it on that account's stacks in the sandbox, in the region of the
// request's signature.
//
// It is a test double, not an emulator: it does not verify signatures,
// models only the actions cfncloud calls (AssumeRole, CreateStack,
// UpdateStack, DeleteStack, DescribeStacks, ListStacks, GetTemplate,
// DescribeStackEvents, and S3's ListObjectVersions) and only the parameters bucketdesk sends, and
// whatever the sandbox does not model (parameters, change sets, creation
// times in ListStacks, listing deleted stacks) it does not answer.
package cfntest

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
)

// XML namespaces of the two services' answers.
const (
	cfnNS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
	stsNS = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// Base credentials of Config: any key other than a session's may call
// AssumeRole, as a Lambda's own role would.
const (
	BaseAccessKeyID     = "AKIACFNTESTBASE00000"
	BaseSecretAccessKey = "cfntest-base-secret-access-key-000000000"
)

// Options configure a Server.
type Options struct {
	// ExternalIDs maps a role ARN to the external id its trust policy
	// demands. AssumeRole of a listed role with another external id (or
	// none) is AccessDenied, as STS answers; a role not listed is assumed
	// with any external id or none.
	ExternalIDs map[string]string
	// SessionDuration, when set, is the lifetime of every session, whatever
	// DurationSeconds asked (STS grants 15 minutes to 12 hours), so that a
	// test can hand out credentials that are already near their expiry.
	SessionDuration time.Duration
	// Clock stamps sessions and decides their expiry; nil is the system
	// clock.
	Clock core.Clock
	// PageSize is the page size of ListStacks and DescribeStackEvents; 0 is
	// 100, as CloudFormation's.
	PageSize int
}

// Server is the stand-in. Its embedded httptest.Server gives URL, Client
// and Close.
type Server struct {
	*httptest.Server
	sb   *simcloud.Sandbox
	opts Options

	mu       sync.Mutex
	sessions map[string]session // by access key id
	seq      int
	calls    map[string]int
	errs     map[string]int
	canned   map[string][]Canned
}

// session is what an AssumeRole handed out.
type session struct {
	account string
	role    string
	token   string
	expires time.Time
}

// Canned is an answer given instead of the sandbox's: see Server.Inject.
type Canned struct {
	Status int
	Body   string
}

// New starts a server in front of sb. opts nil means the zero Options.
// The caller closes the server (before the sandbox).
func New(sb *simcloud.Sandbox, opts *Options) *Server {
	s := &Server{sb: sb, sessions: map[string]session{}, calls: map[string]int{}, errs: map[string]int{}, canned: map[string][]Canned{}}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.Clock == nil {
		s.opts.Clock = core.SystemClock{}
	}
	if s.opts.PageSize <= 0 {
		s.opts.PageSize = 100
	}
	s.Server = httptest.NewServer(s)
	return s
}

// Config returns an aws.Config that reaches this server: the base
// credentials, region, the server as BaseEndpoint, its HTTP client and no
// retries. It is the base config of cfncloud.New in tests.
func (s *Server) Config(region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(BaseAccessKeyID, BaseSecretAccessKey, ""),
		BaseEndpoint: aws.String(s.URL),
		HTTPClient:   s.Client(),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	}
}

// Calls returns how many requests of action (AssumeRole, CreateStack, …)
// the server has received, canned answers and errors included.
func (s *Server) Calls(action string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[action]
}

// Errors returns how many error answers with this code (Throttling,
// ValidationError, AccessDenied, …) the server has given.
func (s *Server) Errors(code string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errs[code]
}

// Inject makes the next call of action answer status and body instead of
// asking the sandbox (after the caller's credentials are checked); several
// injections of one action answer in turn. Tests use it for faults the
// sandbox does not produce, with AWS's own error documents.
func (s *Server) Inject(action string, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.canned[action] = append(s.canned[action], Canned{Status: status, Body: body})
}

// ErrorBody renders an ErrorResponse document as the query protocol
// answers it (Type is Sender, or Receiver for a status of 500 and more).
func ErrorBody(status int, code, message string) string {
	b, _ := xml.Marshal(errorResponse{
		Xmlns:     cfnNS,
		Error:     errorDetail{Type: faultType(status), Code: code, Message: message},
		RequestID: "cfntest-error",
	})
	return string(b)
}

func faultType(status int) string {
	if status >= 500 {
		return "Receiver"
	}
	return "Sender"
}

type errorResponse struct {
	XMLName   xml.Name    `xml:"ErrorResponse"`
	Xmlns     string      `xml:"xmlns,attr"`
	Error     errorDetail `xml:"Error"`
	RequestID string      `xml:"RequestId"`
}

type errorDetail struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// apiError is an error answer.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func sender(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, message: fmt.Sprintf(format, args...)}
}

// response is an answer document: <ActionResponse><ActionResult>…
type response struct {
	XMLName   xml.Name
	Xmlns     string `xml:"xmlns,attr"`
	Result    any
	RequestID string `xml:"ResponseMetadata>RequestId"`
}

// ServeHTTP answers one query-protocol request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		s.serveS3(w, r)
		return
	}
	ns := cfnNS
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		s.writeError(w, ns, sender("MalformedQueryString", "the request is not a form-encoded POST"))
		return
	}
	action := r.PostForm.Get("Action")
	s.mu.Lock()
	s.calls[action]++
	s.seq++
	reqID := fmt.Sprintf("cfntest-%08d", s.seq)
	s.mu.Unlock()

	var result any
	var err error
	if action == "AssumeRole" {
		ns = stsNS
		if r.PostForm.Get("Version") != "2011-06-15" {
			err = sender("InvalidAction", "Could not find operation %s for version %s", action, r.PostForm.Get("Version"))
		} else if c, ok := s.take(action); ok {
			s.writeCanned(w, c)
			return
		} else {
			result, err = s.assumeRole(r)
		}
	} else {
		var sess session
		var region string
		sess, region, err = s.caller(r)
		if err == nil {
			if c, ok := s.take(action); ok {
				s.writeCanned(w, c)
				return
			}
			result, err = s.cloudFormation(r, action, core.Account{ID: sess.account, Region: region})
		}
	}
	if err != nil {
		s.writeError(w, ns, err)
		return
	}
	if result == nil {
		result = &struct{ XMLName xml.Name }{}
	}
	setName(result, action+"Result")
	b, merr := xml.Marshal(response{XMLName: xml.Name{Local: action + "Response"}, Xmlns: ns, Result: result, RequestID: reqID})
	if merr != nil {
		s.writeError(w, ns, &apiError{status: 500, code: "InternalFailure", message: merr.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.Write([]byte(xml.Header))
	w.Write(b)
}

// setName sets the XMLName field of a result struct.
func setName(result any, name string) {
	switch v := result.(type) {
	case *createResult:
		v.XMLName.Local = name
	case *describeStacksResult:
		v.XMLName.Local = name
	case *listStacksResult:
		v.XMLName.Local = name
	case *getTemplateResult:
		v.XMLName.Local = name
	case *eventsResult:
		v.XMLName.Local = name
	case *assumeRoleResult:
		v.XMLName.Local = name
	case *struct{ XMLName xml.Name }:
		v.XMLName.Local = name
	}
}

func (s *Server) take(action string) (Canned, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.canned[action]
	if len(q) == 0 {
		return Canned{}, false
	}
	s.canned[action] = q[1:]
	return q[0], true
}

var codeRe = regexp.MustCompile(`<Code>([^<]*)</Code>`)

func (s *Server) writeCanned(w http.ResponseWriter, c Canned) {
	if c.Status >= 300 {
		if m := codeRe.FindStringSubmatch(c.Body); m != nil {
			s.mu.Lock()
			s.errs[m[1]]++
			s.mu.Unlock()
		}
	}
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(c.Status)
	w.Write([]byte(c.Body))
}

// writeError renders err as an ErrorResponse: an *apiError as it is, a
// sandbox *simcloud.APIError with its code and message, anything else by
// its kind.
func (s *Server) writeError(w http.ResponseWriter, ns string, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = fromSandbox(err)
	}
	s.mu.Lock()
	s.errs[ae.code]++
	s.seq++
	reqID := fmt.Sprintf("cfntest-%08d", s.seq)
	s.mu.Unlock()
	b, _ := xml.Marshal(errorResponse{
		Xmlns:     ns,
		Error:     errorDetail{Type: faultType(ae.status), Code: ae.code, Message: ae.message},
		RequestID: reqID,
	})
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", reqID)
	w.WriteHeader(ae.status)
	w.Write([]byte(xml.Header))
	w.Write(b)
}

// fromSandbox renders a sandbox error as CloudFormation would answer it.
func fromSandbox(err error) *apiError {
	var se *simcloud.APIError
	if errors.As(err, &se) {
		status := http.StatusBadRequest
		switch {
		case se.Code == "ServiceUnavailable" || errors.Is(se, core.ErrUnavailable):
			status = http.StatusServiceUnavailable
		case errors.Is(se, core.ErrInternal):
			status = http.StatusInternalServerError
		}
		return &apiError{status: status, code: se.Code, message: se.Message}
	}
	switch {
	case errors.Is(err, core.ErrThrottled):
		return sender("Throttling", "Rate exceeded")
	case errors.Is(err, core.ErrInvalid):
		return sender("ValidationError", "%v", err)
	case errors.Is(err, core.ErrInternal):
		return &apiError{status: http.StatusInternalServerError, code: "InternalFailure", message: "The request processing has failed because of an unknown error, exception or failure."}
	}
	return &apiError{status: http.StatusServiceUnavailable, code: "ServiceUnavailable", message: "Service is unavailable: " + err.Error()}
}

// credentialRe reads the access key and region of a SigV4 Authorization
// header: Credential=AKID/20060102/region/service/aws4_request.
var credentialRe = regexp.MustCompile(`Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request`)

// caller returns the session that signed r and the region of the
// signature. The signature itself is not verified.
func (s *Server) caller(r *http.Request) (session, string, error) {
	m := credentialRe.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return session{}, "", &apiError{status: http.StatusForbidden, code: "MissingAuthenticationToken", message: "Request is missing Authentication Token"}
	}
	s.mu.Lock()
	sess, ok := s.sessions[m[1]]
	s.mu.Unlock()
	if !ok || r.Header.Get("X-Amz-Security-Token") != sess.token {
		return session{}, "", &apiError{status: http.StatusForbidden, code: "InvalidClientTokenId", message: "The security token included in the request is invalid."}
	}
	if !s.opts.Clock.Now().Before(sess.expires) {
		return session{}, "", &apiError{status: http.StatusBadRequest, code: "ExpiredToken", message: "The security token included in the request is expired"}
	}
	return sess, m[2], nil
}

var (
	roleRe        = regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}):role/([\w+=,.@/-]+)$`)
	sessionNameRe = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

type assumeRoleResult struct {
	XMLName         xml.Name
	AccessKeyID     string `xml:"Credentials>AccessKeyId"`
	SecretAccessKey string `xml:"Credentials>SecretAccessKey"`
	SessionToken    string `xml:"Credentials>SessionToken"`
	Expiration      string `xml:"Credentials>Expiration"`
	AssumedRoleArn  string `xml:"AssumedRoleUser>Arn"`
	AssumedRoleID   string `xml:"AssumedRoleUser>AssumedRoleId"`
}

// assumeRole answers STS AssumeRole.
func (s *Server) assumeRole(r *http.Request) (any, error) {
	if r.Header.Get("Authorization") == "" {
		return nil, &apiError{status: http.StatusForbidden, code: "MissingAuthenticationToken", message: "Request is missing Authentication Token"}
	}
	f := r.PostForm
	role, name := f.Get("RoleArn"), f.Get("RoleSessionName")
	m := roleRe.FindStringSubmatch(role)
	if m == nil {
		return nil, sender("ValidationError", "%s is invalid", role)
	}
	if !sessionNameRe.MatchString(name) {
		return nil, sender("ValidationError", "1 validation error detected: Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*", name)
	}
	d := time.Hour
	if v := f.Get("DurationSeconds"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 900 || n > 43200 {
			return nil, sender("ValidationError", "1 validation error detected: Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900", v)
		}
		d = time.Duration(n) * time.Second
	}
	if want, ok := s.opts.ExternalIDs[role]; ok && f.Get("ExternalId") != want {
		return nil, &apiError{status: http.StatusForbidden, code: "AccessDenied",
			message: "User: arn:aws:sts::000000000000:assumed-role/cfntest-base/cfntest is not authorized to perform: sts:AssumeRole on resource: " + role}
	}
	if s.opts.SessionDuration > 0 {
		d = s.opts.SessionDuration
	}
	now := s.opts.Clock.Now().UTC()
	s.mu.Lock()
	s.seq++
	n := s.seq
	sess := session{account: m[1], role: role, token: fmt.Sprintf("cfntest-session/%s/%d", m[1], n), expires: now.Add(d)}
	key := fmt.Sprintf("ASIA%016X", n)
	s.sessions[key] = sess
	s.mu.Unlock()
	roleName := m[2][strings.LastIndex(m[2], "/")+1:]
	return &assumeRoleResult{
		AccessKeyID:     key,
		SecretAccessKey: fmt.Sprintf("cfntest-secret-%026d", n),
		SessionToken:    sess.token,
		Expiration:      sess.expires.Format(time.RFC3339),
		AssumedRoleArn:  "arn:aws:sts::" + m[1] + ":assumed-role/" + roleName + "/" + name,
		AssumedRoleID:   fmt.Sprintf("AROACFNTEST%09d:%s", n, name),
	}, nil
}

// Sessions returns how many sessions AssumeRole has handed out.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// AccountOf returns the account of the session an AssumeRole handed out
// with accessKeyID, as AWS knows whose credentials sign a call; a test
// plays another service of that account with it.
func (s *Server) AccountOf(accessKeyID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.sessions[accessKeyID]
	return se.account, ok
}

// members reads a query-protocol list: Name.member.1, Name.member.2, …
func members(f map[string][]string, name string) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := f[name+".member."+strconv.Itoa(i)]
		if !ok || len(v) == 0 {
			return out
		}
		out = append(out, v[0])
	}
}

// tags reads Tags.member.N.Key/Value; nil when absent, empty when the
// list was sent empty ("Tags=": remove every tag).
func tags(f map[string][]string) map[string]string {
	var out map[string]string
	if _, empty := f["Tags"]; empty {
		out = map[string]string{}
	}
	for i := 1; ; i++ {
		p := "Tags.member." + strconv.Itoa(i)
		k, ok := f[p+".Key"]
		if !ok || len(k) == 0 {
			return out
		}
		if out == nil {
			out = map[string]string{}
		}
		v := ""
		if vs := f[p+".Value"]; len(vs) > 0 {
			v = vs[0]
		}
		out[k[0]] = v
	}
}

type createResult struct {
	XMLName xml.Name
	StackID string `xml:"StackId"`
}

type stackXML struct {
	StackID           string   `xml:"StackId"`
	StackName         string   `xml:"StackName"`
	CreationTime      string   `xml:"CreationTime"`
	LastUpdatedTime   string   `xml:"LastUpdatedTime,omitempty"`
	StackStatus       string   `xml:"StackStatus"`
	StackStatusReason string   `xml:"StackStatusReason,omitempty"`
	DisableRollback   bool     `xml:"DisableRollback"`
	Outputs           []kvXML  `xml:"Outputs>member"`
	Tags              []tagXML `xml:"Tags>member"`
}

type kvXML struct {
	OutputKey   string `xml:"OutputKey"`
	OutputValue string `xml:"OutputValue"`
}

type tagXML struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type describeStacksResult struct {
	XMLName xml.Name
	Stacks  []stackXML `xml:"Stacks>member"`
}

type summaryXML struct {
	StackID     string `xml:"StackId"`
	StackName   string `xml:"StackName"`
	StackStatus string `xml:"StackStatus"`
}

type listStacksResult struct {
	XMLName        xml.Name
	StackSummaries []summaryXML `xml:"StackSummaries>member"`
	NextToken      string       `xml:"NextToken,omitempty"`
}

type getTemplateResult struct {
	XMLName         xml.Name
	TemplateBody    string   `xml:"TemplateBody"`
	StagesAvailable []string `xml:"StagesAvailable>member"`
}

type eventXML struct {
	StackID              string `xml:"StackId"`
	EventID              string `xml:"EventId"`
	StackName            string `xml:"StackName"`
	LogicalResourceID    string `xml:"LogicalResourceId"`
	PhysicalResourceID   string `xml:"PhysicalResourceId,omitempty"`
	ResourceType         string `xml:"ResourceType"`
	Timestamp            string `xml:"Timestamp"`
	ResourceStatus       string `xml:"ResourceStatus"`
	ResourceStatusReason string `xml:"ResourceStatusReason,omitempty"`
	ClientRequestToken   string `xml:"ClientRequestToken,omitempty"`
}

type eventsResult struct {
	XMLName     xml.Name
	StackEvents []eventXML `xml:"StackEvents>member"`
	NextToken   string     `xml:"NextToken,omitempty"`
}

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// page returns the slice [from, from+size) of n items named by a
// NextToken, and the next token ("" at the end).
func page(token string, n, size int) (int, int, string, error) {
	from := 0
	if token != "" {
		v, err := strconv.Atoi(token)
		if err != nil || v < 0 || v > n {
			return 0, 0, "", sender("ValidationError", "Invalid NextToken")
		}
		from = v
	}
	to := min(from+size, n)
	next := ""
	if to < n {
		next = strconv.Itoa(to)
	}
	return from, to, next, nil
}

// cloudFormation runs one CloudFormation action on account a.
func (s *Server) cloudFormation(r *http.Request, action string, a core.Account) (any, error) {
	f := r.PostForm
	if v := f.Get("Version"); v != "2010-05-15" {
		return nil, sender("InvalidAction", "Could not find operation %s for version %s", action, v)
	}
	ctx := r.Context()
	name := f.Get("StackName")
	if name == "" && action != "ListStacks" {
		return nil, sender("ValidationError", "1 validation error detected: Value null at 'stackName' failed to satisfy constraint: Member must not be null")
	}
	req := func() (core.StackRequest, error) {
		if _, ok := f["TemplateBody"]; !ok {
			return core.StackRequest{}, sender("ValidationError", "Either Template URL or Template Body must be specified.")
		}
		return core.StackRequest{
			StackName:        name,
			Template:         f.Get("TemplateBody"),
			Tags:             tags(f),
			Token:            f.Get("ClientRequestToken"),
			NotificationARNs: members(f, "NotificationARNs"),
			Capabilities:     members(f, "Capabilities"),
		}, nil
	}
	switch action {
	case "CreateStack":
		sr, err := req()
		if err != nil {
			return nil, err
		}
		id, err := s.sb.CreateStack(ctx, a, sr)
		if err != nil {
			return nil, err
		}
		return &createResult{StackID: id}, nil
	case "UpdateStack":
		sr, err := req()
		if err != nil {
			return nil, err
		}
		id, err := s.sb.UpdateStack(ctx, a, sr)
		if err != nil {
			return nil, err
		}
		return &createResult{StackID: id}, nil
	case "DeleteStack":
		return nil, s.sb.DeleteStack(ctx, a, name, f.Get("ClientRequestToken"))
	case "DescribeStacks":
		st, err := s.sb.DescribeStack(ctx, a, name)
		if err != nil {
			return nil, err
		}
		x := stackXML{
			StackID: st.StackID, StackName: st.StackName, StackStatus: st.Status, StackStatusReason: st.StatusReason,
			CreationTime: timestamp(st.CreationTime),
		}
		if !st.LastUpdatedTime.IsZero() {
			x.LastUpdatedTime = timestamp(st.LastUpdatedTime)
		}
		for _, k := range sortedKeys(st.Outputs) {
			x.Outputs = append(x.Outputs, kvXML{OutputKey: k, OutputValue: st.Outputs[k]})
		}
		for _, k := range sortedKeys(st.Tags) {
			x.Tags = append(x.Tags, tagXML{Key: k, Value: st.Tags[k]})
		}
		return &describeStacksResult{Stacks: []stackXML{x}}, nil
	case "ListStacks":
		list, err := s.sb.ListStacks(ctx, a, "")
		if err != nil {
			return nil, err
		}
		if filter := members(f, "StackStatusFilter"); len(filter) > 0 {
			keep := list[:0]
			for _, st := range list {
				for _, want := range filter {
					if st.Status == want {
						keep = append(keep, st)
						break
					}
				}
			}
			list = keep
		}
		from, to, next, err := page(f.Get("NextToken"), len(list), s.opts.PageSize)
		if err != nil {
			return nil, err
		}
		res := &listStacksResult{NextToken: next}
		for _, st := range list[from:to] {
			res.StackSummaries = append(res.StackSummaries, summaryXML{StackID: st.StackID, StackName: st.StackName, StackStatus: st.Status})
		}
		return res, nil
	case "GetTemplate":
		body, err := s.sb.GetTemplate(ctx, a, name)
		if err != nil {
			return nil, err
		}
		return &getTemplateResult{TemplateBody: body, StagesAvailable: []string{"Original", "Processed"}}, nil
	case "DescribeStackEvents":
		events, err := s.sb.Events(a, name)
		if err != nil {
			return nil, err
		}
		// Newest first, as CloudFormation lists them.
		for i, j := 0, len(events)-1; i < j; i, j = i+1, j-1 {
			events[i], events[j] = events[j], events[i]
		}
		from, to, next, err := page(f.Get("NextToken"), len(events), s.opts.PageSize)
		if err != nil {
			return nil, err
		}
		res := &eventsResult{NextToken: next}
		for _, e := range events[from:to] {
			res.StackEvents = append(res.StackEvents, eventXML{
				StackID: e.StackID, EventID: e.EventID, StackName: e.StackName,
				LogicalResourceID: e.LogicalResourceID, PhysicalResourceID: e.PhysicalResourceID, ResourceType: e.ResourceType,
				Timestamp: timestamp(e.Timestamp), ResourceStatus: e.ResourceStatus, ResourceStatusReason: e.StatusReason,
				ClientRequestToken: e.ClientRequestToken,
			})
		}
		return res, nil
	}
	return nil, sender("InvalidAction", "The action %s is not valid for this web service.", action)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
