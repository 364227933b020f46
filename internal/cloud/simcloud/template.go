package simcloud

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"bucketdesk/internal/core"
)

// template is a parsed CloudFormation template (JSON only).
type template struct {
	body       string
	Parameters map[string]any
	Resources  map[string]*tmplResource
	Outputs    map[string]any
	order      []string            // dependencies first
	deps       map[string][]string // direct dependencies, sorted
}

// tmplResource is one entry of the Resources section.
type tmplResource struct {
	Type       string
	Properties map[string]any
	DependsOn  []string
	// DeletionPolicy is Delete (""), Retain, RetainExceptOnCreate or
	// Snapshot; UpdateReplacePolicy is Delete (""), Retain or Snapshot.
	DeletionPolicy, UpdateReplacePolicy string
	raw                                 json.RawMessage // Properties as written, indented
}

var (
	alnumRe = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	subVar  = regexp.MustCompile(`\$\{([^}]*)\}`)
)

// pseudo parameters a Ref may name.
var pseudo = map[string]bool{
	"AWS::AccountId": true, "AWS::Region": true, "AWS::StackName": true, "AWS::StackId": true,
	"AWS::Partition": true, "AWS::URLSuffix": true, "AWS::NoValue": true, "AWS::NotificationARNs": true,
}

func formatErr(format string, args ...any) error {
	return validationErr(core.ErrInvalid, "Template format error: "+format, args...)
}

// parseTemplate parses and validates a template as CreateStack does
// before it accepts it: structure, resource types, references, GetAtt
// attributes and cycles. Property values are checked later, per resource,
// as CloudFormation does.
func parseTemplate(body string) (*template, error) {
	top, err := parseSections(body)
	if err != nil {
		return nil, err
	}
	t := &template{body: body, Resources: map[string]*tmplResource{}, deps: map[string][]string{}}
	if t.Parameters, err = parseParameters(top["Parameters"]); err != nil {
		return nil, err
	}
	if err := t.parseResources(top["Resources"]); err != nil {
		return nil, err
	}
	if t.Outputs, err = parseOutputs(top["Outputs"]); err != nil {
		return nil, err
	}
	if err := t.link(); err != nil {
		return nil, err
	}
	if err := t.sort(); err != nil {
		return nil, err
	}
	return t, nil
}

// parseSections decodes a template's top-level object, refusing the
// sections CloudFormation does not know and another format version.
func parseSections(body string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var top map[string]json.RawMessage
	if err := dec.Decode(&top); err != nil || dec.More() {
		return nil, formatErr("JSON not well-formed.")
	}
	var bad []string
	for k := range top {
		switch k {
		case "AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Resources", "Outputs", "Mappings", "Conditions", "Rules":
		default:
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, formatErr("Invalid template property or properties [%s]", strings.Join(bad, ", "))
	}
	if v, ok := top["AWSTemplateFormatVersion"]; ok && string(v) != `"2010-09-09"` {
		return nil, formatErr("Unsupported AWSTemplateFormatVersion")
	}
	return top, nil
}

// parseParameters returns the Parameters section's values, nil without
// the section. The sandbox takes no parameter values: each parameter
// needs a Default.
func parseParameters(raw json.RawMessage) (map[string]any, error) {
	if raw == nil {
		return nil, nil
	}
	var ps map[string]map[string]any
	if err := decodeNumber(raw, &ps); err != nil {
		return nil, formatErr("Parameters must be an object")
	}
	params := map[string]any{}
	var missing []string
	for name, p := range ps {
		d, ok := p["Default"]
		if !ok {
			missing = append(missing, name)
			continue
		}
		params[name] = d
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, validationErr(core.ErrInvalid, "Parameters: [%s] must have values", strings.Join(missing, ", "))
	}
	return params, nil
}

// parseResources fills t.Resources from the Resources section, which must
// have at least one resource, each of a type the sandbox knows.
func (t *template) parseResources(raw json.RawMessage) error {
	var rs map[string]json.RawMessage
	if err := decodeNumber(raw, &rs); err != nil || len(rs) == 0 {
		return formatErr("At least one Resources member must be defined.")
	}
	var unknownTypes []string
	for name, raw := range rs {
		tr, err := parseResource(name, raw)
		if err != nil {
			return err
		}
		if types[tr.Type] == nil {
			unknownTypes = append(unknownTypes, tr.Type)
		}
		t.Resources[name] = tr
	}
	if len(unknownTypes) > 0 {
		sort.Strings(unknownTypes)
		return formatErr("Unrecognized resource types: [%s]", strings.Join(slices.Compact(unknownTypes), ", "))
	}
	return nil
}

// parseResource parses the resource named name: its attributes, each of
// the form CloudFormation requires, and a Type.
func parseResource(name string, raw json.RawMessage) (*tmplResource, error) {
	if !alnumRe.MatchString(name) {
		return nil, formatErr("Resource name %s is non alphanumeric.", name)
	}
	var r map[string]json.RawMessage
	if err := decodeNumber(raw, &r); err != nil {
		return nil, formatErr("[/Resources/%s] Every Resources object must contain a Type member.", name)
	}
	tr := &tmplResource{}
	for k, v := range r {
		switch k {
		case "Type":
			if err := json.Unmarshal(v, &tr.Type); err != nil {
				return nil, formatErr("[/Resources/%s/Type] Type must be a string", name)
			}
		case "Properties":
			if err := decodeNumber(v, &tr.Properties); err != nil {
				return nil, formatErr("[/Resources/%s/Properties] Properties must be an object", name)
			}
			var buf bytes.Buffer
			if json.Indent(&buf, bytes.TrimSpace(v), "", "  ") == nil {
				tr.raw = buf.Bytes()
			}
		case "DependsOn":
			var one string
			if json.Unmarshal(v, &one) == nil {
				tr.DependsOn = []string{one}
			} else if err := json.Unmarshal(v, &tr.DependsOn); err != nil {
				return nil, formatErr("[/Resources/%s/DependsOn] DependsOn must be a string or a list of strings", name)
			}
		case "DeletionPolicy":
			if json.Unmarshal(v, &tr.DeletionPolicy) != nil || !slices.Contains([]string{"Delete", "Retain", "RetainExceptOnCreate", "Snapshot"}, tr.DeletionPolicy) {
				return nil, formatErr("[/Resources/%s/DeletionPolicy] DeletionPolicy must be one of Delete, Retain, RetainExceptOnCreate or Snapshot", name)
			}
		case "UpdateReplacePolicy":
			if json.Unmarshal(v, &tr.UpdateReplacePolicy) != nil || !slices.Contains([]string{"Delete", "Retain", "Snapshot"}, tr.UpdateReplacePolicy) {
				return nil, formatErr("[/Resources/%s/UpdateReplacePolicy] UpdateReplacePolicy must be one of Delete, Retain or Snapshot", name)
			}
		case "Metadata", "Condition", "CreationPolicy", "UpdatePolicy":
		default:
			return nil, formatErr("[/Resources/%s] Invalid template resource property '%s'", name, k)
		}
	}
	if tr.Type == "" {
		return nil, formatErr("[/Resources/%s] Every Resources object must contain a Type member.", name)
	}
	return tr, nil
}

// parseOutputs returns the Outputs section's values, nil without the
// section.
func parseOutputs(raw json.RawMessage) (map[string]any, error) {
	if raw == nil {
		return nil, nil
	}
	var outs map[string]map[string]any
	if err := decodeNumber(raw, &outs); err != nil {
		return nil, formatErr("Outputs must be an object")
	}
	outputs := map[string]any{}
	for name, o := range outs {
		v, ok := o["Value"]
		if !ok {
			return nil, formatErr("Every Outputs member must contain a Value object, the Outputs member %s does not.", name)
		}
		outputs[name] = v
	}
	return outputs, nil
}

// link checks the references of every resource and output (DependsOn,
// Ref, Fn::GetAtt and Fn::Sub) and records each resource's direct
// dependencies in t.deps. A resource that depends on itself is a cycle;
// longer cycles are left to sort.
func (t *template) link() error {
	for name, r := range t.Resources {
		deps := map[string]bool{}
		for _, d := range r.DependsOn {
			if t.Resources[d] == nil {
				return formatErr("Unresolved resource dependencies [%s] in the Resources block of the template", d)
			}
			deps[d] = true
		}
		var unresolved []string
		err := walkRefs(r.Properties, func(ref, attr string) error {
			if t.Resources[ref] != nil {
				deps[ref] = true
			}
			return t.checkRef(ref, attr, &unresolved)
		})
		if err != nil {
			return err
		}
		if len(unresolved) > 0 {
			return unresolvedErr(unresolved, "Resources")
		}
		if deps[name] {
			return validationErr(core.ErrInvalid, "Circular dependency between resources: [%s]", name)
		}
		for d := range deps {
			t.deps[name] = append(t.deps[name], d)
		}
		sort.Strings(t.deps[name])
	}
	for _, v := range t.Outputs {
		var unresolved []string
		err := walkRefs(v, func(ref, attr string) error { return t.checkRef(ref, attr, &unresolved) })
		if err != nil {
			return err
		}
		if len(unresolved) > 0 {
			return unresolvedErr(unresolved, "Outputs")
		}
	}
	return nil
}

// checkRef checks one Ref (attr "") or Fn::GetAtt: a name the template
// does not define is added to unresolved; an attribute the resource's type
// lacks is an error.
func (t *template) checkRef(name, attr string, unresolved *[]string) error {
	if attr == "" {
		if !pseudo[name] && t.Parameters[name] == nil && t.Resources[name] == nil {
			*unresolved = append(*unresolved, name)
		}
		return nil
	}
	r := t.Resources[name]
	if r == nil {
		*unresolved = append(*unresolved, name)
		return nil
	}
	if !slices.Contains(types[r.Type].attrs, attr) {
		return validationErr(core.ErrInvalid, "Template error: resource %s does not support attribute type %s in Fn::GetAtt", name, attr)
	}
	return nil
}

// unresolvedErr is CloudFormation's answer to names a template's block
// refers to but does not define.
func unresolvedErr(names []string, block string) error {
	sort.Strings(names)
	return formatErr("Unresolved resource dependencies [%s] in the %s block of the template", strings.Join(slices.Compact(names), ", "), block)
}

func decodeNumber(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return fmt.Errorf("missing")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(v)
}

// sort orders the resources dependencies first; among those ready, by
// name, so that the order (and so the event sequence) is deterministic.
func (t *template) sort() error {
	indeg := map[string]int{}
	users := map[string][]string{}
	for name := range t.Resources {
		indeg[name] = len(t.deps[name])
		for _, d := range t.deps[name] {
			users[d] = append(users[d], name)
		}
	}
	var ready []string
	for name, n := range indeg {
		if n == 0 {
			ready = append(ready, name)
		}
	}
	for len(ready) > 0 {
		sort.Strings(ready)
		n := ready[0]
		ready = ready[1:]
		t.order = append(t.order, n)
		for _, u := range users[n] {
			indeg[u]--
			if indeg[u] == 0 {
				ready = append(ready, u)
			}
		}
	}
	if len(t.order) != len(t.Resources) {
		var cyc []string
		for name, n := range indeg {
			if n > 0 {
				cyc = append(cyc, name)
			}
		}
		sort.Strings(cyc)
		return validationErr(core.ErrInvalid, "Circular dependency between resources: [%s]", strings.Join(cyc, ", "))
	}
	return nil
}

// dependencies returns every resource that name depends on, transitively.
func (t *template) dependencies(name string) map[string]bool {
	seen := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		for _, d := range t.deps[n] {
			if !seen[d] {
				seen[d] = true
				visit(d)
			}
		}
	}
	visit(name)
	return seen
}

// walkRefs calls fn for every Ref (attr "") and GetAtt in v.
func walkRefs(v any, fn func(name, attr string) error) error {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if err := walkRefs(e, fn); err != nil {
				return err
			}
		}
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				if k == "Ref" {
					s, ok := arg.(string)
					if !ok {
						return formatErr("Ref must be a string")
					}
					return fn(s, "")
				}
				if k == "Fn::GetAtt" {
					name, attr, err := getAttArgs(arg)
					if err != nil {
						return err
					}
					return fn(name, attr)
				}
				if k == "Fn::Sub" {
					str, vars, err := subArgs(arg)
					if err != nil {
						return err
					}
					for _, m := range subVar.FindAllStringSubmatch(str, -1) {
						ref := m[1]
						if strings.HasPrefix(ref, "!") {
							continue
						}
						if _, ok := vars[ref]; ok {
							continue
						}
						name, attr, _ := strings.Cut(ref, ".")
						if err := fn(name, attr); err != nil {
							return err
						}
					}
					for _, e := range vars {
						if err := walkRefs(e, fn); err != nil {
							return err
						}
					}
					return nil
				}
				if strings.HasPrefix(k, "Fn::") {
					switch k {
					case "Fn::Join", "Fn::Select", "Fn::Split", "Fn::Base64":
						return walkRefs(arg, fn)
					}
					return validationErr(core.ErrInvalid, "Template error: unsupported intrinsic function %s", k)
				}
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := walkRefs(v[k], fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func getAttArgs(arg any) (name, attr string, err error) {
	switch a := arg.(type) {
	case string:
		n, at, ok := strings.Cut(a, ".")
		if ok {
			return n, at, nil
		}
	case []any:
		if len(a) == 2 {
			n, ok1 := a[0].(string)
			at, ok2 := a[1].(string)
			if ok1 && ok2 {
				return n, at, nil
			}
		}
	}
	return "", "", validationErr(core.ErrInvalid, "Template error: every Fn::GetAtt object requires two non-empty parameters, the resource name and the resource attribute")
}

func subArgs(arg any) (string, map[string]any, error) {
	switch a := arg.(type) {
	case string:
		return a, nil, nil
	case []any:
		if len(a) == 2 {
			s, ok1 := a[0].(string)
			m, ok2 := a[1].(map[string]any)
			if ok1 && ok2 {
				return s, m, nil
			}
		}
	}
	return "", nil, validationErr(core.ErrInvalid, "Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments. Specify a string as first argument, and an optional second argument to specify a mapping of values to replace in the string")
}

// noValue is what {"Ref": "AWS::NoValue"} resolves to: the property is
// removed.
type noValueT struct{}

var noValue = noValueT{}

// resolver evaluates intrinsic functions against a stack's current
// resources.
type resolver struct {
	s   *Sandbox
	st  *stack
	tpl *template
}

func (r *resolver) resolve(v any) (any, error) {
	switch v := v.(type) {
	case []any:
		out := make([]any, 0, len(v))
		for _, e := range v {
			x, err := r.resolve(e)
			if err != nil {
				return nil, err
			}
			if x != noValue {
				out = append(out, x)
			}
		}
		return out, nil
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				switch k {
				case "Ref":
					return r.ref(arg.(string))
				case "Fn::GetAtt":
					name, attr, err := getAttArgs(arg)
					if err != nil {
						return nil, err
					}
					return r.getAtt(name, attr)
				case "Fn::Sub":
					return r.sub(arg)
				case "Fn::Join":
					return r.join(arg)
				case "Fn::Select":
					return r.selectFn(arg)
				case "Fn::Split":
					return r.split(arg)
				case "Fn::Base64":
					return r.base64(arg)
				}
			}
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			x, err := r.resolve(e)
			if err != nil {
				return nil, err
			}
			if x != noValue {
				out[k] = x
			}
		}
		return out, nil
	}
	return v, nil
}

func (r *resolver) ref(name string) (any, error) {
	switch name {
	case "AWS::AccountId":
		return r.st.Account, nil
	case "AWS::Region":
		return r.st.Region, nil
	case "AWS::StackName":
		return r.st.Name, nil
	case "AWS::StackId":
		return r.st.ID, nil
	case "AWS::Partition":
		return "aws", nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	case "AWS::NoValue":
		return noValue, nil
	case "AWS::NotificationARNs":
		return []any{r.st.Topic}, nil
	}
	if d, ok := r.tpl.Parameters[name]; ok {
		return d, nil
	}
	rec := r.st.Resources[name]
	if rec == nil || rec.Physical == "" {
		return nil, fmt.Errorf("resource %s is not available for Ref", name)
	}
	return rec.Physical, nil
}

func (r *resolver) getAtt(name, attr string) (any, error) {
	rec := r.st.Resources[name]
	if rec == nil || rec.Physical == "" {
		return nil, fmt.Errorf("resource %s is not available for Fn::GetAtt", name)
	}
	if v, ok := rec.Attrs[attr]; ok {
		return v, nil
	}
	if v, ok := rec.Sealed[attr]; ok {
		return r.s.open(v)
	}
	return nil, fmt.Errorf("attribute %s of %s is not available", attr, name)
}

func (r *resolver) sub(arg any) (any, error) {
	str, vars, err := subArgs(arg)
	if err != nil {
		return nil, err
	}
	resolvedVars := map[string]string{}
	for k, v := range vars {
		x, err := r.resolve(v)
		if err != nil {
			return nil, err
		}
		s, err := scalar(x)
		if err != nil {
			return nil, err
		}
		resolvedVars[k] = s
	}
	var firstErr error
	out := subVar.ReplaceAllStringFunc(str, func(m string) string {
		ref := m[2 : len(m)-1]
		if strings.HasPrefix(ref, "!") {
			return "${" + ref[1:] + "}"
		}
		if s, ok := resolvedVars[ref]; ok {
			return s
		}
		var x any
		var err error
		if name, attr, ok := strings.Cut(ref, "."); ok {
			x, err = r.getAtt(name, attr)
		} else {
			x, err = r.ref(ref)
		}
		if err == nil {
			var s string
			s, err = scalar(x)
			if err == nil {
				return s
			}
		}
		if firstErr == nil {
			firstErr = err
		}
		return ""
	})
	return out, firstErr
}

func (r *resolver) join(arg any) (any, error) {
	a, ok := arg.([]any)
	if !ok || len(a) != 2 {
		return nil, fmt.Errorf("Fn::Join needs [delimiter, list]")
	}
	delim, ok := a[0].(string)
	if !ok {
		return nil, fmt.Errorf("Fn::Join delimiter must be a string")
	}
	x, err := r.resolve(a[1])
	if err != nil {
		return nil, err
	}
	list, ok := x.([]any)
	if !ok {
		return nil, fmt.Errorf("Fn::Join needs a list")
	}
	parts := make([]string, len(list))
	for i, e := range list {
		if parts[i], err = scalar(e); err != nil {
			return nil, err
		}
	}
	return strings.Join(parts, delim), nil
}

func (r *resolver) selectFn(arg any) (any, error) {
	a, ok := arg.([]any)
	if !ok || len(a) != 2 {
		return nil, fmt.Errorf("Fn::Select needs [index, list]")
	}
	ix, err := r.resolve(a[0])
	if err != nil {
		return nil, err
	}
	s, err := scalar(ix)
	if err != nil {
		return nil, err
	}
	i, err := strconv.Atoi(s)
	if err != nil {
		return nil, fmt.Errorf("Fn::Select index must be a number")
	}
	x, err := r.resolve(a[1])
	if err != nil {
		return nil, err
	}
	list, ok := x.([]any)
	if !ok || i < 0 || i >= len(list) {
		return nil, fmt.Errorf("Fn::Select index out of bounds")
	}
	return list[i], nil
}

func (r *resolver) split(arg any) (any, error) {
	a, ok := arg.([]any)
	if !ok || len(a) != 2 {
		return nil, fmt.Errorf("Fn::Split needs [delimiter, string]")
	}
	delim, _ := a[0].(string)
	x, err := r.resolve(a[1])
	if err != nil {
		return nil, err
	}
	s, err := scalar(x)
	if err != nil {
		return nil, err
	}
	var out []any
	for _, p := range strings.Split(s, delim) {
		out = append(out, p)
	}
	return out, nil
}

func (r *resolver) base64(arg any) (any, error) {
	x, err := r.resolve(arg)
	if err != nil {
		return nil, err
	}
	s, err := scalar(x)
	if err != nil {
		return nil, err
	}
	return b64(s), nil
}

// scalar renders a resolved scalar as a string.
func scalar(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			s, err := scalar(e)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("value is not a string")
}

// resolveProps resolves a resource's properties.
func (r *resolver) resolveProps(props map[string]any) (map[string]any, error) {
	if props == nil {
		return map[string]any{}, nil
	}
	x, err := r.resolve(props)
	if err != nil {
		return nil, err
	}
	return x.(map[string]any), nil
}

// outputs evaluates the template's outputs; one that cannot be resolved
// is left out.
func (r *resolver) outputs() map[string]string {
	if len(r.tpl.Outputs) == 0 {
		return nil
	}
	out := map[string]string{}
	for name, v := range r.tpl.Outputs {
		x, err := r.resolve(v)
		if err != nil {
			continue
		}
		if s, err := scalar(x); err == nil {
			out[name] = s
		}
	}
	return out
}
