package stacks

import (
	"errors"
	"strings"
	"testing"

	"bucketdesk/internal/core"
)

// Every Allow statement of an end-dated user's grants policy (the user's
// and the SFTP role's) carries the end date as DateLessThan
// aws:CurrentTime, next to the statement's own conditions.
func TestEndDateOnEveryStatement(t *testing.T) {
	m := decoded(t, demoProject(), goldenSpecs["user-until"])
	for _, path := range [][]any{
		{"Resources", "User", "Properties", "Policies", 0, "PolicyDocument", "Statement"},
		{"Resources", "SftpRole", "Properties", "Policies", 0, "PolicyDocument", "Statement"},
	} {
		stmts, _ := at(m, path...).([]any)
		if len(stmts) < 4 {
			t.Fatalf("%v: %d statements, want the bucket, prefix, object and KMS statements", path, len(stmts))
		}
		for i, s := range stmts {
			st := s.(map[string]any)
			got := at(st, "Condition", "DateLessThan", "aws:CurrentTime")
			if st["Effect"] != "Allow" || got != "2027-03-31T17:30:00Z" {
				t.Errorf("%v statement %d: Effect %v, DateLessThan aws:CurrentTime %v", path[1], i, st["Effect"], got)
			}
		}
		// The other conditions stay.
		kms := stmts[len(stmts)-1].(map[string]any)
		if at(kms, "Condition", "StringEquals", "kms:ViaService") == nil {
			t.Errorf("%v: the KMS statement lost its kms:ViaService condition: %v", path[1], kms["Condition"])
		}
	}
	if at(m, "Resources", "AccessKey1", "Properties", "Status") != "Active" {
		t.Error("a user before its end date has an inactive key")
	}
	// No end date, no condition.
	plain := decoded(t, demoProject(), goldenSpecs["user-full"])
	if s := js(at(plain, "Resources", "User", "Properties", "Policies")); strings.Contains(s, "DateLessThan") || plain["Metadata"] != nil {
		t.Errorf("a user without an end date has one: %s", s)
	}
}

// Once expired, the keys are Inactive, the Transfer user and its role are
// gone, and the SFTP settings wait in the metadata for an extension.
func TestExpiredUserDeactivated(t *testing.T) {
	m := decoded(t, demoProject(), goldenSpecs["user-expired"])
	if got := at(m, "Resources", "AccessKey1", "Properties", "Status"); got != "Inactive" {
		t.Errorf("key Status %v, want Inactive", got)
	}
	for _, id := range []string{"SftpUser", "SftpRole"} {
		if at(m, "Resources", id) != nil {
			t.Errorf("an expired user still has %s", id)
		}
	}
	if at(m, "Outputs", "SftpUserName") != nil {
		t.Error("an expired user still outputs its SFTP user")
	}
	if at(m, "Metadata", MetadataKey, "Expired") != true || at(m, "Metadata", MetadataKey, "SftpSshPublicKeys", 0) == nil {
		t.Errorf("metadata %v", m["Metadata"])
	}
	// Extending the end date gives the active template back.
	ext := Canonical(goldenSpecs["user-expired"])
	ext.User.Expired = false
	a, _, _ := Render(demoProject(), ext)
	b, _, _ := Render(demoProject(), goldenSpecs["user-until"])
	if a != b {
		t.Error("an extended user's template differs from the active one")
	}
}

// Parse refuses templates whose end date is not the same everywhere, and
// inactive keys of a user that has not expired.
func TestParseEndDateMismatch(t *testing.T) {
	good, _, err := Render(demoProject(), goldenSpecs["user-until"])
	if err != nil {
		t.Fatal(err)
	}
	expired, _, _ := Render(demoProject(), goldenSpecs["user-expired"])
	for _, tc := range []struct{ name, template, want string }{
		// The last statements are the user's (the SFTP role's policy is
		// derived from the grants, and not read).
		{"one statement other date", replaceLast(good, `"aws:CurrentTime": "2027-03-31T17:30:00Z"`, `"aws:CurrentTime": "2027-04-01T00:00:00Z"`), "differs from the end date"},
		{"one statement without", replaceLast(good, `"DateLessThan": {`, `"DateLessThanEquals": {`), "missing the end date"},
		{"no metadata", strings.Replace(good, `"Bucketdesk": {`, `"Other": {`, 1), "unexpected DateLessThan"},
		{"inactive key, not expired", strings.Replace(good, `"Status": "Active"`, `"Status": "Inactive"`, 1), `unexpected Status "Inactive"`},
		{"active key, expired", strings.Replace(expired, `"Status": "Inactive"`, `"Status": "Active"`, 1), `unexpected Status "Active"`},
	} {
		if tc.template == good || tc.template == expired {
			t.Fatalf("%s: the replacement matched nothing", tc.name)
		}
		_, err := Parse(tc.template)
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalid with %q", tc.name, err, tc.want)
		}
	}
}

func replaceLast(s, old, new string) string {
	i := strings.LastIndex(s, old)
	if i < 0 {
		return s
	}
	return s[:i] + new + s[i+len(old):]
}
