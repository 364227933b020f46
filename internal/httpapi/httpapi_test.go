package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/httpapi"
)

// Every route's happy path, in the order a manager's day goes: log in, look
// around, create a bucket and a user, change them, rotate and reveal a key,
// page through the history, delete.
func TestHappyPath(t *testing.T) {
	e := newEnv(t, envOptions{start: true})

	// Identity.
	var login struct {
		Token     string `json:"token"`
		TokenType string `json:"token_type"`
		ExpiresIn int    `json:"expires_in"`
		User      string `json:"user"`
	}
	w := e.expect(req{method: "POST", path: "/auth/login", body: `{"username":"alice","password":"` + alicePassword + `"}`}, 200, &login)
	if login.TokenType != "Bearer" || login.User != "alice" || login.ExpiresIn <= 0 || login.Token == "" {
		t.Fatalf("login: %+v", login)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("login answer may be cached")
	}
	e.tokens["alice"] = login.Token // the rest runs on the token from the login

	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	e.expect(req{method: "GET", path: "/.well-known/jwks.json"}, 200, &jwks)
	if len(jwks.Keys) == 0 {
		t.Fatal("JWKS without keys")
	}

	var me struct {
		User     string   `json:"user"`
		Groups   []string `json:"groups"`
		Projects []string `json:"projects"`
	}
	e.expect(req{method: "GET", path: "/api/me", as: "alice"}, 200, &me)
	if me.User != "alice" || me.Groups == nil || len(me.Projects) != 1 || me.Projects[0] != "demo" {
		t.Fatalf("me: %+v", me)
	}

	var projects struct {
		Items []map[string]any `json:"items"`
	}
	e.expect(req{method: "GET", path: "/api/projects", as: "alice"}, 200, &projects)
	if len(projects.Items) != 1 || projects.Items[0]["id"] != "demo" {
		t.Fatalf("projects: %+v", projects)
	}
	var project map[string]any
	w = e.expect(req{method: "GET", path: "/api/projects/demo", as: "alice"}, 200, &project)
	if project["sftp"] != true || project["account_id"] != "123456789012" || project["members"] == nil {
		t.Fatalf("project: %v", project)
	}
	if strings.Contains(w.Body.String(), "role") || strings.Contains(w.Body.String(), "external") {
		t.Fatalf("project shows its role: %s", w.Body)
	}

	var ticket struct {
		Ticket    string `json:"ticket"`
		ExpiresIn int    `json:"expires_in"`
		URL       string `json:"url"`
	}
	w = e.expect(req{method: "POST", path: "/api/ws-ticket", as: "alice"}, 201, &ticket)
	if ticket.Ticket == "" || ticket.ExpiresIn != 30 || ticket.URL != "/ws?ticket="+url.QueryEscape(ticket.Ticket) || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("ticket: %+v", ticket)
	}

	// A bucket.
	var op core.Operation
	w = e.expect(req{method: "POST", path: "/api/projects/demo/buckets", as: "alice", body: bucketJSON("geo-data")}, 202, &op)
	if op.ID == "" || op.Action != core.ActionCreate || op.Kind != core.KindBucket || op.Name != "geo-data" || op.RequestedBy != "alice" {
		t.Fatalf("create: %+v", op)
	}
	if loc := w.Header().Get("Location"); loc != "/api/operations/"+op.ID {
		t.Fatalf("Location %q", loc)
	}
	e.settle()
	var done core.Operation
	e.expect(req{method: "GET", path: "/api/operations/" + op.ID, as: "bob"}, 200, &done)
	if done.ID != op.ID || done.Status != core.OpSucceeded {
		t.Fatalf("operation after settle: %+v", done)
	}

	var res core.Resource
	w = e.expect(req{method: "GET", path: "/api/projects/demo/buckets/geo-data", as: "bob"}, 200, &res)
	if res.Observed.Phase != core.PhaseReady || res.Spec.Bucket == nil || !res.Spec.Bucket.Versioning || res.Lock != nil {
		t.Fatalf("bucket: %+v", res)
	}
	if tag := w.Header().Get("ETag"); tag != fmt.Sprintf("%q", fmt.Sprint(res.Version)) {
		t.Fatalf("ETag %q for version %d", tag, res.Version)
	}
	etag := w.Header().Get("ETag")

	var list struct {
		Items []core.Resource `json:"items"`
	}
	e.expect(req{method: "GET", path: "/api/projects/demo/buckets", as: "alice"}, 200, &list)
	if len(list.Items) != 1 || list.Items[0].Name != "geo-data" {
		t.Fatalf("buckets: %+v", list)
	}

	// Update by PUT with the ETag, the name taken from the path. Turning
	// versioning off suspends it (versioning_suspended is bucketdesk's:
	// accepted in a body, and ignored).
	e.expect(req{method: "PUT", path: "/api/projects/demo/buckets/geo-data", as: "alice",
		body: `{"versioning":false,"versioning_suspended":false,"encryption":{"type":"SSE-S3"},"expiry_days":30}`, headers: []string{"If-Match", etag}}, 202, &op)
	if op.Action != core.ActionUpdate || op.Spec.Bucket.Name != "geo-data" || op.Spec.Bucket.ExpiryDays != 30 {
		t.Fatalf("update: %+v", op)
	}
	e.settle()
	e.expect(req{method: "GET", path: "/api/projects/demo/buckets/geo-data", as: "alice"}, 200, &res)
	if res.Spec.Bucket.Versioning || !res.Spec.Bucket.VersioningSuspended || res.Spec.Bucket.ExpiryDays != 30 {
		t.Fatalf("after update: %+v", res.Spec.Bucket)
	}
	// The cached list answer follows the change.
	e.expect(req{method: "GET", path: "/api/projects/demo/buckets", as: "alice"}, 200, &list)
	if len(list.Items) != 1 || list.Items[0].Version != res.Version {
		t.Fatalf("list after update: version %d, want %d", list.Items[0].Version, res.Version)
	}

	// A user with one access key, granted the bucket.
	e.expect(req{method: "POST", path: "/api/projects/demo/users", as: "bob",
		body: `{"name":"partner","grants":[{"bucket":"geo-data","access":"read","prefix":"out/"}],"access_keys":1,"sftp":{"enabled":false}}`}, 202, &op)
	e.settle()
	e.expect(req{method: "GET", path: "/api/projects/demo/users", as: "alice"}, 200, &list)
	if len(list.Items) != 1 || list.Items[0].Name != "partner" || list.Items[0].Observed.Outputs["AccessKey1Id"] == "" {
		t.Fatalf("users: %+v", list)
	}
	w = e.expect(req{method: "GET", path: "/api/projects/demo/users/partner", as: "alice"}, 200, &res)
	e.expect(req{method: "PUT", path: "/api/projects/demo/users/partner", as: "alice", headers: []string{"If-Match", w.Header().Get("ETag")},
		body: `{"name":"partner","grants":[{"bucket":"geo-data","access":"readwrite"}],"access_keys":1,"sftp":{"enabled":false}}`}, 202, &op)
	e.settle()

	// Reveal key 1 once; a second time is a conflict.
	var pair struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
	}
	w = e.expect(req{method: "POST", path: "/api/projects/demo/users/partner/keys/1/reveal", as: "alice"}, 200, &pair)
	if !strings.HasPrefix(pair.AccessKeyID, "AKIA") || len(pair.SecretAccessKey) < 30 {
		t.Fatalf("reveal: %+v", pair)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("a secret may be cached")
	}
	p := e.expectProblem(req{method: "POST", path: "/api/projects/demo/users/partner/keys/1/reveal", as: "bob"}, 409, "conflict")
	if strings.Contains(p.Detail, pair.SecretAccessKey) || !strings.Contains(p.Detail, "rotate") {
		t.Fatalf("second reveal: %+v", p)
	}

	// Rotate key 1 (no body: the default), then reveal the new one.
	e.expect(req{method: "POST", path: "/api/projects/demo/users/partner/keys", as: "alice"}, 202, &op)
	if op.Action != core.ActionRotateKey || op.Spec.User.KeySerial(0) != 2 {
		t.Fatalf("rotate: %+v", op)
	}
	e.settle()
	e.expect(req{method: "POST", path: "/api/projects/demo/users/partner/keys", as: "alice", body: `{"key":1}`}, 202, &op)
	e.settle()
	var pair2 struct {
		AccessKeyID string `json:"access_key_id"`
	}
	e.expect(req{method: "POST", path: "/api/projects/demo/users/partner/keys/1/reveal", as: "alice"}, 200, &pair2)
	if pair2.AccessKeyID == pair.AccessKeyID {
		t.Fatal("rotation kept the key")
	}
	if strings.Contains(e.log.String(), pair.SecretAccessKey) {
		t.Fatal("a secret reached the log")
	}

	// History, paged, newest first.
	var page struct {
		Items []core.Operation `json:"items"`
		Next  string           `json:"next"`
	}
	var all []core.Operation
	cursor := ""
	for range 10 {
		e.expect(req{method: "GET", path: "/api/projects/demo/operations?limit=2&cursor=" + url.QueryEscape(cursor), as: "alice"}, 200, &page)
		if len(page.Items) > 2 {
			t.Fatalf("page of %d with limit 2", len(page.Items))
		}
		all = append(all, page.Items...)
		if cursor = page.Next; cursor == "" {
			break
		}
	}
	if len(all) != 6 {
		t.Fatalf("%d operations in the history, want 6", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].ID <= all[i].ID {
			t.Fatalf("history not newest first: %s before %s", all[i-1].ID, all[i].ID)
		}
	}
	e.expect(req{method: "GET", path: "/api/projects/demo/operations", as: "alice"}, 200, &page)
	if len(page.Items) != 6 || page.Next != "" {
		t.Fatalf("default page: %d items, next %q", len(page.Items), page.Next)
	}

	// Delete both; then they are gone.
	e.expect(req{method: "DELETE", path: "/api/projects/demo/users/partner", as: "alice"}, 202, &op)
	e.settle()
	e.expect(req{method: "DELETE", path: "/api/projects/demo/buckets/geo-data", as: "alice", headers: []string{"If-Match", "*"}}, 202, &op)
	if op.Action != core.ActionDelete {
		t.Fatalf("delete: %+v", op)
	}
	e.settle()
	e.expectProblem(req{method: "GET", path: "/api/projects/demo/buckets/geo-data", as: "alice"}, 404, "not-found")
	e.expect(req{method: "GET", path: "/api/projects/demo/buckets", as: "alice"}, 200, &list)
	if len(list.Items) != 0 {
		t.Fatalf("buckets after delete: %+v", list)
	}
	if !strings.Contains(e.do(req{method: "GET", path: "/api/projects/demo/buckets", as: "alice"}).Body.String(), `"items":[]`) {
		t.Fatal("an empty list is not []")
	}
}

// The probes and the document need no token.
func TestPublicRoutes(t *testing.T) {
	e := newEnv(t, envOptions{})
	var st map[string]string
	e.expect(req{method: "GET", path: "/healthz"}, 200, &st)
	e.expect(req{method: "GET", path: "/readyz"}, 200, &st)
	w := e.expect(req{method: "GET", path: "/api/openapi.yaml"}, 200, nil)
	if w.Header().Get("Content-Type") != "application/yaml" || string(w.Body.Bytes()) != string(httpapi.OpenAPI) {
		t.Fatalf("openapi.yaml: %q", w.Header().Get("Content-Type"))
	}
	e.expect(req{method: "HEAD", path: "/healthz"}, 200, nil)
}

// Readiness follows the store; a failing probe is 503 without its cause.
func TestNotReady(t *testing.T) {
	e := newEnv(t, envOptions{tweak: func(o *httpapi.Options) {
		o.Ready = func(context.Context) error { return errors.New("bbolt: /secret/path: database not open") }
	}})
	p := e.expectProblem(req{method: "GET", path: "/readyz"}, 503, "unavailable")
	if strings.Contains(p.Detail, "/secret/path") {
		t.Fatalf("detail leaks the cause: %q", p.Detail)
	}
	if e.do(req{method: "GET", path: "/readyz"}).Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}

// LoginWithRefresh (AWS: Cognito) serves the sign-in instead of Login, and
// its answer carries the refresh that renews the session without the
// password; the local Login's answer has none.
func TestLoginWithRefresh(t *testing.T) {
	type answer struct {
		Token     string               `json:"token"`
		ExpiresIn int                  `json:"expires_in"`
		User      string               `json:"user"`
		Refresh   *core.SessionRefresh `json:"refresh"`
	}
	var local answer
	plain := newEnv(t, envOptions{})
	plain.expect(req{method: "POST", path: "/auth/login", body: `{"username":"alice","password":"` + alicePassword + `"}`}, 200, &local)
	if local.Token == "" || local.Refresh != nil {
		t.Fatalf("local login: %+v", local)
	}
	refresh := &core.SessionRefresh{URL: "https://cognito-idp.eu-west-1.amazonaws.com/", ClientID: "client-1", Token: "refresh-1"}
	e := newEnv(t, envOptions{tweak: func(o *httpapi.Options) {
		o.Login = nil
		o.LoginWithRefresh = func(_ context.Context, username, password, _ string) (string, time.Duration, string, *core.SessionRefresh, error) {
			if username != "alice" || password != "right" {
				return "", 0, "", nil, fmt.Errorf("%w: bad credentials", core.ErrUnauthenticated)
			}
			return "id.token.sig", time.Hour, "alice", refresh, nil
		}
	}})
	var got answer
	w := e.expect(req{method: "POST", path: "/auth/login", body: `{"username":"alice","password":"right"}`}, 200, &got)
	if got.Token != "id.token.sig" || got.ExpiresIn != 3600 || got.User != "alice" || got.Refresh == nil || *got.Refresh != *refresh {
		t.Fatalf("login: %+v", got)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("the answer may be cached")
	}
	e.expectProblem(req{method: "POST", path: "/auth/login", body: `{"username":"alice","password":"wrong"}`}, 401, "unauthenticated")
}

// Options without Login, JWKS and Tickets (AWS) leave their routes out.
func TestOptionalRoutes(t *testing.T) {
	e := newEnv(t, envOptions{tweak: func(o *httpapi.Options) { o.Login, o.JWKS, o.Tickets = nil, nil, nil }})
	e.expectProblem(req{method: "POST", path: "/auth/login", body: `{"username":"alice","password":"x"}`}, 404, "not-found")
	e.expectProblem(req{method: "GET", path: "/.well-known/jwks.json"}, 404, "not-found")
	e.expectProblem(req{method: "POST", path: "/api/ws-ticket", as: "alice"}, 404, "not-found")
	var me map[string]any
	e.expect(req{method: "GET", path: "/api/me", as: "alice"}, 200, &me)
}
