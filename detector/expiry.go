package detector

import (
	"math"
	"time"
)

// expiryQueue holds every state of a program with a time before which the
// state cannot be forgotten (see the retention rules on [Engine]), earliest
// first, so that a sweep visits only the states that may have expired
// instead of all of them. It is derived from the states, never saved.
//
// A state's time only moves later as events are added to it (its newest
// event, and a score's sum at any later time, only grow), so a time once
// computed stays a lower bound. The exception is a forgotten state that an
// event starts afresh in place, whose newest event may then be older; its
// entry's time is at most the watermark it was forgotten at, so the next
// sweep still visits it.
type expiryQueue = dueHeap[expiryEntry]

type expiryEntry struct {
	due int64 // unixNanos of the time
	st  *subjectState
}

func (e expiryEntry) when() int64 { return e.due }

// pruneQueue drops the entries of q, p's expiry or timer queue, whose
// states are no longer in p's map (gone cold), and restores the heap
// order.
func (p *program) pruneQueue(q *expiryQueue) {
	h := *q
	keep := h[:0]
	for _, en := range h {
		if len(en.st.records) > 0 && p.states[en.st.subject] == en.st {
			keep = append(keep, en)
		}
	}
	clear(h[len(keep):])
	if len(keep) < cap(h)/4 {
		keep = append(expiryQueue(nil), keep...) // give back the rest
	}
	*q = keep
	q.heapify()
}

// Bounds of the times unixNanos can represent.
var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// unixNanos is t in Unix nanoseconds, clamped to the int64 range (years
// 1678 to 2262), so that it keeps the order of times.
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(minNanoTime):
		return math.MinInt64
	case t.After(maxNanoTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// expiresAt returns a time (Unix nanoseconds) at or before the earliest
// watermark at which st is forgotten, if no event is added to it.
func (p *program) expiresAt(st *subjectState) int64 {
	return p.expiresAtOf(st.newestAt(), st.totalOrZero())
}

// totalOrZero is st's score at its newest record, 0 but for a score.
func (st *subjectState) totalOrZero() float64 {
	if st.stateMore == nil {
		return 0
	}
	return st.total
}

// expiresAtOf is expiresAt of a state whose newest record is at newest
// and whose score is total.
func (p *program) expiresAtOf(newest int64, total float64) int64 {
	at := satAdd(newest, int64(p.horizon+p.cooldown))
	if p.kind == kindScore && total > 0 {
		// The score at w, total·2^(−(w−newest)/half_life), is below
		// level/1000 once w − newest > half_life·log2(1000·total/level);
		// the time is cut by a millionth to stay before it despite
		// rounding.
		if halvings := math.Log2(1000 * total / p.level); halvings > 0 {
			d := float64(p.halfLife) * halvings * (1 - 1e-6)
			if d >= math.MaxInt64 {
				return math.MaxInt64
			}
			at = max(at, satAdd(newest, int64(d)))
		}
	}
	return at
}

// sweep frees the states of p that are forgotten at w: it visits the ones
// whose time in the queue has come, and queues again those that are not
// forgotten yet.
func (p *program) sweep(w int64) {
	now := w
	again := p.again[:0]
	for len(p.expiry) > 0 && p.expiry[0].due <= now {
		st := p.expiry.pop().st
		if len(st.records) == 0 || p.states[st.subject] != st {
			continue // dropped since it was queued
		}
		if p.expired(st, w) {
			p.drop(st)
			continue
		}
		again = append(again, st)
	}
	for i, st := range again {
		p.expiry.push(expiryEntry{max(p.expiresAt(st), satAdd(now, 1)), st})
		again[i] = nil
	}
	p.again = again[:0]
}

// drop deletes st from p's states and clears it, so that nothing of it
// stays reachable from a queue entry that still points to it.
func (p *program) drop(st *subjectState) {
	if p.states[st.subject] == st {
		p.marks.mark(st.subject)
		delete(p.states, st.subject)
	}
	*st = subjectState{}
}

// satAdd is a + b, saturating at the int64 bounds, for b ≥ 0.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
