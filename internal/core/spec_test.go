package core

import (
	"errors"
	"strings"
	"testing"
)

func TestBucketNameRules(t *testing.T) {
	valid := []string{"abc", "my-bucket", "my.bucket.eu", "a1b2c3", strings.Repeat("a", 63), "123"}
	for _, n := range valid {
		if p := BucketNameProblems(n); len(p) != 0 {
			t.Errorf("%q: unexpected problems %v", n, p)
		}
	}
	invalid := map[string]string{
		"ab":                    "between 3 and 63",
		strings.Repeat("a", 64): "between 3 and 63",
		"My-Bucket":             "lowercase letters",
		"my_bucket":             "lowercase letters",
		"-bucket":               "begin and end",
		"bucket-":               "begin and end",
		"my..bucket":            "adjacent dots",
		"my.-bucket":            "dot next to a hyphen",
		"192.168.5.4":           "IP address",
		"999.999.999.999":       "IP address",
		"01.02.03.04":           "IP address",
		"xn--bucket":            "reserved prefix",
		"sthree-bucket":         "reserved prefix",
		"amzn-s3-demo-bucket":   "reserved prefix",
		"bucket-s3alias":        "reserved suffix",
		"bucket--ol-s3":         "reserved suffix",
		"bucket.mrap":           "reserved suffix",
		"bucket--x-s3":          "reserved suffix",
		"bucket--table-s3":      "reserved suffix",
		"":                      "between 3 and 63",
	}
	for n, want := range invalid {
		p := BucketNameProblems(n)
		if !strings.Contains(strings.Join(p, "; "), want) {
			t.Errorf("%q: problems %v, want one mentioning %q", n, p, want)
		}
	}
}

func TestUserNameRules(t *testing.T) {
	for _, n := range []string{"alice", "svc+etl=1.b@c_d-e", strings.Repeat("x", 64), "A"} {
		if p := UserNameProblems(n); len(p) != 0 {
			t.Errorf("%q: %v", n, p)
		}
	}
	for _, n := range []string{"", strings.Repeat("x", 65), "with space", "slash/", "star*", "ünïcode", "a,b"} {
		if p := UserNameProblems(n); len(p) == 0 {
			t.Errorf("%q: accepted", n)
		}
	}
}

func fieldsOf(err error) []string {
	var v *ValidationError
	if !errors.As(err, &v) {
		return nil
	}
	var f []string
	for _, p := range v.Problems {
		f = append(f, p.Field)
	}
	return f
}

// An SSE-KMS bucket needs a key ARN: an alias (ARN or name) or a bare key
// id is refused with a message that says why.
func TestBucketKMSKeyARN(t *testing.T) {
	for _, arn := range []string{
		"arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab",
		"arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws-cn:kms:cn-north-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
	} {
		b := BucketSpec{Name: "data.example", Encryption: Encryption{Type: EncryptionKMS, KMSKeyARN: arn}}
		if err := b.Validate(); err != nil {
			t.Errorf("%s: %v", arn, err)
		}
	}
	for _, arn := range []string{
		"", "arn:aws:kms:eu-west-1:123456789012:alias/data", "arn:aws:kms:eu-west-1:123456789012:alias/team/data_key-1",
		"alias/data", "alias/aws/s3", "1234abcd-12ab-34cd-56ef-1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ab",
		"arn:aws:kms:eu-west-1:123456789012:key/", "arn:aws:kms:eu-west-1:123456789012:key/a/b", "arn:aws:kms::123456789012:key/abc",
		"arn:aws:s3:::bucket", " arn:aws:kms:eu-west-1:123456789012:key/abc",
	} {
		b := BucketSpec{Name: "data.example", Encryption: Encryption{Type: EncryptionKMS, KMSKeyARN: arn}}
		var v *ValidationError
		if err := b.Validate(); !errors.As(err, &v) || len(v.Problems) != 1 || v.Problems[0].Field != "encryption.kms_key_arn" ||
			v.Problems[0].Message != KMSKeyARNMessage {
			t.Errorf("%q: err = %v, want encryption.kms_key_arn: %s", arn, err, KMSKeyARNMessage)
		}
	}
	for _, want := range []string{"arn:aws:kms:REGION:ACCOUNT:key/ID", "alias cannot be used because"} {
		if !strings.Contains(KMSKeyARNMessage, want) {
			t.Errorf("KMSKeyARNMessage lacks %q", want)
		}
	}
}

func TestBucketSpecValidate(t *testing.T) {
	ok := BucketSpec{Name: "data.example", Encryption: Encryption{Type: EncryptionKMS, KMSKeyARN: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}, ExpiryDays: 30, Tags: map[string]string{"team": "geo"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	cases := []struct {
		name  string
		mod   func(*BucketSpec)
		field string
	}{
		{"bad encryption", func(b *BucketSpec) { b.Encryption.Type = "none" }, "encryption.type"},
		{"kms without key", func(b *BucketSpec) { b.Encryption.KMSKeyARN = "" }, "encryption.kms_key_arn"},
		{"kms alias", func(b *BucketSpec) { b.Encryption.KMSKeyARN = "arn:aws:kms:eu-west-1:123456789012:alias/data" }, "encryption.kms_key_arn"},
		{"s3 with key", func(b *BucketSpec) { b.Encryption.Type = EncryptionS3 }, "encryption.kms_key_arn"},
		{"negative expiry", func(b *BucketSpec) { b.ExpiryDays = -1 }, "expiry_days"},
		{"aws tag", func(b *BucketSpec) { b.Tags = map[string]string{"aws:x": "y"} }, "tags.aws:x"},
		{"reserved tag", func(b *BucketSpec) { b.Tags = map[string]string{"bucketdesk:project": "y"} }, "tags.bucketdesk:project"},
		{"bad name", func(b *BucketSpec) { b.Name = "UP" }, "name"},
	}
	for _, c := range cases {
		b := ok
		b.Tags = map[string]string{"team": "geo"}
		c.mod(&b)
		err := b.Validate()
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", c.name, err)
			continue
		}
		if f := fieldsOf(err); !contains(f, c.field) {
			t.Errorf("%s: fields %v, want %s", c.name, f, c.field)
		}
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func TestUserSpecValidate(t *testing.T) {
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q partner@example"
	ok := UserSpec{Name: "etl", Grants: []Grant{{Bucket: "data.example", Access: AccessRead, Prefix: "in/"}}, AccessKeys: 2, SFTP: SFTP{Enabled: true, SSHKeys: []string{key}}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid: %v", err)
	}
	cases := []struct {
		name  string
		mod   func(*UserSpec)
		field string
	}{
		{"three keys", func(u *UserSpec) { u.AccessKeys = 3 }, "access_keys"},
		{"bad access", func(u *UserSpec) { u.Grants = []Grant{{Bucket: "data.example", Access: "admin"}} }, "grants[0].access"},
		{"wildcard prefix", func(u *UserSpec) { u.Grants = []Grant{{Bucket: "data.example", Access: AccessRead, Prefix: "a*"}} }, "grants[0].prefix"},
		{"leading slash", func(u *UserSpec) { u.Grants = []Grant{{Bucket: "data.example", Access: AccessRead, Prefix: "/a"}} }, "grants[0].prefix"},
		{"dup grant", func(u *UserSpec) { u.Grants = append(u.Grants, u.Grants[0]) }, "grants[1]"},
		{"sftp no key", func(u *UserSpec) { u.SFTP.SSHKeys = nil }, "sftp.ssh_keys"},
		{"sftp no grants", func(u *UserSpec) { u.Grants = nil }, "sftp"},
		{"bad key", func(u *UserSpec) { u.SFTP.SSHKeys = []string{"ssh-dss AAAA"} }, "sftp.ssh_keys[0]"},
		{"keys while off", func(u *UserSpec) { u.SFTP.Enabled = false }, "sftp.ssh_keys"},
		{"sftp name with +", func(u *UserSpec) { u.Name = "acme+partner@example.com" }, "name"},
		{"sftp name too short", func(u *UserSpec) { u.Name = "ab" }, "name"},
		{"sftp name starting with @", func(u *UserSpec) { u.Name = "@acme" }, "name"},
		{"non-Latin-1 prefix", func(u *UserSpec) { u.Grants = []Grant{{Bucket: "data.example", Access: AccessRead, Prefix: "日本/"}} }, "grants[0].prefix"},
		{"same folder twice", func(u *UserSpec) {
			u.Grants = []Grant{{Bucket: "data.example", Access: AccessRead, Prefix: "in"}, {Bucket: "data.example", Access: AccessWrite, Prefix: "in/"}}
		}, "grants[1]"},
	}
	for _, c := range cases {
		u := ok
		u.Grants = append([]Grant(nil), ok.Grants...)
		u.SFTP.SSHKeys = append([]string(nil), ok.SFTP.SSHKeys...)
		c.mod(&u)
		err := u.Validate()
		if f := fieldsOf(err); !contains(f, c.field) {
			t.Errorf("%s: err %v (fields %v), want field %s", c.name, err, f, c.field)
		}
	}
}

// Transfer Family's user names are narrower than IAM's: with SFTP on, a
// name IAM accepts but Transfer refuses is refused before any stack exists.
func TestSFTPUserNameRule(t *testing.T) {
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q partner@example"
	user := func(name string, sftp bool) *UserSpec {
		u := &UserSpec{Name: name, Grants: []Grant{{Bucket: "data.example", Access: AccessRead}}}
		if sftp {
			u.SFTP = SFTP{Enabled: true, SSHKeys: []string{key}}
		}
		return u
	}
	for _, n := range []string{"acme", "acme.partner@example.com", "svc_etl-1", "abc", "_x1", "9to5", strings.Repeat("x", 64)} {
		if err := user(n, true).Validate(); err != nil {
			t.Errorf("%q with SFTP: %v", n, err)
		}
	}
	for _, n := range []string{"acme+partner@example.com", "ab", "a", "-acme", ".acme", "@acme", "a=b", "x+y"} {
		err := user(n, true).Validate()
		var v *ValidationError
		if !errors.As(err, &v) || len(v.Problems) != 1 || v.Problems[0].Field != "name" || v.Problems[0].Message != SFTPUserNameMessage {
			t.Errorf("%q with SFTP: err = %v, want only the name refused with %q", n, err, SFTPUserNameMessage)
		}
		if err := user(n, false).Validate(); err != nil {
			t.Errorf("%q without SFTP (a valid IAM name): %v", n, err)
		}
	}
}

// IAM policies hold only tab, LF, CR and U+0020-U+00FF; a prefix goes into
// the policy as it is.
func TestPrefixPolicyCharacters(t *testing.T) {
	for _, p := range []string{"in/", "a b&c<d>é/", "ÿ/", "tab\there/", "~!@#%^()[]/"} {
		u := UserSpec{Name: "etl", Grants: []Grant{{Bucket: "data.example", Access: AccessRead, Prefix: p}}}
		if err := u.Validate(); err != nil {
			t.Errorf("prefix %q: %v", p, err)
		}
	}
	for p, want := range map[string]string{
		"日本/":           `"日" (U+65E5) is outside that range`,
		"reports–2024/": `"–" (U+2013)`,
		"emoji😀/":       `(U+1F600)`,
		"x\x01/":        `(U+0001)`,
		"Ā/":            `(U+0100)`,
	} {
		u := UserSpec{Name: "etl", Grants: []Grant{{Bucket: "data.example", Access: AccessRead, Prefix: p}}}
		var v *ValidationError
		if err := u.Validate(); !errors.As(err, &v) || v.Problems[0].Field != "grants[0].prefix" || !strings.Contains(v.Problems[0].Message, want) ||
			!strings.Contains(v.Problems[0].Message, "IAM policy") {
			t.Errorf("prefix %q: err = %v, want grants[0].prefix mentioning %s", p, err, want)
		}
	}
}

func TestSameFolderTwice(t *testing.T) {
	u := UserSpec{Name: "etl", Grants: []Grant{{Bucket: "b1x", Access: AccessRead, Prefix: "in"}, {Bucket: "b1x", Access: AccessWrite, Prefix: "in/"}}}
	var v *ValidationError
	if err := u.Validate(); !errors.As(err, &v) || len(v.Problems) != 1 || v.Problems[0] != (FieldError{Field: "grants[1]", Message: "repeats grants[0] for the same bucket and folder"}) {
		t.Errorf("Validate = %v", err)
	}
}

// The limit counts the canonical prefix, so that the stored (canonical)
// spec validates again.
func TestPrefixLengthCountsTheSlash(t *testing.T) {
	for p, ok := range map[string]bool{strings.Repeat("p", 511): true, strings.Repeat("p", 511) + "/": true, strings.Repeat("p", 512): false, strings.Repeat("p", 512) + "/": false} {
		u := UserSpec{Name: "etl", Grants: []Grant{{Bucket: "b1x", Access: AccessRead, Prefix: p}}}
		if err := u.Validate(); (err == nil) != ok {
			t.Errorf("prefix of %d bytes: %v", len(p), err)
		}
		c := UserSpec{Name: "etl", Grants: []Grant{{Bucket: "b1x", Access: AccessRead, Prefix: CanonicalPrefix(p)}}}
		if (u.Validate() == nil) != (c.Validate() == nil) {
			t.Errorf("prefix of %d bytes: canonical form validates differently", len(p))
		}
	}
}

func TestCanonicalPrefix(t *testing.T) {
	for in, want := range map[string]string{"": "", "reports": "reports/", "reports/": "reports/", "a/b": "a/b/", "a/b/": "a/b/"} {
		if got := CanonicalPrefix(in); got != want {
			t.Errorf("CanonicalPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

// SSH keys are parsed: the blob must decode to a key of the declared type.
func TestSSHKeyRules(t *testing.T) {
	const (
		ed25519Key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q partner@example"
		rsa2048    = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDRJIxdlBoADrUVUt9eC1/FVlvDWXz6fpBrDUBVuKBZ6BntCvz2iq5Xmk/xU0qtUD1gkpmHOzXKnfYFmiFsXki/TDh7GwRJk3ZxZbEOEnzZzvr5CEoP13uL2+BHO2ah62O5tejb0jEIv/8ImEMEYVlDxrEryUxf9A8uwcaKnD0y8eKvbjbIPlgp5XuQXQjFOLgVVEajzLcpv4IMUtgjNVBpqUMYSu9ZrF0hh1xYdxH0tyjiUucW08P2CF5dsIVADg/1VNBAqFD8/9nX9vWZPF3LygaTU2IbOYAr0kT30Tudthp0aWx8jWO5M3veuXAyW9tyondnun1IjBWZ8K18DVcB ci@acme"
		rsa1024    = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCoHkpEGt245lcBN49GTUVkHAkv5zdv3Lv251qkS4qtokqIadp6bb4YXzdH4CdIcoGsowtVMixF1xKULI2piNrQUjsxem9RGH8TX1gTP5LivLFNJPYPc2LP7cV2yQVAueBh9nMS8knEhe0wXXVfQQsTS2yjxiEiSnz5aLxszmBU0w== old"
		ecdsa256   = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBH0iGEToNQYKEqmnZHICPAQhaJiFXHwM+PS9wkK+oXIKshbb3L1mdeOeb7W3eIsXghpDFkSBxo5iQX7LxftK0cU= ec"
	)
	for _, k := range []string{ed25519Key, rsa2048, ecdsa256, "  " + ed25519Key + "\n", strings.TrimSuffix(ed25519Key, " partner@example"),
		ed25519Key + " with spaces in the comment", strings.TrimSuffix(ed25519Key, "partner@example") + strings.Repeat("c", MaxSSHKeyComment)} {
		if m := SSHKeyProblem(k); m != "" {
			t.Errorf("%q: %s", k, m)
		}
	}
	b64 := strings.Fields(ed25519Key)[1]
	rsaB64 := strings.Fields(rsa2048)[1]
	tests := []struct{ key, want string }{
		{rsa1024, "RSA keys must have at least 2048 bits, this one has 1024"},
		{"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC3 ci@acme", "not a valid ssh-rsa key"},
		{"ssh-rsa " + b64, "the base64 key is not a ssh-rsa key"},
		{"ecdsa-sha2-nistp384 " + strings.Fields(ecdsa256)[1], "not a ecdsa-sha2-nistp384 key"},
		{"ssh-ed25519 " + rsaB64, "not a ssh-ed25519 key"},
		{"ssh-ed25519 " + b64[:len(b64)-4], "not a valid ssh-ed25519 key"},
		{"ssh-ed25519 AAAA=", "not valid base64"},
		{"ssh-ed25519 AAB=", "not valid base64"}, // non-zero trailing bits
		{"ssh-ed25519 AQ==", "the base64 key is not a ssh-ed25519 key"},
		{"ecdsa-sha2-nistp256 AAAA", "the base64 key is not a ecdsa-sha2-nistp256 key"},
		{"ssh-ed25519 " + b64 + "A", "not valid base64"},
		{ed25519Key + "\n" + ed25519Key, "exactly one key on one line"},
		{ed25519Key + "\r\nx", "exactly one key on one line"},
		{ed25519Key + "\x07", "control characters"},
		{"ssh-ed25519\t" + b64, "control characters"},
		{`command="/bin/sh" ` + ed25519Key, "options"},
		{"restrict " + ed25519Key, "options"},
		{"ssh-dss AAAAB3NzaC1kc3M=", "must be an OpenSSH public key"},
		{"sk-ssh-ed25519@openssh.com " + b64, "must be an OpenSSH public key"},
		{"ssh-ed25519", "must be an OpenSSH public key"},
		{"ssh-ed25519  " + b64, "must be an OpenSSH public key"},
		{"", "must be an OpenSSH public key"},
		{ed25519Key + strings.Repeat("c", MaxSSHKeyComment), "comment after the key must be at most 100 characters"},
	}
	for _, tt := range tests {
		if m := SSHKeyProblem(tt.key); !strings.Contains(m, tt.want) {
			t.Errorf("%q: problem %q, want one containing %q", tt.key, m, tt.want)
		}
	}
}

func TestPhaseOfEveryStatus(t *testing.T) {
	want := map[string]Phase{
		"CREATE_IN_PROGRESS": PhaseCreating, "CREATE_FAILED": PhaseFailed, "CREATE_COMPLETE": PhaseReady,
		"ROLLBACK_IN_PROGRESS": PhaseCreating, "ROLLBACK_FAILED": PhaseFailed, "ROLLBACK_COMPLETE": PhaseFailed,
		"DELETE_IN_PROGRESS": PhaseDeleting, "DELETE_FAILED": PhaseFailed, "DELETE_COMPLETE": PhaseDeleted,
		"UPDATE_IN_PROGRESS": PhaseUpdating, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": PhaseUpdating,
		"UPDATE_COMPLETE": PhaseReady, "UPDATE_FAILED": PhaseFailed,
		"UPDATE_ROLLBACK_IN_PROGRESS": PhaseUpdating, "UPDATE_ROLLBACK_FAILED": PhaseFailed,
		"UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": PhaseUpdating, "UPDATE_ROLLBACK_COMPLETE": PhaseReady,
		"REVIEW_IN_PROGRESS": PhaseCreating, "IMPORT_IN_PROGRESS": PhaseUpdating, "IMPORT_COMPLETE": PhaseReady,
		"IMPORT_ROLLBACK_IN_PROGRESS": PhaseUpdating, "IMPORT_ROLLBACK_FAILED": PhaseFailed,
		"IMPORT_ROLLBACK_COMPLETE": PhaseReady, "SOMETHING_NEW": PhaseFailed,
	}
	for s, p := range want {
		if got := PhaseOf(s); got != p {
			t.Errorf("PhaseOf(%s) = %s, want %s", s, got, p)
		}
		if Terminal(s) == InProgress(s) {
			t.Errorf("%s: Terminal and InProgress agree", s)
		}
	}
}

func TestIsMemberByUserOrGroup(t *testing.T) {
	p := &Project{Members: []string{"alice", "group:geo"}}
	cases := []struct {
		who  Principal
		want bool
	}{
		{Principal{User: "alice"}, true},
		{Principal{User: "bob", Groups: []string{"geo"}}, true},
		{Principal{User: "bob", Groups: []string{"other"}}, false},
		{Principal{User: "group:geo"}, false},
		{Principal{Groups: []string{"geo"}}, false},
	}
	for _, c := range cases {
		if got := p.IsMember(c.who); got != c.want {
			t.Errorf("IsMember(%+v) = %v", c.who, got)
		}
	}
}

// S3 cannot make a versioned bucket unversioned: once versioned, a bucket
// with versioning off is suspended; a bucket never versioned is not.
func TestNextVersioningSuspended(t *testing.T) {
	never, on, suspended := &BucketSpec{}, &BucketSpec{Versioning: true}, &BucketSpec{VersioningSuspended: true}
	tests := []struct {
		cur        *BucketSpec
		versioning bool
		want       bool
	}{
		{nil, false, false}, {nil, true, false},
		{never, false, false}, {never, true, false},
		{on, false, true}, {on, true, false},
		{suspended, false, true}, {suspended, true, false},
	}
	for _, tt := range tests {
		if got := NextVersioningSuspended(tt.cur, tt.versioning); got != tt.want {
			t.Errorf("NextVersioningSuspended(%+v, %v) = %v, want %v", tt.cur, tt.versioning, got, tt.want)
		}
	}
}

// A project's log bucket is optional; when set it must be an S3 bucket
// name, by the same rules as every bucket bucketdesk names.
func TestProjectLogBucket(t *testing.T) {
	p := func(logBucket string) *Project {
		return &Project{ID: "demo", Name: "Demo", AccountID: "123456789012", Region: "eu-west-1", LogBucket: logBucket}
	}
	for _, ok := range []string{"", "bucketdesk-logs-123456789012-eu-west-1", "abc"} {
		if err := p(ok).Validate(); err != nil {
			t.Errorf("log_bucket %q: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"Logs":                  "lowercase letters",
		"ab":                    "between 3 and 63",
		"logs..bucket":          "two adjacent dots",
		"192.168.5.4":           "IP address",
		"xn--logs":              "reserved prefix",
		strings.Repeat("l", 64): "between 3 and 63",
	} {
		err := p(bad).Validate()
		var v *ValidationError
		if !errors.As(err, &v) || !errors.Is(err, ErrInvalid) || len(v.Problems) == 0 {
			t.Errorf("log_bucket %q: error %v, want a validation error", bad, err)
			continue
		}
		for _, pr := range v.Problems {
			if pr.Field != "log_bucket" {
				t.Errorf("log_bucket %q: problem on field %q: %s", bad, pr.Field, pr.Message)
			}
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("log_bucket %q: %v, want it to say %q", bad, err, want)
		}
	}
}
