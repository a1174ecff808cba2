package jsonscan

// Skip checks and consumes the value at the cursor, inside depth objects
// and arrays.
func (s *Scanner) Skip(depth int) error {
	if s.i >= len(s.data) {
		return s.eof()
	}
	switch s.data[s.i] {
	case '"':
		_, err := s.str(&s.scratch.val)
		return err
	case 'n':
		return s.Literal("null")
	case 't':
		return s.Literal("true")
	case 'f':
		return s.Literal("false")
	case '{':
		return s.Object(depth+1, func([]byte) error { return s.Skip(depth + 1) })
	case '[':
		return s.Array(depth+1, func() error { return s.Skip(depth + 1) })
	default:
		_, err := s.Number()
		return err
	}
}

// Raw is [Scanner.Skip] that returns the value's text, a view of the
// input.
func (s *Scanner) Raw(depth int) ([]byte, error) {
	start := s.i
	if err := s.Skip(depth); err != nil {
		return nil, err
	}
	return s.data[start:s.i], nil
}
