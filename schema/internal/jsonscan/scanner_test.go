package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// scanCases are JSON texts, good and bad, that the scanner must read as
// encoding/json's Decoder reads its first value.
var scanCases = []string{
	``, ` `, `null`, `true`, `false`, `0`, `-0.5e+3`, `1E400`, `-`, `01`, `1.`, `1e`, `1e+`, `.5`,
	`"a"`, `"\u00e9\ud83d\ude00\ud800x\udc00"`, `"\"\\\/\b\f\n\r\t"`, `"\x"`, `"\u12g4"`, `"\ud800\u12g4"`,
	"\"a\tb\"", "\"\xff\xfe ok \xf0\x9f\"", `"é✓"`, `"\u0000"`, `"unterminated`,
	`{}`, `[]`, `{"a":1,"a":2,"b":[1,"x",{"c":null}],"d":{}}`, ` { "a" : [ 1 , 2 ] } `,
	`{"a":1,}`, `[1,]`, `{"a" 1}`, `{1:2}`, `{"a":1 "b":2}`, `[1 2]`, `{"a":`, `[`, `nul`, `tru`, `x`,
	`{"n":-1e400}`, `[1e999,"after"]`, `{"a":1}x`, `[] ]`,
	strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
	strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
}

func TestScannerMatchesEncodingJSON(t *testing.T) {
	for _, c := range scanCases {
		checkMatchesEncodingJSON(t, []byte(c))
	}
}

func FuzzScanner(f *testing.F) {
	for _, c := range scanCases {
		if len(c) <= 1<<10 { // the deep ones would slow every run
			f.Add([]byte(c))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkMatchesEncodingJSON(t, data)
	})
}

// checkMatchesEncodingJSON checks that Any and Skip read data's first
// value as json.Decoder.Decode does into an any and a json.RawMessage:
// the same value and text, or an error with the same message.
func checkMatchesEncodingJSON(t *testing.T, data []byte) {
	t.Helper()
	var want any
	wantErr := json.NewDecoder(bytes.NewReader(data)).Decode(&want)
	var wantRaw json.RawMessage
	wantRawErr := json.NewDecoder(bytes.NewReader(data)).Decode(&wantRaw)

	var scratch Scratch
	s := NewScanner(data, &scratch)
	s.SkipSpace()
	if _, err := s.Peek(); err != nil {
		if wantErr != io.EOF {
			t.Fatalf("%q: at the end after space, encoding/json: %v", data, wantErr)
		}
		return
	}
	got, err := s.Any(0, NewTable(4))
	var typeErr *json.UnmarshalTypeError
	switch {
	case err != nil:
		if wantErr == nil || err.Error() != wantErr.Error() {
			t.Fatalf("%q: Any: %v, encoding/json: %v", data, err, wantErr)
		}
	case s.OutOfRange() != nil:
		if !errors.As(wantErr, &typeErr) {
			t.Fatalf("%q: Any: %s out of range, encoding/json: %v", data, s.OutOfRange(), wantErr)
		}
	case wantErr != nil:
		t.Fatalf("%q: Any: %#v, encoding/json: %v", data, got, wantErr)
	case !reflect.DeepEqual(got, want):
		t.Fatalf("%q: Any: %#v, encoding/json: %#v", data, got, want)
	}

	s = NewScanner(data, &scratch)
	s.SkipSpace()
	raw, err := s.Raw(0)
	switch {
	case err != nil:
		if wantRawErr == nil || err.Error() != wantRawErr.Error() {
			t.Fatalf("%q: Raw: %v, encoding/json: %v", data, err, wantRawErr)
		}
	case wantRawErr != nil:
		t.Fatalf("%q: Raw: %q, encoding/json: %v", data, raw, wantRawErr)
	case !bytes.Equal(raw, wantRaw):
		t.Fatalf("%q: Raw: %q, encoding/json: %q", data, raw, wantRaw)
	}
}

func TestTableReturnsHeapStrings(t *testing.T) {
	tab := NewTable(4)
	buf := []byte("pricing-page")
	a := tab.String(buf)
	copy(buf, "XXXXXXXXXXXX")
	if a != "pricing-page" {
		t.Fatalf("String kept a view of its input: %q", a)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = tab.String([]byte("pricing-page")) }); allocs != 0 {
		t.Errorf("a string in the table: %v allocations, want 0", allocs)
	}
	var none *Table
	if got := none.String([]byte("x")); got != "x" {
		t.Errorf("nil table: %q, want x", got)
	}
	if got := tab.Boxed([]byte("y")); got != any("y") {
		t.Errorf("Boxed: %#v, want y", got)
	}
}

func TestFoldIndex(t *testing.T) {
	names := []string{"id", "anonymous_id", "source"}
	for key, want := range map[string]int{"id": 0, "ID": 0, "Id": 0, "Anonymous_ID": 1, "ſource": 2, "SOURCE": 2, "ids": -1, "": -1, "i d": -1} {
		if got := FoldIndex([]byte(key), names...); got != want {
			t.Errorf("FoldIndex(%q) = %d, want %d", key, got, want)
		}
	}
}
