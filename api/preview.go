package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/postgres"
)

// Previewer runs a signal over recent history without enabling it.
type Previewer interface {
	// Preview evaluates sig over the events of the last since and returns
	// a JSON-encodable summary.
	Preview(ctx context.Context, sig *detector.Signal, since time.Duration) (any, error)
}

// maxPreview bounds how far back a preview reads, and previewTimeout how
// long it may take, so that a preview cannot tie up an instance.
const (
	maxPreview     = 30 * 24 * time.Hour
	previewTimeout = 60 * time.Second
)

// previewSignal backtests the posted definition over the events topic's
// recent history (?since=, default 24h): what would it have fired?
func (s *Server) previewSignal(w http.ResponseWriter, r *http.Request, _ postgres.User) {
	if s.cfg.Preview == nil {
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "this instance does not run previews"))
		return
	}
	since := 24 * time.Hour
	if v := r.URL.Query().Get("since"); v != "" {
		d, err := detector.ParseDuration(v)
		if err != nil || d <= 0 || time.Duration(d) > maxPreview {
			s.fail(w, r, errorf(http.StatusBadRequest, "since: %q is not a duration between 1s and 30d", v))
			return
		}
		since = time.Duration(d)
	}
	src, err := readBody(r, signalTypes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sig, err := detector.ParseSignal(src)
	if err != nil {
		he := &httpError{status: http.StatusUnprocessableEntity, msg: err.Error()}
		var ve *detector.ValidationError
		if errors.As(err, &ve) {
			he.problems = ve.Problems
		}
		s.fail(w, r, he)
		return
	}
	sig.Version = 0 // a preview is no version
	ctx, cancel := context.WithTimeout(r.Context(), previewTimeout)
	defer cancel()
	out, err := s.cfg.Preview.Preview(ctx, sig, since)
	if err != nil {
		if ctx.Err() != nil {
			s.fail(w, r, errorf(http.StatusGatewayTimeout, "the preview did not finish within %v; try a shorter since", previewTimeout))
			return
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
