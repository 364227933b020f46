package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	bolt "go.etcd.io/bbolt"

	"bucketdesk/internal/cloud/simcloud"
	"bucketdesk/internal/core"
	"bucketdesk/internal/engine"
	"bucketdesk/internal/setup"
)

const projectsUsage = `Usage:
  bucketdesk projects list    [target flags] [--json]
  bucketdesk projects show    ID [target flags]
  bucketdesk projects add     ID --name NAME --account ACCOUNT --region REGION --role ROLE --external-id ID
                              [--sftp-server s-…] [--sftp-host HOST] [--log-bucket BUCKET] [--member M]… [target flags]
  bucketdesk projects update  ID [the flags of add; those not given keep their value] [target flags]
  bucketdesk projects retire  ID [target flags]
  bucketdesk projects members ID [--add M]… [--remove M]… [target flags]

Registers, updates and retires projects and manages their members (user names,
or group:<name>). add checks the account first: it assumes the role with the
external id in the region and lists the project's stacks, and says what is
wrong when that fails. retire hides the project from its members and leaves
its stacks untouched. members without --add or --remove lists them.

Target flags: either a data directory no server holds (the default; env
BUCKETDESK_DATA_DIR), where accounts are checked against the sandbox:
  --data-dir DIR
or a running server's API, as an administrator:
  --server URL --token TOKEN   (env BUCKETDESK_SERVER, BUCKETDESK_TOKEN)
`

// target is where the projects and users commands act: a data directory
// or a server's API.
type target struct {
	dataDir, server, token string
}

func (t *target) flags(fs *flag.FlagSet) {
	fs.StringVar(&t.dataDir, "data-dir", defaultDataDir(), "the data directory, when no server holds it (env BUCKETDESK_DATA_DIR)")
	fs.StringVar(&t.server, "server", os.Getenv("BUCKETDESK_SERVER"), "a running server's URL, e.g. http://127.0.0.1:8080 (env BUCKETDESK_SERVER)")
	fs.StringVar(&t.token, "token", os.Getenv("BUCKETDESK_TOKEN"), "an administrator's bearer token, with --server (env BUCKETDESK_TOKEN)")
}

// admin is what the projects commands call: engine.Admin on a data
// directory, or the administration API of a server.
type admin interface {
	Projects(ctx context.Context) ([]*core.Project, error)
	Project(ctx context.Context, id string) (*core.Project, error)
	Register(ctx context.Context, in core.ProjectInput) (*core.Project, error)
	Update(ctx context.Context, id string, in core.ProjectInput) (*core.Project, error)
	ChangeMembers(ctx context.Context, id string, ch core.MembersChange) (*core.Project, error)
	Retire(ctx context.Context, id string) (*core.Project, error)
}

// open returns the admin of t and what closes it.
func (t *target) open() (admin, func(), error) {
	if t.server != "" {
		r, err := t.remote()
		if err != nil {
			return nil, nil, err
		}
		return r, func() {}, nil
	}
	if _, err := os.Stat(filepath.Join(t.dataDir, "bucketdesk.db")); err != nil {
		return nil, nil, fmt.Errorf("no bucketdesk data in %s (start bucketdesk serve once, or pass --data-dir or --server): %w", t.dataDir, err)
	}
	l, err := setup.OpenLocal(setup.LocalConfig{
		DataDir: t.dataDir, Sandbox: simcloud.ZeroOptions(), CloudRate: -1,
		Logger: slog.New(slog.DiscardHandler),
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, nil, fmt.Errorf("the data directory %s is in use by a running bucketdesk: stop it, or go through its API with --server URL --token TOKEN", t.dataDir)
	}
	if err != nil {
		return nil, nil, err
	}
	return &localAdmin{a: l.Admin(nil), who: operator()}, func() { l.Close() }, nil
}

// remote returns the administration API of t.server, which is set.
func (t *target) remote() (*remoteAdmin, error) {
	if t.token == "" {
		return nil, errors.New("--server needs --token (or BUCKETDESK_TOKEN): an administrator's bearer token, from POST /auth/login locally")
	}
	u, err := url.Parse(t.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want a URL such as http://127.0.0.1:8080", t.server)
	}
	return &remoteAdmin{base: strings.TrimRight(t.server, "/"), token: t.token, client: &http.Client{Timeout: time.Minute}}, nil
}

// operator is the administrator who runs a command on a data directory:
// whoever may open the data directory may change it anyway.
func operator() core.Principal {
	return core.Principal{User: "cli:" + osUser(), Admin: true}
}

func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

// localAdmin is engine.Admin on a data directory, as the operator who
// runs the command (an administrator: whoever may open the data directory
// may change it anyway).
type localAdmin struct {
	a   *engine.Admin
	who core.Principal
}

func (l *localAdmin) Projects(ctx context.Context) ([]*core.Project, error) {
	return l.a.Projects(ctx, l.who)
}

func (l *localAdmin) Project(ctx context.Context, id string) (*core.Project, error) {
	return l.a.Project(ctx, l.who, id)
}

func (l *localAdmin) Register(ctx context.Context, in core.ProjectInput) (*core.Project, error) {
	return l.a.Register(ctx, l.who, in)
}

func (l *localAdmin) Update(ctx context.Context, id string, in core.ProjectInput) (*core.Project, error) {
	return l.a.Update(ctx, l.who, id, in)
}

func (l *localAdmin) ChangeMembers(ctx context.Context, id string, ch core.MembersChange) (*core.Project, error) {
	return l.a.ChangeMembers(ctx, l.who, id, ch)
}

func (l *localAdmin) Retire(ctx context.Context, id string) (*core.Project, error) {
	return l.a.Retire(ctx, l.who, id)
}

// remoteAdmin is a server's /api/admin/ routes.
type remoteAdmin struct {
	base, token string
	client      *http.Client
}

// apiError is a problem+json answer of the server.
type apiError struct {
	Status int               `json:"status"`
	Title  string            `json:"title"`
	Detail string            `json:"detail"`
	Errors []core.FieldError `json:"errors"`
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("server answered %d %s", e.Status, e.Title)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	for _, fe := range e.Errors {
		msg += fmt.Sprintf("\n  %s: %s", fe.Field, fe.Message)
	}
	return msg
}

func (r *remoteAdmin) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Accept", "application/json, application/problem+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, r.base+path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		e := &apiError{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode)}
		if json.Unmarshal(b, e) != nil {
			e.Detail = strings.TrimSpace(string(b))
		}
		return e
	}
	return json.Unmarshal(b, out)
}

func (r *remoteAdmin) Projects(ctx context.Context) ([]*core.Project, error) {
	var out struct {
		Items []*core.Project `json:"items"`
	}
	err := r.do(ctx, http.MethodGet, "/api/admin/projects", nil, &out)
	return out.Items, err
}

func (r *remoteAdmin) Project(ctx context.Context, id string) (*core.Project, error) {
	p := new(core.Project)
	return p, r.do(ctx, http.MethodGet, "/api/admin/projects/"+url.PathEscape(id), nil, p)
}

func (r *remoteAdmin) Register(ctx context.Context, in core.ProjectInput) (*core.Project, error) {
	p := new(core.Project)
	return p, r.do(ctx, http.MethodPost, "/api/admin/projects", in, p)
}

func (r *remoteAdmin) Update(ctx context.Context, id string, in core.ProjectInput) (*core.Project, error) {
	p := new(core.Project)
	return p, r.do(ctx, http.MethodPut, "/api/admin/projects/"+url.PathEscape(id), in, p)
}

func (r *remoteAdmin) ChangeMembers(ctx context.Context, id string, ch core.MembersChange) (*core.Project, error) {
	p := new(core.Project)
	return p, r.do(ctx, http.MethodPost, "/api/admin/projects/"+url.PathEscape(id)+"/members", ch, p)
}

func (r *remoteAdmin) Retire(ctx context.Context, id string) (*core.Project, error) {
	p := new(core.Project)
	return p, r.do(ctx, http.MethodDelete, "/api/admin/projects/"+url.PathEscape(id), nil, p)
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// projectsCmd runs `bucketdesk projects …`.
func projectsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, projectsUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub := args[0]
	fs := flag.NewFlagSet("projects "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, projectsUsage) }
	var t target
	t.flags(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	var in core.ProjectInput
	var members, add, remove listFlag
	set := map[string]bool{}
	if sub == "add" || sub == "update" {
		fs.StringVar(&in.Name, "name", "", "the project's display name")
		fs.StringVar(&in.AccountID, "account", "", "the project's 12-digit AWS account id")
		fs.StringVar(&in.Region, "region", "", "the project's region, such as eu-west-1")
		fs.StringVar(&in.Role, "role", "", "the role bucketdesk assumes in the account: a name or an ARN")
		fs.StringVar(&in.ExternalID, "external-id", "", "the external id the role's trust policy demands")
		fs.StringVar(&in.TransferServerID, "sftp-server", "", "the Transfer Family server id (s-…) of the project's SFTP users")
		fs.StringVar(&in.SFTPHost, "sftp-host", "", "the host SFTP users connect to (default: the server's endpoint)")
		fs.StringVar(&in.LogBucket, "log-bucket", "", "the bucket receiving the server access logs of the project's buckets")
		fs.Var(&members, "member", "a member (user name or group:<name>); repeatable, or comma-separated")
	}
	if sub == "members" {
		fs.Var(&add, "add", "a member to add (user name or group:<name>); repeatable")
		fs.Var(&remove, "remove", "a member to remove; repeatable")
	}
	// The project id comes first; flags follow it.
	var id string
	rest := args[1:]
	if sub != "list" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return exitCode(err)
	}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bucketdesk projects %s: unexpected argument %q\n", sub, fs.Arg(0))
		return 2
	}
	switch sub {
	case "list":
	case "show", "add", "update", "retire", "members":
		if id == "" {
			fmt.Fprintf(stderr, "bucketdesk projects %s: the project id is required\n\n%s", sub, projectsUsage)
			return 2
		}
	default:
		fmt.Fprintf(stderr, "bucketdesk projects: unknown command %q\n\n%s", sub, projectsUsage)
		return 2
	}
	a, closeAdmin, err := t.open()
	if err != nil {
		fmt.Fprintf(stderr, "bucketdesk projects %s: %v\n", sub, err)
		return 1
	}
	defer closeAdmin()
	var p *core.Project
	switch sub {
	case "list":
		ps, err := a.Projects(ctx)
		if err != nil {
			return fail(stderr, sub, err)
		}
		if *asJSON {
			return printJSON(stdout, ps)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tACCOUNT\tREGION\tSTATE\tMEMBERS")
		for _, p := range ps {
			state := "active"
			if p.Retired {
				state = "retired"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.AccountID, p.Region, state, strings.Join(p.Members, ","))
		}
		tw.Flush()
		return 0
	case "show":
		p, err = a.Project(ctx, id)
	case "add":
		in.ID, in.Members = id, members
		p, err = a.Register(ctx, in)
	case "update":
		cur, gerr := a.Project(ctx, id)
		if gerr != nil {
			return fail(stderr, sub, gerr)
		}
		next := cur.Input()
		for name, v := range map[string]*string{
			"name": &next.Name, "account": &next.AccountID, "region": &next.Region, "role": &next.Role, "external-id": &next.ExternalID,
			"sftp-server": &next.TransferServerID, "sftp-host": &next.SFTPHost, "log-bucket": &next.LogBucket,
		} {
			if set[name] {
				*v = fs.Lookup(name).Value.String()
			}
		}
		if set["sftp-server"] && !set["sftp-host"] {
			next.SFTPHost = "" // derived from the new server again
		}
		if set["member"] {
			next.Members = members
		}
		p, err = a.Update(ctx, id, next)
	case "retire":
		p, err = a.Retire(ctx, id)
	case "members":
		if len(add) == 0 && len(remove) == 0 {
			p, err = a.Project(ctx, id)
		} else {
			p, err = a.ChangeMembers(ctx, id, core.MembersChange{Add: add, Remove: remove})
		}
		if err == nil && !*asJSON {
			for _, m := range p.Members {
				fmt.Fprintln(stdout, m)
			}
			return 0
		}
	}
	if err != nil {
		return fail(stderr, sub, err)
	}
	if *asJSON || sub == "show" {
		return printJSON(stdout, p)
	}
	verb := map[string]string{"add": "registered", "update": "updated", "retire": "retired"}[sub]
	fmt.Fprintf(stdout, "project %s %s (account %s, region %s, members: %s)\n", p.ID, verb, p.AccountID, p.Region, strings.Join(p.Members, ","))
	return 0
}

// fail prints err, with a validation error's every problem on its own
// line, and returns the exit code 1.
func fail(stderr io.Writer, sub string, err error) int {
	var ve *core.ValidationError
	if errors.As(err, &ve) {
		fmt.Fprintf(stderr, "bucketdesk projects %s: invalid:\n", sub)
		for _, p := range ve.Problems {
			fmt.Fprintf(stderr, "  %s: %s\n", p.Field, p.Message)
		}
		return 1
	}
	fmt.Fprintf(stderr, "bucketdesk projects %s: %v\n", sub, err)
	return 1
}

func printJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return 1
	}
	return 0
}
