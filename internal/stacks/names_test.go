package stacks

import (
	"regexp"
	"strings"
	"testing"

	"bucketdesk/internal/core"
)

var stackNameRe = regexp.MustCompile(`^[a-zA-Z][-a-zA-Z0-9]*$`)

func checkStackName(t *testing.T, project string, kind core.Kind, name string) string {
	t.Helper()
	s := StackName(project, kind, name)
	if len(s) > MaxStackNameLen || !stackNameRe.MatchString(s) {
		t.Fatalf("StackName(%q, %s, %q) = %q (%d chars) is not a valid stack name", project, kind, name, s, len(s))
	}
	if again := StackName(project, kind, name); again != s {
		t.Fatalf("StackName(%q, %s, %q) is not deterministic: %q then %q", project, kind, name, s, again)
	}
	if !strings.HasPrefix(s, Prefix(project)) {
		t.Fatalf("StackName(%q, %s, %q) = %q lacks the listing prefix %q", project, kind, name, s, Prefix(project))
	}
	if p, ok := ProjectOf(s); !ok || p != project {
		t.Fatalf("ProjectOf(%q) = %q, %v; want %q", s, p, ok, project)
	}
	if k, ok := KindOf(s); !ok || k != kind {
		t.Fatalf("KindOf(%q) = %q, %v; want %q", s, k, ok, kind)
	}
	return s
}

func TestStackNameExamples(t *testing.T) {
	long := strings.Repeat("x", 32)
	tests := []struct {
		project string
		kind    core.Kind
		name    string
		want    string // exact, or a prefix when hashed ends with "--"
	}{
		{"demo", core.KindBucket, "my-bucket", "bd-demo--b-my-bucket"},
		{"demo", core.KindUser, "Alice", "bd-demo--u-Alice"},
		{"demo", core.KindUser, "-lead", "bd-demo--u--lead"},
		{"demo", core.KindBucket, "logs.example.com", "bd-demo--b-logs-example-com--"},
		{"demo", core.KindBucket, "a--b", "bd-demo--b-a--b--"},
		{"demo", core.KindUser, "alice@example.com", "bd-demo--u-alice-example-com--"},
		{"demo", core.KindUser, "a+b_c,d=e", "bd-demo--u-a-b-c-d-e--"},
		{"demo", core.KindUser, "@@", "bd-demo--u----"},
		{long, core.KindUser, strings.Repeat("U", 64), "bd-" + long + "--u-" + strings.Repeat("U", 64)},
		{long, core.KindUser, strings.Repeat("@", 64), "bd-" + long + "--u----"},
	}
	for _, tt := range tests {
		got := checkStackName(t, tt.project, tt.kind, tt.name)
		if strings.HasSuffix(tt.want, "--") {
			rest, ok := strings.CutPrefix(got, tt.want)
			if !ok || !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(rest) {
				t.Errorf("StackName(%q, %s, %q) = %q, want %q and 8 hex digits", tt.project, tt.kind, tt.name, got, tt.want)
			}
		} else if got != tt.want {
			t.Errorf("StackName(%q, %s, %q) = %q, want %q", tt.project, tt.kind, tt.name, got, tt.want)
		}
	}
}

// Names that sanitise to the same text must still get distinct stack
// names, and a plain name must never equal a hashed one.
func TestStackNameNoCollisions(t *testing.T) {
	g := newGen(42)
	type identity struct {
		project string
		kind    core.Kind
		name    string
	}
	seen := map[string]identity{}
	add := func(id identity) {
		t.Helper()
		s := checkStackName(t, id.project, id.kind, id.name)
		if prev, dup := seen[s]; dup && prev != id {
			t.Fatalf("stack name %q for both %+v and %+v", s, prev, id)
		}
		seen[s] = id
	}
	projects := []string{"demo", "demo-a", "a", "ab", "demo-b2"}
	for range 5 {
		projects = append(projects, g.projectID())
	}
	// Adversarial: every name sanitises to "a-b" or is "a-b" itself.
	var tricky []string
	for _, c := range []string{"-", ".", "_", "@", "+", ",", "=", "--", ".-", "@@", "_.", "-_", "_-"} {
		tricky = append(tricky, "a"+c+"b")
	}
	for _, p := range projects {
		for _, n := range tricky {
			add(identity{p, core.KindUser, n})
			if len(core.BucketNameProblems(n)) == 0 {
				add(identity{p, core.KindBucket, n})
			}
		}
	}
	for i := range 40000 {
		p := projects[i%len(projects)]
		add(identity{p, core.KindBucket, g.bucketName()})
		add(identity{p, core.KindUser, g.userName()})
	}
	// The same name as bucket and as user.
	add(identity{"demo", core.KindBucket, "shared-name"})
	add(identity{"demo", core.KindUser, "shared-name"})
	if len(seen) < 50000 {
		t.Fatalf("only %d distinct identities generated", len(seen))
	}
}

func TestStackNamePlainKeptReadable(t *testing.T) {
	g := newGen(7)
	for range 2000 {
		n := g.userName()
		s := StackName("demo", core.KindUser, n)
		plain := isPlain(n) && !strings.Contains(n, "--")
		if plain != (s == "bd-demo--u-"+n) {
			t.Fatalf("StackName of %q = %q; plain=%v", n, s, plain)
		}
	}
}

func TestProjectOfRejects(t *testing.T) {
	for _, s := range []string{"", "bd-", "bd---b-x", "bd-demo", "bd-demo--x-name", "other-demo--b-x", "bd-demo-b-x"} {
		if p, ok := ProjectOf(s); ok {
			t.Errorf("ProjectOf(%q) = %q, true; want false", s, p)
		}
	}
	// A project's prefix must not list a longer project's stacks.
	if strings.HasPrefix(StackName("demo-a", core.KindBucket, "x"), Prefix("demo")) {
		t.Error("Prefix(demo) matches the stacks of demo-a")
	}
}

func TestStackNameUnknownKindPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("StackName with an unknown kind did not panic")
		}
	}()
	StackName("demo", core.Kind("queue"), "x")
}

func TestTagsIdentity(t *testing.T) {
	tags := Tags("demo", core.KindUser, "a,b@c")
	if len(tags) != 3 {
		t.Fatalf("Tags = %v, want three identity tags", tags)
	}
	p, k, n, ok := Identity(tags)
	if !ok || p != "demo" || k != core.KindUser || n != "a,b@c" {
		t.Fatalf("Identity(Tags(...)) = %q %q %q %v", p, k, n, ok)
	}
	tags["other"] = "x" // extra stack tags do not matter
	if _, _, _, ok := Identity(tags); !ok {
		t.Fatal("Identity failed with an extra tag")
	}
	for _, drop := range []string{TagProject, TagKind, TagName} {
		m := Tags("demo", core.KindBucket, "b")
		delete(m, drop)
		if _, _, _, ok := Identity(m); ok {
			t.Errorf("Identity without %s is ok", drop)
		}
	}
	if _, _, _, ok := Identity(Tags("demo", core.Kind("queue"), "b")); ok {
		t.Error("Identity with an unknown kind is ok")
	}
}
