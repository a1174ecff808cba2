package jsonscan

import (
	"bytes"
	"unicode/utf8"
)

// FoldIndex returns the index in names of the first name that key equals
// under Unicode simple case folding, as encoding/json matches a member's
// key with a field name it did not match exactly ("ID" and "Id" are "id",
// and "ſ", U+017F, is an "s"); -1 when none does. The names must be
// lowercase ASCII.
func FoldIndex(key []byte, names ...string) int {
	for i, name := range names {
		if foldEqual(key, name) {
			return i
		}
	}
	return -1
}

// foldEqual reports whether key equals the lowercase ASCII name under
// Unicode simple case folding.
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
