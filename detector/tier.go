package detector

import (
	"bytes"
	"math"
	"time"
)

// tier moves subjects between the programs' maps (hot) and coldRows
// (cold). Restore makes every subject cold; the first thing that needs a
// cold subject thaws it; with [Engine.SetColdAfter], a subject that no
// event touched through that many checkpoints goes cold again, its row as
// the checkpoint encoded it. Alerts never depend on where a subject is.
type tier struct {
	rows coldRows
	dec  *Restorer // decodes rows into the engine's programs

	// retired are the numbers of programs gone (a signal changed or
	// removed) whose states cold rows may still hold; the meta lists
	// them, so that a restore knows them for stale.
	retired []uint64

	// cleaners are the evidence URL cleaners set since the restore; a
	// row put when there were n is cleaned by the rest when thawed, as
	// SetEvidenceURL cleans the states it finds.
	cleaners []func(string) string

	// after is SetColdAfter's n; 0 keeps every thawed subject hot.
	after int
	// gen numbers the calls to Changes; touched holds each hot subject's
	// last generation, gens the subjects of the last after+1 ones with
	// the row Changes encoded (nil when a thaw brought it back unchanged).
	gen     uint32
	touched map[string]uint32
	gens    [][]hotRow
	spare   []hotRow
	backlog []hotRow // due to freeze, past a call's budget
	peak    int      // the most subjects touched held; see shrinkMaps
	thawed  []string // since the last Changes
	marked  []hotRow // reused by Changes
	// markedCold is set when MarkAllChanged marked cold subjects.
	markedCold bool
	// epoch changes whenever the engine's programs do.
	epoch uint32

	// missed is the hash of a subject this event found neither hot nor
	// cold, so that the event's other signals skip the search.
	missed   [2]uint64
	missedN  int
	thawErrs int
}

type hotRow struct {
	subject string
	row     []byte
	progs   progSet
	gen     uint32 // of the call to Changes that last saw the subject
}

// progSet is the set of the engine's programs (by index) that held a
// subject's states when its row was encoded, so that freezing it looks
// in those maps only; valid while the programs are the same (epoch), and
// for the first 64 only (past them, and when empty, all are looked in).
type progSet struct {
	bits  uint64
	epoch uint32
	over  bool
}

func (s *progSet) add(i int) {
	if i < 64 {
		s.bits |= 1 << i
	} else {
		s.over = true
	}
}

// SetColdAfter makes a subject that no event, merge, erasure or sweep
// touched through n consecutive calls to [Engine.Changes] leave the
// programs' maps for coldRows, its state kept encoded until it is needed
// again; 0 (the default) keeps subjects hot once thawed. A restored
// engine holds every subject cold either way.
func (e *Engine) SetColdAfter(n int) {
	t := &e.tier
	t.after = max(n, 0)
	t.gens = make([][]hotRow, t.after+1)
	t.touched = make(map[string]uint32)
}

// ColdSubjects returns how many subjects are held encoded, and their
// bytes.
func (e *Engine) ColdSubjects() (subjects, bytes int) {
	return e.tier.rows.len(), e.tier.rows.live
}

// resetTier empties the cold rows, for a restore.
func (e *Engine) resetTier() {
	t := &e.tier
	t.rows = newColdRows(e.x.seed)
	t.retired = nil
	t.cleaners = nil
	t.thawed = nil
	t.missedN = 0
	if t.touched != nil {
		clear(t.touched)
		for i := range t.gens {
			t.gens[i] = nil
		}
		t.backlog = nil
	}
}

// newDecoder makes the Restorer that thaws rows into the engine's current
// programs; called whenever they change.
func (e *Engine) newDecoder() {
	e.tier.epoch++
	r := &Restorer{e: e, progs: make(map[uint64]*program, len(e.programs)+len(e.tier.retired)),
		strs: make(map[string]string), zones: make(map[int64]*time.Location), done: true}
	for _, n := range e.tier.retired {
		r.progs[n] = nil
	}
	for _, p := range e.programs {
		r.progs[p.num] = p
	}
	e.tier.dec = r
}

// retire records the number of a program that goes, if cold rows may
// hold its states.
func (e *Engine) retire(num uint64) {
	if e.tier.rows.len() > 0 {
		e.tier.retired = append(e.tier.retired, num)
	}
}

// thawKey brings subject back from cold, if it is there, and reports
// whether it was. It is what every path calls before it looks a subject
// up in a program's states.
func (e *Engine) thawKey(subject []byte) bool {
	t := &e.tier
	if t.rows.len() == 0 {
		return false
	}
	h := t.rows.hash(subject)
	for _, m := range t.missed[:t.missedN] {
		if m == h {
			return false
		}
	}
	i, ok := t.rows.find(subject, h)
	if !ok {
		if _, taken := t.rows.index[h]; !taken && t.missedN < len(t.missed) {
			// No subject of this hash: exact for the rest of the event.
			t.missed[t.missedN] = h
			t.missedN++
		}
		return false
	}
	e.thaw(i)
	return true
}

// thaw decodes cold slot i into the programs' states and removes it. A
// row that fails to decode (it was checked when it went cold, so only a
// bug can do that) is dropped as if forgotten, and counted.
func (e *Engine) thaw(i uint32) {
	t := &e.tier
	key, row := t.rows.entry(i)
	subject := string(key)
	epoch := t.rows.slots[i].epoch
	t.rows.remove(i, key)
	if len(t.retired) > 0 && t.rows.len() == 0 {
		// No row holds a state of a program gone any more.
		t.retired = t.retired[:0]
		defer e.newDecoder()
	}
	d := t.dec
	d.clean = t.cleaners[epoch:]
	_, err := d.decodeSubject(subject, row, true)
	d.clean = nil
	if err != nil {
		t.thawErrs++
		e.marks.mark(subject)
		return
	}
	for _, s := range d.states {
		p := d.progs[s.num]
		if o := p.states[subject]; o != nil {
			// Hot and cold at once cannot be; keep the hot one.
			t.thawErrs++
			continue
		}
		p.states[subject] = s.st
		p.expiry.push(expiryEntry{p.expiresAt(s.st), s.st})
		p.schedule(s.st)
	}
	clear(d.states)
	if d.stale || d.cleaned {
		// Rewritten without the states of signals gone, or cleaned.
		e.marks.mark(subject)
	}
	if t.after > 0 {
		t.thawed = append(t.thawed, subject)
	}
}

// ThawErrors returns how many cold rows failed to decode and were
// dropped; always 0 unless the engine has a bug.
func (e *Engine) ThawErrors() int { return e.tier.thawErrs }

// thawDue thaws the cold subjects whose time came at watermark w, and
// drops at once the states of theirs that are forgotten, so that a
// subject is not frozen and thawed again until a program's sweep.
func (e *Engine) thawDue(w int64) {
	t := &e.tier
	for {
		i, ok := t.rows.popDue(w)
		if !ok {
			return
		}
		key, _ := t.rows.entry(i)
		subject := string(key)
		e.thaw(i)
		for _, p := range e.programs {
			st := p.states[subject]
			if st != nil && p.timed() {
				// Its timers first: they are why it may be due.
				e.fired = p.fireDue(st, w, e.fired)
			}
			if st != nil && p.expired(st, w) {
				p.drop(st)
			}
		}
	}
}

// thawMatching thaws every cold subject whose key or row holds one of
// keys: a superset of the ones that hold the person (see Forget), found
// without decoding.
func (e *Engine) thawMatching(keys map[string]bool) {
	t := &e.tier
	var hit []uint32
	for i := range t.rows.slots {
		if t.rows.slots[i].n == 0 {
			continue
		}
		k, row := t.rows.entry(uint32(i))
		for id := range keys {
			if bytes.Contains(row, []byte(id)) || bytes.Contains(k, []byte(id)) {
				hit = append(hit, uint32(i))
				break
			}
		}
	}
	for _, i := range hit {
		e.thaw(i)
	}
}

// track notes, at a call to Changes, the subjects marked (with the row
// just encoded) and thawed since the previous one, and freezes those
// untouched since after calls ago.
func (e *Engine) track(marked []hotRow, idle bool) {
	t := &e.tier
	if idle {
		t.rows.evacuate(4 * evacBudget) // no event is waiting
	} else {
		t.rows.evacuate(evacBudget)
	}
	if t.after == 0 {
		return
	}
	t.gen++
	g := t.gen
	cur := t.spare[:0]
	for _, h := range marked {
		if h.row == nil {
			delete(t.touched, h.subject) // no state left
			continue
		}
		t.touched[h.subject] = g
		h.gen = g
		cur = append(cur, h)
	}
	for _, s := range t.thawed {
		if t.touched[s] != g {
			t.touched[s] = g
			cur = append(cur, hotRow{subject: s, gen: g})
		}
	}
	clear(t.thawed)
	t.thawed = t.thawed[:0]
	// Freezing costs about as much as encoding: at most as many subjects
	// as this call saw change (or freezeMin), so that the event path
	// never waits longer for it than for the checkpoint; the rest waits
	// for the next call. A burst drains at the pace of what follows.
	budget, n := max(freezeMin, len(cur)), 0
	if idle {
		budget = 8 * freezeMin // no event is waiting
	}
	slot := int(g % uint32(len(t.gens)))
	old := t.gens[slot]
	keep := t.backlog[:0]
	for _, list := range [2][]hotRow{t.backlog, old} {
		for _, h := range list {
			if t.touched[h.subject] != h.gen {
				continue // touched since, or gone
			}
			if n == budget {
				keep = append(keep, h)
				continue
			}
			n++
			delete(t.touched, h.subject)
			e.freeze(h.subject, h.row, h.progs)
		}
	}
	if len(keep) <= cap(t.backlog) { // else keep is a new array
		clear(t.backlog[len(keep):cap(t.backlog)])
	}
	t.backlog = keep
	clear(old)
	t.gens[slot], t.spare = cur, old[:0]
	if n > 0 {
		e.shrinkMaps()
	}
}

// shrinkMaps copies a map of hot subjects into a smaller one once it
// holds a quarter of the most it held: Go maps never give back their
// buckets, and after a burst the programs' maps would keep the memory of
// every subject that was hot at once.
func (e *Engine) shrinkMaps() {
	for _, p := range e.programs {
		p.peak = max(p.peak, len(p.states))
		if p.peak >= 4096 && len(p.states) <= p.peak/4 {
			m := make(map[string]*subjectState, len(p.states))
			for k, v := range p.states {
				m[k] = v
			}
			p.states, p.peak = m, len(m)
		}
	}
	t := &e.tier
	t.peak = max(t.peak, len(t.touched))
	if t.peak >= 4096 && len(t.touched) <= t.peak/4 {
		m := make(map[string]uint32, len(t.touched))
		for k, v := range t.touched {
			m[k] = v
		}
		t.touched, t.peak = m, len(m)
	}
}

// freezeMin is the least a call to Changes freezes, if due; a call to
// FreezeIdle freezes up to eight times as many.
const freezeMin = 4096

// Freezing reports whether hot subjects wait to go cold, or the memory of
// thawed cold ones to be given back: an idle partition should call
// FreezeIdle at its checkpoint interval until it does not.
func (e *Engine) Freezing() bool {
	t := &e.tier
	if t.rows.evacuating() {
		return true
	}
	if t.after == 0 {
		return false
	}
	if len(t.backlog) > 0 || len(t.thawed) > 0 {
		return true
	}
	for _, g := range t.gens {
		if len(g) > 0 {
			return true
		}
	}
	return false
}

// FreezeIdle counts as a call to [Engine.Changes] for freezing, on an
// engine nothing changed since the last one: a partition no event
// reaches gives back the memory of the subjects it last saw. It does
// nothing while changes wait to be taken.
func (e *Engine) FreezeIdle() {
	if len(e.marks.subjects) > 0 || !e.marks.on {
		return
	}
	e.track(nil, true)
}

// freeze moves subject's states to cold, as row (encoded now when nil),
// its states in the programs of progs.
func (e *Engine) freeze(subject string, row []byte, progs progSet) {
	if row == nil {
		row = e.enc.subjectRow(e, subject)
		if row == nil {
			return
		}
		progs = e.enc.progs
	}
	w := e.watermark
	due := int64(math.MaxInt64)
	account := isAccount(subject)
	all := progs.bits == 0 || progs.over || progs.epoch != e.tier.epoch
	for i, p := range e.programs {
		if !all && progs.bits&(1<<i) == 0 {
			continue
		}
		if account && p.sig.Scope != ScopeAccount {
			continue
		}
		st := p.states[subject]
		if st == nil {
			continue
		}
		if len(st.records) > 0 {
			due = min(due, p.coldDue(st.newestAt(), st.totalOrZero(), p.timerOf(st), w))
		}
		p.peak = max(p.peak, len(p.states))
		delete(p.states, subject)
		*st = subjectState{} // its queue entry is stale now
		p.gone++
		if p.gone > 1024 && p.gone > len(p.expiry)/2 {
			p.pruneQueue(&p.expiry)
			p.pruneQueue(&p.timers)
			p.gone = 0
		}
	}
	e.tier.rows.add(subject, row, due, uint32(len(e.tier.cleaners)))
	e.tier.missedN = 0 // a miss may be a subject now
	e.nextSweep = min(e.nextSweep, due)
}

func isAccount(subject string) bool {
	return len(subject) >= len("account:") && subject[:len("account:")] == "account:"
}
