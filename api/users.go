package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/dowserhq/dowser"
)

// People are the users, their credentials and managers' subscriptions to
// reps: what authentication and the user handlers read and write.
type People interface {
	UserByToken(ctx context.Context, token string) (dowser.User, error)
	UserBySession(ctx context.Context, secret string) (dowser.User, error)
	CreateSession(ctx context.Context, userID string, ttl time.Duration) (string, error)
	DeleteSession(ctx context.Context, secret string) error
	PutUser(ctx context.Context, u dowser.User, token string) error
	DeleteUser(ctx context.Context, id string) error
	GetUser(ctx context.Context, id string) (dowser.User, error)
	Subscribe(ctx context.Context, managerID, repID string) error
	Unsubscribe(ctx context.Context, managerID, repID string) error
}

type userRequest struct {
	Name     string      `json:"name"`
	Role     dowser.Role `json:"role"`
	Token    string      `json:"token,omitempty"`
	Disabled bool        `json:"disabled"`
}

// userWithToken is a user to save with their new login token: the token's
// rule is checked with the user's.
type userWithToken struct {
	dowser.User
	token string
}

func (u userWithToken) Validate() error {
	var p dowser.Problems
	if err := u.User.Validate(); err != nil && !errors.As(err, &p) {
		return err
	}
	p.Add(dowser.CheckField(dowser.KindUsers, "token", u.token))
	return p.Err()
}

func (s *Server) putUser(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req userRequest
	if err := decodeJSON(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	u := dowser.User{ID: id, Name: req.Name, Role: req.Role, Disabled: req.Disabled}
	if err := s.validate(r.Context(), userWithToken{u, req.Token}, dowser.KindUsers, "", ""); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.people.PutUser(r.Context(), u, req.Token); err != nil {
		if errors.Is(err, dowser.ErrUserDeleted) {
			err = errorf(http.StatusConflict, "id: %q belonged to a deleted user and stays reserved for its alerts' history; choose another id", id)
		}
		s.fail(w, r, err)
		return
	}
	// A rotated token or a disabled user ends the user's streams here at
	// once; other instances follow within their revocation poll.
	s.revoked(r.Context(), id)
	writeJSON(w, http.StatusOK, u)
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, me dowser.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if id == me.ID {
		s.fail(w, r, errorf(http.StatusConflict, "id: an admin cannot delete themself (%q); ask another admin", id))
		return
	}
	if err := s.people.DeleteUser(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	s.revoked(r.Context(), id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, me dowser.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if me.Role != dowser.RoleAdmin && me.ID != id {
		s.fail(w, r, errorf(http.StatusForbidden, "only admins may read other users"))
		return
	}
	u, err := s.people.GetUser(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// subscription subscribes (on) or unsubscribes the manager {id} to the rep
// {rep}: while subscribed, the manager receives every alert the rep does.
// A manager changes their own subscriptions, an admin anyone's.
func (s *Server) subscription(on bool) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, me dowser.User) {
		managerID, err := teamManager(me, "id", r.PathValue("id"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		repID := r.PathValue("rep")
		if fe := dowser.CheckID("rep", repID); fe != nil {
			s.fail(w, r, errorf(http.StatusBadRequest, "%v", fe))
			return
		}
		if !on {
			if err := s.people.Unsubscribe(r.Context(), managerID, repID); err != nil {
				s.fail(w, r, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		for _, want := range []struct {
			field, id string
			role      dowser.Role
		}{{"id", managerID, dowser.RoleManager}, {"rep", repID, dowser.RoleRep}} {
			u, err := s.people.GetUser(r.Context(), want.id)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			if u.Role != want.role {
				s.fail(w, r, errorf(http.StatusBadRequest, "%s: %q is a %s, not a %s", want.field, want.id, u.Role, want.role))
				return
			}
		}
		if err := s.people.Subscribe(r.Context(), managerID, repID); err != nil {
			s.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
