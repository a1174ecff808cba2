package detector

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/maphash"
	"math"
	"math/bits"
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
	// slabs are never written again below their length; a slab emptied
	// by evacuate is nil, its index in spare for a new one.
	slabs    [][]byte
	slabLive []int // bytes of the slots in use in each slab
	spare    []uint32
	tail     int // the slab being filled, -1 when none
	live     int // bytes of the slots in use
	held     int // bytes of the slabs held (their capacity)
	// evac is the slab evacuate empties, -1 when none, and evacAt how
	// far it got.
	evac, evacAt int
	due          coldQueue
}

// coldSlot locates one subject's entry, uvarint key length, key, uvarint
// row length, row, in a slab (the lengths let evacuate walk a slab); n is 0 for an unused slot. seq changes whenever the slot is
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
	return coldRows{seed: seed, index: make(map[uint64]uint32), clash: make(map[string]uint32), tail: -1, evac: -1}
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
// stay valid, unchanged, after the slot is removed or moved.
func (c *coldRows) entry(i uint32) (key, row []byte) {
	s := c.slots[i]
	key, row, _ = parseColdEntry(c.slabs[s.slab][s.off : s.off+s.n : s.off+s.n])
	return key, row
}

// parseColdEntry splits the entry at the start of b, and returns its size.
func parseColdEntry(b []byte) (key, row []byte, size int) {
	k, n := binary.Uvarint(b)
	end := n + int(k)
	key = b[n:end:end]
	r, n := binary.Uvarint(b[end:])
	start := end + n
	end = start + int(r)
	return key, b[start:end:end], end
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
	size := uvarintLen(len(key)) + len(key) + uvarintLen(len(row)) + len(row)
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
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(row)))
	b = append(b, row...)
	c.slabs[slab] = b
	s := &c.slots[i]
	s.slab, s.off, s.n, s.epoch = slab, off, uint32(size), epoch
	c.live += size
	c.slabLive[slab] += size
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

// alloc returns where size bytes go: the tail of the slab being filled,
// or a new one.
func (c *coldRows) alloc(size int) (slab, off uint32) {
	if c.tail >= 0 {
		last := c.slabs[c.tail]
		if cap(last)-len(last) >= size {
			return uint32(c.tail), uint32(len(last))
		}
	}
	b := make([]byte, 0, max(coldSlab, size))
	c.held += cap(b)
	if n := len(c.spare); n > 0 {
		c.tail = int(c.spare[n-1])
		c.spare = c.spare[:n-1]
		c.slabs[c.tail] = b
	} else {
		c.tail = len(c.slabs)
		c.slabs = append(c.slabs, b)
		c.slabLive = append(c.slabLive, 0)
	}
	return uint32(c.tail), 0
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
	c.slabLive[s.slab] -= int(s.n)
	*s = coldSlot{seq: s.seq + 1}
	c.free = append(c.free, i)
}

// Evacuation: once the slabs hold evacMin bytes of removed entries and
// at least half as many as of live ones, evacuate moves the live entries
// of the emptiest slab to the tail, a budget of bytes read per call, and
// drops the slab when it is through. Rewriting every slab at once, as
// before, stopped the partition for 100 ms and more at a million
// subjects; a budget per call to Changes keeps each step to a millisecond
// or two, several times the pace at which events thaw rows.
const (
	evacMin    = 64 << 20
	evacBudget = 8 << 20
)

// evacuate moves live entries out of emptier slabs, reading at most
// budget bytes of them.
func (c *coldRows) evacuate(budget int) {
	for budget > 0 {
		if c.evac < 0 && !c.pickEvac() {
			return
		}
		b := c.slabs[c.evac]
		for c.evacAt < len(b) && budget > 0 {
			key, row, n := parseColdEntry(b[c.evacAt:])
			if i, ok := c.find(key, c.hash(key)); ok && int(c.slots[i].slab) == c.evac && int(c.slots[i].off) == c.evacAt {
				s := &c.slots[i]
				slab, off := c.alloc(n)
				d := binary.AppendUvarint(c.slabs[slab], uint64(len(key)))
				d = append(d, key...)
				d = binary.AppendUvarint(d, uint64(len(row)))
				c.slabs[slab] = append(d, row...)
				c.slabLive[c.evac] -= n
				c.slabLive[slab] += n
				s.slab, s.off = slab, off
			}
			c.evacAt += n
			budget -= n
		}
		if c.evacAt < len(b) {
			return
		}
		// Rows handed out of it stay valid: nothing writes to it again.
		c.held -= cap(b)
		c.slabs[c.evac] = nil
		c.spare = append(c.spare, uint32(c.evac))
		c.evac = -1
	}
}

// evacuating reports whether evacuate has work.
func (c *coldRows) evacuating() bool {
	return c.evac >= 0 || c.victim() >= 0
}

// pickEvac chooses the slab to evacuate, if any.
func (c *coldRows) pickEvac() bool {
	c.evac, c.evacAt = c.victim(), 0
	return c.evac >= 0
}

// victim returns the slab to evacuate next, -1 for none: if the slabs
// are due, the one with the fewest live bytes, if under three quarters of
// it are.
func (c *coldRows) victim() int {
	dead := c.held - c.live
	if dead < evacMin || 2*dead < c.live {
		return -1
	}
	best := -1
	for i, b := range c.slabs {
		if b == nil || i == c.tail {
			continue
		}
		if 4*c.slabLive[i] < 3*cap(b) && (best < 0 || c.slabLive[i] < c.slabLive[best]) {
			best = i
		}
	}
	return best
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

// uvarintLen is the size of x as a uvarint.
func uvarintLen(x int) int { return (bits.Len64(uint64(x)|1) + 6) / 7 }
