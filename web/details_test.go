package web

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"bucketdesk/internal/core"
	"bucketdesk/internal/stacks"
)

// TestHomeFoldersJSMatchRender: the detail view shows a user's SFTP home
// folders as the template maps them (web/details.js homeFolders against
// the HomeDirectoryMappings of stacks.Render).
func TestHomeFoldersJSMatchRender(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIP LOUDLY: node is not installed, so details.js cannot be compared with the server; install nodejs")
	}
	p := &core.Project{ID: "demo", AccountID: "123456789012", Region: "eu-west-1", TransferServerID: "s-0123456789abcdef0"}
	g := func(b string, a core.Access, pre string) core.Grant {
		return core.Grant{Bucket: b, Access: a, Prefix: pre}
	}
	sets := [][]core.Grant{
		{g("demo-a", core.AccessRead, "")},
		{g("demo-a", core.AccessRead, "in/acme/"), g("demo-b", core.AccessWrite, "out")},
		{g("demo-share", core.AccessReadWrite, ""), g("demo-share", core.AccessRead, "public/"), g("demo-raw", core.AccessRead, "in/acme/"), g("demo-raw", core.AccessReadWrite, "tmp/acme/")},
		{g("demo-z", core.AccessRead, "b/"), g("demo-z", core.AccessWrite, "a/"), g("demo-a", core.AccessRead, "x")},
		{g("demo.b", core.AccessRead, "a-b"), g("demo-b", core.AccessRead, "a.b/"), g("demo-b", core.AccessRead, "a"), g("demo-b", core.AccessRead, "B")},
	}
	var want [][]string
	for _, gs := range sets {
		tpl, _, err := stacks.Render(p, core.Spec{User: &core.UserSpec{Name: "partner", Grants: gs,
			SFTP: core.SFTP{Enabled: true, SSHKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq8cq2Y0xPVyOb0aZ0QWPH6cFbO0v9vP3Zc3q1sLk7M p@h"}}}})
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Resources struct {
				SftpUser struct {
					Properties struct{ HomeDirectoryMappings []struct{ Entry string } }
				}
			}
		}
		if err := json.Unmarshal([]byte(tpl), &m); err != nil {
			t.Fatal(err)
		}
		var entries []string
		for _, e := range m.Resources.SftpUser.Properties.HomeDirectoryMappings {
			entries = append(entries, e.Entry)
		}
		want = append(want, entries)
	}
	abs, err := filepath.Abs("details.js")
	if err != nil {
		t.Fatal(err)
	}
	input, _ := json.Marshal(sets)
	script := `import { homeFolders } from ` + jsString("file://"+filepath.ToSlash(abs)) + `;
process.stdout.write(JSON.stringify(` + string(input) + `.map(homeFolders)));
`
	path := filepath.Join(t.TempDir(), "home.mjs")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, path).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got [][]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("js %v\ngo %v", got, want)
	}
}

// TestAccessStateJS: a user's row says how long its access lasts, and
// "expired" once the end date passed or the server marked it expired.
func TestAccessStateJS(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIP LOUDLY: node is not installed; install nodejs")
	}
	abs, err := filepath.Abs("details.js")
	if err != nil {
		t.Fatal(err)
	}
	script := `import { accessState } from ` + jsString("file://"+filepath.ToSlash(abs)) + `;
const now = new Date('2026-12-02T09:00:00Z');
process.stdout.write(JSON.stringify([
  {},
  { access_until: '2026-12-05T10:00:00Z' },
  { access_until: '2026-12-02T09:30:00Z' },
  { access_until: '2026-12-02T09:00:00Z' },
  { access_until: '2026-12-01T09:00:00Z', expired: true },
  { access_until: '2026-12-09T09:00:00Z', expired: true },
].map((u) => accessState(u, now))));
`
	path := filepath.Join(t.TempDir(), "state.mjs")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, path).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	want := `[null,{"expired":false,"text":"ends in 3 days"},{"expired":false,"text":"ends in 30 minutes"},{"expired":true,"text":"expired"},{"expired":true,"text":"expired"},{"expired":true,"text":"expired"}]`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
}
