package httpapi

import (
	"context"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"bucketdesk/internal/core"
)

// ShareLinks is what the API asks of the engine's one-time share links
// (engine.ShareLinks): the managers' routes check membership like every
// project route; Visit and Open serve the recipient, who has no login.
type ShareLinks interface {
	CreateLink(ctx context.Context, who core.Principal, project, user string, req core.LinkRequest) (*core.ShareLink, string, error)
	Links(ctx context.Context, who core.Principal, project, user string) ([]*core.ShareLink, error)
	RevokeLink(ctx context.Context, who core.Principal, project, user, id string) (*core.ShareLink, error)
	Visit(ctx context.Context, token string) (*core.ShareLink, error)
	Open(ctx context.Context, token, passphrase string) ([]byte, error)
}

// linkView is a share link as managers see it: never its ciphertext, its
// verifier's hash or its passphrase's hash.
type linkView struct {
	ID                 string          `json:"id"`
	Project            string          `json:"project"`
	User               string          `json:"user"`
	Key                int             `json:"key"`
	AccessKeyID        string          `json:"access_key_id,omitempty"`
	SFTP               bool            `json:"sftp"`
	Withheld           bool            `json:"withheld"`
	Passphrase         bool            `json:"passphrase"`
	PassphraseFailures int             `json:"passphrase_failures"`
	State              core.LinkState  `json:"state"`
	CreatedBy          string          `json:"created_by"`
	CreatedAt          time.Time       `json:"created_at"`
	ExpiresAt          time.Time       `json:"expires_at"`
	Opened             *core.LinkVisit `json:"opened,omitempty"`
	Revealed           *core.LinkVisit `json:"revealed,omitempty"`
	EndedAt            time.Time       `json:"ended_at,omitzero"`
	EndedBy            string          `json:"ended_by,omitempty"`
	Version            int64           `json:"version"`
}

func linkViewOf(l *core.ShareLink) linkView {
	return linkView{
		ID: l.ID, Project: l.Project, User: l.User, Key: l.Key, AccessKeyID: l.AccessKeyID, SFTP: l.SFTP,
		Withheld: l.Withheld, Passphrase: l.PassphraseHash != "", PassphraseFailures: l.PassphraseFailures,
		State: l.State, CreatedBy: l.CreatedBy, CreatedAt: l.CreatedAt, ExpiresAt: l.ExpiresAt,
		Opened: l.Opened, Revealed: l.Revealed, EndedAt: l.EndedAt, EndedBy: l.EndedBy, Version: l.Version,
	}
}

// linkRequest is the body of POST …/users/{name}/links.
type linkRequest struct {
	Key        int    `json:"key"`
	SFTP       bool   `json:"sftp"`
	ExpiresInS int64  `json:"expires_in_s"`
	Passphrase string `json:"passphrase"`
	Withhold   bool   `json:"withhold_secret"`
}

// createdLink is the answer of a created link: the only time its URL
// (path, token and fragment key) is shown.
type createdLink struct {
	Link linkView `json:"link"`
	// URL is the path to give the recipient, "/s/<token>#<key>"; prefix
	// it with the portal's origin.
	URL string `json:"url"`
}

// withRequestInfo puts the client's address and user agent into the
// request's context, for the link's visits and audit records.
func (s *server) withRequestInfo(r *http.Request) context.Context {
	return core.WithRequestInfo(r.Context(), core.RequestInfo{SourceIP: s.clientAddr(r), UserAgent: r.UserAgent()})
}

// createLink answers POST /api/projects/{p}/users/{name}/links.
func (s *server) createLink(w http.ResponseWriter, r *http.Request) error {
	req := linkRequest{Key: 1}
	if err := s.decode(w, r, &req, true); err != nil {
		return err
	}
	if req.ExpiresInS < 0 || req.ExpiresInS > int64(core.MaxLinkTTL/time.Second) {
		return invalid("expires_in_s", "must be at most %d seconds (7 days)", int64(core.MaxLinkTTL/time.Second))
	}
	l, url, err := s.opts.Links.CreateLink(s.withRequestInfo(r), principal(r), r.PathValue("p"), r.PathValue("name"), core.LinkRequest{
		Key: req.Key, SFTP: req.SFTP, ExpiresIn: time.Duration(req.ExpiresInS) * time.Second, Passphrase: req.Passphrase, Withhold: req.Withhold,
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, createdLink{Link: linkViewOf(l), URL: url})
}

// links answers GET /api/projects/{p}/users/{name}/links.
func (s *server) links(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.opts.Links.Links(s.withRequestInfo(r), principal(r), r.PathValue("p"), r.PathValue("name"))
	if err != nil {
		return err
	}
	out := items[linkView]{Items: make([]linkView, 0, len(ls))}
	for _, l := range ls {
		out.Items = append(out.Items, linkViewOf(l))
	}
	return writeJSON(w, http.StatusOK, out)
}

// revokeLink answers POST /api/projects/{p}/users/{name}/links/{id}/revoke.
func (s *server) revokeLink(w http.ResponseWriter, r *http.Request) error {
	l, err := s.opts.Links.RevokeLink(s.withRequestInfo(r), principal(r), r.PathValue("p"), r.PathValue("name"), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, linkViewOf(l))
}

// SharePageCSP is the Content-Security-Policy of the recipient's page and
// its API: its own script and style only, requests to itself only, no
// frames, no forms, no base.
const SharePageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// secretPage sets the headers of every answer of the recipient's page and
// its API, errors included: not stored by any cache, no referrer, not
// indexed, the strict CSP, no sniffing, no framing.
func secretPage(next handlerFunc) handlerFunc {
	return func(s *server, w http.ResponseWriter, r *http.Request) error {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Robots-Tag", "noindex, nofollow")
		h.Set("Content-Security-Policy", SharePageCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		return next(s, w, r)
	}
}

//go:embed sharepage
var sharePageFS embed.FS

var sharePage = template.Must(template.ParseFS(sharePageFS, "sharepage/page.html"))

// sharePageData fills sharepage/page.html.
type sharePageData struct {
	// Live: the page offers the reveal button; otherwise Title and
	// Message say why not.
	Live       bool
	Passphrase bool
	Expires    string
	Title      string
	Message    string
}

// sharePageGet answers GET /s/{token}: the recipient's page. It fetches
// and burns nothing: only its button does (POST /s/{token}/open).
func (s *server) sharePageGet(w http.ResponseWriter, r *http.Request) error {
	l, err := s.opts.Links.Visit(s.withRequestInfo(r), r.PathValue("token"))
	if err == nil {
		return renderSharePage(w, http.StatusOK, sharePageData{Live: true, Passphrase: l.PassphraseHash != "", Expires: l.ExpiresAt.UTC().Format(time.RFC3339)})
	}
	status, _, _ := statusOf(err)
	d := sharePageData{Title: "This link cannot be used", Message: clientDetail(err)}
	switch {
	case errors.Is(err, core.ErrGone):
		d.Title = "This link is no longer valid"
		d.Message = capitalize(clientDetail(err)) + ". Ask the person who sent it for a new one."
	case errors.Is(err, core.ErrNotFound):
		d.Title = "No such link"
		d.Message = "Check that you copied the whole link."
	case errors.Is(err, core.ErrThrottled):
		status = http.StatusTooManyRequests
		d.Message = "Too many attempts from your address; wait a few minutes."
		setRetryAfter(w, err)
	case status >= 500:
		s.log.ErrorContext(r.Context(), "share page failed", "status", status, "err", err)
		d.Message = "The server failed to answer; try again later."
	}
	return renderSharePage(w, status, d)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	b := []byte(s)
	if b[0] >= 'a' && b[0] <= 'z' {
		b[0] -= 'a' - 'A'
	}
	return string(b)
}

func setRetryAfter(w http.ResponseWriter, err error) {
	if wait, ok := core.RetryAfter(err); ok && wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	}
}

func renderSharePage(w http.ResponseWriter, status int, d sharePageData) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return sharePage.Execute(w, d)
}

// openRequest is the body of POST /s/{token}/open.
type openRequest struct {
	Passphrase string `json:"passphrase"`
}

// openedLink is the answer of POST /s/{token}/open: the ciphertext, which
// only the URL fragment's key decrypts, in unpadded base64url.
type openedLink struct {
	Ciphertext string `json:"ciphertext"`
}

// sharePageOpen answers POST /s/{token}/open: the link's ciphertext, once.
func (s *server) sharePageOpen(w http.ResponseWriter, r *http.Request) error {
	var req openRequest
	if err := s.decode(w, r, &req, true); err != nil {
		return err
	}
	ct, err := s.opts.Links.Open(s.withRequestInfo(r), r.PathValue("token"), req.Passphrase)
	if errors.Is(err, core.ErrThrottled) {
		// Here a throttle is the caller's own doing, as for logins.
		return &detailed{kind: errRateLimited, detail: "too many attempts from this address; wait before trying again", cause: err}
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, openedLink{Ciphertext: base64.RawURLEncoding.EncodeToString(ct)})
}

// shareAsset serves the page's own script or style sheet.
func shareAsset(name, contentType string) handlerFunc {
	return func(s *server, w http.ResponseWriter, r *http.Request) error {
		b, err := sharePageFS.ReadFile("sharepage/" + name)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b)
		return nil
	}
}
