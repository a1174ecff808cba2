package postgres

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math"
)

// keySet is the set of keys a read of a checkpoint log has seen. A
// compaction or restore holds every key changed since the last
// compaction in it, up to millions: as a map of strings that was a
// pointer per key for the garbage collector to mark, and an allocation
// per key, competing with the event path for the same cores. Here the
// keys are copied into one arena and indexed by hash, all free of
// pointers; the rare key whose hash another key already holds goes to
// clash, compared in full.
type keySet struct {
	seed  maphash.Seed
	index map[uint64]uint32 // key hash → offset of the key in arena
	arena []byte            // each key as a uvarint length and its bytes
	clash map[string]struct{}
}

func newKeySet(hint int) *keySet {
	return &keySet{seed: maphash.MakeSeed(), index: make(map[uint64]uint32, hint)}
}

// has reports whether k was added.
func (s *keySet) has(k []byte) bool {
	found, _ := s.find(k, maphash.Bytes(s.seed, k))
	return found
}

// add adds k and reports whether it was new.
func (s *keySet) add(k []byte) bool {
	h := maphash.Bytes(s.seed, k)
	found, indexed := s.find(k, h)
	if found {
		return false
	}
	// Offsets are 32 bits: past 4 GiB of keys the rest go to clash.
	if !indexed && len(s.arena) <= math.MaxUint32 {
		s.index[h] = uint32(len(s.arena))
		s.arena = binary.AppendUvarint(s.arena, uint64(len(k)))
		s.arena = append(s.arena, k...)
		return true
	}
	if s.clash == nil {
		s.clash = map[string]struct{}{}
	}
	s.clash[string(k)] = struct{}{}
	return true
}

// find reports whether k (of hash h) is in the set, and whether another
// key holds h in index.
func (s *keySet) find(k []byte, h uint64) (found, indexed bool) {
	off, ok := s.index[h]
	if !ok {
		if len(s.clash) == 0 {
			return false, false
		}
		_, found = s.clash[string(k)]
		return found, false
	}
	b := s.arena[off:]
	n, w := binary.Uvarint(b)
	if bytes.Equal(b[w:w+int(n)], k) {
		return true, true
	}
	_, found = s.clash[string(k)]
	return found, true
}

// len returns the number of keys added.
func (s *keySet) len() int { return len(s.index) + len(s.clash) }
