package engine_test

import (
	"errors"
	"strings"
	"testing"

	"bucketdesk/internal/core"
)

// Access keys change only when asked, and never beyond IAM's two keys per
// user at once: CloudFormation makes a new key before it deletes the old.
func TestAccessKeysChangeOnlyWhenAsked(t *testing.T) {
	s := newStepper(t)
	ctx := t.Context()
	s.submit(s.eng.Service.Create(ctx, alice, "demo", bucket("keys-b")))
	s.submit(s.eng.Service.Create(ctx, alice, "demo", user("keys-u", 1, "keys-b")))
	keyID := func(slot string) string {
		t.Helper()
		r, err := s.eng.Service.Get(ctx, alice, "demo", core.KindUser, "keys-u")
		if err != nil {
			t.Fatal(err)
		}
		return r.Observed.Outputs["AccessKey"+slot+"Id"]
	}
	succeeded := func(op *core.Operation) {
		t.Helper()
		if got := s.operation(op.ID); got.Status != core.OpSucceeded {
			t.Fatalf("%s ended %s: %s", got.Action, got.Status, got.Error)
		}
	}
	first := keyID("1")

	// One key: rotating it is legal (two keys for a moment).
	succeeded(s.submit(s.eng.Service.RotateKey(ctx, alice, "demo", "keys-u", 0, 0)))
	rotated := keyID("1")
	if rotated == "" || rotated == first {
		t.Fatalf("key 1 not rotated: %q → %q", first, rotated)
	}

	// A PUT without key_serials keeps the rotated key; adding key 2 is
	// legal too.
	succeeded(s.submit(s.eng.Service.Update(ctx, alice, "demo", user("keys-u", 2, "keys-b"), 0)))
	if got := keyID("1"); got != rotated {
		t.Fatalf("a PUT without key_serials replaced key 1: %q → %q", rotated, got)
	}
	second := keyID("2")
	if second == "" {
		t.Fatal("key 2 not made")
	}

	// Two keys: every path that needs a third at once is refused alike,
	// before it is accepted.
	u := user("keys-u", 2, "keys-b")
	u.User.KeySerials = []int{3, 1}
	_, errPut := s.eng.Service.Update(ctx, alice, "demo", u, 0)
	_, errRotate := s.eng.Service.RotateKey(ctx, alice, "demo", "keys-u", 1, 0)
	for name, err := range map[string]error{"PUT with a new serial": errPut, "rotate key 2": errRotate} {
		if !errors.Is(err, core.ErrConflict) || !strings.Contains(err.Error(), "two steps") || !strings.Contains(err.Error(), "3 access keys at once") {
			t.Errorf("%s: %v, want a conflict explaining the two steps", name, err)
		}
	}

	// The two steps: drop key 2 (keeping key 1), then rotate key 1.
	succeeded(s.submit(s.eng.Service.Update(ctx, alice, "demo", user("keys-u", 1, "keys-b"), 0)))
	if got := keyID("1"); got != rotated || keyID("2") != "" {
		t.Fatalf("after dropping key 2: key 1 %q (want %q), key 2 %q", got, rotated, keyID("2"))
	}
	succeeded(s.submit(s.eng.Service.RotateKey(ctx, alice, "demo", "keys-u", 0, 0)))
	if got := keyID("1"); got == rotated {
		t.Fatal("key 1 not rotated the second time")
	}
}
