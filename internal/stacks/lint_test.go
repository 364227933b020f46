package stacks_test

// AWS's own linter over what bucketdesk renders, and the values AWS checks
// that a linter cannot see.
//
// TestRenderedStacksPassCfnLint renders a matrix of bucket and user specs
// (every option combination; see lintMatrix), writes the templates to a temp
// dir and runs cfn-lint once over all of them. Errors and warnings fail the
// template's subtest; informational findings are logged.
//
// cfn-lint is a Python package that is on the machine image (PyPI is not
// reachable from here, so nothing installs it). When it is missing the test
// skips loudly, or fails when BUCKETDESK_REQUIRE_STANDINS=1, as CI sets.
//
// TestRenderedNamesMeetAWSRules checks, over the same matrix, the names
// AWS validates after CloudFormation resolved them: the Transfer user's name
// is {"Ref": "User"}, which cfn-lint cannot follow.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
	"bucketdesk/internal/stacks/cfnlint"
)

// lintProject is the project of the matrix: with its server access log
// bucket, as deploy/project-account.yaml names it, or without one
// (noLogs), which renders no logging.
func lintProject(noLogs bool) *core.Project {
	p := &core.Project{
		ID: "demo", Name: "Demo", AccountID: "123456789012", Region: "eu-west-1",
		TransferServerID: "s-0123456789abcdef0", Members: []string{"alice"},
		LogBucket: "bucketdesk-logs-123456789012-eu-west-1",
	}
	if noLogs {
		p.LogBucket = ""
	}
	return p
}

// Real OpenSSH public keys (made with ssh-keygen for this test; the
// private halves were thrown away), one of each type Transfer accepts.
var lintSSHKeys = []string{
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHBopnH+4p/KIwD2XmiWCH3tNHHY77TpQwmwKBpVgE8A alice@laptop",
	"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAACAQCpb/pBfNkzeOgI77V13Z3n7Z2JfVHBSfDUnI+k4pDOYPOGgliEN5n3D+rHbLt0W0f8fYvWL63JWCq6JoY/bJMyxn8dF0Gnd7W2aXhIeqzJsKg1puGV4WEwxCoOZEidne7NLivoRjfmFQcV84RcM5gFwmEh1M1eltqpq4klqXKp6ui3V8+CxyVzEaCvpoCrOx4xzfaM7e1ksHLmBkYQwFoRgpxc+J4m6ZxMrnnXh9xEtVBAzhVfzSimRvJsXtOJDwiku4UJJYPEiVRc9bTWgbs2IUjtym14TCowxtWWMXeKYFR4HG4QPc3wdfHl6Of4iX8wjJPh05+kWZNm5760/zD/gToZeRJfNvedEUt+mrD5AMvaaj6jHUJPIjqruxLcCrQHA4eDjShPG1czj9GH2GiFoYJizcPAhYA1eOOhMDwz6lOiDE+KhpzSJsShkfA2GBMXMAA5FAxUPamGH2NAIpXwl1xrG55cLC5a2yzMc/fpjXAWg2fIPUzPfmNIK4OE5A3K8psXgQexX+4kWH8G6BkpDSLeGmuqvxFej32j6o5/oWvtyscY0EyeQQf/Ae02rIxP9QAk4qKd0hjD1+3jZpS/Xr9GR8r37RtGDQhsaw6WgbCAFAw5O1AWg0sToXIPh0tRu7Lo3fYUwAFoAbIeksnEDqAFjIWkTy1fi0/gwmzd5w== ci@acme",
	"ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNGAcvUZQpcFnWiYO+CO4hQU7ysDXqRpZ9WJZm/OkQEdMOdFmA/yfp2U7y3MqMj6x3zEYmnA6rlMnlb2ssA5TXM=",
	"ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBJaieLM188ZCwPVbUWVaOM00jJwooqL82jDXJ7YleEU4x2wdEfQPWObVGpPRo4Mp6AM/S9TmdQ0bUKESgjjLAJJl7EF0KqqdgcItaAQQiNkK/Q0w7wgGa4jAuhIFt1QYxw== bob",
	"ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBACCs3TGTCSl1Gvkhwq3ihUcVO6r3Po1bA8zhW450t+1Ic//NQhY0C7pSgfUPNDXJKkmNFnFZ5C7fx+WmHEWwq6NIwG0NAiVV9dGRMXww7dl4TkKJPGPv7zUA3dybZY5wv9OuiQ3wSsDHqcUc7YyUeTylrTwmNm9wDTbB3fNBcuzQELRBQ== carol@host with spaces",
}

// lintCase is one spec of the matrix, rendered in the project with a log
// bucket unless noLogs.
type lintCase struct {
	name   string
	spec   core.Spec
	noLogs bool
}

// The dimensions of the matrix.
var (
	// Bucket names for the option combinations: the shortest, dots, the
	// longest, digits only, near-misses of the reserved forms.
	lintBucketNames = []string{
		"abc",
		"demo.archive.eu",
		"b" + strings.Repeat("0123456789", 6) + "yz", // 63, S3's maximum
		"123",
		"xn-demo-s3alia",
	}
	// Edge bucket names, each with one set of options: those core rejects
	// stay out of the matrix (logged); those it accepts must be names S3
	// accepts too.
	lintEdgeBucketNames = []string{
		"ab", strings.Repeat("a", 64), "Abc", "a_b", "a..b", "-ab", "ab-", ".ab", "ab.", "a.-b", "a-.b",
		"192.168.5.4", "999.999.999.999", "01.02.03.04", "1.2.3", "1.2.3.4.5", "1.2.3.x",
		"xn--abc", "xn-abc", "sthree-abc", "sthree", "amzn-s3-demo-x", "abc-s3alias", "abc-s3alias-x", "abc--ol-s3", "abc.mrap",
		"abc--x-s3", "abc--table-s3",
	}
	lintEncryptions = []core.Encryption{
		{Type: core.EncryptionS3},
		{Type: core.EncryptionKMS, KMSKeyARN: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{Type: core.EncryptionKMS, KMSKeyARN: "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"},
	}
	lintExpiries = []int{0, 1, core.MaxExpiryDays}

	// User names: IAM's shortest, Transfer's shortest, every character IAM
	// allows (but the comma, which bucketdesk rejects), IAM's maximum length.
	lintUserNames = []string{
		"a",
		"abc",
		"reader",
		"acme+partner@example.com",
		"first.last=ops_team-1",
		"_svc",
		"-dash.lead",
		strings.Repeat("u", 64),
		"U" + strings.Repeat("x.y@z_w-v+=", 5) + "12345678", // 64
	}
	lintAccesses = []core.Access{core.AccessRead, core.AccessWrite, core.AccessReadWrite}
	// Prefixes: none, a folder, a deep folder, no trailing slash, the
	// characters a policy must carry as they are, non-Latin-1 text (which
	// IAM policies cannot hold), a dot segment that is not "..", and the
	// longest prefix bucketdesk allows.
	lintPrefixes = []string{
		"",
		"a/",
		"deep/er/path/",
		"reports",
		"a b&c<d>é'%+=,;:@!#()[]~/",
		"日本語/データ/",
		"./x.y/",
		strings.Repeat("p", core.MaxPrefixBytes-1) + "/",
	}
)

func lintTags(n int) map[string]string {
	if n == 0 {
		return nil
	}
	m := map[string]string{}
	for i := range n {
		// At the length limits, 128-byte keys and 256-byte values (core
		// counts bytes, AWS characters), with every character class the tag
		// rules allow.
		k := fmt.Sprintf("%03d Cost_Center.:/=+-@ é", i)
		k += strings.Repeat("k", 128-len(k))
		v := fmt.Sprintf("v %d _.:/=+-@ ü", i)
		v += strings.Repeat("v", 256-len(v))
		m[k] = v
	}
	return m
}

// lintMatrix returns the specs to lint: every combination of the bucket
// options (versioning off/on/suspended × encryption × expiry × tags), the
// names cycling through lintBucketNames, each edge bucket name once,
// and for users every combination of access keys × grants (none, or one
// grant of each access level with each prefix, or a set of several) × SFTP
// on/off (on needs a grant and takes 1 or 5 SSH keys), with the names
// cycling through lintUserNames; plus every name × key count × SFTP on/off,
// since names are what Transfer, IAM and the secrets' names are strictest
// about. Specs core rejects are not in it (Render refuses them).
func lintMatrix() []lintCase {
	var cases []lintCase
	b := 0
	// Versioning: never (no VersioningConfiguration), on, suspended.
	for _, ver := range []string{"off", "on", "suspended"} {
		for ei, enc := range lintEncryptions {
			for _, exp := range lintExpiries {
				for _, nTags := range []int{0, 1, core.MaxTags} {
					name := lintBucketNames[b%len(lintBucketNames)]
					b++
					cases = append(cases, lintCase{
						name: fmt.Sprintf("bucket/%s/versioning=%s/enc=%d/expiry=%d/tags=%d", name, ver, ei, exp, nTags),
						spec: core.Spec{Bucket: &core.BucketSpec{Name: name, Versioning: ver == "on", VersioningSuspended: ver == "suspended",
							Encryption: enc, ExpiryDays: exp, Tags: lintTags(nTags)}},
					})
				}
			}
		}
	}
	for _, name := range lintEdgeBucketNames {
		cases = append(cases, lintCase{
			name: "bucket/" + name + "/edge-name",
			spec: core.Spec{Bucket: &core.BucketSpec{Name: name, Versioning: true, Encryption: lintEncryptions[1], ExpiryDays: 30}},
		})
	}
	// Every bucket again in a project without a log bucket: no
	// LoggingConfiguration.
	for _, c := range slices.Clone(cases) {
		c.name += "/no-log-bucket"
		c.noLogs = true
		cases = append(cases, c)
	}

	type grantSet struct {
		name   string
		grants []core.Grant
	}
	sets := []grantSet{{"none", nil}}
	for _, a := range lintAccesses {
		for pi, p := range lintPrefixes {
			sets = append(sets, grantSet{fmt.Sprintf("%s-prefix%d", a, pi), []core.Grant{{Bucket: "demo-data", Access: a, Prefix: p}}})
		}
	}
	sets = append(sets,
		grantSet{"mixed", []core.Grant{
			{Bucket: "demo-share", Access: core.AccessReadWrite},
			{Bucket: "demo-raw", Access: core.AccessRead, Prefix: "in/acme/"},
			{Bucket: "demo-out", Access: core.AccessWrite, Prefix: "acme/"},
			{Bucket: "demo-raw", Access: core.AccessReadWrite, Prefix: "tmp/acme/"},
			{Bucket: "demo-share", Access: core.AccessRead, Prefix: "public/"},
		}},
		grantSet{"kms", []core.Grant{
			{Bucket: "demo-kms", Access: core.AccessRead, Prefix: "in/", KMSKeyARN: lintEncryptions[1].KMSKeyARN},
			{Bucket: "demo-kms2", Access: core.AccessReadWrite, KMSKeyARN: lintEncryptions[2].KMSKeyARN},
			{Bucket: "demo-plain", Access: core.AccessWrite},
		}},
		grantSet{"max-grants", func() []core.Grant {
			var g []core.Grant
			for i := range core.MaxGrants {
				g = append(g, core.Grant{Bucket: fmt.Sprintf("demo.b%d", i%4), Access: lintAccesses[i%3], Prefix: fmt.Sprintf("team/%d/", i)})
			}
			return g
		}()},
	)
	type sftpOpt struct {
		name string
		sftp core.SFTP
	}
	sftps := []sftpOpt{
		{"off", core.SFTP{}},
		{"on-1key", core.SFTP{Enabled: true, SSHKeys: lintSSHKeys[:1]}},
		{"on-5keys", core.SFTP{Enabled: true, SSHKeys: append([]string{"  " + lintSSHKeys[0] + " \n"}, lintSSHKeys[1:]...)}},
	}
	user := func(name string, keys int, grants []core.Grant, sftp core.SFTP) *core.UserSpec {
		u := &core.UserSpec{Name: name, Grants: grants, AccessKeys: keys, SFTP: sftp}
		if keys == 2 {
			u.KeySerials = []int{3, 2} // rotated keys
		}
		return u
	}
	i := 0
	for keys := range core.MaxAccessKeys + 1 {
		for _, gs := range sets {
			for _, s := range sftps {
				if s.sftp.Enabled && len(gs.grants) == 0 {
					continue // core: SFTP needs a grant
				}
				// The names cycle; with SFTP on only through those Transfer
				// accepts (the names product below has every name with SFTP).
				names := lintUserNames
				if s.sftp.Enabled {
					names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !transferUserNameRe.MatchString(n) })
				}
				name := names[i%len(names)]
				i++
				cases = append(cases, lintCase{
					name: fmt.Sprintf("user/%s/keys=%d/grants=%s/sftp=%s", name, keys, gs.name, s.name),
					spec: core.Spec{User: user(name, keys, gs.grants, s.sftp)},
				})
			}
		}
	}
	for _, name := range lintUserNames {
		for keys := range core.MaxAccessKeys + 1 {
			for _, s := range sftps[:2] {
				cases = append(cases, lintCase{
					name: fmt.Sprintf("user/%s/keys=%d/grants=readwrite-a/sftp=%s", name, keys, s.name),
					spec: core.Spec{User: user(name, keys, []core.Grant{{Bucket: "demo-data", Access: core.AccessReadWrite, Prefix: "a/"}}, s.sftp)},
				})
			}
		}
	}
	// Access that ends: the end date on every statement, and once
	// expired the keys Inactive and no Transfer user.
	until := time.Date(2027, 3, 31, 17, 30, 0, 0, time.UTC)
	for _, gs := range sets {
		if gs.name == "max-grants" {
			continue // ten grants leave no room for the end date in IAM's 2,048 characters
		}
		for _, expired := range []bool{false, true} {
			for _, s := range sftps[:2] {
				if s.sftp.Enabled && len(gs.grants) == 0 {
					continue
				}
				u := user("partner-until", 2, gs.grants, s.sftp)
				u.AccessUntil, u.Expired = until, expired
				cases = append(cases, lintCase{
					name: fmt.Sprintf("user/partner-until/keys=2/grants=%s/sftp=%s/until/expired=%t", gs.name, s.name, expired),
					spec: core.Spec{User: u},
				})
			}
		}
	}
	return cases
}

// rendered is a case of the matrix with its template.
type rendered struct {
	lintCase
	template string
}

// renderMatrix renders the matrix. Specs that core accepts but Render
// refuses (a grants policy over IAM's size limit) are logged, not linted;
// specs core rejects are dropped with a log line (the matrix should hold
// none: a spec of the other engineers' stricter core rules).
func renderMatrix(t *testing.T) []rendered {
	t.Helper()
	var out []rendered
	refused, invalid := 0, 0
	for _, c := range lintMatrix() {
		if err := c.spec.Validate(); err != nil {
			invalid++
			t.Logf("not in the matrix, core rejects it: %s: %v", c.name, err)
			continue
		}
		tpl, _, err := stacks.Render(lintProject(c.noLogs), c.spec)
		if err != nil {
			refused++
			t.Logf("not in the matrix, Render refuses it: %s: %v", c.name, err)
			continue
		}
		out = append(out, rendered{c, tpl})
	}
	if len(out) == 0 {
		t.Fatal("the matrix rendered no template")
	}
	t.Logf("matrix: %d specs rendered (%d buckets, %d users); %d refused by Render, %d rejected by core",
		len(out), countKind(out, core.KindBucket), countKind(out, core.KindUser), refused, invalid)
	return out
}

func countKind(rs []rendered, k core.Kind) int {
	n := 0
	for _, r := range rs {
		if r.spec.Kind() == k {
			n++
		}
	}
	return n
}

const (
	lintCanary         = "canary.json"
	lintCanaryTemplate = `{"Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "Not..Valid"}}}}`
)

func TestRenderedStacksPassCfnLint(t *testing.T) {
	exe := cfnlint.Executable(t, "the rendered stacks")
	cases := renderMatrix(t)
	dir := t.TempDir()
	// Identical templates are linted once.
	fileOf := map[string]string{}
	var files []string
	for _, c := range cases {
		if _, ok := fileOf[c.template]; ok {
			continue
		}
		f := fmt.Sprintf("t%04d.json", len(files))
		if err := os.WriteFile(filepath.Join(dir, f), []byte(c.template), 0o644); err != nil {
			t.Fatal(err)
		}
		fileOf[c.template] = f
		files = append(files, f)
	}
	t.Logf("%d distinct templates", len(files))
	// A canary proves that cfn-lint read the files and reports by file name.
	if err := os.WriteFile(filepath.Join(dir, lintCanary), []byte(lintCanaryTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	byFile := cfnlint.Run(t, exe, dir, append(files, lintCanary), lintProject(false).Region)
	if !slices.ContainsFunc(byFile[lintCanary], func(f cfnlint.Finding) bool { return f.Level == "Error" }) {
		t.Fatalf("cfn-lint reported no error in the canary %s, an invalid bucket name: it checks nothing; findings: %v", lintCanary, byFile)
	}
	delete(byFile, lintCanary)
	n := 0
	for _, fs := range byFile {
		n += len(fs)
	}
	t.Logf("%d findings in the rendered templates (the canary's left out)", n)
	for f, fs := range byFile {
		if _, ok := fileOf[f]; !ok && !slices.Contains(files, f) {
			t.Errorf("cfn-lint reported on %s, a file it was not given: %v", f, fs)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, f := range byFile[fileOf[c.template]] {
				if f.Level == "Informational" {
					t.Logf("cfn-lint: %v", f)
					continue
				}
				t.Error(fmt.Sprintf("cfn-lint: %v\nspec: %s", f, specJSON(c.spec)))
			}
		})
	}
}

// specJSON is the spec for a failure message, cut at 600 bytes.
func specJSON(s core.Spec) string {
	b, _ := json.Marshal(s)
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// The patterns AWS validates the resolved values against.
var (
	// AWS Transfer Family, CreateUser, UserName:
	// https://docs.aws.amazon.com/transfer/latest/APIReference/API_CreateUser.html
	// ("Length Constraints: Minimum length of 3. Maximum length of 100.
	// Pattern: ^[\w][\w@.-]{2,99}$"). \w is ASCII there as in Go.
	transferUserNameRe = regexp.MustCompile(`^[\w][\w@.-]{2,99}$`)
	// IAM, CreateUser, UserName and Path:
	// https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateUser.html
	// (UserName: length 1 to 64, pattern [\w+=,.@-]+; Path: length 1 to
	// 512, pattern (\u002F)|(\u002F[\u0021-\u007E]+\u002F)).
	iamUserNameRe = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	iamPathRe     = regexp.MustCompile(`^(/|/[\x21-\x7E]+/)$`)
	// S3 general purpose bucket naming rules:
	// https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
	// "Must not be formatted as an IP address (for example, 192.168.5.4)" is
	// checked as AWS's SDKs check it, (\d+\.){3}\d+ (aws/aws-sdk-java-v2,
	// services/s3/src/main/java/software/amazon/awssdk/services/s3/internal/BucketUtils.java),
	// which also matches 999.999.999.999 and 01.02.03.04.
	s3BucketCharsRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	s3IPLikeRe      = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$`)
)

// iamPolicyCharOK reports whether IAM accepts r in a policy document: IAM,
// PutUserPolicy and PutRolePolicy, PolicyDocument,
// https://docs.aws.amazon.com/IAM/latest/APIReference/API_PutUserPolicy.html
// (pattern [\u0009\u000A\u000D\u0020-\u00FF]+).
func iamPolicyCharOK(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xff
}

// policyCharProblems lists the strings of a policy document holding
// characters IAM refuses.
func policyCharProblems(v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		if i := strings.IndexFunc(x, func(r rune) bool { return !iamPolicyCharOK(r) }); i >= 0 {
			r := []rune(x[i:])[0]
			out = append(out, fmt.Sprintf("%q holds %q (U+%04X), outside U+0020 to U+00FF", x, string(r), r))
		}
	case []any:
		for _, e := range x {
			out = append(out, policyCharProblems(e)...)
		}
	case map[string]any:
		for k, e := range x {
			out = append(out, policyCharProblems(k)...)
			out = append(out, policyCharProblems(e)...)
		}
	}
	slices.Sort(out)
	return out
}

// s3BucketNameProblems checks name against S3's published rules,
// independently of core.BucketNameProblems.
func s3BucketNameProblems(name string) []string {
	var p []string
	if !s3BucketCharsRe.MatchString(name) {
		p = append(p, "must be 3 to 63 lowercase letters, digits, dots and hyphens, beginning and ending with a letter or digit")
	}
	if strings.Contains(name, "..") {
		p = append(p, "must not contain two adjacent periods")
	}
	if s3IPLikeRe.MatchString(name) {
		p = append(p, "must not be formatted as an IP address")
	}
	for _, pre := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(name, pre) {
			p = append(p, "must not start with the prefix "+pre)
		}
	}
	for _, suf := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(name, suf) {
			p = append(p, "must not end with the suffix "+suf)
		}
	}
	return p
}

// resolve returns the value CloudFormation passes to AWS for v: a literal,
// or a Ref to a resource whose physical id is the name the template gives
// it (the only Refs bucketdesk's names go through), or a parameter default.
func resolve(tpl map[string]any, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case map[string]any:
		id, ok := x["Ref"].(string)
		if !ok || len(x) != 1 {
			break
		}
		if r, ok := at(tpl, "Resources", id).(map[string]any); ok {
			nameProp, ok := map[string]string{
				"AWS::IAM::User": "UserName", "AWS::IAM::Role": "RoleName", "AWS::S3::Bucket": "BucketName",
			}[fmt.Sprint(r["Type"])]
			if !ok {
				return "", fmt.Errorf("Ref %s: the physical id of a %v is not a name of the template", id, r["Type"])
			}
			name := at(r, "Properties", nameProp)
			if name == nil {
				return "", fmt.Errorf("Ref %s: no %s, CloudFormation generates the name", id, nameProp)
			}
			return resolve(tpl, name)
		}
		if def, ok := at(tpl, "Parameters", id, "Default").(string); ok {
			return def, nil
		}
	}
	return "", fmt.Errorf("cannot resolve %s", jsonOf(v))
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func at(v any, path ...string) any {
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

// resolvedProblems lists every resolved name of tpl that AWS would refuse.
func resolvedProblems(tpl map[string]any) []string {
	var out []string
	bad := func(id, prop, val, rule string) {
		out = append(out, fmt.Sprintf("%s.%s = %q: %s", id, prop, val, rule))
	}
	resources, _ := tpl["Resources"].(map[string]any)
	ids := make([]string, 0, len(resources))
	for id := range resources {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		r, _ := resources[id].(map[string]any)
		props := r["Properties"]
		get := func(prop string) (string, bool) {
			v := at(props, prop)
			if v == nil {
				return "", false
			}
			s, err := resolve(tpl, v)
			if err != nil {
				out = append(out, fmt.Sprintf("%s.%s: %v", id, prop, err))
				return "", false
			}
			return s, true
		}
		if r["Type"] == "AWS::IAM::User" || r["Type"] == "AWS::IAM::Role" {
			policies, _ := at(props, "Policies").([]any)
			for i, pol := range policies {
				for _, m := range policyCharProblems(at(pol, "PolicyDocument")) {
					out = append(out, fmt.Sprintf("%s.Policies[%d].PolicyDocument: IAM refuses the policy: %s", id, i, m))
				}
			}
		}
		switch r["Type"] {
		case "AWS::Transfer::User":
			if n, ok := get("UserName"); !ok {
				out = append(out, id+".UserName is missing")
			} else if !transferUserNameRe.MatchString(n) {
				bad(id, "UserName", n, "Transfer user names must match "+transferUserNameRe.String()+" (3 to 100 of letters, digits, _ @ . -, not starting with @ . -)")
			}
		case "AWS::IAM::User":
			if n, ok := get("UserName"); ok && !iamUserNameRe.MatchString(n) {
				bad(id, "UserName", n, "IAM user names must match "+iamUserNameRe.String())
			}
			if p, ok := get("Path"); ok && (len(p) > 512 || !iamPathRe.MatchString(p)) {
				bad(id, "Path", p, "IAM paths must match "+iamPathRe.String()+", at most 512 characters")
			}
		case "AWS::S3::Bucket":
			n, ok := get("BucketName")
			if ok {
				for _, m := range s3BucketNameProblems(n) {
					bad(id, "BucketName", n, "S3: "+m)
				}
			}
			if v := at(props, "LoggingConfiguration", "DestinationBucketName"); v != nil {
				dest, err := resolve(tpl, v)
				switch {
				case err != nil:
					out = append(out, fmt.Sprintf("%s.LoggingConfiguration.DestinationBucketName: %v", id, err))
				case ok && dest == n:
					bad(id, "LoggingConfiguration.DestinationBucketName", dest, "the bucket logs into itself, which logs its own log deliveries forever")
				default:
					for _, m := range s3BucketNameProblems(dest) {
						bad(id, "LoggingConfiguration.DestinationBucketName", dest, "S3: "+m)
					}
				}
			}
		}
	}
	return out
}

func TestRenderedNamesMeetAWSRules(t *testing.T) {
	cases := renderMatrix(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var tpl map[string]any
			if err := json.Unmarshal([]byte(c.template), &tpl); err != nil {
				t.Fatal(err)
			}
			// Every spec here passed core.Spec.Validate and Render: bucketdesk
			// would accept it, so AWS refusing it is a bug.
			for _, p := range resolvedProblems(tpl) {
				t.Error(fmt.Sprintf("bucketdesk accepts this spec, AWS would refuse the stack: %s\nspec: %s", p, specJSON(c.spec)))
			}
			// The buckets a user is granted are named in the policy's ARNs.
			if u := c.spec.User; u != nil {
				for _, g := range u.Grants {
					for _, m := range s3BucketNameProblems(g.Bucket) {
						t.Error(fmt.Sprintf("bucketdesk accepts a grant of bucket %q, S3 refuses the name: %s", g.Bucket, m))
					}
				}
			}
		})
	}
}
