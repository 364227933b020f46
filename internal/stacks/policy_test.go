package stacks

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

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
		// Each folder is listed as "<folder>" and "<folder>/*" (TestPrefixIsAFolder).
		{"3 buckets", 9, true, "prefixes on a few buckets"},
		{"3 buckets", core.MaxGrants, false, ""},
		{"same prefix", 9, true, "one prefix on many buckets"},
		{"same prefix", core.MaxGrants, false, ""},
		{"distinct", 5, true, "a different prefix on every bucket"},
		{"distinct", 6, false, ""},
	}
	for _, tt := range tests {
		spec := core.Spec{User: &core.UserSpec{Name: "partner-globex", Grants: grants(tt.layout, tt.n), AccessKeys: 2,
			SFTP: core.SFTP{Enabled: true, SSHKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq8cq2Y0xPVyOb0aZ0QWPH6cFbO0v9vP3Zc3q1sLk7M"}}}}
		size := len(encode(grantsPolicy("eu-west-1", Canonical(spec).User.Grants, time.Time{}), ""))
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
	Condition map[string]map[string]conditionValues
}

// conditionValues are a condition key's values: one string or a list.
type conditionValues []string

func (v *conditionValues) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*v = conditionValues{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(v))
}

// requestTime is aws:CurrentTime of the requests that allowed evaluates:
// before every end date the generator draws (from 2027 on).
var requestTime = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

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
// is the s3:prefix of a ListBucket request, nil when the request has none
// (a condition on a missing key does not match).
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
				if op == "DateLessThan" && key == "aws:CurrentTime" && len(patterns) == 1 {
					end, err := time.Parse(time.RFC3339, patterns[0])
					ok = ok && err == nil && requestTime.Before(end)
					continue
				}
				if op != "StringLike" || key != "s3:prefix" || listPrefix == nil {
					ok = false
					continue
				}
				ok = ok && slices.ContainsFunc(patterns, func(p string) bool { return iamMatch(p, *listPrefix) })
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
		raw := u.Grants
		u = Canonical(core.Spec{User: u}).User // prefixes are folders
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
		for i, gr := range u.Grants {
			buckets = append(buckets, gr.Bucket)
			folder := strings.TrimSuffix(gr.Prefix, "/")
			probes = append(probes, raw[i].Prefix, gr.Prefix, gr.Prefix+"x", gr.Prefix+"sub/key", folder+"-2024/x", folder+".csv", folder+"X/y")
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
				// The folder itself may also be listed without its slash.
				listWant := slices.ContainsFunc(u.Grants, func(gr core.Grant) bool {
					return gr.Bucket == b && (strings.HasPrefix(p, gr.Prefix) || p == strings.TrimSuffix(gr.Prefix, "/"))
				})
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

// iamMatch matches s against an IAM pattern as StringLike and resource
// ARNs do: "*" matches any sequence of characters (including "/" and none),
// "?" exactly one character, everything else itself, case-sensitively.
func iamMatch(pattern, s string) bool {
	p, r := []rune(pattern), []rune(s)
	// Classic wildcard matching with backtracking to the last "*".
	pi, ri, star, mark := 0, 0, -1, 0
	for ri < len(r) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == r[ri]):
			pi++
			ri++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ri
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ri = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func TestIAMMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"reports/*", "reports/", true}, {"reports/*", "reports/a/b", true}, {"reports/*", "reports", false},
		{"reports/*", "reports-2024/x", false}, {"reports*", "reports-2024/x", true}, {"reports", "reports", true},
		{"reports", "reports/", false}, {"a?c", "abc", true}, {"a?c", "ac", false}, {"*", "", true},
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false}, {"arn:aws:s3:::b/p/*", "arn:aws:s3:::b/p/é", true},
	}
	for _, tt := range tests {
		if got := iamMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("iamMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

// A grant prefix is a folder: "reports" and "reports/" both grant the
// folder reports/ and nothing beside it. The rendered policy is evaluated
// with IAM's StringLike and ARN wildcard semantics (iamMatch).
func TestPrefixIsAFolder(t *testing.T) {
	for _, prefix := range []string{"reports", "reports/"} {
		for _, access := range []core.Access{core.AccessRead, core.AccessWrite, core.AccessReadWrite} {
			spec := core.Spec{User: &core.UserSpec{Name: "etl", Grants: []core.Grant{
				{Bucket: "data.example", Access: access, Prefix: prefix},
				{Bucket: "other.example", Access: core.AccessRead, Prefix: "in/reports"},
			}}}
			tmpl, _, err := Render(demoProject(), spec)
			if err != nil {
				t.Fatal(err)
			}
			stmts := grantsStatements(t, tmpl)
			const arn = "arn:aws:s3:::data.example"
			objects := []struct {
				key     string
				granted bool
			}{
				{"reports/x", true}, {"reports/2024/q1.csv", true}, {"reports/", true},
				{"reports-2024/x", false}, {"reports.csv", false}, {"reportsX/y", false}, {"reports", false},
				{"Reports/x", false}, {"other/reports/x", false}, {"x", false},
			}
			for _, o := range objects {
				for _, a := range readActions {
					want := o.granted && access != core.AccessWrite
					if got := allowed(stmts, a, arn+"/"+o.key, nil); got != want {
						t.Errorf("prefix %q, %s: %s on %s = %v, want %v", prefix, access, a, o.key, got, want)
					}
				}
				for _, a := range writeActions {
					want := o.granted && access != core.AccessRead
					if got := allowed(stmts, a, arn+"/"+o.key, nil); got != want {
						t.Errorf("prefix %q, %s: %s on %s = %v, want %v", prefix, access, a, o.key, got, want)
					}
				}
			}
			lists := []struct {
				prefix  string
				granted bool
			}{
				{"reports/", true}, {"reports", true}, {"reports/2024/", true}, {"reports/a", true},
				{"reports-2024/", false}, {"reports-", false}, {"reports.csv", false}, {"reportsX/", false},
				{"report", false}, {"", false}, {"Reports/", false},
			}
			for _, l := range lists {
				if got := allowed(stmts, "s3:ListBucket", arn, &l.prefix); got != l.granted {
					t.Errorf("prefix %q: ListBucket with s3:prefix %q = %v, want %v", prefix, l.prefix, got, l.granted)
				}
			}
			if allowed(stmts, "s3:ListBucket", arn, nil) {
				t.Errorf("prefix %q: ListBucket of the whole bucket allowed", prefix)
			}
			if !allowed(stmts, "s3:GetBucketLocation", arn, nil) {
				t.Errorf("prefix %q: GetBucketLocation denied", prefix)
			}
			// The other grant's folder is in/reports/, also as a folder.
			inner := "in/reports"
			if !allowed(stmts, "s3:ListBucket", "arn:aws:s3:::other.example", &inner) ||
				allowed(stmts, "s3:GetObject", "arn:aws:s3:::other.example/in/reports-old/x", nil) {
				t.Errorf("prefix in/reports is not the folder in/reports/")
			}
			// Rendered form: the ARN and the condition name the folder.
			m := decoded(t, demoProject(), spec)
			pol := js(at(m, "Resources", "User", "Properties", "Policies"))
			for _, want := range []string{`"arn:aws:s3:::data.example/reports/*"`, `"s3:prefix":["reports","reports/*"]`} {
				if !strings.Contains(pol, want) {
					t.Errorf("prefix %q: policy lacks %s: %s", prefix, want, pol)
				}
			}
			if strings.Contains(pol, `reports*`) {
				t.Errorf("prefix %q: policy has the unbounded pattern reports*: %s", prefix, pol)
			}
			// SFTP and Parse see the same folder.
			back, err := Parse(tmpl)
			if err != nil || !Equal(back, spec) || back.User.Grants[0].Prefix != "reports/" {
				t.Errorf("prefix %q: Parse = %s, %v; want the prefix reports/", prefix, js(back), err)
			}
		}
	}
	sftp := core.Spec{User: &core.UserSpec{Name: "etl", Grants: []core.Grant{{Bucket: "data.example", Access: core.AccessRead, Prefix: "reports"}},
		SFTP: core.SFTP{Enabled: true, SSHKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q"}}}}
	m := decoded(t, demoProject(), sftp)
	if got := js(at(m, "Resources", "SftpUser", "Properties", "HomeDirectoryMappings")); got != `[{"Entry":"/data.example/reports","Target":"/data.example/reports"}]` {
		t.Errorf("HomeDirectoryMappings = %s", got)
	}
	a, _, _ := Render(demoProject(), sftp)
	sftp.User.Grants[0].Prefix = "reports/"
	if b, _, _ := Render(demoProject(), sftp); a != b {
		t.Error(`"reports" and "reports/" render differently`)
	}
}

// The golden user-full once had the name acme+partner@example.com: a valid
// IAM name that Transfer Family refuses, so its stack failed on AWS. With
// SFTP on, such names are refused before anything is rendered.
func TestSFTPUserNameRefused(t *testing.T) {
	for _, name := range []string{"acme+partner@example.com", "ab", "x=y", "-acme", ".acme", "@acme"} {
		u := *goldenSpecs["user-full"].User
		u.Name = name
		_, _, err := Render(demoProject(), core.Spec{User: &u})
		var v *core.ValidationError
		if !errors.As(err, &v) || v.Problems[0].Field != "name" || v.Problems[0].Message != core.SFTPUserNameMessage {
			t.Errorf("%q with SFTP: Render error = %v, want the name refused with %q", name, err, core.SFTPUserNameMessage)
		}
		u.SFTP = core.SFTP{}
		if _, _, err := Render(demoProject(), core.Spec{User: &u}); err != nil {
			t.Errorf("%q without SFTP: %v", name, err)
		}
	}
}

// A prefix outside IAM's policy characters is refused, not rendered.
func TestPrefixOutsidePolicyCharactersRefused(t *testing.T) {
	spec := core.Spec{User: &core.UserSpec{Name: "etl", Grants: []core.Grant{{Bucket: "data.example", Access: core.AccessRead, Prefix: "日本/"}}}}
	_, _, err := Render(demoProject(), spec)
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "grants[0].prefix") || !strings.Contains(err.Error(), "U+65E5") {
		t.Errorf("Render = %v, want grants[0].prefix refused naming U+65E5", err)
	}
}

// A user may use the key of a granted SSE-KMS bucket, named in Resource,
// only through S3 in the project's region and only for the granted
// buckets' objects; readers only decrypt. SSE-S3 buckets need nothing.
func TestGrantsPolicyKMS(t *testing.T) {
	const keyA = "arn:aws:kms:eu-west-1:123456789012:key/1111aaaa-11aa-11aa-11aa-111111111111"
	const keyB = "arn:aws:kms:eu-west-1:123456789012:key/2222bbbb-22bb-22bb-22bb-222222222222"
	grants := []core.Grant{
		{Bucket: "kms-read", Access: core.AccessRead, Prefix: "in/", KMSKeyARN: keyA},
		{Bucket: "kms-write", Access: core.AccessWrite, KMSKeyARN: keyA},
		{Bucket: "kms-other", Access: core.AccessReadWrite, KMSKeyARN: keyB},
		{Bucket: "plain", Access: core.AccessReadWrite},
	}
	doc := grantsPolicy("eu-west-1", grants, time.Time{})
	type kmsStmt struct {
		Action    []any
		Resource  string
		Condition map[string]map[string]any
	}
	// allowed evaluates the KMS statements for one request.
	allowed := func(action, key, via, context string) bool {
		for _, raw := range doc["Statement"].([]any) {
			b, _ := json.Marshal(raw)
			var s kmsStmt
			if json.Unmarshal(b, &s) != nil || s.Resource == "" {
				continue
			}
			if s.Resource != key || s.Condition["StringEquals"]["kms:ViaService"] != via {
				continue
			}
			actionOK := false
			for _, a := range s.Action {
				actionOK = actionOK || a == action
			}
			contextOK := false
			for _, c := range s.Condition["StringLike"]["kms:EncryptionContext:aws:s3:arn"].([]any) {
				contextOK = contextOK || iamMatch(c.(string), context)
			}
			if actionOK && contextOK {
				return true
			}
		}
		return false
	}
	const s3 = "s3.eu-west-1.amazonaws.com"
	for _, c := range []struct {
		action, key, via, context string
		want                      bool
	}{
		{"kms:Decrypt", keyA, s3, "arn:aws:s3:::kms-read", true},
		{"kms:Decrypt", keyA, s3, "arn:aws:s3:::kms-read/in/x.csv", true},
		{"kms:GenerateDataKey", keyA, s3, "arn:aws:s3:::kms-read", false},
		{"kms:GenerateDataKey", keyA, s3, "arn:aws:s3:::kms-write", true},
		{"kms:Decrypt", keyA, s3, "arn:aws:s3:::kms-write/a", true},
		{"kms:GenerateDataKey", keyB, s3, "arn:aws:s3:::kms-other", true},
		{"kms:Decrypt", keyB, s3, "arn:aws:s3:::kms-read", false},
		{"kms:Decrypt", keyA, s3, "arn:aws:s3:::kms-other", false},
		{"kms:Decrypt", keyA, s3, "arn:aws:s3:::kms-read-2024", false},
		{"kms:Decrypt", keyA, "s3.us-east-1.amazonaws.com", "arn:aws:s3:::kms-read", false},
		{"kms:Decrypt", keyA, "ssm.eu-west-1.amazonaws.com", "arn:aws:s3:::kms-read", false},
		{"kms:Encrypt", keyA, s3, "arn:aws:s3:::kms-write", false},
	} {
		if got := allowed(c.action, c.key, c.via, c.context); got != c.want {
			t.Errorf("%s on %s via %s for %s: allowed %v, want %v", c.action, c.key[len(c.key)-12:], c.via, c.context, got, c.want)
		}
	}
	// Never a KMS statement on "*", and none without a KMS bucket.
	for _, raw := range doc["Statement"].([]any) {
		if st := raw.(obj); fmt.Sprint(st["Resource"]) == "*" {
			t.Errorf("statement on *: %v", st)
		}
	}
	plain := grantsPolicy("eu-west-1", grants[3:], time.Time{})
	if b, _ := json.Marshal(plain); strings.Contains(string(b), "kms:") {
		t.Errorf("a user of SSE-S3 buckets only has KMS statements: %s", b)
	}
	// The keys come back when the template is parsed.
	spec := core.Spec{User: &core.UserSpec{Name: "kms-user", Grants: grants}}
	tpl, _, err := Render(demoProject(), spec)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(tpl)
	if err != nil || !Equal(back, Canonical(spec)) {
		t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, back.User, Canonical(spec).User)
	}
}
