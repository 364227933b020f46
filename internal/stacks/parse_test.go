package stacks

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"bucketdesk/internal/core"
)

func roundTrip(t *testing.T, spec core.Spec) {
	t.Helper()
	tmpl, _, err := Render(demoProject(), spec)
	if err != nil {
		t.Fatalf("Render(%s): %v", js(spec), err)
	}
	got, err := Parse(tmpl)
	if err != nil {
		t.Fatalf("Parse(Render(%s)): %v", js(spec), err)
	}
	if want := Canonical(spec); !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse(Render(spec)) = %s\nwant %s", js(got), js(want))
	}
	if again, _, _ := Render(demoProject(), got); again != tmpl {
		t.Fatalf("Render(Parse(template)) differs from the template for %s", js(spec))
	}
}

func TestRoundTripTable(t *testing.T) {
	s3 := core.Encryption{Type: core.EncryptionS3}
	tests := map[string]core.Spec{
		"bucket tags nil":   {Bucket: &core.BucketSpec{Name: "b-1", Encryption: s3}},
		"bucket tags empty": {Bucket: &core.BucketSpec{Name: "b-1", Encryption: s3, Tags: map[string]string{}}},
		"bucket max expiry": {Bucket: &core.BucketSpec{Name: "b.1.example", Encryption: s3, ExpiryDays: core.MaxExpiryDays, Versioning: true}},
		"bucket kms mrk": {Bucket: &core.BucketSpec{Name: "abc", Encryption: core.Encryption{Type: core.EncryptionKMS,
			KMSKeyARN: "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"}, Tags: map[string]string{"a": "", "b b": "x=y"}}},
		"user bare":            {User: &core.UserSpec{Name: "u"}},
		"user grants empty":    {User: &core.UserSpec{Name: "u", Grants: []core.Grant{}, KeySerials: []int{}}},
		"user serials 1":       {User: &core.UserSpec{Name: "u", AccessKeys: 2, KeySerials: []int{1, 1}}},
		"user serial 0":        {User: &core.UserSpec{Name: "u", AccessKeys: 1, KeySerials: []int{0}}},
		"user serial 3 of 1":   {User: &core.UserSpec{Name: "u", AccessKeys: 1, KeySerials: []int{3, 7}}},
		"user serials 2,1":     {User: &core.UserSpec{Name: "u", AccessKeys: 2, KeySerials: []int{2, 1}}},
		"user no keys serials": {User: &core.UserSpec{Name: "u", KeySerials: []int{4}}},
		"user equals": {User: &core.UserSpec{Name: "a=b", AccessKeys: 1, Grants: []core.Grant{
			{Bucket: "zzz", Access: core.AccessWrite, Prefix: "a"}, {Bucket: "aaa", Access: core.AccessRead}, {Bucket: "zzz", Access: core.AccessReadWrite}}}},
	}
	for name, spec := range goldenSpecs {
		tests["golden "+name] = spec
	}
	for name, spec := range tests {
		t.Run(name, func(t *testing.T) { roundTrip(t, spec) })
	}
}

func TestRoundTripRandom(t *testing.T) {
	g := newGen(2024)
	for range 2000 {
		roundTrip(t, g.spec())
	}
}

func TestCanonicalEqual(t *testing.T) {
	a := core.Spec{User: &core.UserSpec{Name: "u", AccessKeys: 2, KeySerials: []int{1, 1}, Grants: []core.Grant{
		{Bucket: "b", Access: core.AccessRead}, {Bucket: "a", Access: core.AccessWrite}}}}
	b := core.Spec{User: &core.UserSpec{Name: "u", AccessKeys: 2, Grants: []core.Grant{
		{Bucket: "a", Access: core.AccessWrite}, {Bucket: "b", Access: core.AccessRead}}}}
	if !Equal(a, b) {
		t.Error("specs differing in grant order and default serials are not Equal")
	}
	b.User.KeySerials = []int{2}
	if Equal(a, b) {
		t.Error("a rotated key does not make specs differ")
	}
	if a.User.Grants[0].Bucket != "b" {
		t.Error("Canonical sorted the caller's slice in place")
	}
}

// mutate renders spec, edits the template as generic JSON and returns it.
func mutate(t *testing.T, spec core.Spec, edit func(m map[string]any)) string {
	t.Helper()
	m := decoded(t, demoProject(), spec)
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func props(m map[string]any, id string) map[string]any {
	return at(m, "Resources", id, "Properties").(map[string]any)
}

func grantStmts(m map[string]any) []any {
	return at(m, "Resources", "User", "Properties", "Policies", 0, "PolicyDocument", "Statement").([]any)
}

func TestParseErrors(t *testing.T) {
	bucket, user := goldenSpecs["bucket-kms"], goldenSpecs["user-full"]
	tests := []struct {
		name string
		tmpl string
		want string
	}{
		{"not json", "{", "unexpected EOF"},
		{"trailing data", "{} {}", "after the JSON"},
		{"empty", "{}", "neither a Bucket nor a User"},
		{"wrong version", mutate(t, bucket, func(m map[string]any) { m["AWSTemplateFormatVersion"] = "2009-01-01" }), "AWSTemplateFormatVersion"},
		{"unknown top level", mutate(t, bucket, func(m map[string]any) { m["Parameters"] = map[string]any{} }), "Parameters"},
		{"both kinds", mutate(t, bucket, func(m map[string]any) {
			m["Resources"].(map[string]any)["User"] = map[string]any{"Type": "AWS::IAM::User"}
		}), "both"},
		{"unknown resource", mutate(t, bucket, func(m map[string]any) {
			m["Resources"].(map[string]any)["Topic"] = map[string]any{"Type": "AWS::SNS::Topic"}
		}), "unexpected resource Topic"},
		{"wrong type", mutate(t, bucket, func(m map[string]any) { at(m, "Resources", "Bucket").(map[string]any)["Type"] = "AWS::S3::AccessPoint" }), "AWS::S3::AccessPoint"},
		{"unknown property", mutate(t, bucket, func(m map[string]any) { props(m, "Bucket")["WebsiteConfiguration"] = map[string]any{} }), "WebsiteConfiguration"},
		{"bucket name intrinsic", mutate(t, bucket, func(m map[string]any) { props(m, "Bucket")["BucketName"] = map[string]any{"Ref": "X"} }), "BucketName"},
		{"public access", mutate(t, bucket, func(m map[string]any) {
			props(m, "Bucket")["PublicAccessBlockConfiguration"].(map[string]any)["BlockPublicPolicy"] = false
		}), "PublicAccessBlockConfiguration"},
		{"no encryption", mutate(t, bucket, func(m map[string]any) { delete(props(m, "Bucket"), "BucketEncryption") }), "BucketEncryption"},
		{"kms without key", mutate(t, bucket, func(m map[string]any) {
			delete(at(props(m, "Bucket"), "BucketEncryption", "ServerSideEncryptionConfiguration", 0, "ServerSideEncryptionByDefault").(map[string]any), "KMSMasterKeyID")
		}), "SSEAlgorithm"},
		{"acls on", mutate(t, bucket, func(m map[string]any) {
			at(props(m, "Bucket"), "OwnershipControls", "Rules", 0).(map[string]any)["ObjectOwnership"] = "ObjectWriter"
		}), "OwnershipControls"},
		{"versioning status", mutate(t, bucket, func(m map[string]any) {
			props(m, "Bucket")["VersioningConfiguration"] = map[string]any{"Status": "On"}
		}), "VersioningConfiguration"},
		{"lifecycle disabled", mutate(t, bucket, func(m map[string]any) {
			at(props(m, "Bucket"), "LifecycleConfiguration", "Rules", 0).(map[string]any)["Status"] = "Disabled"
		}), "LifecycleConfiguration"},
		{"lifecycle not a number", mutate(t, bucket, func(m map[string]any) {
			at(props(m, "Bucket"), "LifecycleConfiguration", "Rules", 0).(map[string]any)["ExpirationInDays"] = "soon"
		}), "not an integer"},
		{"lifecycle abort days", mutate(t, bucket, func(m map[string]any) {
			at(props(m, "Bucket"), "LifecycleConfiguration", "Rules", 0, "AbortIncompleteMultipartUpload").(map[string]any)["DaysAfterInitiation"] = 3
		}), "DaysAfterInitiation is 3"},
		{"lifecycle noncurrent days", mutate(t, bucket, func(m map[string]any) {
			at(props(m, "Bucket"), "LifecycleConfiguration", "Rules", 1, "NoncurrentVersionExpiration").(map[string]any)["NoncurrentDays"] = 10
		}), "NoncurrentDays 10 differs"},
		{"lifecycle delete marker with days", mutate(t, bucket, func(m map[string]any) {
			at(props(m, "Bucket"), "LifecycleConfiguration", "Rules", 2).(map[string]any)["ExpirationInDays"] = 365
		}), "cannot be specified with Days"},
		{"lifecycle two expiries", mutate(t, bucket, func(m map[string]any) {
			at(props(m, "Bucket"), "LifecycleConfiguration", "Rules", 0).(map[string]any)["ExpirationInDays"] = 5
		}), "more than one rule with ExpirationInDays"},
		{"lifecycle empty rule", mutate(t, bucket, func(m map[string]any) {
			l := at(props(m, "Bucket"), "LifecycleConfiguration").(map[string]any)
			l["Rules"] = append(l["Rules"].([]any), map[string]any{"Id": "x", "Status": "Enabled"})
		}), "no action"},
		{"lifecycle unknown action", mutate(t, bucket, func(m map[string]any) {
			at(props(m, "Bucket"), "LifecycleConfiguration", "Rules", 1).(map[string]any)["Transitions"] = []any{}
		}), "Transitions"},
		{"duplicate tag", mutate(t, bucket, func(m map[string]any) {
			props(m, "Bucket")["Tags"] = []any{map[string]any{"Key": "a", "Value": "1"}, map[string]any{"Key": "a", "Value": "2"}}
		}), `tag "a"`},
		{"no bucket policy", mutate(t, bucket, func(m map[string]any) { delete(m["Resources"].(map[string]any), "BucketPolicy") }), "BucketPolicy is missing"},
		{"no tls deny", mutate(t, bucket, func(m map[string]any) {
			delete(at(props(m, "BucketPolicy"), "PolicyDocument", "Statement", 0).(map[string]any), "Condition")
		}), "TLS"},
		{"bucket policy allow", mutate(t, bucket, func(m map[string]any) {
			at(props(m, "BucketPolicy"), "PolicyDocument", "Statement", 0).(map[string]any)["Effect"] = "Allow"
		}), `"Allow"`},
		{"user without name", mutate(t, user, func(m map[string]any) { delete(props(m, "User"), "UserName") }), "UserName"},
		{"other policy", mutate(t, user, func(m map[string]any) {
			at(props(m, "User"), "Policies", 0).(map[string]any)["PolicyName"] = "admin"
		}), `policy "admin"`},
		{"managed policy", mutate(t, user, func(m map[string]any) {
			props(m, "User")["ManagedPolicyArns"] = []any{"arn:aws:iam::aws:policy/AdministratorAccess"}
		}), "ManagedPolicyArns"},
		{"s3 star", mutate(t, user, func(m map[string]any) {
			grantStmts(m)[0].(map[string]any)["Action"] = []any{"s3:*"}
		}), `unexpected action "s3:*"`},
		{"resource star", mutate(t, user, func(m map[string]any) {
			grantStmts(m)[4].(map[string]any)["Resource"] = []any{"*"}
		}), `resource "*"`},
		{"bucket wildcard", mutate(t, user, func(m map[string]any) {
			grantStmts(m)[4].(map[string]any)["Resource"] = []any{"arn:aws:s3:::demo-*/x*"}
		}), "one named bucket"},
		{"object without star", mutate(t, user, func(m map[string]any) {
			grantStmts(m)[4].(map[string]any)["Resource"] = []any{"arn:aws:s3:::demo-raw/key"}
		}), "<bucket>/<prefix>*"},
		{"deny in grants", mutate(t, user, func(m map[string]any) { grantStmts(m)[4].(map[string]any)["Effect"] = "Deny" }), `Effect "Deny"`},
		{"mixed actions", mutate(t, user, func(m map[string]any) {
			grantStmts(m)[4].(map[string]any)["Action"] = []any{"s3:ListBucket", "s3:GetObject"}
		}), "mixes"},
		{"object action on bucket", mutate(t, user, func(m map[string]any) {
			grantStmts(m)[4].(map[string]any)["Resource"] = []any{"arn:aws:s3:::demo-raw"}
		}), "does not fit"},
		{"object condition", mutate(t, user, func(m map[string]any) {
			grantStmts(m)[4].(map[string]any)["Condition"] = map[string]any{"IpAddress": map[string]any{"aws:SourceIp": "10.0.0.0/8"}}
		}), "Condition"},
		{"partial actions", mutate(t, user, func(m map[string]any) { grantStmts(m)[4].(map[string]any)["Action"] = []any{"s3:GetObject"} }), "neither read, write nor readwrite"},
		{"not action", mutate(t, user, func(m map[string]any) { grantStmts(m)[4].(map[string]any)["NotAction"] = []any{"s3:GetObject"} }), "NotAction"},
		{"inactive key", mutate(t, user, func(m map[string]any) { props(m, "AccessKey1")["Status"] = "Inactive" }), `Status "Inactive"`},
		{"serial 0", mutate(t, user, func(m map[string]any) { props(m, "AccessKey2")["Serial"] = 0 }), "Serial 0"},
		{"key 2 alone", mutate(t, user, func(m map[string]any) {
			delete(m["Resources"].(map[string]any), "AccessKey1")
			delete(m["Resources"].(map[string]any), "AccessKey1Secret")
		}), "AccessKey2 without AccessKey1"},
		{"key without secret", mutate(t, user, func(m map[string]any) { delete(m["Resources"].(map[string]any), "AccessKey2Secret") }), "must come together"},
		{"sftp user alone", mutate(t, user, func(m map[string]any) { delete(m["Resources"].(map[string]any), "SftpRole") }), "must come together"},
		{"sftp home path", mutate(t, user, func(m map[string]any) { props(m, "SftpUser")["HomeDirectoryType"] = "PATH" }), "HomeDirectoryType"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.tmpl)
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Parse error = %v, want ErrInvalid mentioning %q", tt.name, err, tt.want)
		}
	}
}

// Console edits may use the other forms CloudFormation and IAM accept.
func TestParseAcceptsEquivalentForms(t *testing.T) {
	user := goldenSpecs["user-full"]
	tmpl := mutate(t, user, func(m map[string]any) {
		props(m, "AccessKey2")["Serial"] = "2"
		stmts := grantStmts(m)
		// Lower-case action names, single strings instead of lists, and the
		// readwrite grants split into a read and a write statement.
		rw := stmts[6].(map[string]any)
		stmts[6] = map[string]any{"Effect": "Allow", "Action": []any{"s3:getobject", "S3:GetObjectVersion"}, "Resource": rw["Resource"]}
		stmts = append(stmts, map[string]any{"Effect": "Allow", "Action": writeActionsAny(), "Resource": rw["Resource"]})
		stmts[5].(map[string]any)["Resource"] = "arn:aws:s3:::demo-out/acme/*"
		at(props(m, "User"), "Policies", 0, "PolicyDocument").(map[string]any)["Statement"] = stmts
		m["Resources"].(map[string]any)["User"].(map[string]any)["DeletionPolicy"] = "Retain"
	})
	got, err := Parse(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(got, user) {
		t.Errorf("Parse = %s\nwant %s", js(got), js(Canonical(user)))
	}
	// A single statement object, and booleans as strings.
	tmpl = mutate(t, goldenSpecs["user-reader"], func(m map[string]any) {
		doc := at(props(m, "User"), "Policies", 0, "PolicyDocument").(map[string]any)
		doc["Statement"] = doc["Statement"].([]any)[1]
	})
	if got, err := Parse(tmpl); err != nil || !Equal(got, core.Spec{User: &core.UserSpec{Name: "reader",
		Grants: []core.Grant{{Bucket: "demo-minimal", Access: core.AccessRead}}}}) {
		t.Errorf("single statement: Parse = %s, %v", js(got), err)
	}
	tmpl = mutate(t, goldenSpecs["bucket-minimal"], func(m map[string]any) {
		props(m, "Bucket")["PublicAccessBlockConfiguration"].(map[string]any)["BlockPublicAcls"] = "true"
		delete(props(m, "Bucket"), "VersioningConfiguration")
	})
	if got, err := Parse(tmpl); err != nil || !Equal(got, goldenSpecs["bucket-minimal"]) {
		t.Errorf("string booleans: Parse = %s, %v", js(got), err)
	}
}

// Versioning: Enabled, Suspended (once versioned) or no configuration
// (never versioned); templates rendered before the lifecycle rules were
// derived (one expiry rule, no others) still parse.
func TestParseVersioningAndLifecycle(t *testing.T) {
	s3 := core.Encryption{Type: core.EncryptionS3}
	for _, tt := range []struct {
		name   string
		spec   core.BucketSpec
		status any // nil: no VersioningConfiguration
		rules  []string
	}{
		{"never versioned", core.BucketSpec{Name: "b-1", Encryption: s3, ExpiryDays: 9}, nil, []string{RuleAbortIncompleteUploads, RuleExpiry}},
		{"versioned", core.BucketSpec{Name: "b-1", Encryption: s3, Versioning: true, ExpiryDays: 9}, "Enabled",
			[]string{RuleAbortIncompleteUploads, RuleExpiry, RuleExpiredDeleteMarkers}},
		{"suspended", core.BucketSpec{Name: "b-1", Encryption: s3, VersioningSuspended: true}, "Suspended", []string{RuleAbortIncompleteUploads}},
		{"versioned and suspended", core.BucketSpec{Name: "b-1", Encryption: s3, Versioning: true, VersioningSuspended: true}, "Enabled", []string{RuleAbortIncompleteUploads}},
	} {
		m := decoded(t, demoProject(), core.Spec{Bucket: &tt.spec})
		p := props(m, "Bucket")
		if got := at(p, "VersioningConfiguration", "Status"); got != tt.status {
			t.Errorf("%s: VersioningConfiguration.Status = %v, want %v", tt.name, got, tt.status)
		}
		var ids []string
		for _, r := range at(p, "LifecycleConfiguration", "Rules").([]any) {
			ids = append(ids, at(r, "Id").(string))
			if _, hasDays := r.(map[string]any)["ExpirationInDays"]; hasDays && at(r, "ExpiredObjectDeleteMarker") != nil {
				t.Errorf("%s: rule %v has ExpiredObjectDeleteMarker with ExpirationInDays", tt.name, at(r, "Id"))
			}
		}
		if !slices.Equal(ids, tt.rules) {
			t.Errorf("%s: lifecycle rules %v, want %v", tt.name, ids, tt.rules)
		}
		roundTrip(t, core.Spec{Bucket: &tt.spec})
	}
	// A template of the previous renderer: one expiry rule, Suspended for
	// a bucket that asked for no versioning (it is suspended in S3).
	old := mutate(t, core.Spec{Bucket: &core.BucketSpec{Name: "b-1", Encryption: s3, ExpiryDays: 5}}, func(m map[string]any) {
		p := props(m, "Bucket")
		p["VersioningConfiguration"] = map[string]any{"Status": "Suspended"}
		p["LifecycleConfiguration"] = map[string]any{"Rules": []any{map[string]any{"Id": "expiry", "Status": "Enabled", "ExpirationInDays": "5"}}}
	})
	want := core.Spec{Bucket: &core.BucketSpec{Name: "b-1", Encryption: s3, ExpiryDays: 5, VersioningSuspended: true}}
	if got, err := Parse(old); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("previous template: Parse = %s, %v; want %s", js(got), err, js(want))
	}
}

func writeActionsAny() []any {
	var out []any
	for _, a := range writeActions {
		out = append(out, a)
	}
	return out
}
