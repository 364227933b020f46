package sqstest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// queue is one standard queue.
type queue struct {
	name, url, arn string
	// given are the attributes CreateQueue was called with; a second
	// CreateQueue must repeat them.
	given    map[string]string
	created  time.Time
	visible  time.Duration // default visibility timeout
	delay    time.Duration // default delivery delay
	wait     time.Duration // default long-poll wait
	retain   time.Duration // not enforced: messages are kept until deleted
	maxBytes int
	redrive  *redrivePolicy

	msgs []*message // in the order sent (or moved here)
}

type redrivePolicy struct {
	targetARN       string
	maxReceiveCount int
}

type message struct {
	id, body, md5 string
	sent          time.Time
	firstReceive  time.Time
	receiveCount  int
	visibleAt     time.Time
	receipt       string // of the latest delivery; "" before the first
}

// Limits of the SQS API Reference.
const (
	maxVisibility   = 12 * time.Hour
	maxDelay        = 15 * time.Minute
	maxWait         = 20 * time.Second
	maxBatchEntries = 10
	defaultMaxBytes = 262144
)

var queueName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// decode reads a request body into v; a body of the wrong shape is a
// SerializationException, as AWS JSON services answer.
func decode(body []byte, v any) *Error {
	if err := json.Unmarshal(body, v); err != nil {
		return &Error{Status: 400, Code: "SerializationException", Message: "Could not read the request: " + err.Error()}
	}
	return nil
}

// queueByURLLocked finds the queue a QueueUrl names. Only the path
// (/account/name) is compared, so a URL copied from another client of the
// same server works. s.mu is held.
func (s *Server) queueByURLLocked(raw *string) (*queue, *Error) {
	if raw == nil || *raw == "" {
		return nil, errMissingParameter("QueueUrl")
	}
	u, err := url.Parse(*raw)
	if err != nil {
		return nil, errInvalidParameterValue("Value %s for parameter QueueUrl is invalid. Reason: not a URL.", *raw)
	}
	account, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || account != s.account {
		return nil, errQueueDoesNotExist()
	}
	q := s.queues[name]
	if q == nil {
		return nil, errQueueDoesNotExist()
	}
	return q, nil
}

func (s *Server) queueByARNLocked(arn string) *queue {
	for _, q := range s.queues {
		if q.arn == arn {
			return q
		}
	}
	return nil
}

// seconds reads an optional integer parameter in [lo, hi] seconds.
func seconds(name string, v *int64, lo, hi time.Duration, def time.Duration) (time.Duration, *Error) {
	if v == nil {
		return def, nil
	}
	d := time.Duration(*v) * time.Second
	if d < lo || d > hi {
		return 0, errInvalidParameterValue("Value %d for parameter %s is invalid. Reason: Must be between %d and %d, if provided.",
			*v, name, int(lo.Seconds()), int(hi.Seconds()))
	}
	return d, nil
}

// CreateQueue.

type createQueueInput struct {
	QueueName  *string
	Attributes map[string]string
}

func (s *Server) createQueue(_ *http.Request, body []byte) (any, *Error) {
	var in createQueueInput
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.QueueName == nil || *in.QueueName == "" {
		return nil, errMissingParameter("QueueName")
	}
	name := *in.QueueName
	if strings.HasSuffix(name, ".fifo") || in.Attributes["FifoQueue"] != "" {
		return nil, errInvalidParameterValue("FIFO queues are not supported by this stand-in (queue %s).", name)
	}
	if !queueName.MatchString(name) {
		return nil, errInvalidParameterValue("Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queues[name]; q != nil {
		if !maps.Equal(q.given, in.Attributes) && !(len(q.given) == 0 && len(in.Attributes) == 0) {
			return nil, &Error{Status: 400, Code: "QueueNameExists", QueryCode: "QueueAlreadyExists",
				Message: "A queue already exists with the same name and a different value for attribute(s)"}
		}
		return map[string]string{"QueueUrl": q.url}, nil
	}
	q := &queue{
		name: name, url: s.QueueURL(name), arn: s.QueueARN(name),
		given:   maps.Clone(in.Attributes),
		created: s.clock.Now(),
		visible: 30 * time.Second, retain: 4 * 24 * time.Hour, maxBytes: defaultMaxBytes,
	}
	for _, k := range slices.Sorted(maps.Keys(in.Attributes)) {
		if e := s.setAttributeLocked(q, k, in.Attributes[k]); e != nil {
			return nil, e
		}
	}
	s.queues[name] = q
	return map[string]string{"QueueUrl": q.url}, nil
}

func (s *Server) setAttributeLocked(q *queue, name, value string) *Error {
	intValue := func(lo, hi int) (int, *Error) {
		n, err := strconv.Atoi(value)
		if err != nil || n < lo || n > hi {
			return 0, &Error{Status: 400, Code: "InvalidAttributeValue",
				Message: fmt.Sprintf("Invalid value for the parameter %s.", name)}
		}
		return n, nil
	}
	var e *Error
	var n int
	switch name {
	case "VisibilityTimeout":
		n, e = intValue(0, int(maxVisibility.Seconds()))
		q.visible = time.Duration(n) * time.Second
	case "DelaySeconds":
		n, e = intValue(0, int(maxDelay.Seconds()))
		q.delay = time.Duration(n) * time.Second
	case "ReceiveMessageWaitTimeSeconds":
		n, e = intValue(0, int(maxWait.Seconds()))
		q.wait = time.Duration(n) * time.Second
	case "MessageRetentionPeriod":
		n, e = intValue(60, 1209600)
		q.retain = time.Duration(n) * time.Second
	case "MaximumMessageSize":
		n, e = intValue(1024, defaultMaxBytes)
		q.maxBytes = n
	case "RedrivePolicy":
		q.redrive, e = s.parseRedriveLocked(value)
	default:
		return &Error{Status: 400, Code: "InvalidAttributeName", Message: fmt.Sprintf("Unknown Attribute %s.", name)}
	}
	return e
}

func (s *Server) parseRedriveLocked(value string) (*redrivePolicy, *Error) {
	var p struct {
		DeadLetterTargetArn string          `json:"deadLetterTargetArn"`
		MaxReceiveCount     json.RawMessage `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(value), &p); err != nil {
		return nil, errInvalidParameterValue("Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value for the parameter RedrivePolicy.", value)
	}
	// SQS accepts the count as a number or as a string.
	raw := strings.Trim(string(p.MaxReceiveCount), `"`)
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 1000 {
		return nil, errInvalidParameterValue("Value %s for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: %s, valid values are from 1 to 1000 both inclusive.", value, raw)
	}
	if s.queueByARNLocked(p.DeadLetterTargetArn) == nil {
		return nil, errInvalidParameterValue("Value %s for parameter RedrivePolicy is invalid. Reason: Dead-letter target does not exist.", value)
	}
	return &redrivePolicy{targetARN: p.DeadLetterTargetArn, maxReceiveCount: n}, nil
}

// GetQueueUrl.

func (s *Server) getQueueURL(_ *http.Request, body []byte) (any, *Error) {
	var in struct {
		QueueName              *string
		QueueOwnerAWSAccountId *string
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.QueueName == nil || *in.QueueName == "" {
		return nil, errMissingParameter("QueueName")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[*in.QueueName]
	if q == nil || (in.QueueOwnerAWSAccountId != nil && *in.QueueOwnerAWSAccountId != s.account) {
		return nil, errQueueDoesNotExist()
	}
	return map[string]string{"QueueUrl": q.url}, nil
}

// GetQueueAttributes.

var queueAttributeNames = []string{
	"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessagesNotVisible",
	"CreatedTimestamp", "DelaySeconds", "LastModifiedTimestamp", "MaximumMessageSize", "MessageRetentionPeriod",
	"QueueArn", "ReceiveMessageWaitTimeSeconds", "RedrivePolicy", "VisibilityTimeout",
}

func (s *Server) getQueueAttributes(_ *http.Request, body []byte) (any, *Error) {
	var in struct {
		QueueUrl       *string
		AttributeNames []string
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, e := s.queueByURLLocked(in.QueueUrl)
	if e != nil {
		return nil, e
	}
	now := s.clock.Now()
	var visible, delayed, inflight int
	for _, m := range q.msgs {
		switch {
		case !m.visibleAt.After(now):
			visible++
		case m.receiveCount == 0:
			delayed++
		default:
			inflight++
		}
	}
	secs := func(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }
	all := map[string]string{
		"ApproximateNumberOfMessages":           strconv.Itoa(visible),
		"ApproximateNumberOfMessagesDelayed":    strconv.Itoa(delayed),
		"ApproximateNumberOfMessagesNotVisible": strconv.Itoa(inflight),
		"CreatedTimestamp":                      strconv.FormatInt(q.created.Unix(), 10),
		"DelaySeconds":                          secs(q.delay),
		"LastModifiedTimestamp":                 strconv.FormatInt(q.created.Unix(), 10),
		"MaximumMessageSize":                    strconv.Itoa(q.maxBytes),
		"MessageRetentionPeriod":                secs(q.retain),
		"QueueArn":                              q.arn,
		"ReceiveMessageWaitTimeSeconds":         secs(q.wait),
		"VisibilityTimeout":                     secs(q.visible),
	}
	if q.redrive != nil {
		all["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":%d}`, q.redrive.targetARN, q.redrive.maxReceiveCount)
	}
	out := map[string]string{}
	for _, name := range in.AttributeNames {
		if name == "All" {
			maps.Copy(out, all)
			continue
		}
		if !slices.Contains(queueAttributeNames, name) {
			return nil, &Error{Status: 400, Code: "InvalidAttributeName", Message: fmt.Sprintf("Unknown Attribute %s.", name)}
		}
		if v, ok := all[name]; ok {
			out[name] = v
		}
	}
	if len(out) == 0 {
		return map[string]any{}, nil
	}
	return map[string]any{"Attributes": out}, nil
}

// SendMessage and SendMessageBatch.

type sendEntry struct {
	Id           *string
	MessageBody  *string
	DelaySeconds *int64
}

// validBody reports whether body has only the characters SQS allows:
// #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF.
func validBody(body string) bool {
	if !utf8.ValidString(body) {
		return false
	}
	for _, r := range body {
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false
		}
	}
	return true
}

// sendLocked validates and stores one message; s.mu is held.
func (s *Server) sendLocked(q *queue, e sendEntry) (*message, *Error) {
	if e.MessageBody == nil || *e.MessageBody == "" {
		return nil, errMissingParameter("MessageBody")
	}
	body := *e.MessageBody
	if len(body) > q.maxBytes {
		return nil, errInvalidParameterValue("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", q.maxBytes)
	}
	if !validBody(body) {
		return nil, &Error{Status: 400, Code: "InvalidMessageContents",
			Message: "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"}
	}
	delay, er := seconds("DelaySeconds", e.DelaySeconds, 0, maxDelay, q.delay)
	if er != nil {
		return nil, er
	}
	now := s.clock.Now()
	m := &message{id: newID(), body: body, md5: md5Hex(body), sent: now, visibleAt: now.Add(delay)}
	q.msgs = append(q.msgs, m)
	return m, nil
}

func (s *Server) sendMessage(_ *http.Request, body []byte) (any, *Error) {
	var in struct {
		QueueUrl *string
		sendEntry
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, e := s.queueByURLLocked(in.QueueUrl)
	if e != nil {
		return nil, e
	}
	m, e := s.sendLocked(q, in.sendEntry)
	if e != nil {
		return nil, e
	}
	s.notifyLocked()
	return map[string]string{"MessageId": m.id, "MD5OfMessageBody": m.md5}, nil
}

func (s *Server) sendMessageBatch(_ *http.Request, body []byte) (any, *Error) {
	var in struct {
		QueueUrl *string
		Entries  []sendEntry
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, e := s.queueByURLLocked(in.QueueUrl)
	if e != nil {
		return nil, e
	}
	switch {
	case len(in.Entries) == 0:
		return nil, &Error{Status: 400, Code: "EmptyBatchRequest", QueryCode: "AWS.SimpleQueueService.EmptyBatchRequest",
			Message: "There should be at least one SendMessageBatchRequestEntry in the request."}
	case len(in.Entries) > maxBatchEntries:
		return nil, &Error{Status: 400, Code: "TooManyEntriesInBatchRequest", QueryCode: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
			Message: fmt.Sprintf("Maximum number of entries per request are %d. You have sent %d.", maxBatchEntries, len(in.Entries))}
	}
	seen := map[string]bool{}
	for _, en := range in.Entries {
		if en.Id == nil || *en.Id == "" {
			return nil, errMissingParameter("Id")
		}
		if seen[*en.Id] {
			return nil, &Error{Status: 400, Code: "BatchEntryIdsNotDistinct", QueryCode: "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
				Message: fmt.Sprintf("Id %s repeated.", *en.Id)}
		}
		seen[*en.Id] = true
	}
	type ok struct{ Id, MessageId, MD5OfMessageBody string }
	type failed struct {
		Id, Code, Message string
		SenderFault       bool
	}
	successful, failures := []ok{}, []failed{}
	for _, en := range in.Entries {
		m, e := s.sendLocked(q, en)
		if e != nil {
			failures = append(failures, failed{Id: *en.Id, Code: e.Code, Message: e.Message, SenderFault: true})
			continue
		}
		successful = append(successful, ok{Id: *en.Id, MessageId: m.id, MD5OfMessageBody: m.md5})
	}
	s.notifyLocked()
	return map[string]any{"Successful": successful, "Failed": failures}, nil
}

// ReceiveMessage.

type receiveInput struct {
	QueueUrl                    *string
	MaxNumberOfMessages         *int64
	WaitTimeSeconds             *int64
	VisibilityTimeout           *int64
	AttributeNames              []string
	MessageSystemAttributeNames []string
	MessageAttributeNames       []string
}

type receivedMessage struct {
	MessageId     string
	ReceiptHandle string
	MD5OfBody     string
	Body          string
	Attributes    map[string]string `json:",omitempty"`
}

func (s *Server) receiveMessage(r *http.Request, body []byte) (any, *Error) {
	var in receiveInput
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	q, e := s.queueByURLLocked(in.QueueUrl)
	s.mu.Unlock()
	if e != nil {
		return nil, e
	}
	max := 1
	if in.MaxNumberOfMessages != nil {
		if *in.MaxNumberOfMessages < 1 || *in.MaxNumberOfMessages > maxBatchEntries {
			return nil, errInvalidParameterValue("Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", *in.MaxNumberOfMessages)
		}
		max = int(*in.MaxNumberOfMessages)
	}
	wait, e := seconds("WaitTimeSeconds", in.WaitTimeSeconds, 0, maxWait, q.wait)
	if e != nil {
		return nil, e
	}
	vis, e := seconds("VisibilityTimeout", in.VisibilityTimeout, 0, maxVisibility, q.visible)
	if e != nil {
		return nil, e
	}
	want := map[string]bool{}
	for _, n := range append(in.AttributeNames, in.MessageSystemAttributeNames...) {
		want[n] = true
	}

	var deadline <-chan time.Time
	if wait > 0 {
		deadline = s.clock.After(wait)
	}
	var (
		expired   = wait == 0
		nextTimer <-chan time.Time // fires when the earliest invisible message may become visible
		nextAt    time.Time
	)
	for {
		s.mu.Lock()
		q, e := s.queueByURLLocked(in.QueueUrl)
		if e != nil {
			s.mu.Unlock()
			return nil, e
		}
		now := s.clock.Now()
		got := s.takeLocked(q, now, max, vis, want)
		next := q.nextVisibleLocked(now)
		changed := s.changed
		s.mu.Unlock()
		if len(got) > 0 || expired {
			return map[string]any{"Messages": got}, nil
		}
		if !next.IsZero() && (nextAt.IsZero() || next.Before(nextAt)) {
			nextAt, nextTimer = next, s.clock.After(next.Sub(now))
		}
		select {
		case <-changed:
		case <-nextTimer:
			nextAt, nextTimer = time.Time{}, nil
		case <-deadline:
			expired = true // look once more, then answer
		case <-r.Context().Done():
			return map[string]any{"Messages": []receivedMessage{}}, nil
		case <-s.closing:
			return map[string]any{"Messages": []receivedMessage{}}, nil
		}
	}
}

// takeLocked delivers up to max visible messages, moving to the
// dead-letter queue those that have been received maxReceiveCount times
// already. s.mu is held.
func (s *Server) takeLocked(q *queue, now time.Time, max int, vis time.Duration, want map[string]bool) []receivedMessage {
	var dlq *queue
	if q.redrive != nil {
		dlq = s.queueByARNLocked(q.redrive.targetARN)
	}
	got := []receivedMessage{}
	kept := make([]*message, 0, len(q.msgs))
	moved := false
	for _, m := range q.msgs {
		if len(got) == max || m.visibleAt.After(now) {
			kept = append(kept, m)
			continue
		}
		if dlq != nil && dlq != q && m.receiveCount >= q.redrive.maxReceiveCount {
			// SQS keeps the message id and the original sent time.
			m.visibleAt, m.receipt = now, ""
			dlq.msgs = append(dlq.msgs, m)
			moved = true
			continue
		}
		m.receiveCount++
		if m.firstReceive.IsZero() {
			m.firstReceive = now
		}
		m.visibleAt = now.Add(vis)
		m.receipt = newReceipt(m.id)
		got = append(got, receivedMessage{
			MessageId: m.id, ReceiptHandle: m.receipt, MD5OfBody: m.md5, Body: m.body,
			Attributes: m.attributes(want),
		})
		kept = append(kept, m)
	}
	q.msgs = kept
	if moved {
		s.notifyLocked()
	}
	return got
}

// nextVisibleLocked returns the earliest time after now at which a
// message of q becomes visible, or the zero time.
func (q *queue) nextVisibleLocked(now time.Time) time.Time {
	var next time.Time
	for _, m := range q.msgs {
		if m.visibleAt.After(now) && (next.IsZero() || m.visibleAt.Before(next)) {
			next = m.visibleAt
		}
	}
	return next
}

func (m *message) attributes(want map[string]bool) map[string]string {
	all := want["All"]
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	out := map[string]string{}
	if all || want["ApproximateReceiveCount"] {
		out["ApproximateReceiveCount"] = strconv.Itoa(m.receiveCount)
	}
	if all || want["SentTimestamp"] {
		out["SentTimestamp"] = ms(m.sent)
	}
	if all || want["ApproximateFirstReceiveTimestamp"] {
		out["ApproximateFirstReceiveTimestamp"] = ms(m.firstReceive)
	}
	if all || want["SenderId"] {
		out["SenderId"] = "AIDASQSTEST"
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// A receipt handle names its message and one delivery of it.
func newReceipt(messageID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(messageID + "#" + newID()))
}

// byReceiptLocked returns the message whose latest delivery h is.
func (q *queue) byReceiptLocked(h *string) (int, *message, *Error) {
	if h == nil || *h == "" {
		return 0, nil, errMissingParameter("ReceiptHandle")
	}
	raw, err := base64.RawURLEncoding.DecodeString(*h)
	id, _, ok := strings.Cut(string(raw), "#")
	if err != nil || !ok {
		return 0, nil, errReceiptHandleIsInvalid(*h)
	}
	for i, m := range q.msgs {
		if m.id == id {
			if m.receipt != *h {
				return 0, nil, errReceiptHandleIsInvalid(*h) // an earlier delivery's
			}
			return i, m, nil
		}
	}
	return 0, nil, errReceiptHandleIsInvalid(*h) // deleted, or moved to the dead letters
}

// DeleteMessage and ChangeMessageVisibility.

func (s *Server) deleteMessage(_ *http.Request, body []byte) (any, *Error) {
	var in struct{ QueueUrl, ReceiptHandle *string }
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, e := s.queueByURLLocked(in.QueueUrl)
	if e != nil {
		return nil, e
	}
	i, _, e := q.byReceiptLocked(in.ReceiptHandle)
	if e != nil {
		return nil, e
	}
	q.msgs = slices.Delete(q.msgs, i, i+1)
	return struct{}{}, nil
}

func (s *Server) changeMessageVisibility(_ *http.Request, body []byte) (any, *Error) {
	var in struct {
		QueueUrl, ReceiptHandle *string
		VisibilityTimeout       *int64
	}
	if e := decode(body, &in); e != nil {
		return nil, e
	}
	if in.VisibilityTimeout == nil {
		return nil, errMissingParameter("VisibilityTimeout")
	}
	vis, e := seconds("VisibilityTimeout", in.VisibilityTimeout, 0, maxVisibility, 0)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q, e := s.queueByURLLocked(in.QueueUrl)
	if e != nil {
		return nil, e
	}
	_, m, e := q.byReceiptLocked(in.ReceiptHandle)
	if e != nil {
		return nil, e
	}
	now := s.clock.Now()
	if !m.visibleAt.After(now) {
		return nil, &Error{Status: 400, Code: "MessageNotInflight", QueryCode: "AWS.SimpleQueueService.MessageNotInflight",
			Message: "The message referred to isn't in flight."}
	}
	m.visibleAt = now.Add(vis)
	if vis == 0 {
		s.notifyLocked()
	}
	return struct{}{}, nil
}
