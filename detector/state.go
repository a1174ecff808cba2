package detector

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// subjectState is what one subject has done for one signal. It is plain
// data: no pointers into plans or programs.
type subjectState struct {
	subject string
	// records are the kept relevant events, ordered by time; events with
	// equal times stay in arrival order. Never empty.
	records []record
	// stateMore is set for a score, and for other states once they need
	// it (an alert, an index): most states of a threshold or sequence are
	// a record or two and never fire, and a million of them should not
	// carry empty fields.
	*stateMore
}

// stateMore is the part of a subject's state that most states never need.
type stateMore struct {
	// alerts are the times of the signal's alerts for the subject, ascending.
	alerts []time.Time
	// index speeds up a long subject; nil until it keeps indexMin records,
	// and after anything but an insert or a prune changed the records.
	index     *recordIndex
	scoreSums // a score's only
}

// more returns st's stateMore, adding it first if need be.
func (st *subjectState) more() *stateMore {
	if st.stateMore == nil {
		st.stateMore = &stateMore{}
	}
	return st.stateMore
}

// idx returns st's index, nil when it has none.
func (st *subjectState) idx() *recordIndex {
	if st.stateMore == nil {
		return nil
	}
	return st.index
}

// scoreSums is what a score keeps beside its records.
type scoreSums struct {
	// folded is the score at foldedTime of the foldedCount events folded
	// out of records (all with times ≤ foldedTime, which is before every
	// kept record); total is the score at the newest record's time, folded
	// events included.
	folded      float64
	foldedTime  time.Time
	foldedCount int
	total       float64
	// disarmed is set when the score fired, until an event finds it below
	// the level again.
	disarmed bool
}

// reset empties st, as a new state of its subject (a score's keeps an
// empty stateMore).
func (st *subjectState) reset() {
	m := st.stateMore
	*st = subjectState{subject: st.subject, stateMore: m}
	if m != nil {
		*m = stateMore{}
	}
}

// newState returns an empty state of subject for a signal of kind k.
func newState(subject string, k kind) *subjectState {
	st := &subjectState{subject: subject}
	if k == kindScore {
		st.stateMore = &stateMore{}
	}
	return st
}

// record is one kept event of a subject for a signal.
type record struct {
	// ev is shared by the records of one event in every state; its
	// CustomerID is the customer key the event counts for. It is never
	// changed in place: relabel gives a record a changed copy.
	ev *schema.Evidence
	// at is ev.Time in Unix nanoseconds: the record's place in time,
	// compared without following ev (a window's binary search would
	// otherwise touch a cache line per step).
	at int64
	// value is the event's value of the threshold's distinct field.
	value string
	// steps has bit i set when the event matches sequence step i; absent
	// when it matches the sequence's absent match.
	steps  uint16
	absent bool
	// idHash is the engine's hash of ev.EventID, 0 for an empty id.
	idHash uint32
	// points is what the event adds to a score.
	points float64
}

// newest is the time of st's newest record (in the Local zone: only ever
// compared, added to and subtracted from).
func (st *subjectState) newest() time.Time { return time.Unix(0, st.newestAt()) }

// newestAt is the time of st's newest record in Unix nanoseconds.
func (st *subjectState) newestAt() int64 { return st.records[len(st.records)-1].at }

// reference is the time st's horizon is measured back from: its newest
// record's, but never after the watermark w, so that one event far ahead
// of the partition (a wrong clock) cannot push the subject's present out of
// its horizon.
func (st *subjectState) reference(w int64) int64 { return min(st.newestAt(), w) }

// indexMin is how many records a subject keeps before it is worth
// indexing: below it, scanning the records' id hashes is about as fast as
// a map and costs no memory.
const indexMin = 16

// recordIndex is derived from a subject's records, so that checking an
// event id, and counting the distinct values and people of a threshold's
// window, does not cost a pass over them all.
type recordIndex struct {
	// ids counts the records with a non-empty event id by its hash.
	ids map[uint32]int32

	// Thresholds with distinct or min_people only (counted): the window
	// of the newest record, (newest − within, newest], is records[lo:];
	// people counts its records per customer key, values per non-empty
	// distinct value (with distinct only).
	counted bool
	lo      int
	people  map[string]int32
	values  map[string]int32
}

// indexed returns st's index, building it first when st keeps indexMin
// records or more; nil below that.
func (st *subjectState) indexed(p *plan) *recordIndex {
	if ix := st.idx(); ix != nil || len(st.records) < indexMin {
		return ix
	}
	x := &recordIndex{ids: make(map[uint32]int32, len(st.records))}
	for i := range st.records {
		if r := &st.records[i]; r.ev.EventID != "" {
			x.ids[r.idHash]++
		}
	}
	if p.kind == kindThreshold && (p.distinct.kind != fieldNone || p.minPeople > 0) {
		x.counted = true
		x.lo = st.from(windowStart(st.newestAt(), p.within))
		x.people = make(map[string]int32)
		if p.distinct.kind != fieldNone {
			x.values = make(map[string]int32)
		}
		for i := x.lo; i < len(st.records); i++ {
			x.count(&st.records[i], 1)
		}
	}
	st.more().index = x
	return x
}

// count adds d to the counts of r's customer and value.
func (x *recordIndex) count(r *record, d int32) {
	bump(x.people, r.ev.CustomerID, d)
	if x.values != nil && r.value != "" {
		bump(x.values, r.value, d)
	}
}

// bump adds d to m[k], deleting the key when it drops to zero.
func bump[K comparable](m map[K]int32, k K, d int32) {
	if n := m[k] + d; n != 0 {
		m[k] = n
	} else {
		delete(m, k)
	}
}

// admits reports whether the event of x is neither too late to keep nor a
// duplicate of a kept event.
func (st *subjectState) admits(x *evalCtx, p *plan) bool {
	ev := x.ev
	if ev.Time.UnixNano() < windowStart(st.reference(x.watermark), p.horizon) {
		return false
	}
	if p.kind == kindScore && st.foldedCount > 0 && !ev.Time.After(st.foldedTime) {
		return false
	}
	ix := st.indexed(p)
	if ev.ID == "" {
		return true // never a duplicate
	}
	h := x.idHash()
	if ix != nil && ix.ids[h] == 0 {
		return true
	}
	// Short, or a record has the hash: compare the ids it could be.
	for i := range st.records {
		if r := &st.records[i]; r.idHash == h && r.ev.EventID == ev.ID {
			return false
		}
	}
	return true
}

// after returns the index of the first record with a time after t.
func (st *subjectState) after(t time.Time) int {
	return st.afterNanos(unixNanos(t))
}

// afterNanos returns the index of the first record with at > k.
func (st *subjectState) afterNanos(k int64) int {
	n := len(st.records)
	if n == 0 || st.records[n-1].at <= k {
		return n // k at or after the newest: the usual case, in order
	}
	return sort.Search(n-1, func(i int) bool { return st.records[i].at > k })
}

// from returns the index of the first record with at ≥ k.
func (st *subjectState) from(k int64) int {
	n := len(st.records)
	if n == 0 || st.records[n-1].at < k {
		return n
	}
	return sort.Search(n-1, func(i int) bool { return st.records[i].at >= k })
}

// insert adds r after every kept record with a time at or before its own
// and returns its index.
func (st *subjectState) insert(r record, p *plan) int {
	i := st.afterNanos(r.at)
	st.records = slices.Insert(st.records, i, r)
	if x := st.idx(); x != nil {
		if r.ev.EventID != "" {
			x.ids[r.idHash]++
		}
		if x.counted {
			x.insert(st, i, p.within)
		}
	}
	return i
}

// insert keeps the window counts of x right after records[i] was inserted.
func (x *recordIndex) insert(st *subjectState, i int, within time.Duration) {
	from := windowStart(st.newestAt(), within)
	if i < x.lo || st.records[i].at < from {
		// Before the window (a record at the window's start time sorts
		// after the ones there, so i may equal lo).
		x.lo++
		return
	}
	x.count(&st.records[i], 1)
	// A new newest record moves the window's start.
	for ; x.lo < len(st.records) && st.records[x.lo].at < from; x.lo++ {
		x.count(&st.records[x.lo], -1)
	}
}

// prune drops (for a score: folds) the records at or before ref −
// horizon, ref being st's reference at watermark w, and the alert times no
// longer needed (see Engine), and returns how many records it removed from
// the front. The newest record always stays. Dropping reslices from the
// front, so that pruning one record is O(1); the next growing append
// copies only what is live.
func (st *subjectState) prune(p *plan, w int64) int {
	ref := st.reference(w)
	// Each record is passed over once before it is dropped, so scanning
	// from the front costs O(1) per event, amortized.
	from, i := windowStart(ref, p.horizon), 0
	for i < len(st.records) && st.records[i].at < from {
		i++
	}
	if i > 0 {
		if p.kind == kindScore {
			for _, r := range st.records[:i] {
				st.fold(p, r.points, r.ev.Time)
			}
		}
		if x := st.idx(); x != nil {
			for _, r := range st.records[:i] {
				if r.ev.EventID != "" {
					bump(x.ids, r.idHash, -1)
				}
			}
			// Every pruned record is at or before ref − horizon ≤
			// newest − horizon, so before the window.
			x.lo -= i
		}
		clear(st.records[:i]) // release the evidence strings now
		st.records = st.records[i:]
	}
	if st.stateMore == nil {
		return i
	}
	cut := windowStart(ref, p.horizon+p.cooldown)
	if j := sort.Search(len(st.alerts), func(j int) bool { return st.alerts[j].UnixNano() >= cut }); j > 0 {
		st.alerts = st.alerts[j:]
	}
	return i
}

// fold adds points contributed at t to the folded sum.
func (st *subjectState) fold(p *plan, points float64, t time.Time) {
	switch {
	case st.foldedCount == 0:
		st.folded, st.foldedTime = points, t
	case t.After(st.foldedTime):
		st.folded = st.folded*p.decay(t.Sub(st.foldedTime)) + points
		st.foldedTime = t
	default:
		st.folded += points * p.decay(st.foldedTime.Sub(t))
	}
	st.foldedCount++
}

// cooling reports whether an alert time falls in (from, to].
func (st *subjectState) cooling(from, to time.Time) bool {
	if st.stateMore == nil {
		return false
	}
	i := sort.Search(len(st.alerts), func(i int) bool { return st.alerts[i].After(from) })
	return i < len(st.alerts) && !st.alerts[i].After(to)
}

func (st *subjectState) recordAlert(t time.Time) {
	m := st.more()
	i := sort.Search(len(m.alerts), func(i int) bool { return m.alerts[i].After(t) })
	m.alerts = slices.Insert(m.alerts, i, t)
}

// decay is the factor 2^(−d/half_life) a score contribution keeps after d.
func (p *plan) decay(d time.Duration) float64 {
	return math.Exp2(-float64(d) / float64(p.halfLife))
}

// scoreAt is the score at t of the folded sum and records[:n], all of
// which have times ≤ t.
func (st *subjectState) scoreAt(p *plan, t time.Time, n int) float64 {
	s := 0.0
	if st.foldedCount > 0 {
		s = st.folded * p.decay(t.Sub(st.foldedTime))
	}
	for _, r := range st.records[:n] {
		s += r.points * p.decay(t.Sub(r.ev.Time))
	}
	return s
}

// threshold applies the threshold rule to the event of x, r being its
// record.
func (p *program) threshold(x *evalCtx, st *subjectState, r record) (schema.Alert, bool) {
	t := r.ev.Time
	st.insert(r, p.plan)
	st.prune(p.plan, x.watermark)

	lo, hi := st.from(windowStart(r.at, p.within)), st.afterNanos(r.at)
	window := st.records[lo:hi]
	// The index counts the window of the newest record: the event's, when
	// it is not late.
	ix := st.idx()
	counted := ix != nil && ix.counted && hi == len(st.records)
	count := len(window)
	if p.distinct.kind != fieldNone {
		if counted {
			count = len(ix.values)
		} else {
			count = p.distinctValues(window)
		}
	}
	if count < p.count {
		return schema.Alert{}, false
	}
	people := -1
	if p.minPeople > 0 {
		if counted {
			people = len(ix.people)
		} else {
			people = p.people(window)
		}
		if people < p.minPeople {
			return schema.Alert{}, false
		}
	}
	if st.cooling(t.Add(-p.cooldown), t) {
		return schema.Alert{}, false
	}
	if people < 0 {
		people = p.people(window)
	}
	st.recordAlert(t)
	return p.alert(x, st.subject, evidenceOf(window), count, people, 0), true
}

// sequence applies the sequence rule to the event of x, r being its record.
func (p *program) sequence(x *evalCtx, st *subjectState, r record) (schema.Alert, bool) {
	t := r.ev.Time
	pos := st.insert(r, p.plan)
	pos -= st.prune(p.plan, x.watermark)

	last := len(p.steps) - 1
	if r.steps&(1<<last) == 0 {
		return schema.Alert{}, false
	}
	var chain [MaxSteps]int
	chain[last] = pos
	from := windowStart(r.at, p.within)
	cur := pos
	for j := last - 1; j >= 0; j-- {
		i := cur - 1
		for ; i >= 0; i-- {
			if st.records[i].at < from {
				return schema.Alert{}, false
			}
			if st.records[i].steps&(1<<j) != 0 {
				break
			}
		}
		if i < 0 {
			return schema.Alert{}, false
		}
		chain[j], cur = i, i
	}
	for i := chain[0] + 1; i < pos; i++ {
		if st.records[i].absent {
			return schema.Alert{}, false
		}
	}
	steps := make([]record, len(p.steps))
	for j := range steps {
		steps[j] = st.records[chain[j]]
	}
	people := p.people(steps)
	if people < p.minPeople || st.cooling(t.Add(-p.cooldown), t) {
		return schema.Alert{}, false
	}
	st.recordAlert(t)
	return p.alert(x, st.subject, evidenceOf(steps), len(steps), people, 0), true
}

// levelTolerance is the relative tolerance of score comparisons.
const levelTolerance = 1e-9

// score applies the score rule to the event of x, r being its record.
func (p *program) score(x *evalCtx, st *subjectState, r record) (schema.Alert, bool) {
	t := r.ev.Time
	var prevNewest time.Time
	if len(st.records) > 0 {
		prevNewest = st.newest()
	}
	pos := st.insert(r, p.plan)
	var before float64
	switch {
	case pos == 0 && len(st.records) == 1:
		// A new subject: nothing before.
	case pos == len(st.records)-1:
		// In order: decay the running total, O(1).
		before = st.total * p.decay(t.Sub(prevNewest))
	default:
		before = st.scoreAt(p.plan, t, pos)
	}
	after := before + r.points
	if pos == len(st.records)-1 {
		st.total = after
	} else {
		st.total = st.scoreAt(p.plan, st.newest(), len(st.records))
	}
	pos -= st.prune(p.plan, x.watermark)

	level := p.level * (1 - levelTolerance)
	if before < level {
		st.disarmed = false
	}
	if st.disarmed || after < level {
		return schema.Alert{}, false
	}
	counted := st.records[:pos+1]
	people := p.people(counted)
	if people < p.minPeople || st.cooling(t.Add(-p.cooldown), t) {
		return schema.Alert{}, false
	}
	st.disarmed = true
	st.recordAlert(t)
	return p.alert(x, st.subject, evidenceOf(counted), st.foldedCount+len(counted), people, after), true
}

// absorb merges src, another subject's state for the same signal, into
// st: records united (one per event id; st's first among equal times),
// alert times united, folded sums added. Then it prunes.
func (st *subjectState) absorb(src *subjectState, p *plan, w int64) {
	if st.stateMore != nil {
		st.index = nil // rebuilt when next needed
	}
	ids := make(map[string]struct{}, len(st.records))
	for _, r := range st.records {
		ids[r.ev.EventID] = struct{}{}
	}
	merged := make([]record, 0, len(st.records)+len(src.records))
	i := 0
	for _, r := range src.records {
		if _, dup := ids[r.ev.EventID]; dup && r.ev.EventID != "" {
			continue
		}
		for i < len(st.records) && st.records[i].at <= r.at {
			merged = append(merged, st.records[i])
			i++
		}
		merged = append(merged, r)
	}
	st.records = append(merged, st.records[i:]...)

	if src.stateMore != nil {
		for _, a := range src.alerts {
			if st.stateMore == nil || !slices.Contains(st.alerts, a) {
				st.recordAlert(a)
			}
		}
	}
	if p.kind != kindScore {
		st.prune(p, w)
		return
	}
	st.disarmed = st.disarmed || src.disarmed
	if src.foldedCount > 0 {
		n := src.foldedCount
		st.fold(p, src.folded, src.foldedTime)
		st.foldedCount += n - 1
	}
	if st.foldedCount > 0 {
		// Keep every record after the folded sum.
		n := st.after(st.foldedTime)
		for _, r := range st.records[:n] {
			st.fold(p, r.points, r.ev.Time)
		}
		if n == len(st.records) {
			n-- // the newest record always stays; its points are folded
			st.foldedCount--
			st.folded -= st.records[n].points * p.decay(st.foldedTime.Sub(st.records[n].ev.Time))
		}
		st.records = st.records[n:]
	}
	st.total = st.scoreAt(p, st.newest(), len(st.records))
	st.prune(p, w)
}

// relabel makes the records of anonymous id anon count as customer.
func (st *subjectState) relabel(anon, customer string, value bool) {
	// The window counts follow the records that change (a merge relabels
	// every account state its visitor touched: rebuilding them would cost
	// a pass of map updates over each window).
	var w *recordIndex
	if ix := st.idx(); ix != nil && ix.counted {
		w = ix
	}
	for i := range st.records {
		r := &st.records[i]
		if r.ev.CustomerID == anon {
			counted := w != nil && i >= w.lo
			if counted {
				w.count(r, -1)
			}
			ev := *r.ev
			ev.CustomerID = customer
			r.ev = &ev
			if value && r.value == anon {
				r.value = customer
			}
			if counted {
				w.count(r, 1)
			}
		}
	}
}
