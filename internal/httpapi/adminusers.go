package httpapi

import (
	"context"
	"net/http"
	"net/url"

	"bucketdesk/internal/core"
)

// LocalUsers is what the administration API asks of the local binary's
// logins (auth.UsersAdmin): every call requires the caller's
// core.Principal.Admin and answers core.ErrForbidden otherwise. No answer
// holds a password or its hash.
type LocalUsers interface {
	Users(ctx context.Context, who core.Principal) ([]core.LocalUser, error)
	Add(ctx context.Context, who core.Principal, in core.LocalUserInput) (core.LocalUser, error)
	SetPassword(ctx context.Context, who core.Principal, name, password string) (core.LocalUser, error)
	SetDisabled(ctx context.Context, who core.Principal, name string, disabled bool) (core.LocalUser, error)
}

// passwordInput is the body of PUT /api/admin/users/{name}/password.
type passwordInput struct {
	Password string `json:"password"`
}

// adminUsers answers GET /api/admin/users.
func (s *server) adminUsers(w http.ResponseWriter, r *http.Request) error {
	us, err := s.opts.LocalUsers.Users(r.Context(), principal(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, items[core.LocalUser]{Items: us})
}

// adminAddUser answers POST /api/admin/users.
func (s *server) adminAddUser(w http.ResponseWriter, r *http.Request) error {
	var in core.LocalUserInput
	if err := s.decode(w, r, &in, false); err != nil {
		return err
	}
	u, err := s.opts.LocalUsers.Add(r.Context(), principal(r), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/admin/users/"+url.PathEscape(u.Name))
	return writeJSON(w, http.StatusCreated, u)
}

// adminUserPassword answers PUT /api/admin/users/{name}/password.
func (s *server) adminUserPassword(w http.ResponseWriter, r *http.Request) error {
	var in passwordInput
	if err := s.decode(w, r, &in, false); err != nil {
		return err
	}
	u, err := s.opts.LocalUsers.SetPassword(r.Context(), principal(r), r.PathValue("name"), in.Password)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

// adminUserDisabled answers POST /api/admin/users/{name}/disable (disabled
// true) and /enable.
func adminUserDisabled(disabled bool) handlerFunc {
	return func(s *server, w http.ResponseWriter, r *http.Request) error {
		u, err := s.opts.LocalUsers.SetDisabled(r.Context(), principal(r), r.PathValue("name"), disabled)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, u)
	}
}
