package main

import (
	"os"
	"os/exec"
	"path"
	"strings"
	"testing"
)

// The binary is also the Lambda package: it links none of the tools
// (bench, soak, cfn-lint), none of the local DynamoDB (dynalite) and no
// test double or conformance suite (packages named *test).
func TestLinksOnlyTheProduct(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	cmd := exec.Command(gobin, "list", "-deps", "-tags", "lambda.norpc", ".")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if !strings.HasPrefix(pkg, "bucketdesk/") {
			continue
		}
		base := path.Base(pkg)
		if strings.HasSuffix(base, "test") || strings.Contains(pkg, "dynalite") ||
			strings.HasPrefix(pkg, "bucketdesk/internal/bench") || strings.HasPrefix(pkg, "bucketdesk/internal/soak") ||
			strings.HasPrefix(pkg, "bucketdesk/deploy") || base == "cfnlint" {
			t.Errorf("the bucketdesk binary links %s", pkg)
		}
	}
}
