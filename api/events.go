package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/schema"
)

// maxEventsPerPost bounds one POST /v1/events batch.
const maxEventsPerPost = 1000

// The media types of POST /v1/events: JSON in the format the query names,
// and CloudEvents' structured (one event) and batched JSON modes.
const (
	cloudEventType      = "application/cloudevents+json"
	cloudEventBatchType = "application/cloudevents-batch+json"
)

var eventTypes = []string{"application/json", cloudEventType, cloudEventBatchType}

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
//
// The events are in Dowser's envelope unless ?format= names another
// format, or the Content-Type is a CloudEvents one; each is produced as
// it was posted, marked with its format, and converted by the consumer
// as it was here.
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request, _ dowser.User) {
	if s.cfg.Events == nil {
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "this instance does not accept events over HTTP"))
		return
	}
	mapping, single, err := s.eventMapping(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := readBody(r, eventTypes)
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
	if single {
		raws = []json.RawMessage{body}
	} else if err := json.Unmarshal(body, &raws); err != nil {
		// Segment's own batch body is {"batch": [...]}.
		var wrapped struct {
			Events []json.RawMessage `json:"events"`
			Batch  []json.RawMessage `json:"batch"`
		}
		if err2 := json.Unmarshal(body, &wrapped); err2 != nil || (wrapped.Events == nil && wrapped.Batch == nil) {
			s.fail(w, r, errorf(http.StatusBadRequest, "body must be a JSON array of events, {\"events\": [...]} or {\"batch\": [...]}: %v", err))
			return
		}
		raws = append(wrapped.Events, wrapped.Batch...)
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
		ev, err := mapping.Convert(formats.Message{Value: raw}, 0)
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
	if err := s.cfg.Events.ProduceEvents(r.Context(), mapping.Format(), events, encoded); err != nil {
		s.cfg.Logger.Error("producing posted events", "events", len(events), "err", err)
		s.fail(w, r, errorf(http.StatusServiceUnavailable, "the events topic did not accept the batch; retry"))
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]int{"accepted": len(events)})
}

// eventMapping is the mapping a POST /v1/events request's events are in,
// from its format parameter and Content-Type; single is set when the body
// is one event (a structured CloudEvent), not a batch.
func (s *Server) eventMapping(r *http.Request) (m *formats.Mapping, single bool, err error) {
	format := r.URL.Query().Get("format")
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case cloudEventType, cloudEventBatchType:
		if format != "" && format != formats.CloudEvents {
			return nil, false, errorf(http.StatusBadRequest, "format %q contradicts Content-Type %s", format, mt)
		}
		format, single = formats.CloudEvents, mt == cloudEventType
	case "application/json":
		if format == "" {
			format = formats.Dowser
		}
	}
	if format != "" && !slices.Contains(formats.Names(), format) {
		return nil, false, errorf(http.StatusBadRequest, "format %q is not %s", format, strings.Join(formats.Names(), ", "))
	}
	// Any other Content-Type is refused by readBody, with the list.
	if format == "" {
		format = formats.Dowser
	}
	m, err = s.cfg.Source.For(format)
	if err != nil {
		return nil, false, errorf(http.StatusBadRequest, "%v", err)
	}
	return m, single, nil
}
