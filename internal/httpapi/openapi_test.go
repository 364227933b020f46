package httpapi

import (
	"bytes"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// openAPIDoc is the part of the document the tests read.
type openAPIDoc struct {
	OpenAPI    string                               `yaml:"openapi"`
	Security   []map[string][]string                `yaml:"security"`
	Paths      map[string]map[string]yaml.Node      `yaml:"paths"`
	Components map[string]map[string]map[string]any `yaml:"components"`
}

func parseOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := yaml.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi: %q, want 3.1.0", doc.OpenAPI)
	}
	return doc
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

// Every route of the route table is documented, and every documented
// path and method is a route: the two cannot drift apart.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := parseOpenAPI(t)
	var documented, registered []string
	for path, item := range doc.Paths {
		for key := range item {
			if slices.Contains(httpMethods, key) {
				documented = append(documented, strings.ToUpper(key)+" "+path)
			}
		}
	}
	for _, rt := range routes() {
		registered = append(registered, rt.pattern())
	}
	sort.Strings(documented)
	sort.Strings(registered)
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(registered, d) {
			t.Errorf("openapi.yaml documents %s, which is no route", d)
		}
	}
}

// Public routes say "security: []" and the others inherit the bearer
// scheme; every path parameter of a route is declared.
func TestOpenAPISecurityAndParameters(t *testing.T) {
	doc := parseOpenAPI(t)
	if len(doc.Security) != 1 || doc.Security[0]["bearer"] == nil {
		t.Fatalf("top-level security: %v", doc.Security)
	}
	if doc.Components["securitySchemes"]["bearer"]["scheme"] != "bearer" {
		t.Fatal("no bearer security scheme")
	}
	for _, rt := range routes() {
		item := doc.Paths[rt.path]
		op, ok := item[strings.ToLower(rt.method)]
		if !ok {
			continue // reported by TestOpenAPIMatchesRoutes
		}
		var o struct {
			Security   *[]map[string][]string `yaml:"security"`
			Parameters []map[string]any       `yaml:"parameters"`
		}
		if err := op.Decode(&o); err != nil {
			t.Fatal(err)
		}
		public := o.Security != nil && len(*o.Security) == 0
		if public != rt.public {
			t.Errorf("%s: documented public=%v, route public=%v", rt.pattern(), public, rt.public)
		}
		// Path parameters are declared on the path item or the operation.
		var declared []string
		var pi struct {
			Parameters []map[string]any `yaml:"parameters"`
		}
		n := yaml.Node{Kind: yaml.MappingNode}
		if p, ok := item["parameters"]; ok {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "parameters"}, &p)
			if err := n.Decode(&pi); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range append(pi.Parameters, o.Parameters...) {
			if ref, ok := p["$ref"].(string); ok {
				name := strings.TrimPrefix(ref, "#/components/parameters/")
				p = doc.Components["parameters"][name]
			}
			if p["in"] == "path" {
				declared = append(declared, p["name"].(string))
			}
		}
		for _, seg := range strings.Split(rt.path, "/") {
			if w, ok := strings.CutPrefix(seg, "{"); ok {
				if w = strings.TrimSuffix(w, "}"); !slices.Contains(declared, w) {
					t.Errorf("%s: path parameter %s is not declared", rt.pattern(), w)
				}
			}
		}
	}
}

// Every $ref points at a component that exists, and the schemas the
// brief names are there.
func TestOpenAPIRefs(t *testing.T) {
	doc := parseOpenAPI(t)
	var root yaml.Node
	if err := yaml.Unmarshal(OpenAPI, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		for i := 0; i+1 < len(n.Content); i++ {
			if n.Kind == yaml.MappingNode && i%2 == 0 && n.Content[i].Value == "$ref" {
				ref := n.Content[i+1].Value
				parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
				if !strings.HasPrefix(ref, "#/components/") || len(parts) != 2 || doc.Components[parts[0]][parts[1]] == nil {
					t.Errorf("dangling $ref %s", ref)
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&root)
	for _, s := range []string{"Project", "ProjectList", "Resource", "ResourceList", "Operation", "OperationList",
		"StackEvent", "BucketSpec", "UserSpec", "Grant", "Problem", "Lock", "Me", "Ticket", "KeyPair"} {
		if doc.Components["schemas"][s] == nil {
			t.Errorf("no schema %s", s)
		}
	}
	// Every problem kind of the error table is in the Problem schema.
	problem := doc.Components["schemas"]["Problem"]["properties"].(map[string]any)["type"].(map[string]any)["enum"].([]any)
	for _, k := range append(kinds[:len(kinds):len(kinds)], struct {
		err    error
		status int
		kind   string
		title  string
	}{kind: "internal"}) {
		if !slices.Contains(problem, any(ProblemTypePrefix+k.kind)) {
			t.Errorf("problem kind %s is not in the Problem schema", k.kind)
		}
	}
}

// docs/openapi.yaml is a copy of the embedded document.
func TestOpenAPICopy(t *testing.T) {
	docs, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatalf("docs/openapi.yaml: %v; copy it: cp internal/httpapi/openapi.yaml docs/openapi.yaml", err)
	}
	if !bytes.Equal(docs, OpenAPI) {
		t.Fatal("docs/openapi.yaml differs from internal/httpapi/openapi.yaml, the canonical copy; " +
			"edit that one and copy it: cp internal/httpapi/openapi.yaml docs/openapi.yaml")
	}
}

// problemTypeRe finds the problem types written out in source.
var problemTypeRe = regexp.MustCompile(`urn:bucketdesk:problem:([a-z][a-z0-9-]*)`)

// Every problem type the server emits is in the Problem schema of
// docs/openapi.yaml: the kinds of the error → status table and "internal"
// (statusOf's fallback), every urn:bucketdesk:problem:<kind> written out in
// the repository's Go source, and the kinds the WebSocket endpoint passes
// to its own writeProblem (internal/wsapi).
func TestEveryProblemTypeIsDocumented(t *testing.T) {
	b, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var enum []string
	for _, v := range doc.Components["schemas"]["Problem"]["properties"].(map[string]any)["type"].(map[string]any)["enum"].([]any) {
		enum = append(enum, v.(string))
	}

	emitted := map[string]string{"internal": "statusOf"} // kind → where
	for _, k := range kinds {
		emitted[k.kind] = "the kinds table"
	}
	for _, root := range []string{"../../internal", "../../cmd"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range problemTypeRe.FindAllStringSubmatch(string(src), -1) {
				if _, ok := emitted[m[1]]; !ok {
					emitted[m[1]] = path
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	ws := wsProblemKinds(t, "../wsapi/wsapi.go")
	if len(ws) < 4 {
		t.Fatalf("found only %v in internal/wsapi/wsapi.go: has writeProblem changed shape?", ws)
	}
	for _, k := range ws {
		if _, ok := emitted[k]; !ok {
			emitted[k] = "internal/wsapi/wsapi.go"
		}
	}
	for kind, where := range emitted {
		if !slices.Contains(enum, ProblemTypePrefix+kind) {
			t.Errorf("problem type %s%s (from %s) is not in the Problem schema of docs/openapi.yaml", ProblemTypePrefix, kind, where)
		}
	}
}

// wsProblemKinds returns the kinds internal/wsapi emits: the string
// literal third argument of each writeProblem call and every string
// literal assigned to a variable named kind.
func wsProblemKinds(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	lit := func(e ast.Expr) {
		if bl, ok := e.(*ast.BasicLit); ok && bl.Kind == token.STRING {
			if s, err := strconv.Unquote(bl.Value); err == nil {
				out = append(out, s)
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "writeProblem" && len(n.Args) >= 3 {
				lit(n.Args[2])
			}
		case *ast.AssignStmt:
			for i, l := range n.Lhs {
				if id, ok := l.(*ast.Ident); ok && id.Name == "kind" && i < len(n.Rhs) {
					lit(n.Rhs[i])
				}
			}
		}
		return true
	})
	return out
}
