package cfntest

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
)

const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// listVersionsResult is S3's ListObjectVersions answer.
type listVersionsResult struct {
	XMLName       xml.Name        `xml:"ListVersionsResult"`
	Xmlns         string          `xml:"xmlns,attr"`
	Name          string          `xml:"Name"`
	Prefix        string          `xml:"Prefix"`
	KeyMarker     string          `xml:"KeyMarker"`
	VersionMarker string          `xml:"VersionIdMarker"`
	MaxKeys       int             `xml:"MaxKeys"`
	IsTruncated   bool            `xml:"IsTruncated"`
	Entries       []versionsEntry // Version and DeleteMarker elements in key order
}

type versionsEntry struct {
	XMLName      xml.Name
	Key          string `xml:"Key"`
	VersionID    string `xml:"VersionId"`
	IsLatest     bool   `xml:"IsLatest"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag,omitempty"`
	Size         *int64 `xml:"Size,omitempty"`
	StorageClass string `xml:"StorageClass,omitempty"`
}

type s3Error struct {
	XMLName    xml.Name `xml:"Error"`
	Code       string   `xml:"Code"`
	Message    string   `xml:"Message"`
	BucketName string   `xml:"BucketName,omitempty"`
	RequestID  string   `xml:"RequestId"`
}

// serveS3 answers S3's ListObjectVersions (GET /bucket?versions, the
// path-style address cfncloud's S3 client uses here) from the sandbox's
// objects of the caller's account; other S3 requests are
// NotImplemented.
func (s *Server) serveS3(w http.ResponseWriter, r *http.Request) {
	bucket := strings.Trim(r.URL.Path, "/")
	q := r.URL.Query()
	s.mu.Lock()
	s.calls["ListObjectVersions"]++
	s.seq++
	reqID := fmt.Sprintf("cfntest-%08d", s.seq)
	s.mu.Unlock()
	fail := func(status int, code, msg string) {
		s.mu.Lock()
		s.errs[code]++
		s.mu.Unlock()
		b, _ := xml.Marshal(s3Error{Code: code, Message: msg, BucketName: bucket, RequestID: reqID})
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("X-Amz-Request-Id", reqID)
		w.WriteHeader(status)
		w.Write([]byte(xml.Header))
		w.Write(b)
	}
	if !q.Has("versions") || bucket == "" || strings.Contains(bucket, "/") {
		fail(http.StatusNotImplemented, "NotImplemented", "cfntest answers only ListObjectVersions of S3")
		return
	}
	sess, region, err := s.caller(r)
	if err != nil {
		var ae *apiError
		errors.As(err, &ae)
		fail(http.StatusForbidden, ae.code, ae.message)
		return
	}
	max := 1000
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fail(http.StatusBadRequest, "InvalidArgument", "Provided max-keys not an integer or within integer range")
			return
		}
		max = min(n, 1000)
	}
	if c, ok := s.take("ListObjectVersions"); ok {
		s.writeCanned(w, c)
		return
	}
	vs, truncated, err := s.sb.ListObjectVersions(r.Context(), core.Account{ID: sess.account, Region: region}, bucket, max)
	if err != nil {
		var se *simcloud.APIError
		switch {
		case errors.As(err, &se) && se.Code == "NoSuchBucket":
			fail(http.StatusNotFound, se.Code, se.Message)
		case errors.As(err, &se) && se.Code == "AccessDenied":
			fail(http.StatusForbidden, se.Code, se.Message)
		case errors.As(err, &se) && se.Code == "PermanentRedirect":
			fail(http.StatusMovedPermanently, se.Code, se.Message)
		default:
			fail(http.StatusServiceUnavailable, "ServiceUnavailable", "Please reduce your request rate.")
		}
		return
	}
	out := listVersionsResult{Xmlns: s3NS, Name: bucket, MaxKeys: max, IsTruncated: truncated}
	for _, v := range vs {
		e := versionsEntry{Key: v.Key, VersionID: v.VersionID, IsLatest: v.IsLatest, LastModified: timestamp(v.LastModified)}
		if v.DeleteMarker {
			e.XMLName.Local = "DeleteMarker"
		} else {
			size := v.Size
			e.XMLName.Local, e.ETag, e.Size, e.StorageClass = "Version", `"d41d8cd98f00b204e9800998ecf8427e"`, &size, "STANDARD"
		}
		out.Entries = append(out.Entries, e)
	}
	b, _ := xml.Marshal(out)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Amz-Request-Id", reqID)
	w.Write([]byte(xml.Header))
	w.Write(b)
}
