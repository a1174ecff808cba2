package detector

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// Incremental checkpoints (see docs/architecture.md, "State and checkpoints"): the state is rows keyed
// by subject, plus chunks of the two rings, plus a small meta blob; the
// engine marks what changes so that a checkpoint encodes only that.

// Layout versions: the first byte of the meta and of every row.
const (
	metaVersion = 1
	rowVersion  = 1
)

// ringChunk is how many slots of the recent-id or link ring one row holds.
const ringChunk = 1024

// Keys of the ring rows; a subject never starts with '#'.
const (
	recentPrefix = "#recent/"
	linksPrefix  = "#links/"
)

// changeMarks holds the subjects changed since the last checkpoint. The
// keys are the states' own subject strings, so marking copies nothing.
// Until on (the first Changes, MarkAllChanged or restore), nothing is
// marked: every live row is new then, and an engine whose caller never
// asks for changes keeps no set that grows with every subject.
type changeMarks struct {
	subjects map[string]struct{}
	on       bool
}

func newChangeMarks(on bool) *changeMarks {
	return &changeMarks{subjects: make(map[string]struct{}), on: on}
}

func (m *changeMarks) mark(subject string) {
	if m.on {
		m.subjects[subject] = struct{}{}
	}
}

// chunkMarks marks the changed chunks of a ring, one bit each, and
// remembers how many chunk rows the last checkpoint left, so that a ring
// that shrank deletes the rows past its end.
type chunkMarks struct {
	bits []uint64
	rows int
}

func (c *chunkMarks) mark(slot int) {
	i := slot / ringChunk
	for i/64 >= len(c.bits) {
		c.bits = append(c.bits, 0)
	}
	c.bits[i/64] |= 1 << (i % 64)
}

// markAll marks every chunk of a ring of n slots.
func (c *chunkMarks) markAll(n int) {
	for s := 0; s < n; s += ringChunk {
		c.mark(s)
	}
}

// flush emits the changed chunks of a ring of n slots, and deletes the
// rows past its end, then clears the marks.
func (c *chunkMarks) flush(prefix string, n int, enc func(lo, hi int) []byte, emit func(string, []byte)) {
	rows := (n + ringChunk - 1) / ringChunk
	for w, word := range c.bits {
		for ; word != 0; word &= word - 1 {
			i := w*64 + bits.TrailingZeros64(word)
			if i < rows {
				emit(prefix+strconv.Itoa(i), enc(i*ringChunk, min(n, (i+1)*ringChunk)))
			}
		}
	}
	for i := rows; i < c.rows; i++ {
		emit(prefix+strconv.Itoa(i), nil)
	}
	clear(c.bits)
	c.rows = rows
}

// Changes calls emit for every row that changed since the previous call to
// Changes (or since New, [Engine.BeginRestore]'s Finish or
// [Engine.MarkAllChanged]; the first call on an engine from New emits
// every live row), data nil meaning the row is to be deleted, and
// returns the meta blob describing the rest of the engine (its layout
// version, clock and watermark, sweep times, programs table, ring
// positions). Afterwards nothing is marked changed. emit may keep key and
// data: the engine never writes data again (rows are cut from shared
// slabs, capped at their length), and key may share the engine's subject
// string. An idle engine emits nothing.
func (e *Engine) Changes(emit func(key string, data []byte)) (meta []byte) {
	if !e.marks.on {
		// The first checkpoint of a new engine: every live row.
		e.MarkAllChanged()
	}
	w := &e.enc
	t := &e.tier
	marked := t.marked[:0]
	for subject := range e.marks.subjects {
		if t.markedCold {
			if i, ok := t.rows.find([]byte(subject), t.rows.hash([]byte(subject))); ok {
				_, row := t.rows.entry(i)
				emit(subject, row) // cold, as it was stored
				continue
			}
		}
		row := w.subjectRow(e, subject)
		emit(subject, row)
		if t.after > 0 {
			marked = append(marked, hotRow{subject: subject, row: row, progs: w.progs})
		}
	}
	t.markedCold = false
	e.track(marked, false)
	clear(marked)
	t.marked = marked[:0]
	if len(e.marks.subjects) > 1024 {
		// Keep the set's memory proportional to what changes.
		e.marks = newChangeMarks(true)
		for _, p := range e.programs {
			p.marks = e.marks
		}
	} else {
		clear(e.marks.subjects)
	}
	e.recent.rows.flush(recentPrefix, len(e.recent.ring), w.recentRow(e), emit)
	e.links.rows.flush(linksPrefix, len(e.links.ring), w.linksRow(e), emit)
	// The rows are emit's now; the slab's free tail (at most one slab,
	// past them) serves the next checkpoint.
	clear(w.states)
	clear(w.evs)
	return e.meta()
}

// MarkAllChanged makes the next [Engine.Changes] emit every live row: used
// after [Engine.RestoreSnapshot], to rewrite a legacy checkpoint as rows.
func (e *Engine) MarkAllChanged() {
	e.marks.on = true
	for _, p := range e.programs {
		for subject := range p.states {
			e.marks.mark(subject)
		}
	}
	for i := range e.tier.rows.slots {
		if e.tier.rows.slots[i].n != 0 {
			k, _ := e.tier.rows.entry(uint32(i))
			e.marks.mark(string(k))
			e.tier.markedCold = true
		}
	}
	e.recent.rows.markAll(len(e.recent.ring))
	e.links.rows.markAll(len(e.links.ring))
}

// rowEncoder is the scratch Changes reuses.
type rowEncoder struct {
	slab   []byte // rows are capped slices of it; see begin
	last   int    // the last row's length
	states []numState
	evs    []*schema.Evidence
	evIdx  map[*schema.Evidence]uint64 // for a row of many records
	idx    []uint64                    // each record's index in evs
	progs  progSet                     // the programs holding the last row's subject
}

type numState struct {
	num uint64
	st  *subjectState
}

// slabSize is the size of the slabs rows are cut from: rows are small,
// and one allocation per row would cost more than encoding it.
const slabSize = 64 << 10

// begin starts a row at the start of w.slab, past the rows handed out, so
// that a row outgrowing the slab copies only itself.
// It expects a row as long as the last one.
func (w *rowEncoder) begin() {
	w.slab = w.slab[len(w.slab):]
	if need := max(1024, w.last); cap(w.slab) < need {
		w.slab = make([]byte, 0, max(slabSize, 2*need))
	}
}

// row returns the row begun last, capped at its length.
func (w *rowEncoder) row() []byte {
	w.last = len(w.slab)
	return w.slab[:len(w.slab):len(w.slab)]
}

// subjectRow encodes every state of subject, nil when it has none.
//
//	row      = version, uvarint n, n × evidence, uvarint m, m × state
//	evidence = str EventID, Type, CustomerID, ContentID, URL, Title, Subject, time
//	state    = uvarint program, flags, uvarint k, k × record,
//	           [uvarint a, a × time (alerts)],
//	           [f64 folded, uvarint foldedCount, [time foldedTime], f64 total, byte disarmed]
//	record   = uvarint evidence index, flags, [str value], [uvarint steps], [f64 points]
func (w *rowEncoder) subjectRow(e *Engine, subject string) []byte {
	w.states = w.states[:0]
	w.progs = progSet{epoch: e.tier.epoch}
	account := strings.HasPrefix(subject, "account:")
	for i, p := range e.programs {
		if account && p.sig.Scope != ScopeAccount {
			continue // only an account's signal has account subjects
		}
		if st := p.states[subject]; st != nil {
			w.progs.add(i)
			if len(st.records) > 0 {
				w.states = append(w.states, numState{p.num, st})
			}
		}
	}
	if len(w.states) == 0 {
		return nil
	}
	// The evidence table: each record's evidence once, by pointer, as
	// the records of one event share it.
	w.evs = w.evs[:0]
	clear(w.evIdx)
	w.idx = w.idx[:0]
	for _, s := range w.states {
		for i := range s.st.records {
			w.idx = append(w.idx, w.evidenceIndex(s.st.records[i].ev))
		}
	}
	idx := w.idx // the records' indexes, in the order written below
	w.begin()
	b := append(w.slab, rowVersion)
	b = binary.AppendUvarint(b, uint64(len(w.evs)))
	for _, ev := range w.evs {
		b = appendStr(b, ev.EventID)
		b = appendStr(b, ev.Type)
		b = appendStr(b, ev.CustomerID)
		b = appendStr(b, ev.ContentID)
		b = appendStr(b, ev.URL)
		b = appendStr(b, ev.Title)
		b = appendStr(b, ev.Subject)
		b = appendTime(b, ev.Time)
	}
	b = binary.AppendUvarint(b, uint64(len(w.states)))
	for _, s := range w.states {
		st := s.st
		var flags byte
		if st.stateMore != nil {
			if len(st.alerts) > 0 {
				flags |= stAlerts
			}
			if st.foldedCount > 0 || st.total != 0 || st.disarmed {
				flags |= stScore
			}
		}
		b = binary.AppendUvarint(b, s.num)
		b = append(b, flags)
		b = binary.AppendUvarint(b, uint64(len(st.records)))
		for i := range st.records {
			r := &st.records[i]
			b = binary.AppendUvarint(b, idx[0])
			idx = idx[1:]
			var rf byte
			if r.absent {
				rf |= recAbsent
			}
			if r.value != "" {
				rf |= recValue
			}
			if r.steps != 0 {
				rf |= recSteps
			}
			if r.points != 0 {
				rf |= recPoints
			}
			b = append(b, rf)
			if r.value != "" {
				b = appendStr(b, r.value)
			}
			if r.steps != 0 {
				b = binary.AppendUvarint(b, uint64(r.steps))
			}
			if r.points != 0 {
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.points))
			}
		}
		if flags&stAlerts != 0 {
			b = binary.AppendUvarint(b, uint64(len(st.alerts)))
			for _, t := range st.alerts {
				b = appendTime(b, t)
			}
		}
		if flags&stScore != 0 {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(st.folded))
			b = binary.AppendUvarint(b, uint64(st.foldedCount))
			if st.foldedCount > 0 {
				b = appendTime(b, st.foldedTime)
			}
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(st.total))
			b = append(b, boolByte(st.disarmed))
		}
	}
	w.slab = b
	return w.row()
}

// Flags of a state and of a record in a row.
const (
	stAlerts = 1 << iota
	stScore
)

const (
	recAbsent = 1 << iota
	recValue
	recSteps
	recPoints
)

// evidenceIndex returns ev's index in the row's table, adding it first.
func (w *rowEncoder) evidenceIndex(ev *schema.Evidence) uint64 {
	if len(w.evs) < 16 {
		for i, o := range w.evs {
			if o == ev {
				return uint64(i)
			}
		}
		w.evs = append(w.evs, ev)
		return uint64(len(w.evs) - 1)
	}
	// A long row: index it by pointer.
	if w.evIdx == nil {
		w.evIdx = make(map[*schema.Evidence]uint64)
	}
	if len(w.evIdx) == 0 {
		for i, o := range w.evs {
			w.evIdx[o] = uint64(i)
		}
	}
	if i, ok := w.evIdx[ev]; ok {
		return i
	}
	w.evs = append(w.evs, ev)
	w.evIdx[ev] = uint64(len(w.evs) - 1)
	return uint64(len(w.evs) - 1)
}

// recentRow encodes ring slots [lo, hi): version, uvarint n, n × str.
func (w *rowEncoder) recentRow(e *Engine) func(lo, hi int) []byte {
	return func(lo, hi int) []byte {
		w.begin()
		b := append(w.slab, rowVersion)
		b = binary.AppendUvarint(b, uint64(hi-lo))
		for _, id := range e.recent.ring[lo:hi] {
			b = appendStr(b, id)
		}
		w.slab = b
		return w.row()
	}
}

// linksRow encodes link ring slots [lo, hi): version, uvarint n, n ×
// (str anon, customer, account, lifecycle).
func (w *rowEncoder) linksRow(e *Engine) func(lo, hi int) []byte {
	return func(lo, hi int) []byte {
		w.begin()
		b := append(w.slab, rowVersion)
		b = binary.AppendUvarint(b, uint64(hi-lo))
		for _, anon := range e.links.ring[lo:hi] {
			k := e.links.byAnon[anon]
			b = appendStr(b, anon)
			b = appendStr(b, k.customer)
			b = appendStr(b, k.account)
			b = appendStr(b, k.lifecycle)
		}
		w.slab = b
		return w.row()
	}
}

// meta encodes what is not per subject:
//
//	version, varint watermark, varint nextSweep, uvarint n, n × varint
//	clock time, uvarint recent length, uvarint recent next, uvarint links
//	length, uvarint links next, uvarint nextNum, uvarint programs,
//	programs × (uvarint num, str ID, varint Version, str Hash, varint
//	nextSweep, uvarint states); a program gone has an empty ID
func (e *Engine) meta() []byte {
	b := make([]byte, 0, 64+len(e.programs)*48)
	b = append(b, metaVersion)
	b = binary.AppendVarint(b, e.watermark)
	b = binary.AppendVarint(b, e.nextSweep)
	times := e.clock.block[:e.clock.n]
	b = binary.AppendUvarint(b, uint64(len(times)))
	for _, t := range times {
		b = binary.AppendVarint(b, t)
	}
	b = binary.AppendUvarint(b, uint64(len(e.recent.ring)))
	b = binary.AppendUvarint(b, uint64(e.recent.next))
	b = binary.AppendUvarint(b, uint64(len(e.links.ring)))
	b = binary.AppendUvarint(b, uint64(e.links.next))
	b = binary.AppendUvarint(b, e.nextNum)
	b = binary.AppendUvarint(b, uint64(len(e.programs)+len(e.tier.retired)))
	for _, p := range e.programs {
		b = binary.AppendUvarint(b, p.num)
		b = appendStr(b, p.sig.ID)
		b = binary.AppendVarint(b, int64(p.sig.Version))
		b = appendStr(b, p.hash)
		b = binary.AppendVarint(b, p.nextSweep)
		b = binary.AppendUvarint(b, uint64(len(p.states)))
	}
	for _, num := range e.tier.retired {
		// A program gone whose states cold rows still hold: no signal
		// has an empty ID, so a restore drops them as stale.
		b = binary.AppendUvarint(b, num)
		b = appendStr(b, "")
		b = binary.AppendVarint(b, 0)
		b = appendStr(b, "")
		b = binary.AppendVarint(b, 0)
		b = binary.AppendUvarint(b, 0)
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime encodes t as Unix nanoseconds and its zone: 0 UTC, 1 Local,
// else 2 + the zigzagged offset in seconds (a named zone comes back as a
// fixed one, as gob brings it back).
func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.UnixNano())
	switch loc := t.Location(); loc {
	case time.UTC:
		return append(b, 0)
	case time.Local:
		return append(b, 1)
	default:
		_, off := t.Zone()
		return binary.AppendUvarint(b, 2+uint64(int64(off)<<1^int64(off)>>63))
	}
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}
