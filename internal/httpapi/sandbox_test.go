package httpapi_test

import (
	"strings"
	"testing"

	"bucketdesk/internal/core"
)

type objectList struct {
	Count     core.ObjectCount `json:"count"`
	Items     []map[string]any `json:"items"`
	Truncated bool             `json:"truncated"`
}

// The local binary's sandbox routes fill and empty a project's bucket;
// a bucket that holds objects is not deleted (409 with the count, nothing
// changed) until it is emptied.
func TestSandboxObjectsAndDeleteOfANonEmptyBucket(t *testing.T) {
	// Not routed without the sandbox (as on AWS).
	if w := newEnv(t, envOptions{}).do(req{method: "GET", path: "/api/projects/demo/sandbox/buckets/geo-data/objects", as: "alice"}); w.Code != 404 {
		t.Fatalf("without Options.Sandbox: %d", w.Code)
	}
	e := newEnv(t, envOptions{start: true, sandbox: true})
	objects := "/api/projects/demo/sandbox/buckets/geo-data/objects"
	e.expect(req{method: "POST", path: "/api/projects/demo/buckets", as: "alice", body: bucketJSON("geo-data")}, 202, nil)
	e.settle()

	var me struct{ Sandbox bool }
	if e.expect(req{method: "GET", path: "/api/me", as: "alice"}, 200, &me); !me.Sandbox {
		t.Error("/api/me does not say sandbox")
	}
	var v map[string]any
	e.expect(req{method: "POST", path: objects, as: "alice", body: `{"key":"2024/q1.csv","size":120}`}, 201, &v)
	if v["version_id"] == "null" || v["key"] != "2024/q1.csv" || v["is_latest"] != true { // a versioned bucket
		t.Errorf("put: %v", v)
	}
	e.expect(req{method: "POST", path: objects, as: "alice", body: `{"key":"2024/q2.csv"}`}, 201, nil)
	var l objectList
	e.expect(req{method: "GET", path: objects, as: "bob"}, 200, &l)
	if l.Count != (core.ObjectCount{Versions: 2}) || len(l.Items) != 2 || l.Truncated {
		t.Errorf("list: %+v", l)
	}

	// Bad input and strangers.
	e.expectProblem(req{method: "POST", path: objects, as: "alice", body: `{"key":""}`}, 400, "invalid")
	e.expectProblem(req{method: "POST", path: objects, as: "alice", body: `{"key":"k","size":-1}`}, 400, "invalid")
	e.expectProblem(req{method: "POST", path: objects, as: "alice", body: `{"key":"` + strings.Repeat("k", 1025) + `"}`}, 400, "invalid")
	e.expectProblem(req{method: "GET", path: objects, as: "mallory"}, 404, "not-found")
	e.expectProblem(req{method: "GET", path: "/api/projects/demo/sandbox/buckets/nobody/objects", as: "alice"}, 404, "not-found")
	e.expectProblem(req{method: "DELETE", path: objects + "?version_id=x", as: "alice"}, 400, "invalid")

	// The delete is refused with what the bucket holds, and changes nothing.
	before := e.state()
	p := e.expectProblem(req{method: "DELETE", path: "/api/projects/demo/buckets/geo-data", as: "alice"}, 409, "conflict")
	if !strings.Contains(p.Detail, "holds 2 object versions") || !strings.Contains(p.Detail, "empty it") {
		t.Errorf("detail %q", p.Detail)
	}
	if e.state() != before {
		t.Error("a refused delete changed the store")
	}

	// One key deleted (the bucket is versioned: a delete marker), then
	// everything emptied; the marker alone still stops the delete.
	var d struct {
		Removed int            `json:"removed"`
		Result  map[string]any `json:"result"`
	}
	e.expect(req{method: "DELETE", path: objects + "?key=2024/q1.csv", as: "alice"}, 200, &d)
	if d.Result["key"] != "2024/q1.csv" || d.Result["delete_marker"] != true {
		t.Errorf("delete of a key: %+v", d)
	}
	e.expect(req{method: "DELETE", path: objects + "?key=2024/q2.csv&version_id=" + l.Items[1]["version_id"].(string), as: "alice"}, 200, &d)
	if d.Removed != 1 {
		t.Errorf("delete of a version removed %d", d.Removed)
	}
	p = e.expectProblem(req{method: "DELETE", path: "/api/projects/demo/buckets/geo-data", as: "alice"}, 409, "conflict")
	if !strings.Contains(p.Detail, "holds 1 object version and 1 delete marker") {
		t.Errorf("detail %q", p.Detail)
	}
	e.expect(req{method: "DELETE", path: objects, as: "alice"}, 200, &d)
	if d.Removed != 2 {
		t.Errorf("empty removed %d, want 2", d.Removed)
	}
	e.expect(req{method: "DELETE", path: "/api/projects/demo/buckets/geo-data", as: "alice"}, 202, nil)
	e.settle()
	e.expectProblem(req{method: "GET", path: "/api/projects/demo/buckets/geo-data", as: "alice"}, 404, "not-found")
}
