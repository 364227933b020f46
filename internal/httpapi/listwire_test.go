package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"strconv"
	"strings"
	"testing"
)

// A list is sent gzip-encoded to a client that accepts gzip, plain to one
// that does not (or refuses it with q=0), always with its entity tag and
// Vary: Accept-Encoding; If-None-Match with that tag, in either encoding,
// gets 304 without a body; a change of the project changes the tag.
func TestListEncodingAndNotModified(t *testing.T) {
	e := newEnv(t, envOptions{start: true})
	for _, n := range []string{"zip-one", "zip-two", "zip-three", "zip-four", "zip-five", "zip-six", "zip-seven"} {
		e.expect(req{method: "POST", path: "/api/projects/demo/buckets", as: "alice", body: bucketJSON(n)}, 202, nil)
	}
	e.settle()
	const path = "/api/projects/demo/buckets"

	plain := e.expect(req{method: "GET", path: path, as: "alice"}, 200, nil)
	tag := plain.Header().Get("ETag")
	if !strings.HasPrefix(tag, `W/"`) || plain.Header().Get("Content-Encoding") != "" || plain.Header().Get("Vary") != "Accept-Encoding" {
		t.Fatalf("plain answer: headers %v", plain.Header())
	}
	if plain.Body.Len() < 1024 {
		t.Fatalf("the list is %d bytes: too small for this test", plain.Body.Len())
	}

	zipped := e.expect(req{method: "GET", path: path, as: "alice", headers: []string{"Accept-Encoding", "br;q=1.0, gzip;q=0.8"}}, 200, nil)
	if zipped.Header().Get("Content-Encoding") != "gzip" || zipped.Header().Get("ETag") != tag || zipped.Header().Get("Vary") != "Accept-Encoding" {
		t.Fatalf("gzip answer: headers %v", zipped.Header())
	}
	if n, _ := strconv.Atoi(zipped.Header().Get("Content-Length")); n != zipped.Body.Len() {
		t.Fatalf("Content-Length %s, body %d bytes", zipped.Header().Get("Content-Length"), zipped.Body.Len())
	}
	zr, err := gzip.NewReader(bytes.NewReader(zipped.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(unzipped, plain.Body.Bytes()) {
		t.Fatal("the gzip answer is not the plain answer")
	}
	if zipped.Body.Len()*3 > plain.Body.Len() {
		t.Fatalf("gzip %d bytes for %d: less than a third expected", zipped.Body.Len(), plain.Body.Len())
	}

	for _, ae := range []string{"gzip;q=0", "identity", "br", "*;q=0", "gzip;q=0, *"} {
		w := e.expect(req{method: "GET", path: path, as: "alice", headers: []string{"Accept-Encoding", ae}}, 200, nil)
		if w.Header().Get("Content-Encoding") != "" || !bytes.Equal(w.Body.Bytes(), plain.Body.Bytes()) {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q", ae, w.Header().Get("Content-Encoding"))
		}
	}
	if w := e.expect(req{method: "GET", path: path, as: "alice", headers: []string{"Accept-Encoding", "*"}}, 200, nil); w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatal(`Accept-Encoding "*" did not get gzip`)
	}

	for _, inm := range []string{tag, strings.TrimPrefix(tag, "W/"), `"other", ` + tag, "*"} {
		w := e.expect(req{method: "GET", path: path, as: "alice", headers: []string{"If-None-Match", inm, "Accept-Encoding", "gzip"}}, 304, nil)
		if w.Body.Len() != 0 || w.Header().Get("ETag") != tag {
			t.Fatalf("If-None-Match %s: body %d bytes, ETag %q", inm, w.Body.Len(), w.Header().Get("ETag"))
		}
	}
	e.expect(req{method: "GET", path: path, as: "alice", headers: []string{"If-None-Match", `W/"stale"`}}, 200, nil)
	// Not a member: the same tag gets 404, not 304.
	e.expectProblem(req{method: "GET", path: path, as: "mallory", headers: []string{"If-None-Match", tag}}, 404, "not-found")

	e.expect(req{method: "DELETE", path: path + "/zip-two", as: "alice"}, 202, nil)
	e.settle()
	w := e.expect(req{method: "GET", path: path, as: "alice", headers: []string{"If-None-Match", tag}}, 200, nil)
	if w.Header().Get("ETag") == tag {
		t.Fatal("the tag did not change with the list")
	}
}
