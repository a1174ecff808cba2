package detector

import (
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/dowserhq/dowser/schema"
)

// Limits of an engine's memory that do not depend on the signals.
const (
	// MaxRecentEvents is how many of the most recent distinct event ids an
	// engine remembers to recognise upstream duplicates.
	MaxRecentEvents = 100_000
	// MaxIdentityLinks is how many anonymous ids an engine remembers the
	// customer of.
	MaxIdentityLinks = 100_000
)

// Engine evaluates a set of signals over the events of one partition, in
// the order the partition delivers them. For each signal and subject it
// keeps the recent relevant events and alert times; besides, it remembers
// recent event ids and anonymous-id links. All of it is plain data.
//
// An Engine is not safe for concurrent use: each partition owns one. The
// signals it is given are only read, so one set may be shared by many
// engines.
//
// # Checkpoints
//
// The state is checkpointed incrementally: the engine marks every subject
// whose state any call changes (Evaluate, identity merges, sweeps,
// Forget, SetSignals, SetEvidenceURL) and every chunk of the recent-id and
// link rings that changed, and [Engine.Changes] encodes only those, one
// row per subject, plus a small meta blob for the rest. An engine
// restored from the latest meta and the rows ([Engine.BeginRestore])
// evaluates every later event exactly as this one would. Rows are a
// compact binary layout (see docs/architecture.md, "State and checkpoints"); [Engine.Snapshot] and
// [Engine.RestoreSnapshot] keep the older whole-state gob layout.
//
// # Events in, alerts out
//
// Time range: an event whose time is not representable as int64
// nanoseconds since 1970 (before 1677-09-21 or after 2262-04-11) is
// ignored entirely; the kafka package rejects such events. Every time in the
// range, both ends included, is evaluated by the rules below, exactly: a
// window, horizon or cooldown that reaches past an end of the range takes
// every time on that side.
//
// Duplicates: an event whose id is among the last [MaxRecentEvents]
// distinct ids the engine evaluated is an upstream duplicate and is ignored
// entirely: it changes no state, counts for no signal and fires nothing,
// even if its other fields differ. (Beyond that memory, an event whose id is
// among a subject's kept events for a signal is still not counted again by
// that signal.) An event with an empty id is never a duplicate.
//
// Identity: an event that carries both customer.id and customer.anonymous_id
// (an identify event, or any other) links the anonymous id to the customer
// id, the customer's account_id and lifecycle (when the event has them). A
// later event with only that anonymous id counts as that customer: its
// customer id, and its account id and lifecycle when it has none, come from
// the link. When a link is new, or changes customer, the state the anonymous
// id built up as subject "customer:<anonymous id>" is merged, for every
// signal, into the state of the customer's subject for that signal
// ("customer:<id>", or "account:<account id>" for scope account when the
// link has an account): kept events are united (one per event id, ordered
// by time), alert times too, and the merged events count as the customer
// (for min_people and distinct customer.id). Merging fires nothing by
// itself; the next matching event is evaluated against the merged state.
// The link is learnt before the linking event is evaluated, so that event
// already sees the merged state. The engine keeps at most
// [MaxIdentityLinks] links; when a new one would exceed that, the link
// learnt longest ago is forgotten, and that anonymous id counts as itself
// again. A link is per engine: an anonymous history is only merged when the
// linking event is delivered to the same partition.
//
// Subject: for scope customer it is "customer:" + the customer key (the
// customer id, else the anonymous id); for scope account it is "account:" +
// the account id, or the customer subject when there is no account id.
//
// Audience: the lifecycle is customer.lifecycle (from the link for an
// anonymous event), and an unknown one counts as prospect (the caller fills
// it from the account when it knows it). Audience any takes every event;
// prospect and customer take only events of that lifecycle. An event
// outside the audience is invisible to the signal: it matches no step,
// rule or absent match.
//
// Match: every match field that is set must match: type equals the event
// type; url (a glob) matches the whole "url" property; content_id equals
// the event's content id; keywords: one of the keywords occurs as whole
// words in the "subject", "title" or "body" property (see [Match.Keywords]);
// where: the CEL expression evaluates to true, without error, within
// [MaxWhereCost]; not: the nested match does not match.
//
// Order: the kept events of a subject are ordered by time; events with
// equal times stay in the order they arrived. "Before" below means earlier
// in that order.
//
// Cooldown: a signal fires on event e only when e's subject had no alert
// from the signal with a time in (e.time − cooldown, e.time]. An alert's
// time is its triggering event's time.
//
// Threshold: fires on a matching event e when at least count matching
// events of e's subject (e included) have a time in (e.time − within,
// e.time] — with distinct, when those events have at least count distinct
// non-empty values of the field — and, with min_people, when they come from
// at least min_people distinct customers (customer keys) — and the cooldown
// allows. Windows are in event time, never the wall clock; an event that
// arrives out of order still counts in every window its time falls in, and
// may fire itself.
//
// Sequence: with steps s1 … sk, fires on an event e that matches sk when
// there are distinct kept events x1, …, xk = e of e's subject, each xi
// matching si and before xi+1, with x1's time in (e.time − within, e.time],
// such that no kept event matching absent lies strictly between x1 and e
// (in the order above), and the cooldown allows. Among all such chains the
// engine picks, step by step from the end, the latest event matching each
// step, which is the chain with the latest x1; if that chain has an absent
// event between x1 and e, every chain does. The alert's evidence is the
// chain. A late event completes a sequence only when it is itself a last
// step; a late earlier step counts for later last steps. An event that
// matches only the last step (not an earlier one, nor absent) of a subject
// with no kept events is not kept: it can complete no chain, now or later.
//
// Score: every event matching at least one rule contributes, at its time
// ti, the sum pi of the points of the rules it matches. The score of a
// subject at time t is S(t) = Σ pi·2^(−(t − ti)/half_life) over its
// contributing events with ti ≤ t. For a contributing event e, S⁻ is that
// sum at e.time over the subject's events before e (e excluded), and S⁺ =
// S⁻ + pe. Each (signal, subject) is armed or disarmed; it starts armed,
// and e re-arms it when S⁻ < level. The signal fires on e when the subject
// is armed, S⁺ ≥ level and the cooldown allows; firing disarms it. So it
// fires when an event lifts the score to the level; while the score stays
// at or above the level at event times it does not fire again; once it has
// decayed below the level, the next event that lifts it fires again; and a
// firing the cooldown held back happens on the first event after the
// cooldown if the score is still at or above the level then. Comparisons
// with the level have a relative tolerance of 10⁻⁹, so that rounding never
// decides. A late event is scored at its own time against the events before
// it (arrival order decides only the armed state), and may fire. When
// identity merges two states of a score, the merged one is disarmed if
// either was.
//
// Silence: every event x matching after starts a wait with the deadline
// x.time + within (saturating). An expect event (matching any of expect)
// of x's subject ends the wait when it is after x in the order above and
// its time is ≤ the deadline. The wait is decided once, the first time W
// is past the deadline (W > deadline): W moves with Evaluate and with
// [Engine.Advance]; a trigger that arrives with W already past its
// deadline is decided on arrival. It fires unless an expect event known
// by then ends it, or the cooldown, checked at the deadline, holds it
// back. The alert's time is the deadline; its event id, evidence and
// customer are the trigger's (its id is thus as deterministic as any);
// its count is 1. An expect event that arrives after the decision changes
// nothing. Alerts of waits decided when an event moves W come first in
// what Evaluate returns, ordered by time, signal id and subject, before
// the event's own. Decided waits are part of the state (a checkpoint
// taken after an alert never fires it again).
//
// Change: time is cut into periods of the change's period P, period k
// being [o + k·P, o + (k+1)·P) with o = 1970-01-05T00:00:00Z (a Monday).
// For a matching event e in period k, let c be the matching events of e's
// subject in period k (e included) and b their count in periods k−N …
// k−1, N being baseline, over N. The signal fires on e when b > 0, c ≥
// min_count, c ≥ rise·b (relative tolerance 10⁻⁹) and the cooldown
// allows. The alert's count is c, its score c/b, its evidence e. A late
// event counts in its own period and is judged against that period's
// baseline. With fall instead of rise, period k is decided once, when W
// first reaches o + (k+1)·P, for each subject with events in periods
// k−N … k−1: it fires when b > 0, c ≤ fall·b (c may be 0) and the
// cooldown allows at that time, the alert's time; its event and evidence
// are the subject's newest record's, its id names the close too. Events
// that arrive after the close do not change the decision. Only a count per period is kept, with the period's first
// event: beyond the engine's recent ids, a duplicate is recognised only
// when it repeats such a first event.
//
// min_people: the threshold's window, a sequence's chain, a score's kept
// records up to the event must come from at least that many customer keys
// for the signal to fire; a score held back by it stays armed.
//
// # Retention, and its limitation
//
// W, the partition's event time, is taken from the events the engine
// evaluates (duplicates and events out of range are not evaluated) in
// blocks of 32 consecutive ones: it is the highest lower median of a
// complete block so far. It reaches a time t only once at least 17 of the
// 32 events of a block are at or after t, and it never moves back; until
// the first block is complete it is earlier than every time. So events
// dated far in the future (a tracker's wrong clock) move W only when they
// are the majority of a block; in a stream in time order W lags the newest
// event by 16 to 47 events.
//
// Let the horizon be 2·within for a threshold, sequence or silence,
// (baseline+2)·period for a change, and
// 2·half_life for a score; newest is the newest kept event time of a
// (signal, subject), and ref = min(newest, W). A (signal, subject) keeps
// the relevant events with time > ref − horizon, and the alert times >
// ref − horizon − cooldown. A relevant event with time ≤ ref − horizon is
// ignored: not counted, never fires. (Measuring back from ref rather than
// newest means a far-future event of a subject does not push the
// subject's present out of its horizon.) A score does not forget older
// events: it folds them into one decayed sum, exactly; an event at or
// before the newest folded one is ignored like a late one. The whole state
// of a subject is forgotten (the next event finds it empty) once its
// newest event is ≤ W − horizon − cooldown, and, for a score, its score at
// W is below level/1000, W as it is once the event being evaluated is
// counted; a score that comes back afresh is thus at most a thousandth of
// the level lower than it would have been. Forgotten states are freed
// about every horizon/2 of event time; when does not change any alert.
//
// Evaluation is exact, as the rules say, for every event whose time is ≥
// W − horizon/2, given every event of the partition since the signal was
// set (for a score: for every event with a time > ref − horizon, up to the
// forgetting above). An older (late) event is still recorded and
// evaluated, but against state that may have dropped part of its window,
// so it may be counted short and fire differently than the rule says.
//
// The limitation: a subject with an event dated after W is not forgotten
// before W reaches that time, so a far-future event keeps its subject's
// state (for the signals it is relevant to) for as long; the kafka package
// bounds how far ahead of the wall clock an event may be.
type Engine struct {
	programs  []*program // every signal, in id order
	dispatch  dispatch   // which programs an event is relevant to
	clock     clock      // the latest event times, which advance watermark
	watermark int64      // W in Unix nanoseconds: the partition's event time (see clock)
	nextSweep int64      // the earliest nextSweep of the programs

	recent recentIDs
	// evaluated is whether the last Evaluate evaluated its event.
	evaluated bool
	links     identityLinks
	x         evalCtx // the event being evaluated; reused

	// marks are the subjects changed since the last checkpoint, shared
	// with every program; nextNum numbers the next new program in rows.
	marks   *changeMarks
	nextNum uint64
	enc     rowEncoder // reused by Changes
	tier    tier       // subjects held encoded; see tier
	// fired are the alerts of timers since the last takeFired; passW is
	// W at the last timer pass: the periods of a change's fall that
	// closed at or before it are decided.
	fired []schema.Alert
	passW int64
}

// program is one signal's plan and its evaluation state in one engine.
type program struct {
	*plan
	gate      []int32                  // the dispatch slots of its top-level matches
	states    map[string]*subjectState // by subject
	expiry    expiryQueue              // every state in states, and dropped ones
	timers    expiryQueue              // a silence's states by their next timer
	nextSweep int64                    // W at which the next expiry pass is due
	again     []*subjectState          // reused by sweep

	scratch []byte              // reused by subject
	set     map[string]struct{} // reused to count distinct values

	// num names the program in checkpoint rows; a changed signal is a
	// new program with a new number. marks is the engine's, e the engine.
	num   uint64
	marks *changeMarks
	e     *Engine
	gone  int // entries of expiry whose state went cold
	peak  int // the most states held at once since states was made
}

// New returns an engine evaluating signals, normally values returned by
// [ParseSignal]. A signal that ParseSignal would reject is ignored (a
// Signal built by hand is normalized first, and its zero Cooldown means no
// cooldown); of several valid signals with one ID, the last is used.
func New(signals []*Signal) *Engine {
	e := &Engine{
		recent:    recentIDs{limit: MaxRecentEvents},
		links:     identityLinks{limit: MaxIdentityLinks},
		clock:     clock{size: clockWindow},
		watermark: math.MinInt64,
		passW:     math.MinInt64,
		marks:     newChangeMarks(false),
	}
	e.x.seed = maphash.MakeSeed()
	e.recent.seed = e.x.seed
	e.tier.rows = newColdRows(e.x.seed)
	e.SetSignals(signals)
	return e
}

// SetSignals replaces the signal set, as [New] reads it. The state of a
// signal whose ID, Version and [Signal.Hash] are unchanged is kept; the
// state of changed or removed signals is dropped, so a changed signal starts
// counting afresh. The recent event ids and identity links are kept.
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
		pl := planOf(s, hash)
		if pl == nil {
			continue
		}
		if pl.sig.Version != s.Version {
			// A plan compiled by ParseSignal before the store set the
			// version: the alerts must name the version evaluated.
			c := *pl
			sig := *pl.sig
			sig.Version = s.Version
			c.sig = &sig
			pl = &c
		}
		byID[s.ID] = &program{plan: pl, states: make(map[string]*subjectState), set: make(map[string]struct{}), num: e.nextNum, marks: e.marks, e: e}
		e.nextNum++
	}
	for _, o := range old {
		if byID[o.sig.ID] != o {
			// Its states go: their rows are rewritten without them.
			for subject := range o.states {
				e.marks.mark(subject)
			}
			e.retire(o.num)
		}
	}

	e.programs = e.programs[:0]
	for _, p := range byID {
		e.programs = append(e.programs, p)
	}
	slices.SortFunc(e.programs, func(a, b *program) int { return strings.Compare(a.sig.ID, b.sig.ID) })

	e.dispatch.build(e.programs)
	e.newDecoder()
	// New programs have no sweep scheduled; let the next event plan them.
	e.nextSweep = math.MinInt64
}

// Evaluate runs one event through every signal of the engine that can match
// its type, updates their state and returns the alerts that fire: those of
// the silences whose deadline the event's W passed first, then the
// event's own in signal-id order (nil when none does). It never blocks, does no I/O and
// does not panic; see [Engine] for the rules.
func (e *Engine) Evaluate(ev *schema.Event) []schema.Alert {
	e.evaluated = false
	if ev == nil || ev.Time.Before(minNanoTime) || ev.Time.After(maxNanoTime) {
		return nil
	}
	dup, h := e.recent.seen(ev.ID)
	if dup {
		return nil
	}
	e.evaluated = true
	if m, full := e.clock.observe(ev.Time.UnixNano()); full && m > e.watermark {
		e.watermark = m
	}
	e.tier.missedN = 0
	if e.watermark >= e.nextSweep {
		e.sweep()
	} else {
		// No close or deadline lies before W: every one up to W is decided.
		e.passW = e.watermark
	}
	x := &e.x
	x.watermark = e.watermark
	x.reset(ev, e.identify(ev))
	x.hash, x.hashReady = uint32(h), ev.ID != ""
	defer x.release()

	d := &e.dispatch
	x.dispatch = d
	d.start(x)
	// Timers the event's W made due fire before the event is evaluated.
	var alerts []schema.Alert
	if e.fired != nil {
		alerts = e.takeFired()
	}
	for w, word := range d.relevant {
		for ; word != 0; word &= word - 1 {
			p := e.programs[w*64+bits.TrailingZeros64(word)]
			if a, fired := p.evaluate(x); fired {
				alerts = append(alerts, a)
			}
		}
	}
	return alerts
}

// Evaluated reports whether the last Evaluate evaluated its event: false
// for an upstream duplicate or a time out of range, which it ignored.
func (e *Engine) Evaluated() bool { return e.evaluated }

// Subjects returns the number of live (signal, subject) states held
// decoded, plus the number of subjects held encoded (see
// [Engine.SetColdAfter]).
func (e *Engine) Subjects() int {
	n := e.tier.rows.len()
	for _, p := range e.programs {
		n += len(p.states)
	}
	return n
}

// sweep frees the subjects that are forgotten (see the retention rules on
// Engine), for every program whose pass is due, and plans the next pass
// half a horizon later. Evaluation treats a forgotten subject as empty
// whether or not a sweep has freed it yet, so that the alerts never depend
// on when sweeps happen (after a restart, say).
func (e *Engine) sweep() {
	w := e.watermark
	if e.tier.rows.len() > 0 {
		e.thawDue(w)
	}
	// Timers before the sweeps: a state is forgotten only long after
	// its last deadline, and must not take its wait with it.
	for _, p := range e.programs {
		if p.timed() {
			e.fired = p.fireTimers(w, e.fired)
		}
	}
	e.passW = w
	next := e.tier.rows.nextDue()
	for _, p := range e.programs {
		if w >= p.nextSweep {
			p.sweep(w)
			p.nextSweep = satAdd(w, int64(p.horizon/2))
		}
		next = min(next, p.nextSweep)
		if len(p.timers) > 0 {
			next = min(next, p.timers[0].due)
		}
	}
	e.nextSweep = next
}

// expired reports whether st is forgotten at watermark w (Unix
// nanoseconds).
func (p *program) expired(st *subjectState, w int64) bool {
	newest := st.newestAt()
	if newest >= windowStart(w, p.horizon+p.cooldown) {
		return false
	}
	return p.kind != kindScore || st.total*p.decay(elapsed(newest, w)) < p.level/1000
}

// subject writes the subject of x's event for this signal into p.scratch
// and returns it, so that looking up a known subject allocates nothing.
func (p *program) subject(x *evalCtx) []byte {
	b := p.scratch[:0]
	if p.sig.Scope == ScopeAccount && x.account != "" {
		b = append(append(b, "account:"...), x.account...)
	} else {
		b = append(append(b, "customer:"...), x.key...)
	}
	p.scratch = b
	return b
}

// evaluate records x's event in its subject's state if it is relevant to
// the signal, and applies the signal's rule to it.
func (p *program) evaluate(x *evalCtx) (schema.Alert, bool) {
	switch p.sig.Audience {
	case AudienceAny, x.effectiveLifecycle():
	default:
		return schema.Alert{}, false
	}
	r, ok := p.relevance(x)
	if !ok {
		return schema.Alert{}, false
	}
	key := p.subject(x)
	st := p.states[string(key)]
	if st == nil && p.e.thawKey(key) {
		st = p.states[string(key)]
	}
	if (st == nil || p.expired(st, x.watermark)) && p.barren(r) {
		return schema.Alert{}, false
	}
	switch {
	case st == nil:
		st = newState(x.subjectString(key), p.kind)
		p.states[st.subject] = st
		// Its newest event will be this one.
		p.expiry.push(expiryEntry{satAdd(x.ev.Time.UnixNano(), int64(p.horizon+p.cooldown)), st})
	case p.expired(st, x.watermark):
		st.reset() // forgotten: start afresh
	case !st.admits(x, p.plan):
		return schema.Alert{}, false
	}
	x.mark(p.marks, st.subject)
	r.ev, r.at = x.evidence(), x.ev.Time.UnixNano()
	if r.ev.EventID != "" {
		r.idHash = x.idHash()
	}
	switch p.kind {
	case kindThreshold:
		return p.threshold(x, st, r)
	case kindSequence:
		return p.sequence(x, st, r)
	case kindSilence:
		return p.silence(x, st, r)
	case kindChange:
		return p.change(x, st, r)
	default:
		return p.score(x, st, r)
	}
}

// relevance matches x's event against the signal's matches and returns
// what its record needs (all but the evidence), or false when the signal
// has no use for the event.
func (p *program) relevance(x *evalCtx) (record, bool) {
	var r record
	switch p.kind {
	case kindThreshold:
		if !x.holds(p.gate[0]) {
			return r, false
		}
		if p.distinct.kind != fieldNone {
			r.value = x.value(p.distinct)
		}
	case kindSequence:
		for i := range p.steps {
			if x.holds(p.gate[i]) {
				r.steps |= 1 << i
			}
		}
		r.absent = p.absent != nil && x.holds(p.gate[len(p.steps)])
		if r.steps == 0 && !r.absent {
			return r, false
		}
	case kindScore:
		for i := range p.rules {
			if x.holds(p.gate[i]) {
				r.points += p.rules[i].points
			}
		}
		if r.points == 0 {
			return r, false
		}
	case kindChange:
		if !x.holds(p.gate[0]) {
			return r, false
		}
		r.points = 1
	case kindSilence:
		if x.holds(p.gate[0]) {
			r.steps = stepAfter
			r.value = x.lifecycle + valueSep + x.account
		}
		for i := range p.expect {
			if x.holds(p.gate[1+i]) {
				r.absent = true
				break
			}
		}
		if r.steps == 0 && !r.absent {
			return r, false
		}
	}
	return r, true
}

// barren reports whether an event with record r can do nothing for a
// subject that has no state: a sequence event matching only the last step
// (and not absent) completes no chain without an earlier step, and no
// later chain can use it, since it is no earlier step and no absent event.
// Keeping it would only cost a state per subject, for every variant of
// a signal whose last step is a common page.
func (p *program) barren(r record) bool {
	return p.kind == kindSequence && !r.absent && r.steps == 1<<(len(p.steps)-1)
}

// alert builds the alert of a firing; evidence is the evidence to carry,
// oldest first, in a slice the alert may keep.
func (p *program) alert(x *evalCtx, subject string, evidence []schema.Evidence, count, people int, score float64) schema.Alert {
	s := p.sig
	ev := x.ev
	account := x.account
	if account == "" {
		account = x.key
	}
	name := x.accountName
	if name == "" || x.account != x.ev.Customer.AccountID {
		name = account
	}
	data := MessageData{
		Signal: s.Name, SignalID: s.ID, Customer: x.key, Account: account, AccountName: name,
		Subject: subject, Count: count, People: people, Score: score,
		Priority: s.Priority, Evidence: evidence,
	}
	msg := p.message(&data)
	if p.namesAccount && x.accountName == "" && x.account != "" && x.account == ev.Customer.AccountID {
		x.unnamed = append(x.unnamed, unnamedAlert{id: schema.AlertID(s.ID, s.Version, subject, ev.ID), p: p, data: data})
	}
	return schema.Alert{
		ID:            schema.AlertID(s.ID, s.Version, subject, ev.ID),
		SignalID:      s.ID,
		SignalVersion: s.Version,
		SignalName:    s.Name,
		SignalOwner:   s.Owner,
		Subject:       subject,
		CustomerID:    x.key,
		AccountID:     x.account,
		Lifecycle:     x.lifecycle,
		Priority:      s.Priority,
		Message:       msg,
		Count:         count,
		EventID:       ev.ID,
		Time:          ev.Time,
		Evidence:      evidence,
	}
}

// unnamedAlert is what renders an alert's message again with its
// account's name.
type unnamedAlert struct {
	id   string
	p    *program
	data MessageData
}

// NeedsAccountName reports whether alerts of the last call to Evaluate
// want the name of the event's account in their message, which the event
// did not carry: the event path looks it up only then, instead of for
// every event, and passes it to NameAccount.
func (e *Engine) NeedsAccountName() bool { return len(e.x.unnamed) > 0 }

// NameAccount renders again, with the account's name, the messages of
// those alerts (returned by the last call to Evaluate) that want it.
func (e *Engine) NameAccount(alerts []schema.Alert, name string) {
	if name == "" {
		return
	}
	for _, u := range e.x.unnamed {
		for i := range alerts {
			if alerts[i].ID == u.id {
				u.data.AccountName = name
				alerts[i].Message = u.p.message(&u.data)
			}
		}
	}
	e.x.unnamed = e.x.unnamed[:0]
}

// message renders the signal's message for data.
func (p *program) message(data *MessageData) string {
	msg, err := render(p.tmpl, data)
	if err != nil {
		// A template that fails on real data (an index past the evidence,
		// say) still yields an alert; the default cannot fail.
		msg, _ = render(defaultTemplate, data)
	}
	return msg
}

// people counts the distinct customers among records.
func (p *program) people(records []record) int {
	for i := range records {
		p.set[records[i].ev.CustomerID] = struct{}{}
	}
	n := len(p.set)
	clear(p.set)
	return n
}

// distinctValues counts the distinct non-empty values among records.
func (p *program) distinctValues(records []record) int {
	for i := range records {
		if v := records[i].value; v != "" {
			p.set[v] = struct{}{}
		}
	}
	n := len(p.set)
	clear(p.set)
	return n
}

// evidenceOf returns the evidence of records (at most MaxEvidence, the
// newest), in a new slice.
func evidenceOf(records []record) []schema.Evidence {
	records = records[max(0, len(records)-MaxEvidence):]
	out := make([]schema.Evidence, len(records))
	for i := range records {
		out[i] = *records[i].ev
	}
	return out
}

// ActiveSubjects returns the number of distinct subjects with a live state
// for at least one signal. It counts them afresh: a diagnostic, not for
// the hot path.
func (e *Engine) ActiveSubjects() int {
	seen := make(map[string]struct{})
	for _, p := range e.programs {
		for s := range p.states {
			seen[s] = struct{}{}
		}
	}
	return len(seen) + e.tier.rows.len()
}
