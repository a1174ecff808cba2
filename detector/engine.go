package detector

import (
	"slices"
	"sort"
	"strings"
	"text/template"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// Engine evaluates a set of signals over the events of one partition, in
// the order the partition delivers them. For each signal and subject it
// keeps the recent matching events and alert times, and nothing else.
//
// An Engine is not safe for concurrent use: each partition owns one. The
// signals it is given are only read, so one set may be shared by many
// engines.
//
// # The rules
//
// Subject: for scope customer it is "customer:" + the event's customer key
// (the customer id, else the anonymous id); for scope account it is
// "account:" + customer.account_id, or the customer subject when the event
// has no account id.
//
// Audience: the event's lifecycle is customer.lifecycle, and an empty one
// counts as prospect (the caller fills it from the account when it knows
// it). Audience any takes every event; prospect and customer take only
// events of that lifecycle.
//
// Match: every match field that is set must match: type equals the event
// type, url (a glob) matches the whole "url" property, content_id equals the
// event's content id.
//
// Threshold: a signal fires on a matching event e when at least count
// matching events of e's subject (e included) have a time in
// (e.time − within, e.time], and that subject had no alert from this signal
// in (e.time − cooldown, e.time]. Windows are in event time, never the wall
// clock; an event that arrives out of order still counts in every window
// its time falls in. An event whose id is already among the subject's kept
// events for the signal is an upstream duplicate: it is not counted again
// and does not fire.
//
// # Retention, and its limitation
//
// To bound memory, the state of a (signal, subject) keeps only the matching
// events with time > newest − 2·within, where newest is the newest matching
// event time seen for that subject, and the alert times > newest − 2·within
// − cooldown. A matching event with time ≤ newest − 2·within is ignored:
// not counted, never fires. The whole state of a subject is dropped once its
// newest event is ≤ W − 2·within − cooldown, where W is the newest event
// time the engine has seen in any event (checked about once per within of
// event time).
//
// Evaluation is exact, as the threshold rule says, for every event whose
// time is ≥ newest − within and ≥ W − within, given every event of the
// partition since the signal was set. An older (late) event is still
// recorded and evaluated, but against state that may have dropped part of
// its window, so it may be counted short and fire differently than the rule
// says. An event far in the future advances W and expires idle subjects
// early; the ingest edge should reject such events.
type Engine struct {
	programs  []*program            // every signal, in id order
	byType    map[string][]*program // per event type: its signals and the any-type ones, in id order
	anyType   []*program            // signals whose match has no type, in id order
	watermark time.Time             // W: the newest event time seen
	nextSweep time.Time             // the earliest nextSweep of the programs
}

// program is one compiled signal and its evaluation state.
type program struct {
	sig      *Signal // normalized; never modified
	hash     string
	url      glob
	hasURL   bool
	count    int
	within   time.Duration
	cooldown time.Duration
	tmpl     *template.Template
	scratch  []byte // reused by subject

	states    map[string]*subjectState // by subject
	nextSweep time.Time                // when the next expiry pass is due
}

// subjectState is what one subject has done for one signal.
type subjectState struct {
	subject string
	// events are the kept matching events, ordered by time; events with
	// equal times stay in arrival order. Never empty.
	events []schema.Evidence
	// alerts are the times of the signal's alerts for the subject, ascending.
	alerts []time.Time
}

// New returns an engine evaluating signals, normally values returned by
// [ParseSignal]. A signal that ParseSignal would reject is ignored (a
// Signal built by hand is normalized first, and its zero Cooldown means no
// cooldown); of several valid signals with one ID, the last is used.
func New(signals []*Signal) *Engine {
	e := &Engine{}
	e.SetSignals(signals)
	return e
}

// SetSignals replaces the signal set, as [New] reads it. The state of a
// signal whose ID, Version and [Signal.Hash] are unchanged is kept; the
// state of changed or removed signals is dropped, so a changed signal starts
// counting afresh.
func (e *Engine) SetSignals(signals []*Signal) {
	old := make(map[string]*program, len(e.programs))
	for _, p := range e.programs {
		old[p.sig.ID] = p
	}
	byID := make(map[string]*program, len(signals))
	for _, s := range signals {
		if s == nil {
			continue
		}
		hash := s.Hash()
		if o := old[s.ID]; o != nil && o.sig.Version == s.Version && o.hash == hash {
			byID[s.ID] = o
			continue
		}
		p := compile(s.normalized(), &problems{})
		if p == nil {
			continue
		}
		p.hash = hash
		p.states = make(map[string]*subjectState)
		byID[s.ID] = p
	}

	e.programs = e.programs[:0]
	for _, p := range byID {
		e.programs = append(e.programs, p)
	}
	slices.SortFunc(e.programs, func(a, b *program) int { return strings.Compare(a.sig.ID, b.sig.ID) })

	typed := make(map[string][]*program)
	e.anyType = nil
	for _, p := range e.programs {
		if t := p.sig.When.Threshold.Match.Type; t != "" {
			typed[t] = append(typed[t], p)
		} else {
			e.anyType = append(e.anyType, p)
		}
	}
	e.byType = make(map[string][]*program, len(typed))
	for t, list := range typed {
		list = append(list, e.anyType...)
		slices.SortFunc(list, func(a, b *program) int { return strings.Compare(a.sig.ID, b.sig.ID) })
		e.byType[t] = list
	}
	// New programs have no sweep scheduled; let the next event plan them.
	e.nextSweep = time.Time{}
}

// Evaluate runs one event through every signal of the engine that can match
// its type, updates their state and returns the alerts that fire, in
// signal-id order (nil when none does). It never blocks, does no I/O and
// does not panic; see [Engine] for the rules.
func (e *Engine) Evaluate(ev *schema.Event) []schema.Alert {
	if ev == nil {
		return nil
	}
	if ev.Time.After(e.watermark) {
		e.watermark = ev.Time
	}
	if !e.watermark.Before(e.nextSweep) {
		e.sweep()
	}
	candidates, ok := e.byType[ev.Type]
	if !ok {
		candidates = e.anyType
	}
	var alerts []schema.Alert
	for _, p := range candidates {
		if a, fired := p.evaluate(ev); fired {
			alerts = append(alerts, a)
		}
	}
	return alerts
}

// Subjects returns the number of live (signal, subject) states.
func (e *Engine) Subjects() int {
	n := 0
	for _, p := range e.programs {
		n += len(p.states)
	}
	return n
}

// sweep drops the subjects that no longer matter to any event at or after
// W − within (see the retention rules on Engine), for every program whose
// pass is due, and plans the next pass one within later.
func (e *Engine) sweep() {
	var next time.Time
	for _, p := range e.programs {
		if !e.watermark.Before(p.nextSweep) {
			cut := e.watermark.Add(-p.expiry())
			for subject, st := range p.states {
				if !st.newest().After(cut) {
					delete(p.states, subject)
				}
			}
			p.nextSweep = e.watermark.Add(p.within)
		}
		if next.IsZero() || p.nextSweep.Before(next) {
			next = p.nextSweep
		}
	}
	e.nextSweep = next
}

// retain is how far behind its subject's newest event a matching event is
// still kept.
func (p *program) retain() time.Duration { return 2 * p.within }

// expiry is how far behind W a subject's newest event may be before the
// subject is dropped; it also bounds the alert times kept.
func (p *program) expiry() time.Duration { return 2*p.within + p.cooldown }

func (p *program) matches(ev *schema.Event) bool {
	switch p.sig.Audience {
	case AudienceAny:
	case lifecycle(ev):
	default:
		return false
	}
	m := &p.sig.When.Threshold.Match
	if m.Type != "" && m.Type != ev.Type {
		return false
	}
	if m.ContentID != "" && m.ContentID != ev.ContentID {
		return false
	}
	return !p.hasURL || p.url.match(ev.Prop("url"))
}

// lifecycle is the event's lifecycle, prospect when it is unknown.
func lifecycle(ev *schema.Event) string {
	if ev.Customer.Lifecycle == "" {
		return schema.LifecycleProspect
	}
	return ev.Customer.Lifecycle
}

// subject writes the event's subject for this signal into p.scratch and
// returns it, so that looking up a known subject allocates nothing.
func (p *program) subject(ev *schema.Event) []byte {
	b := p.scratch[:0]
	if p.sig.Scope == ScopeAccount && ev.Customer.AccountID != "" {
		b = append(append(b, "account:"...), ev.Customer.AccountID...)
	} else {
		b = append(append(b, "customer:"...), ev.Customer.Key()...)
	}
	p.scratch = b
	return b
}

// evaluate applies the threshold rule to one event.
func (p *program) evaluate(ev *schema.Event) (schema.Alert, bool) {
	if !p.matches(ev) {
		return schema.Alert{}, false
	}
	key := p.subject(ev)
	st := p.states[string(key)]
	if st == nil {
		st = &subjectState{subject: string(key)}
		p.states[st.subject] = st
	} else if !st.admits(ev, p.retain()) {
		return schema.Alert{}, false
	}
	t := ev.Time
	st.insert(schema.EvidenceOf(ev))
	st.prune(p.retain(), p.expiry())

	lo, hi := st.window(t.Add(-p.within), t)
	count := hi - lo
	if count < p.count || st.cooling(t.Add(-p.cooldown), t) {
		return schema.Alert{}, false
	}
	st.recordAlert(t)
	return p.alert(ev, st.subject, st.events[max(lo, hi-MaxEvidence):hi], count), true
}

// alert builds the alert of a firing; window is the evidence to carry,
// oldest first, and is copied.
func (p *program) alert(ev *schema.Event, subject string, window []schema.Evidence, count int) schema.Alert {
	s := p.sig
	evidence := slices.Clone(window)
	customer := ev.Customer.Key()
	account := ev.Customer.AccountID
	if account == "" {
		account = customer
	}
	data := MessageData{
		Signal: s.Name, SignalID: s.ID, Customer: customer, Account: account,
		Subject: subject, Count: count, Priority: s.Priority, Evidence: evidence,
	}
	msg, err := render(p.tmpl, &data)
	if err != nil {
		// A template that fails on real data (an index past the evidence,
		// say) still yields an alert; the default cannot fail.
		msg, _ = render(defaultTemplate, &data)
	}
	return schema.Alert{
		ID:            schema.AlertID(s.ID, s.Version, subject, ev.ID),
		SignalID:      s.ID,
		SignalVersion: s.Version,
		SignalName:    s.Name,
		SignalOwner:   s.Owner,
		Subject:       subject,
		CustomerID:    customer,
		AccountID:     ev.Customer.AccountID,
		Lifecycle:     ev.Customer.Lifecycle,
		Priority:      s.Priority,
		Message:       msg,
		Count:         count,
		EventID:       ev.ID,
		Time:          ev.Time,
		Evidence:      evidence,
	}
}

func (st *subjectState) newest() time.Time { return st.events[len(st.events)-1].Time }

// admits reports whether ev is neither too late to keep nor a duplicate of
// a kept event.
func (st *subjectState) admits(ev *schema.Event, retain time.Duration) bool {
	if !ev.Time.After(st.newest().Add(-retain)) {
		return false
	}
	for i := range st.events {
		if st.events[i].EventID == ev.ID {
			return false
		}
	}
	return true
}

// after returns the index of the first event with a time after t.
func (st *subjectState) after(t time.Time) int {
	return sort.Search(len(st.events), func(i int) bool { return st.events[i].Time.After(t) })
}

// insert adds e after every kept event with a time at or before its own.
func (st *subjectState) insert(e schema.Evidence) {
	st.events = slices.Insert(st.events, st.after(e.Time), e)
}

// prune drops the events and alert times no longer needed (see Engine).
// The newest event always stays. Dropping reslices from the front, so that
// pruning one event is O(1); the next growing append copies only what is
// live.
func (st *subjectState) prune(retain, expiry time.Duration) {
	newest := st.newest()
	if i := st.after(newest.Add(-retain)); i > 0 {
		clear(st.events[:i]) // release the evidence strings now
		st.events = st.events[i:]
	}
	cut := newest.Add(-expiry)
	if i := sort.Search(len(st.alerts), func(i int) bool { return st.alerts[i].After(cut) }); i > 0 {
		st.alerts = st.alerts[i:]
	}
}

// window returns the index range of the events with a time in (from, to].
func (st *subjectState) window(from, to time.Time) (lo, hi int) {
	return st.after(from), st.after(to)
}

// cooling reports whether an alert time falls in (from, to].
func (st *subjectState) cooling(from, to time.Time) bool {
	i := sort.Search(len(st.alerts), func(i int) bool { return st.alerts[i].After(from) })
	return i < len(st.alerts) && !st.alerts[i].After(to)
}

func (st *subjectState) recordAlert(t time.Time) {
	i := sort.Search(len(st.alerts), func(i int) bool { return st.alerts[i].After(t) })
	st.alerts = slices.Insert(st.alerts, i, t)
}
