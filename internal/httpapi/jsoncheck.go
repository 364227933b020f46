package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"bucketdesk/internal/core"
)

// Limits of checkJSON: the body is at most Options.MaxBody bytes already.
const (
	maxJSONDepth    = 64
	maxJSONProblems = 20
)

// checkJSON walks the tokens of body, a request body that will be decoded
// into a value of type t, and reports what encoding/json would silently
// accept or describe badly:
//
//   - an object key given twice (encoding/json keeps the last; a key that
//     matches a struct field only case-insensitively counts as that field);
//   - null anywhere: no field of a request is nullable, so an optional
//     field is left out, never null (encoding/json would leave the zero
//     value, "" or 0 or false, in its place);
//   - a value of the wrong JSON type, and a number that is not a whole
//     number (or out of range) where an integer is expected;
//   - a key that names no field, with its full path (grants[0].mode).
//
// Fields are named with the paths of core.ValidationError: name,
// grants[0].bucket, tags.team. A syntax error stops the walk and returns
// nil: the decoder that runs next reports it.
func checkJSON(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	w := &jsonWalker{dec: dec}
	if err := w.value(t, "", 0); err != nil && !errors.Is(err, errTooDeep) {
		return nil // malformed: the decoder says where
	}
	if len(w.problems) == 0 {
		return nil
	}
	return &core.ValidationError{Problems: w.problems}
}

type jsonWalker struct {
	dec      *json.Decoder
	problems []core.FieldError
}

// errTooDeep stops the walk of a body nested deeper than maxJSONDepth.
var errTooDeep = errors.New("nested too deep")

func (w *jsonWalker) add(field, format string, args ...any) {
	if len(w.problems) < maxJSONProblems {
		w.problems = append(w.problems, core.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// expected reduces t to what the walk checks: nil when anything goes (an
// interface, or a type that decodes itself).
func expected(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface ||
		reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	return t
}

// value walks one JSON value at path, expected to be of type t (nil: any).
// It returns only the tokenizer's errors; problems of the value are
// collected.
func (w *jsonWalker) value(t reflect.Type, path string, depth int) error {
	tok, err := w.dec.Token()
	if err != nil {
		return err
	}
	t = expected(t)
	if depth > maxJSONDepth {
		w.add("", "the JSON body is nested more than %d levels deep", maxJSONDepth)
		return errTooDeep
	}
	switch v := tok.(type) {
	case nil:
		if path == "" {
			w.add("", "the body must be a JSON %s, not null", wantName(t, "value"))
		} else {
			w.add(path, "must not be null; leave an optional field out instead")
		}
	case json.Delim:
		if v == '{' {
			return w.object(t, path, depth)
		}
		return w.array(t, path, depth)
	case string:
		if t != nil && t.Kind() != reflect.String {
			w.wrongType(t, path, "a string")
		}
	case bool:
		if t != nil && t.Kind() != reflect.Bool {
			w.wrongType(t, path, "a boolean")
		}
	case json.Number:
		w.number(t, path, string(v))
	}
	return nil
}

// wrongType reports a value of JSON type got where t is expected.
func (w *jsonWalker) wrongType(t reflect.Type, path, got string) {
	if isInteger(t) {
		w.add(path, "must be a whole number, not %s", got)
		return
	}
	if path == "" {
		w.add("", "the body must be a JSON %s, not %s", wantName(t, "value"), got)
		return
	}
	w.add(path, "must be a JSON %s, not %s", wantName(t, "value"), got)
}

// wantName names the JSON type of t.
func wantName(t reflect.Type, unknown string) string {
	if t == nil {
		return unknown
	}
	return jsonType(t.Kind().String())
}

func isInteger(t reflect.Type) bool {
	if t == nil {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

// number checks a number literal against t.
func (w *jsonWalker) number(t reflect.Type, path, lit string) {
	if t == nil {
		return
	}
	switch {
	case isInteger(t):
		if strings.ContainsAny(lit, ".eE") {
			w.add(path, "must be a whole number (digits only, no fraction or exponent), not %s", lit)
			return
		}
		var err error
		if strings.HasPrefix(t.Kind().String(), "uint") {
			_, err = strconv.ParseUint(lit, 10, t.Bits())
		} else {
			_, err = strconv.ParseInt(lit, 10, t.Bits())
		}
		if err != nil {
			w.add(path, "must be a whole number in range, not %s", lit)
		}
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		if f, err := strconv.ParseFloat(lit, t.Bits()); err != nil || math.IsInf(f, 0) {
			w.add(path, "is out of range: %s", lit)
		}
	default:
		w.wrongType(t, path, "a number")
	}
}

// object walks the members of an object whose '{' has been read.
func (w *jsonWalker) object(t reflect.Type, path string, depth int) error {
	var fields map[string]jsonField
	var elem reflect.Type
	switch {
	case t == nil:
	case t.Kind() == reflect.Struct:
		fields = fieldsOf(t)
	case t.Kind() == reflect.Map:
		elem = t.Elem()
	default:
		w.wrongType(t, path, "an object")
		t = nil
	}
	seen := map[string]string{} // the field (or key) → the key that gave it
	for w.dec.More() {
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		sub := key
		if path != "" {
			sub = path + "." + key
		}
		id, vt := key, elem
		if fields != nil {
			f, ok := fields[key]
			if !ok {
				// encoding/json matches a key to a field case-insensitively.
				for name, g := range fields {
					if strings.EqualFold(name, key) {
						f, ok = g, true
						break
					}
				}
			}
			if !ok {
				w.add(sub, "unknown field")
			} else {
				id, vt = f.name, f.typ
			}
		}
		if first, dup := seen[id]; dup {
			if first == key {
				w.add(sub, "is given more than once; give each key once")
			} else {
				w.add(sub, "is given more than once (as %q and %q); give each key once", first, key)
			}
		} else {
			seen[id] = key
		}
		if err := w.value(vt, sub, depth+1); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // '}'
	return err
}

// array walks the elements of an array whose '[' has been read.
func (w *jsonWalker) array(t reflect.Type, path string, depth int) error {
	var elem reflect.Type
	if t != nil {
		if k := t.Kind(); k == reflect.Slice || k == reflect.Array {
			elem = t.Elem()
		} else {
			w.wrongType(t, path, "an array")
		}
	}
	for i := 0; w.dec.More(); i++ {
		if err := w.value(elem, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
			return err
		}
	}
	_, err := w.dec.Token() // ']'
	return err
}

// jsonField is a struct field as encoding/json sees it.
type jsonField struct {
	name string
	typ  reflect.Type // nil: anything (such as a ",string" field)
}

var fieldCache sync.Map // reflect.Type → map[string]jsonField

// fieldsOf returns the JSON fields of struct type t by their names,
// including those of embedded structs without a tag.
func fieldsOf(t reflect.Type) map[string]jsonField {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]jsonField)
	}
	m := map[string]jsonField{}
	var collect func(t reflect.Type)
	collect = func(t reflect.Type) {
		for f := range t.Fields() {
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					collect(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if _, ok := m[name]; ok {
				continue // the first wins (core's request types embed none)
			}
			typ := f.Type
			if strings.Contains(","+opts+",", ",string,") {
				typ = nil
			}
			m[name] = jsonField{name: name, typ: typ}
		}
	}
	collect(t)
	fieldCache.Store(t, m)
	return m
}
