package detector

import (
	"strconv"
	"strings"

	"github.com/dowserhq/dowser/schema"
)

// dispatch finds the signals an event is relevant to without trying each
// signal of its type. Every distinct top-level match of the engine's
// signals (a threshold's match, a sequence's steps and absent, a score's
// rules) is a slot; signals share slots when their matches are the same,
// as the variants of one signal often are. An event tests each slot that
// can hold for its type once, and only the signals with a slot that holds
// are evaluated, in id order.
type dispatch struct {
	matchers []*matcher // by slot
	progs    [][]int32  // by slot: the indexes in Engine.programs of its signals
	aud      []audience // by slot: the audiences of its signals
	// byType lists, per event type, the slots that can hold for it: those
	// of that type and those without one; anyType, the latter, for the
	// other types.
	byType  map[string][]int32
	anyType []int32

	// Per event: a slot's result is result[slot] when stamp[slot] is gen;
	// relevant has bit i set when programs[i] has a slot that holds.
	stamp    []uint32
	result   []bool
	gen      uint32
	relevant []uint64
}

// audience is a set of audiences, as bits.
type audience uint8

const (
	audAny audience = 1 << iota
	audProspect
	audCustomer
)

func audienceOf(a string) audience {
	switch a {
	case AudienceAny:
		return audAny
	case AudienceProspect:
		return audProspect
	case AudienceCustomer:
		return audCustomer
	}
	return 0
}

// build indexes programs, which are in id order, and sets each program's
// gate: the slots of its top-level matches, in the order relevance reads
// them.
func (d *dispatch) build(programs []*program) {
	*d = dispatch{byType: make(map[string][]int32)}
	slotOf := make(map[string]int32)
	for i, p := range programs {
		p.gate = p.gate[:0]
		for _, m := range p.matches() {
			key := m.key()
			s, ok := slotOf[key]
			if !ok {
				s = int32(len(d.matchers))
				slotOf[key] = s
				d.matchers = append(d.matchers, m)
				d.progs = append(d.progs, nil)
				d.aud = append(d.aud, 0)
				if m.typ == "" {
					d.anyType = append(d.anyType, s)
				} else {
					d.byType[m.typ] = append(d.byType[m.typ], s)
				}
			}
			p.gate = append(p.gate, s)
			if ps := d.progs[s]; len(ps) == 0 || ps[len(ps)-1] != int32(i) {
				d.progs[s] = append(ps, int32(i))
			}
			d.aud[s] |= audienceOf(p.sig.Audience)
		}
	}
	for t, slots := range d.byType {
		d.byType[t] = append(slots, d.anyType...)
	}
	d.stamp = make([]uint32, len(d.matchers))
	d.result = make([]bool, len(d.matchers))
	d.relevant = make([]uint64, (len(programs)+63)/64)
}

// matches returns p's top-level matches, in the order of its gate.
func (p *program) matches() []*matcher {
	var ms []*matcher
	switch p.kind {
	case kindThreshold:
		ms = append(ms, &p.match)
	case kindSequence:
		for i := range p.steps {
			ms = append(ms, &p.steps[i])
		}
		if p.absent != nil {
			ms = append(ms, p.absent)
		}
	case kindScore:
		for i := range p.rules {
			ms = append(ms, &p.rules[i].m)
		}
	}
	return ms
}

// start begins the evaluation of the event of x: it tests the slots that
// can hold for its type and an audience of its lifecycle, and marks the
// programs they hold for.
func (d *dispatch) start(x *evalCtx) {
	d.gen++
	if d.gen == 0 {
		clear(d.stamp)
		d.gen = 1
	}
	clear(d.relevant)
	slots, ok := d.byType[x.ev.Type]
	if !ok {
		slots = d.anyType
	}
	aud := audAny
	switch x.effectiveLifecycle() {
	case schema.LifecycleProspect:
		aud |= audProspect
	case schema.LifecycleCustomer:
		aud |= audCustomer
	}
	for _, s := range slots {
		if d.aud[s]&aud == 0 || !d.holds(x, s) {
			continue
		}
		for _, i := range d.progs[s] {
			d.relevant[i/64] |= 1 << (i % 64)
		}
	}
}

// holds reports whether slot s's match holds for the event of x, testing
// it on first use.
func (d *dispatch) holds(x *evalCtx, s int32) bool {
	if d.stamp[s] != d.gen {
		d.result[s] = d.matchers[s].matches(x)
		d.stamp[s] = d.gen
	}
	return d.result[s]
}

// key identifies what m matches: two matchers with one key match the same
// events.
func (m *matcher) key() string {
	var b strings.Builder
	field := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	field(m.typ)
	field(m.contentID)
	if m.hasURL {
		b.WriteByte('u')
		field(m.url.pattern)
	}
	if m.keywords != nil {
		b.WriteByte('k')
		field(m.keywords.src)
	}
	if m.where != nil {
		b.WriteByte('w')
		field(m.where.src)
	}
	if m.not != nil {
		b.WriteByte('n')
		field(m.not.key())
	}
	return b.String()
}
