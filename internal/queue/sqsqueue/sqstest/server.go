// Package sqstest is an in-process stand-in for Amazon SQS that speaks its
// current wire protocol (AWS JSON 1.0: POST /, X-Amz-Target
// "AmazonSQS.<Action>", Content-Type application/x-amz-json-1.0), served by
// an httptest.Server, so that the real AWS SDK for Go v2 can be tested
// against it. No SQS stand-in runs on the test machines.
//
// It keeps standard (not FIFO) queues in memory and reproduces what the
// queue adapter and the worker rely on, as the SQS API Reference documents
// it:
//
//   - CreateQueue (idempotent for equal attributes, QueueNameExists
//     otherwise), GetQueueUrl, GetQueueAttributes, SendMessage,
//     SendMessageBatch, ReceiveMessage, DeleteMessage,
//     ChangeMessageVisibility;
//   - long polling: WaitTimeSeconds (or the queue's
//     ReceiveMessageWaitTimeSeconds) waits on the injected clock and ends
//     early when a message arrives or becomes visible;
//   - visibility timeouts, DelaySeconds, a fresh receipt handle per
//     delivery, the attributes ApproximateReceiveCount, SentTimestamp,
//     ApproximateFirstReceiveTimestamp, and MD5OfBody (which the SDK
//     checks);
//   - a RedrivePolicy: a message whose receive count has reached
//     maxReceiveCount moves to the dead-letter queue when it would be
//     received again, as SQS does;
//   - errors as documented: status 400 (500 for server faults), a body
//     {"__type": "com.amazonaws.sqs#<Code>", "message": …} and the header
//     x-amzn-query-error "<query code>;Sender", for QueueDoesNotExist,
//     ReceiptHandleIsInvalid, MessageNotInflight, InvalidParameterValue,
//     MissingParameter, InvalidAttributeName, QueueNameExists and, injected
//     with FailNext, ThrottlingException, RequestThrottled or
//     InternalError.
//
// Deliberate differences from SQS: every visible message is returned (no
// sampling of servers, so a short poll never misses one); a receipt handle
// that no longer holds its message — an earlier delivery's, or one whose
// message was deleted — is answered with ReceiptHandleIsInvalid by
// DeleteMessage and ChangeMessageVisibility alike, as the error is
// documented, whereas SQS may accept a stale handle on DeleteMessage
// silently. Signatures are not verified, only required to be present.
// MessageRetentionPeriod is kept as an attribute but messages never
// expire. Other actions (DeleteQueue, PurgeQueue, SetQueueAttributes,
// the batch deletes and visibility changes, …) answer InvalidAction.
//
// It is a test fixture: it keeps nothing on disk and is not for production.
package sqstest

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"bucketdesk/internal/core"
)

// Defaults of Options.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "123456789012"
)

// Options configures a Server. The zero value (or nil) means the defaults.
type Options struct {
	// Clock tells time for visibility timeouts and delays and waits for
	// long polls; default core.SystemClock{}. Tests pass a manual clock.
	Clock core.Clock
	// Region appears in queue ARNs and in the client of Client; default
	// us-east-1.
	Region string
	// AccountID appears in queue URLs and ARNs; default 123456789012.
	AccountID string
}

// Server is a running SQS stand-in. It is safe for concurrent use.
type Server struct {
	// URL is the endpoint to give an SDK client as BaseEndpoint.
	URL string

	http    *httptest.Server
	clock   core.Clock
	region  string
	account string

	mu      sync.Mutex
	queues  map[string]*queue // by name
	faults  []*fault
	changed chan struct{} // closed and replaced when a receiver may find a message
	closing chan struct{}
	once    sync.Once
}

// NewServer starts a Server; Close stops it.
func NewServer(opts *Options) *Server {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Clock == nil {
		o.Clock = core.SystemClock{}
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.AccountID == "" {
		o.AccountID = DefaultAccountID
	}
	s := &Server{
		clock:   o.Clock,
		region:  o.Region,
		account: o.AccountID,
		queues:  map[string]*queue{},
		changed: make(chan struct{}),
		closing: make(chan struct{}),
	}
	s.http = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.http.URL
	return s
}

// Close ends waiting long polls (they answer with no messages) and stops
// the server.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closing) })
	s.http.Close()
}

// Client returns an SDK client for this server: a fixed region, static
// credentials, BaseEndpoint set to the server and one attempt per call,
// so nothing is read from the environment or ~/.aws.
func (s *Server) Client() *sqs.Client {
	cfg := aws.Config{
		Region:           s.region,
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDSQSTEST", "sqstest-secret", ""),
		RetryMaxAttempts: 1,
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

// QueueURL returns the URL of the queue with this name, whether or not it
// exists.
func (s *Server) QueueURL(name string) string {
	return s.URL + "/" + s.account + "/" + name
}

// QueueARN returns the ARN of the queue with this name, whether or not it
// exists; RedrivePolicy's deadLetterTargetArn names a queue by it.
func (s *Server) QueueARN(name string) string {
	return "arn:aws:sqs:" + s.region + ":" + s.account + ":" + name
}

// Message is a snapshot of a stored message.
type Message struct {
	ID           string
	Body         string
	ReceiveCount int
	SentAt       time.Time
	// VisibleAt is when the message can be received again; before the
	// clock's now for a visible message.
	VisibleAt time.Time
}

// Messages returns the messages stored in the named queue, visible or
// not, in the order they were sent; nil for an unknown queue. Tests read
// a dead-letter queue with it.
func (s *Server) Messages(queueName string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[queueName]
	if q == nil {
		return nil
	}
	out := make([]Message, 0, len(q.msgs))
	for _, m := range q.msgs {
		out = append(out, Message{ID: m.id, Body: m.body, ReceiveCount: m.receiveCount, SentAt: m.sent, VisibleAt: m.visibleAt})
	}
	return out
}

// Error is an SQS error response.
type Error struct {
	// Status is the HTTP status: 400 for client faults, 500 for server
	// faults.
	Status int
	// Code is the error shape, written as "com.amazonaws.sqs#"+Code in
	// the body's __type.
	Code string
	// QueryCode is the code of the x-amzn-query-error header (the one of
	// SQS's older query protocol, which the SDK reports as ErrorCode);
	// Code when empty.
	QueryCode string
	// Message is the human-readable text.
	Message string
}

// Error returns the code and the message.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errors to inject with FailNext.
var (
	// ThrottlingException is the common error of a request rate limit.
	ThrottlingException = Error{Status: 400, Code: "ThrottlingException", Message: "Rate exceeded"}
	// RequestThrottled is SQS's own throttling error.
	RequestThrottled = Error{Status: 400, Code: "RequestThrottled", Message: "Request is throttled."}
	// InternalError is a server fault.
	InternalError = Error{Status: 500, Code: "InternalError", Message: "We encountered an internal error. Please try again."}
)

type fault struct {
	action string
	left   int
	err    Error
}

// FailNext makes the next n requests for action ("SendMessage"; "" for
// any action) answer with e instead of being carried out. Faults are used
// in the order they were added.
func (s *Server) FailNext(action string, n int, e Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{action: action, left: n, err: e})
}

// takeFault returns the injected error for this action, if any is left.
func (s *Server) takeFault(action string) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.action != "" && f.action != action {
			continue
		}
		f.left--
		if f.left <= 0 {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
		}
		e := f.err
		return &e
	}
	return nil
}

// notifyLocked wakes every waiting long poll; s.mu is held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Documented errors, by the name the API Reference gives them.
func errQueueDoesNotExist() *Error {
	return &Error{Status: 400, Code: "QueueDoesNotExist", QueryCode: "AWS.SimpleQueueService.NonExistentQueue",
		Message: "The specified queue does not exist."}
}

func errReceiptHandleIsInvalid(h string) *Error {
	return &Error{Status: 400, Code: "ReceiptHandleIsInvalid",
		Message: fmt.Sprintf("The input receipt handle %q is not a valid receipt handle.", h)}
}

func errInvalidParameterValue(format string, args ...any) *Error {
	return &Error{Status: 400, Code: "InvalidParameterValue", Message: fmt.Sprintf(format, args...)}
}

func errMissingParameter(name string) *Error {
	return &Error{Status: 400, Code: "MissingParameter",
		Message: fmt.Sprintf("The request must contain the parameter %s.", name)}
}

// maxRequestBytes bounds a request body: SQS's largest message (256 KiB)
// ten times in a batch, with room for JSON.
const maxRequestBytes = 4 << 20

// actions maps X-Amz-Target's action names onto their handlers.
var actions = map[string]func(s *Server, r *http.Request, body []byte) (any, *Error){
	"CreateQueue":             (*Server).createQueue,
	"GetQueueUrl":             (*Server).getQueueURL,
	"GetQueueAttributes":      (*Server).getQueueAttributes,
	"SendMessage":             (*Server).sendMessage,
	"SendMessageBatch":        (*Server).sendMessageBatch,
	"ReceiveMessage":          (*Server).receiveMessage,
	"DeleteMessage":           (*Server).deleteMessage,
	"ChangeMessageVisibility": (*Server).changeMessageVisibility,
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", newID())
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, &Error{Status: 400, Code: "InvalidAction",
			Message: fmt.Sprintf("The JSON protocol is POST /, not %s %s.", r.Method, r.URL.Path)})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		writeError(w, &Error{Status: 403, Code: "MissingAuthenticationToken",
			Message: "Request must contain a signature that conforms to AWS standards"})
		return
	}
	service, action, ok := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	handle := actions[action]
	if !ok || service != "AmazonSQS" || handle == nil {
		writeError(w, &Error{Status: 400, Code: "InvalidAction",
			Message: fmt.Sprintf("The action or operation %q is not valid for this endpoint.", r.Header.Get("X-Amz-Target"))})
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.0" {
		writeError(w, &Error{Status: 400, Code: "InvalidParameterValue",
			Message: fmt.Sprintf("Content-Type %q is not application/x-amz-json-1.0.", ct)})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil {
		return // the client went away
	}
	if len(body) > maxRequestBytes {
		writeError(w, errInvalidParameterValue("The request is larger than %d bytes.", maxRequestBytes))
		return
	}
	if !json.Valid(body) {
		writeError(w, &Error{Status: 400, Code: "SerializationException", Message: "The request body is not valid JSON."})
		return
	}
	if e := s.takeFault(action); e != nil {
		writeError(w, e)
		return
	}
	out, e := handle(s, r, body)
	if e != nil {
		writeError(w, e)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out)
}

// writeError answers as SQS's JSON protocol documents: the status, the
// __type and message in the body, and the query error code and fault in
// x-amzn-query-error.
func writeError(w http.ResponseWriter, e *Error) {
	qc := e.QueryCode
	if qc == "" {
		qc = e.Code
	}
	faultName := "Sender"
	if e.Status >= 500 {
		faultName = "Receiver"
	}
	w.Header().Set("x-amzn-query-error", qc+";"+faultName)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"__type":  "com.amazonaws.sqs#" + e.Code,
		"message": e.Message,
	})
}

// newID returns a random UUID (version 4), as SQS's message ids and
// request ids look.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
