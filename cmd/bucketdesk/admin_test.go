package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"bucketdesk/internal/auth"
	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/setup"
)

const testPassword = "correct-horse-battery-staple"

// dataDir returns a data directory with the demo project and users, as
// serve leaves it, held by no process.
func dataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	l, err := setup.OpenLocal(setup.LocalConfig{DataDir: dir, Sandbox: simcloud.ZeroOptions(), CloudRate: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.EnsureProject(t.Context(), setup.DemoProject([]string{"alice", "bob"})); err != nil {
		t.Fatal(err)
	}
	if _, err := setup.EnsureDemoUsers(dir, testPassword); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cli runs the binary's command line and returns its exit code and output.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errb := cli(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", args, code, out, errb)
	}
	return out
}

var geoArgs = []string{"--name", "Geodata", "--account", "333333333333", "--region", "eu-west-1", "--role", "bucketdesk-portal", "--external-id", "geo-ext", "--member", "bob"}

// On a data directory no server holds, projects are registered (the
// account checked against the sandbox), listed, updated, their members
// changed and retired; a wrong external id says what is wrong.
func TestProjectsOnADataDirectory(t *testing.T) {
	dir := dataDir(t)
	out := mustCLI(t, append([]string{"projects", "add", "geo", "--data-dir", dir}, geoArgs...)...)
	if !strings.Contains(out, "project geo registered") {
		t.Fatalf("add: %q", out)
	}
	code, _, errb := cli(t, "projects", "add", "demo2", "--data-dir", dir, "--name", "D", "--account", "123456789012", "--region", "eu-west-1", "--role", "bucketdesk", "--external-id", "nope")
	if code != 1 || !strings.Contains(errb, "account: cannot reach account 123456789012") || !strings.Contains(errb, `external id "nope"`) {
		t.Fatalf("a wrong external id: exit %d, %q", code, errb)
	}
	code, _, errb = cli(t, "projects", "add", "Bad_Id", "--data-dir", dir, "--name", "x")
	if code != 1 || !strings.Contains(errb, "id: may contain only lowercase") || !strings.Contains(errb, "role: is required") {
		t.Fatalf("bad fields: exit %d, %q", code, errb)
	}
	mustCLI(t, "projects", "update", "geo", "--data-dir", dir, "--name", "Geodata (EU)", "--sftp-server", "s-0123456789abcdef1")
	out = mustCLI(t, "projects", "members", "geo", "--data-dir", dir, "--add", "alice,group:geo-team", "--remove", "bob")
	if out != "alice\ngroup:geo-team\n" {
		t.Fatalf("members: %q", out)
	}
	var p core.Project
	if err := json.Unmarshal([]byte(mustCLI(t, "projects", "show", "geo", "--data-dir", dir)), &p); err != nil {
		t.Fatal(err)
	}
	if p.Name != "Geodata (EU)" || p.SFTPHost != "s-0123456789abcdef1.server.transfer.eu-west-1.amazonaws.com" || p.ExternalID != "geo-ext" {
		t.Fatalf("show: %+v", p)
	}
	mustCLI(t, "projects", "retire", "geo", "--data-dir", dir)
	out = mustCLI(t, "projects", "list", "--data-dir", dir)
	if !strings.Contains(out, "geo ") || !strings.Contains(out, "retired") || !strings.Contains(out, "demo ") {
		t.Fatalf("list: %q", out)
	}
}

// startServer runs serve's server on dir in the test and returns it and
// a function that logs a user in with testPassword (or the password
// given) and returns the token, "" when the login fails.
func startServer(t *testing.T, dir string) (*httptest.Server, func(user string, password ...string) string) {
	t.Helper()
	l, err := setup.OpenLocal(setup.LocalConfig{DataDir: dir, Sandbox: simcloud.ZeroOptions(), CloudRate: -1, ReconcileEvery: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	srv, err := l.Server(setup.ServerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	l.Start(t.Context())
	login := func(user string, password ...string) string {
		t.Helper()
		pw := testPassword
		if len(password) > 0 {
			pw = password[0]
		}
		b, _ := json.Marshal(map[string]string{"username": user, "password": pw})
		res, err := http.Post(hs.URL+"/auth/login", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var tok struct{ Token string }
		body, _ := io.ReadAll(res.Body)
		if json.Unmarshal(body, &tok) != nil {
			t.Fatalf("login %s: %s", user, body)
		}
		return tok.Token
	}
	return hs, login
}

// A data directory a running server holds is refused with a clear
// message; through the server's API (--server, --token) the same commands
// work for an administrator and are refused for others.
func TestProjectsAgainstAServer(t *testing.T) {
	dir := dataDir(t)
	hs, login := startServer(t, dir)

	code, _, errb := cli(t, "projects", "list", "--data-dir", dir)
	if code != 1 || !strings.Contains(errb, "in use by a running bucketdesk") || !strings.Contains(errb, "--server") {
		t.Fatalf("a held data directory: exit %d, %q", code, errb)
	}
	admin := login(setup.DemoAdmin)
	if admin == "" || login("alice") == "" {
		t.Fatal("the demo logins fail")
	}
	target := []string{"--server", hs.URL, "--token", admin}
	out := mustCLI(t, append(append([]string{"projects", "add", "geo"}, target...), geoArgs...)...)
	if !strings.Contains(out, "project geo registered") {
		t.Fatalf("add: %q", out)
	}
	code, _, errb = cli(t, append(append([]string{"projects", "add", "geo"}, target...), geoArgs...)...)
	if code != 1 || !strings.Contains(errb, "409") || !strings.Contains(errb, "already registered") {
		t.Fatalf("add again: exit %d, %q", code, errb)
	}
	out = mustCLI(t, append([]string{"projects", "members", "geo", "--add", "alice"}, target...)...)
	if out != "alice\nbob\n" {
		t.Fatalf("members: %q", out)
	}
	out = mustCLI(t, append([]string{"projects", "list"}, target...)...)
	if !strings.Contains(out, "geo ") || !strings.Contains(out, "alice,bob") {
		t.Fatalf("list: %q", out)
	}
	code, _, errb = cli(t, "projects", "list", "--server", hs.URL, "--token", login("alice"))
	if code != 1 || !strings.Contains(errb, "403") || !strings.Contains(errb, "administrators only") {
		t.Fatalf("alice: exit %d, %q", code, errb)
	}
	mustCLI(t, append([]string{"projects", "retire", "geo"}, target...)...)
}

// users add, passwd, disable and list edit users.json; a running server
// follows the file at the next login.
func TestUsersOnADataDirectory(t *testing.T) {
	dir := dataDir(t)
	var out, errb bytes.Buffer
	if code := usersCmd(t.Context(), []string{"add", "carol", "--admin", "--group", "geo-team", "--password-stdin", "--data-dir", dir}, strings.NewReader("carol-secret\n"), &out, &errb); code != 0 {
		t.Fatalf("add: %d %s", code, errb.String())
	}
	users, err := auth.LoadUsers(setup.UsersFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := users.Check("carol", "carol-secret"); err != nil || !p.Admin {
		t.Fatalf("carol: %+v %v", p, err)
	}
	if _, err := users.Check("alice", testPassword); err != nil {
		t.Fatalf("alice was lost: %v", err)
	}
	out.Reset()
	if code := usersCmd(t.Context(), []string{"passwd", "carol", "--data-dir", dir}, strings.NewReader(""), &out, &errb); code != 0 || !strings.Contains(out.String(), "shown once") {
		t.Fatalf("passwd: %d %q %s", code, out.String(), errb.String())
	}
	generated := strings.Fields(strings.SplitN(out.String(), "password ", 2)[1])[0]
	mustCLI(t, "users", "disable", "bob", "--data-dir", dir)
	users, _ = auth.LoadUsers(setup.UsersFile(dir))
	if _, err := users.Check("carol", generated); err != nil {
		t.Fatalf("carol's generated password: %v", err)
	}
	if _, err := users.Check("bob", testPassword); err == nil {
		t.Fatal("disabled bob still logs in")
	}
	list := mustCLI(t, "users", "list", "--data-dir", dir)
	for _, want := range []string{"carol", "true", "geo-team", "disabled", setup.DemoAdmin} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %q: %s", want, list)
		}
	}
	if code, _, errb := cli(t, "users", "add", "carol", "--data-dir", dir); code != 1 || !strings.Contains(errb, "exists") {
		t.Fatalf("add again: %d %q", code, errb)
	}
	if code, _, errb := cli(t, "users", "passwd", "nobody", "--data-dir", dir); code != 1 || !strings.Contains(errb, "no user") {
		t.Fatalf("passwd of nobody: %d %q", code, errb)
	}
	mustCLI(t, "users", "enable", "bob", "--data-dir", dir)
}

// Through a running server's API (--server, --token) users add, passwd,
// disable, enable and list work for an administrator, in force at the next
// login, and are refused for others; the password goes in the request
// body and is printed only when generated.
func TestUsersAgainstAServer(t *testing.T) {
	dir := dataDir(t)
	hs, login := startServer(t, dir)
	target := []string{"--server", hs.URL, "--token", login(setup.DemoAdmin)}
	users := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := usersCmd(t.Context(), append(args, target...), strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errb := users("carol-secret\n", "add", "carol", "--admin", "--group", "geo-team", "--password-stdin")
	if code != 0 || strings.Contains(out, "carol-secret") {
		t.Fatalf("add: %d %q %s", code, out, errb)
	}
	if login("carol", "carol-secret") == "" {
		t.Fatal("carol cannot log in")
	}
	code, out, errb = users("", "passwd", "carol")
	if code != 0 || !strings.Contains(out, "shown once") {
		t.Fatalf("passwd: %d %q %s", code, out, errb)
	}
	generated := strings.Fields(strings.SplitN(out, "password ", 2)[1])[0]
	if login("carol", generated) == "" || login("carol", "carol-secret") != "" {
		t.Fatal("the generated password is not in force")
	}
	if code, _, errb := users("", "disable", "bob"); code != 0 || login("bob") != "" {
		t.Fatalf("disable bob: %d %s", code, errb)
	}
	_, list, _ := users("", "list")
	for _, want := range []string{"carol", "true", "geo-team", "disabled", setup.DemoAdmin} {
		if !strings.Contains(list, want) {
			t.Errorf("list lacks %q: %s", want, list)
		}
	}
	if code, _, errb := users("", "add", "carol"); code != 1 || !strings.Contains(errb, "409") || !strings.Contains(errb, "exists") {
		t.Fatalf("add again: %d %q", code, errb)
	}
	if code, _, errb := users("", "passwd", "nobody"); code != 1 || !strings.Contains(errb, "404") || !strings.Contains(errb, "no user") {
		t.Fatalf("passwd of nobody: %d %q", code, errb)
	}
	if code, _, errb := users("\n", "passwd", "carol", "--password-stdin"); code != 1 || !strings.Contains(errb, "400") || !strings.Contains(errb, "password must be") {
		t.Fatalf("an empty password: %d %q", code, errb)
	}
	if code, _, errb := users("", "enable", "bob"); code != 0 || login("bob") == "" {
		t.Fatalf("enable bob: %d %s", code, errb)
	}
	code, _, errb = cli(t, "users", "list", "--server", hs.URL, "--token", login("alice"))
	if code != 1 || !strings.Contains(errb, "403") || !strings.Contains(errb, "administrators only") {
		t.Fatalf("alice: exit %d, %q", code, errb)
	}
	t.Setenv("BUCKETDESK_SERVER", hs.URL)
	t.Setenv("BUCKETDESK_TOKEN", target[3])
	if out := mustCLI(t, "users", "list"); !strings.Contains(out, "carol") {
		t.Fatalf("list through the environment's server: %q", out)
	}
}
