package detector

import (
	"slices"
	"strings"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// A silence keeps its after (trigger) and expect events as records: a
// trigger has stepAfter in its steps, an expect event has absent set.
// stepDecided marks a trigger whose wait is over (it fired, an expect
// event ended it, or the cooldown held it back), so that it is decided
// once, also across checkpoints: the bit travels in the row's steps.
const (
	stepAfter   = 1 << 0
	stepDecided = 1 << 1
)

// valueSep separates the lifecycle and the account a trigger's record
// keeps in its value, for the alert it may raise when no event is there.
const valueSep = "\x1f"

// waiting reports whether r is a silence's trigger whose wait is not over.
func (r *record) waiting() bool { return r.steps&(stepAfter|stepDecided) == stepAfter }

// deadline is the end of the wait of a trigger at at (Unix nanoseconds):
// an expect event at or before it ends the wait.
func (p *plan) deadline(at int64) int64 { return satAdd(at, int64(p.within)) }

// fireAt is the first watermark past the deadline of a trigger at at,
// MaxInt64 (never) when the deadline is the last representable time.
func (p *plan) fireAt(at int64) int64 { return satAdd(p.deadline(at), 1) }

// timerOf returns when st's earliest waiting trigger is due (see fireAt),
// MaxInt64 when none waits. Records are in time order, so the first
// waiting one has the earliest deadline.
func (p *program) timerOf(st *subjectState) int64 {
	if p.kind == kindChange && p.fall > 0 && len(st.records) > 0 {
		return p.nextClose(st.records[0].at, st.newestAt(), p.e.watermark)
	}
	if p.kind != kindSilence {
		return maxInt64
	}
	for i := range st.records {
		if st.records[i].waiting() {
			return p.fireAt(st.records[i].at)
		}
	}
	return maxInt64
}

const maxInt64 = 1<<63 - 1

// schedule queues st's next timer, if it has one, and makes sure the
// engine's next pass is no later than it.
func (p *program) schedule(st *subjectState) {
	if at := p.timerOf(st); at != maxInt64 {
		p.timers.push(expiryEntry{at, st})
		p.e.nextSweep = min(p.e.nextSweep, at)
	}
}

// coldDue is when a state held cold must be back: when it may be
// forgotten, no earlier than half a horizon past w (as sweeps run), or
// when one of its timers fires, whichever is first. Freezing a hot state
// and restoring a row both use it, so that a timer never waits for a
// thaw.
func (p *program) coldDue(newest int64, total float64, timer, w int64) int64 {
	return min(max(p.expiresAtOf(newest, total), satAdd(w, int64(p.horizon/2))), timer)
}

// silence records the event of x, r being its record: an expect event
// ends the waits it falls in; a trigger starts a wait, decided at once
// when W is already past its deadline (a late trigger).
func (p *program) silence(x *evalCtx, st *subjectState, r record) (schema.Alert, bool) {
	pos := st.insert(r, p.plan)
	pos -= st.prune(p.plan, x.watermark)
	if r.absent {
		for i := pos - 1; i >= 0; i-- {
			o := &st.records[i]
			if p.deadline(o.at) < r.at {
				break // this wait, and every earlier one, ended before r
			}
			if o.waiting() {
				o.steps |= stepDecided
			}
		}
	}
	if r.steps&stepAfter == 0 {
		return schema.Alert{}, false
	}
	if x.watermark > p.deadline(r.at) {
		return p.decide(st, pos)
	}
	p.timers.push(expiryEntry{p.fireAt(r.at), st})
	p.e.nextSweep = min(p.e.nextSweep, p.fireAt(r.at))
	return schema.Alert{}, false
}

// decide ends the wait of the trigger records[i], whose deadline W has
// passed: it fires unless an expect event came after it, at or before the
// deadline, or the cooldown holds it back.
func (p *program) decide(st *subjectState, i int) (schema.Alert, bool) {
	r := &st.records[i]
	r.steps |= stepDecided
	end := p.deadline(r.at)
	for j := i + 1; j < len(st.records) && st.records[j].at <= end; j++ {
		if st.records[j].absent {
			return schema.Alert{}, false
		}
	}
	t := r.ev.Time.Add(p.within)
	if st.cooling(t.Add(-p.cooldown), t) {
		return schema.Alert{}, false
	}
	st.recordAlert(t)
	return p.silenceAlert(st, r, t), true
}

// fireTimers decides the waits of p whose deadline W (w) has passed and
// appends the alerts they raise to out.
func (p *program) fireTimers(w int64, out []schema.Alert) []schema.Alert {
	for len(p.timers) > 0 && p.timers[0].due <= w {
		st := p.timers.pop().st
		if len(st.records) == 0 || p.states[st.subject] != st {
			continue // dropped or gone cold since it was queued
		}
		if p.kind == kindChange {
			out = p.fireCloses(st, w, out)
			continue
		}
		out = p.fireDue(st, w, out)
	}
	return out
}

// timed reports whether p has timers: a silence, or a change's fall.
func (p *program) timed() bool {
	return p.kind == kindSilence || (p.kind == kindChange && p.fall > 0)
}

// fireDue decides st's waits whose deadline w has passed, in time order,
// and queues its next timer; for a change's fall, the periods that closed.
func (p *program) fireDue(st *subjectState, w int64, out []schema.Alert) []schema.Alert {
	if p.kind == kindChange {
		return p.fireCloses(st, w, out)
	}
	changed := false
	for i := range st.records {
		r := &st.records[i]
		if !r.waiting() {
			continue
		}
		if p.deadline(r.at) >= w {
			if at := p.fireAt(r.at); at > w {
				p.timers.push(expiryEntry{at, st})
				p.e.nextSweep = min(p.e.nextSweep, at)
			}
			break
		}
		changed = true
		if a, ok := p.decide(st, i); ok {
			out = append(out, a)
		}
	}
	if changed {
		p.marks.mark(st.subject)
	}
	return out
}

// silenceAlert builds the alert of the trigger r of st whose wait ended
// at t without an expect event.
func (p *program) silenceAlert(st *subjectState, r *record, t time.Time) schema.Alert {
	s := p.sig
	lifecycle, account, _ := strings.Cut(r.value, valueSep)
	if account == "" && isAccount(st.subject) {
		account = st.subject[len("account:"):]
	}
	customer := r.ev.CustomerID
	shown := account
	if shown == "" {
		shown = customer
	}
	evidence := []schema.Evidence{*r.ev}
	data := MessageData{
		Signal: s.Name, SignalID: s.ID, Customer: customer, Account: shown, AccountName: shown,
		Subject: st.subject, Count: 1, People: 1, Priority: s.Priority, Evidence: evidence,
	}
	return schema.Alert{
		ID:            schema.AlertID(s.ID, s.Version, st.subject, r.ev.EventID),
		SignalID:      s.ID,
		SignalVersion: s.Version,
		SignalName:    s.Name,
		SignalOwner:   s.Owner,
		Subject:       st.subject,
		CustomerID:    customer,
		AccountID:     account,
		Lifecycle:     lifecycle,
		Priority:      s.Priority,
		Message:       p.message(&data),
		Count:         1,
		EventID:       r.ev.EventID,
		Time:          t,
		Evidence:      evidence,
	}
}

// takeFired returns the alerts of the timers fired since the last call,
// in a stable order (by time, signal, subject), so that they do not
// depend on whether a subject's timer fired hot or on its thaw.
func (e *Engine) takeFired() []schema.Alert {
	out := e.fired
	e.fired = nil
	if len(out) > 1 {
		slices.SortStableFunc(out, func(a, b schema.Alert) int {
			if c := a.Time.Compare(b.Time); c != 0 {
				return c
			}
			if c := strings.Compare(a.SignalID, b.SignalID); c != 0 {
				return c
			}
			if c := strings.Compare(a.Subject, b.Subject); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
	}
	return out
}

// Watermark returns W, the partition's event time (see [Engine]), and
// false while it is not known yet (fewer than a block of events seen).
func (e *Engine) Watermark() (time.Time, bool) {
	if e.watermark == minInt64 {
		return time.Time{}, false
	}
	return time.Unix(0, e.watermark).UTC(), true
}

// Advance moves W, the partition's event time (see [Engine]), forward to
// t when t is later, as if events up to t had been seen, and returns the
// alerts of the silences whose deadline W then passes (nil when none). It
// is the processing-time fallback of a partition that has gone quiet: the
// caller passes the wall clock less the lateness it allows, so that a
// silence fires even when no later event arrives to move W. W never moves
// back; a later event before t is late (see the retention rules), and an
// expect event that arrives after its wait was decided changes nothing.
func (e *Engine) Advance(t time.Time) []schema.Alert {
	if t.Before(minNanoTime) {
		return nil
	}
	w := unixNanos(t)
	if w <= e.watermark {
		return nil
	}
	e.watermark = w
	e.tier.missedN = 0
	if e.watermark >= e.nextSweep {
		e.sweep()
	} else {
		// No close or deadline lies before W: every one up to W is decided.
		e.passW = e.watermark
	}
	return e.takeFired()
}
