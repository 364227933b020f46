package httpapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"bucketdesk/internal/core"
)

// checkJSON leaves malformed JSON to the decoder, and what it refuses it
// refuses with a field path.
func TestCheckJSON(t *testing.T) {
	user := reflect.TypeFor[*core.UserSpec]()
	for _, c := range []struct {
		body string
		want string // "field: message" of the first problem; "" for none
	}{
		{`{"name":"u","grants":[]}`, ""},
		{`{"name":`, ""},        // malformed: the decoder reports it
		{`{"name":null,`, ""},   // malformed wins over a null before it
		{`{"name":"u"} {}`, ""}, // a second value: the decoder reports it
		{`{"Name":"u"}`, ""},    // encoding/json's case-insensitive match
		{`{"grants":[{"bucket":"b","mode":1}]}`, "grants[0].mode: unknown field"},
		{`{"name":"u","name":"v"}`, "name: is given more than once; give each key once"},
		{`{"name":"u","Name":"v"}`, `Name: is given more than once (as "name" and "Name"); give each key once`},
		{`{"access_keys":-1}`, ""}, // in range for an int; the spec's rules refuse it
		{`{"access_keys":1.5}`, "access_keys: must be a whole number (digits only, no fraction or exponent), not 1.5"},
		{`{"access_keys":"1"}`, "access_keys: must be a whole number, not a string"},
		{`{"sftp":{"enabled":null}}`, "sftp.enabled: must not be null; leave an optional field out instead"},
		{`null`, ": the body must be a JSON object, not null"},
		{`"x"`, ": the body must be a JSON object, not a string"},
		{`{"name":"u","x":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, "x: unknown field"},
	} {
		err := checkJSON([]byte(c.body), user)
		got := ""
		if ve, ok := err.(*core.ValidationError); ok {
			got = ve.Problems[0].Field + ": " + ve.Problems[0].Message
		} else if err != nil {
			t.Errorf("%s: %v is no validation error", c.body, err)
		}
		if got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.body, got, c.want)
		}
	}
	// Too deep: the walk stops at the limit.
	deep := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	ve, ok := checkJSON([]byte(`{"grants":`+deep+`}`), user).(*core.ValidationError)
	if !ok || !strings.Contains(ve.Problems[len(ve.Problems)-1].Message, "nested more than") {
		t.Fatalf("deep: %v", ve)
	}
	// Types that decode themselves, interfaces and ",string" fields take
	// any value but null.
	type odd struct {
		Raw json.RawMessage `json:"raw"`
		Any any             `json:"any"`
		Str int             `json:"str,string"`
	}
	if err := checkJSON([]byte(`{"raw":[1,{"a":true}],"any":{"b":2.5},"str":"7"}`), reflect.TypeFor[*odd]()); err != nil {
		t.Fatal(err)
	}
	if err := checkJSON([]byte(`{"any":{"b":null}}`), reflect.TypeFor[*odd]()); err == nil {
		t.Fatal("a null inside an interface value was accepted")
	}
}

// checkJSON does not panic on any input.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"name":"u","grants":[{"bucket":"b","access":"read"}]}`, `[1,2]`, `{"a":{"a":{}}}`, `nul`, `{"key_serials":[1e400]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		checkJSON([]byte(body), reflect.TypeFor[*core.UserSpec]())
		checkJSON([]byte(body), reflect.TypeFor[*core.BucketSpec]())
	})
}
