package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// Unquote consumes the string whose '"' is at the cursor and returns its
// content, unescaped and with invalid UTF-8 replaced by U+FFFD as
// encoding/json does. The result is a view of the input or of the
// Scanner's scratch space, valid until the next Unquote, Skip or Any.
func (s *Scanner) Unquote() ([]byte, error) {
	return s.str(&s.scratch.val)
}

// UnquoteInto is [Scanner.Unquote] with *buf as the scratch space, for a
// string that must outlive the next one: the result is valid until the
// input or *buf is next used.
func (s *Scanner) UnquoteInto(buf *[]byte) ([]byte, error) {
	return s.str(buf)
}

// str returns a view of the input when the string needs neither
// unescaping nor replacing, else of *buf.
func (s *Scanner) str(buf *[]byte) ([]byte, error) {
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
func (s *Scanner) strSlow(start, i int, buf *[]byte) ([]byte, error) {
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
			if data[i] == 'u' {
				var err error
				if b, i, err = s.appendUnicode(b, i+1); err != nil {
					return nil, err
				}
				continue
			}
			e, ok := unescape(data[i])
			if !ok {
				s.i = i
				return nil, s.syntaxError("in string escape code")
			}
			b = append(b, e)
			i++
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

// unescape returns the byte the one-letter escape \e stands for.
func unescape(e byte) (byte, bool) {
	switch e {
	case '"', '\\', '/':
		return e, true
	case 'b':
		return '\b', true
	case 'f':
		return '\f', true
	case 'n':
		return '\n', true
	case 'r':
		return '\r', true
	case 't':
		return '\t', true
	}
	return 0, false
}

// appendUnicode appends to b the character of the \u escape whose hex
// digits start at i, and returns the index after it. A high surrogate
// makes a pair only with an escaped low surrogate right after; else it is
// U+FFFD, as is a lone low one.
func (s *Scanner) appendUnicode(b []byte, i int) ([]byte, int, error) {
	data := s.data
	r, err := s.hex4(i)
	if err != nil {
		return nil, i, err
	}
	i += 4
	if utf16.IsSurrogate(r) {
		r1 := rune(-1)
		if i+6 <= len(data) && data[i] == '\\' && data[i+1] == 'u' {
			r1 = hex4(data[i+2 : i+6])
		}
		if dec := utf16.DecodeRune(r, r1); dec != utf8.RuneError {
			return utf8.AppendRune(b, dec), i + 6, nil
		}
		r = utf8.RuneError
	}
	if r == 0 {
		s.nul = true
	}
	return utf8.AppendRune(b, r), i, nil
}

// hex4 reads the four hex digits of a \u escape at i.
func (s *Scanner) hex4(i int) (rune, error) {
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
