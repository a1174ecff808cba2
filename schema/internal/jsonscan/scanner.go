package jsonscan

import "strconv"

// MaxDepth is the nesting depth encoding/json accepts: an object or array
// deeper than this is a syntax error.
const MaxDepth = 10000

// A Scanner reads one JSON document in memory, value by value, from a
// cursor that each method moves past what it consumed. Its methods check
// the syntax as encoding/json's scanner does and fail with a *SyntaxError
// in encoding/json's words.
//
// Depths count the objects and arrays a value is in: an object at depth
// d holds members at depth d; past [MaxDepth] is a syntax error.
//
// A Scanner is not safe for concurrent use.
type Scanner struct {
	data    []byte
	i       int // the next byte to read
	scratch *Scratch

	nul        bool   // some string held an escaped NUL (\u0000)
	outOfRange []byte // the first number Any met that a float64 cannot hold
}

// Scratch is a Scanner's space for strings that must be unescaped (a
// member's key and its value are needed together). Kept from one document
// to the next, it lets a stream of them be scanned without allocating.
type Scratch struct {
	key, val []byte
}

// NewScanner returns a Scanner of data with its cursor at the start,
// which unescapes strings into scratch.
func NewScanner(data []byte, scratch *Scratch) Scanner {
	return Scanner{data: data, scratch: scratch}
}

// SawNUL reports whether a string scanned so far held an escaped NUL
// (\u0000): the only way a string it returns can contain one.
func (s *Scanner) SawNUL() bool { return s.nul }

// OutOfRange returns the text of the first number [Scanner.Any] met that
// a float64 cannot hold (for encoding/json a type error, reported only
// once the document is known to be well formed), or nil.
func (s *Scanner) OutOfRange() []byte { return s.outOfRange }

// A SyntaxError says how a document is not JSON. Its message is the one
// encoding/json gives for the same input.
type SyntaxError struct {
	msg string
}

// Error returns encoding/json's words for what is wrong.
func (e *SyntaxError) Error() string { return e.msg }

// syntaxError reports malformed JSON at the cursor, in encoding/json's words.
func (s *Scanner) syntaxError(context string) error {
	return &SyntaxError{msg: "invalid character " + quoteByte(s.data[s.i]) + " " + context}
}

// eof reports JSON cut short.
func (s *Scanner) eof() error {
	return &SyntaxError{msg: "unexpected EOF"}
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

// Kind names the kind of JSON value that starts with c, as encoding/json's
// type errors do: object, array, string, bool, null or number.
func Kind(c byte) string {
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

// SkipSpace moves the cursor past white space.
func (s *Scanner) SkipSpace() {
	for s.i < len(s.data) && s.data[s.i] <= ' ' {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// Peek returns the byte at the cursor, which starts the next value, or an
// unexpected-EOF error at the end of the document.
func (s *Scanner) Peek() (byte, error) {
	if s.i >= len(s.data) {
		return 0, s.eof()
	}
	return s.data[s.i], nil
}

// At reports whether the byte at the cursor is c: whether the next value
// is a string ('"'), an object ('{') or an array ('[').
func (s *Scanner) At(c byte) bool {
	return s.i < len(s.data) && s.data[s.i] == c
}

// Literal consumes the literal word (null, true or false) at the cursor.
func (s *Scanner) Literal(word string) error {
	for j := 0; j < len(word); j++ {
		if s.i >= len(s.data) {
			return s.eof()
		}
		if s.data[s.i] != word[j] {
			if j == 0 {
				return s.syntaxError("looking for beginning of value")
			}
			return s.syntaxError("in literal " + word + " (expecting " + quoteByte(word[j]) + ")")
		}
		s.i++
	}
	return nil
}

// Object scans the object at depth whose '{' is at the cursor, calling
// member for each key with the cursor at its value; member must consume
// the value. key is valid only during the call.
func (s *Scanner) Object(depth int, member func(key []byte) error) error {
	return s.container(depth, '}', member, nil)
}

// Array scans the array at depth whose '[' is at the cursor, calling elem
// with the cursor at each element; elem must consume it.
func (s *Scanner) Array(depth int, elem func() error) error {
	return s.container(depth, ']', nil, elem)
}

// container scans an object (closing '}': member is called with each
// key) or an array (closing ']': elem is called for each element) at
// depth. One loop serves both, and it is not split into smaller calls:
// it runs for every member of every event.
func (s *Scanner) container(depth int, closing byte, member func(key []byte) error, elem func() error) error {
	if depth > MaxDepth {
		return s.syntaxError("exceeded max depth")
	}
	s.i++ // '{' or '['
	s.SkipSpace()
	if s.i < len(s.data) && s.data[s.i] == closing {
		s.i++
		return nil
	}
	for {
		if closing == '}' {
			if s.i >= len(s.data) {
				return s.eof()
			}
			if s.data[s.i] != '"' {
				return s.syntaxError("looking for beginning of object key string")
			}
			key, err := s.str(&s.scratch.key)
			if err != nil {
				return err
			}
			s.SkipSpace()
			if s.i >= len(s.data) {
				return s.eof()
			}
			if s.data[s.i] != ':' {
				return s.syntaxError("after object key")
			}
			s.i++
			s.SkipSpace()
			if err := member(key); err != nil {
				return err
			}
		} else if err := elem(); err != nil {
			return err
		}
		s.SkipSpace()
		if s.i >= len(s.data) {
			return s.eof()
		}
		switch s.data[s.i] {
		case ',':
			s.i++
			s.SkipSpace()
		case closing:
			s.i++
			return nil
		default:
			if closing == '}' {
				return s.syntaxError("after object key:value pair")
			}
			return s.syntaxError("after array element")
		}
	}
}
