package jsonscan

import "strconv"

// Any consumes the value at the cursor, inside depth objects and arrays,
// and returns it as encoding/json decodes into an any: string, float64,
// bool, nil, map[string]any or []any. Strings, keys included, come from t
// (a nil t allocates each). A number a float64 cannot hold decodes as nil
// and is noted for [Scanner.OutOfRange].
func (s *Scanner) Any(depth int, t *Table) (any, error) {
	if s.i >= len(s.data) {
		return nil, s.eof()
	}
	switch s.data[s.i] {
	case '"':
		b, err := s.str(&s.scratch.val)
		if err != nil {
			return nil, err
		}
		return t.Boxed(b), nil
	case 'n':
		return nil, s.Literal("null")
	case 't':
		return true, s.Literal("true")
	case 'f':
		return false, s.Literal("false")
	case '{':
		m := make(map[string]any)
		return m, s.AnyObject(depth+1, m, t)
	case '[':
		a := make([]any, 0)
		err := s.Array(depth+1, func() error {
			v, err := s.Any(depth+1, t)
			if err != nil {
				return err
			}
			a = append(a, v)
			return nil
		})
		return a, err
	default:
		num, err := s.Number()
		if err != nil {
			return nil, err
		}
		f, perr := strconv.ParseFloat(transientString(num), 64)
		if perr != nil {
			if s.outOfRange == nil {
				s.outOfRange = num
			}
			return nil, nil
		}
		return f, nil
	}
}

// AnyObject consumes the object at depth whose '{' is at the cursor into
// m, its values as [Scanner.Any] returns them: as encoding/json decodes
// into a map that already holds entries, a member adds to them or
// replaces one, the last of a repeated key counting.
func (s *Scanner) AnyObject(depth int, m map[string]any, t *Table) error {
	return s.Object(depth, func(key []byte) error {
		k := t.String(key)
		v, err := s.Any(depth, t)
		if err != nil {
			return err
		}
		m[k] = v
		return nil
	})
}
