package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"bucketdesk/internal/core"
)

type principalKey struct{}

// WithPrincipal returns ctx carrying who, as the authentication middleware
// stores it.
func WithPrincipal(ctx context.Context, who core.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, who)
}

// PrincipalFrom returns the authenticated caller of a request.
func PrincipalFrom(ctx context.Context) (core.Principal, bool) {
	who, ok := ctx.Value(principalKey{}).(core.Principal)
	return who, ok
}

// principal returns the request's caller; authenticated routes always
// have one.
func principal(r *http.Request) core.Principal {
	who, _ := PrincipalFrom(r.Context())
	return who
}

// bearerToken returns the token of an "Authorization: Bearer" header and
// whether an Authorization header was presented at all.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", true
	}
	return strings.TrimSpace(token), true
}

// authenticated verifies the bearer token and puts the principal into the
// request's context; without a valid token the answer is 401.
func authenticated(next handlerFunc) handlerFunc {
	return func(s *server, w http.ResponseWriter, r *http.Request) error {
		token, presented := bearerToken(r)
		if !presented {
			return kindError(core.ErrUnauthenticated, "an Authorization: Bearer token is required")
		}
		if token == "" {
			return kindError(core.ErrUnauthenticated, "the Authorization header must be \"Bearer <token>\"")
		}
		who, err := s.opts.Auth.Verify(r.Context(), token)
		switch {
		case err == nil && who.User != "":
		case err == nil, errors.Is(err, core.ErrUnauthenticated), errors.Is(err, core.ErrInvalid):
			// The verifier's reason (expired, wrong audience…) helps the
			// client and reveals nothing about anyone else.
			d := "the bearer token was refused"
			if err != nil {
				reason := strings.TrimPrefix(clientDetail(err), "auth: ")
				reason = strings.TrimSuffix(reason, ": "+core.ErrUnauthenticated.Error())
				d += ": " + reason
			}
			return &detailed{kind: core.ErrUnauthenticated, detail: d}
		default:
			return err // the key source is down: 503, not 401
		}
		r = r.WithContext(WithPrincipal(r.Context(), who))
		if err := next(s, w, r); err != nil {
			return s.hideProject(r, err)
		}
		return nil
	}
}

// recorder remembers the status a handler wrote.
type recorder struct {
	http.ResponseWriter
	status int
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	return rw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// instrument runs a handler under label (its route pattern): it turns a
// returned error or a panic into a problem, counts and times the request,
// and writes the access log line. The log has the method, the route
// pattern, the status and the duration; never a header, a query string or
// a body.
func (s *server) instrument(label string, h handlerFunc) http.Handler {
	m := s.metrics.route(label)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.inFlight.Add(1)
		rw := &recorder{ResponseWriter: w}
		r = r.WithContext(core.WithRequestInfo(r.Context(), core.RequestInfo{SourceIP: s.clientAddr(r), UserAgent: r.UserAgent()}))
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					s.metrics.inFlight.Add(-1)
					panic(v)
				}
				if rw.status == 0 {
					s.fail(rw, r, fmt.Errorf("%w: panic: %v", core.ErrInternal, v))
				} else {
					s.log.ErrorContext(r.Context(), "panic after the answer began", "route", label, "panic", fmt.Sprint(v))
				}
			}
			s.metrics.inFlight.Add(-1)
			if rw.status == 0 {
				rw.status = http.StatusOK
			}
			d := time.Since(start)
			m.observe(rw.status, d)
			s.log.LogAttrs(r.Context(), levelOf(rw.status), "http request",
				slog.String("method", r.Method), slog.String("route", label),
				slog.Int("status", rw.status), slog.Duration("duration", d))
		}()
		if err := h(s, rw, r); err != nil {
			if rw.status != 0 {
				// The answer has begun; all that is left is to log.
				s.log.ErrorContext(r.Context(), "error after the answer began", "route", label, "err", err)
				return
			}
			s.fail(rw, r, err)
		}
	})
}

// levelOf is the access log level of a status: server errors stand out.
func levelOf(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}
