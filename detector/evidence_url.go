package detector

import "github.com/dowserhq/dowser/schema"

// SetEvidenceURL makes clean rewrite the URL of every evidence record the
// engine keeps from now on, and of those it already keeps (restored from
// a snapshot, say): evidence is what alerts carry to storage, the alerts
// topic, websockets and message templates, so a URL cleaned here (of its
// query string, say) reaches none of them. Matching still sees the
// event's own URL. nil keeps URLs as they are. clean must be pure and
// idempotent: a cold subject's evidence is cleaned when it is thawed,
// which after a restore may clean a URL cleaned before.
func (e *Engine) SetEvidenceURL(clean func(string) string) {
	e.x.evidenceURL = clean
	if clean == nil {
		return
	}
	if e.tier.rows.len() > 0 {
		// Cold rows are cleaned when thawed.
		e.tier.cleaners = append(e.tier.cleaners, clean)
	}
	// Records share one evidence per event across signals: keep sharing
	// the cleaned copy; never change a record's evidence in place.
	copies := map[*schema.Evidence]*schema.Evidence{}
	for _, p := range e.programs {
		for _, st := range p.states {
			for i := range st.records {
				r := &st.records[i]
				c, done := copies[r.ev]
				if !done {
					c = r.ev
					if u := clean(r.ev.URL); u != r.ev.URL {
						ev := *r.ev
						ev.URL = u
						c = &ev
					}
					copies[r.ev] = c
				}
				if r.ev != c {
					p.marks.mark(st.subject)
				}
				r.ev = c
			}
		}
	}
}
