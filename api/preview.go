package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/detector"
)

// Previewer runs a signal over recent history without enabling it.
type Previewer interface {
	// Preview evaluates sig over the events of the last since and returns
	// a JSON-encodable summary. It bounds the events it reads and the
	// time it takes itself, and says so in the summary.
	Preview(ctx context.Context, sig *detector.Signal, since time.Duration) (any, error)
}

// maxPreview bounds how far back a preview reads.
const maxPreview = 30 * 24 * time.Hour

// DefaultMaxPreviews is how many previews run at once unless
// Config.MaxPreviews says otherwise: each reads the events topic and runs
// a detector on a core of its own.
const DefaultMaxPreviews = 2

// previewRetryAfter is the Retry-After of a preview refused for lack of a
// slot, in seconds.
const previewRetryAfter = "5"

// previewSignal backtests the posted definition over the events topic's
// recent history (?since=, default 24h): what would it have fired?
func (s *Server) previewSignal(w http.ResponseWriter, r *http.Request, _ dowser.User) {
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
	sig, _, err := readSignal(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sig.Version = 0 // a preview is no version
	select {
	case s.previews <- struct{}{}:
		defer func() { <-s.previews }()
	default:
		w.Header().Set("Retry-After", previewRetryAfter)
		s.fail(w, r, errorf(http.StatusTooManyRequests, "%d previews are running on this instance, the most it runs at once (--max-previews); try again in a few seconds", cap(s.previews)))
		return
	}
	ctx := r.Context()
	out, err := s.cfg.Preview.Preview(ctx, sig, since)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			s.fail(w, r, errorf(http.StatusGatewayTimeout, "the preview did not finish in time (--preview-timeout); try a shorter since"))
			return
		}
		if ctx.Err() != nil {
			return // the client is gone
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
