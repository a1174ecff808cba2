package api

import (
	"context"
	"net/http"

	"github.com/dowserhq/dowser"
)

// ContentSearch finds content items, so that marketers can see who owns
// what without knowing ids.
type ContentSearch interface {
	SearchContent(ctx context.Context, q, owner string, limit int) ([]dowser.Content, error)
}

// listContent answers the content items matching ?q= (in id, title, URL
// prefix or owner) and ?owner=, by id, at most ?limit= (100, at most 500).
func (s *Server) listContent(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	limit, err := queryInt(r, "limit", 100, 500)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	owner := q.Get("owner")
	if owner != "" {
		if fe := dowser.CheckID("owner", owner); fe != nil {
			s.fail(w, r, errorf(http.StatusBadRequest, "%v", fe))
			return
		}
	}
	if fe := dowser.CheckText("q", q.Get("q"), dowser.MaxTitleLen); fe != nil {
		s.fail(w, r, errorf(http.StatusBadRequest, "%v", fe))
		return
	}
	search, ok := s.directory.(ContentSearch)
	if !ok {
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "content search is not available"))
		return
	}
	list, err := search.SearchContent(r.Context(), q.Get("q"), owner, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"content": list})
}
