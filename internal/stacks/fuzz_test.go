package stacks

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"bucketdesk/internal/core"
)

// FuzzParse: Parse never panics, fails only with ErrInvalid, and what it
// accepts (and is a valid spec) renders to a template that parses back to
// the same spec.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(`{"Resources":{"User":{"Type":"AWS::IAM::User","Properties":{"UserName":"u"}}}}`)
	f.Fuzz(func(t *testing.T, tmpl string) {
		spec, err := Parse(tmpl)
		if err != nil {
			if !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("Parse error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if spec.Validate() != nil {
			return
		}
		out, _, err := Render(demoProject(), spec)
		if err != nil {
			return // e.g. a policy beyond IAM's limit
		}
		back, err := Parse(out)
		if err != nil || !Equal(back, spec) {
			t.Fatalf("Parse(Render(Parse(t))) = %s, %v; want %s", js(back), err, js(spec))
		}
	})
}
