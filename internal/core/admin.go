package core

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Disconnector closes live WebSocket connections of a project, so that a
// member removed from it (or everyone, when the project is retired) stops
// receiving its messages at once rather than when the connection ends by
// itself. A closed client reconnects with a new ticket, which names only
// the projects it is still a member of. The local binary's WebSocket
// endpoint (wsapi.Handler) and API Gateway's hub (apigwhub.Hub) implement
// it.
type Disconnector interface {
	// Disconnect closes the connections subscribed to project of the given
	// users, or of every user when users is empty. Connections of other
	// projects only are left alone; a connection subscribed to project and
	// others is closed whole. It is best effort: it returns the first
	// failure after trying every connection.
	Disconnect(ctx context.Context, project string, users []string) error
}

// ProjectInput is what an administrator registers or updates. Role is a
// role name in the project's account or a role's ARN (RoleARN); SFTPHost
// defaults to the Transfer server's endpoint when a server id is given.
type ProjectInput struct {
	ID               string   `json:"id,omitempty"`
	Name             string   `json:"name"`
	AccountID        string   `json:"account_id"`
	Region           string   `json:"region"`
	Role             string   `json:"role"`
	ExternalID       string   `json:"external_id"`
	TransferServerID string   `json:"transfer_server_id,omitempty"`
	SFTPHost         string   `json:"sftp_host,omitempty"`
	LogBucket        string   `json:"log_bucket,omitempty"`
	Members          []string `json:"members,omitempty"`
}

// Input returns the input that registers p again as it is.
func (p *Project) Input() ProjectInput {
	return ProjectInput{
		ID: p.ID, Name: p.Name, AccountID: p.AccountID, Region: p.Region, Role: p.RoleARN, ExternalID: p.ExternalID,
		TransferServerID: p.TransferServerID, SFTPHost: p.SFTPHost, LogBucket: p.LogBucket, Members: slices.Clone(p.Members),
	}
}

// MembersChange adds and removes member entries (user names and
// "group:<name>"); an entry in both is removed.
type MembersChange struct {
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// LocalUser is a login of the local binary (its users file) as
// administrators see it: never its password nor its hash.
type LocalUser struct {
	Name     string   `json:"name"`
	Admin    bool     `json:"admin"`
	Disabled bool     `json:"disabled"`
	Groups   []string `json:"groups"`
}

// LocalUserInput is a login an administrator adds to the local binary.
// Admin makes it an administrator (DefaultAdminGroup).
type LocalUserInput struct {
	Name     string   `json:"name"`
	Password string   `json:"password"`
	Admin    bool     `json:"admin,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

var (
	roleNameRe = regexp.MustCompile(`^[\w+=,.@/-]{1,64}$`)
	roleARNRe  = regexp.MustCompile(`^arn:aws[a-z-]*:iam::([0-9]{12}):role/([\w+=,.@/-]{1,512})$`)
	memberRe   = regexp.MustCompile(`^[^\s:]{1,128}$`)
)

// RoleARN returns the ARN of the role through which bucketdesk reaches
// account: role may be an ARN or a role name (optionally with a path,
// "team/bucketdesk"), which becomes arn:aws:iam::<account>:role/<name>.
// An ARN of another account, or a malformed one, is a *ValidationError
// on the field "role".
func RoleARN(account, role string) (string, error) {
	role = strings.TrimSpace(role)
	if role == "" {
		return "", &ValidationError{Problems: []FieldError{{Field: "role", Message: "is required: a role name or ARN in the project's account"}}}
	}
	if strings.HasPrefix(role, "arn:") {
		m := roleARNRe.FindStringSubmatch(role)
		if m == nil {
			return "", &ValidationError{Problems: []FieldError{{Field: "role", Message: fmt.Sprintf("%q is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)", role)}}}
		}
		if m[1] != account {
			return "", &ValidationError{Problems: []FieldError{{Field: "role", Message: fmt.Sprintf("the role is in account %s, not in the project's account %s", m[1], account)}}}
		}
		return role, nil
	}
	if !roleNameRe.MatchString(role) {
		return "", &ValidationError{Problems: []FieldError{{Field: "role", Message: fmt.Sprintf("%q is not a role name (letters, digits and +=,.@_-, at most 64) or a role ARN", role)}}}
	}
	return "arn:aws:iam::" + account + ":role/" + role, nil
}

// NormalizeMembers trims the member entries, drops empty and duplicate
// ones and sorts them, and checks each: a user name (no spaces, no colon)
// or GroupPrefix and a group name. A bad entry is a *ValidationError on
// the field "members".
func NormalizeMembers(members []string) ([]string, error) {
	out := make([]string, 0, len(members))
	v := &ValidationError{}
	for _, m := range members {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		name, group := strings.CutPrefix(m, GroupPrefix)
		if !memberRe.MatchString(name) {
			what := "a user name"
			if group {
				what = "a group name after " + GroupPrefix
			}
			v.add("members", "%q: want %s without spaces or colons", m, what)
			continue
		}
		out = append(out, m)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
