package main

import (
	"os"
	"os/exec"
	"path"
	"strings"
	"testing"
)

// The Lambda bootstrap links only what runs on Lambda: none of the tools
// (bench, soak, cfn-lint), none of the local DynamoDB (dynalite), no test
// double or conformance suite (packages named *test), and none of the
// local binary's stack (the sandbox, bbolt and its adapters, the local
// hub, the local wiring, the web UI).
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
		if pkg == "go.etcd.io/bbolt" {
			t.Errorf("the Lambda bootstrap links bbolt")
		}
		if !strings.HasPrefix(pkg, "bucketdesk/") {
			continue
		}
		base := path.Base(pkg)
		if strings.HasSuffix(base, "test") || strings.Contains(pkg, "dynalite") ||
			strings.HasPrefix(pkg, "bucketdesk/internal/bench") || strings.HasPrefix(pkg, "bucketdesk/internal/soak") ||
			strings.HasPrefix(pkg, "bucketdesk/deploy") || base == "cfnlint" ||
			pkg == "bucketdesk/internal/setup" || pkg == "bucketdesk/web" || strings.HasPrefix(pkg, "bucketdesk/internal/cloud/simcloud") ||
			base == "boltstore" || base == "boltqueue" || base == "localhub" {
			t.Errorf("the Lambda bootstrap links %s", pkg)
		}
	}
}
