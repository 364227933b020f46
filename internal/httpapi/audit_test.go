package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/httpapi"
)

type auditPage struct {
	Items []core.AuditRecord `json:"items"`
	Next  string             `json:"next"`
}

// auditAll pages through path (which has a query) by limit.
func (e *env) auditAll(path, as string, limit int) []core.AuditRecord {
	e.t.Helper()
	var all []core.AuditRecord
	cursor := ""
	for range 100 {
		var page auditPage
		e.expect(req{method: "GET", path: fmt.Sprintf("%s&limit=%d&cursor=%s", path, limit, url.QueryEscape(cursor)), as: as}, 200, &page)
		if len(page.Items) > limit {
			e.t.Fatalf("%s: %d items in a page of %d", path, len(page.Items), limit)
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			return all
		}
		cursor = page.Next
	}
	e.t.Fatalf("%s: no end of pages", path)
	return nil
}

// The project's trail through the API: newest first, filtered, paged,
// exported as CSV and JSON lines; for members only; bad filters are
// problems.
func TestAuditAPI(t *testing.T) {
	e := newEnv(t, envOptions{start: true})
	ua := []string{"User-Agent", "audit-browser/2.0"}
	for _, b := range []string{"aaa", "bbb", "ccc"} {
		e.expect(req{method: "POST", path: "/api/projects/demo/buckets", as: "alice", body: `{"name":"` + b + `","encryption":{"type":"SSE-S3"}}`, headers: ua}, 202, nil)
	}
	e.settle()
	e.expectProblem(req{method: "POST", path: "/api/projects/demo/buckets", as: "bob", body: `{"name":"aaa","encryption":{"type":"SSE-S3"}}`, headers: ua}, 409, "conflict")

	var page auditPage
	e.expect(req{method: "GET", path: "/api/projects/demo/audit", as: "bob"}, 200, &page)
	if len(page.Items) != 7 || page.Next != "" {
		t.Fatalf("trail = %d records (next %q), want 7 (3 accepted, 3 succeeded, 1 refused)", len(page.Items), page.Next)
	}
	for i := 1; i < len(page.Items); i++ {
		if page.Items[i].ID >= page.Items[i-1].ID {
			t.Errorf("record %d (%s) is not older than record %d (%s)", i, page.Items[i].ID, i-1, page.Items[i-1].ID)
		}
	}
	newest := page.Items[0]
	if newest.Actor != "bob" || newest.Outcome != core.OutcomeRefused || newest.SourceIP != "192.0.2.1" || newest.UserAgent != "audit-browser/2.0" || newest.Reason == "" {
		t.Errorf("newest record = %+v, want bob's refusal from 192.0.2.1 with the user agent and a reason", newest)
	}

	filters := map[string]int{
		"kind=bucket&name=aaa":             3,
		"kind=bucket&name=aaa&actor=alice": 2,
		"actor=bob":                        1,
		"action=create":                    7,
		"action=delete":                    0,
		"from=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339): 0,
		"to=" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339):   7,
	}
	for q, want := range filters {
		for _, limit := range []int{1, 2, 50} {
			if got := e.auditAll("/api/projects/demo/audit?"+q, "alice", limit); len(got) != want {
				t.Errorf("?%s by %d: %d records, want %d", q, limit, len(got), want)
			}
		}
	}

	// Exports: every matching record, as a download.
	w := e.expect(req{method: "GET", path: "/api/projects/demo/audit?format=csv&kind=bucket&name=aaa", as: "alice"}, 200, nil)
	if cd := w.Header().Get("Content-Disposition"); cd != `attachment; filename="audit-demo.csv"` {
		t.Errorf("CSV Content-Disposition = %q", cd)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("CSV Content-Type = %q", ct)
	}
	rows, err := csv.NewReader(bytes.NewReader(w.Body.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 || rows[0][0] != "id" || rows[0][3] != "actor" || rows[1][3] != "bob" || rows[3][7] != core.OutcomeAccepted {
		t.Errorf("CSV = %q, want a header and 3 rows, newest first", rows)
	}
	w = e.expect(req{method: "GET", path: "/api/projects/demo/audit?format=jsonl&limit=1", as: "alice"}, 200, nil)
	if cd := w.Header().Get("Content-Disposition"); cd != `attachment; filename="audit-demo.jsonl"` {
		t.Errorf("JSONL Content-Disposition = %q", cd)
	}
	var lines int
	sc := bufio.NewScanner(bytes.NewReader(w.Body.Bytes()))
	for sc.Scan() {
		var r core.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.ID == "" {
			t.Errorf("JSONL line %q: %v", sc.Text(), err)
		}
		lines++
	}
	if lines != 7 {
		t.Errorf("JSONL has %d lines, want all 7 records whatever the limit", lines)
	}

	// Members only: a non-member sees no such project; the portal's trail
	// is for administrators.
	e.expectProblem(req{method: "GET", path: "/api/projects/demo/audit", as: "mallory"}, 404, "not-found")
	e.expectProblem(req{method: "GET", path: "/api/projects/demo/audit?format=csv", as: "mallory"}, 404, "not-found")
	e.expectProblem(req{method: "GET", path: "/api/audit", as: "alice"}, 403, "forbidden")
	e.expectProblem(req{method: "GET", path: "/api/projects/demo/audit"}, 401, "unauthenticated")

	for q, field := range map[string]string{
		"kind=disk":      "kind",
		"name=a":         "name",
		"action=sing":    "action",
		"from=yesterday": "from",
		"from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z": "to",
		"limit=0":             "limit",
		"limit=501":           "limit",
		"format=xml":          "format",
		"cursor=not-a-cursor": "cursor",
	} {
		p := e.expectProblem(req{method: "GET", path: "/api/projects/demo/audit?" + q, as: "alice"}, 400, "invalid")
		if len(p.Errors) != 1 || p.Errors[0].Field != field {
			t.Errorf("?%s: errors %+v, want one about %s", q, p.Errors, field)
		}
	}
}

// Logins, successful or not, go to the portal's trail (administrators
// only), with the client's address; never a password.
func TestAuditLogins(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.expectProblem(req{method: "POST", path: "/auth/login", body: `{"username":"alice","password":"hunter2-wrong"}`, headers: []string{"User-Agent", "curl/8"}}, 401, "unauthenticated")
	e.expect(req{method: "POST", path: "/auth/login", body: `{"username":"alice","password":"` + alicePassword + `"}`}, 200, nil)

	rs, _, err := e.l.Auditor.List(t.Context(), core.Principal{User: "root", Admin: true}, core.PortalProject, core.AuditFilter{}, core.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Action != core.AuditLogin || rs[0].Actor != "alice" || rs[0].Outcome != core.OutcomeSucceeded ||
		rs[1].Action != core.AuditLoginFailed || rs[1].Actor != "alice" || rs[1].Outcome != core.OutcomeFailed ||
		rs[1].SourceIP != "192.0.2.1" || rs[1].UserAgent != "curl/8" || rs[1].Project != core.PortalProject {
		t.Fatalf("portal trail = %+v, want alice's success after her failure from 192.0.2.1", rs)
	}
	b, _ := json.Marshal(rs)
	if strings.Contains(string(b), "hunter2") || strings.Contains(string(b), alicePassword) {
		t.Errorf("a password reached the audit trail: %s", b)
	}
}

// An administrator reads the portal's trail through GET /api/audit.
func TestAuditPortalForAdministrators(t *testing.T) {
	e := newEnv(t, envOptions{tweak: func(o *httpapi.Options) {
		o.Auth = fakeAuth{who: core.Principal{User: "root", Admin: true}}
	}})
	e.l.Auditor.Record(t.Context(), core.AuditRecord{Project: core.PortalProject, Actor: "alice", Action: core.AuditLogin, Outcome: core.OutcomeSucceeded})
	var page auditPage
	e.expect(req{method: "GET", path: "/api/audit?action=login", headers: []string{"Authorization", "Bearer x"}}, 200, &page)
	if len(page.Items) != 1 || page.Items[0].Actor != "alice" {
		t.Fatalf("portal trail = %+v, want alice's login", page.Items)
	}
	w := e.expect(req{method: "GET", path: "/api/audit?format=csv", headers: []string{"Authorization", "Bearer x"}}, 200, nil)
	if cd := w.Header().Get("Content-Disposition"); cd != `attachment; filename="audit-portal.csv"` {
		t.Errorf("Content-Disposition = %q", cd)
	}
}

// The address of a request behind a trusted proxy is the one the proxy
// added, as for the login rate limiter.
func TestAuditSourceBehindProxy(t *testing.T) {
	e := newEnv(t, envOptions{tweak: func(o *httpapi.Options) { o.TrustProxyHeaders = true }})
	e.expectProblem(req{method: "POST", path: "/auth/login", body: `{"username":"alice","password":"nope-nope"}`,
		headers: []string{"X-Forwarded-For", "10.9.9.9, 198.51.100.4"}}, 401, "unauthenticated")
	rs, _, err := e.l.Auditor.List(t.Context(), core.Principal{User: "root", Admin: true}, core.PortalProject, core.AuditFilter{}, core.Page{})
	if err != nil || len(rs) != 1 || rs[0].SourceIP != "198.51.100.4" {
		t.Fatalf("records = %+v, %v; want one from 198.51.100.4", rs, err)
	}
}

// A reveal is recorded with the key's id; its secret is in no record, no
// log line and no export.
func TestAuditRevealHoldsNoSecret(t *testing.T) {
	e := newEnv(t, envOptions{start: true})
	e.expect(req{method: "POST", path: "/api/projects/demo/users", as: "alice", body: `{"name":"partner","access_keys":1}`}, 202, nil)
	e.settle()
	var rev struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	e.expect(req{method: "POST", path: "/api/projects/demo/users/partner/keys/1/reveal", as: "alice"}, 200, &rev)
	if rev.SecretAccessKey == "" {
		t.Fatal("no secret revealed")
	}
	var page auditPage
	e.expect(req{method: "GET", path: "/api/projects/demo/audit?action=reveal", as: "bob"}, 200, &page)
	if len(page.Items) != 1 || page.Items[0].Detail["access_key_id"] != rev.AccessKeyID || page.Items[0].Actor != "alice" {
		t.Fatalf("reveal records = %+v, want alice's of %s", page.Items, rev.AccessKeyID)
	}
	for _, f := range []string{"json", "csv", "jsonl"} {
		w := e.expect(req{method: "GET", path: "/api/projects/demo/audit?format=" + f, as: "bob"}, 200, nil)
		if strings.Contains(w.Body.String(), rev.SecretAccessKey) {
			t.Errorf("the %s export holds the secret", f)
		}
	}
	if strings.Contains(e.log.String(), rev.SecretAccessKey) {
		t.Error("the log holds the secret")
	}
}
