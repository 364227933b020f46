package httpapi

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"bucketdesk/internal/core"
)

// AuditTrail reads the audit trail (engine.Auditor): a project's records
// for its members, the portal's (core.PortalProject) for administrators;
// others get core.ErrForbidden.
type AuditTrail interface {
	List(ctx context.Context, who core.Principal, project string, f core.AuditFilter, page core.Page) ([]*core.AuditRecord, string, error)
}

// Paging of the audit routes, and the page size of an export.
const (
	defaultAuditLimit = 50
	maxAuditLimit     = 500
)

// auditActions are the values the action filter accepts.
var auditActions = []core.AuditAction{
	core.AuditCreate, core.AuditUpdate, core.AuditDelete, core.AuditRotateKey, core.AuditReveal,
	core.AuditLinkCreate, core.AuditLinkOpen, core.AuditLinkReveal, core.AuditLinkRevoke, core.AuditLinkExpire,
	core.AuditLogin, core.AuditLoginFailed,
	core.AuditProjectRegister, core.AuditProjectUpdate, core.AuditProjectRetire, core.AuditMembers,
	core.AuditUserAdd, core.AuditUserPassword, core.AuditUserDisable, core.AuditUserEnable,
}

// auditResponse is one page of an audit trail.
type auditResponse struct {
	Items []*core.AuditRecord `json:"items"`
	Next  string              `json:"next"`
}

// audit answers GET /api/projects/{p}/audit and GET /api/audit (the
// portal's trail): one page as JSON, or with format=csv or format=jsonl
// every matching record as a download.
func (s *server) audit(w http.ResponseWriter, r *http.Request) error {
	project := r.PathValue("p")
	if project == "" {
		project = core.PortalProject
	}
	q := r.URL.Query()
	f, err := auditFilter(q)
	if err != nil {
		return err
	}
	limit := defaultAuditLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditLimit {
			return invalid("limit", "must be a number from 1 to %d, got %q", maxAuditLimit, v)
		}
		limit = n
	}
	cursor := q.Get("cursor")
	format := q.Get("format")
	switch format {
	case "", "json":
	case "csv", "jsonl":
		limit = maxAuditLimit
	default:
		return invalid("format", "must be json, csv or jsonl, got %q", format)
	}
	list := func(cursor string) ([]*core.AuditRecord, string, error) {
		rs, next, err := s.opts.AuditTrail.List(r.Context(), principal(r), project, f, core.Page{Limit: limit, Cursor: cursor})
		if errors.Is(err, core.ErrInvalid) && cursor != "" {
			return nil, "", invalid("cursor", "is not the next of an earlier page")
		}
		return rs, next, err
	}
	// The first page before any byte is written: a refusal is a problem.
	rs, next, err := list(cursor)
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []*core.AuditRecord{}
	}
	if format == "" || format == "json" {
		return writeJSON(w, http.StatusOK, auditResponse{Items: rs, Next: next})
	}
	write := startExport(w, format, project)
	for {
		if err := write(rs); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		if rs, next, err = list(next); err != nil {
			return err
		}
	}
}

// auditFilter reads the filters of the audit routes.
func auditFilter(q map[string][]string) (core.AuditFilter, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	f := core.AuditFilter{Actor: get("actor"), Name: get("name")}
	v := &core.ValidationError{}
	if k := core.Kind(get("kind")); k != "" {
		if !k.Valid() {
			v.Problems = append(v.Problems, core.FieldError{Field: "kind", Message: fmt.Sprintf("must be bucket or user, got %q", k)})
		}
		f.Kind = k
	}
	if f.Name != "" && f.Kind == "" {
		v.Problems = append(v.Problems, core.FieldError{Field: "name", Message: "needs kind: a name names a bucket or a user"})
	}
	if a := core.AuditAction(get("action")); a != "" {
		if !slices.Contains(auditActions, a) {
			v.Problems = append(v.Problems, core.FieldError{Field: "action", Message: fmt.Sprintf("is not an action of the audit trail: %q", a)})
		}
		f.Action = a
	}
	for _, b := range []struct {
		field string
		t     *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		s := get(b.field)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			v.Problems = append(v.Problems, core.FieldError{Field: b.field, Message: fmt.Sprintf("must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", s)})
			continue
		}
		*b.t = t
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		v.Problems = append(v.Problems, core.FieldError{Field: "to", Message: "must be after from"})
	}
	if len(v.Problems) > 0 {
		return f, v
	}
	return f, nil
}

// startExport writes the headers of an export download and returns the
// writer of its records. Once it is called, the answer has begun: a later
// error can only be logged.
func startExport(w http.ResponseWriter, format, project string) func([]*core.AuditRecord) error {
	name := "audit-" + project
	if project == core.PortalProject {
		name = "audit-portal"
	}
	h := w.Header()
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name+"."+format))
	h.Set("Cache-Control", "no-store")
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	if format == "jsonl" {
		h.Set("Content-Type", "application/jsonl; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		return func(rs []*core.AuditRecord) error {
			for _, r := range rs {
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
			flush()
			return nil
		}
	}
	h.Set("Content-Type", "text/csv; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	cw.Write(csvHeader)
	return func(rs []*core.AuditRecord) error {
		for _, r := range rs {
			if err := cw.Write(csvRow(r)); err != nil {
				return err
			}
		}
		cw.Flush()
		flush()
		return cw.Error()
	}
}

// csvHeader names the columns of an export in CSV.
var csvHeader = []string{"id", "at", "project", "actor", "action", "kind", "name", "outcome", "reason", "operation_id", "source_ip", "user_agent", "link_id", "detail"}

// csvRow is one record as a CSV row. Detail is key=value pairs joined by
// "; ", in key order. A cell that a spreadsheet would take for a formula
// (it starts with =, +, -, @, a tab or a carriage return: a user agent is
// the client's word) is prefixed with a single quote.
func csvRow(r *core.AuditRecord) []string {
	var detail []string
	for _, k := range slices.Sorted(maps.Keys(r.Detail)) {
		detail = append(detail, k+"="+r.Detail[k])
	}
	row := []string{r.ID, r.At.UTC().Format(time.RFC3339Nano), r.Project, r.Actor, string(r.Action), string(r.Kind), r.Name,
		r.Outcome, r.Reason, r.OperationID, r.SourceIP, r.UserAgent, r.LinkID, strings.Join(detail, "; ")}
	for i, c := range row {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			row[i] = "'" + c
		}
	}
	return row
}

// auditLogin records a login in the portal's trail: succeeded as user, or
// failed (wrong credentials, or too many failures) under the name tried.
// Other errors (a store that is down) say nothing about the caller and are
// not recorded.
func (s *server) auditLogin(r *http.Request, tried, user string, err error) {
	rec := core.AuditRecord{Project: core.PortalProject, Actor: user, Action: core.AuditLogin, Outcome: core.OutcomeSucceeded}
	switch {
	case err == nil && user == "":
		rec.Actor = tried
	case err == nil:
	case errors.Is(err, core.ErrThrottled):
		rec.Actor, rec.Action, rec.Outcome, rec.Reason = tried, core.AuditLoginFailed, core.OutcomeFailed, "too many failed logins"
	case errors.Is(err, core.ErrUnauthenticated):
		rec.Actor, rec.Action, rec.Outcome, rec.Reason = tried, core.AuditLoginFailed, core.OutcomeFailed, "wrong username or password"
	default:
		return
	}
	core.Audit(r.Context(), s.opts.Auditor, rec)
}
