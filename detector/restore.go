package detector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// Restorer rebuilds an engine from the meta blob and the rows that
// [Engine.Changes] returned and emitted, given to it in any order; see
// [Engine.BeginRestore].
type Restorer struct {
	e *Engine
	// progs are the engine's programs by the meta's numbers; nil for a
	// program whose signal changed or went away since.
	progs map[uint64]*program
	// got marks the ring chunk rows added.
	gotRecent, gotLinks []bool
	done                bool

	evs     []*schema.Evidence          // the row's evidence table; reused
	hashes  []uint32                    // their event ids' hashes
	ats     []int64                     // their times
	states  []numState                  // the row's states; reused
	stale   bool                        // the row held states of programs gone
	clean   []func(string) string       // cleaners of the evidence URLs built
	cleaned bool                        // one changed a URL
	strs    map[string]string           // repeated evidence strings, shared
	shared  map[string]*schema.Evidence // by event id
	zones   map[int64]*time.Location
	last    [7]string // the previous evidence's fields; see field
}

// metaData is a decoded meta blob.
type metaData struct {
	watermark, nextSweep int64
	clock                []int64
	recentLen, recentAt  int
	linksLen, linksAt    int
	nextNum              uint64
	programs             []metaProgram
}

type metaProgram struct {
	num       uint64
	id, hash  string
	version   int
	nextSweep int64
	states    int
}

// BeginRestore resets e to the state described by meta (nil or empty
// meta: an empty engine, as [New] leaves it) and returns a Restorer to
// feed the rows to. The engine must not be used until [Restorer.Finish]
// returns. On error e is left as it was.
func (e *Engine) BeginRestore(meta []byte) (*Restorer, error) {
	m := metaData{watermark: math.MinInt64, nextSweep: math.MinInt64, nextNum: e.nextNum}
	if len(meta) > 0 {
		if err := m.decode(meta); err != nil {
			return nil, fmt.Errorf("restoring detector meta: %w", err)
		}
		if m.recentLen > e.recent.limit || m.linksLen > e.links.limit ||
			m.recentAt >= max(1, e.recent.limit) || m.linksAt >= max(1, e.links.limit) {
			return nil, fmt.Errorf("restoring detector meta: it holds %d ids and %d links, more than this build keeps", m.recentLen, m.linksLen)
		}
	}
	r := &Restorer{
		e:         e,
		progs:     make(map[uint64]*program, len(m.programs)),
		gotRecent: make([]bool, chunks(m.recentLen)),
		gotLinks:  make([]bool, chunks(m.linksLen)),
		strs:      make(map[string]string),
		shared:    make(map[string]*schema.Evidence),
		zones:     make(map[int64]*time.Location),
	}
	e.clock, e.watermark, e.nextSweep = e.clock.restored(m.clock), m.watermark, m.nextSweep
	e.passW = m.watermark
	e.recent = recentIDs{limit: e.recent.limit, seed: e.recent.seed, ring: make([]string, m.recentLen), next: m.recentAt,
		rows: chunkMarks{rows: len(r.gotRecent)}}
	e.links = identityLinks{limit: e.links.limit, next: m.linksAt, ring: make([]string, m.linksLen),
		byAnon: make(map[string]slotLink, m.linksLen), rows: chunkMarks{rows: len(r.gotLinks)}}
	e.marks = newChangeMarks(true)
	e.nextNum = m.nextNum
	e.resetTier()

	type sig struct {
		id, hash string
		version  int
	}
	saved := make(map[sig]*metaProgram, len(m.programs))
	for i := range m.programs {
		mp := &m.programs[i]
		saved[sig{mp.id, mp.hash, mp.version}] = mp
		r.progs[mp.num] = nil // until an engine program claims it
	}
	for _, p := range e.programs {
		p.expiry, p.timers, p.marks, p.gone = nil, nil, e.marks, 0
		mp := saved[sig{p.sig.ID, p.hash, p.sig.Version}]
		if mp == nil {
			// A signal new or changed since: no rows, a sweep to plan.
			p.states = make(map[string]*subjectState)
			p.num, p.nextSweep, e.nextSweep = e.nextNum, math.MinInt64, math.MinInt64
			e.nextNum++
			continue
		}
		p.states = make(map[string]*subjectState, min(mp.states, 1<<24))
		p.num = mp.num
		// A pass is never planned more than half a horizon past W.
		p.nextSweep = min(mp.nextSweep, satAdd(e.watermark, int64(p.horizon/2)))
		r.progs[mp.num] = p
	}
	for num, p := range r.progs {
		if p == nil {
			e.tier.retired = append(e.tier.retired, num)
		}
	}
	slices.Sort(e.tier.retired)
	e.newDecoder()
	return r, nil
}

func chunks(n int) int { return (n + ringChunk - 1) / ringChunk }

// Add decodes one row. The caller may reuse key and data after Add
// returns. A corrupt row is an error naming the key; the restore should
// then be abandoned.
func (r *Restorer) Add(key string, data []byte) error {
	var err error
	switch {
	case r.done:
		err = errors.New("the restore is finished")
	case strings.HasPrefix(key, recentPrefix):
		err = r.addRing(key[len(recentPrefix):], data, r.gotRecent, len(r.e.recent.ring), r.recentSlot)
	case strings.HasPrefix(key, linksPrefix):
		err = r.addRing(key[len(linksPrefix):], data, r.gotLinks, len(r.e.links.ring), r.linkSlot)
	case strings.HasPrefix(key, "#"):
		err = errors.New("no such engine-wide row")
	default:
		err = r.addSubject(key, data)
	}
	if err != nil {
		return fmt.Errorf("restoring detector row %q: %w", key, err)
	}
	return nil
}

// Finish completes the restore. Rows of programs that no longer match the
// engine's signals (another ID, Version or Hash than the meta recorded)
// were dropped, and their keys are left changed, so that the next
// [Engine.Changes] rewrites or deletes them. A ring chunk row the meta
// calls for but that was not added is an error.
func (r *Restorer) Finish() error {
	if r.done {
		return errors.New("restoring detector state: finished twice")
	}
	for i, ok := range r.gotRecent {
		if !ok {
			return fmt.Errorf("restoring detector state: row %q is missing", recentPrefix+strconv.Itoa(i))
		}
	}
	for i, ok := range r.gotLinks {
		if !ok {
			return fmt.Errorf("restoring detector state: row %q is missing", linksPrefix+strconv.Itoa(i))
		}
	}
	r.e.recent.rebuild()
	r.e.nextSweep = min(r.e.nextSweep, r.e.tier.rows.nextDue())
	r.done, r.shared, r.strs = true, nil, nil
	return nil
}

// addRing decodes chunk row index of a ring of size slots: version,
// uvarint n, n slots.
func (r *Restorer) addRing(index string, data []byte, got []bool, size int, slot func(*rowDecoder, int)) error {
	i, err := strconv.Atoi(index)
	if err != nil || i < 0 || i >= len(got) || strconv.Itoa(i) != index {
		return fmt.Errorf("chunk %q is not one of the %d the meta calls for", index, len(got))
	}
	if got[i] {
		return errors.New("added twice")
	}
	d := rowDecoder{b: data}
	if err := d.version(); err != nil {
		return err
	}
	n, want := d.uvarint(), min(ringChunk, size-i*ringChunk)
	if d.err == nil && n != uint64(want) {
		return fmt.Errorf("holds %d slots, the meta calls for %d", n, want)
	}
	for j := range want {
		if d.err != nil {
			break
		}
		slot(&d, i*ringChunk+j)
	}
	if err := d.end(); err != nil {
		return err
	}
	got[i] = true
	return nil
}

func (r *Restorer) recentSlot(d *rowDecoder, k int) { r.e.recent.ring[k] = d.str() }

func (r *Restorer) linkSlot(d *rowDecoder, k int) {
	anon := d.str()
	l := link{customer: d.str(), account: d.str(), lifecycle: d.str()}
	if d.err != nil {
		return
	}
	if _, dup := r.e.links.byAnon[anon]; dup {
		d.fail("anonymous id %q is linked twice", anon)
		return
	}
	r.e.links.ring[k] = anon
	r.e.links.byAnon[anon] = slotLink{link: l, slot: k}
}

// addSubject checks the row of one subject (see rowEncoder.subjectRow)
// and keeps it cold, encoded as it is: it is decoded when the subject is
// next needed (see Engine.thaw), so that a restore costs a pass over the
// bytes, not the allocation of every state.
func (r *Restorer) addSubject(key string, data []byte) error {
	due, err := r.decodeSubject(key, data, false)
	if err != nil {
		return err
	}
	r.e.tier.missedN = 0
	return r.e.tier.rows.put(key, data, due, uint32(len(r.e.tier.cleaners)))
}

// decodeSubject reads subject's row. With build, it makes the states of
// the engine's programs in r.states, and sets r.stale when the row holds
// states of other programs too; without, it only checks the row, as
// closely, allocating nothing, and returns when it is due back from cold:
// when its earliest state may be forgotten, or a sweep's interval away.
func (r *Restorer) decodeSubject(subject string, data []byte, build bool) (due int64, err error) {
	e := r.e
	w := e.watermark
	due = math.MaxInt64
	d := rowDecoder{b: data}
	if err := d.version(); err != nil {
		return 0, err
	}
	n := d.count(9)
	r.evs, r.hashes, r.ats = r.evs[:0], r.hashes[:0], r.ats[:0]
	r.cleaned = false
	for range n {
		if d.err != nil {
			break
		}
		if !build {
			for range 7 {
				d.bytes()
			}
			r.ats = append(r.ats, r.time(&d).UnixNano())
			continue
		}
		ev := r.evidence(&d, subject)
		if ev == nil {
			break
		}
		var h uint32
		if ev.EventID != "" {
			h = idHash(e.x.seed, ev.EventID)
		}
		r.evs, r.hashes, r.ats = append(r.evs, ev), append(r.hashes, h), append(r.ats, ev.Time.UnixNano())
	}
	r.stale = false
	r.states = r.states[:0]
	states := d.count(3)
	var block []subjectState
	if build {
		// One allocation for the row's states.
		block = make([]subjectState, states)
	}
	for i := range states {
		if d.err != nil {
			break
		}
		num := d.uvarint()
		flags := d.byte()
		p, known := r.progs[num]
		if d.err == nil && !known {
			d.fail("program %d is not in the meta", num)
		}
		k := d.count(2)
		if d.err == nil && k == 0 {
			d.fail("a state of program %d keeps no event", num)
		}
		var st *subjectState
		if p != nil && build {
			st = &block[i]
			st.subject, st.records = subject, make([]record, k)
			if p.kind == kindScore {
				st.stateMore = &stateMore{}
			}
		}
		var prev, first int64
		timer := int64(maxInt64)
		for j := 0; j < k && d.err == nil; j++ {
			var rec record
			idx := d.uvarint()
			rf := d.byte()
			if rf&recValue != 0 {
				if st != nil {
					rec.value = r.str(&d)
				} else {
					d.bytes()
				}
			}
			if rf&recSteps != 0 {
				steps := d.uvarint()
				if steps > math.MaxUint16 {
					d.fail("steps %#x out of range", steps)
				}
				rec.steps = uint16(steps)
			}
			if rf&recPoints != 0 {
				rec.points = d.f64()
			}
			rec.absent = rf&recAbsent != 0
			if d.err != nil {
				continue
			}
			if idx >= uint64(len(r.ats)) {
				d.fail("record %d names evidence %d of %d", j, idx, len(r.ats))
				break
			}
			at := r.ats[idx]
			if j > 0 && at < prev {
				d.fail("records of program %d out of time order", num)
				break
			}
			prev = at
			if j == 0 {
				first = at
			}
			if p != nil && p.kind == kindSilence && timer == maxInt64 && rec.waiting() {
				timer = p.fireAt(at)
			}
			if st != nil {
				rec.ev, rec.idHash, rec.at = r.evs[idx], r.hashes[idx], at
				st.records[j] = rec
			}
		}
		if flags&stAlerts != 0 {
			a := d.count(2)
			var alerts []time.Time
			if st != nil && a > 0 {
				alerts = make([]time.Time, a)
			}
			var last int64
			for j := 0; j < a && d.err == nil; j++ {
				t := r.time(&d)
				if j > 0 && t.UnixNano() < last {
					d.fail("alert times of program %d out of order", num)
				}
				last = t.UnixNano()
				if alerts != nil {
					alerts[j] = t
				}
			}
			if alerts != nil {
				st.more().alerts = alerts
			}
		}
		var s scoreSums
		if flags&stScore != 0 {
			s.folded = d.f64()
			fc := d.uvarint()
			if fc > math.MaxInt32 {
				d.fail("folded count %d out of range", fc)
			}
			s.foldedCount = int(fc)
			if fc > 0 {
				s.foldedTime = r.time(&d)
			}
			s.total = d.f64()
			s.disarmed = d.byte() != 0
			if st != nil && p.kind == kindScore {
				st.scoreSums = s
			}
		}
		switch {
		case d.err != nil:
		case p == nil:
			r.stale = true
			due = min(due, w) // of a program gone: back at the next sweep, to drop it
		case build:
			r.states = append(r.states, numState{num, st})
		default:
			if p.kind == kindChange && p.fall > 0 {
				timer = p.nextClose(first, prev, w)
			}
			due = min(due, p.coldDue(prev, s.total, timer, w))
		}
	}
	if err := d.end(); err != nil {
		return 0, err
	}
	if states == 0 {
		return 0, errors.New("the row holds no state")
	}
	return due, nil
}

// evidence decodes one evidence of subject's row. The records of one
// event share one evidence across the rows of its subjects, as evaluation
// made them share it: an evidence equal to one an earlier row held is
// that one.
func (r *Restorer) evidence(d *rowDecoder, subject string) *schema.Evidence {
	var f [7][]byte
	for i := range f {
		f[i] = d.bytes()
	}
	t := r.time(d)
	if d.err != nil {
		return nil
	}
	if len(f[0]) > 0 && r.shared != nil {
		if o := r.shared[string(f[0])]; o != nil && o.Time.Equal(t) && o.Time.Location() == t.Location() &&
			o.Type == string(f[1]) && o.CustomerID == string(f[2]) && o.ContentID == string(f[3]) &&
			o.URL == string(f[4]) && o.Title == string(f[5]) && o.Subject == string(f[6]) {
			return o
		}
	}
	ev := &schema.Evidence{EventID: string(f[0]), Type: r.field(1, f[1]), ContentID: r.field(3, f[3]),
		URL: r.field(4, f[4]), Title: r.field(5, f[5]), Subject: r.field(6, f[6]), Time: t}
	for _, clean := range r.clean {
		if u := clean(ev.URL); u != ev.URL {
			ev.URL, r.cleaned = u, true
		}
	}
	// The customer key of a customer's own row is in its subject.
	if c, ok := strings.CutPrefix(subject, "customer:"); ok && c == string(f[2]) {
		ev.CustomerID = c
	} else {
		ev.CustomerID = string(f[2])
		for _, o := range r.evs {
			if o.CustomerID == ev.CustomerID {
				ev.CustomerID = o.CustomerID
				break
			}
		}
	}
	if ev.EventID != "" && r.shared != nil {
		r.shared[ev.EventID] = ev
	}
	return ev
}

// field returns evidence field i as a string: the previous one's value
// when equal (consecutive evidence mostly shares its type and page),
// else interned.
func (r *Restorer) field(i int, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if last := r.last[i]; last == string(b) {
		return last
	}
	s := r.intern(b)
	r.last[i] = s
	return s
}

// str decodes a string, sharing one copy of the strings that repeat
// across rows (types, URLs, titles, customers), as evaluation shares the
// strings of one event.
func (r *Restorer) str(d *rowDecoder) string { return r.intern(d.bytes()) }

// intern returns b as a string, shared with earlier equal ones.
func (r *Restorer) intern(b []byte) string {
	switch {
	case len(b) == 0:
		return ""
	case len(b) > 128:
		return string(b)
	}
	if s, ok := r.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(r.strs) < 1<<16 {
		r.strs[s] = s
	}
	return s
}

// time decodes a time written by appendTime.
func (r *Restorer) time(d *rowDecoder) time.Time {
	t := time.Unix(0, d.varint())
	switch z := d.uvarint(); z {
	case 0:
		return t.UTC()
	case 1:
		return t
	default:
		u := z - 2
		off := int64(u>>1) ^ -int64(u&1)
		if off < -26*3600 || off > 26*3600 {
			d.fail("zone offset %d out of range", off)
			return time.Time{}
		}
		loc := r.zones[off]
		if loc == nil {
			loc = time.FixedZone("", int(off))
			r.zones[off] = loc
		}
		return t.In(loc)
	}
}

// decode reads a meta blob written by Engine.meta.
func (m *metaData) decode(b []byte) error {
	d := rowDecoder{b: b}
	if d.byte() != metaVersion && d.err == nil {
		return fmt.Errorf("meta layout %d, this build reads %d", b[0], metaVersion)
	}
	m.watermark = d.varint()
	m.nextSweep = d.varint()
	n := d.count(1)
	if d.err == nil && n > clockWindow {
		d.fail("clock block of %d times", n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		m.clock = append(m.clock, d.varint())
	}
	m.recentLen, m.recentAt = d.int(), d.int()
	m.linksLen, m.linksAt = d.int(), d.int()
	m.nextNum = d.uvarint()
	np := d.count(6)
	seen := make(map[uint64]bool, np)
	for i := 0; i < np && d.err == nil; i++ {
		var p metaProgram
		p.num = d.uvarint()
		p.id = d.str()
		v := d.varint()
		p.hash = d.str()
		p.nextSweep = d.varint()
		p.states = d.int()
		if v < math.MinInt32 || v > math.MaxInt32 {
			d.fail("signal %q has version %d", p.id, v)
		}
		p.version = int(v)
		if d.err == nil && (p.num >= m.nextNum || seen[p.num]) {
			d.fail("program number %d repeated or not below %d", p.num, m.nextNum)
		}
		seen[p.num] = true
		m.programs = append(m.programs, p)
	}
	return d.end()
}

// rowDecoder reads the varint layout of rows and meta; the first problem
// sticks, and every read after it returns zero values.
type rowDecoder struct {
	b   []byte
	off int
	err error
}

func (d *rowDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
	d.off = len(d.b)
}

func (d *rowDecoder) version() error {
	v := d.byte()
	if d.err == nil && v != rowVersion {
		return fmt.Errorf("row layout %d, this build reads %d", v, rowVersion)
	}
	return d.err
}

// end reports the first problem, or bytes left over.
func (d *rowDecoder) end() error {
	if d.err == nil && d.off != len(d.b) {
		return fmt.Errorf("%d bytes after the end", len(d.b)-d.off)
	}
	return d.err
}

func (d *rowDecoder) byte() byte {
	if d.off >= len(d.b) {
		d.fail("truncated at byte %d", d.off)
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *rowDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("truncated or overlong number at byte %d", d.off)
		return 0
	}
	d.off += n
	return v
}

func (d *rowDecoder) varint() int64 {
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("truncated or overlong number at byte %d", d.off)
		return 0
	}
	d.off += n
	return v
}

// int reads a non-negative number that must fit an int32.
func (d *rowDecoder) int() int {
	v := d.uvarint()
	if v > math.MaxInt32 {
		d.fail("number %d out of range at byte %d", v, d.off)
		return 0
	}
	return int(v)
}

// count reads the number of items that follow, each at least size bytes.
func (d *rowDecoder) count(size int) int {
	v := d.uvarint()
	if v > uint64(len(d.b)-d.off)/uint64(size) {
		d.fail("%d items cannot fit in the %d bytes left", v, len(d.b)-d.off)
		return 0
	}
	return int(v)
}

func (d *rowDecoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)-d.off) {
		d.fail("a string of %d bytes in the %d left", n, len(d.b)-d.off)
		return nil
	}
	s := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}

func (d *rowDecoder) str() string { return string(d.bytes()) }

func (d *rowDecoder) f64() float64 {
	if len(d.b)-d.off < 8 {
		d.fail("truncated at byte %d", d.off)
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b[d.off:]))
	d.off += 8
	return v
}
