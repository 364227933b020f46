package httpapi

import (
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The list's row types and their schemas in openapi.yaml name the same
// fields, and a schema requires exactly the fields the type always sends
// (those without omitempty): the document cannot drift from the rows.
func TestListItemDocumented(t *testing.T) {
	doc := parseOpenAPI(t)
	for name, v := range map[string]any{"ListItem": listItem{}, "ListObserved": listObserved{}, "ListOperation": listProgress{}, "ListEvent": listEvent{}} {
		schema := doc.Components["schemas"][name]
		if schema == nil {
			t.Errorf("no schema %s", name)
			continue
		}
		var documented, required []string
		for k := range schema["properties"].(map[string]any) {
			documented = append(documented, k)
		}
		for _, k := range schema["required"].([]any) {
			required = append(required, k.(string))
		}
		var fields, always []string
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			tag, opts, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			fields = append(fields, tag)
			if !strings.Contains(opts, "omitempty") {
				always = append(always, tag)
			}
		}
		for _, l := range [][]string{documented, required, fields, always} {
			sort.Strings(l)
		}
		if !slices.Equal(documented, fields) {
			t.Errorf("%s documents %v; %s has %v", name, documented, typ.Name(), fields)
		}
		if !slices.Equal(required, always) {
			t.Errorf("%s requires %v; %s always sends %v", name, required, typ.Name(), always)
		}
	}
	items := doc.Components["schemas"]["ResourceList"]["properties"].(map[string]any)["items"].(map[string]any)["items"].(map[string]any)["$ref"]
	if items != "#/components/schemas/ListItem" {
		t.Errorf("ResourceList items are %v, not ListItem", items)
	}
}
