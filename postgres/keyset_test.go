package postgres

import (
	"fmt"
	"hash/maphash"
	"testing"
)

func TestKeySetAddsEachKeyOnce(t *testing.T) {
	s := newKeySet(0)
	for i := range 10000 {
		if !s.add(fmt.Appendf(nil, "k%d", i)) {
			t.Fatalf("k%d: not new on its first add", i)
		}
	}
	for i := range 10000 {
		if s.add(fmt.Appendf(nil, "k%d", i)) {
			t.Fatalf("k%d: new on its second add", i)
		}
	}
	if s.has([]byte("k10000")) || s.has(nil) {
		t.Fatal("has a key never added")
	}
	if !s.add(nil) || s.add([]byte{}) || !s.has(nil) {
		t.Fatal("the empty key is not a key like any other")
	}
	if s.len() != 10001 {
		t.Fatalf("len %d, want 10001", s.len())
	}
}

// Keys whose hashes collide are told apart by their bytes: a compaction
// that took one for the other would drop a live key's state.
func TestKeySetTellsCollidingKeysApart(t *testing.T) {
	s := newKeySet(0)
	a, b, c := []byte("account-a"), []byte("account-b"), []byte("account-c")
	s.add(a)
	// Make b's and c's hash point at a's entry, as a collision would.
	for _, k := range [][]byte{b, c} {
		s.index[maphash.Bytes(s.seed, k)] = s.index[maphash.Bytes(s.seed, a)]
	}
	if s.has(b) {
		t.Fatal("b found through a's entry")
	}
	if !s.add(b) || s.add(b) || !s.has(b) || !s.has(a) || s.has(c) {
		t.Fatalf("after adding b: has(a)=%v has(b)=%v has(c)=%v", s.has(a), s.has(b), s.has(c))
	}
	if s.len() != 4 { // a, b in clash, and the two planted index entries
		t.Fatalf("len %d", s.len())
	}
}
