package cfnevent

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"bucketdesk/internal/core"
)

// What ParseEventBridge reads: the source and detail types of CloudFormation
// stack and resource status events.
const (
	EventBridgeSource  = "aws.cloudformation"
	DetailTypeStack    = "CloudFormation Stack Status Change"
	DetailTypeResource = "CloudFormation Resource Status Change"
)

// eventIDPrefix marks an EventID derived by ParseEventBridge.
const eventIDPrefix = "eb-"

type ebEvent struct {
	Source     string    `json:"source"`
	DetailType string    `json:"detail-type"`
	Time       string    `json:"time"`
	Detail     *ebDetail `json:"detail"`
}

type ebDetail struct {
	StackID            string `json:"stack-id"`
	LogicalResourceID  string `json:"logical-resource-id"`
	PhysicalResourceID string `json:"physical-resource-id"`
	ResourceType       string `json:"resource-type"`
	StatusDetails      struct {
		Status       string `json:"status"`
		StatusReason string `json:"status-reason"`
	} `json:"status-details"`
	ClientRequestToken string `json:"client-request-token"`
}

// ParseEventBridge parses an EventBridge event with source aws.cloudformation and detail-type "CloudFormation Stack Status Change" or "CloudFormation Resource Status Change"; it derives a stable EventID (EventBridge has none) from the event's fields.
//
// The stack name comes from the stack id ARN
// (arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/UUID, or
// stack/NAME without the UUID as in AWS's documented examples; the stack
// id is kept as sent), the timestamp from the event's time (whole seconds:
// core.ApplyEvent orders stack events of the same second by the stack
// status lifecycle). A stack status change becomes a stack-level event,
// as DescribeStackEvents reports it: ResourceType AWS::CloudFormation::Stack
// and the stack name and id as logical and physical resource id.
//
// The EventID is "eb-" and 32 hex digits of a SHA-256 over every other
// field of the resulting event (stack id, logical and physical id, resource
// type, status, reason, client request token, time). What is stable: the
// same event delivered again gets the same id, and a stack's status change
// gets the same id whether it comes as a Stack Status Change or as the
// Resource Status Change of the stack itself, when both carry the same
// fields. What is not: EventBridge times have whole seconds, SNS and
// DescribeStackEvents milliseconds and ids of their own, so an event seen
// from EventBridge and from SNS has two ids; the mirror's timestamp rule,
// not the id, keeps that duplicate from doing harm. Two distinct events that
// agree on every field within one second (CloudFormation does not emit
// those) would share an id.
func ParseEventBridge(body []byte) (core.StackEvent, error) {
	var ev ebEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return core.StackEvent{}, invalidf("EventBridge event is not a JSON object: %v", err)
	}
	if ev.Source != EventBridgeSource {
		return core.StackEvent{}, invalidf("EventBridge event has source %q, not %q", shorten(ev.Source), EventBridgeSource)
	}
	stackLevel := false
	switch ev.DetailType {
	case DetailTypeStack:
		stackLevel = true
	case DetailTypeResource:
	default:
		return core.StackEvent{}, invalidf("EventBridge event has detail-type %q, not a stack or resource status change", shorten(ev.DetailType))
	}
	d := ev.Detail
	if d == nil {
		return core.StackEvent{}, invalidf("EventBridge event has no detail")
	}
	var missing []string
	if d.StackID == "" {
		missing = append(missing, "detail.stack-id")
	}
	if d.StatusDetails.Status == "" {
		missing = append(missing, "detail.status-details.status")
	}
	if !stackLevel {
		if d.LogicalResourceID == "" {
			missing = append(missing, "detail.logical-resource-id")
		}
		if d.ResourceType == "" {
			missing = append(missing, "detail.resource-type")
		}
	}
	if ev.Time == "" {
		missing = append(missing, "time")
	}
	if len(missing) > 0 {
		return core.StackEvent{}, invalidf("EventBridge event: missing %s", strings.Join(missing, ", "))
	}
	name, ok := stackNameOf(d.StackID)
	if !ok {
		return core.StackEvent{}, invalidf("EventBridge event: detail.stack-id is not a CloudFormation stack ARN")
	}
	t, ok := parseTime(ev.Time)
	if !ok {
		return core.StackEvent{}, invalidf("EventBridge event: time is not an RFC 3339 time")
	}
	e := core.StackEvent{
		StackID:            d.StackID,
		StackName:          name,
		Timestamp:          t,
		LogicalResourceID:  d.LogicalResourceID,
		PhysicalResourceID: d.PhysicalResourceID,
		ResourceType:       d.ResourceType,
		ResourceStatus:     d.StatusDetails.Status,
		StatusReason:       d.StatusDetails.StatusReason,
		ClientRequestToken: d.ClientRequestToken,
	}
	if stackLevel {
		e.LogicalResourceID = name
		e.PhysicalResourceID = d.StackID
		e.ResourceType = core.StackResourceType
	}
	e.EventID = derivedEventID(&e)
	return e, nil
}

// stackNameOf returns NAME from arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/UUID
// or from the same ARN without /UUID, the form of AWS's documented example
// events.
func stackNameOf(stackID string) (string, bool) {
	p := strings.SplitN(stackID, ":", 6)
	if len(p) != 6 || p[0] != "arn" || p[2] != "cloudformation" {
		return "", false
	}
	res, ok := strings.CutPrefix(p[5], "stack/")
	if !ok {
		return "", false
	}
	name, id, withID := strings.Cut(res, "/")
	if name == "" || withID && id == "" {
		return "", false
	}
	return name, true
}

// derivedEventID hashes every field of e but EventID and StackName (which
// the stack id determines). Each field is length-prefixed, so no two
// different events hash the same input.
func derivedEventID(e *core.StackEvent) string {
	h := sha256.New()
	var n [8]byte
	for _, s := range [...]string{
		e.StackID, e.LogicalResourceID, e.PhysicalResourceID, e.ResourceType,
		e.ResourceStatus, e.StatusReason, e.ClientRequestToken,
		e.Timestamp.UTC().Format(time.RFC3339Nano),
	} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return eventIDPrefix + hex.EncodeToString(h.Sum(nil)[:16])
}
