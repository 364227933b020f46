package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"

	"bucketdesk/internal/auth"
	"bucketdesk/internal/core"
	"bucketdesk/internal/setup"
)

const usersUsage = `Usage:
  bucketdesk users list    [target flags]
  bucketdesk users add     NAME [--admin] [--group G]… [--password-stdin] [target flags]
  bucketdesk users passwd  NAME [--password-stdin] [target flags]
  bucketdesk users disable NAME [target flags]
  bucketdesk users enable  NAME [target flags]

Manages the local binary's logins (on AWS, Cognito holds the users). add and
passwd generate a password and print it once, unless --password-stdin reads
it from the first line of stdin. --admin makes the login an administrator
(the bucketdesk-admins group). disable refuses the user's next logins; a
token already issued lasts until it expires (--token-ttl of serve, 1 h by
default).

Target flags: either a data directory (the default; env BUCKETDESK_DATA_DIR),
whose DIR/users.json is edited directly, even while a server runs (it reads
the file again at the next login):
  --data-dir DIR
or a running server's API, as an administrator:
  --server URL --token TOKEN   (env BUCKETDESK_SERVER, BUCKETDESK_TOKEN)
`

// usersAdmin is what the users commands call: auth.UsersAdmin on a data
// directory's users file, or the /api/admin/users routes of a server.
type usersAdmin interface {
	Users(ctx context.Context) ([]core.LocalUser, error)
	AddUser(ctx context.Context, in core.LocalUserInput) (core.LocalUser, error)
	SetPassword(ctx context.Context, name, password string) (core.LocalUser, error)
	SetDisabled(ctx context.Context, name string, disabled bool) (core.LocalUser, error)
}

// openUsers returns the users administration of t.
func (t *target) openUsers() (usersAdmin, error) {
	if t.server != "" {
		return t.remote()
	}
	return &localUsers{a: auth.NewUsersAdmin(setup.UsersFile(t.dataDir), auth.UsersAdminOptions{}), who: operator()}, nil
}

// localUsers is auth.UsersAdmin on a data directory's users file, as the
// operator who runs the command.
type localUsers struct {
	a   *auth.UsersAdmin
	who core.Principal
}

func (l *localUsers) Users(ctx context.Context) ([]core.LocalUser, error) {
	return l.a.Users(ctx, l.who)
}

func (l *localUsers) AddUser(ctx context.Context, in core.LocalUserInput) (core.LocalUser, error) {
	return l.a.Add(ctx, l.who, in)
}

func (l *localUsers) SetPassword(ctx context.Context, name, password string) (core.LocalUser, error) {
	return l.a.SetPassword(ctx, l.who, name, password)
}

func (l *localUsers) SetDisabled(ctx context.Context, name string, disabled bool) (core.LocalUser, error) {
	return l.a.SetDisabled(ctx, l.who, name, disabled)
}

func (r *remoteAdmin) Users(ctx context.Context) ([]core.LocalUser, error) {
	var out struct {
		Items []core.LocalUser `json:"items"`
	}
	err := r.do(ctx, http.MethodGet, "/api/admin/users", nil, &out)
	return out.Items, err
}

func (r *remoteAdmin) AddUser(ctx context.Context, in core.LocalUserInput) (core.LocalUser, error) {
	var u core.LocalUser
	return u, r.do(ctx, http.MethodPost, "/api/admin/users", in, &u)
}

func (r *remoteAdmin) SetPassword(ctx context.Context, name, password string) (core.LocalUser, error) {
	var u core.LocalUser
	return u, r.do(ctx, http.MethodPut, "/api/admin/users/"+url.PathEscape(name)+"/password", map[string]string{"password": password}, &u)
}

func (r *remoteAdmin) SetDisabled(ctx context.Context, name string, disabled bool) (core.LocalUser, error) {
	verb := "/enable"
	if disabled {
		verb = "/disable"
	}
	var u core.LocalUser
	return u, r.do(ctx, http.MethodPost, "/api/admin/users/"+url.PathEscape(name)+verb, nil, &u)
}

// usersCmd runs `bucketdesk users …`.
func usersCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, usersUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub := args[0]
	fs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usersUsage) }
	var t target
	t.flags(fs)
	admin := fs.Bool("admin", false, "make the user an administrator (add)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin (add, passwd)")
	var groups listFlag
	fs.Var(&groups, "group", "a group of the user (add); repeatable")
	var name string
	rest := args[1:]
	if sub != "list" && len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		name, rest = rest[0], rest[1:]
	}
	if err := fs.Parse(rest); err != nil {
		return exitCode(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bucketdesk users %s: unexpected argument %q\n", sub, fs.Arg(0))
		return 2
	}
	switch sub {
	case "list":
	case "add", "passwd", "disable", "enable":
		if name == "" {
			fmt.Fprintf(stderr, "bucketdesk users %s: the user name is required\n\n%s", sub, usersUsage)
			return 2
		}
	default:
		fmt.Fprintf(stderr, "bucketdesk users: unknown command %q\n\n%s", sub, usersUsage)
		return 2
	}
	if sub == "add" && auth.CheckUserName(name) != nil {
		fmt.Fprintf(stderr, "bucketdesk users add: %q is not a user name (no spaces, no colons)\n", name)
		return 2
	}
	a, err := t.openUsers()
	if err != nil {
		fmt.Fprintf(stderr, "bucketdesk users %s: %v\n", sub, err)
		return 1
	}
	var password string
	if sub == "add" || sub == "passwd" {
		if *fromStdin {
			line, err := bufio.NewReader(stdin).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				fmt.Fprintf(stderr, "bucketdesk users %s: read the password: %v\n", sub, err)
				return 1
			}
			password = strings.TrimRight(line, "\r\n")
		} else {
			password = auth.GeneratePassword()
		}
	}
	switch sub {
	case "list":
		us, err := a.Users(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "bucketdesk users %s: %v\n", sub, err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tADMIN\tSTATE\tGROUPS")
		for _, u := range us {
			state := "enabled"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", u.Name, u.Admin, state, strings.Join(u.Groups, ","))
		}
		tw.Flush()
		return 0
	case "add":
		_, err = a.AddUser(ctx, core.LocalUserInput{Name: name, Password: password, Admin: *admin, Groups: groups})
	case "passwd":
		_, err = a.SetPassword(ctx, name, password)
	default:
		_, err = a.SetDisabled(ctx, name, sub == "disable")
	}
	if err != nil {
		fmt.Fprintf(stderr, "bucketdesk users %s: %v\n", sub, err)
		return 1
	}
	switch {
	case password != "" && !*fromStdin:
		fmt.Fprintf(stdout, "user %s: password %s  (shown once)\n", name, password)
	default:
		fmt.Fprintf(stdout, "user %s: %s\n", name, map[string]string{"add": "added", "passwd": "password changed", "disable": "disabled", "enable": "enabled"}[sub])
	}
	return 0
}
