package stacks

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/core"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// demoLogBucket is the demo project's server access log bucket, named as
// deploy/project-account.yaml names it.
const demoLogBucket = "bucketdesk-logs-123456789012-eu-west-1"

func demoProject() *core.Project {
	return &core.Project{
		ID: "demo", Name: "Demo", AccountID: "123456789012", Region: "eu-west-1",
		TransferServerID: "s-0123456789abcdef0", LogBucket: demoLogBucket, Members: []string{"alice"},
	}
}

const kmsKey = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

var goldenSpecs = map[string]core.Spec{
	"bucket-minimal": {Bucket: &core.BucketSpec{Name: "demo-minimal", Encryption: core.Encryption{Type: core.EncryptionS3}}},
	"bucket-kms": {Bucket: &core.BucketSpec{
		Name: "demo-archive.eu", Versioning: true, ExpiryDays: 365,
		Encryption: core.Encryption{Type: core.EncryptionKMS, KMSKeyARN: kmsKey},
		Tags:       map[string]string{"owner": "data@example.com", "cost-center": "4711"},
	}},
	// Versioned once, then turned off: suspended, with the noncurrent
	// versions and delete markers of its expiry.
	"bucket-suspended": {Bucket: &core.BucketSpec{
		Name: "demo-was-versioned", VersioningSuspended: true, ExpiryDays: 30,
		Encryption: core.Encryption{Type: core.EncryptionS3},
	}},
	"user-reader": {User: &core.UserSpec{
		Name:   "reader",
		Grants: []core.Grant{{Bucket: "demo-minimal", Access: core.AccessRead}},
	}},
	// Access that ends: the end date on every statement.
	"user-until": {User: &core.UserSpec{
		Name:        "partner-until",
		Grants:      []core.Grant{{Bucket: "demo-share", Access: core.AccessRead, Prefix: "out/"}, {Bucket: "demo-kms", Access: core.AccessWrite, KMSKeyARN: kmsKey}},
		AccessKeys:  1,
		AccessUntil: time.Date(2027, 3, 31, 17, 30, 0, 0, time.UTC),
		SFTP:        core.SFTP{Enabled: true, SSHKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq8cq2Y0xPVyOb0aZ0QWPH6cFbO0v9vP3Zc3q1sLk7M partner@host"}},
	}},
	// The same user once its end date passed: keys Inactive, no Transfer
	// user, its SSH keys kept in the metadata.
	"user-expired": {User: &core.UserSpec{
		Name:        "partner-until",
		Grants:      []core.Grant{{Bucket: "demo-share", Access: core.AccessRead, Prefix: "out/"}, {Bucket: "demo-kms", Access: core.AccessWrite, KMSKeyARN: kmsKey}},
		AccessKeys:  1,
		AccessUntil: time.Date(2027, 3, 31, 17, 30, 0, 0, time.UTC),
		Expired:     true,
		SFTP:        core.SFTP{Enabled: true, SSHKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq8cq2Y0xPVyOb0aZ0QWPH6cFbO0v9vP3Zc3q1sLk7M partner@host"}},
	}},
	"user-full": {User: &core.UserSpec{
		// Transfer Family user names allow no "+" (TestSFTPUserNameRefused).
		Name: "acme.partner@example.com",
		Grants: []core.Grant{
			{Bucket: "demo-share", Access: core.AccessReadWrite},
			{Bucket: "demo-raw", Access: core.AccessRead, Prefix: "in/acme/"},
			{Bucket: "demo-out", Access: core.AccessWrite, Prefix: "acme/"},
			{Bucket: "demo-raw", Access: core.AccessReadWrite, Prefix: "tmp/acme/"},
			{Bucket: "demo-share", Access: core.AccessRead, Prefix: "public/"},
		},
		AccessKeys: 2,
		KeySerials: []int{1, 2},
		SFTP: core.SFTP{Enabled: true, SSHKeys: []string{
			"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq8cq2Y0xPVyOb0aZ0QWPH6cFbO0v9vP3Zc3q1sLk7M acme@laptop",
			"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDRJIxdlBoADrUVUt9eC1/FVlvDWXz6fpBrDUBVuKBZ6BntCvz2iq5Xmk/xU0qtUD1gkpmHOzXKnfYFmiFsXki/TDh7GwRJk3ZxZbEOEnzZzvr5CEoP13uL2+BHO2ah62O5tejb0jEIv/8ImEMEYVlDxrEryUxf9A8uwcaKnD0y8eKvbjbIPlgp5XuQXQjFOLgVVEajzLcpv4IMUtgjNVBpqUMYSu9ZrF0hh1xYdxH0tyjiUucW08P2CF5dsIVADg/1VNBAqFD8/9nX9vWZPF3LygaTU2IbOYAr0kT30Tudthp0aWx8jWO5M3veuXAyW9tyondnun1IjBWZ8K18DVcB ci@acme",
		}},
	}},
}

func TestGolden(t *testing.T) {
	for name, spec := range goldenSpecs {
		t.Run(name, func(t *testing.T) {
			got, caps, err := Render(demoProject(), spec)
			if err != nil {
				t.Fatal(err)
			}
			wantCaps := []string(nil)
			if spec.User != nil {
				wantCaps = []string{CapabilityNamedIAM}
			}
			if !slices.Equal(caps, wantCaps) {
				t.Errorf("capabilities = %v, want %v", caps, wantCaps)
			}
			path := filepath.Join("testdata", name+".json")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("template differs from %s (run go test -update after checking the change):\n%s", path, got)
			}
			back, err := Parse(string(want))
			if err != nil {
				t.Fatalf("Parse(%s): %v", path, err)
			}
			if !Equal(back, spec) {
				t.Errorf("Parse(%s) = %s, want %s", path, js(back), js(Canonical(spec)))
			}
		})
	}
}

func js(v any) string { b, _ := json.Marshal(v); return string(b) }

// decoded renders spec and returns the template as generic JSON.
func decoded(t *testing.T, p *core.Project, spec core.Spec) map[string]any {
	t.Helper()
	s, _, err := Render(p, spec)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// at walks a path of map keys and slice indexes through generic JSON.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func TestBucketTemplateSecurity(t *testing.T) {
	for _, name := range []string{"bucket-minimal", "bucket-kms", "bucket-suspended"} {
		m := decoded(t, demoProject(), goldenSpecs[name])
		if v := at(m, "AWSTemplateFormatVersion"); v != "2010-09-09" {
			t.Errorf("%s: AWSTemplateFormatVersion = %v", name, v)
		}
		if d, _ := at(m, "Description").(string); !strings.Contains(d, "bucketdesk") || !strings.Contains(d, goldenSpecs[name].Bucket.Name) {
			t.Errorf("%s: Description %q names neither bucketdesk nor the bucket", name, d)
		}
		props := at(m, "Resources", "Bucket", "Properties")
		for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
			if at(props, "PublicAccessBlockConfiguration", k) != true {
				t.Errorf("%s: PublicAccessBlockConfiguration.%s is not true", name, k)
			}
		}
		if at(props, "OwnershipControls", "Rules", 0, "ObjectOwnership") != "BucketOwnerEnforced" {
			t.Errorf("%s: ACLs are not disabled", name)
		}
		stmt := at(m, "Resources", "BucketPolicy", "Properties", "PolicyDocument", "Statement", 0)
		if at(stmt, "Effect") != "Deny" || at(stmt, "Principal") != "*" || at(stmt, "Condition", "Bool", "aws:SecureTransport") != "false" {
			t.Errorf("%s: no TLS deny statement: %s", name, js(stmt))
		}
		if js(at(stmt, "Resource")) != `[{"Fn::GetAtt":["Bucket","Arn"]},{"Fn::Sub":"${Bucket.Arn}/*"}]` {
			t.Errorf("%s: TLS deny does not cover bucket and objects: %s", name, js(at(stmt, "Resource")))
		}
		if js(at(m, "Outputs")) != `{"BucketArn":{"Value":{"Fn::GetAtt":["Bucket","Arn"]}},"BucketName":{"Value":{"Ref":"Bucket"}}}` {
			t.Errorf("%s: Outputs = %s", name, js(at(m, "Outputs")))
		}
	}
	sse := at(decoded(t, demoProject(), goldenSpecs["bucket-minimal"]), "Resources", "Bucket", "Properties", "BucketEncryption", "ServerSideEncryptionConfiguration", 0)
	if js(sse) != `{"ServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}` {
		t.Errorf("SSE-S3 encryption = %s", js(sse))
	}
	sse = at(decoded(t, demoProject(), goldenSpecs["bucket-kms"]), "Resources", "Bucket", "Properties", "BucketEncryption", "ServerSideEncryptionConfiguration", 0)
	if at(sse, "ServerSideEncryptionByDefault", "SSEAlgorithm") != "aws:kms" || at(sse, "ServerSideEncryptionByDefault", "KMSMasterKeyID") != kmsKey || at(sse, "BucketKeyEnabled") != true {
		t.Errorf("SSE-KMS encryption = %s", js(sse))
	}
}

func TestUserTemplateSecretsNeverOutputs(t *testing.T) {
	m := decoded(t, demoProject(), goldenSpecs["user-full"])
	outputs := at(m, "Outputs").(map[string]any)
	if strings.Contains(js(outputs), "SecretAccessKey") || strings.Contains(js(outputs), "SecretString") {
		t.Errorf("outputs mention a secret value: %s", js(outputs))
	}
	for i := 1; i <= 2; i++ {
		key := fmt.Sprintf("AccessKey%d", i)
		if got := js(outputs[key+"SecretArn"]); got != fmt.Sprintf(`{"Value":{"Ref":"%sSecret"}}`, key) {
			t.Errorf("%sSecretArn = %s", key, got)
		}
		if got := js(outputs[key+"Id"]); got != fmt.Sprintf(`{"Value":{"Ref":"%s"}}`, key) {
			t.Errorf("%sId = %s", key, got)
		}
		want := fmt.Sprintf(`{"AccessKeyId":"${%[1]s}","SecretAccessKey":"${%[1]s.SecretAccessKey}"}`, key)
		if got := at(m, "Resources", key+"Secret", "Properties", "SecretString", "Fn::Sub"); got != want {
			t.Errorf("%sSecret.SecretString = %v", key, got)
		}
	}
	var keys []string
	for k := range outputs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"AccessKey1Id", "AccessKey1SecretArn", "AccessKey2Id", "AccessKey2SecretArn", "SftpServerId", "SftpUserName", "UserArn", "UserName"}
	if !slices.Equal(keys, want) {
		t.Errorf("outputs = %v, want %v", keys, want)
	}
	// The secret value is only ever referenced inside the secret.
	for id, r := range at(m, "Resources").(map[string]any) {
		if !strings.HasSuffix(id, "Secret") && strings.Contains(js(r), "SecretAccessKey") {
			t.Errorf("resource %s references the secret access key", id)
		}
	}
}

func TestUserTemplateShape(t *testing.T) {
	m := decoded(t, demoProject(), goldenSpecs["user-full"])
	res := at(m, "Resources")
	if at(res, "User", "Properties", "Path") != UserPath || at(res, "User", "Properties", "UserName") != "acme.partner@example.com" {
		t.Errorf("User = %s", js(at(res, "User")))
	}
	if at(res, "AccessKey1", "Properties", "Serial") != 1.0 || at(res, "AccessKey2", "Properties", "Serial") != 2.0 {
		t.Errorf("serials = %v, %v", at(res, "AccessKey1", "Properties", "Serial"), at(res, "AccessKey2", "Properties", "Serial"))
	}
	if at(res, "AccessKey1Secret", "Properties", "Name") != "bucketdesk/demo/acme.partner@example.com/key1" {
		t.Errorf("secret name = %v", at(res, "AccessKey1Secret", "Properties", "Name"))
	}
	sftp := at(res, "SftpUser", "Properties")
	if at(sftp, "ServerId") != "s-0123456789abcdef0" || at(sftp, "HomeDirectoryType") != "LOGICAL" || len(at(sftp, "SshPublicKeys").([]any)) != 2 {
		t.Errorf("SftpUser = %s", js(sftp))
	}
	// demo-share is granted whole, so its public/ prefix needs no folder.
	wantMap := `[{"Entry":"/demo-out/acme","Target":"/demo-out/acme"},{"Entry":"/demo-raw/in/acme","Target":"/demo-raw/in/acme"},{"Entry":"/demo-raw/tmp/acme","Target":"/demo-raw/tmp/acme"},{"Entry":"/demo-share","Target":"/demo-share"}]`
	if got := js(at(sftp, "HomeDirectoryMappings")); got != wantMap {
		t.Errorf("HomeDirectoryMappings = %s\nwant %s", got, wantMap)
	}
	if js(at(res, "SftpRole", "Properties", "Policies")) != js(at(res, "User", "Properties", "Policies")) {
		t.Error("the SFTP role's policy differs from the user's")
	}
	trust := at(res, "SftpRole", "Properties", "AssumeRolePolicyDocument", "Statement", 0)
	if at(trust, "Principal", "Service") != "transfer.amazonaws.com" || at(trust, "Condition", "StringEquals", "aws:SourceAccount") != "123456789012" {
		t.Errorf("SftpRole trust = %s", js(trust))
	}

	m = decoded(t, demoProject(), goldenSpecs["user-reader"])
	for _, id := range []string{"AccessKey1", "AccessKey1Secret", "SftpRole", "SftpUser"} {
		if at(m, "Resources", id) != nil {
			t.Errorf("user-reader has %s", id)
		}
	}
	m = decoded(t, demoProject(), core.Spec{User: &core.UserSpec{Name: "nobody"}})
	if at(m, "Resources", "User", "Properties", "Policies") != nil {
		t.Error("a user without grants has a policy")
	}
}

func TestRenderErrors(t *testing.T) {
	noServer := demoProject()
	noServer.TransferServerID = ""
	tests := []struct {
		name string
		p    *core.Project
		spec core.Spec
		want string
	}{
		{"invalid spec", demoProject(), core.Spec{Bucket: &core.BucketSpec{Name: "UPPER", Encryption: core.Encryption{Type: core.EncryptionS3}}}, "name"},
		{"no kind", demoProject(), core.Spec{}, "exactly one"},
		{"no project", nil, goldenSpecs["bucket-minimal"], "project"},
		{"sftp without server", noServer, goldenSpecs["user-full"], "Transfer server"},
		{"bucket is the log bucket", demoProject(), core.Spec{Bucket: &core.BucketSpec{Name: demoLogBucket, Encryption: core.Encryption{Type: core.EncryptionS3}}},
			"bucketdesk-logs-123456789012-eu-west-1 is the server access log bucket of project demo; a bucket cannot log into itself"},
	}
	for _, tt := range tests {
		_, _, err := Render(tt.p, tt.spec)
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Render error = %v, want ErrInvalid mentioning %q", tt.name, err, tt.want)
		}
	}
}

func TestRenderDeterministic(t *testing.T) {
	g := newGen(3)
	for range 300 {
		spec := g.spec()
		a, _, err := Render(demoProject(), spec)
		if err != nil {
			t.Fatal(err)
		}
		b, _, _ := Render(demoProject(), Canonical(spec))
		if a != b {
			t.Fatalf("Render(spec) and Render(Canonical(spec)) differ for %s", js(spec))
		}
		if u := spec.User; u != nil && len(u.Grants) > 1 {
			shuffled := *u
			shuffled.Grants = slices.Clone(u.Grants)
			g.r.Shuffle(len(shuffled.Grants), func(i, j int) {
				shuffled.Grants[i], shuffled.Grants[j] = shuffled.Grants[j], shuffled.Grants[i]
			})
			if c, _, _ := Render(demoProject(), core.Spec{User: &shuffled}); c != a {
				t.Fatalf("reordering grants changed the template of %s", js(spec))
			}
		}
	}
}

func TestPartition(t *testing.T) {
	p := demoProject()
	p.Region = "cn-north-1"
	m := decoded(t, p, goldenSpecs["user-reader"])
	if !strings.Contains(js(at(m, "Resources", "User", "Properties", "Policies")), `"arn:aws-cn:s3:::demo-minimal"`) {
		t.Errorf("China region policy does not use the aws-cn partition")
	}
	back, err := Parse(js(m))
	if err != nil || !Equal(back, goldenSpecs["user-reader"]) {
		t.Errorf("Parse of an aws-cn template = %s, %v", js(back), err)
	}
}

func TestSecretSegment(t *testing.T) {
	seen := map[string]string{}
	for _, n := range []string{"alice", "a,b", "a-b", "a--b", "a-b--1234abcd", "a.b@c+d=e_f"} {
		s := secretSegment(n)
		if strings.Contains(s, ",") {
			t.Errorf("secret segment of %q = %q has a comma", n, s)
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("secret segment %q for %q and %q", s, prev, n)
		}
		seen[s] = n
	}
	if secretSegment("alice@example.com") != "alice@example.com" {
		t.Error("a name Secrets Manager accepts is not kept as is")
	}
}

// Every bucket of a project with a log bucket logs into it, under a folder
// named after the bucket; a project without one renders no logging; the
// log bucket itself cannot be a project bucket (it would log into itself).
func TestBucketServerAccessLogging(t *testing.T) {
	for _, name := range []string{"bucket-minimal", "bucket-kms", "bucket-suspended"} {
		spec := goldenSpecs[name]
		m := decoded(t, demoProject(), spec)
		want := fmt.Sprintf(`{"DestinationBucketName":%q,"LogFilePrefix":%q}`, demoLogBucket, spec.Bucket.Name+"/")
		if got := js(at(m, "Resources", "Bucket", "Properties", "LoggingConfiguration")); got != want {
			t.Errorf("%s: LoggingConfiguration = %s, want %s", name, got, want)
		}
		noLogs := demoProject()
		noLogs.LogBucket = ""
		m = decoded(t, noLogs, spec)
		if lc := at(m, "Resources", "Bucket", "Properties", "LoggingConfiguration"); lc != nil {
			t.Errorf("%s: a project without a log bucket renders LoggingConfiguration %s", name, js(lc))
		}
		// Logging is the project's, not the spec's: both templates parse
		// back to the same spec.
		back, err := Parse(js(m))
		if err != nil || !Equal(back, spec) {
			t.Errorf("%s: Parse without logging = %s, %v", name, js(back), err)
		}
	}
	if LogFilePrefix("demo-archive.eu") != "demo-archive.eu/" {
		t.Errorf("LogFilePrefix = %q", LogFilePrefix("demo-archive.eu"))
	}
	// Users are not logged; their templates do not depend on it.
	noLogs := demoProject()
	noLogs.LogBucket = ""
	a, _, _ := Render(demoProject(), goldenSpecs["user-full"])
	b, _, _ := Render(noLogs, goldenSpecs["user-full"])
	if a != b {
		t.Error("a user's template depends on the project's log bucket")
	}

	self := core.Spec{Bucket: &core.BucketSpec{Name: demoLogBucket, Encryption: core.Encryption{Type: core.EncryptionS3}}}
	_, _, err := Render(demoProject(), self)
	var v *core.ValidationError
	if !errors.As(err, &v) || len(v.Problems) != 1 || v.Problems[0].Field != "name" ||
		!strings.Contains(v.Problems[0].Message, "cannot log into itself") {
		t.Errorf("bucket named as the log bucket: Render error %v, want a validation error on name", err)
	}
	// In a project without a log bucket that name is an ordinary bucket.
	if _, _, err := Render(noLogs, self); err != nil {
		t.Errorf("the same name in a project without a log bucket: %v", err)
	}
}

// Parse accepts a LoggingConfiguration of CloudFormation's shape and
// ignores its values; an unknown key in it is still an error.
func TestParseLoggingConfiguration(t *testing.T) {
	tpl, _, err := Render(demoProject(), goldenSpecs["bucket-minimal"])
	if err != nil {
		t.Fatal(err)
	}
	other := strings.Replace(tpl, `"DestinationBucketName": "`+demoLogBucket+`"`, `"DestinationBucketName": {"Ref": "Elsewhere"}`, 1)
	if other == tpl {
		t.Fatal("the rendered template has no DestinationBucketName to replace")
	}
	if back, err := Parse(other); err != nil || !Equal(back, goldenSpecs["bucket-minimal"]) {
		t.Errorf("Parse with another destination = %s, %v", js(back), err)
	}
	unknown := strings.Replace(tpl, `"LogFilePrefix":`, `"Grants": [], "LogFilePrefix":`, 1)
	if _, err := Parse(unknown); !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "Grants") {
		t.Errorf("Parse with an unknown LoggingConfiguration key: %v, want ErrInvalid naming it", err)
	}
}
