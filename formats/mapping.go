package formats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// The formats Dowser reads.
const (
	// Dowser is Dowser's own envelope, schema.Event.
	Dowser = "dowser"
	// Segment is a Segment or RudderStack spec message: track, page,
	// screen, identify or group.
	Segment = "segment"
	// Snowplow is a Snowplow enriched event as the Snowplow Analytics
	// SDKs transform it to JSON.
	Snowplow = "snowplow"
	// CloudEvents is a CloudEvents 1.0 event: structured (the JSON event
	// format) or binary (attributes in ce_* Kafka headers, the value its
	// data).
	CloudEvents = "cloudevents"
)

// Names are the formats, in the order documentation lists them.
func Names() []string { return []string{Dowser, Segment, Snowplow, CloudEvents} }

// The event fields a mapping fills, by the names a SourceConfig overrides
// them with. URL, title and referrer become the event's properties url,
// title and referrer, which the built-in page_view signals read.
const (
	FieldType        = "type"
	FieldID          = "id"
	FieldTime        = "time"
	FieldCustomerID  = "customer_id"
	FieldAnonymousID = "anonymous_id"
	FieldEmail       = "email"
	FieldAccountID   = "account_id"
	FieldLifecycle   = "lifecycle"
	FieldContentID   = "content_id"
	FieldURL         = "url"
	FieldTitle       = "title"
	FieldReferrer    = "referrer"
	FieldSource      = "source"
)

type field int

const (
	fType field = iota
	fID
	fTime
	fCustomerID
	fAnonymousID
	fEmail
	fAccountID
	fLifecycle
	fContentID
	fURL
	fTitle
	fReferrer
	fSource
	numFields
)

// fieldNames are the fields' names, by field.
var fieldNames = [numFields]string{FieldType, FieldID, FieldTime, FieldCustomerID, FieldAnonymousID, FieldEmail,
	FieldAccountID, FieldLifecycle, FieldContentID, FieldURL, FieldTitle, FieldReferrer, FieldSource}

// eventFields are the schema.EventError fields of an Event by the mapping
// field that fills them, to name the message's field instead.
var eventFields = map[string]field{
	"id": fID, "type": fType, "time": fTime, "source": fSource,
	"customer.id": fCustomerID, "customer.anonymous_id": fAnonymousID, "customer.email": fEmail,
	"customer.account_id": fAccountID, "customer.lifecycle": fLifecycle, "content_id": fContentID,
}

// Message is one message to convert: a Kafka record's value and headers,
// or one event posted over HTTP (no headers).
type Message struct {
	Value   []byte
	Headers []Header
}

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// path is a field path: object members by name, array elements by index
// ("contexts_com_acme_user_1.0.id").
type path []string

func parsePath(s string) (path, error) {
	if s == "" {
		return nil, errors.New("empty field path")
	}
	p := strings.Split(s, ".")
	if slices.Contains(p, "") {
		return nil, fmt.Errorf("field path %q has an empty part", s)
	}
	return p, nil
}

func (p path) String() string { return strings.Join(p, ".") }

// lookup finds p in doc; null counts as absent.
func lookup(doc map[string]any, p path) (any, bool) {
	var cur any = doc
	for _, seg := range p {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[seg]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, cur != nil
}

// A Mapping converts the messages of one format into events: which of a
// message's fields becomes each of the event's. It is safe for concurrent
// use.
type Mapping struct {
	format string
	paths  [numFields][]path
	// overridden marks the fields a SourceConfig set: the format's own
	// derivation of the type is then not used.
	overridden [numFields]bool
}

// NewMapping returns format's default mapping with the fields in
// overrides (field name → path) replaced. The envelope, Dowser, takes no
// overrides.
func NewMapping(format string, overrides map[string]string) (*Mapping, error) {
	defaults, ok := defaultPaths(format)
	if !ok {
		return nil, fmt.Errorf("unknown format %q: not %s", format, orList(Names()))
	}
	if format == Dowser && len(overrides) > 0 {
		return nil, errors.New("format dowser is Dowser's own envelope and takes no field mappings")
	}
	m := &Mapping{format: format}
	for f, ps := range defaults {
		for _, s := range ps {
			p, _ := parsePath(s)
			m.paths[f] = append(m.paths[f], p)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(overrides)) {
		f := slices.Index(fieldNames[:], name)
		if f < 0 {
			return nil, fmt.Errorf("%s: unknown field %q: not %s", format, name, orList(fieldNames[:]))
		}
		p, err := parsePath(overrides[name])
		if err != nil {
			return nil, fmt.Errorf("%s: field %s: %w", format, name, err)
		}
		m.paths[f] = []path{p}
		m.overridden[f] = true
	}
	return m, nil
}

// Format is the name of the mapping's format.
func (m *Mapping) Format() string { return m.format }

// Envelope reports whether the mapping is Dowser's own envelope, which a
// schema.Decoder decodes faster than Convert.
func (m *Mapping) Envelope() bool { return m.format == Dowser }

// Paths lists the message fields field is read from, first found first;
// nil when the format has none for it.
func (m *Mapping) Paths(field string) []string {
	f := slices.Index(fieldNames[:], field)
	if f < 0 {
		return nil
	}
	var out []string
	for _, p := range m.paths[f] {
		out = append(out, p.String())
	}
	return out
}

// Convert turns msg, of at most maxBytes (schema.MaxEventBytes when
// maxBytes <= 0), into a valid event. The envelope is decoded by
// schema.ParseEvent and fails as it does; any other format fails with an
// *Error naming the message's field (which unwraps to a
// *schema.EventError).
func (m *Mapping) Convert(msg Message, maxBytes int) (schema.Event, error) {
	if maxBytes <= 0 {
		maxBytes = schema.MaxEventBytes
	}
	if m.format == Dowser {
		return schema.ParseEvent(msg.Value, maxBytes)
	}
	if len(msg.Value) > maxBytes {
		return schema.Event{}, &Error{Format: m.format, Reason: schema.ReasonTooLarge,
			Detail: fmt.Sprintf("%d bytes exceeds the limit of %d", len(msg.Value), maxBytes)}
	}
	var r *reading
	var err *Error
	switch m.format {
	case Segment:
		r, err = readSegment(m, msg)
	case Snowplow:
		r, err = readSnowplow(m, msg)
	case CloudEvents:
		r, err = readCloudEvent(m, msg)
	}
	if err != nil {
		return schema.Event{}, err
	}
	ev, err := m.event(r)
	if err != nil {
		return schema.Event{}, err
	}
	return ev, nil
}

// reading is one message decoded by its format: the document paths are
// looked up in, and what the format derives itself.
type reading struct {
	doc map[string]any
	// typ is the event type the format derives when the mapping does not
	// override it, read from typeFrom.
	typ, typeFrom string
	// props are the event's properties before url, title and referrer.
	props map[string]any
	// layouts are the time layouts accepted besides RFC 3339, read as UTC.
	layouts []string
	// name renders a path as the message names it (CloudEvents' binary
	// mode: id is the header ce_id); nil keeps it.
	name func(p string) string
}

func (r *reading) nameOf(p string) string {
	if r.name == nil {
		return p
	}
	return r.name(p)
}

// value finds the first of f's paths present in the message, as a string
// (a number as written); p is the path it came from, "" when none is.
func (m *Mapping) value(r *reading, f field) (v, p string, err *Error) {
	for _, pp := range m.paths[f] {
		x, ok := lookup(r.doc, pp)
		if !ok {
			continue
		}
		name := r.nameOf(pp.String())
		switch x := x.(type) {
		case string:
			if x == "" {
				continue
			}
			return x, name, nil
		case json.Number:
			return x.String(), name, nil
		default:
			return "", name, bad(m.format, name, "expected a string, got JSON "+kind(x))
		}
	}
	return "", "", nil
}

func (m *Mapping) names(r *reading, fs ...field) []string {
	var out []string
	for _, f := range fs {
		for _, p := range m.paths[f] {
			out = append(out, r.nameOf(p.String()))
		}
	}
	return out
}

// event maps a reading onto an event and validates it.
func (m *Mapping) event(r *reading) (schema.Event, *Error) {
	var ev schema.Event
	var from [numFields]string
	get := func(f field) (string, *Error) {
		v, p, err := m.value(r, f)
		from[f] = p
		return v, err
	}

	// Type.
	typ, typeFrom := r.typ, r.typeFrom
	if m.overridden[fType] {
		v, err := get(fType)
		if err != nil {
			return ev, err
		}
		if v == "" {
			return ev, missing(m.format, m.names(r, fType)...)
		}
		typ, typeFrom = v, from[fType]
	}
	from[fType] = typeFrom
	t, ok := eventType(typ)
	if !ok {
		return ev, bad(m.format, typeFrom, fmt.Sprintf("%q makes no event type: it needs a letter first", typ))
	}
	ev.Type = t

	var err *Error
	if ev.ID, err = get(fID); err != nil {
		return ev, err
	} else if ev.ID == "" {
		return ev, missing(m.format, m.names(r, fID)...)
	}

	ts, err := get(fTime)
	switch {
	case err != nil:
		return ev, err
	case ts == "":
		return ev, missing(m.format, m.names(r, fTime)...)
	}
	if ev.Time, ok = parseTime(ts, r.layouts); !ok {
		return ev, bad(m.format, from[fTime], fmt.Sprintf("%q is not an RFC 3339 time", ts))
	}

	c := &ev.Customer
	for _, s := range []struct {
		f   field
		dst *string
	}{{fCustomerID, &c.ID}, {fAnonymousID, &c.AnonymousID}, {fEmail, &c.Email}, {fAccountID, &c.AccountID},
		{fLifecycle, &c.Lifecycle}, {fContentID, &ev.ContentID}, {fSource, &ev.Source}} {
		if *s.dst, err = get(s.f); err != nil {
			return ev, err
		}
	}
	if c.ID == "" && c.AnonymousID == "" {
		return ev, missing(m.format, m.names(r, fCustomerID, fAnonymousID)...)
	}
	if ev.Source == "" {
		ev.Source = m.format
	}

	props := r.props
	for _, p := range []struct {
		f    field
		name string
	}{{fURL, "url"}, {fTitle, "title"}, {fReferrer, "referrer"}} {
		v, err := get(p.f)
		if err != nil {
			return ev, err
		}
		if v == "" {
			continue
		}
		if props == nil {
			props = map[string]any{}
		}
		props[p.name] = v
	}
	if len(props) > 0 {
		if num := plainNumbers(props); num != "" {
			return ev, bad(m.format, "properties", fmt.Sprintf("number %s is out of the range of a float64", num))
		}
		ev.Properties = props
	}

	if verr := ev.Validate(); verr != nil {
		var ee *schema.EventError
		if !errors.As(verr, &ee) {
			return ev, &Error{Format: m.format, Reason: schema.ReasonBadField, Detail: verr.Error()}
		}
		name := ee.Field
		if f, ok := eventFields[ee.Field]; ok && from[f] != "" {
			name = from[f]
		}
		return ev, &Error{Format: m.format, Reason: ee.Reason, Field: name, Detail: name + ": " + ee.Detail}
	}
	return ev, nil
}

// eventType makes a Dowser event type of a format's event name: lower
// case, each run of other characters than [a-z0-9_.-] an underscore, at
// most 64 characters ("Order Completed" is order_completed). ok is false
// when no letter comes first.
func eventType(name string) (string, bool) {
	var b strings.Builder
	gap := false
	for _, r := range strings.ToLower(name) {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '_', r == '.', r == '-':
			if gap && b.Len() > 0 {
				b.WriteByte('_')
			}
			gap = false
			b.WriteRune(r)
		default:
			gap = true
		}
	}
	t := b.String()
	if len(t) > 64 {
		t = strings.TrimRight(t[:64], "_")
	}
	if t == "" || t[0] < 'a' || t[0] > 'z' {
		return "", false
	}
	return t, true
}

// parseTime parses RFC 3339, else one of layouts as UTC.
func parseTime(s string, layouts []string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// decodeObject decodes one JSON object, numbers kept as written.
func decodeObject(format string, b []byte) (map[string]any, *Error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &Error{Format: format, Reason: schema.ReasonNotJSON, Detail: "not JSON: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &Error{Format: format, Reason: schema.ReasonNotJSON, Detail: "not JSON: trailing data after the JSON object"}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &Error{Format: format, Reason: schema.ReasonBadField, Field: "(message)", Detail: "expected a JSON object, got JSON " + kind(v)}
	}
	return obj, nil
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	}
	return "null"
}

// plainNumbers turns the json.Numbers in v into float64s, as the envelope
// holds them, and returns the first that a float64 cannot hold, or "".
func plainNumbers(v any) string {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if n, ok := x.(json.Number); ok {
				f, err := strconv.ParseFloat(string(n), 64)
				if err != nil {
					return string(n)
				}
				v[k] = f
			} else if bad := plainNumbers(x); bad != "" {
				return bad
			}
		}
	case []any:
		for i, x := range v {
			if n, ok := x.(json.Number); ok {
				f, err := strconv.ParseFloat(string(n), 64)
				if err != nil {
					return string(n)
				}
				v[i] = f
			} else if bad := plainNumbers(x); bad != "" {
				return bad
			}
		}
	}
	return ""
}

// object returns the member name of doc when it is an object, copied so
// that the event's properties do not alias the document.
func object(doc map[string]any, name string) map[string]any {
	m, _ := doc[name].(map[string]any)
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m)+3)
	for k, v := range m {
		out[k] = v
	}
	return out
}
