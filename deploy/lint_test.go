package deploy_test

// cfn-lint, AWS's CloudFormation linter (with the SAM transform), over every
// template of this directory, in one process. Errors and warnings fail the
// test; informational findings are logged. cfn-lint is a Python package on
// the machine image (PyPI is not reachable, so nothing installs it): when
// it is missing the test skips loudly, or fails when
// BUCKETDESK_REQUIRE_STANDINS=1, as CI sets (.ci/run).

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

const requireStandIns = "BUCKETDESK_REQUIRE_STANDINS"

type cfnLintFinding struct {
	Filename string
	Level    string // Error, Warning, Informational
	Message  string
	Location struct {
		Path  []any
		Start struct{ LineNumber, ColumnNumber int }
	}
	Rule struct {
		ID     string `json:"Id"`
		Source string
	}
}

func (f cfnLintFinding) String() string {
	path := make([]string, len(f.Location.Path))
	for i, p := range f.Location.Path {
		path[i] = fmt.Sprint(p)
	}
	return fmt.Sprintf("%s:%d: %s %s at %s: %s [%s]", f.Filename, f.Location.Start.LineNumber, f.Level, f.Rule.ID,
		strings.Join(path, "/"), f.Message, f.Rule.Source)
}

func TestTemplatesPassCfnLint(t *testing.T) {
	exe, err := exec.LookPath("cfn-lint")
	if err != nil {
		msg := "cfn-lint (AWS's CloudFormation linter, a Python package on the machine image; PyPI is not reachable, so nothing installs it) is not on PATH"
		if os.Getenv(requireStandIns) == "1" {
			t.Fatalf("%s; %s=1 requires it", msg, requireStandIns)
		}
		t.Skipf("SKIPPED: %s; deploy/*.yaml are NOT linted (set %s=1 to make this a failure)", msg, requireStandIns)
	}
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates in deploy/: %v", err)
	}
	cmd := exec.CommandContext(t.Context(), exe, append([]string{"--format", "json", "--"}, files...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	// cfn-lint's exit code is a bit set: 2 errors, 4 warnings, 8
	// informational findings; anything else is its own failure.
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode()&^(2|4|8) == 0 {
		err = nil
	}
	if err != nil {
		t.Fatalf("cfn-lint failed: %v\nstderr:\n%s\nstdout:\n%.4000s", err, stderr.String(), stdout.String())
	}
	var findings []cfnLintFinding
	if err := json.Unmarshal(stdout.Bytes(), &findings); err != nil {
		t.Fatalf("cfn-lint printed no JSON list: %v\nstderr:\n%s\nstdout:\n%.4000s", err, stderr.String(), stdout.String())
	}
	version, _ := exec.Command(exe, "--version").Output()
	t.Logf("%s linted %v in %v: %d findings", strings.TrimSpace(string(version)), files,
		time.Since(start).Round(time.Millisecond), len(findings))
	for _, f := range findings {
		if f.Level == "Informational" {
			t.Logf("cfn-lint: %v", f)
			continue
		}
		t.Errorf("cfn-lint: %v", f)
	}
}
