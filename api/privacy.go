package api

import (
	"context"
	"net/http"

	"github.com/dowserhq/dowser"
)

// Privacy is the storage of do-not-track entries and erasures.
type Privacy interface {
	SetDoNotTrack(ctx context.Context, kind, id string, on bool, by string) error
	EraseCustomer(ctx context.Context, customerID, by string) (seq int64, alerts int64, err error)
	ErasureAudit(ctx context.Context) ([]dowser.ErasureAuditEntry, error)
}

// doNotTrack marks or unmarks a customer or an account: its events are
// dropped before any state is kept, on every instance within a poll.
func (s *Server) doNotTrack(on bool) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, me dowser.User) {
		kind := r.PathValue("kind")
		if kind != dowser.DNTCustomer && kind != dowser.DNTAccount {
			s.fail(w, r, errorf(http.StatusBadRequest, "kind: %q is not customer or account", kind))
			return
		}
		id, err := pathID(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.privacy.SetDoNotTrack(r.Context(), kind, id, on, me.ID); err != nil {
			s.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// eraseCustomer erases a person on request: their alerts go at once; the
// detectors of every instance forget them within a poll and overwrite
// their checkpoints.
func (s *Server) eraseCustomer(w http.ResponseWriter, r *http.Request, me dowser.User) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	seq, alerts, err := s.privacy.EraseCustomer(r.Context(), id, me.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]int64{"erasure": seq, "alerts_deleted": alerts})
}

// listErasures is the erasure audit: what was erased, by whom, when, and
// whether every detector has applied it; never the person's id.
func (s *Server) listErasures(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	serveList(s, w, r, "erasures", s.privacy.ErasureAudit)
}
