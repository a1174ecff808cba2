package api

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/dowserhq/dowser/postgres"
)

type roles []string

var (
	adminOnly = roles{postgres.RoleAdmin}
	marketing = roles{postgres.RoleMarketer, postgres.RoleAdmin}
	sources   = roles{postgres.RoleSource, postgres.RoleAdmin}
	// people are the roles of humans; an upstream system's token reads
	// nothing.
	people = roles{postgres.RoleRep, postgres.RoleMarketer, postgres.RoleManager, postgres.RoleAdmin}
)

type authedHandler func(w http.ResponseWriter, r *http.Request, u postgres.User)

// auth authenticates the request by bearer token or session cookie and
// checks the user's role. Cookie-authenticated writes must carry the CSRF
// header, which a cross-site form cannot set.
func (s *Server) auth(allowed roles, h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var (
			u   postgres.User
			err error
		)
		if h := r.Header.Get("Authorization"); h != "" {
			token, ok := strings.CutPrefix(h, "Bearer ")
			if !ok || token == "" {
				s.fail(w, r, errorf(http.StatusUnauthorized, "Authorization header must be \"Bearer <token>\""))
				return
			}
			u, err = s.store.UserByToken(r.Context(), token)
		} else if c, cerr := r.Cookie(sessionCookie); cerr == nil && c.Value != "" {
			if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get(csrfHeader) == "" {
				s.fail(w, r, errorf(http.StatusForbidden, "cookie-authenticated %s requests need the %s header", r.Method, csrfHeader))
				return
			}
			u, err = s.store.UserBySession(r.Context(), c.Value)
		} else {
			s.fail(w, r, errorf(http.StatusUnauthorized, "authentication required: send \"Authorization: Bearer <token>\" or log in"))
			return
		}
		if errors.Is(err, postgres.ErrNotFound) {
			s.fail(w, r, errorf(http.StatusUnauthorized, "unknown or expired credentials"))
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if allowed != nil && !slices.Contains(allowed, u.Role) {
			s.fail(w, r, errorf(http.StatusForbidden, "role %s may not %s %s", u.Role, r.Method, r.URL.Path))
			return
		}
		h(w, r, u)
	}
}

type loginRequest struct {
	Token string `json:"token"`
}

type sessionResponse struct {
	User postgres.User `json:"user"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Token == "" {
		s.fail(w, r, errorf(http.StatusBadRequest, "token: is required"))
		return
	}
	u, err := s.store.UserByToken(r.Context(), req.Token)
	if errors.Is(err, postgres.ErrNotFound) {
		s.fail(w, r, errorf(http.StatusUnauthorized, "unknown token"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	secret, err := s.store.CreateSession(r.Context(), u.ID, s.cfg.SessionTTL)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    secret,
		Path:     "/",
		MaxAge:   int(s.cfg.SessionTTL.Seconds()),
		HttpOnly: true,
		Secure:   s.cfg.SecureCookies,
		SameSite: http.SameSiteStrictMode,
	})
	writeJSON(w, http.StatusOK, sessionResponse{User: u})
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request, u postgres.User) {
	writeJSON(w, http.StatusOK, sessionResponse{User: u})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, u postgres.User) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.store.DeleteSession(r.Context(), c.Value); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}
