package deploy_test

// cfn-lint, AWS's CloudFormation linter (with the SAM transform), over every
// template of this directory, in one process. Errors and warnings fail the
// test; informational findings are logged. cfn-lint is a Python package on
// the machine image (PyPI is not reachable, so nothing installs it): when
// it is missing the test skips loudly, or fails when
// BUCKETDESK_REQUIRE_STANDINS=1, as CI sets (.ci/run).

import (
	"path/filepath"
	"testing"

	"bucketdesk/internal/stacks/cfnlint"
)

func TestTemplatesPassCfnLint(t *testing.T) {
	exe := cfnlint.Executable(t, "deploy/*.yaml")
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates in deploy/: %v", err)
	}
	var findings []cfnlint.Finding
	for _, fs := range cfnlint.Run(t, exe, ".", files) {
		findings = append(findings, fs...)
	}
	for _, f := range findings {
		if f.Level == "Informational" {
			t.Logf("cfn-lint: %v", f)
			continue
		}
		t.Errorf("cfn-lint: %v", f)
	}
}
