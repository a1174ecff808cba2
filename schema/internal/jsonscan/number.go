package jsonscan

// Number consumes the number at the cursor and returns its text, a view
// of the input.
func (s *Scanner) Number() ([]byte, error) {
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
		i = digitsEnd(data, i+1)
	default:
		s.i = i
		if i == start {
			return nil, s.syntaxError("looking for beginning of value")
		}
		return nil, s.syntaxError("in numeric literal")
	}
	var err error
	if i < len(data) && data[i] == '.' {
		if i, err = s.someDigits(i+1, "after decimal point in numeric literal"); err != nil {
			return nil, err
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i, err = s.someDigits(i, "in exponent of numeric literal"); err != nil {
			return nil, err
		}
	}
	s.i = i
	return data[start:i], nil
}

// someDigits consumes the digits from i on, of which a fraction or an
// exponent needs at least one (else a syntax error in context), and
// returns the index after them.
func (s *Scanner) someDigits(i int, context string) (int, error) {
	if i >= len(s.data) {
		s.i = i
		return i, s.eof()
	}
	if !isDigit(s.data[i]) {
		s.i = i
		return i, s.syntaxError(context)
	}
	return digitsEnd(s.data, i+1), nil
}

// digitsEnd returns the index of the first byte from i on that is not a
// digit.
func digitsEnd(data []byte, i int) int {
	for i < len(data) && isDigit(data[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
