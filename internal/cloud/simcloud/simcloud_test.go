package simcloud_test

import (
	"context"
	"path/filepath"
	"testing"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/core/porttest"
)

var (
	acct  = core.Account{ID: "111111111111", Region: "eu-west-1"}
	other = core.Account{ID: "222222222222", Region: "eu-west-1"}
)

// open returns a sandbox on a fresh file with opts (nil: ZeroOptions),
// closed at the end of the test.
func open(t *testing.T, opts *simcloud.Options) (*simcloud.Sandbox, string) {
	t.Helper()
	if opts == nil {
		opts = simcloud.ZeroOptions()
	}
	opts.NoSync = true
	path := filepath.Join(t.TempDir(), "sandbox.db")
	s, err := simcloud.New(path, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestConformance(t *testing.T) {
	porttest.RunCloudTests(t, func(t *testing.T) porttest.CloudHarness {
		s, _ := open(t, nil)
		return porttest.CloudHarness{
			Cloud: s, Account: acct, Other: other,
			Settle: s.WaitIdle,
			Hold:   s.Hold,
		}
	})
	_ = context.Background
}
