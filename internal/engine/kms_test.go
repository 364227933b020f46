package engine_test

import (
	"errors"
	"strings"
	"testing"

	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
)

// A user granted on an SSE-KMS bucket may use that bucket's key: the
// grant carries the key (whatever the client sent), the user's template
// names it, and the bucket's key cannot change under the user's feet.
func TestGrantsOnKMSBuckets(t *testing.T) {
	s := newStepper(t)
	ctx := t.Context()
	const key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	kms := bucket("kms-b")
	kms.Bucket.Encryption = core.Encryption{Type: core.EncryptionKMS, KMSKeyARN: key}
	s.submit(s.eng.Service.Create(ctx, alice, "demo", kms))
	s.submit(s.eng.Service.Create(ctx, alice, "demo", bucket("plain-b")))

	u := user("kms-u", 1, "kms-b", "plain-b")
	u.User.Grants[1].KMSKeyARN = "arn:aws:kms:eu-west-1:999999999999:key/not-the-clients-to-say"
	op := s.submit(s.eng.Service.Create(ctx, alice, "demo", u))
	if got := s.operation(op.ID); got.Status != core.OpSucceeded {
		t.Fatalf("create: %s %s", got.Status, got.Error)
	}
	r, err := s.eng.Service.Get(ctx, alice, "demo", core.KindUser, "kms-u")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range r.Spec.User.Grants {
		want := map[string]string{"kms-b": key, "plain-b": ""}[g.Bucket]
		if g.KMSKeyARN != want {
			t.Errorf("grant on %s carries key %q, want %q", g.Bucket, g.KMSKeyARN, want)
		}
	}
	tpl, err := s.l.Sandbox.GetTemplate(ctx, core.Account{ID: "123456789012", Region: "eu-west-1"}, r.Observed.StackID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tpl, key) || strings.Contains(tpl, "not-the-clients-to-say") {
		t.Errorf("the user's template does not name the bucket's key (or names the client's)")
	}
	if back, err := stacks.Parse(tpl); err != nil || !stacks.Equal(back, r.Spec) {
		t.Errorf("the template does not parse back to the user's spec: %v", err)
	}

	// Changing the key, or switching to SSE-S3, is refused while granted.
	other := bucket("kms-b")
	other.Bucket.Encryption = core.Encryption{Type: core.EncryptionKMS, KMSKeyARN: strings.Replace(key, "1234abcd", "9999ffff", 1)}
	for _, spec := range []core.Spec{other, bucket("kms-b")} {
		if _, err := s.eng.Service.Update(ctx, alice, "demo", spec, 0); !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), `"kms-u"`) {
			t.Errorf("changing a granted bucket's key: %v, want a conflict naming kms-u", err)
		}
	}
	// An SSE-S3 bucket becomes SSE-KMS once nobody is granted on it.
	s.submit(s.eng.Service.Update(ctx, alice, "demo", user("kms-u", 1, "kms-b"), 0))
	plain := bucket("plain-b")
	plain.Bucket.Encryption = core.Encryption{Type: core.EncryptionKMS, KMSKeyARN: key}
	if op := s.submit(s.eng.Service.Update(ctx, alice, "demo", plain, 0)); s.operation(op.ID).Status != core.OpSucceeded {
		t.Fatalf("switching an ungranted bucket to SSE-KMS: %s", s.operation(op.ID).Error)
	}
}
