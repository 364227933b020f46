package simcloud_test

import (
	"strings"
	"testing"

	"bucketdesk/internal/core"
)

// Stacks of China's and GovCloud's regions have ARNs of their own
// partition, and their notifications still parse.
func TestPartitions(t *testing.T) {
	s, _ := open(t, nil)
	rec := record(s)
	for region, want := range map[string]string{"cn-north-1": "arn:aws-cn:", "us-gov-west-1": "arn:aws-us-gov:", "eu-west-1": "arn:aws:"} {
		a := core.Account{ID: "333333333333", Region: region}
		id, err := s.CreateStack(t.Context(), a, bucketReq("stk-"+region, "part-"+region, "t-"+region))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(id, want+"cloudformation:"+region+":") {
			t.Errorf("%s: stack id %s", region, id)
		}
	}
	settle(t, s)
	evs := rec.events(t) // every notification parses
	n := 0
	for _, ev := range evs {
		if strings.Contains(ev.StackID, ":cn-north-1:") {
			n++
			if !strings.HasPrefix(ev.StackID, "arn:aws-cn:") {
				t.Errorf("event of a China stack: %s", ev.StackID)
			}
		}
	}
	if n == 0 {
		t.Fatal("no event of the China stack")
	}
}
