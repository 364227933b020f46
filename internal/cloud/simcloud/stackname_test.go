package simcloud_test

import (
	"errors"
	"strings"
	"testing"

	"bucketdesk/internal/core"
)

// CloudFormation's stack names: a letter, then letters, digits and
// hyphens, at most 128 characters.
func TestStackNamePattern(t *testing.T) {
	s, _ := open(t, nil)
	for _, name := range []string{"1stack", "stack_name", "stack.name", "-stack", "", strings.Repeat("s", 129)} {
		_, err := s.CreateStack(t.Context(), acct, bucketReq(name, "stack-name-b", "t-"+name))
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "at 'stackName' failed to satisfy constraint") {
			t.Errorf("stack name %q: %v", name, err)
		}
	}
	mustCreate(t, s, acct, bucketReq("a"+strings.Repeat("-", 127), "stack-name-ok", "t-ok"))
}
