package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dowserhq/dowser"
)

type roles []dowser.Role

var (
	adminOnly = roles{dowser.RoleAdmin}
	marketing = roles{dowser.RoleMarketer, dowser.RoleAdmin}
	sources   = roles{dowser.RoleSource, dowser.RoleAdmin}
	// people are the roles of humans; an upstream system's token reads
	// nothing.
	people = roles{dowser.RoleRep, dowser.RoleMarketer, dowser.RoleManager, dowser.RoleAdmin}
)

// CookieSecurity says when the session cookie is marked Secure.
type CookieSecurity string

// The values of CookieSecurity.
const (
	// CookiesSecureAuto marks the cookie Secure when the request came
	// over TLS, directly or through a trusted proxy's X-Forwarded-Proto.
	CookiesSecureAuto CookieSecurity = "auto"
	// CookiesSecureAlways always marks it Secure (HTTPS in front).
	CookiesSecureAlways CookieSecurity = "always"
	// CookiesSecureNever never does (plain-HTTP development).
	CookiesSecureNever CookieSecurity = "never"
)

// ParseCookieSecurity parses auto, always or never.
func ParseCookieSecurity(s string) (CookieSecurity, error) {
	switch c := CookieSecurity(s); c {
	case CookiesSecureAuto, CookiesSecureAlways, CookiesSecureNever:
		return c, nil
	}
	return "", fmt.Errorf("%q is not auto, always or never", s)
}

// authedHandler serves an authenticated request; cred re-checks the
// credential it came with (see Streamer).
type authedHandler func(w http.ResponseWriter, r *http.Request, u dowser.User)

type credentialKey struct{}

// credential returns the re-check of the request's credential that auth
// stored in its context.
func credential(r *http.Request) func(context.Context) (bool, error) {
	f, _ := r.Context().Value(credentialKey{}).(func(context.Context) (bool, error))
	return f
}

// auth authenticates the request by bearer token or session cookie and
// checks the user's role. Cookie-authenticated writes must carry the CSRF
// header, which a cross-site form cannot set. It decides before the body
// is read; a refused request's connection is closed rather than drained,
// so a client sending a body slowly gets its answer at once.
func (s *Server) auth(allowed roles, h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var (
			u    dowser.User
			err  error
			cred func(context.Context) (bool, error)
		)
		if h := r.Header.Get("Authorization"); h != "" {
			token, ok := strings.CutPrefix(h, "Bearer ")
			if !ok || token == "" {
				s.refuse(w, r, errorf(http.StatusUnauthorized, "Authorization header must be \"Bearer <token>\""))
				return
			}
			keys := throttleKeys(clientAddr(r, s.cfg.TrustedProxies), token)
			if wait := s.throttle.begin(keys...); wait > 0 {
				s.tooMany(w, r, wait)
				return
			}
			u, err = s.people.UserByToken(r.Context(), token)
			if !errors.Is(err, dowser.ErrNotFound) {
				s.throttle.succeeded(keys...) // storage trouble is not the client's failure
			}
			cred = s.tokenCredential(u.ID, token)
		} else if c, cerr := r.Cookie(sessionCookie); cerr == nil && c.Value != "" {
			if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get(csrfHeader) == "" {
				s.refuse(w, r, errorf(http.StatusForbidden, "cookie-authenticated %s requests need the %s header", r.Method, csrfHeader))
				return
			}
			u, err = s.people.UserBySession(r.Context(), c.Value)
			cred = s.sessionCredential(u.ID, c.Value)
		} else {
			s.refuse(w, r, errorf(http.StatusUnauthorized, "authentication required: send \"Authorization: Bearer <token>\" or log in"))
			return
		}
		if errors.Is(err, dowser.ErrNotFound) {
			s.refuse(w, r, errorf(http.StatusUnauthorized, "unknown or expired credentials"))
			return
		}
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		if allowed != nil && !slices.Contains(allowed, u.Role) {
			s.refuse(w, r, errorf(http.StatusForbidden, "role %s may not %s %s", u.Role, r.Method, r.URL.Path))
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), credentialKey{}, cred)), u)
	}
}

// refuse answers a request whose body was not read, and closes the
// connection. net/http would otherwise drain up to 256 KiB of the body,
// before answering and again before closing, waiting on a client that
// sends it slowly: "Connection: close" skips the first drain, a read
// deadline in the past ends the second.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
	s.fail(w, r, err)
}

// tooMany answers 429 to a client that failed to authenticate too often.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := int(wait.Round(time.Second) / time.Second)
	secs = max(secs, 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.refuse(w, r, errorf(http.StatusTooManyRequests, "too many failed logins from this address or with this token prefix; retry in %d s", secs))
}

func (s *Server) tokenCredential(userID, token string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		u, err := s.people.UserByToken(ctx, token)
		if errors.Is(err, dowser.ErrNotFound) {
			return false, nil
		}
		return err == nil && u.ID == userID, err
	}
}

func (s *Server) sessionCredential(userID, secret string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		u, err := s.people.UserBySession(ctx, secret)
		if errors.Is(err, dowser.ErrNotFound) {
			return false, nil
		}
		return err == nil && u.ID == userID, err
	}
}

func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, u dowser.User) {
	s.stream.ServeStream(w, r, u.ID, credential(r))
}

// revoked closes this instance's streams of the user whose credentials
// ended; the other instances learn it from the revocations they poll.
func (s *Server) revoked(ctx context.Context, userID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	s.stream.Recheck(ctx, userID)
}

type loginRequest struct {
	Token string `json:"token"`
}

type sessionResponse struct {
	User dowser.User `json:"user"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	addr := clientAddr(r, s.cfg.TrustedProxies)
	// A throttled address is refused before its body is read.
	if wait := s.throttle.begin(throttleKeys(addr, "")...); wait > 0 {
		s.tooMany(w, r, wait)
		return
	}
	s.throttle.succeeded(throttleKeys(addr, "")...)
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Token == "" {
		s.fail(w, r, errorf(http.StatusBadRequest, "token: is required"))
		return
	}
	keys := throttleKeys(addr, req.Token)
	if wait := s.throttle.begin(keys...); wait > 0 {
		s.tooMany(w, r, wait)
		return
	}
	u, err := s.people.UserByToken(r.Context(), req.Token)
	if errors.Is(err, dowser.ErrNotFound) {
		s.fail(w, r, errorf(http.StatusUnauthorized, "unknown token"))
		return
	}
	s.throttle.succeeded(keys...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	secret, err := s.people.CreateSession(r.Context(), u.ID, s.cfg.SessionTTL)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c := s.sessionCookie(r)
	c.Value = secret
	c.MaxAge = int(s.cfg.SessionTTL.Seconds())
	http.SetCookie(w, c)
	writeJSON(w, http.StatusOK, sessionResponse{User: u})
}

// sessionCookie returns the session cookie's attributes for r: the login
// and the logout that clears it must agree, or the browser keeps both.
func (s *Server) sessionCookie(r *http.Request) *http.Cookie {
	secure := false
	switch s.cfg.SecureCookies {
	case CookiesSecureAlways:
		secure = true
	case CookiesSecureNever:
	default:
		secure = overTLS(r, s.cfg.TrustedProxies)
	}
	return &http.Cookie{
		Name:     sessionCookie,
		Path:     "/",
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteStrictMode,
	}
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request, u dowser.User) {
	writeJSON(w, http.StatusOK, sessionResponse{User: u})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, u dowser.User) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.people.DeleteSession(r.Context(), c.Value); err != nil {
			s.fail(w, r, err)
			return
		}
		s.revoked(r.Context(), u.ID)
	}
	c := s.sessionCookie(r)
	c.MaxAge = -1
	http.SetCookie(w, c)
	w.WriteHeader(http.StatusNoContent)
}
