package cfnevent

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"bucketdesk/internal/core"
)

// Subject is the SNS subject of every CloudFormation notification.
const Subject = "AWS CloudFormation Notification"

// snsNotification is the SNS message type of a published message (the
// others, SubscriptionConfirmation and UnsubscribeConfirmation, go only to
// HTTP endpoints and carry no event).
const snsNotification = "Notification"

// FormatSNS renders the full SNS HTTP/Lambda notification envelope JSON (Type "Notification", MessageId, TopicArn, Subject "AWS CloudFormation Notification", Message, Timestamp, SignatureVersion "1", Signature, SigningCertURL, UnsubscribeURL) as SNS sends it over HTTP.
//
// The layout is SNS's own: two-space indent, a space on both sides of each
// colon, the fields in the order above. at is the SNS publish time. The
// signature has the length and alphabet of a real one but is a digest, not
// an RSA signature: the sandbox holds no SNS key, so nothing may verify it.
// The certificate and unsubscribe URLs point at the topic's region; the
// subscription id in the latter is derived from the topic ARN.
//
// It fails with core.ErrInvalid when topicARN is not an SNS topic ARN, when
// messageID is empty, or when the event lacks a field ParseMessage requires,
// so that the sandbox never sends what a consumer must refuse.
func FormatSNS(n Notification, topicARN, messageID string, at time.Time) ([]byte, error) {
	partition, region, ok := parseTopicARN(topicARN)
	if !ok {
		return nil, invalidf("SNS topic ARN is malformed")
	}
	if messageID == "" {
		return nil, invalidf("SNS message id is empty")
	}
	if err := checkRequired(&n.Event, "SNS notification", true); err != nil {
		return nil, err
	}
	domain := "amazonaws.com"
	if partition == "aws-cn" {
		domain = "amazonaws.com.cn"
	}
	msg := FormatMessage(n)
	ts := at.UTC().Format(timeLayoutMilli)
	host := "https://sns." + region + "." + domain

	// SNS signs these fields, in this order, each as name\nvalue\n.
	toSign := "Message\n" + msg + "\nMessageId\n" + messageID + "\nSubject\n" + Subject +
		"\nTimestamp\n" + ts + "\nTopicArn\n" + topicARN + "\nType\n" + snsNotification + "\n"

	var b bytes.Buffer
	b.Grow(len(msg) + 1024)
	b.WriteString("{\n")
	jsonField(&b, "Type", snsNotification, false)
	jsonField(&b, "MessageId", messageID, false)
	jsonField(&b, "TopicArn", topicARN, false)
	jsonField(&b, "Subject", Subject, false)
	jsonField(&b, "Message", msg, false)
	jsonField(&b, "Timestamp", ts, false)
	jsonField(&b, "SignatureVersion", "1", false)
	jsonField(&b, "Signature", fakeSignature(toSign), false)
	jsonField(&b, "SigningCertURL", host+"/SimpleNotificationService-"+digestHex(partition+region, 16)+".pem", false)
	jsonField(&b, "UnsubscribeURL", host+"/?Action=Unsubscribe&SubscriptionArn="+topicARN+":"+subscriptionID(topicARN), true)
	b.WriteString("}")
	return b.Bytes(), nil
}

// jsonField writes one `  "name" : "value"` line of the envelope. SNS
// escapes no HTML characters, so neither does this.
func jsonField(b *bytes.Buffer, name, value string, last bool) {
	b.WriteString(`  "`)
	b.WriteString(name)
	b.WriteString(`" : `)
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(value) // a string always encodes; Encode adds a newline
	b.Truncate(b.Len() - 1)
	if !last {
		b.WriteByte(',')
	}
	b.WriteByte('\n')
}

// parseTopicARN splits arn:PARTITION:sns:REGION:ACCOUNT:NAME.
func parseTopicARN(arn string) (partition, region string, ok bool) {
	p := strings.Split(arn, ":")
	if len(p) != 6 || p[0] != "arn" || !strings.HasPrefix(p[1], "aws") || p[2] != "sns" ||
		p[3] == "" || p[4] == "" || p[5] == "" {
		return "", "", false
	}
	return p[1], p[3], true
}

// fakeSignature returns 256 bytes derived from s, base64-encoded like an
// RSA-2048 signature.
func fakeSignature(s string) string {
	sig := make([]byte, 0, 256)
	sum := sha256.Sum256([]byte(s))
	for len(sig) < 256 {
		sig = append(sig, sum[:]...)
		sum = sha256.Sum256(sum[:])
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// subscriptionID returns a UUID-shaped id derived from the topic ARN.
func subscriptionID(topicARN string) string {
	h := digestHex("subscription\x00"+topicARN, 16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// digestHex returns the first n bytes of the SHA-256 of s in hex.
func digestHex(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:n])
}

// snsEnvelope is the part of an SNS notification ParseSNS reads. JSON field
// names match case-insensitively, so the HTTP form (SigningCertURL) and the
// Lambda record form (SigningCertUrl) both fit.
type snsEnvelope struct {
	Type    string  `json:"Type"`
	Message *string `json:"Message"`
}

// snsBody is either an SNS envelope or a Lambda SNS record, which holds the
// envelope under "Sns" next to EventSource and EventSubscriptionArn.
type snsBody struct {
	snsEnvelope
	Sns *snsEnvelope `json:"Sns"`
}

// ParseSNS parses an SNS envelope (the HTTP/JSON form, and the Lambda SNS record form {"Type","MessageId","TopicArn","Subject","Message","Timestamp",...}) and then its message.
//
// A Lambda event record ({"EventSource":"aws:sns","Sns":{...}}) is read
// through its Sns field. The envelope's Type must be "Notification"; the
// signature is not checked (Lambda needs no check, and an HTTP endpoint must
// verify it before calling this).
func ParseSNS(body []byte) (core.StackEvent, error) {
	var b snsBody
	if err := json.Unmarshal(body, &b); err != nil {
		return core.StackEvent{}, invalidf("SNS envelope is not a JSON object: %v", err)
	}
	env := &b.snsEnvelope
	if b.Sns != nil {
		env = b.Sns
	}
	if env.Type != snsNotification {
		if env.Type == "" {
			return core.StackEvent{}, invalidf("SNS envelope has no Type")
		}
		return core.StackEvent{}, invalidf("SNS envelope has Type %q, not %q", shorten(env.Type), snsNotification)
	}
	if env.Message == nil {
		return core.StackEvent{}, invalidf("SNS envelope has no Message")
	}
	return ParseMessage(*env.Message)
}
