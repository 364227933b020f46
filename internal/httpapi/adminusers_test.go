package httpapi_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"bucketdesk/internal/auth"
	"bucketdesk/internal/core"
	"bucketdesk/internal/httpapi"
)

// usersEnv is adminEnv with the local logins' routes over a users file
// holding alice, which the login route reads too.
func usersEnv(t *testing.T) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.json")
	hash, err := auth.HashPasswordCost(alicePassword, bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.WriteUsers(path, []auth.UserEntry{{Username: "alice", PasswordHash: hash}}); err != nil {
		t.Fatal(err)
	}
	watched, err := auth.OpenWatchedUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	return adminEnvWith(t, func(o *httpapi.Options, e *env) {
		o.LocalUsers = auth.NewUsersAdmin(path, auth.UsersAdminOptions{Auditor: e.l.Auditor, Watched: watched, Cost: bcrypt.MinCost})
		o.Login = auth.NewLogin(watched, e.issuer, nil).Login
	})
}

// Administrators list, add, give new passwords to, disable and enable the
// local logins; everyone else gets the same 403 on each route. No answer,
// log line or audit record holds a password or a hash, and the audit
// trail records each change.
func TestAdminUsersAPI(t *testing.T) {
	e := usersEnv(t)
	const carolPassword, newPassword = "carol-first-secret", "carol-second-secret"
	addCarol := `{"name":"carol","password":"` + carolPassword + `","admin":true,"groups":["geo-team"]}`
	for _, who := range []string{"alice", "mallory"} {
		for _, r := range []req{
			{method: "GET", path: "/api/admin/users"},
			{method: "POST", path: "/api/admin/users", body: addCarol},
			{method: "PUT", path: "/api/admin/users/alice/password", body: `{"password":"` + newPassword + `"}`},
			{method: "PUT", path: "/api/admin/users/nobody/password", body: `{"password":"` + newPassword + `"}`},
			{method: "POST", path: "/api/admin/users/alice/disable"},
			{method: "POST", path: "/api/admin/users/alice/enable"},
		} {
			r.as = who
			p := e.expectProblem(r, 403, "forbidden")
			if !strings.Contains(p.Detail, "administrators only") {
				t.Errorf("%s %s %s: %q", who, r.method, r.path, p.Detail)
			}
		}
	}
	e.expectProblem(req{method: "GET", path: "/api/admin/users"}, 401, "unauthenticated")

	var answers []string
	var u core.LocalUser
	w := e.expect(req{method: "POST", path: "/api/admin/users", as: "root", body: addCarol}, 201, &u)
	answers = append(answers, w.Body.String())
	if w.Header().Get("Location") != "/api/admin/users/carol" || u.Name != "carol" || !u.Admin || u.Disabled || strings.Join(u.Groups, ",") != "geo-team" {
		t.Fatalf("added %+v (Location %q)", u, w.Header().Get("Location"))
	}
	login := func(user, password string) int {
		return e.do(req{method: "POST", path: "/auth/login", body: `{"username":"` + user + `","password":"` + password + `"}`}).Code
	}
	if code := login("carol", carolPassword); code != 200 {
		t.Fatalf("carol's login: %d", code)
	}
	p := e.expectProblem(req{method: "POST", path: "/api/admin/users", as: "root", body: addCarol}, 409, "conflict")
	if !strings.Contains(p.Detail, `user "carol" exists`) {
		t.Errorf("add again: %q", p.Detail)
	}
	answers = append(answers, p.Detail)
	for _, body := range []string{
		`{"name":"dave","password":""}`,
		`{"name":"dave","password":"` + strings.Repeat("x", 73) + `"}`,
		`{"name":"da ve","password":"pw"}`,
		`{"name":"group:x","password":"pw"}`,
		`{"name":"dave","password":"pw","groups":[""]}`,
		`{"name":"dave","password":"pw","bogus":1}`,
	} {
		p := e.expectProblem(req{method: "POST", path: "/api/admin/users", as: "root", body: body}, 400, "invalid")
		answers = append(answers, p.Detail)
	}
	p = e.expectProblem(req{method: "PUT", path: "/api/admin/users/carol/password", as: "root", body: `{"password":""}`}, 400, "invalid")
	if !strings.Contains(p.Detail, "password must be 1 to 72 bytes") {
		t.Errorf("an empty password: %q", p.Detail)
	}
	for _, r := range []req{
		{method: "PUT", path: "/api/admin/users/nobody/password", body: `{"password":"` + newPassword + `"}`},
		{method: "POST", path: "/api/admin/users/nobody/disable"},
		{method: "POST", path: "/api/admin/users/nobody/enable"},
	} {
		r.as = "root"
		p := e.expectProblem(r, 404, "not-found")
		if !strings.Contains(p.Detail, `no user "nobody"`) {
			t.Errorf("%s %s: %q", r.method, r.path, p.Detail)
		}
	}

	w = e.expect(req{method: "PUT", path: "/api/admin/users/carol/password", as: "root", body: `{"password":"` + newPassword + `"}`}, 200, &u)
	answers = append(answers, w.Body.String())
	if login("carol", carolPassword) != 401 || login("carol", newPassword) != 200 {
		t.Fatal("the new password is not in force at once")
	}
	w = e.expect(req{method: "POST", path: "/api/admin/users/carol/disable", as: "root"}, 200, &u)
	answers = append(answers, w.Body.String())
	if !u.Disabled || login("carol", newPassword) != 401 {
		t.Fatalf("disabled carol: %+v", u)
	}
	w = e.expect(req{method: "POST", path: "/api/admin/users/carol/enable", as: "root"}, 200, &u)
	answers = append(answers, w.Body.String())
	if u.Disabled || login("carol", newPassword) != 200 {
		t.Fatalf("enabled carol: %+v", u)
	}

	var list struct{ Items []map[string]any }
	w = e.expect(req{method: "GET", path: "/api/admin/users", as: "root"}, 200, &list)
	answers = append(answers, w.Body.String())
	if len(list.Items) != 2 || list.Items[0]["name"] != "alice" || list.Items[1]["name"] != "carol" || list.Items[1]["admin"] != true || list.Items[1]["disabled"] != false {
		t.Fatalf("list: %s", w.Body)
	}
	for _, it := range list.Items {
		for k := range it {
			if k != "name" && k != "admin" && k != "disabled" && k != "groups" {
				t.Errorf("a listed user has %q", k)
			}
		}
	}

	var trail struct{ Items []core.AuditRecord }
	w = e.expect(req{method: "GET", path: "/api/audit?limit=100", as: "root"}, 200, &trail)
	answers = append(answers, w.Body.String())
	got := map[string]int{}
	for _, r := range trail.Items {
		if strings.HasPrefix(string(r.Action), "user-") {
			got[string(r.Action)+" "+r.Name+" "+r.Outcome]++
			if r.Project != core.PortalProject || r.Actor == "" {
				t.Errorf("record %+v", r)
			}
		}
	}
	for _, want := range []string{
		"user-add carol succeeded", "user-add carol refused", "user-password carol succeeded", "user-password carol refused",
		"user-password nobody refused", "user-disable carol succeeded", "user-enable carol succeeded", "user-disable nobody refused",
	} {
		if got[want] == 0 {
			t.Errorf("no audit record %q in %v", want, got)
		}
	}
	for _, a := range append(answers, e.log.String()) {
		for _, secret := range []string{carolPassword, newPassword, "$2a$", "$2b$", "password_hash"} {
			if strings.Contains(a, secret) {
				t.Errorf("%q is in an answer, a log line or the audit trail: %s", secret, a)
			}
		}
	}
	b, _ := json.Marshal(trail.Items)
	if strings.Contains(string(b), carolPassword) {
		t.Error("the audit trail holds a password")
	}
}

// Without LocalUsers (on AWS) the routes are absent.
func TestAdminUsersAbsentWithoutLocalUsers(t *testing.T) {
	e := adminEnv(t)
	e.expectProblem(req{method: "GET", path: "/api/admin/users", as: "root"}, 404, "not-found")
	e.expectProblem(req{method: "POST", path: "/api/admin/users/alice/disable", as: "root"}, 404, "not-found")
}
