package detector

import (
	"github.com/dowserhq/dowser/schema"
)

// recentIDs remembers the last MaxRecentEvents distinct event ids, oldest
// forgotten first.
type recentIDs struct {
	set   map[string]struct{}
	ring  []string // in arrival order, from next on
	next  int
	limit int // MaxRecentEvents; lowered by tests
}

// seen reports whether id is remembered, and remembers it if not. The
// empty id is never remembered.
func (r *recentIDs) seen(id string) bool {
	if id == "" {
		return false
	}
	if _, ok := r.set[id]; ok {
		return true
	}
	if r.set == nil {
		r.set = make(map[string]struct{})
	}
	if len(r.ring) < r.limit {
		r.ring = append(r.ring, id)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = id
		r.next = (r.next + 1) % r.limit
	}
	r.set[id] = struct{}{}
	return false
}

// link is what an anonymous id is known to belong to.
type link struct {
	customer  string
	account   string
	lifecycle string
}

// identityLinks maps anonymous ids to customers, at most MaxIdentityLinks
// of them, forgetting the one learnt longest ago first.
type identityLinks struct {
	byAnon map[string]link
	ring   []string // anonymous ids in the order learnt, from next on
	next   int
	limit  int // MaxIdentityLinks; lowered by tests
}

func (l *identityLinks) get(anon string) (link, bool) {
	k, ok := l.byAnon[anon]
	return k, ok
}

// put sets the link of anon; a new anonymous id may evict the oldest.
func (l *identityLinks) put(anon string, k link) {
	if l.byAnon == nil {
		l.byAnon = make(map[string]link)
	}
	if _, ok := l.byAnon[anon]; !ok {
		if len(l.ring) < l.limit {
			l.ring = append(l.ring, anon)
		} else {
			delete(l.byAnon, l.ring[l.next])
			l.ring[l.next] = anon
			l.next = (l.next + 1) % l.limit
		}
	}
	l.byAnon[anon] = k
}

// identify learns the link an event carries, merging the anonymous
// history when the link is new, and returns the link that resolves the
// event's identity (none when the event has a customer id).
func (e *Engine) identify(ev *schema.Event) link {
	c := ev.Customer
	if c.AnonymousID == "" {
		return link{}
	}
	if c.ID == "" {
		k, _ := e.links.get(c.AnonymousID)
		return k
	}
	if c.ID == c.AnonymousID {
		return link{}
	}
	k := link{customer: c.ID, account: c.AccountID, lifecycle: c.Lifecycle}
	old, had := e.links.get(c.AnonymousID)
	if had && old.customer == k.customer {
		if k.account == "" {
			k.account = old.account
		}
		if k.lifecycle == "" {
			k.lifecycle = old.lifecycle
		}
		if k != old {
			e.links.put(c.AnonymousID, k)
		}
		return link{}
	}
	e.links.put(c.AnonymousID, k)
	e.merge(c.AnonymousID, k)
	return link{}
}

// merge moves, for every signal, the state of subject customer:anon into
// the subject the linked customer counts as (see Engine).
func (e *Engine) merge(anon string, k link) {
	src := "customer:" + anon
	for _, p := range e.programs {
		dst := "customer:" + k.customer
		if p.sig.Scope == ScopeAccount && k.account != "" {
			dst = "account:" + k.account
		}
		d := p.states[dst]
		if d != nil && p.expired(d, e.watermark) {
			p.drop(d) // forgotten: as if absent
			d = nil
		}
		if d != nil && p.sig.Scope == ScopeAccount {
			// Anonymous events that carried the account id are already
			// in the account's state: they now count as the customer.
			d.relabel(anon, k.customer, p.distinct.kind == fieldCustomerID)
		}
		st := p.states[src]
		if st == nil {
			continue
		}
		if p.expired(st, e.watermark) {
			p.drop(st)
			continue
		}
		delete(p.states, src)
		st.relabel(anon, k.customer, p.distinct.kind == fieldCustomerID)
		if d != nil {
			d.absorb(st, p.plan)
			*st = subjectState{} // as drop: its queue entry is stale
			continue
		}
		st.subject = dst
		p.states[dst] = st
	}
}
