package detector

import (
	"slices"
	"strconv"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// A change keeps one record per period with events (two after an
// identity merge, at most): the first event of the period as its evidence
// and the period's count in points. So a long baseline costs a record per
// period, not per event; the price is that only those first events'
// ids are compared to recognise a duplicate beyond the engine's memory of
// recent ids.

// periodOrigin is the start of period 0: Monday 1970-01-05 00:00 UTC, so
// that weekly periods run Monday to Sunday and daily ones midnight to
// midnight, UTC.
const periodOrigin = 4 * 24 * 3600 * 1e9

// period returns the number of the period at (Unix nanoseconds) falls in.
func (p *plan) period(at int64) int64 {
	// (Times in the first four days the int64 range holds count as its
	// first instant, rather than wrap.)
	d := max(at, minInt64+periodOrigin) - periodOrigin
	w := int64(p.within)
	k := d / w
	if d%w < 0 {
		k--
	}
	return k
}

const minInt64 = -1 << 63

// periodStart is the first instant of period k, saturating at the int64
// bounds.
func (p *plan) periodStart(k int64) int64 {
	w := int64(p.within)
	switch {
	case k > (maxInt64-periodOrigin)/w:
		return maxInt64
	case k < (minInt64+periodOrigin)/w:
		return minInt64
	}
	return k*w + periodOrigin
}

// nextClose is when the next period of a fall's subject to decide closes
// after w: the periods after its first record's, up to baseline periods
// after its newest record's (later ones have no baseline), close when W
// reaches the next period's start. MaxInt64 when none is left.
func (p *plan) nextClose(first, newest, w int64) int64 {
	k := max(p.period(w), p.period(first)+1)
	if k > p.period(newest)+int64(p.baseline) {
		return maxInt64
	}
	return p.periodStart(k + 1)
}

// counts returns the matching events of st in period k and in the
// baseline periods before it.
func (p *plan) counts(st *subjectState, k int64) (count, base float64) {
	for i := range st.records {
		switch j := p.period(st.records[i].at); {
		case j == k:
			count += st.records[i].points
		case j < k && j >= k-int64(p.baseline):
			base += st.records[i].points
		}
	}
	return count, base
}

// fireCloses decides the periods of st that closed since the last timer
// pass, up to w, for a change's fall, and queues its next close.
func (p *program) fireCloses(st *subjectState, w int64, out []schema.Alert) []schema.Alert {
	first, newest := st.records[0].at, st.newestAt()
	from := max(p.period(p.e.passW), p.period(first)+1)
	to := min(p.period(w)-1, p.period(newest)+int64(p.baseline))
	for k := from; k <= to; k++ {
		count, base := p.counts(st, k)
		avg := base / float64(p.baseline)
		if avg == 0 || count > p.fall*avg*(1+levelTolerance) {
			continue
		}
		t := time.Unix(0, p.periodStart(k+1)).UTC()
		if st.stateMore != nil && slices.ContainsFunc(st.alerts, t.Equal) {
			continue // decided by an earlier pass over the same close
		}
		if st.cooling(t.Add(-p.cooldown), t) {
			continue
		}
		st.recordAlert(t)
		p.marks.mark(st.subject)
		out = append(out, p.fallAlert(st, int(count), count/avg, t))
	}
	if at := p.nextClose(first, newest, w); at != maxInt64 {
		p.timers.push(expiryEntry{at, st})
		p.e.nextSweep = min(p.e.nextSweep, at)
	}
	return out
}

// fallAlert builds the alert of a period of st that closed at t with
// count events, ratio times the baseline's average. Its event is st's
// newest; its id names the close too, as a subject can fall period
// after period with no new event.
func (p *program) fallAlert(st *subjectState, count int, ratio float64, t time.Time) schema.Alert {
	s := p.sig
	ev := st.records[len(st.records)-1].ev
	account := ""
	if isAccount(st.subject) {
		account = st.subject[len("account:"):]
	}
	shown := account
	if shown == "" {
		shown = ev.CustomerID
	}
	lifecycle := ""
	if s.Audience != AudienceAny {
		lifecycle = s.Audience
	}
	evidence := []schema.Evidence{*ev}
	data := MessageData{
		Signal: s.Name, SignalID: s.ID, Customer: ev.CustomerID, Account: shown, AccountName: shown,
		Subject: st.subject, Count: count, People: 1, Score: ratio, Priority: s.Priority, Evidence: evidence,
	}
	return schema.Alert{
		ID:            schema.AlertID(s.ID, s.Version, st.subject, ev.EventID+"@"+strconv.FormatInt(t.UnixNano(), 10)),
		SignalID:      s.ID,
		SignalVersion: s.Version,
		SignalName:    s.Name,
		SignalOwner:   s.Owner,
		Subject:       st.subject,
		CustomerID:    ev.CustomerID,
		AccountID:     account,
		Lifecycle:     lifecycle,
		Priority:      s.Priority,
		Message:       p.message(&data),
		Count:         count,
		EventID:       ev.EventID,
		Time:          t,
		Evidence:      evidence,
	}
}

// change counts the event of x, r being its record, in its period, and
// fires when the period's count has risen to rise times the average of
// the baseline periods before it.
func (p *program) change(x *evalCtx, st *subjectState, r record) (schema.Alert, bool) {
	t := r.ev.Time
	k := p.period(r.at)
	// The period's record, if it has one: records are in time order, so
	// it is among the last ones when the event is not late.
	at := -1
	for i := len(st.records) - 1; i >= 0; i-- {
		if j := p.period(st.records[i].at); j == k {
			at = i
			break
		} else if j < k {
			break
		}
	}
	if at >= 0 {
		st.records[at].points++
	} else {
		st.insert(r, p.plan)
	}
	st.prune(p.plan, x.watermark)
	if p.fall > 0 {
		// A fall is decided when a period closes, not on an event. Only a
		// new period's record can move the next close; the state's queue
		// entry stands otherwise.
		if at < 0 {
			if next := p.nextClose(st.records[0].at, st.newestAt(), x.watermark); next != maxInt64 {
				p.timers.push(expiryEntry{next, st})
				p.e.nextSweep = min(p.e.nextSweep, next)
			}
		}
		return schema.Alert{}, false
	}

	count, base := p.counts(st, k)
	avg := base / float64(p.baseline)
	if avg == 0 || count < float64(p.count) || count < p.rise*avg*(1-levelTolerance) {
		return schema.Alert{}, false
	}
	if st.cooling(t.Add(-p.cooldown), t) {
		return schema.Alert{}, false
	}
	st.recordAlert(t)
	return p.alert(x, st.subject, []schema.Evidence{*x.evidence()}, int(count), 1, count/avg), true
}
