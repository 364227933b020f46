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
