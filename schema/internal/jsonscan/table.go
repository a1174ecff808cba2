package jsonscan

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// maxInterned bounds the strings a Table keeps; longer ones (a support
// email's body, say) are allocated each time.
const maxInterned = 256

// A Table is a bounded cache of strings, two-way set associative with the
// least recently used of a set replaced: a string seen again while it is
// in the table costs no allocation, and strings seen once (event and
// visitor ids) push out only each other and the rarely used.
//
// Every string it returns is an ordinary heap string, never a view of
// the bytes it was given. A Table is not safe for concurrent use. A nil
// *Table keeps nothing: it allocates every string.
type Table struct {
	seed  uint64
	slots []slot  // 2 a set
	lru   []uint8 // per set, the way to replace next
}

type slot struct {
	// hash is s's: a different string is told apart without reading its
	// bytes, likely out of the CPU's caches.
	hash uint64
	s    string
	any  any // s as an any, once asked for: boxing a string allocates
}

// NewTable returns an empty Table of 2*sets strings; sets must be a power
// of two.
func NewTable(sets int) *Table {
	return &Table{seed: rand.Uint64(), slots: make([]slot, 2*sets), lru: make([]uint8, sets)}
}

// String returns b as a string.
func (t *Table) String(b []byte) string {
	if t == nil || len(b) == 0 || len(b) > maxInterned {
		return string(b)
	}
	return t.slot(b).s
}

// Boxed returns b as a string in an any.
func (t *Table) Boxed(b []byte) any {
	if t == nil || len(b) == 0 || len(b) > maxInterned {
		return string(b)
	}
	sl := t.slot(b)
	if sl.any == nil {
		sl.any = sl.s
	}
	return sl.any
}

func (t *Table) slot(b []byte) *slot {
	h := t.hash(b)
	set := int(h & uint64(len(t.lru)-1))
	way := &t.slots[2*set]
	if way.hash == h && way.s == string(b) {
		t.lru[set] = 1
		return way
	}
	if way1 := &t.slots[2*set+1]; way1.hash == h && way1.s == string(b) {
		t.lru[set] = 0
		return way1
	}
	victim := t.lru[set]
	way = &t.slots[2*set+int(victim)]
	way.hash, way.s, way.any = h, string(b), nil
	t.lru[set] = 1 - victim
	return way
}

// hash is a fast hash of b, eight bytes at a time (the tail read as two
// overlapping words, as wyhash does). A collision costs an allocation, no
// more.
func (t *Table) hash(b []byte) uint64 {
	h := t.seed ^ uint64(len(b))*0x9e3779b97f4a7c15
	for len(b) > 8 {
		h = mix(h ^ binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	var x uint64
	switch n := len(b); {
	case n >= 4:
		x = uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint32(b[n-4:]))<<32
	case n > 0:
		x = uint64(b[0]) | uint64(b[n/2])<<8 | uint64(b[n-1])<<16
	}
	return mix(h ^ x)
}

func mix(h uint64) uint64 {
	hi, lo := bits.Mul64(h, 0xbf58476d1ce4e5b9)
	return hi ^ lo
}
