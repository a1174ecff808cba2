package detector

import (
	"math"
	"slices"
	"time"
)

// clockWindow is how many of the latest event times the partition clock
// looks at; a time needs more than half of them to move the clock.
const clockWindow = 32

// clock remembers the times of the last size events, by arrival, to
// give the engine's event-time watermark W: how far the partition has got,
// which decides when idle subjects are forgotten and bounds how far back a
// subject prunes. W is the highest lower median of those times so far: it
// reaches a time t only once more than half of the last size events are at
// or after t, and it never moves back. So one event dated far in
// the future, or any minority of them, cannot advance it, and cannot make
// the engine forget or ignore the partition's present; in a stream in time
// order W lags the newest event by half the window, which only keeps idle
// state a little longer. Until size events have been seen, W is unknown
// and held at the earliest time, so that nothing is forgotten.
type clock struct {
	ring   [clockWindow]int64 // the last n event times, in arrival order from next on
	sorted [clockWindow]int64 // ring[:n], ascending
	n      int
	next   int
	size   int // clockWindow; lowered by tests (1: W is the newest time seen)
}

// observe adds an event time and returns the lower median of the window,
// false while it is not full.
func (c *clock) observe(t int64) (int64, bool) {
	if c.n < c.size {
		c.ring[c.n] = t
		i, _ := slices.BinarySearch(c.sorted[:c.n], t)
		copy(c.sorted[i+1:c.n+1], c.sorted[i:c.n])
		c.sorted[i] = t
		c.n++
		if c.n < c.size {
			return 0, false
		}
	} else {
		old := c.ring[c.next]
		c.ring[c.next] = t
		if c.next++; c.next == c.size {
			c.next = 0
		}
		// Replace old by t in sorted, shifting the values between them.
		s := c.sorted[:c.size]
		i, _ := slices.BinarySearch(s, old)
		if t >= old {
			j, _ := slices.BinarySearch(s[i+1:], t)
			j += i + 1 // s[i+1:j] < t ≤ s[j:]
			copy(s[i:j-1], s[i+1:j])
			s[j-1] = t
		} else {
			j, _ := slices.BinarySearch(s[:i], t) // s[:j] < t ≤ s[j:i]
			copy(s[j+1:i+1], s[j:i])
			s[j] = t
		}
	}
	return c.sorted[(c.size-1)/2], true
}

// times returns the remembered event times, oldest first.
func (c *clock) times() []int64 {
	return append(slices.Clone(c.ring[c.next:c.n]), c.ring[:c.next]...)
}

// restored returns a clock of c's size and the W of a snapshot, from the
// event times it remembered, oldest first, and its W. A snapshot without a
// full window of times (one written before the clock existed, whose W the
// newest event alone could have set to any time) gets its W from later
// events instead, so that an absurd W heals.
func (c clock) restored(times []int64, w int64) (clock, int64) {
	c = clock{size: c.size}
	if len(times) > c.size {
		times = times[len(times)-c.size:]
	}
	median, full := int64(0), false
	for _, t := range times {
		median, full = c.observe(t)
	}
	if !full {
		return c, math.MinInt64
	}
	return c, max(median, w)
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
