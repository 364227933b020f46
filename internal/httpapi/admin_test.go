package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/httpapi"
)

// adminEnv is env with the administration routes, and "root" an
// administrator (in the administrators' group).
func adminEnv(t *testing.T) *env {
	t.Helper()
	return adminEnvWith(t, nil)
}

// adminEnvWith is adminEnv whose options tweak changes, given the env
// being built.
func adminEnvWith(t *testing.T, tweak func(o *httpapi.Options, e *env)) *env {
	t.Helper()
	e := newEnv(t, envOptions{admin: true, tweakEnv: tweak})
	tok, err := e.issuer.Issue(core.Principal{User: "root", Groups: []string{core.DefaultAdminGroup}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.tokens["root"] = tok
	return e
}

const geoBody = `{"id":"geo","name":"Geodata","account_id":"333333333333","region":"eu-west-1","role":"bucketdesk-portal","external_id":"geo-ext","members":["bob"]}`

// Administrators register, read, update, change members of and retire
// projects; everyone else gets the same 403 on every administration
// route, whether the project exists or not.
func TestAdminAPI(t *testing.T) {
	e := adminEnv(t)
	for _, who := range []string{"alice", "mallory"} {
		for _, r := range []req{
			{method: "GET", path: "/api/admin/projects"},
			{method: "POST", path: "/api/admin/projects", body: geoBody},
			{method: "GET", path: "/api/admin/projects/demo"},
			{method: "GET", path: "/api/admin/projects/nope"},
			{method: "PUT", path: "/api/admin/projects/demo", body: geoBody},
			{method: "DELETE", path: "/api/admin/projects/demo"},
			{method: "POST", path: "/api/admin/projects/demo/members", body: `{"add":["mallory"]}`},
		} {
			r.as = who
			p := e.expectProblem(r, 403, "forbidden")
			if !strings.Contains(p.Detail, "administrators only") {
				t.Errorf("%s %s %s: %q", who, r.method, r.path, p.Detail)
			}
		}
	}
	e.expectProblem(req{method: "GET", path: "/api/admin/projects"}, 401, "unauthenticated")

	var me struct{ Admin bool }
	e.expect(req{method: "GET", path: "/api/me", as: "root"}, 200, &me)
	if !me.Admin {
		t.Fatal("/api/me does not say admin")
	}
	me.Admin = false
	e.expect(req{method: "GET", path: "/api/me", as: "alice"}, 200, &me)
	if me.Admin {
		t.Fatal("/api/me says alice is an administrator")
	}

	var p core.Project
	w := e.expect(req{method: "POST", path: "/api/admin/projects", as: "root", body: geoBody}, 201, &p)
	if w.Header().Get("Location") != "/api/admin/projects/geo" || p.RoleARN != "arn:aws:iam::333333333333:role/bucketdesk-portal" || p.ExternalID != "geo-ext" {
		t.Fatalf("registered %+v (Location %q)", p, w.Header().Get("Location"))
	}
	e.expectProblem(req{method: "POST", path: "/api/admin/projects", as: "root", body: geoBody}, 409, "conflict")
	bad := e.expectProblem(req{method: "POST", path: "/api/admin/projects", as: "root",
		body: `{"id":"x2","name":"X","account_id":"123456789012","region":"eu-west-1","role":"bucketdesk","external_id":"wrong"}`}, 400, "invalid")
	if len(bad.Errors) != 1 || bad.Errors[0].Field != "account" || !strings.Contains(bad.Errors[0].Message, `external id "wrong"`) {
		t.Fatalf("a wrong external id: %+v", bad)
	}
	e.expectProblem(req{method: "POST", path: "/api/admin/projects", as: "root", body: `{"id":"x3","bogus":1}`}, 400, "invalid")

	var list struct{ Items []core.Project }
	e.expect(req{method: "GET", path: "/api/projects", as: "bob"}, 200, &list)
	if len(list.Items) != 2 || list.Items[1].ID != "geo" {
		t.Fatalf("bob's projects: %+v", list.Items)
	}
	e.expect(req{method: "POST", path: "/api/admin/projects/geo/members", as: "root", body: `{"add":["alice"],"remove":["bob"]}`}, 200, &p)
	if strings.Join(p.Members, ",") != "alice" {
		t.Fatalf("members: %v", p.Members)
	}
	e.expectProblem(req{method: "GET", path: "/api/projects/geo", as: "bob"}, 404, "not-found")
	e.expect(req{method: "PUT", path: "/api/admin/projects/geo", as: "root",
		body: strings.Replace(geoBody, `"Geodata"`, `"Geodata (EU)"`, 1)}, 200, &p)
	if p.Name != "Geodata (EU)" || strings.Join(p.Members, ",") != "bob" {
		t.Fatalf("updated %+v", p)
	}
	e.expectProblem(req{method: "PUT", path: "/api/admin/projects/nope", as: "root", body: strings.Replace(geoBody, `"geo"`, `"nope"`, 1)}, 404, "not-found")
	e.expect(req{method: "DELETE", path: "/api/admin/projects/geo", as: "root"}, 200, &p)
	if !p.Retired {
		t.Fatalf("retired %+v", p)
	}
	e.expect(req{method: "GET", path: "/api/projects", as: "bob"}, 200, &list)
	if len(list.Items) != 1 {
		t.Fatalf("bob still lists a retired project: %+v", list.Items)
	}
	e.expect(req{method: "GET", path: "/api/admin/projects", as: "root"}, 200, &list)
	if len(list.Items) != 3 || !list.Items[1].Retired {
		t.Fatalf("administrators' list: %+v", list.Items)
	}
}
