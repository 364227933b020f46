package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"bucketdesk/internal/core"
)

// Kinds of the HTTP layer that core does not have: they concern the
// request itself, not the domain.
var (
	errTooLarge    = errors.New("request body too large")
	errMediaType   = errors.New("unsupported media type")
	errMethod      = errors.New("method not allowed")
	errRateLimited = errors.New("rate limited")
)

// ProblemTypePrefix starts the type URI of every problem; the kind follows.
const ProblemTypePrefix = "urn:bucketdesk:problem:"

// kinds is the one error → status table. Order
// matters: the first entry the error matches wins, so the more specific
// kinds come first (a locked error is also a conflict in spirit; a login's
// rate limit wraps core.ErrThrottled).
var kinds = []struct {
	err    error
	status int
	kind   string
	title  string
}{
	{errRateLimited, http.StatusTooManyRequests, "rate-limited", "Too many attempts"},
	{errTooLarge, http.StatusRequestEntityTooLarge, "too-large", "Request body too large"},
	{errMediaType, http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type"},
	{errMethod, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed"},
	{core.ErrInvalid, http.StatusBadRequest, "invalid", "Invalid request"},
	{core.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated", "Authentication required"},
	{core.ErrForbidden, http.StatusForbidden, "forbidden", "Forbidden"},
	{core.ErrNotFound, http.StatusNotFound, "not-found", "Not found"},
	{core.ErrGone, http.StatusGone, "gone", "Gone"},
	{core.ErrLocked, http.StatusConflict, "locked", "Resource locked by another operation"},
	{core.ErrConflict, http.StatusConflict, "conflict", "Conflict"},
	{core.ErrPrecondition, http.StatusPreconditionFailed, "precondition", "Precondition failed"},
	{core.ErrThrottled, http.StatusServiceUnavailable, "throttled", "Service busy"},
	{core.ErrUnavailable, http.StatusServiceUnavailable, "unavailable", "Service unavailable"},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, "unavailable", "Service unavailable"},
}

// statusOf maps an error onto its HTTP status, problem kind and title.
// Anything unknown is internal: 500.
func statusOf(err error) (status int, kind, title string) {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.status, k.kind, k.title
		}
	}
	return http.StatusInternalServerError, "internal", "Internal server error"
}

// problem is an RFC 9457 problem details document.
type problem struct {
	Type   string            `json:"type"`
	Title  string            `json:"title"`
	Status int               `json:"status"`
	Detail string            `json:"detail"`
	Errors []core.FieldError `json:"errors,omitempty"`
	Lock   *core.Lock        `json:"lock,omitempty"`
}

// kindError returns an error of kind whose detail is the formatted text.
func kindError(kind error, format string, args ...any) error {
	return &detailed{kind: kind, detail: fmt.Sprintf(format, args...)}
}

// detailed is an error of one kind with a detail written for the client.
type detailed struct {
	kind   error
	detail string
	cause  error
}

func (e *detailed) Error() string { return e.kind.Error() + ": " + e.detail }

// Unwrap makes errors.Is find the kind and, when there is one, the cause.
func (e *detailed) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

// Default Retry-After answers when the error does not say.
const (
	defaultRetryBusy  = 1 * time.Second
	defaultRetryLogin = 30 * time.Second
)

// fail writes err as a problem. Client errors carry their message as the
// detail; server errors carry a generic one and their cause goes to the
// log only.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, kind, title := statusOf(err)
	p := problem{Type: ProblemTypePrefix + kind, Title: title, Status: status}
	h := w.Header()
	var (
		ve *core.ValidationError
		le *core.LockedError
		d  *detailed
	)
	switch {
	case status >= 500:
		if status == http.StatusInternalServerError {
			p.Detail = "the server failed to answer; the error was logged"
		} else {
			p.Detail = "a service bucketdesk depends on is busy or unavailable; retry later"
		}
		if !errors.Is(err, context.Canceled) {
			s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", r.Pattern, "status", status, "err", err)
		}
	case errors.As(err, &ve):
		p.Errors = ve.Problems
		p.Detail = validationDetail(ve)
	case errors.As(err, &le):
		l := le.Lock
		p.Lock = &l
		p.Detail = fmt.Sprintf("%s is locked: %s by %s since %s (operation %s); try again when it ends",
			target(r), l.Action, l.By, l.Since.UTC().Format(time.RFC3339), l.OperationID)
	case errors.As(err, &d):
		p.Detail = d.detail
	default:
		p.Detail = clientDetail(err)
	}
	switch status {
	case http.StatusUnauthorized:
		if r.URL.Path == "/auth/login" {
			h.Set("WWW-Authenticate", `Bearer realm="bucketdesk"`)
		} else if _, presented := bearerToken(r); presented {
			h.Set("WWW-Authenticate", `Bearer realm="bucketdesk", error="invalid_token"`)
		} else {
			// RFC 6750 §3.1: no error code when no token was presented.
			h.Set("WWW-Authenticate", `Bearer realm="bucketdesk"`)
		}
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		wait := defaultRetryBusy
		if status == http.StatusTooManyRequests {
			wait = defaultRetryLogin
		}
		if hint, ok := core.RetryAfter(err); ok && hint > 0 {
			wait = hint
		}
		h.Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	}
	writeProblem(w, p)
}

// writeProblem writes p with its status.
func writeProblem(w http.ResponseWriter, p problem) {
	b, err := json.Marshal(p)
	if err != nil {
		b = []byte(`{"type":"` + ProblemTypePrefix + `internal","title":"Internal server error","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	w.Write(append(b, '\n'))
}

// hideProject makes a project the caller may not see answer exactly like
// one that does not exist (docs/api.md: "404"), and an operation of such a
// project like a missing operation. Only on the error path does it look
// the project up again, so successful requests pay for one lookup only.
func (s *server) hideProject(r *http.Request, err error) error {
	if !errors.Is(err, core.ErrNotFound) && !errors.Is(err, core.ErrForbidden) {
		return err
	}
	if strings.HasPrefix(r.URL.Path, "/api/admin/") {
		// Administrators see every project; others are refused (403)
		// before any project is looked up.
		return err
	}
	if id := r.PathValue("id"); id != "" && strings.HasPrefix(r.URL.Path, "/api/operations/") {
		return &detailed{kind: core.ErrNotFound, detail: fmt.Sprintf("no operation %q", id)}
	}
	p := r.PathValue("p")
	if p == "" {
		return err
	}
	hidden := &detailed{kind: core.ErrNotFound, detail: fmt.Sprintf("no project named %q", p)}
	if errors.Is(err, core.ErrForbidden) {
		return hidden
	}
	who, ok := PrincipalFrom(r.Context())
	if !ok {
		return err
	}
	if _, perr := s.svc.Project(r.Context(), who, p); perr != nil {
		if errors.Is(perr, core.ErrNotFound) || errors.Is(perr, core.ErrForbidden) {
			return hidden
		}
		return perr
	}
	return err
}

// target names the resource a request is about, for messages.
func target(r *http.Request) string {
	name := r.PathValue("name")
	if name == "" {
		return "the resource"
	}
	kind := "bucket"
	if strings.Contains(r.URL.Path, "/users/") {
		kind = "user"
	}
	return fmt.Sprintf("%s %q", kind, name)
}

// validationDetail lists the problems in one sentence.
func validationDetail(ve *core.ValidationError) string {
	if len(ve.Problems) == 0 {
		return "the request is invalid"
	}
	parts := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		if p.Field == "" {
			parts[i] = p.Message
		} else {
			parts[i] = p.Field + ": " + p.Message
		}
	}
	return strings.Join(parts, "; ")
}

// clientDetail is the message of a 4xx error without the kind's own text
// in front ("not found: no bucket named x" → "no bucket named x").
func clientDetail(err error) string {
	msg := err.Error()
	for _, k := range kinds {
		if rest, ok := strings.CutPrefix(msg, k.err.Error()+": "); ok && errors.Is(err, k.err) {
			return rest
		}
	}
	return msg
}
