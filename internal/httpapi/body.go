package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"bucketdesk/internal/core"
)

// invalid returns a validation error of one field.
func invalid(field, format string, args ...any) error {
	return &core.ValidationError{Problems: []core.FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

// decode reads the request's JSON body into v: Content-Type
// application/json (415), at most Options.MaxBody bytes (413), no unknown
// field, no key given twice, no null, whole numbers for integers and
// exactly one JSON value (400; checkJSON). When optional, a request
// without a body leaves v as it is.
func (s *server) decode(w http.ResponseWriter, r *http.Request, v any, optional bool) error {
	if optional && r.ContentLength == 0 {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		if ct == "" {
			ct = "none"
		}
		return kindError(errMediaType, "the body must be JSON with Content-Type: application/json, not %s", ct)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return kindError(errTooLarge, "the body is larger than %d bytes", s.opts.MaxBody)
	case err != nil:
		return kindError(core.ErrInvalid, "the body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return invalid("", "a JSON body is required")
	}
	if err := checkJSON(body, reflect.TypeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("", "the body must hold exactly one JSON value")
	}
	return nil
}

// jsonError turns a decoding error into a validation error naming the
// field where it can.
func jsonError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return invalid("", "malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if isInteger(typ.Type) {
			if field == "" {
				return invalid("", "the body must be a whole number, not %s", typ.Value)
			}
			return invalid(field, "must be a whole number, not %s", typ.Value)
		}
		if field == "" {
			return invalid("", "the body must be a JSON %s, not %s", jsonType(typ.Type.Kind().String()), typ.Value)
		}
		return invalid(field, "must be a JSON %s, not %s", jsonType(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "the JSON body ends too early")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if f, uerr := strconv.Unquote(name); uerr == nil {
			name = f
		}
		return invalid(name, "unknown field")
	}
	return invalid("", "the body is not valid JSON: %v", err)
}

// jsonType names a Go kind in JSON's words.
func jsonType(kind string) string {
	switch kind {
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	case "string":
		return "string"
	case "bool":
		return "boolean"
	}
	if strings.HasPrefix(kind, "int") || strings.HasPrefix(kind, "uint") || strings.HasPrefix(kind, "float") {
		return "number"
	}
	return kind
}

// ifMatch parses an If-Match header into the version the engine compares
// (0: no condition). It accepts one strong ETag, "<version>", or "*"
// (any version). A weak ETag (W/"7") never matches, because If-Match uses
// the strong comparison (RFC 9110 §13.1.1): 412. A list of several ETags
// or a malformed one is 400.
func ifMatch(r *http.Request) (int64, error) {
	vals := r.Header.Values("If-Match")
	if len(vals) == 0 {
		return 0, nil
	}
	v := strings.TrimSpace(strings.Join(vals, ","))
	switch {
	case v == "*":
		return 0, nil
	case strings.Contains(v, ","):
		return 0, invalid("If-Match", "give one ETag, not a list")
	case strings.HasPrefix(v, "W/"):
		return 0, kindError(core.ErrPrecondition, "If-Match compares strongly and a weak ETag (%s) never matches; send the ETag as given", v)
	}
	inner, ok := strings.CutPrefix(v, `"`)
	if ok {
		inner, ok = strings.CutSuffix(inner, `"`)
	}
	n, err := strconv.ParseInt(inner, 10, 64)
	if !ok || err != nil || n < 0 || strings.HasPrefix(inner, "+") {
		return 0, invalid("If-Match", "must be a quoted version such as \"7\" (the ETag of the resource) or *")
	}
	if n == 0 {
		return 0, kindError(core.ErrPrecondition, "no resource is at version 0")
	}
	return n, nil
}
