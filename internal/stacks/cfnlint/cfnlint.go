// Package cfnlint runs cfn-lint, AWS's CloudFormation linter (with the SAM
// transform), over templates, for tests: the deploy templates and the
// stacks bucketdesk renders. cfn-lint is a Python package on the machine
// image (PyPI is not reachable, so nothing installs it): when it is
// missing a test skips loudly, or fails when BUCKETDESK_REQUIRE_STANDINS=1,
// as CI sets. It is not for production code.
package cfnlint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RequireEnv makes a missing cfn-lint a failure instead of a skip.
const RequireEnv = "BUCKETDESK_REQUIRE_STANDINS"

// Finding is one entry of `cfn-lint --format json`.
type Finding struct {
	Filename string
	Level    string // Error, Warning, Informational
	Message  string
	Location struct {
		Path  []any
		Start struct{ LineNumber, ColumnNumber int }
	}
	Rule struct {
		ID          string `json:"Id"`
		Description string
		Source      string
	}
}

// String names the finding's file, line, level, rule and path.
func (f Finding) String() string {
	path := make([]string, len(f.Location.Path))
	for i, p := range f.Location.Path {
		path[i] = fmt.Sprint(p)
	}
	return fmt.Sprintf("%s:%d: %s %s at %s: %s [%s]", f.Filename, f.Location.Start.LineNumber, f.Level, f.Rule.ID,
		strings.Join(path, "/"), f.Message, f.Rule.Source)
}

// Executable returns the cfn-lint executable, or skips t (fails it when
// RequireEnv is 1) saying what is not linted.
func Executable(t *testing.T, what string) string {
	t.Helper()
	path, err := exec.LookPath("cfn-lint")
	if err != nil {
		msg := "cfn-lint (AWS's CloudFormation linter, a Python package on the machine image; PyPI is not reachable, so nothing installs it) is not on PATH"
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%s; %s=1 requires it", msg, RequireEnv)
		}
		t.Skipf("SKIPPED: %s; %s are NOT linted (set %s=1 to make this a failure)", msg, what, RequireEnv)
	}
	return path
}

// Run runs one cfn-lint over files (relative to dir) and returns its
// findings by file, relative to dir. regions, when given, are the regions
// to lint for. A cfn-lint that fails by itself (not by its findings)
// fails t.
func Run(t *testing.T, exe, dir string, files []string, regions ...string) map[string][]Finding {
	t.Helper()
	args := []string{"--format", "json"}
	if len(regions) > 0 {
		args = append(append(args, "--regions"), regions...)
	}
	args = append(append(args, "--"), files...)
	cmd := exec.CommandContext(t.Context(), exe, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	// cfn-lint's exit code is a bit set: 2 errors, 4 warnings, 8
	// informational findings; anything else (1, 16, 32) is its own failure.
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode()&^(2|4|8) == 0 {
		err = nil
	}
	if err != nil {
		t.Fatalf("cfn-lint failed: %v\nstderr:\n%s\nstdout:\n%.4000s", err, stderr.String(), stdout.String())
	}
	var findings []Finding
	if err := json.Unmarshal(stdout.Bytes(), &findings); err != nil {
		t.Fatalf("cfn-lint printed no JSON list: %v\nstderr:\n%s\nstdout:\n%.4000s", err, stderr.String(), stdout.String())
	}
	version, _ := exec.Command(exe, "--version").Output()
	t.Logf("%s linted %d templates in %v: %d findings", strings.TrimSpace(string(version)), len(files),
		time.Since(start).Round(time.Millisecond), len(findings))
	byFile := map[string][]Finding{}
	for _, f := range findings {
		rel := f.Filename
		if r, err := filepath.Rel(dir, f.Filename); err == nil && filepath.IsAbs(f.Filename) {
			rel = r
		}
		byFile[rel] = append(byFile[rel], f)
	}
	return byFile
}
