package detector

import (
	"math"
	"slices"
	"time"
)

// clockWindow is how many consecutive events the partition clock takes a
// median of; a time needs more than half of them to move the clock.
const clockWindow = 32

// clock gives the engine's event-time watermark W: how far the partition
// has got, which decides when idle subjects are forgotten and bounds how
// far back a subject prunes. It takes the events in blocks of size
// consecutive ones (by arrival); W is the highest lower median of a
// completed block so far. So W reaches a time t only once more than half
// of the events of one block are at or after t, and it never moves back:
// one event dated far in the future, or any minority of them, cannot
// advance it, and cannot make the engine forget or ignore the partition's
// present. In a stream in time order W lags the newest event by 16 to 47
// events, which only keeps idle state a little longer. Until a block is
// complete, W is unknown and held at the earliest time, so that nothing is
// forgotten. (A block rather than a sliding window: keeping a sliding
// median costs more per event than the rest of an irrelevant event's
// evaluation.)
type clock struct {
	block [clockWindow]int64 // the times of the current block, [:n]
	n     int
	size  int // clockWindow; lowered by tests (1: W is the newest time seen)
}

// observe adds an event time; when it completes a block it returns the
// block's lower median.
func (c *clock) observe(t int64) (int64, bool) {
	c.block[c.n] = t
	if c.n++; c.n < c.size {
		return 0, false
	}
	c.n = 0
	return lowerMedian(c.block[:c.size]), true
}

// lowerMedian returns the element of b that would be at (len(b)−1)/2 if b
// were sorted, reordering b (Hoare's selection: about 2·len(b) compares,
// fewer than sorting).
func lowerMedian(b []int64) int64 {
	k := (len(b) - 1) / 2
	lo, hi := 0, len(b)-1
	for lo < hi {
		pivot := b[lo+(hi-lo)/2]
		i, j := lo, hi
		for i <= j {
			for b[i] < pivot {
				i++
			}
			for b[j] > pivot {
				j--
			}
			if i <= j {
				b[i], b[j] = b[j], b[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return b[k] // between j and i: equal to the pivot
		}
	}
	return b[k]
}

// times returns the times of the current block, in arrival order.
func (c *clock) times() []int64 { return slices.Clone(c.block[:c.n]) }

// restored returns a clock of c's size holding a snapshot's block.
func (c clock) restored(times []int64) clock {
	r := clock{size: c.size}
	if len(times) >= r.size {
		times = nil // from another size: start a block afresh
	}
	r.n = copy(r.block[:], times)
	return r
}

// windowStart returns the first Unix nanosecond of the window (t − d, t]
// for d > 0, t − d + 1, or the earliest representable one when that is
// earlier: so "at ≥ windowStart(t, d)" tests at > t − d exactly, at both
// edges of the int64 range.
func windowStart(t int64, d time.Duration) int64 {
	if t < math.MinInt64+int64(d-1) {
		return math.MinInt64
	}
	return t - int64(d-1)
}

// elapsed is to − from as a duration, saturating at the largest one
// (a decay over it is zero anyway).
func elapsed(from, to int64) time.Duration {
	if to >= from {
		if d := uint64(to) - uint64(from); d <= math.MaxInt64 {
			return time.Duration(d)
		}
		return math.MaxInt64
	}
	if d := uint64(from) - uint64(to); d <= math.MaxInt64 {
		return -time.Duration(d)
	}
	return math.MinInt64
}
