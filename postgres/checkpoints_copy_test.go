package postgres

import (
	"encoding/binary"
	"fmt"
	"maps"
	"strings"
	"testing"
)

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
