package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
)

// TestValidateJSMatchesCore runs web/validate.js in node over a corpus of
// specs and requires exactly the problems (fields and messages, in order)
// that core's Validate gives: the browser says what the server would.
func TestValidateJSMatchesCore(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIP LOUDLY: node is not installed, so validate.js cannot be compared with core; install nodejs")
	}
	type problem struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	}
	problemsOf := func(err error) []problem {
		out := []problem{}
		var v *core.ValidationError
		if errors.As(err, &v) {
			for _, p := range v.Problems {
				out = append(out, problem{p.Field, p.Message})
			}
		} else if err != nil {
			t.Fatalf("not a ValidationError: %v", err)
		}
		return out
	}

	var buckets []core.BucketSpec
	names := []string{"", "a", "ab", "abc", "my-bucket", "my.bucket.eu", "123", strings.Repeat("a", 63), strings.Repeat("a", 64),
		"My-Bucket", "my_bucket", "-bucket", "bucket-", ".bucket", "bucket.", "my..bucket", "my.-bucket", "my-.bucket",
		"192.168.5.4", "1.2.3.4", "01.2.3.4", "256.1.1.1", "1.2.3", "1.2.3.4.5", "0.0.0.0",
		"xn--bucket", "sthree-bucket", "amzn-s3-demo-bucket", "bucket-s3alias", "bucket--ol-s3", "bucket.mrap", "bucket--x-s3", "bucket--table-s3",
		"é", "éé", "bücket", "UP", "a b", "-", "--", "a..", "xn--", "sthree-x--x-s3"}
	for _, n := range names {
		buckets = append(buckets, core.BucketSpec{Name: n, Encryption: core.Encryption{Type: core.EncryptionS3}})
	}
	arn := "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, e := range []core.Encryption{
		{Type: core.EncryptionS3, KMSKeyARN: arn}, {Type: core.EncryptionKMS}, {Type: core.EncryptionKMS, KMSKeyARN: arn},
		{Type: core.EncryptionKMS, KMSKeyARN: "arn:aws:kms:eu-west-1:123456789012:alias/my/key_1"},
		{Type: core.EncryptionKMS, KMSKeyARN: "alias/my-key"}, {Type: core.EncryptionKMS, KMSKeyARN: "1234abcd-12ab-34cd-56ef-1234567890ab"},
		{Type: core.EncryptionKMS, KMSKeyARN: "arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"},
		{Type: core.EncryptionKMS, KMSKeyARN: "arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/abc"},
		{Type: core.EncryptionKMS, KMSKeyARN: "arn:aws:kms:eu-west-1:12345678901:key/abc"},
		{Type: core.EncryptionKMS, KMSKeyARN: "arn:aws:s3:::bucket"}, {Type: "none"}, {Type: ""}, {Type: "sse-s3"}, {Type: "é\t\"x\\"},
	} {
		buckets = append(buckets, core.BucketSpec{Name: "ok-bucket", Encryption: e})
	}
	for _, d := range []int{-1, 0, 1, 36500, 36501} {
		buckets = append(buckets, core.BucketSpec{Name: "ok-bucket", Encryption: core.Encryption{Type: core.EncryptionS3}, ExpiryDays: d})
	}
	manyTags := map[string]string{}
	for i := 0; i < 48; i++ {
		manyTags[strings.Repeat("k", i+1)] = "v"
	}
	for _, tags := range []map[string]string{
		{"team": "geo", "cost": "p-17"}, {"": "x"}, {strings.Repeat("k", 128): "v"}, {strings.Repeat("k", 129): "v"},
		{"AWS:x": "y"}, {"aws:x": "y"}, {"bucketdesk:project": "y"}, {"Bucketdesk:x": "y"}, {"a*b": "c"}, {"ok": "bad*value"},
		{"ok": strings.Repeat("v", 256)}, {"ok": strings.Repeat("v", 257)}, {"ök ü": "日本語 value"}, {"k": "é" + strings.Repeat("v", 255)},
		{"b": "1", "a": "*", "c": "*", "B": "2"}, manyTags, {"tab\tkey": "v"},
	} {
		buckets = append(buckets, core.BucketSpec{Name: "ok-bucket", Encryption: core.Encryption{Type: core.EncryptionS3}, Tags: tags})
	}

	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q partner@example"
	g := func(b string, a core.Access, p string) core.Grant { return core.Grant{Bucket: b, Access: a, Prefix: p} }
	var users []core.UserSpec
	for _, n := range []string{"", "alice", "svc+etl=1.b@c_d-e", strings.Repeat("x", 64), strings.Repeat("x", 65), "with space", "a,b", "ünïcode", "star*", "é"} {
		users = append(users, core.UserSpec{Name: n, AccessKeys: 1})
	}
	grantSets := [][]core.Grant{
		nil, {g("data.example", core.AccessRead, "")}, {g("data.example", "admin", "")}, {g("data.example", "", "")},
		{g("BAD", core.AccessWrite, "")}, {g("", core.AccessReadWrite, "")},
		{g("b1x", core.AccessRead, "a*")}, {g("b1x", core.AccessRead, "/a")}, {g("b1x", core.AccessRead, "a//b")}, {g("b1x", core.AccessRead, "../a")},
		{g("b1x", core.AccessRead, "..")}, {g("b1x", core.AccessRead, "a/..")}, {g("b1x", core.AccessRead, "a/../b")}, {g("b1x", core.AccessRead, "a\nb")},
		{g("b1x", core.AccessRead, "{x}")}, {g("b1x", core.AccessRead, strings.Repeat("p", 512))}, {g("b1x", core.AccessRead, strings.Repeat("p", 513))},
		{g("b1x", core.AccessRead, "in/"), g("b1x", core.AccessWrite, "in/"), g("b1x", core.AccessRead, "in/"), g("b1x", core.AccessRead, "out/")},
		{g("b1x", core.AccessRead, ""), g("b2x", core.AccessRead, ""), g("b3x", core.AccessRead, ""), g("b4x", core.AccessRead, ""), g("b5x", core.AccessRead, ""),
			g("b6x", core.AccessRead, ""), g("b7x", core.AccessRead, ""), g("b8x", core.AccessRead, ""), g("b9x", core.AccessRead, ""), g("b10", core.AccessRead, ""), g("b11", core.AccessRead, "")},
	}
	for _, gs := range grantSets {
		users = append(users, core.UserSpec{Name: "etl", Grants: gs, AccessKeys: 1})
	}
	for _, k := range []int{-1, 0, 1, 2, 3} {
		users = append(users, core.UserSpec{Name: "etl", AccessKeys: k})
	}
	for _, s := range [][]int{{1}, {1, 2}, {1, 2, 3}, {-1, 0}} {
		users = append(users, core.UserSpec{Name: "etl", AccessKeys: 1, KeySerials: s})
	}
	one := []core.Grant{g("data.example", core.AccessRead, "in/")}
	for _, sftp := range []core.SFTP{
		{Enabled: true}, {Enabled: true, SSHKeys: []string{key}}, {Enabled: false, SSHKeys: []string{key}},
		{Enabled: true, SSHKeys: []string{"ssh-dss AAAA"}}, {Enabled: true, SSHKeys: []string{"  " + key + "  "}},
		{Enabled: true, SSHKeys: []string{"ssh-rsa AAAA== c", "ecdsa-sha2-nistp256 AAAA", "ssh-ed25519 AAA=== x", "ssh-ed25519 AAA====", "ssh-ed25519", "ssh-ed25519  AAAA"}},
		{Enabled: true, SSHKeys: []string{key, key, key, key, key, key, key, key, key, key, key}},
	} {
		users = append(users, core.UserSpec{Name: "etl", Grants: one, AccessKeys: 1, SFTP: sftp})
	}
	users = append(users, core.UserSpec{Name: "etl", AccessKeys: 1, SFTP: core.SFTP{Enabled: true, SSHKeys: []string{key}}})
	// An end date is judged against the clock (TestAccessUntilJSMatchesCore), not here.
	users = append(users, core.UserSpec{Name: "etl", Grants: one, AccessKeys: 1, AccessUntil: time.Date(2027, 3, 31, 17, 30, 0, 0, time.UTC)},
		core.UserSpec{Name: "etl", AccessKeys: 1, AccessUntil: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), Expired: true})

	type want struct {
		Buckets [][]problem `json:"buckets"`
		Users   [][]problem `json:"users"`
	}
	var w want
	for i := range buckets {
		w.Buckets = append(w.Buckets, problemsOf(buckets[i].Validate()))
	}
	for i := range users {
		w.Users = append(w.Users, problemsOf(users[i].Validate()))
	}

	dir := t.TempDir()
	input, err := json.Marshal(map[string]any{"buckets": buckets, "users": users})
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs("validate.js")
	if err != nil {
		t.Fatal(err)
	}
	script := `import { validateBucket, validateUser } from ` + jsString("file://"+filepath.ToSlash(abs)) + `;
import { readFileSync } from 'node:fs';
const input = JSON.parse(readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify({ buckets: input.buckets.map(validateBucket), users: input.users.map(validateUser) }));
`
	path := filepath.Join(dir, "run.mjs")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, path)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var got want
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output: %v\n%s", err, out)
	}
	for i := range buckets {
		if !reflect.DeepEqual(got.Buckets[i], w.Buckets[i]) {
			t.Errorf("bucket %+v:\n js: %v\n go: %v", buckets[i], got.Buckets[i], w.Buckets[i])
		}
	}
	for i := range users {
		if !reflect.DeepEqual(got.Users[i], w.Users[i]) {
			t.Errorf("user %+v:\n js: %v\n go: %v", users[i], got.Users[i], w.Users[i])
		}
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBucketReferencesJSMatchesRender: the browser refuses a bucket named
// as the project's log bucket with the server's words (stacks.Render).
func TestBucketReferencesJSMatchesRender(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIP LOUDLY: node is not installed, so validate.js cannot be compared with the server; install nodejs")
	}
	p := &core.Project{ID: "demo", AccountID: "123456789012", Region: "eu-west-1", LogBucket: "demo-logs"}
	cases := []string{"demo-logs", "demo-logs2", "other"}
	var want [][]core.FieldError
	for _, name := range cases {
		_, _, err := stacks.Render(p, core.Spec{Bucket: &core.BucketSpec{Name: name, Encryption: core.Encryption{Type: core.EncryptionS3}}})
		var v *core.ValidationError
		switch {
		case err == nil:
			want = append(want, []core.FieldError{})
		case errors.As(err, &v):
			want = append(want, v.Problems)
		default:
			t.Fatalf("render %s: %v", name, err)
		}
	}
	abs, err := filepath.Abs("validate.js")
	if err != nil {
		t.Fatal(err)
	}
	script := `import { checkBucketReferences } from ` + jsString("file://"+filepath.ToSlash(abs)) + `;
const project = { id: "demo", log_bucket: "demo-logs" };
process.stdout.write(JSON.stringify(` + jsString(strings.Join(cases, ",")) + `.split(",").map((name) => checkBucketReferences({ name }, project))));
`
	path := filepath.Join(t.TempDir(), "refs.mjs")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, path).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got [][]core.FieldError
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(got, want) || len(want[0]) != 1 {
		t.Errorf("js %v\ngo %v", got, want)
	}
}

// TestAccessUntilJSMatchesCore: the browser judges an end date as the
// server does (core.AccessUntilProblem), at the same now.
func TestAccessUntilJSMatchesCore(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIP LOUDLY: node is not installed, so validate.js cannot be compared with core; install nodejs")
	}
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	type tc struct {
		Next, Prev time.Time
	}
	var cases []tc
	for _, next := range []time.Time{{}, now, now.Add(-time.Second), now.Add(time.Second), now.Add(-30 * 24 * time.Hour),
		now.AddDate(0, 0, 3), now.Add(core.MaxAccessDays * 24 * time.Hour), now.Add(core.MaxAccessDays*24*time.Hour + time.Second), now.AddDate(5, 0, 0)} {
		for _, prev := range []time.Time{{}, next, now.AddDate(0, 0, -1)} {
			cases = append(cases, tc{next, prev})
		}
	}
	var want []string
	for _, c := range cases {
		want = append(want, core.AccessUntilProblem(c.Next, c.Prev, now))
	}
	rfc := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format(time.RFC3339)
	}
	var in [][2]string
	for _, c := range cases {
		in = append(in, [2]string{rfc(c.Next), rfc(c.Prev)})
	}
	input, _ := json.Marshal(in)
	abs, err := filepath.Abs("validate.js")
	if err != nil {
		t.Fatal(err)
	}
	script := `import { accessUntilProblem } from ` + jsString("file://"+filepath.ToSlash(abs)) + `;
const now = new Date(` + jsString(now.Format(time.RFC3339)) + `);
const input = ` + string(input) + `;
process.stdout.write(JSON.stringify(input.map(([next, prev]) => accessUntilProblem(next, prev, now))));
`
	path := filepath.Join(t.TempDir(), "until.mjs")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, path).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got []string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output: %v\n%s", err, out)
	}
	if len(got) != len(want) {
		t.Fatalf("js gave %d answers for %d cases", len(got), len(want))
	}
	for i := range cases {
		if got[i] != want[i] {
			t.Errorf("next %s prev %s: js %q, go %q", in[i][0], in[i][1], got[i], want[i])
		}
	}
}
