package schema

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// maxDepth is the nesting depth encoding/json accepts: an object or array
// deeper than this is a syntax error.
const maxDepth = 10000

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
	words    *internTable // nil: every string is allocated
	props    map[string]any

	// Scratch space for strings that must be unescaped: a property key and
	// its value are needed together, and the time is parsed at the end.
	keyBuf, valBuf, timeBuf []byte
}

// NewDecoder returns a Decoder of events of at most maxBytes
// (MaxEventBytes when maxBytes <= 0).
func NewDecoder(maxBytes int) *Decoder {
	if maxBytes <= 0 {
		maxBytes = MaxEventBytes
	}
	return &Decoder{maxBytes: maxBytes, words: newInternTable(internSets)}
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
	s := eventScanner{data: data, d: d, ev: ev}
	if err := s.document(); err != nil {
		*ev = Event{}
		return err
	}
	switch s.timeKind {
	case timeOther:
		return &EventError{Reason: ReasonBadField, Field: "time", Detail: fmt.Sprintf("%s is not a string", s.timeVal)}
	case timeString:
		t, ok := parseUTCTime(s.timeVal)
		if !ok {
			var err error
			t, err = time.Parse(time.RFC3339Nano, transientString(s.timeVal))
			if err != nil {
				return &EventError{Reason: ReasonBadField, Field: "time", Detail: fmt.Sprintf("%q is not an RFC 3339 time", s.timeVal)}
			}
		}
		ev.Time = t
	}
	// Only an escape makes a NUL, and invalid UTF-8 was replaced: the
	// strings need no second look otherwise.
	return ev.validate(s.nul)
}

// parseUTCTime parses the usual form of an event time, RFC 3339 in UTC
// ("2006-01-02T15:04:05Z", with up to nine digits of fraction kept), to
// what time.Parse(time.RFC3339Nano, b) returns, a little faster; ok is
// false for any other form, valid or not.
func parseUTCTime(b []byte) (t time.Time, ok bool) {
	if len(b) < len("2006-01-02T15:04:05Z") || b[len(b)-1] != 'Z' ||
		b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return t, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return t, false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if len(frac) < 2 || frac[0] != '.' {
			return t, false
		}
		n, ok := digits(frac[1:min(len(frac), 10)])
		if !ok {
			return t, false
		}
		if _, ok := digits(frac[1:]); !ok {
			return t, false
		}
		for range 10 - min(len(frac), 10) {
			n *= 10
		}
		nsec = n
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

// digits reads b as a decimal number of only digits.
func digits(b []byte) (n int, ok bool) {
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// transientString views b as a string for a call that does not keep it:
// time.Parse keeps nothing of its input when it succeeds.
func transientString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// What the last "time" member of an event held.
const (
	timeAbsent = iota // absent or null
	timeString
	timeOther // any other JSON value: a bad field
)

// eventScanner is one Decode in progress: a recursive-descent scanner of
// the event's JSON that checks the syntax as encoding/json's scanner does
// and stores values as encoding/json's decoder would in
//
//	struct {
//		Event
//		Time json.RawMessage `json:"time"`
//	}
type eventScanner struct {
	data []byte
	i    int // the next byte to read
	d    *Decoder
	ev   *Event
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
	nul      bool   // some string held an escaped NUL (\u0000)
}

// document scans the whole input: one JSON value, then only white space
// or a closing bracket (what json.Decoder.More accepts as the end).
func (s *eventScanner) document() *EventError {
	s.skipSpace()
	if s.i >= len(s.data) {
		return &EventError{Reason: ReasonNotJSON, Detail: "EOF"}
	}
	switch c := s.data[s.i]; c {
	case '{':
		if err := s.event(); err != nil {
			return err
		}
	case 'n':
		if err := s.literal("null"); err != nil {
			return err
		}
	default:
		// An array, string, number or boolean is well formed JSON but no
		// event; what follows it does not matter.
		if err := s.skipValue(0); err != nil {
			return err
		}
		return &EventError{Reason: ReasonBadField, Field: "(event)", Detail: "expected an object, got JSON " + jsonKind(c)}
	}
	if s.dupErr != nil {
		return s.dupErr
	}
	if s.typeErr != nil {
		return s.typeErr
	}
	s.skipSpace()
	if s.i < len(s.data) && s.data[s.i] != '}' && s.data[s.i] != ']' {
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
	// Not exact: the slow path, in the order of the member constants.
	return foldMember(key, "id", "type", "time", "source", "customer", "content_id", "properties")
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
	return foldMember(key, "id", "anonymous_id", "email", "account_id", "lifecycle")
}

// foldMember returns 1 + the index in names of the name key equals under
// folding, 0 (unknown) when none: names are in the order of their member
// constants, which start after unknown.
func foldMember(key []byte, names ...string) int {
	for i, name := range names {
		if foldEqual(key, name) {
			return i + 1
		}
	}
	return 0
}

// foldEqual reports whether key equals the lowercase ASCII name under
// Unicode simple case folding, as encoding/json matches field names: "ID"
// and "Id" are "id", and so is "ſ" (U+017F) an "s".
func foldEqual(key []byte, name string) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return bytes.EqualFold(key, []byte(name))
		}
	}
	if len(key) != len(name) {
		return false
	}
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != name[i] {
			return false
		}
	}
	return true
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
func (s *eventScanner) event() *EventError {
	var seen uint32
	return s.object(1, func(key []byte) *EventError {
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
		return s.skipValue(1)
	})
}

// object scans an object at depth (its own: 1 for the event) whose '{' is
// at s.i, calling member for each key with s.i at its value; member must
// consume the value. key is valid only during the call.
func (s *eventScanner) object(depth int, member func(key []byte) *EventError) *EventError {
	if depth > maxDepth {
		return s.syntaxError("exceeded max depth")
	}
	s.i++ // '{'
	s.skipSpace()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		if s.i >= len(s.data) {
			return s.eof()
		}
		if s.data[s.i] != '"' {
			return s.syntaxError("looking for beginning of object key string")
		}
		key, err := s.str(&s.d.keyBuf)
		if err != nil {
			return err
		}
		s.skipSpace()
		if s.i >= len(s.data) {
			return s.eof()
		}
		if s.data[s.i] != ':' {
			return s.syntaxError("after object key")
		}
		s.i++
		s.skipSpace()
		if err := member(key); err != nil {
			return err
		}
		s.skipSpace()
		if s.i >= len(s.data) {
			return s.eof()
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.skipSpace()
		case '}':
			s.i++
			return nil
		default:
			return s.syntaxError("after object key:value pair")
		}
	}
}

// stringMember stores a string value, a member of an object at depth, in
// *dst; null leaves *dst as it is and anything else is a type error of
// field. Strings of intern are looked up in the Decoder's table of recent
// strings first.
func (s *eventScanner) stringMember(dst *string, field string, depth int, intern bool) *EventError {
	if s.i >= len(s.data) {
		return s.eof()
	}
	switch c := s.data[s.i]; c {
	case '"':
		b, err := s.str(&s.d.valBuf)
		if err != nil {
			return err
		}
		if intern {
			*dst = s.d.words.str(b)
		} else {
			*dst = string(b)
		}
		return nil
	case 'n':
		return s.literal("null")
	default:
		if err := s.skipValue(depth); err != nil {
			return err
		}
		s.typeError(field, "a string", c)
		return nil
	}
}

// timeMember notes the time's value; it is parsed once the whole document
// is known to be well formed and free of type errors. The last one counts.
func (s *eventScanner) timeMember() *EventError {
	if s.i >= len(s.data) {
		return s.eof()
	}
	switch s.data[s.i] {
	case '"':
		b, err := s.str(&s.d.timeBuf)
		if err != nil {
			return err
		}
		s.timeKind, s.timeVal = timeString, b
	case 'n':
		if err := s.literal("null"); err != nil {
			return err
		}
		s.timeKind, s.timeVal = timeAbsent, nil
	default:
		start := s.i
		if err := s.skipValue(1); err != nil {
			return err
		}
		s.timeKind, s.timeVal = timeOther, s.data[start:s.i]
	}
	return nil
}

func (s *eventScanner) customer() *EventError {
	if s.i >= len(s.data) {
		return s.eof()
	}
	switch c := s.data[s.i]; c {
	case '{':
	case 'n':
		return s.literal("null") // leaves the customer as it is
	default:
		if err := s.skipValue(1); err != nil {
			return err
		}
		s.typeError("customer", "an object", c)
		return nil
	}
	c := &s.ev.Customer
	var seen uint32
	return s.object(2, func(key []byte) *EventError {
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
		return s.skipValue(2)
	})
}

// properties decodes the properties object into the Decoder's map. A
// second properties member adds to the first, as encoding/json does; null
// drops them.
func (s *eventScanner) properties() *EventError {
	if s.i >= len(s.data) {
		return s.eof()
	}
	switch c := s.data[s.i]; c {
	case '{':
	case 'n':
		if err := s.literal("null"); err != nil {
			return err
		}
		s.ev.Properties = nil
		return nil
	default:
		if err := s.skipValue(1); err != nil {
			return err
		}
		s.typeError("properties", "an object", c)
		return nil
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
	return s.object(2, func(key []byte) *EventError {
		k := s.d.words.str(key)
		v, err := s.anyValue(2)
		if err != nil {
			return err
		}
		m[k] = v
		return nil
	})
}

// anyValue decodes a property value as encoding/json decodes into an any:
// string, float64, bool, nil, map[string]any or []any. depth is that of
// the enclosing object or array.
func (s *eventScanner) anyValue(depth int) (any, *EventError) {
	if s.i >= len(s.data) {
		return nil, s.eof()
	}
	switch c := s.data[s.i]; c {
	case '"':
		b, err := s.str(&s.d.valBuf)
		if err != nil {
			return nil, err
		}
		return s.d.words.boxed(b), nil
	case 'n':
		return nil, s.literal("null")
	case 't':
		return true, s.literal("true")
	case 'f':
		return false, s.literal("false")
	case '{':
		m := make(map[string]any)
		err := s.object(depth+1, func(key []byte) *EventError {
			k := s.d.words.str(key)
			v, err := s.anyValue(depth + 1)
			if err != nil {
				return err
			}
			m[k] = v
			return nil
		})
		return m, err
	case '[':
		a := make([]any, 0)
		err := s.array(depth+1, func() *EventError {
			v, err := s.anyValue(depth + 1)
			if err != nil {
				return err
			}
			a = append(a, v)
			return nil
		})
		return a, err
	default:
		num, err := s.number()
		if err != nil {
			return nil, err
		}
		f, perr := strconv.ParseFloat(transientString(num), 64)
		if perr != nil {
			// Out of range of a float64: encoding/json reports the value
			// as of the wrong type, under the properties.
			if s.typeErr == nil {
				s.typeErr = &EventError{Reason: ReasonBadField, Field: "properties", Detail: fmt.Sprintf("number %s is out of the range of a float64", num)}
			}
			return nil, nil
		}
		return f, nil
	}
}

// array scans an array at depth whose '[' is at s.i, calling elem with s.i
// at each element; elem must consume it.
func (s *eventScanner) array(depth int, elem func() *EventError) *EventError {
	if depth > maxDepth {
		return s.syntaxError("exceeded max depth")
	}
	s.i++ // '['
	s.skipSpace()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		s.skipSpace()
		if s.i >= len(s.data) {
			return s.eof()
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.skipSpace()
		case ']':
			s.i++
			return nil
		default:
			return s.syntaxError("after array element")
		}
	}
}

// skipValue checks and skips the value at s.i, inside depth objects and
// arrays.
func (s *eventScanner) skipValue(depth int) *EventError {
	if s.i >= len(s.data) {
		return s.eof()
	}
	switch s.data[s.i] {
	case '"':
		_, err := s.str(&s.d.valBuf)
		return err
	case 'n':
		return s.literal("null")
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case '{':
		return s.object(depth+1, func([]byte) *EventError { return s.skipValue(depth + 1) })
	case '[':
		return s.array(depth+1, func() *EventError { return s.skipValue(depth + 1) })
	default:
		_, err := s.number()
		return err
	}
}

// typeError notes a value of JSON kind c where want was expected, unless
// an earlier one was noted.
func (s *eventScanner) typeError(field, want string, c byte) {
	if s.typeErr == nil {
		s.typeErr = &EventError{Reason: ReasonBadField, Field: field, Detail: fmt.Sprintf("expected %s, got JSON %s", want, jsonKind(c))}
	}
}

// jsonKind names the kind of JSON value that starts with c.
func jsonKind(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

func (s *eventScanner) skipSpace() {
	for s.i < len(s.data) && s.data[s.i] <= ' ' {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// literal consumes the literal word (null, true or false) at s.i.
func (s *eventScanner) literal(word string) *EventError {
	for j := 0; j < len(word); j++ {
		if s.i >= len(s.data) {
			return s.eof()
		}
		if s.data[s.i] != word[j] {
			if j == 0 {
				return s.syntaxError("looking for beginning of value")
			}
			return s.syntaxError(fmt.Sprintf("in literal %s (expecting %s)", word, quoteByte(word[j])))
		}
		s.i++
	}
	return nil
}

// number consumes the number at s.i and returns its text.
func (s *eventScanner) number() ([]byte, *EventError) {
	data, i := s.data, s.i
	start := i
	if i < len(data) && data[i] == '-' {
		i++
	}
	if i >= len(data) {
		s.i = i
		return nil, s.eof()
	}
	switch c := data[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		for i++; i < len(data) && isDigit(data[i]); i++ {
		}
	default:
		s.i = i
		if i == start {
			return nil, s.syntaxError("looking for beginning of value")
		}
		return nil, s.syntaxError("in numeric literal")
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) {
			s.i = i
			return nil, s.eof()
		}
		if !isDigit(data[i]) {
			s.i = i
			return nil, s.syntaxError("after decimal point in numeric literal")
		}
		for i++; i < len(data) && isDigit(data[i]); i++ {
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) {
			s.i = i
			return nil, s.eof()
		}
		if !isDigit(data[i]) {
			s.i = i
			return nil, s.syntaxError("in exponent of numeric literal")
		}
		for i++; i < len(data) && isDigit(data[i]); i++ {
		}
	}
	s.i = i
	return data[start:i], nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// str consumes the string whose '"' is at s.i and returns its content,
// unescaped and with invalid UTF-8 replaced by U+FFFD as encoding/json
// does: a view of the input when it needs neither, else of *buf. The
// result is valid until the next use of *buf.
func (s *eventScanner) str(buf *[]byte) ([]byte, *EventError) {
	data := s.data
	start := s.i + 1
	i := plainRun(data, start)
	if i < len(data) && data[i] == '"' {
		s.i = i + 1
		return data[start:i], nil
	}
	return s.strSlow(start, i, buf)
}

// plainRun returns the index of the first byte from i on that is not
// plain ASCII string content: '"', '\\', a control character or a byte of
// 0x80 or more; len(data) if there is none.
func plainRun(data []byte, i int) int {
	// Eight bytes at a time.
	for ; i+8 <= len(data); i += 8 {
		if m := specialBytes(binary.LittleEndian.Uint64(data[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(data); i++ {
		if c := data[i]; c == '"' || c == '\\' || c < ' ' || c >= utf8.RuneSelf {
			break
		}
	}
	return i
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// specialBytes has the high bit set of the lowest byte of x (little
// endian) that is '"', '\\', a control character or not ASCII, and
// possibly of bytes above it; 0 when there is none.
func specialBytes(x uint64) uint64 {
	quote := x ^ (ones * '"')
	backslash := x ^ (ones * '\\')
	// A byte b < 0x80 borrows in v - ones*k only when b < k, so a false
	// mark is only ever above a true one.
	return (((x-ones*' ')|(quote-ones)|(backslash-ones))&^x | x) & highs
}

// strSlow continues str from i, the first byte that is not plain ASCII.
func (s *eventScanner) strSlow(start, i int, buf *[]byte) ([]byte, *EventError) {
	data := s.data
	b := (*buf)[:0]
	raw := true // the content so far is data[start:i] as it is
	unraw := func() {
		if raw {
			b = append(b, data[start:i]...)
			raw = false
		}
	}
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			s.i = i + 1
			if raw {
				return data[start:i], nil
			}
			*buf = b
			return b, nil
		case c == '\\':
			unraw()
			i++
			if i >= len(data) {
				s.i = i
				return nil, s.eof()
			}
			switch e := data[i]; e {
			case '"', '\\', '/':
				b = append(b, e)
				i++
			case 'b':
				b = append(b, '\b')
				i++
			case 'f':
				b = append(b, '\f')
				i++
			case 'n':
				b = append(b, '\n')
				i++
			case 'r':
				b = append(b, '\r')
				i++
			case 't':
				b = append(b, '\t')
				i++
			case 'u':
				i++
				r, err := s.hex4(i)
				if err != nil {
					return nil, err
				}
				i += 4
				if utf16.IsSurrogate(r) {
					// A pair only with an escaped low surrogate right after.
					r1 := rune(-1)
					if i+6 <= len(data) && data[i] == '\\' && data[i+1] == 'u' {
						r1 = hex4(data[i+2 : i+6])
					}
					if dec := utf16.DecodeRune(r, r1); dec != utf8.RuneError {
						b = utf8.AppendRune(b, dec)
						i += 6
						continue
					}
					r = utf8.RuneError
				}
				if r == 0 {
					s.nul = true
				}
				b = utf8.AppendRune(b, r)
			default:
				s.i = i
				return nil, s.syntaxError("in string escape code")
			}
		case c < ' ':
			s.i = i
			return nil, s.syntaxError("in string literal")
		case c < utf8.RuneSelf:
			j := plainRun(data, i+1)
			if !raw {
				b = append(b, data[i:j]...)
			}
			i = j
		default:
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				unraw()
				b = utf8.AppendRune(b, utf8.RuneError)
				i++
				continue
			}
			if !raw {
				b = append(b, data[i:i+size]...)
			}
			i += size
		}
	}
	s.i = i
	*buf = b
	return nil, s.eof()
}

// hex4 reads the four hex digits of a \u escape at i.
func (s *eventScanner) hex4(i int) (rune, *EventError) {
	for j := i; j < i+4; j++ {
		if j >= len(s.data) {
			s.i = j
			return 0, s.eof()
		}
		if hex4Digit(s.data[j]) < 0 {
			s.i = j
			return 0, s.syntaxError("in \\u hexadecimal character escape")
		}
	}
	return hex4(s.data[i : i+4]), nil
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		d := hex4Digit(c)
		if d < 0 {
			return -1
		}
		r = r<<4 | d
	}
	return r
}

func hex4Digit(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// syntaxError reports malformed JSON at s.i, in encoding/json's words.
func (s *eventScanner) syntaxError(context string) *EventError {
	return &EventError{Reason: ReasonNotJSON, Detail: "invalid character " + quoteByte(s.data[s.i]) + " " + context}
}

// eof reports JSON cut short.
func (s *eventScanner) eof() *EventError {
	return &EventError{Reason: ReasonNotJSON, Detail: "unexpected EOF"}
}

// quoteByte quotes c for an error message as encoding/json does (a byte
// of 0x80 or more as the rune of that number).
func quoteByte(c byte) string {
	switch c {
	case '\'':
		return `'\''`
	case '"':
		return `'"'`
	}
	q := strconv.Quote(string(rune(c)))
	return "'" + q[1:len(q)-1] + "'"
}

// internSets is the size of a Decoder's string table in sets of two:
// 4096 strings of at most maxInterned bytes.
const internSets = 2048

// maxInterned bounds the strings the table keeps; longer ones (a support
// email's body, say) are allocated each time.
const maxInterned = 256

// internTable is a bounded cache of strings, two-way set associative with
// the least recently used of a set replaced: a string seen again while it
// is in the table costs no allocation, and strings seen once (event and
// visitor ids) push out only each other and the rarely used.
type internTable struct {
	seed  uint64
	slots []internSlot // 2 a set
	lru   []uint8      // per set, the way to replace next
}

type internSlot struct {
	// hash is s's: a different string is told apart without reading its
	// bytes, likely out of the CPU's caches.
	hash uint64
	s    string
	any  any // s as an any, once asked for: boxing a string allocates
}

func newInternTable(sets int) *internTable {
	return &internTable{seed: rand.Uint64(), slots: make([]internSlot, 2*sets), lru: make([]uint8, sets)}
}

// str returns b as a string. A nil table allocates every time.
func (t *internTable) str(b []byte) string {
	if t == nil || len(b) == 0 || len(b) > maxInterned {
		return string(b)
	}
	return t.slot(b).s
}

// boxed returns b as a string in an any.
func (t *internTable) boxed(b []byte) any {
	if t == nil || len(b) == 0 || len(b) > maxInterned {
		return string(b)
	}
	sl := t.slot(b)
	if sl.any == nil {
		sl.any = sl.s
	}
	return sl.any
}

func (t *internTable) slot(b []byte) *internSlot {
	h := t.hash(b)
	set := int(h & uint64(len(t.lru)-1))
	way := &t.slots[2*set]
	if way.hash == h && way.s == string(b) {
		t.lru[set] = 1
		return way
	}
	if way1 := &t.slots[2*set+1]; way1.hash == h && way1.s == string(b) {
		t.lru[set] = 0
		return way1
	}
	victim := t.lru[set]
	way = &t.slots[2*set+int(victim)]
	way.hash, way.s, way.any = h, string(b), nil
	t.lru[set] = 1 - victim
	return way
}

// hash is a fast hash of b, eight bytes at a time (the tail read as two
// overlapping words, as wyhash does). A collision costs an allocation, no
// more.
func (t *internTable) hash(b []byte) uint64 {
	h := t.seed ^ uint64(len(b))*0x9e3779b97f4a7c15
	for len(b) > 8 {
		h = mix(h ^ binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	var x uint64
	switch n := len(b); {
	case n >= 4:
		x = uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint32(b[n-4:]))<<32
	case n > 0:
		x = uint64(b[0]) | uint64(b[n/2])<<8 | uint64(b[n-1])<<16
	}
	return mix(h ^ x)
}

func mix(h uint64) uint64 {
	hi, lo := bits.Mul64(h, 0xbf58476d1ce4e5b9)
	return hi ^ lo
}
