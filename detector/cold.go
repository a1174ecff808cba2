package detector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/maphash"
	"math"
)

// coldRows holds the subjects no event has touched for a while as the
// rows [Engine.Changes] encodes, in slabs of bytes: memory the garbage
// collector does not scan, a few hundred bytes a subject where the
// decoded states are a graph of pointers it must mark at every cycle.
// Every structure here is free of pointers but the slab list.
//
// A subject is hot (its states in the programs' maps) or cold (its row
// here), never both. A restore puts every row here; an event, an identity
// merge, an erasure or an expiry brings a row back (see [Engine.thaw]).
type coldRows struct {
	seed  maphash.Seed
	index map[uint64]uint32 // subject hash → slot
	// clash holds the rare subjects whose hash another subject's slot
	// already holds in index.
	clash map[string]uint32
	slots []coldSlot
	free  []uint32 // unused slots
	slabs [][]byte // never written again below their length
	live  int      // bytes of the slots in use
	dead  int      // bytes of slabs no slot uses
	due   coldQueue
}

// coldSlot locates one subject's entry, uvarint key length, key, row, in
// a slab; n is 0 for an unused slot. seq changes whenever the slot is
// reused, so that a queue entry of its former subject is told apart.
type coldSlot struct {
	slab, off, n uint32
	seq          uint32
	epoch        uint32 // the evidence cleaners applied to the row; see tier
}

// coldSlab is the size of the slabs; a longer entry gets a slab of its own.
const coldSlab = 1 << 20

// errColdTwice is put's error for a subject already held.
var errColdTwice = errors.New("added twice")

func newColdRows(seed maphash.Seed) coldRows {
	return coldRows{seed: seed, index: make(map[uint64]uint32), clash: make(map[string]uint32)}
}

// len returns the number of subjects held.
func (c *coldRows) len() int { return len(c.slots) - len(c.free) }

func (c *coldRows) hash(subject []byte) uint64 { return maphash.Bytes(c.seed, subject) }

// find returns the slot of subject. h is subject's hash.
func (c *coldRows) find(subject []byte, h uint64) (uint32, bool) {
	i, ok := c.index[h]
	if !ok {
		return 0, false
	}
	if k, _ := c.entry(i); bytes.Equal(k, subject) {
		return i, true
	}
	i, ok = c.clash[string(subject)]
	return i, ok
}

// entry returns the key and row of slot i, capped at their lengths: they
// stay valid, unchanged, after the slot is removed.
func (c *coldRows) entry(i uint32) (key, row []byte) {
	s := c.slots[i]
	b := c.slabs[s.slab][s.off : s.off+s.n : s.off+s.n]
	k, n := binary.Uvarint(b)
	key = b[n : n+int(k) : n+int(k)]
	return key, b[n+int(k):]
}

// put adds subject's row, to be brought back by watermark due at the
// latest (see Engine.thawDue), its evidence cleaned by epoch cleaners.
func (c *coldRows) put(subject string, row []byte, due int64, epoch uint32) error {
	key := []byte(subject)
	if _, ok := c.find(key, c.hash(key)); ok {
		return errColdTwice
	}
	c.add(subject, row, due, epoch)
	return nil
}

// add is put of a subject known not to be held.
func (c *coldRows) add(subject string, row []byte, due int64, epoch uint32) {
	h := maphash.String(c.seed, subject)
	key := subject
	size := binary.PutUvarint(make([]byte, binary.MaxVarintLen64), uint64(len(key))) + len(key) + len(row)
	var i uint32
	if n := len(c.free); n > 0 {
		i = c.free[n-1]
		c.free = c.free[:n-1]
	} else {
		c.slots = append(c.slots, coldSlot{})
		i = uint32(len(c.slots) - 1)
	}
	slab, off := c.alloc(size)
	b := c.slabs[slab][:off]
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(append(b, key...), row...)
	c.slabs[slab] = b
	s := &c.slots[i]
	s.slab, s.off, s.n, s.epoch = slab, off, uint32(size), epoch
	c.live += size
	if _, taken := c.index[h]; taken {
		c.clash[subject] = i
	} else {
		c.index[h] = i
	}
	c.due.push(coldDue{due: due, slot: i, seq: s.seq})
	if len(c.due) > 2*c.len()+1024 {
		c.pruneDue()
	}
}

// pruneDue drops the queue entries of removed subjects, which otherwise
// stay until their time comes.
func (c *coldRows) pruneDue() {
	keep := c.due[:0]
	for _, d := range c.due {
		if s := c.slots[d.slot]; s.n != 0 && s.seq == d.seq {
			keep = append(keep, d)
		}
	}
	clear(c.due[len(keep):])
	c.due = keep
	c.due.heapify()
}

// alloc returns where size bytes go: the tail of the last slab, or a new
// one.
func (c *coldRows) alloc(size int) (slab, off uint32) {
	if n := len(c.slabs); n > 0 {
		last := c.slabs[n-1]
		if cap(last)-len(last) >= size {
			return uint32(n - 1), uint32(len(last))
		}
		c.dead += cap(last) - len(last) // the tail left unused
	}
	c.slabs = append(c.slabs, make([]byte, 0, max(coldSlab, size)))
	return uint32(len(c.slabs) - 1), 0
}

// remove frees slot i, whose key is subject.
func (c *coldRows) remove(i uint32, subject []byte) {
	if j, ok := c.index[c.hash(subject)]; ok && j == i {
		delete(c.index, c.hash(subject))
	} else {
		delete(c.clash, string(subject))
	}
	s := &c.slots[i]
	c.live -= int(s.n)
	c.dead += int(s.n)
	*s = coldSlot{seq: s.seq + 1}
	c.free = append(c.free, i)
	c.compact()
}

// compact copies the live entries to new slabs once most bytes are dead,
// so that the slabs stay within twice the rows they hold. The old slabs
// are dropped, not reused: rows handed out of them stay valid.
func (c *coldRows) compact() {
	if c.dead < 64<<20 || c.dead < c.live {
		return
	}
	old := c.slabs
	c.slabs, c.dead = nil, 0
	for i := range c.slots {
		s := &c.slots[i]
		if s.n == 0 {
			continue
		}
		slab, off := c.alloc(int(s.n))
		c.slabs[slab] = append(c.slabs[slab], old[s.slab][s.off:s.off+s.n]...)
		s.slab, s.off = slab, off
	}
}

// popDue returns a slot whose time came at watermark w, if any; entries of
// removed subjects are skipped.
func (c *coldRows) popDue(w int64) (uint32, bool) {
	for len(c.due) > 0 && c.due[0].due <= w {
		d := c.due.pop()
		if s := c.slots[d.slot]; s.n != 0 && s.seq == d.seq {
			return d.slot, true
		}
	}
	return 0, false
}

// nextDue returns the earliest time in the queue, MaxInt64 when empty. It
// drops the entries of removed subjects first, so that the queue does not
// grow with subjects that came and went.
func (c *coldRows) nextDue() int64 {
	for len(c.due) > 0 {
		d := c.due[0]
		if s := c.slots[d.slot]; s.n != 0 && s.seq == d.seq {
			return d.due
		}
		c.due.pop()
	}
	return math.MaxInt64
}

// coldQueue is a min-heap of the times cold rows are due back.
type coldQueue = dueHeap[coldDue]

type coldDue struct {
	due       int64
	slot, seq uint32
}

func (d coldDue) when() int64 { return d.due }
