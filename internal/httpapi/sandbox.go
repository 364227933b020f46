package httpapi

import (
	"context"
	"net/http"

	"bucketdesk/internal/core"
)

// SandboxObjects is what the local binary's sandbox stores in buckets: the
// dev-only routes under /api/projects/{p}/sandbox/ fill and empty a
// project's buckets through it, so that a manager trying the product sees
// S3's rule that only an empty bucket is deleted. AWS has no such routes.
type SandboxObjects interface {
	PutObject(ctx context.Context, a core.Account, bucket, key string, size int64) (core.ObjectVersion, error)
	DeleteObject(ctx context.Context, a core.Account, bucket, key, versionID string) (core.ObjectVersion, error)
	EmptyBucket(ctx context.Context, a core.Account, bucket string) (int, error)
	ListObjectVersions(ctx context.Context, a core.Account, bucket string, max int) ([]core.ObjectVersion, bool, error)
	CountObjects(ctx context.Context, a core.Account, bucket string) (core.ObjectCount, error)
}

// sandboxBucket returns the account of the request's project once the
// caller may see the project and the bucket is one of its buckets.
func (s *server) sandboxBucket(r *http.Request) (core.Account, string, error) {
	who := principal(r)
	p, err := s.svc.Project(r.Context(), who, r.PathValue("p"))
	if err != nil {
		return core.Account{}, "", err
	}
	name := r.PathValue("name")
	if _, err := s.svc.Get(r.Context(), who, p.ID, core.KindBucket, name); err != nil {
		return core.Account{}, "", err
	}
	return p.Account(), name, nil
}

// objectsResponse lists what a sandbox bucket holds.
type objectsResponse struct {
	Count     core.ObjectCount     `json:"count"`
	Items     []core.ObjectVersion `json:"items"`
	Truncated bool                 `json:"truncated"`
}

// sandboxObjects answers GET /api/projects/{p}/sandbox/buckets/{name}/objects.
func (s *server) sandboxObjects(w http.ResponseWriter, r *http.Request) error {
	a, bucket, err := s.sandboxBucket(r)
	if err != nil {
		return err
	}
	items, more, err := s.opts.Sandbox.ListObjectVersions(r.Context(), a, bucket, core.ObjectCountLimit)
	if err != nil {
		return err
	}
	c, err := s.opts.Sandbox.CountObjects(r.Context(), a, bucket)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, objectsResponse{Count: c, Items: items, Truncated: more})
}

// putObjectRequest is the body of POST …/objects.
type putObjectRequest struct {
	Key  string `json:"key"`
	Size *int64 `json:"size,omitempty"`
}

// sandboxPutObject answers POST /api/projects/{p}/sandbox/buckets/{name}/objects.
func (s *server) sandboxPutObject(w http.ResponseWriter, r *http.Request) error {
	var req putObjectRequest
	if err := s.decode(w, r, &req, false); err != nil {
		return err
	}
	if req.Key == "" {
		return invalid("key", "is required")
	}
	var size int64
	if req.Size != nil {
		size = *req.Size
	}
	a, bucket, err := s.sandboxBucket(r)
	if err != nil {
		return err
	}
	v, err := s.opts.Sandbox.PutObject(r.Context(), a, bucket, req.Key, size)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

// deleteObjectsResponse says what a DELETE …/objects removed or made.
type deleteObjectsResponse struct {
	// Removed counts the versions and delete markers an emptying removed.
	Removed int `json:"removed"`
	// Result is what deleting one key made (a delete marker) or removed.
	Result *core.ObjectVersion `json:"result,omitempty"`
}

// sandboxDeleteObjects answers DELETE
// /api/projects/{p}/sandbox/buckets/{name}/objects: with ?key= (and
// optionally &version_id=) it deletes as S3's DeleteObject; without, it
// empties the bucket of every version and delete marker.
func (s *server) sandboxDeleteObjects(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	key, version := q.Get("key"), q.Get("version_id")
	if version != "" && key == "" {
		return invalid("version_id", "needs key")
	}
	a, bucket, err := s.sandboxBucket(r)
	if err != nil {
		return err
	}
	if key == "" {
		n, err := s.opts.Sandbox.EmptyBucket(r.Context(), a, bucket)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, deleteObjectsResponse{Removed: n})
	}
	v, err := s.opts.Sandbox.DeleteObject(r.Context(), a, bucket, key, version)
	if err != nil {
		return err
	}
	res := deleteObjectsResponse{Result: &v}
	if version != "" {
		res.Removed = 1
	}
	return writeJSON(w, http.StatusOK, res)
}
