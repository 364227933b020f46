package httpapi

import (
	"context"
	"net/http"

	"bucketdesk/internal/core"
)

// AdminService is what the administration API asks of the engine
// (engine.Admin): every call requires the caller's core.Principal.Admin
// and answers core.ErrForbidden otherwise, before it looks anything up.
type AdminService interface {
	Projects(ctx context.Context, who core.Principal) ([]*core.Project, error)
	Project(ctx context.Context, who core.Principal, id string) (*core.Project, error)
	Register(ctx context.Context, who core.Principal, in core.ProjectInput) (*core.Project, error)
	Update(ctx context.Context, who core.Principal, id string, in core.ProjectInput) (*core.Project, error)
	ChangeMembers(ctx context.Context, who core.Principal, id string, ch core.MembersChange) (*core.Project, error)
	Retire(ctx context.Context, who core.Principal, id string) (*core.Project, error)
}

// adminProjectView is a project as administrators see it: its whole
// registration, the role and its external id included.
type adminProjectView struct {
	core.Project
}

func adminViewOf(p *core.Project) adminProjectView {
	v := adminProjectView{*p}
	if v.Members == nil {
		v.Members = []string{}
	}
	return v
}

// adminOnly answers 403 to a caller who is not an administrator, on every
// administration route alike, before the route reads anything: whether a
// project exists is not told to non-administrators.
func adminOnly(next handlerFunc) handlerFunc {
	return func(s *server, w http.ResponseWriter, r *http.Request) error {
		if !principal(r).Admin {
			return kindError(core.ErrForbidden, "administrators only: %s is not in the administrators' group", principal(r).User)
		}
		return next(s, w, r)
	}
}

// adminProjects answers GET /api/admin/projects.
func (s *server) adminProjects(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.opts.Admin.Projects(r.Context(), principal(r))
	if err != nil {
		return err
	}
	out := items[adminProjectView]{Items: make([]adminProjectView, 0, len(ps))}
	for _, p := range ps {
		out.Items = append(out.Items, adminViewOf(p))
	}
	return writeJSON(w, http.StatusOK, out)
}

// adminProject answers GET /api/admin/projects/{p}.
func (s *server) adminProject(w http.ResponseWriter, r *http.Request) error {
	p, err := s.opts.Admin.Project(r.Context(), principal(r), r.PathValue("p"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, adminViewOf(p))
}

// adminRegister answers POST /api/admin/projects.
func (s *server) adminRegister(w http.ResponseWriter, r *http.Request) error {
	var in core.ProjectInput
	if err := s.decode(w, r, &in, false); err != nil {
		return err
	}
	p, err := s.opts.Admin.Register(r.Context(), principal(r), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/admin/projects/"+p.ID)
	return writeJSON(w, http.StatusCreated, adminViewOf(p))
}

// adminUpdate answers PUT /api/admin/projects/{p}.
func (s *server) adminUpdate(w http.ResponseWriter, r *http.Request) error {
	var in core.ProjectInput
	if err := s.decode(w, r, &in, false); err != nil {
		return err
	}
	p, err := s.opts.Admin.Update(r.Context(), principal(r), r.PathValue("p"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, adminViewOf(p))
}

// adminMembers answers POST /api/admin/projects/{p}/members.
func (s *server) adminMembers(w http.ResponseWriter, r *http.Request) error {
	var ch core.MembersChange
	if err := s.decode(w, r, &ch, false); err != nil {
		return err
	}
	p, err := s.opts.Admin.ChangeMembers(r.Context(), principal(r), r.PathValue("p"), ch)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, adminViewOf(p))
}

// adminRetire answers DELETE /api/admin/projects/{p}.
func (s *server) adminRetire(w http.ResponseWriter, r *http.Request) error {
	p, err := s.opts.Admin.Retire(r.Context(), principal(r), r.PathValue("p"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, adminViewOf(p))
}
