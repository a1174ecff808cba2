package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// maxEventsPerPost bounds one POST /v1/events batch.
const maxEventsPerPost = 1000

type eventProblem struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
	Field  string `json:"field,omitempty"`
	Error  string `json:"error"`
}

// postEvents validates a batch of events with the rules of the events
// topic and produces it. The batch is all or nothing: one invalid event
// rejects the whole batch, with every problem listed by index, so a caller
// can fix and resend without working out what went through.
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	if s.cfg.Events == nil {
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "this instance does not accept events over HTTP"))
		return
	}
	body, err := readBody(r, jsonTypes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Exact names: an event's properties may differ only in case. The
	// event decoder refuses its own members twice in any case.
	if err := checkStrictJSON(body, false); err != nil {
		s.fail(w, r, errorf(http.StatusBadRequest, "decoding request body: %v", err))
		return
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		var wrapped struct {
			Events []json.RawMessage `json:"events"`
		}
		if err2 := json.Unmarshal(body, &wrapped); err2 != nil || wrapped.Events == nil {
			s.fail(w, r, errorf(http.StatusBadRequest, "body must be a JSON array of events or {\"events\": [...]}: %v", err))
			return
		}
		raws = wrapped.Events
	}
	if len(raws) == 0 || len(raws) > maxEventsPerPost {
		s.fail(w, r, errorf(http.StatusBadRequest, "a batch holds 1 to %d events, not %d", maxEventsPerPost, len(raws)))
		return
	}
	events := make([]schema.Event, len(raws))
	encoded := make([][]byte, len(raws))
	var problems []eventProblem
	now := time.Now()
	for i, raw := range raws {
		ev, err := schema.ParseEvent(raw, 0)
		if err == nil {
			err = ev.CheckClock(now, s.cfg.MaxEventSkew)
		}
		if err != nil {
			p := eventProblem{Index: i, Error: err.Error()}
			var ee *schema.EventError
			if errors.As(err, &ee) {
				p.Reason, p.Field = ee.Reason, ee.Field
			}
			problems = append(problems, p)
			continue
		}
		events[i], encoded[i] = ev, raw
	}
	if len(problems) > 0 {
		s.fail(w, r, &httpError{status: http.StatusUnprocessableEntity,
			msg:      fmt.Sprintf("%d of %d events are invalid; none was accepted", len(problems), len(raws)),
			problems: problems})
		return
	}
	if err := s.cfg.Events.ProduceEvents(r.Context(), events, encoded); err != nil {
		s.cfg.Logger.Error("producing posted events", "events", len(events), "err", err)
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "the events topic did not accept the batch; retry"))
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]int{"accepted": len(events)})
}
