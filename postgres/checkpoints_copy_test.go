package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
)

// loadRowsCopy streams the rows with COPY ... TO STDOUT (FORMAT binary),
// parsed by hand: the alternative to LoadCheckpointRows's SELECT that
// BenchmarkLoadCheckpointRows measures it against.
func (s *Checkpoints) loadRowsCopy(ctx context.Context, checkpointID int64, fn func(key string, data []byte) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	// COPY takes no parameters: the id is an integer formatted here.
	sql := "COPY (SELECT key, data FROM checkpoint_rows WHERE checkpoint_id = " + strconv.FormatInt(checkpointID, 10) + ") TO STDOUT (FORMAT binary)"
	r := copyRows{fn: fn}
	if _, err := conn.Conn().PgConn().CopyTo(ctx, &r, sql); err != nil {
		if r.err != nil {
			// fn's error, or a malformed stream; CopyTo closed the
			// connection, which the pool then drops.
			return r.err
		}
		return err
	}
	if !r.trailer {
		return errors.New("copy stream ended without its trailer")
	}
	return nil
}

// copySignature opens every binary COPY stream.
var copySignature = []byte("PGCOPY\n\xff\r\n\x00")

// copyRows parses a binary COPY stream of (text, bytea) tuples handed to it
// in pieces of any size, calling fn for each tuple. A tuple split across
// pieces is carried in buf until it is whole.
type copyRows struct {
	fn      func(key string, data []byte) error
	buf     []byte
	header  bool
	trailer bool
	err     error
}

func (c *copyRows) Write(p []byte) (int, error) {
	data := p
	if len(c.buf) > 0 {
		c.buf = append(c.buf, p...)
		data = c.buf
	}
	rest, err := c.parse(data)
	if err != nil {
		c.err = err
		return 0, err
	}
	if len(c.buf) > 0 {
		// rest is a tail of buf: move it to the front (copy allows overlap).
		c.buf = c.buf[:copy(c.buf, rest)]
	} else if len(rest) > 0 {
		c.buf = append(c.buf, rest...)
	}
	return len(p), nil
}

// parse consumes the whole tuples at the start of b and returns the
// remainder, an incomplete tuple.
func (c *copyRows) parse(b []byte) ([]byte, error) {
	if !c.header {
		// Signature, flags, header extension length, extension.
		if len(b) < 19 {
			return b, nil
		}
		if !bytes.Equal(b[:11], copySignature) {
			return nil, errors.New("not a binary copy stream")
		}
		ext := int(binary.BigEndian.Uint32(b[15:19]))
		if len(b) < 19+ext {
			return b, nil
		}
		b = b[19+ext:]
		c.header = true
	}
	for len(b) >= 2 {
		if c.trailer {
			return nil, errors.New("data after the copy trailer")
		}
		fields := int16(binary.BigEndian.Uint16(b))
		if fields == -1 {
			c.trailer = true
			b = b[2:]
			continue
		}
		if fields != 2 {
			return nil, fmt.Errorf("copy tuple of %d fields, want 2", fields)
		}
		if len(b) < 6 {
			return b, nil
		}
		kn := int(int32(binary.BigEndian.Uint32(b[2:])))
		if kn < 0 {
			return nil, errors.New("null key in copy stream")
		}
		if len(b) < 10+kn {
			return b, nil
		}
		dn := int(int32(binary.BigEndian.Uint32(b[6+kn:])))
		if dn < 0 {
			return nil, errors.New("null data in copy stream")
		}
		end := 10 + kn + dn
		if len(b) < end {
			return b, nil
		}
		if err := c.fn(string(b[6:6+kn]), b[10+kn:end:end]); err != nil {
			return nil, err
		}
		b = b[end:]
	}
	return b, nil
}

// copyStream encodes rows as PostgreSQL's binary COPY of (text, bytea).
func copyStream(rows map[string]string) []byte {
	b := append([]byte(nil), copySignature...)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 3) // a header extension to skip
	b = append(b, "ext"...)
	for k, v := range rows {
		b = binary.BigEndian.AppendUint16(b, 2)
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return binary.BigEndian.AppendUint16(b, 0xffff)
}

func TestCopyRowsParsesPiecesOfAnySize(t *testing.T) {
	want := map[string]string{"": "", "customer:c-1": "one", "#recent/3": strings.Repeat("r", 5000), "empty": ""}
	stream := copyStream(want)
	for _, size := range []int{1, 2, 3, 7, 64, 4999, len(stream)} {
		got := map[string]string{}
		r := copyRows{fn: func(k string, d []byte) error { got[k] = string(d); return nil }}
		for b := stream; len(b) > 0; {
			n := min(size, len(b))
			if w, err := r.Write(b[:n]); err != nil || w != n {
				t.Fatalf("pieces of %d: Write = %d, %v", size, w, err)
			}
			b = b[n:]
		}
		if !r.trailer || len(r.buf) != 0 || !maps.Equal(got, want) {
			t.Errorf("pieces of %d: trailer %v, %d bytes left, rows %d; want the trailer, nothing left and %d rows", size, r.trailer, len(r.buf), len(got), len(want))
		}
	}
}

func TestCopyRowsRefusesMalformedStreams(t *testing.T) {
	good := copyStream(map[string]string{"k": "v"})
	for name, b := range map[string][]byte{
		"signature":      append([]byte("PGCOPY\n\xff\r\n\x01"), good[11:]...),
		"field count":    append(append([]byte(nil), good[:19+3]...), 0, 3),
		"after trailer":  append(append([]byte(nil), good...), 0, 2),
		"null key":       append(append([]byte(nil), good[:19+3]...), 0, 2, 0xff, 0xff, 0xff, 0xff),
		"callback error": good,
	} {
		r := copyRows{fn: func(string, []byte) error {
			if name == "callback error" {
				return fmt.Errorf("stop")
			}
			return nil
		}}
		if _, err := r.Write(b); err == nil || r.err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
