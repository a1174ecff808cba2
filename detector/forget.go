package detector

import "strings"

// Forget erases a person from the engine, for a right-to-erasure request:
// the state of their customer subject, the identity links that point to
// them (and the state of those anonymous ids), and the whole state of every
// other subject (an account, for scope account) that kept one of their
// events. Dropping those shared states rather than picking the person's
// events out of them is deliberate: windows, distinct counts, people counts
// and folded scores are derived from every kept event, and none of them may
// still carry a trace of the person. It costs the account its current
// windows for those signals. Recent event ids are opaque and kept. Forget
// returns how many (signal, subject) states it dropped.
func (e *Engine) Forget(customerID string) int {
	if customerID == "" {
		return 0
	}
	keys := map[string]bool{customerID: true}
	// Anonymous ids linked to the person are the person too.
	kept := e.links.ring[:0:0]
	n := len(e.links.ring)
	for i := range n {
		anon := e.links.ring[(e.links.next+i)%n]
		if k, ok := e.links.byAnon[anon]; ok && k.customer == customerID {
			keys[anon] = true
			delete(e.links.byAnon, anon)
			continue
		}
		k := e.links.byAnon[anon]
		k.slot = len(kept)
		e.links.byAnon[anon] = k
		kept = append(kept, anon)
	}
	if len(kept) != n || e.links.next != 0 {
		// The ring moved: every chunk is rewritten, and those past its
		// end deleted.
		e.links.rows.markAll(n)
	}
	// Oldest first from index 0, as put expects when the ring is full.
	e.links.ring, e.links.next = kept, 0

	if e.tier.rows.len() > 0 {
		e.thawMatching(keys)
	}
	dropped := 0
	for _, p := range e.programs {
		for subject, st := range p.states {
			if id, ok := strings.CutPrefix(subject, "customer:"); ok && keys[id] {
				p.drop(st)
				dropped++
				continue
			}
			for i := range st.records {
				if keys[st.records[i].ev.CustomerID] {
					p.drop(st)
					dropped++
					break
				}
			}
		}
	}
	return dropped
}

// LinkedTo returns the anonymous ids the engine links to customerID, in
// the order it learnt them: for an erasure to reach what was stored
// under them elsewhere.
func (e *Engine) LinkedTo(customerID string) []string {
	var out []string
	n := len(e.links.ring)
	for i := range n {
		anon := e.links.ring[(e.links.next+i)%n]
		if k, ok := e.links.byAnon[anon]; ok && k.customer == customerID && customerID != "" {
			out = append(out, anon)
		}
	}
	return out
}
