package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"bucketdesk/internal/core"
)

// IAM's 2,048 characters cannot hold ten grants on ten different buckets
// with ten different prefixes: each such grant needs its own conditioned
// ListBucket statement (a condition applies to every resource of its
// statement), about 300 characters per grant with realistic names. The
// figures below, for ~29-character bucket names and ~17-character
// prefixes, are what fits; beyond them Render fails with ErrInvalid
// rather than let CloudFormation fail the stack.
func TestGrantsPolicySize(t *testing.T) {
	teams := []string{"analytics", "finance", "marketing", "logistics", "research", "support", "platform", "security", "sales", "legal"}
	access := []core.Access{core.AccessRead, core.AccessWrite, core.AccessReadWrite}
	grants := func(layout string, n int) []core.Grant {
		var gs []core.Grant
		for i := range n {
			g := core.Grant{Bucket: fmt.Sprintf("acme-%s-prod-eu-west-1", teams[i]), Access: access[i%3]}
			switch layout {
			case "same prefix":
				g.Prefix = "partners/globex/"
			case "3 buckets":
				g.Bucket = fmt.Sprintf("acme-%s-prod-eu-west-1", teams[i%3])
				g.Prefix = fmt.Sprintf("exports/%s/", teams[i])
			case "distinct":
				g.Prefix = fmt.Sprintf("exports/%s/", teams[(i+3)%10])
			}
			gs = append(gs, g)
		}
		return gs
	}
	tests := []struct {
		layout  string
		n       int
		fits    bool
		comment string
	}{
		{"no prefix", core.MaxGrants, true, "whole buckets"},
		{"3 buckets", core.MaxGrants, true, "prefixes on a few buckets"},
		{"same prefix", 9, true, "one prefix on many buckets"},
		{"same prefix", core.MaxGrants, false, ""},
		{"distinct", 5, true, "a different prefix on every bucket"},
		{"distinct", 6, false, ""},
	}
	for _, tt := range tests {
		spec := core.Spec{User: &core.UserSpec{Name: "partner-globex", Grants: grants(tt.layout, tt.n), AccessKeys: 2,
			SFTP: core.SFTP{Enabled: true, SSHKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq8cq2Y0xPVyOb0aZ0QWPH6cFbO0v9vP3Zc3q1sLk7M"}}}}
		size := len(encode(grantsPolicy("aws", Canonical(spec).User.Grants), ""))
		t.Logf("%-12s %2d grants: %4d characters", tt.layout, tt.n, size)
		_, _, err := Render(demoProject(), spec)
		switch {
		case tt.fits && err != nil:
			t.Errorf("%s, %d grants (%d characters): %v", tt.layout, tt.n, size, err)
		case !tt.fits && (!errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "2048")):
			t.Errorf("%s, %d grants (%d characters): err = %v, want ErrInvalid naming the limit", tt.layout, tt.n, size, err)
		}
	}
}

// policyStatement is a grants policy statement as IAM reads it.
type policyStatement struct {
	Effect    string
	Action    []string
	Resource  []string
	Condition map[string]map[string][]string
}

func grantsStatements(t *testing.T, tmpl string) []policyStatement {
	t.Helper()
	var m struct {
		Resources struct {
			User struct {
				Properties struct {
					Policies []struct {
						PolicyDocument struct{ Statement []policyStatement }
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(tmpl), &m); err != nil {
		t.Fatal(err)
	}
	var out []policyStatement
	for _, p := range m.Resources.User.Properties.Policies {
		out = append(out, p.PolicyDocument.Statement...)
	}
	return out
}

// allowed evaluates the statements as IAM would for one request. listPrefix
// is the s3:prefix of a ListBucket request, nil when the request has none.
func allowed(stmts []policyStatement, action, resource string, listPrefix *string) bool {
	for _, s := range stmts {
		if s.Effect != "Allow" || !slices.Contains(s.Action, action) {
			continue
		}
		if !slices.ContainsFunc(s.Resource, func(r string) bool { return iamMatch(r, resource) }) {
			continue
		}
		ok := true
		for op, keys := range s.Condition {
			for key, patterns := range keys {
				if op != "StringLike" || key != "s3:prefix" || listPrefix == nil {
					ok = false
					continue
				}
				ok = ok && slices.ContainsFunc(patterns, func(p string) bool { return strings.HasPrefix(*listPrefix, strings.TrimSuffix(p, "*")) })
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// Grouping statements must never widen a grant: probe every bucket with
// every prefix of every grant and compare with what the grants allow.
func TestGrantsPolicyLeastPrivilege(t *testing.T) {
	g := newGen(11)
	checked := 0
	for range 400 {
		u := g.userSpec()
		if len(u.Grants) == 0 {
			continue
		}
		tmpl, _, err := Render(demoProject(), core.Spec{User: u})
		if err != nil {
			t.Fatal(err)
		}
		stmts := grantsStatements(t, tmpl)
		for _, s := range stmts {
			for _, a := range s.Action {
				if strings.Contains(a, "*") {
					t.Fatalf("policy grants wildcard action %q", a)
				}
			}
			for _, r := range s.Resource {
				if r == "*" || strings.HasPrefix(r, "arn:aws:s3:::*") || !strings.HasPrefix(r, "arn:aws:s3:::") {
					t.Fatalf("policy grants resource %q", r)
				}
			}
		}
		buckets := []string{"not-granted"}
		probes := []string{"", "x", "zzz/"}
		for _, gr := range u.Grants {
			buckets = append(buckets, gr.Bucket)
			probes = append(probes, gr.Prefix, gr.Prefix+"x", gr.Prefix+"sub/key")
			if len(gr.Prefix) > 1 {
				probes = append(probes, gr.Prefix[:len(gr.Prefix)-1])
			}
		}
		for _, b := range buckets {
			arn := "arn:aws:s3:::" + b
			var anyGrant bool
			for _, gr := range u.Grants {
				anyGrant = anyGrant || gr.Bucket == b
			}
			if got := allowed(stmts, "s3:GetBucketLocation", arn, nil); got != anyGrant {
				t.Fatalf("%s: GetBucketLocation on %s = %v, want %v", js(u.Grants), b, got, anyGrant)
			}
			want := slices.ContainsFunc(u.Grants, func(gr core.Grant) bool { return gr.Bucket == b && gr.Prefix == "" })
			if got := allowed(stmts, "s3:ListBucket", arn, nil); got != want {
				t.Fatalf("%s: ListBucket on %s without prefix = %v, want %v", js(u.Grants), b, got, want)
			}
			for _, p := range probes {
				covers := func(read bool) func(core.Grant) bool {
					return func(gr core.Grant) bool {
						ok := gr.Bucket == b && strings.HasPrefix(p, gr.Prefix)
						if read {
							return ok && gr.Access != core.AccessWrite
						}
						return ok && gr.Access != core.AccessRead
					}
				}
				listWant := slices.ContainsFunc(u.Grants, func(gr core.Grant) bool { return gr.Bucket == b && strings.HasPrefix(p, gr.Prefix) })
				if got := allowed(stmts, "s3:ListBucket", arn, &p); got != listWant {
					t.Fatalf("%s: ListBucket on %s prefix %q = %v, want %v", js(u.Grants), b, p, got, listWant)
				}
				if p == "" {
					continue // no object has an empty key
				}
				obj := arn + "/" + p
				for _, a := range readActions {
					if got, want := allowed(stmts, a, obj, nil), slices.ContainsFunc(u.Grants, covers(true)); got != want {
						t.Fatalf("%s: %s on %s = %v, want %v", js(u.Grants), a, obj, got, want)
					}
				}
				for _, a := range writeActions {
					if got, want := allowed(stmts, a, obj, nil), slices.ContainsFunc(u.Grants, covers(false)); got != want {
						t.Fatalf("%s: %s on %s = %v, want %v", js(u.Grants), a, obj, got, want)
					}
				}
			}
		}
		checked++
	}
	if checked < 100 {
		t.Fatalf("only %d users with grants checked", checked)
	}
}

// iamMatch matches an IAM resource pattern whose only wildcard is a final
// "*" (grants forbid * and ? in prefixes); IAM's * also matches "/".
func iamMatch(pattern, s string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(s, p)
	}
	return pattern == s
}
