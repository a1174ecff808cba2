package detector

import (
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

	var count, base float64
	for i := range st.records {
		switch j := p.period(st.records[i].at); {
		case j == k:
			count += st.records[i].points
		case j < k && j >= k-int64(p.baseline):
			base += st.records[i].points
		}
	}
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
