package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/auth"
	"bucketdesk/internal/core"
	"bucketdesk/internal/httpapi"
)

// Bad requests are answered with the right 4xx problem, a detail that says
// what is wrong, the field when there is one, and no change of state.
func TestBadRequestsChangeNothing(t *testing.T) {
	e := newEnv(t, envOptions{start: true})
	e.expect(req{method: "POST", path: "/api/projects/demo/buckets", as: "alice", body: bucketJSON("kept-bucket")}, 202, nil)
	e.expect(req{method: "POST", path: "/api/projects/demo/users", as: "alice",
		body: `{"name":"kept-user","grants":[{"bucket":"kept-bucket","access":"read"}],"access_keys":1,"sftp":{"enabled":false}}`}, 202, nil)
	e.settle()
	version := func(kind, name string) string {
		return e.expect(req{method: "GET", path: "/api/projects/demo/" + kind + "/" + name, as: "alice"}, 200, nil).Header().Get("ETag")
	}
	bucketTag := version("buckets", "kept-bucket")
	stale, _ := strconv.Atoi(strings.Trim(bucketTag, `"`))
	staleTag := fmt.Sprintf(`"%d"`, stale+7)
	big := `{"name":"big-bucket","encryption":{"type":"SSE-S3"},"tags":{"t":"` + strings.Repeat("x", 70<<10) + `"}}`

	const (
		buckets = "/api/projects/demo/buckets"
		users   = "/api/projects/demo/users"
		kb      = buckets + "/kept-bucket"
		ku      = users + "/kept-user"
	)
	cases := []struct {
		name   string
		r      req
		status int
		kind   string
		field  string // expected in errors, when not ""
		detail string // expected in the detail, when not ""
	}{
		{"no content type", req{method: "POST", path: buckets, body: bucketJSON("new-bucket"), headers: []string{"Content-Type", ""}}, 415, "unsupported-media-type", "", "application/json"},
		{"form content type", req{method: "POST", path: buckets, body: bucketJSON("new-bucket"), headers: []string{"Content-Type", "application/x-www-form-urlencoded"}}, 415, "unsupported-media-type", "", "x-www-form-urlencoded"},
		{"json with charset is fine but bad", req{method: "POST", path: buckets, body: `{"name":"Bad_Name","encryption":{"type":"SSE-S3"}}`, headers: []string{"Content-Type", "application/json; charset=utf-8"}}, 400, "invalid", "name", "lowercase"},
		{"unknown field", req{method: "POST", path: buckets, body: `{"name":"new-bucket","encryption":{"type":"SSE-S3"},"colour":"red"}`}, 400, "invalid", "colour", "unknown field"},
		{"unknown nested field", req{method: "POST", path: users, body: `{"name":"u","grants":[{"bucket":"kept-bucket","access":"read","mode":"x"}]}`}, 400, "invalid", "grants[0].mode", "unknown field"},
		{"wrong type", req{method: "POST", path: buckets, body: `{"name":"new-bucket","versioning":"yes","encryption":{"type":"SSE-S3"}}`}, 400, "invalid", "versioning", "boolean"},
		{"not an object", req{method: "POST", path: buckets, body: `["new-bucket"]`}, 400, "invalid", "", "object"},
		{"malformed json", req{method: "POST", path: buckets, body: `{"name":`}, 400, "invalid", "", ""},
		{"syntax error", req{method: "POST", path: buckets, body: `{"name" "x"}`}, 400, "invalid", "", "malformed"},
		{"two values", req{method: "POST", path: buckets, body: bucketJSON("new-bucket") + bucketJSON("other-bucket")}, 400, "invalid", "", "one JSON value"},
		{"blank body", req{method: "POST", path: buckets, body: " ", headers: []string{"Content-Type", "application/json"}}, 400, "invalid", "", "required"},
		{"too large", req{method: "POST", path: buckets, body: big}, 413, "too-large", "", "65536"},
		{"invalid spec", req{method: "POST", path: buckets, body: `{"name":"ab","encryption":{"type":"AES"}}`}, 400, "invalid", "encryption.type", ""},
		{"exists", req{method: "POST", path: buckets, body: bucketJSON("kept-bucket")}, 409, "conflict", "", "already exists"},
		{"grant of no bucket", req{method: "POST", path: users, body: `{"name":"u2","grants":[{"bucket":"no-such-bucket","access":"read"}],"sftp":{"enabled":false}}`}, 400, "invalid", "grants[0].bucket", ""},
		{"rename by PUT", req{method: "PUT", path: kb, body: bucketJSON("renamed-bucket")}, 400, "invalid", "name", "cannot be renamed"},
		{"PUT of no bucket", req{method: "PUT", path: buckets + "/no-such-bucket", body: bucketJSON("no-such-bucket")}, 404, "not-found", "", "no-such-bucket"},
		{"stale If-Match", req{method: "PUT", path: kb, body: bucketJSON("kept-bucket"), headers: []string{"If-Match", staleTag}}, 412, "precondition", "", "version"},
		// kept-user holds a grant on kept-bucket, so a delete of the bucket is
		// 409 whatever its If-Match: the user shows the stale If-Match.
		{"stale If-Match on delete", req{method: "DELETE", path: ku, headers: []string{"If-Match", `"999"`}}, 412, "precondition", "", ""},
		{"stale If-Match on rotate", req{method: "POST", path: ku + "/keys", headers: []string{"If-Match", `"999"`}}, 412, "precondition", "", ""},
		{"weak If-Match", req{method: "PUT", path: kb, body: bucketJSON("kept-bucket"), headers: []string{"If-Match", "W/" + bucketTag}}, 412, "precondition", "", "weak"},
		{"unquoted If-Match", req{method: "PUT", path: kb, body: bucketJSON("kept-bucket"), headers: []string{"If-Match", strings.Trim(bucketTag, `"`)}}, 400, "invalid", "If-Match", ""},
		{"If-Match list", req{method: "DELETE", path: kb, headers: []string{"If-Match", bucketTag + `, "1"`}}, 400, "invalid", "If-Match", ""},
		{"If-Match zero", req{method: "DELETE", path: kb, headers: []string{"If-Match", `"0"`}}, 412, "precondition", "", ""},
		{"rotate key 3", req{method: "POST", path: ku + "/keys", body: `{"key":3}`}, 400, "invalid", "key", ""},
		{"rotate absent key 2", req{method: "POST", path: ku + "/keys", body: `{"key":2}`}, 400, "invalid", "key", ""},
		{"rotate wrong content type", req{method: "POST", path: ku + "/keys", body: `{"key":1}`, headers: []string{"Content-Type", "text/plain"}}, 415, "unsupported-media-type", "", ""},
		{"reveal key 7", req{method: "POST", path: ku + "/keys/7/reveal"}, 400, "invalid", "key", ""},
		{"reveal key x", req{method: "POST", path: ku + "/keys/x/reveal"}, 400, "invalid", "key", ""},
		{"reveal key 01", req{method: "POST", path: ku + "/keys/01/reveal"}, 400, "invalid", "key", ""},
		{"reveal key +1", req{method: "POST", path: ku + "/keys/+1/reveal"}, 400, "invalid", "key", ""},
		{"reveal key 002", req{method: "POST", path: ku + "/keys/002/reveal"}, 400, "invalid", "key", ""},
		{"reveal absent key 2", req{method: "POST", path: ku + "/keys/2/reveal"}, 404, "not-found", "", "no access key 2"},
		{"reveal of no user", req{method: "POST", path: users + "/nobody/keys/1/reveal"}, 404, "not-found", "", "nobody"},
		{"limit 0", req{method: "GET", path: "/api/projects/demo/operations?limit=0"}, 400, "invalid", "limit", ""},
		{"limit 101", req{method: "GET", path: "/api/projects/demo/operations?limit=101"}, 400, "invalid", "limit", ""},
		{"limit word", req{method: "GET", path: "/api/projects/demo/operations?limit=ten"}, 400, "invalid", "limit", ""},
		{"bad cursor", req{method: "GET", path: "/api/projects/demo/operations?cursor=not%2Bbase64!"}, 400, "invalid", "cursor", ""},
		{"no bucket", req{method: "GET", path: buckets + "/no-such-bucket"}, 404, "not-found", "", "no-such-bucket"},
		{"no operation", req{method: "GET", path: "/api/operations/01ARZ3NDEKTSV4RRFFQ69G5FAV"}, 404, "not-found", "", ""},
		{"no route", req{method: "GET", path: "/api/projects/demo/widgets"}, 404, "not-found", "", ""},
		{"no route at all", req{method: "GET", path: "/nothing-here"}, 404, "not-found", "", ""},
		{"wrong method", req{method: "PATCH", path: kb, body: bucketJSON("kept-bucket")}, 405, "method-not-allowed", "", "PATCH"},
		{"wrong method on a list", req{method: "DELETE", path: buckets}, 405, "method-not-allowed", "", ""},
		{"wrong method on a probe", req{method: "POST", path: "/healthz"}, 405, "method-not-allowed", "", ""},
		{"login without password", req{method: "POST", path: "/auth/login", body: `{"username":"alice"}`}, 400, "invalid", "password", ""},
		{"login unknown field", req{method: "POST", path: "/auth/login", body: `{"user":"alice","password":"x"}`}, 400, "invalid", "user", ""},
	}
	before := e.state()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.r.as == "" && strings.HasPrefix(c.r.path, "/api/") {
				c.r.as = "alice"
			}
			w := e.do(c.r)
			p := checkProblem(t, c.name, w, c.status, c.kind)
			if c.field != "" {
				found := false
				for _, fe := range p.Errors {
					found = found || fe.Field == c.field && fe.Message != ""
				}
				if !found {
					t.Errorf("errors %+v do not name %s", p.Errors, c.field)
				}
			}
			if c.kind == "invalid" && len(p.Errors) == 0 {
				t.Errorf("invalid without errors: %+v", p)
			}
			if c.detail != "" && !strings.Contains(p.Detail, c.detail) {
				t.Errorf("detail %q does not mention %q", p.Detail, c.detail)
			}
			if c.status == 405 {
				allow := w.Header().Get("Allow")
				if allow == "" || strings.Contains(allow, c.r.method) {
					t.Errorf("Allow %q", allow)
				}
			}
		})
	}
	if after := e.state(); after != before {
		t.Fatalf("bad requests changed the state:\nbefore %s\nafter  %s", before, after)
	}
	if w := e.do(req{method: "PATCH", path: kb, as: "alice"}); w.Header().Get("Allow") != "GET, PUT, DELETE, HEAD" {
		t.Fatalf("Allow %q", w.Header().Get("Allow"))
	}
}

// Without a valid token every /api route is 401 with WWW-Authenticate.
func TestUnauthenticated(t *testing.T) {
	e := newEnv(t, envOptions{})
	other, err := auth.OpenLocalIssuer(t.TempDir(), "https://bucketdesk.test", "bucketdesk-test", nil)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Issue(core.Principal{User: "alice"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expired := e.issuerAt(-3*time.Hour, core.Principal{User: "alice"})
	paths := []req{
		{method: "GET", path: "/api/me"},
		{method: "GET", path: "/api/projects"},
		{method: "GET", path: "/api/projects/demo"},
		{method: "GET", path: "/api/projects/demo/buckets"},
		{method: "POST", path: "/api/projects/demo/buckets", body: bucketJSON("sneaky-bucket")},
		{method: "GET", path: "/api/projects/demo/users/x"},
		{method: "PUT", path: "/api/projects/demo/users/x", body: `{}`},
		{method: "DELETE", path: "/api/projects/demo/buckets/x"},
		{method: "POST", path: "/api/projects/demo/users/x/keys"},
		{method: "POST", path: "/api/projects/demo/users/x/keys/1/reveal"},
		{method: "GET", path: "/api/projects/demo/operations"},
		{method: "GET", path: "/api/operations/x"},
		{method: "POST", path: "/api/ws-ticket"},
	}
	before := e.state()
	for _, r := range paths {
		for _, tc := range []struct {
			name, auth, challenge string
		}{
			{"no token", "", `Bearer realm="bucketdesk"`},
			{"basic", "Basic YWxpY2U6eA==", `Bearer realm="bucketdesk", error="invalid_token"`},
			{"garbage", "Bearer not.a.jwt", `Bearer realm="bucketdesk", error="invalid_token"`},
			{"empty bearer", "Bearer ", `Bearer realm="bucketdesk", error="invalid_token"`},
			{"expired", "Bearer " + expired, `Bearer realm="bucketdesk", error="invalid_token"`},
			{"other key", "Bearer " + foreign, `Bearer realm="bucketdesk", error="invalid_token"`},
		} {
			r := r
			r.headers = []string{"Authorization", tc.auth}
			w := e.do(r)
			what := tc.name + " " + r.method + " " + r.path
			p := checkProblem(t, what, w, 401, "unauthenticated")
			if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("%s: WWW-Authenticate %q, want %q", what, got, tc.challenge)
			}
			if tc.name == "expired" && p.Detail != "the bearer token was refused: token expired" {
				t.Errorf("%s: detail %q does not say why", what, p.Detail)
			}
		}
	}
	if e.state() != before {
		t.Fatal("unauthenticated requests changed the state")
	}
	if strings.Contains(e.log.String(), expired) {
		t.Fatal("a token reached the log")
	}
}

// issuerAt issues a token signed with e's key as if at now+d.
func (e *env) issuerAt(d time.Duration, who core.Principal) string {
	e.t.Helper()
	at, err := auth.OpenLocalIssuer(e.issuerDir, "https://bucketdesk.test", "bucketdesk-test",
		&auth.IssuerOptions{Clock: func() time.Time { return time.Now().Add(d) }})
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := at.Issue(who, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// A project the caller is not a member of is answered exactly like one
// that does not exist, on every route, and nothing changes.
func TestNonMemberSeesNothing(t *testing.T) {
	e := newEnv(t, envOptions{})
	var op core.Operation
	e.expect(req{method: "POST", path: "/api/projects/demo/buckets", as: "alice", body: bucketJSON("private-bucket")}, 202, &op)
	before := e.state()
	routes := []req{
		{method: "GET", path: "/api/projects/%s"},
		{method: "GET", path: "/api/projects/%s/buckets"},
		{method: "POST", path: "/api/projects/%s/buckets", body: bucketJSON("sneaky-bucket")},
		{method: "GET", path: "/api/projects/%s/buckets/private-bucket"},
		{method: "PUT", path: "/api/projects/%s/buckets/private-bucket", body: bucketJSON("private-bucket")},
		{method: "DELETE", path: "/api/projects/%s/buckets/private-bucket"},
		{method: "GET", path: "/api/projects/%s/users"},
		{method: "POST", path: "/api/projects/%s/users", body: `{"name":"sneaky","grants":[],"sftp":{"enabled":false}}`},
		{method: "GET", path: "/api/projects/%s/users/u"},
		{method: "PUT", path: "/api/projects/%s/users/u", body: `{"grants":[],"sftp":{"enabled":false}}`},
		{method: "DELETE", path: "/api/projects/%s/users/u"},
		{method: "POST", path: "/api/projects/%s/users/u/keys"},
		{method: "POST", path: "/api/projects/%s/users/u/keys/1/reveal"},
		{method: "GET", path: "/api/projects/%s/operations"},
	}
	for _, r := range routes {
		member := r
		member.as, member.path = "mallory", fmt.Sprintf(r.path, "demo")
		missing := r
		missing.as, missing.path = "mallory", fmt.Sprintf(r.path, "nope")
		pm := e.expectProblem(member, 404, "not-found")
		pn := e.expectProblem(missing, 404, "not-found")
		if pm.Detail != `no project named "demo"` || strings.ReplaceAll(pn.Detail, "nope", "demo") != pm.Detail {
			t.Errorf("%s: non-member %q, missing %q: not the same answer", r.path, pm.Detail, pn.Detail)
		}
	}
	pm := e.expectProblem(req{method: "GET", path: "/api/operations/" + op.ID, as: "mallory"}, 404, "not-found")
	pn := e.expectProblem(req{method: "GET", path: "/api/operations/01ARZ3NDEKTSV4RRFFQ69G5FAV", as: "mallory"}, 404, "not-found")
	if strings.ReplaceAll(pn.Detail, "01ARZ3NDEKTSV4RRFFQ69G5FAV", op.ID) != pm.Detail {
		t.Errorf("operation: non-member %q, missing %q", pm.Detail, pn.Detail)
	}
	var projects struct {
		Items []struct{ ID string } `json:"items"`
	}
	e.expect(req{method: "GET", path: "/api/projects", as: "mallory"}, 200, &projects)
	if len(projects.Items) != 1 || projects.Items[0].ID != "other" {
		t.Fatalf("mallory's projects: %+v", projects)
	}
	if e.state() != before {
		t.Fatal("a non-member changed the state")
	}
	// A member whose bucket is missing is told about the bucket, not the
	// project.
	p := e.expectProblem(req{method: "GET", path: "/api/projects/demo/buckets/absent-bucket", as: "bob"}, 404, "not-found")
	if !strings.Contains(p.Detail, "absent-bucket") {
		t.Fatalf("member's 404: %q", p.Detail)
	}
}

// A resource held by an operation answers 409 naming the holder, and
// changes nothing.
func TestLocked(t *testing.T) {
	e := newEnv(t, envOptions{}) // no workers: the create stays queued and holds the lock
	var op core.Operation
	e.expect(req{method: "POST", path: "/api/projects/demo/buckets", as: "alice", body: bucketJSON("busy-bucket")}, 202, &op)
	before := e.state()
	for _, r := range []req{
		{method: "PUT", path: "/api/projects/demo/buckets/busy-bucket", as: "bob", body: bucketJSON("busy-bucket")},
		{method: "DELETE", path: "/api/projects/demo/buckets/busy-bucket", as: "bob"},
	} {
		p := e.expectProblem(r, 409, "locked")
		if p.Lock == nil || p.Lock.OperationID != op.ID || p.Lock.By != "alice" || p.Lock.Action != core.ActionCreate || p.Lock.Since.IsZero() {
			t.Fatalf("lock %+v, want operation %s by alice", p.Lock, op.ID)
		}
		for _, want := range []string{"alice", op.ID, "busy-bucket", p.Lock.Since.UTC().Format(time.RFC3339), "create"} {
			if !strings.Contains(p.Detail, want) {
				t.Errorf("detail %q does not mention %s", p.Detail, want)
			}
		}
	}
	if e.state() != before {
		t.Fatal("a locked request changed the state")
	}
}

// Failed logins are 401; past the limit, 429 with Retry-After, even with
// the right password.
func TestLoginRateLimited(t *testing.T) {
	e := newEnv(t, envOptions{})
	for range 3 {
		w := e.do(req{method: "POST", path: "/auth/login", body: `{"username":"alice","password":"wrong"}`})
		p := checkProblem(t, "bad password", w, 401, "unauthenticated")
		if p.Detail != "wrong username or password" || w.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("bad password: %+v", p)
		}
	}
	w := e.do(req{method: "POST", path: "/auth/login", body: `{"username":"alice","password":"` + alicePassword + `"}`})
	checkProblem(t, "limited", w, 429, "rate-limited")
	secs, err := strconv.Atoi(w.Header().Get("Retry-After"))
	if err != nil || secs < 1 {
		t.Fatalf("Retry-After %q", w.Header().Get("Retry-After"))
	}
	if strings.Contains(e.log.String(), alicePassword) || strings.Contains(e.log.String(), "wrong") {
		t.Fatal("a password reached the log")
	}
}

// fakeAuth answers Verify with a fixed result, to inject faults.
type fakeAuth struct {
	who   core.Principal
	err   error
	panic bool
}

func (f fakeAuth) Verify(context.Context, string) (core.Principal, error) {
	if f.panic {
		panic("verifier bug: password=hunter2")
	}
	return f.who, f.err
}

// A failure the client cannot act on is 500 with a generic detail; the
// cause goes to the log only. A dependency that is down is 503.
func TestServerErrors(t *testing.T) {
	leak := errors.New("dial tcp 10.1.2.3:443: password=hunter2")
	e := newEnv(t, envOptions{tweak: func(o *httpapi.Options) { o.Auth = fakeAuth{err: leak} }})
	w := e.do(req{method: "GET", path: "/api/me", headers: []string{"Authorization", "Bearer x"}})
	p := checkProblem(t, "internal", w, 500, "internal")
	if strings.Contains(p.Detail, "hunter2") || strings.Contains(w.Body.String(), "10.1.2.3") {
		t.Fatalf("the cause leaked: %s", w.Body)
	}
	if !strings.Contains(e.log.String(), "hunter2") {
		t.Fatal("the cause was not logged")
	}

	down := fmt.Errorf("auth: token keys unavailable: %w", core.ErrUnavailable)
	e = newEnv(t, envOptions{tweak: func(o *httpapi.Options) { o.Auth = fakeAuth{err: down} }})
	w = e.do(req{method: "GET", path: "/api/me", headers: []string{"Authorization", "Bearer x"}})
	checkProblem(t, "unavailable", w, 503, "unavailable")
	if w.Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}

	// A panic is a 500 too, and the server goes on.
	e = newEnv(t, envOptions{tweak: func(o *httpapi.Options) { o.Auth = fakeAuth{panic: true} }})
	w = e.do(req{method: "GET", path: "/api/me", headers: []string{"Authorization", "Bearer x"}})
	checkProblem(t, "panic", w, 500, "internal")
	if strings.Contains(w.Body.String(), "hunter2") || !strings.Contains(e.log.String(), "verifier bug") {
		t.Fatalf("panic: body %s", w.Body)
	}
	e.expect(req{method: "GET", path: "/healthz"}, 200, nil)

	// A verifier that says yes without a user is refused.
	e = newEnv(t, envOptions{tweak: func(o *httpapi.Options) { o.Auth = fakeAuth{} }})
	e.expectProblem(req{method: "GET", path: "/api/me", headers: []string{"Authorization", "Bearer x"}}, 401, "unauthenticated")
}
