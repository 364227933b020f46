package soak

import (
	"net/http"
	"strings"
)

// Problem types the soak tells apart (docs/api.md).
const (
	ProblemLocked   = "urn:bucketdesk:problem:locked"
	ProblemConflict = "urn:bucketdesk:problem:conflict"
)

// Outcomes of an accepted operation, as the report counts them.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeNotEnded  = "not ended"
	// OutcomeGone is an operation that GET /api/operations/{id} no longer
	// (or never) knew when the soak stopped waiting.
	OutcomeGone = "unknown (404)"
)

// Outcomes lists the outcome columns in report order.
var Outcomes = []string{OutcomeSucceeded, OutcomeFailed, OutcomeNotEnded, OutcomeGone}

// Classes of a failed operation's error: the first three are the symptoms
// of a cache that disagrees with CloudFormation about which stack a name
// currently is.
const (
	ClassAlreadyExists  = "AlreadyExists"
	ClassDoesNotExist   = "does not exist"
	ClassDeleteComplete = "ended in DELETE_COMPLETE"
	ClassOther          = "other"
)

// Classes lists the failure classes in report order.
var Classes = []string{ClassAlreadyExists, ClassDoesNotExist, ClassDeleteComplete, ClassOther}

// ClassifyError sorts a failed operation's error text into one of Classes.
func ClassifyError(text string) string {
	l := strings.ToLower(text)
	switch {
	case strings.Contains(l, "alreadyexists") || strings.Contains(l, "already exists"):
		return ClassAlreadyExists
	case strings.Contains(l, "does not exist") || strings.Contains(l, "doesnotexist"):
		return ClassDoesNotExist
	case strings.Contains(text, "DELETE_COMPLETE"):
		return ClassDeleteComplete
	}
	return ClassOther
}

// Outcome returns the outcome of an operation from its last known status
// ("" when never read) and whether its last read answered 404.
func Outcome(status string, gone bool) string {
	switch status {
	case "succeeded":
		return OutcomeSucceeded
	case "failed":
		return OutcomeFailed
	}
	if gone {
		return OutcomeGone
	}
	return OutcomeNotEnded
}

// ExpectedOutcome reports whether an outcome is what a correct server
// gives every accepted operation of the churn.
func ExpectedOutcome(outcome string) bool { return outcome == OutcomeSucceeded }

// ExpectedAnswer reports whether an answer to one churn request is what a
// correct server may give: 200 or 404 to a GET of the name, 202 to a
// write, or a write refused because another operation holds the lock; and
// an update or delete answered 404 when the GET before it showed a delete
// in progress (it ended in between). Everything else (5xx, any other 4xx)
// is an unexpected outcome.
func ExpectedAnswer(action string, status int, problemType string, deleting bool) bool {
	switch {
	case action == ActionGet:
		return status == http.StatusOK || status == http.StatusNotFound
	case status == http.StatusAccepted:
		return true
	case status == http.StatusConflict && problemType == ProblemLocked:
		return true
	case status == http.StatusNotFound && deleting && (action == ActionUpdate || action == ActionDelete):
		return true
	}
	return false
}

// Probe names the consistency finding an unexpected answer is, given what
// the GET just before it said about the name ("" when it is none of those
// being hunted): the cache contradicting itself between two requests.
func Probe(action string, before, status int, problemType, detail string) string {
	switch {
	case action == ActionCreate && before == http.StatusNotFound && status == http.StatusConflict && problemType == ProblemConflict && strings.Contains(detail, "already exists"):
		return "create refused as existing right after GET 404"
	case (action == ActionUpdate || action == ActionDelete) && before == http.StatusOK && status == http.StatusNotFound:
		return action + " refused as missing right after GET 200"
	}
	return ""
}

// FailedProbe names the consistency finding a failed operation is, given
// what the GET before its request said.
func FailedProbe(action string, before int, class string) string {
	switch {
	case action == ActionCreate && before == http.StatusNotFound && class == ClassAlreadyExists:
		return "GET 404, then the create failed: the stack already exists in CloudFormation"
	case action == ActionUpdate && class == ClassDoesNotExist:
		return "the update failed: CloudFormation has no such stack"
	case action == ActionUpdate && class == ClassDeleteComplete:
		return "the update ended on a deleted stack"
	}
	return ""
}
