package soak

import (
	"net/http"
	"testing"
)

func TestClassifyError(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"AlreadyExistsException: Stack [bd-demo--b-x] already exists", ClassAlreadyExists},
		{"Bucket: soak-1-0-0 already exists", ClassAlreadyExists},
		{"ValidationError: Stack [bd-demo--b-x] does not exist", ClassDoesNotExist},
		{"gave up after 10 attempts: ValidationError: Stack with id arn:… does not exist", ClassDoesNotExist},
		{"the stack ended in DELETE_COMPLETE", ClassDeleteComplete},
		{"Bucket: Access Denied", ClassOther},
		{"", ClassOther},
	} {
		if got := ClassifyError(tc.text); got != tc.want {
			t.Errorf("ClassifyError(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		status string
		gone   bool
		want   string
	}{
		{"succeeded", false, OutcomeSucceeded},
		{"failed", false, OutcomeFailed},
		{"running", false, OutcomeNotEnded},
		{"queued", false, OutcomeNotEnded},
		{"", false, OutcomeNotEnded},
		{"running", true, OutcomeGone},
		{"", true, OutcomeGone},
		{"succeeded", true, OutcomeSucceeded},
	} {
		if got := Outcome(tc.status, tc.gone); got != tc.want {
			t.Errorf("Outcome(%q, %v) = %q, want %q", tc.status, tc.gone, got, tc.want)
		}
	}
	if !ExpectedOutcome(OutcomeSucceeded) || ExpectedOutcome(OutcomeFailed) || ExpectedOutcome(OutcomeNotEnded) {
		t.Error("ExpectedOutcome")
	}
}

func TestExpectedAnswer(t *testing.T) {
	const notFound = "urn:bucketdesk:problem:not-found"
	for _, tc := range []struct {
		action   string
		status   int
		typ      string
		deleting bool
		want     bool
	}{
		{ActionGet, 200, "", false, true},
		{ActionGet, 404, notFound, false, true},
		{ActionGet, 503, "urn:bucketdesk:problem:throttled", false, false},
		{ActionGet, 401, "urn:bucketdesk:problem:unauthenticated", false, false},
		{ActionCreate, 202, "", false, true},
		{ActionCreate, 409, ProblemLocked, false, true},
		{ActionCreate, 409, ProblemConflict, false, false},
		{ActionUpdate, 409, ProblemLocked, false, true},
		{ActionUpdate, 404, notFound, false, false},
		{ActionUpdate, 404, notFound, true, true},
		{ActionDelete, 404, notFound, true, true},
		{ActionCreate, 404, notFound, true, false},
		{ActionDelete, 500, "urn:bucketdesk:problem:internal", false, false},
		{ActionUpdate, 400, "urn:bucketdesk:problem:invalid", false, false},
		{ActionUpdate, 412, "urn:bucketdesk:problem:precondition", false, false},
	} {
		if got := ExpectedAnswer(tc.action, tc.status, tc.typ, tc.deleting); got != tc.want {
			t.Errorf("ExpectedAnswer(%s, %d, %s, deleting=%v) = %v, want %v", tc.action, tc.status, tc.typ, tc.deleting, got, tc.want)
		}
	}
}

func TestProbes(t *testing.T) {
	if p := Probe(ActionCreate, http.StatusNotFound, 409, ProblemConflict, `bucket "x" already exists`); p == "" {
		t.Error("create 409 already exists after GET 404 is a probe finding")
	}
	if p := Probe(ActionCreate, http.StatusNotFound, 409, ProblemLocked, "locked"); p != "" {
		t.Errorf("a lock is no finding: %q", p)
	}
	if p := Probe(ActionUpdate, http.StatusOK, 404, "urn:bucketdesk:problem:not-found", "no bucket"); p == "" {
		t.Error("update 404 after GET 200 is a probe finding")
	}
	if p := Probe(ActionUpdate, http.StatusOK, 503, "urn:bucketdesk:problem:throttled", ""); p != "" {
		t.Errorf("a 503 is not a consistency finding: %q", p)
	}
	if p := FailedProbe(ActionCreate, http.StatusNotFound, ClassAlreadyExists); p == "" {
		t.Error("GET 404 then create failing AlreadyExists is the bug hunted")
	}
	if p := FailedProbe(ActionUpdate, http.StatusOK, ClassDoesNotExist); p == "" {
		t.Error("update failing does-not-exist is the bug hunted")
	}
	if p := FailedProbe(ActionDelete, http.StatusOK, ClassOther); p != "" {
		t.Errorf("no probe: %q", p)
	}
}
