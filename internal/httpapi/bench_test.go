package httpapi_test

import (
	"fmt"
	"net/http/httptest"
	"testing"
)

// benchEnv is a project with n buckets, every operation finished.
func benchEnv(b *testing.B, n int) *env {
	e := newEnv(b, envOptions{start: true})
	for i := range n {
		e.expect(req{method: "POST", path: "/api/projects/demo/buckets", as: "alice", body: bucketJSON(fmt.Sprintf("bench-bucket-%03d", i))}, 202, nil)
	}
	e.settle()
	return e
}

// serve measures one request through the whole handler (token
// verification included), as docs/targets.md counts it.
func serve(b *testing.B, e *env, path string) {
	tok := e.token("alice")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("GET", path, nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
}

// GET of one bucket.
func BenchmarkGetBucket(b *testing.B) {
	e := benchEnv(b, 1)
	serve(b, e, "/api/projects/demo/buckets/bench-bucket-000")
}

// LIST of a project of 200 buckets; the encoded list is reused while
// nothing changes.
func BenchmarkList200Buckets(b *testing.B) {
	e := benchEnv(b, 200)
	serve(b, e, "/api/projects/demo/buckets")
}
