package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// Request bodies: a key given twice, a null, a number that is not a whole
// number where an integer is expected, and a value of the wrong type are
// each a 400 invalid problem naming the field by its full path, and change
// nothing.
func TestRequestJSONHygiene(t *testing.T) {
	e := newEnv(t, envOptions{start: true})
	e.expect(req{method: "POST", path: "/api/projects/demo/buckets", as: "alice", body: bucketJSON("kept-bucket")}, 202, nil)
	e.expect(req{method: "POST", path: "/api/projects/demo/users", as: "alice",
		body: `{"name":"kept-user","grants":[{"bucket":"kept-bucket","access":"read"}],"access_keys":1,"sftp":{"enabled":false}}`}, 202, nil)
	e.settle()

	const (
		buckets = "/api/projects/demo/buckets"
		users   = "/api/projects/demo/users"
		rotate  = users + "/kept-user/keys"
		login   = "/auth/login"
		enc     = `"encryption":{"type":"SSE-S3"}`
		sftp    = `"sftp":{"enabled":false}`
	)
	deep := `{"name":"deep-bucket",` + enc + `,"tags":{"t":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}`
	cases := []struct {
		name, method, path, body string
		field                    string // the field error expected
		message                  string // in its message and in the detail
	}{
		// Keys given twice: encoding/json would keep the last.
		{"duplicate key", "POST", buckets, `{"name":"a-bucket","name":"b-bucket",` + enc + `}`, "name", "more than once"},
		{"duplicate nested key", "POST", buckets, `{"name":"new-bucket","encryption":{"type":"SSE-S3","type":"SSE-KMS"}}`, "encryption.type", "more than once"},
		{"duplicate map key", "POST", buckets, `{"name":"new-bucket",` + enc + `,"tags":{"team":"a","team":"b"}}`, "tags.team", "more than once"},
		{"duplicate key in an array element", "POST", users, `{"name":"u1","grants":[{"bucket":"kept-bucket","access":"read","access":"write"}],` + sftp + `}`, "grants[0].access", "more than once"},
		{"duplicate key in another case", "POST", buckets, `{"name":"a-bucket","NAME":"b-bucket",` + enc + `}`, "NAME", `"name" and "NAME"`},
		{"duplicate login key", "POST", login, `{"username":"alice","password":"x","username":"bob"}`, "username", "more than once"},
		{"duplicate rotate key", "POST", rotate, `{"key":1,"key":2}`, "key", "more than once"},
		// null is never a value: an optional field is left out instead.
		{"null string", "POST", buckets, `{"name":null,` + enc + `}`, "name", "must not be null"},
		{"null boolean", "POST", buckets, `{"name":"new-bucket","versioning":null,` + enc + `}`, "versioning", "must not be null"},
		{"null optional integer", "POST", buckets, `{"name":"new-bucket","expiry_days":null,` + enc + `}`, "expiry_days", "must not be null"},
		{"null object", "POST", buckets, `{"name":"new-bucket","encryption":null}`, "encryption", "must not be null"},
		{"null optional map", "POST", buckets, `{"name":"new-bucket",` + enc + `,"tags":null}`, "tags", "must not be null"},
		{"null map value", "POST", buckets, `{"name":"new-bucket",` + enc + `,"tags":{"team":null}}`, "tags.team", "must not be null"},
		{"null array", "POST", users, `{"name":"u1","grants":null,` + sftp + `}`, "grants", "must not be null"},
		{"null array element", "POST", users, `{"name":"u1","grants":[null],` + sftp + `}`, "grants[0]", "must not be null"},
		{"null nested", "POST", users, `{"name":"u1","grants":[],"sftp":{"enabled":false,"ssh_keys":[null]}}`, "sftp.ssh_keys[0]", "must not be null"},
		{"null body", "POST", buckets, `null`, "", "not null"},
		{"null login", "POST", login, `{"username":null,"password":"x"}`, "username", "must not be null"},
		{"null rotate key", "POST", rotate, `{"key":null}`, "key", "must not be null"},
		{"null PUT name", "PUT", buckets + "/kept-bucket", `{"name":null,` + enc + `}`, "name", "must not be null"},
		// Integers are whole numbers.
		{"fraction", "POST", users, `{"name":"u1","grants":[],"access_keys":1.5,` + sftp + `}`, "access_keys", "whole number"},
		{"whole fraction", "POST", users, `{"name":"u1","grants":[],"access_keys":1.0,` + sftp + `}`, "access_keys", "whole number"},
		{"exponent", "POST", users, `{"name":"u1","grants":[],"access_keys":1e0,` + sftp + `}`, "access_keys", "whole number"},
		{"string for an integer", "POST", users, `{"name":"u1","grants":[],"access_keys":"1",` + sftp + `}`, "access_keys", "whole number"},
		{"boolean for an integer", "POST", buckets, `{"name":"new-bucket","expiry_days":true,` + enc + `}`, "expiry_days", "whole number"},
		{"integer out of range", "POST", buckets, `{"name":"new-bucket","expiry_days":99999999999999999999,` + enc + `}`, "expiry_days", "whole number in range"},
		{"fraction in an array", "POST", users, `{"name":"u1","grants":[],"key_serials":[1,2.5],` + sftp + `}`, "key_serials[1]", "whole number"},
		{"fraction rotate key", "POST", rotate, `{"key":1.5}`, "key", "whole number"},
		{"string rotate key", "POST", rotate, `{"key":"2"}`, "key", "whole number"},
		// Other types, named by full path.
		{"string for an object", "POST", buckets, `{"name":"new-bucket","encryption":"SSE-S3"}`, "encryption", "must be a JSON object, not a string"},
		{"number for a string", "POST", users, `{"name":"u1","grants":[{"bucket":7,"access":"read"}],` + sftp + `}`, "grants[0].bucket", "must be a JSON string, not a number"},
		{"object for an array", "POST", users, `{"name":"u1","grants":{},` + sftp + `}`, "grants", "must be a JSON array, not an object"},
		{"array body", "POST", login, `[]`, "", "must be a JSON object, not an array"},
		{"nested too deep", "POST", buckets, deep, "", "nested more than"},
	}
	before := e.state()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := req{method: c.method, path: c.path, body: c.body}
			if strings.HasPrefix(c.path, "/api/") {
				r.as = "alice"
			}
			w := e.do(r)
			p := checkProblem(t, c.name, w, 400, "invalid")
			found := false
			for _, fe := range p.Errors {
				found = found || fe.Field == c.field && strings.Contains(fe.Message, c.message)
			}
			if !found {
				t.Errorf("errors %+v have no field %q saying %q", p.Errors, c.field, c.message)
			}
			if !strings.Contains(p.Detail, c.message) {
				t.Errorf("detail %q does not say %q", p.Detail, c.message)
			}
			if strings.Contains(p.Detail, "json:") || strings.Contains(p.Detail, "Go ") {
				t.Errorf("detail %q speaks Go", p.Detail)
			}
			if h := w.Header(); h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("headers %v", h)
			}
		})
	}
	if after := e.state(); after != before {
		t.Fatalf("refused requests changed the state:\nbefore %s\nafter  %s", before, after)
	}

	// What the checks must not refuse: optional fields left out, an empty
	// object or array, a key in a map that is also a field's name, an
	// optional body left out, an integer written as an integer.
	e.expect(req{method: "POST", path: buckets, as: "alice", body: `{"name":"fine-bucket",` + enc + `,"tags":{"name":"x","Name":"y"}}`}, 202, nil)
	e.expect(req{method: "POST", path: users, as: "alice", body: `{"name":"fine-user","grants":[],"access_keys":2,"key_serials":[1,1],` + sftp + `}`}, 202, nil)
	e.expect(req{method: "POST", path: rotate, as: "alice"}, 202, nil)
}

// Cache-Control: no-store on every /api/… and /auth/… answer, errors and
// the mux's own redirects included; X-Content-Type-Options: nosniff on
// every answer.
func TestHeadersOnEveryAnswer(t *testing.T) {
	e := newEnv(t, envOptions{})
	cases := []struct {
		r       req
		status  int
		noStore bool
	}{
		{req{method: "GET", path: "/api/me", as: "alice"}, 200, true},
		{req{method: "GET", path: "/api/projects", as: "alice"}, 200, true},
		{req{method: "GET", path: "/api/projects/demo", as: "alice"}, 200, true},
		{req{method: "GET", path: "/api/projects/demo/buckets", as: "alice"}, 200, true},
		{req{method: "GET", path: "/api/projects/demo/operations", as: "alice"}, 200, true},
		{req{method: "POST", path: "/api/ws-ticket", as: "alice"}, 201, true},
		{req{method: "GET", path: "/api/openapi.yaml"}, 200, true},
		{req{method: "GET", path: "/api/me"}, 401, true},
		{req{method: "GET", path: "/api/projects/nope", as: "alice"}, 404, true},
		{req{method: "GET", path: "/api/projects/demo/buckets/nope", as: "alice"}, 404, true},
		{req{method: "PATCH", path: "/api/me", as: "alice"}, 405, true},
		{req{method: "GET", path: "/api/no-such-route", as: "alice"}, 404, true},
		{req{method: "GET", path: "/api", as: "alice"}, 307, true}, // the mux's redirect to /api/
		{req{method: "POST", path: "/api/projects/demo/buckets", as: "alice", body: `{"name":null}`}, 400, true},
		{req{method: "POST", path: "/api/projects/demo/buckets", as: "alice", body: `{}`, headers: []string{"Content-Type", "text/plain"}}, 415, true},
		{req{method: "GET", path: "/api/projects/demo/../../api/me", as: "alice"}, 307, true},
		{req{method: "POST", path: "/auth/login", body: `{"username":"alice","password":"` + alicePassword + `"}`}, 200, true},
		{req{method: "POST", path: "/auth/login", body: `{"username":"alice","password":"wrong"}`}, 401, true},
		{req{method: "GET", path: "/auth/login"}, 405, true},
		{req{method: "GET", path: "/auth/nothing"}, 404, true},
		{req{method: "GET", path: "/healthz"}, 200, true}, // a probe is never cached either
		{req{method: "GET", path: "/metrics"}, 200, true},
		{req{method: "GET", path: "/.well-known/jwks.json"}, 200, false},
		{req{method: "GET", path: "/nothing"}, 404, true}, // a problem
	}
	for _, c := range cases {
		w := e.do(c.r)
		what := c.r.method + " " + c.r.path
		if w.Code != c.status {
			t.Errorf("%s: status %d, want %d", what, w.Code, c.status)
		}
		h := w.Header()
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q", what, got)
		}
		if got := h.Get("Cache-Control"); c.noStore && got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", what, got)
		}
	}
	if got := e.do(req{method: "GET", path: "/.well-known/jwks.json"}).Header().Get("Cache-Control"); got != "public, max-age=300" {
		t.Errorf("jwks Cache-Control %q", got)
	}
}

// The API never answers with a null that its requests would refuse: a
// user without grants shows "grants": [], so a spec read from a GET can be
// sent back unchanged.
func TestSpecRoundTripHasNoNull(t *testing.T) {
	e := newEnv(t, envOptions{start: true})
	w := e.expect(req{method: "POST", path: "/api/projects/demo/users", as: "alice", body: `{"name":"u0","sftp":{"enabled":false}}`}, 202, nil)
	var op struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &op); err != nil {
		t.Fatal(err)
	}
	e.settle()
	for _, path := range []string{"/api/projects/demo/users/u0", "/api/projects/demo/users", "/api/projects/demo/operations", "/api/operations/" + op.ID} {
		if body := e.expect(req{method: "GET", path: path, as: "alice"}, 200, nil).Body.String(); strings.Contains(body, "null") {
			t.Errorf("GET %s answers a null: %s", path, body)
		}
	}
	var res struct {
		Spec struct {
			User json.RawMessage `json:"user"`
		} `json:"spec"`
	}
	w = e.expect(req{method: "GET", path: "/api/projects/demo/users/u0", as: "alice"}, 200, &res)
	e.expect(req{method: "PUT", path: "/api/projects/demo/users/u0", as: "alice", body: string(res.Spec.User),
		headers: []string{"If-Match", w.Header().Get("ETag")}}, 202, nil)
}
