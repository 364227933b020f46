package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"bucketdesk/internal/auth"
	"bucketdesk/internal/core"
	"bucketdesk/internal/setup"
)

const usersUsage = `Usage:
  bucketdesk users list    [--data-dir DIR]
  bucketdesk users add     NAME [--admin] [--group G]… [--password-stdin] [--data-dir DIR]
  bucketdesk users passwd  NAME [--password-stdin] [--data-dir DIR]
  bucketdesk users disable NAME [--data-dir DIR]
  bucketdesk users enable  NAME [--data-dir DIR]

Manages the local binary's logins in DIR/users.json (on AWS, Cognito holds
the users). A running server reads the file again at the next login, so
these work while it runs. add and passwd generate a password and print it
once, unless --password-stdin reads it from the first line of stdin. --admin
makes the login an administrator (the bucketdesk-admins group). disable
refuses the user's next logins; a token already issued lasts until it
expires (--token-ttl of serve, 1 h by default).
`

// usersCmd runs `bucketdesk users …`.
func usersCmd(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
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
	dataDir := fs.String("data-dir", defaultDataDir(), "the data directory (env BUCKETDESK_DATA_DIR)")
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
	path := setup.UsersFile(*dataDir)
	entries, err := auth.LoadUserEntries(path)
	if errors.Is(err, os.ErrNotExist) && sub == "add" {
		entries, err = nil, os.MkdirAll(*dataDir, 0o700)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bucketdesk users %s: %v\n", sub, err)
		return 1
	}
	i := slices.IndexFunc(entries, func(e auth.UserEntry) bool { return e.Username == name })
	if sub == "list" {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USER\tADMIN\tSTATE\tGROUPS")
		for _, e := range entries {
			state := "enabled"
			if e.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", e.Username, e.Admin, state, strings.Join(e.Groups, ","))
		}
		tw.Flush()
		return 0
	}
	if sub == "add" {
		if m, err := core.NormalizeMembers([]string{name}); err != nil || len(m) != 1 || m[0] != name || strings.HasPrefix(name, core.GroupPrefix) {
			fmt.Fprintf(stderr, "bucketdesk users add: %q is not a user name (no spaces, no colons)\n", name)
			return 2
		}
	}
	if sub == "add" && i >= 0 {
		fmt.Fprintf(stderr, "bucketdesk users add: %q exists; use passwd, enable or disable\n", name)
		return 1
	}
	if sub != "add" && i < 0 {
		fmt.Fprintf(stderr, "bucketdesk users %s: no user %q in %s\n", sub, name, path)
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
		hash, err := auth.HashPassword(password)
		if err != nil {
			fmt.Fprintf(stderr, "bucketdesk users %s: %v\n", sub, err)
			return 1
		}
		if sub == "add" {
			entries = append(entries, auth.UserEntry{Username: name, PasswordHash: hash, Groups: groups, Admin: *admin})
		} else {
			entries[i].PasswordHash = hash
		}
	} else {
		entries[i].Disabled = sub == "disable"
	}
	if _, err := auth.NewUsers(entries); err != nil {
		fmt.Fprintf(stderr, "bucketdesk users %s: %v\n", sub, err)
		return 1
	}
	if err := auth.WriteUsers(path, entries); err != nil {
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
