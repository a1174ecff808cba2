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
	byURL    []bool     // by slot: whether its result depends on the URL alone
	// byType holds, per event type, the slots that can hold for it: those
	// of that type and those without one; anyType, for the other types.
	byType  map[string]*typeSlots
	anyType *typeSlots

	// Per event: a slot's result is result[slot] when stamp[slot] is gen;
	// relevant has bit i set when programs[i] has a slot that holds.
	// urlKnown is set when every URL slot of the event's type that holds
	// has been stamped true, so that the others are false.
	stamp    []uint32
	result   []bool
	gen      uint32
	relevant []uint64
	urlKnown bool
}

// typeSlots are the slots that can hold for events of one type. The URL
// slots (a type, a url glob and a where on the URL at most) are tested
// once per distinct URL: a site has far fewer pages than it has views, so
// an event usually finds the ones that hold in byURL, whatever the number
// of signals watching other pages.
type typeSlots struct {
	url   []int32
	other []int32
	byURL map[string][]int32 // URL → its URL slots that hold
}

// maxCachedURLs bounds a type's byURL; when full it starts afresh, which
// costs one test of the URL slots per URL.
const maxCachedURLs = 8192

// audience is a set of audiences, as bits.// audience is a set of audiences, as bits.
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
	*d = dispatch{byType: make(map[string]*typeSlots), anyType: &typeSlots{}}
	slotOf := make(map[string]int32)
	var typed []int32
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
				d.byURL = append(d.byURL, m.byURL())
				if m.typ == "" {
					d.anyType.add(s, d.byURL[s])
				} else {
					typed = append(typed, s)
				}
			}
			p.gate = append(p.gate, s)
			if ps := d.progs[s]; len(ps) == 0 || ps[len(ps)-1] != int32(i) {
				d.progs[s] = append(ps, int32(i))
			}
			d.aud[s] |= audienceOf(p.sig.Audience)
		}
	}
	for _, s := range typed {
		t := d.matchers[s].typ
		ts := d.byType[t]
		if ts == nil {
			ts = &typeSlots{}
			d.byType[t] = ts
		}
		ts.add(s, d.byURL[s])
	}
	for _, ts := range d.byType {
		for _, s := range d.anyType.url {
			ts.add(s, true)
		}
		for _, s := range d.anyType.other {
			ts.add(s, false)
		}
	}
	d.stamp = make([]uint32, len(d.matchers))
	d.result = make([]bool, len(d.matchers))
	d.relevant = make([]uint64, (len(programs)+63)/64)
}

func (ts *typeSlots) add(s int32, byURL bool) {
	if byURL {
		ts.url = append(ts.url, s)
	} else {
		ts.other = append(ts.other, s)
	}
}

// byURL reports whether m's result for an event with a string "url"
// property depends on its type and that string only, and on a url glob or
// where at all (a type alone is cheaper to test than to look up).
func (m *matcher) byURL() bool {
	if m.contentID != "" || m.keywords != nil || m.not != nil {
		return false
	}
	if m.where != nil && (m.where.prop == nil || m.where.prop.name != "url") {
		return false
	}
	return m.hasURL || m.where != nil
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
	case kindChange:
		ms = append(ms, &p.match)
	case kindSilence:
		ms = append(ms, &p.match)
		for i := range p.expect {
			ms = append(ms, &p.expect[i])
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
	d.urlKnown = false
	ts, ok := d.byType[x.ev.Type]
	if !ok {
		ts = d.anyType
	}
	aud := audAny
	switch x.effectiveLifecycle() {
	case schema.LifecycleProspect:
		aud |= audProspect
	case schema.LifecycleCustomer:
		aud |= audCustomer
	}
	if len(ts.url) > 0 {
		if u, isString := x.ev.Properties["url"].(string); isString {
			x.urlProp, x.urlReady = u, true // what x.url() would look up again
			held, cached := ts.byURL[u]
			if !cached {
				for _, s := range ts.url {
					if d.holds(x, s) {
						held = append(held, s)
					}
				}
				if ts.byURL == nil || len(ts.byURL) >= maxCachedURLs {
					ts.byURL = make(map[string][]int32)
				}
				ts.byURL[u] = held
			}
			for _, s := range held {
				d.stamp[s], d.result[s] = d.gen, true
				d.mark(s, aud)
			}
			d.urlKnown = true
		} else {
			for _, s := range ts.url {
				if d.holds(x, s) {
					d.mark(s, aud)
				}
			}
		}
	}
	for _, s := range ts.other {
		if d.aud[s]&aud != 0 && d.holds(x, s) {
			d.mark(s, aud)
		}
	}
}

// mark makes the programs of slot s, which holds, relevant when their
// audiences take aud.
func (d *dispatch) mark(s int32, aud audience) {
	if d.aud[s]&aud == 0 {
		return
	}
	for _, i := range d.progs[s] {
		d.relevant[i/64] |= 1 << (i % 64)
	}
}

// holds reports whether slot s's match holds for the event of x, testing
// it on first use.
func (d *dispatch) holds(x *evalCtx, s int32) bool {
	if d.stamp[s] != d.gen {
		if d.urlKnown && d.byURL[s] {
			// Not among the URL slots that hold: of this type, it does
			// not hold; of another, its type does not match.
			return false
		}
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
