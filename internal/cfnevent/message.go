// Package cfnevent owns the wire formats in which CloudFormation reports
// stack events: the SNS notification (its Key='Value' message text and the
// SNS envelope around it) and the EventBridge "CloudFormation Stack Status
// Change" and "CloudFormation Resource Status Change" events. It parses each
// of them into a core.StackEvent, and renders SNS notifications exactly as
// CloudFormation and SNS send them, for the in-process CloudFormation
// sandbox.
//
// It performs no I/O and keeps no state. Parse errors wrap core.ErrInvalid
// and name what was missing or malformed, never the message itself, which
// may carry resource properties.
package cfnevent

import (
	"fmt"
	"strings"
	"time"

	"bucketdesk/internal/core"
)

// The keys of the SNS message text, in the order CloudFormation writes them.
const (
	keyStackID            = "StackId"
	keyTimestamp          = "Timestamp"
	keyEventID            = "EventId"
	keyLogicalResourceID  = "LogicalResourceId"
	keyNamespace          = "Namespace"
	keyPhysicalResourceID = "PhysicalResourceId"
	keyPrincipalID        = "PrincipalId"
	keyResourceProperties = "ResourceProperties"
	keyResourceStatus     = "ResourceStatus"
	keyStatusReason       = "ResourceStatusReason"
	keyResourceType       = "ResourceType"
	keyStackName          = "StackName"
	keyClientRequestToken = "ClientRequestToken"
)

// null is how CloudFormation writes an absent value; none (Python's None)
// is how some notifications write it. Both are read as absent.
const (
	null = "null"
	none = "None"
)

// Timestamps are written as CloudFormation does: UTC, milliseconds.
const timeLayoutMilli = "2006-01-02T15:04:05.000Z"

// A time finer than a millisecond (never from AWS, possible from a caller)
// keeps its digits, so that formatting loses nothing.
const timeLayoutNano = "2006-01-02T15:04:05.999999999Z"

// Notification is one CloudFormation SNS notification message with the fields StackEvent lacks.
type Notification struct {
	Event              core.StackEvent
	Namespace          string // the account id
	PrincipalID        string
	ResourceProperties string // JSON of the resource's properties, may span several lines; "" → 'null'
}

// FormatMessage renders the SNS Message text: Key='Value' lines in CloudFormation's order (StackId, Timestamp, EventId, LogicalResourceId, Namespace, PhysicalResourceId, PrincipalId, ResourceProperties, ResourceStatus, ResourceStatusReason, ResourceType, StackName, ClientRequestToken), empty values as 'null'.
//
// Every line ends with a newline, the last one too. As CloudFormation does,
// an empty PhysicalResourceId or ResourceStatusReason is written as empty
// quotes and every other empty value as 'null'; ParseMessage reads both (and 'None') as empty.
// Values are written verbatim, unescaped, as CloudFormation writes them: a
// value that holds a quote followed by a newline and Key=' cannot be read
// back unambiguously (see ParseMessage).
func FormatMessage(n Notification) string {
	e := &n.Event
	var b strings.Builder
	b.Grow(320 + len(e.StackID)*2 + len(e.EventID) + len(e.LogicalResourceID) +
		len(e.PhysicalResourceID) + len(e.StatusReason) + len(e.ResourceType) +
		len(e.StackName) + len(e.ClientRequestToken) + len(n.Namespace) +
		len(n.PrincipalID) + len(n.ResourceProperties))
	writeField(&b, keyStackID, e.StackID, null)
	writeField(&b, keyTimestamp, formatTime(e.Timestamp), null)
	writeField(&b, keyEventID, e.EventID, null)
	writeField(&b, keyLogicalResourceID, e.LogicalResourceID, null)
	writeField(&b, keyNamespace, n.Namespace, null)
	writeField(&b, keyPhysicalResourceID, e.PhysicalResourceID, "")
	writeField(&b, keyPrincipalID, n.PrincipalID, null)
	writeField(&b, keyResourceProperties, n.ResourceProperties, null)
	writeField(&b, keyResourceStatus, e.ResourceStatus, null)
	writeField(&b, keyStatusReason, e.StatusReason, "")
	writeField(&b, keyResourceType, e.ResourceType, null)
	writeField(&b, keyStackName, e.StackName, null)
	writeField(&b, keyClientRequestToken, e.ClientRequestToken, null)
	return b.String()
}

func writeField(b *strings.Builder, key, value, empty string) {
	if value == "" {
		value = empty
	}
	b.WriteString(key)
	b.WriteString("='")
	b.WriteString(value)
	b.WriteString("'\n")
}

// formatTime renders t as CloudFormation does; the zero time is empty.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	if t.Nanosecond()%int(time.Millisecond) == 0 {
		return t.Format(timeLayoutMilli)
	}
	return t.Format(timeLayoutNano)
}

// parseTime reads an RFC 3339 time (CloudFormation's has milliseconds, an
// EventBridge time has none) as UTC.
func parseTime(s string) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	t = t.UTC()
	// An offset can move a four-digit year out of the range that RFC 3339
	// can write back.
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, false
	}
	return t, true
}

// Bits of the keys ParseMessage has seen, to refuse a repeated one.
const (
	seenStackID = 1 << iota
	seenTimestamp
	seenEventID
	seenLogicalResourceID
	seenNamespace
	seenPhysicalResourceID
	seenPrincipalID
	seenResourceProperties
	seenResourceStatus
	seenStatusReason
	seenResourceType
	seenStackName
	seenClientRequestToken
)

// ParseMessage parses the Message text into a StackEvent.
//
// The text is a sequence of Key='Value' fields, one after another, each
// followed by a newline (the last one's is optional). Keys are letters and
// digits, starting with a letter, in any order; unknown keys (Service
// Catalog adds ProductVersionId, for one) are skipped, and a repeated known
// key is an error. Values are not escaped, so a value ends at the first
// quote that is followed by a newline and the next Key=' or by the end of
// the text (optionally after a newline): quotes, equal signs, newlines and
// even Key=' inside a value are read as part of it as long as they do not
// take that shape. JSON cannot (a string in it holds no raw newline), so a
// ResourceProperties document never ends its value early. 'null' and
// 'None' are read as empty, in every field.
//
// StackId, StackName, ResourceStatus, Timestamp (RFC 3339) and EventId are
// required. Namespace, PrincipalId and ResourceProperties are checked for
// form only; StackEvent has no place for them.
func ParseMessage(msg string) (core.StackEvent, error) {
	var (
		e    core.StackEvent
		seen uint
		ts   string
	)
	rest := msg
	for field := 1; rest != ""; field++ {
		n := keyLen(rest)
		if n == 0 {
			if field == 1 {
				return core.StackEvent{}, invalidf("SNS message does not start with Key='Value'")
			}
			// Unreachable: valueEnd only stops before a key or the end.
			return core.StackEvent{}, invalidf("SNS message field %d is not Key='Value'", field)
		}
		key := rest[:n-2]
		rest = rest[n:]
		end := valueEnd(rest)
		if end < 0 {
			return core.StackEvent{}, invalidf("SNS message: the value of %s has no closing quote", shorten(key))
		}
		v := rest[:end]
		rest = rest[end+1:]
		if rest != "" {
			rest = rest[1:] // the newline after the closing quote
		}
		if v == null || v == none {
			v = ""
		}
		var bit uint
		switch key {
		case keyStackID:
			bit, e.StackID = seenStackID, v
		case keyTimestamp:
			bit, ts = seenTimestamp, v
		case keyEventID:
			bit, e.EventID = seenEventID, v
		case keyLogicalResourceID:
			bit, e.LogicalResourceID = seenLogicalResourceID, v
		case keyNamespace:
			bit = seenNamespace
		case keyPhysicalResourceID:
			bit, e.PhysicalResourceID = seenPhysicalResourceID, v
		case keyPrincipalID:
			bit = seenPrincipalID
		case keyResourceProperties:
			bit = seenResourceProperties
		case keyResourceStatus:
			bit, e.ResourceStatus = seenResourceStatus, v
		case keyStatusReason:
			bit, e.StatusReason = seenStatusReason, v
		case keyResourceType:
			bit, e.ResourceType = seenResourceType, v
		case keyStackName:
			bit, e.StackName = seenStackName, v
		case keyClientRequestToken:
			bit, e.ClientRequestToken = seenClientRequestToken, v
		default:
			continue
		}
		if seen&bit != 0 {
			return core.StackEvent{}, invalidf("SNS message: %s appears twice", key)
		}
		seen |= bit
	}
	if ts != "" {
		t, ok := parseTime(ts)
		if !ok {
			return core.StackEvent{}, invalidf("SNS message: Timestamp is not an RFC 3339 time")
		}
		e.Timestamp = t
	}
	if err := checkRequired(&e, "SNS message", true); err != nil {
		return core.StackEvent{}, err
	}
	return e, nil
}

// checkRequired reports the required fields e lacks, all at once.
func checkRequired(e *core.StackEvent, what string, eventID bool) error {
	var missing []string
	if e.StackID == "" {
		missing = append(missing, keyStackID)
	}
	if e.StackName == "" {
		missing = append(missing, keyStackName)
	}
	if e.ResourceStatus == "" {
		missing = append(missing, keyResourceStatus)
	}
	if e.Timestamp.IsZero() {
		missing = append(missing, keyTimestamp)
	}
	if eventID && e.EventID == "" {
		missing = append(missing, keyEventID)
	}
	if len(missing) > 0 {
		return invalidf("%s: missing %s", what, strings.Join(missing, ", "))
	}
	return nil
}

// keyLen returns the length of the Key=' that s starts with, 0 if none.
func keyLen(s string) int {
	i := 0
	for i < len(s) && (isLetter(s[i]) || i > 0 && '0' <= s[i] && s[i] <= '9') {
		i++
	}
	if i == 0 || i+2 > len(s) || s[i] != '=' || s[i+1] != '\'' {
		return 0
	}
	return i + 2
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// valueEnd returns the index in s of the quote that closes the value s
// starts with, -1 if none: the first quote followed by the end of s, by a
// newline and the end, or by a newline and Key='.
func valueEnd(s string) int {
	for i := 0; ; {
		j := strings.IndexByte(s[i:], '\'')
		if j < 0 {
			return -1
		}
		j += i
		after := s[j+1:]
		if after == "" || after == "\n" || after[0] == '\n' && keyLen(after[1:]) > 0 {
			return j
		}
		i = j + 1
	}
}

// invalidf returns an error of kind core.ErrInvalid.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("cfnevent: %w: %s", core.ErrInvalid, fmt.Sprintf(format, args...))
}

// shorten bounds a piece of input quoted in an error.
func shorten(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
