package schema

import (
	"fmt"

	"github.com/dowserhq/dowser/schema/internal/jsonscan"
)

// A Decoder decodes and validates encoded events as [ParseEvent] does (the
// same Event and an *EventError of the same Reason and Field for every
// input) without the garbage: it scans the JSON by hand, keeps a bounded
// table of recently seen strings so that repeated ones (types, sources,
// lifecycles, content and account ids, property keys and values such as
// URLs and titles) cost no allocation, and reuses one Properties map.
//
// Every string it puts in an Event is an ordinary heap string, never a view
// of the input, so strings may be kept after the input buffer is reused.
// The Properties map, though, belongs to the Decoder: the next Decode
// clears and refills it.
//
// A Decoder is not safe for concurrent use; use one per goroutine. The
// zero Decoder works, without the table, for events of at most
// MaxEventBytes.
type Decoder struct {
	maxBytes int
	words    *jsonscan.Table // nil: every string is allocated
	props    map[string]any
	scratch  jsonscan.Scratch
	// timeBuf holds the time's string, unescaped, until the end: it is
	// parsed once the whole document is known to be well formed.
	timeBuf []byte
}

// internSets is the size of a Decoder's string table in sets of two:
// 4096 strings.
const internSets = 2048

// NewDecoder returns a Decoder of events of at most maxBytes
// (MaxEventBytes when maxBytes <= 0).
func NewDecoder(maxBytes int) *Decoder {
	if maxBytes <= 0 {
		maxBytes = MaxEventBytes
	}
	return &Decoder{maxBytes: maxBytes, words: jsonscan.NewTable(internSets)}
}

// Decode decodes and validates data into *ev, replacing all of it. It
// fails with an *EventError exactly when ParseEvent does, and *ev is then
// what ParseEvent returns with the error: the zero Event unless the JSON
// was well formed and the failure is a bad time or a missing or malformed
// field. ev.Properties is the Decoder's map, valid until the next Decode.
func (d *Decoder) Decode(data []byte, ev *Event) error {
	*ev = Event{}
	limit := d.maxBytes
	if limit <= 0 {
		limit = MaxEventBytes
	}
	if len(data) > limit {
		return &EventError{Reason: ReasonTooLarge, Detail: fmt.Sprintf("%d bytes exceeds the limit of %d", len(data), limit)}
	}
	// Zeroed and then set: cheaper, for every event, than a composite
	// literal that writes each field.
	var s eventScanner
	s.sc, s.d, s.ev = jsonscan.NewScanner(data, &d.scratch), d, ev
	if err := s.document(); err != nil {
		*ev = Event{}
		return err
	}
	switch s.timeKind {
	case timeOther:
		return &EventError{Reason: ReasonBadField, Field: "time", Detail: fmt.Sprintf("%s is not a string", s.timeVal)}
	case timeString:
		t, ok := jsonscan.ParseTime(s.timeVal)
		if !ok {
			return &EventError{Reason: ReasonBadField, Field: "time", Detail: fmt.Sprintf("%q is not an RFC 3339 time", s.timeVal)}
		}
		ev.Time = t
	}
	// Only an escape makes a NUL, and invalid UTF-8 was replaced: the
	// strings need no second look otherwise.
	return ev.validate(s.sc.SawNUL())
}

// What the last "time" member of an event held.
const (
	timeAbsent = iota // absent or null
	timeString
	timeOther // any other JSON value: a bad field
)

// eventScanner is one Decode in progress: it maps the members of the
// event's JSON onto the Event as encoding/json's decoder would in
//
//	struct {
//		Event
//		Time json.RawMessage `json:"time"`
//	}
type eventScanner struct {
	sc jsonscan.Scanner
	d  *Decoder
	ev *Event
	// typeErr is the first value of the wrong JSON type, which
	// encoding/json reports only once the whole document turned out to be
	// well formed.
	typeErr *EventError
	// dupErr is the first member of the event or its customer named twice
	// (in any case): reported once the document is known to be well
	// formed, before type errors.
	dupErr *EventError

	timeKind int
	timeVal  []byte // unquoted string, or the raw JSON of another value
}

// notJSON reports malformed JSON, in encoding/json's words.
func notJSON(err error) *EventError {
	return &EventError{Reason: ReasonNotJSON, Detail: err.Error()}
}

// document scans the whole input: one JSON value, then only white space
// or a closing bracket (what json.Decoder.More accepts as the end).
func (s *eventScanner) document() *EventError {
	s.sc.SkipSpace()
	c, err := s.sc.Peek()
	if err != nil {
		return &EventError{Reason: ReasonNotJSON, Detail: "EOF"}
	}
	switch c {
	case '{':
		err = s.event()
	case 'n':
		err = s.sc.Literal("null")
	default:
		// An array, string, number or boolean is well formed JSON but no
		// event; what follows it does not matter.
		if err := s.sc.Skip(0); err != nil {
			return notJSON(err)
		}
		return &EventError{Reason: ReasonBadField, Field: "(event)", Detail: "expected an object, got JSON " + jsonscan.Kind(c)}
	}
	if err != nil {
		return notJSON(err)
	}
	if s.dupErr != nil {
		return s.dupErr
	}
	if s.typeErr != nil {
		return s.typeErr
	}
	s.sc.SkipSpace()
	if c, err := s.sc.Peek(); err == nil && c != '}' && c != ']' {
		return &EventError{Reason: ReasonNotJSON, Detail: "trailing data after the JSON object"}
	}
	return nil
}

// The members of an event and of its customer.
const (
	memberUnknown = iota
	memberID
	memberType
	memberTime
	memberSource
	memberCustomer
	memberContentID
	memberProperties
)

const (
	customerUnknown = iota
	customerID
	customerAnonymousID
	customerEmail
	customerAccountID
	customerLifecycle
)

// eventMember says which member key names. As in encoding/json, an exact
// match comes first, then one ignoring case (Unicode simple folding).
func eventMember(key []byte) int {
	switch string(key) {
	case "id":
		return memberID
	case "type":
		return memberType
	case "time":
		return memberTime
	case "source":
		return memberSource
	case "customer":
		return memberCustomer
	case "content_id":
		return memberContentID
	case "properties":
		return memberProperties
	}
	// Not exact: the slow path, in the order of the member constants,
	// which start after unknown.
	return 1 + jsonscan.FoldIndex(key, "id", "type", "time", "source", "customer", "content_id", "properties")
}

func customerMember(key []byte) int {
	switch string(key) {
	case "id":
		return customerID
	case "anonymous_id":
		return customerAnonymousID
	case "email":
		return customerEmail
	case "account_id":
		return customerAccountID
	case "lifecycle":
		return customerLifecycle
	}
	return 1 + jsonscan.FoldIndex(key, "id", "anonymous_id", "email", "account_id", "lifecycle")
}

// eventNames and customerNames are the members' names, by their member
// constants, for messages.
var (
	eventNames    = [...]string{memberID: "id", memberType: "type", memberTime: "time", memberSource: "source", memberCustomer: "customer", memberContentID: "content_id", memberProperties: "properties"}
	customerNames = [...]string{customerID: "customer.id", customerAnonymousID: "customer.anonymous_id", customerEmail: "customer.email", customerAccountID: "customer.account_id", customerLifecycle: "customer.lifecycle"}
)

// once notes that member m (not unknown) of an object has been seen, and a
// duplicate when it had been before: encoding/json would keep the last,
// so {"customer":{"id":"a","ID":"b"}} would be b's event.
func (s *eventScanner) once(seen *uint32, m int, field string) {
	if m == 0 {
		return // unknown members are skipped, whatever their number
	}
	if *seen&(1<<m) != 0 && s.dupErr == nil {
		s.dupErr = &EventError{Reason: ReasonBadField, Field: field, Detail: "member named twice"}
	}
	*seen |= 1 << m
}

// event scans the top-level object.
func (s *eventScanner) event() error {
	var seen uint32
	return s.sc.Object(1, func(key []byte) error {
		ev := s.ev
		m := eventMember(key)
		s.once(&seen, m, eventNames[m])
		switch m {
		case memberID:
			return s.stringMember(&ev.ID, "id", 1, false)
		case memberType:
			return s.stringMember(&ev.Type, "type", 1, true)
		case memberTime:
			return s.timeMember()
		case memberSource:
			return s.stringMember(&ev.Source, "source", 1, true)
		case memberCustomer:
			return s.customer()
		case memberContentID:
			return s.stringMember(&ev.ContentID, "content_id", 1, true)
		case memberProperties:
			return s.properties()
		}
		return s.sc.Skip(1)
	})
}

// other consumes the value of field, a member of an object at depth,
// that is not of the kind wanted: null, which is no value, or any other, a
// type error.
func (s *eventScanner) other(field, kind string, depth int) error {
	c, err := s.sc.Peek()
	switch {
	case err != nil:
		return err
	case c == 'n':
		return s.sc.Literal("null")
	}
	if err := s.sc.Skip(depth); err != nil {
		return err
	}
	if s.typeErr == nil {
		s.typeErr = &EventError{Reason: ReasonBadField, Field: field, Detail: fmt.Sprintf("expected %s, got JSON %s", kind, jsonscan.Kind(c))}
	}
	return nil
}

// stringMember stores a string value, a member of an object at depth, in
// *dst; null leaves *dst as it is. Strings of intern are looked up in the
// Decoder's table of recent strings first.
func (s *eventScanner) stringMember(dst *string, field string, depth int, intern bool) error {
	if !s.sc.At('"') {
		return s.other(field, "a string", depth)
	}
	b, err := s.sc.Unquote()
	if err != nil {
		return err
	}
	if intern {
		*dst = s.d.words.String(b)
	} else {
		*dst = string(b)
	}
	return nil
}

// timeMember notes the time's value; it is parsed once the whole document
// is known to be well formed and free of type errors. The last one counts.
func (s *eventScanner) timeMember() error {
	c, err := s.sc.Peek()
	if err != nil {
		return err
	}
	switch c {
	case '"':
		b, err := s.sc.UnquoteInto(&s.d.timeBuf)
		if err != nil {
			return err
		}
		s.timeKind, s.timeVal = timeString, b
	case 'n':
		if err := s.sc.Literal("null"); err != nil {
			return err
		}
		s.timeKind, s.timeVal = timeAbsent, nil
	default:
		raw, err := s.sc.Raw(1)
		if err != nil {
			return err
		}
		s.timeKind, s.timeVal = timeOther, raw
	}
	return nil
}

func (s *eventScanner) customer() error {
	if !s.sc.At('{') {
		return s.other("customer", "an object", 1) // null leaves the customer as it is
	}
	c := &s.ev.Customer
	var seen uint32
	return s.sc.Object(2, func(key []byte) error {
		// A person's ids and email are allocated: there are too many
		// people for the table, and comparing with one in it (out of the
		// CPU's caches by then) cost the pipeline more than allocating.
		m := customerMember(key)
		s.once(&seen, m, customerNames[m])
		switch m {
		case customerID:
			return s.stringMember(&c.ID, "customer.id", 2, false)
		case customerAnonymousID:
			return s.stringMember(&c.AnonymousID, "customer.anonymous_id", 2, false)
		case customerEmail:
			return s.stringMember(&c.Email, "customer.email", 2, false)
		case customerAccountID:
			return s.stringMember(&c.AccountID, "customer.account_id", 2, true)
		case customerLifecycle:
			return s.stringMember(&c.Lifecycle, "customer.lifecycle", 2, true)
		}
		return s.sc.Skip(2)
	})
}

// properties decodes the properties object into the Decoder's map. A
// second properties member adds to the first, as encoding/json does; null
// drops them.
func (s *eventScanner) properties() error {
	if !s.sc.At('{') {
		// null drops the properties; after a value of another kind the
		// event fails anyway.
		s.ev.Properties = nil
		return s.other("properties", "an object", 1)
	}
	m := s.ev.Properties
	if m == nil {
		m = s.d.props
		switch {
		case m == nil || len(m) > 64:
			// Clearing costs the map's capacity: a rare large event's
			// map is dropped rather than cleared for every later one.
			m = make(map[string]any, 8)
		default:
			clear(m)
		}
		s.d.props = m
		s.ev.Properties = m
	}
	if err := s.sc.AnyObject(2, m, s.d.words); err != nil {
		return err
	}
	// Out of range of a float64: encoding/json reports the value as of
	// the wrong type, under the properties. Properties hold no other type
	// errors, so this is the first since the last look.
	if num := s.sc.OutOfRange(); num != nil && s.typeErr == nil {
		s.typeErr = &EventError{Reason: ReasonBadField, Field: "properties", Detail: fmt.Sprintf("number %s is out of the range of a float64", num)}
	}
	return nil
}
