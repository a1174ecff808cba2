package detector

import (
	"hash/maphash"

	"github.com/dowserhq/dowser/schema"
)

// recentIDs remembers the last MaxRecentEvents distinct event ids, oldest
// forgotten first. It is an open-addressing hash set over a ring rather
// than a Go map: every event looks an id up, adds it and evicts another,
// and a map's string hashing, growth and tombstones cost more than the
// rest of an irrelevant event's evaluation.
type recentIDs struct {
	ring  []string // in arrival order, from next on
	tags  []uint32 // the low 32 bits of ring's ids' hashes
	next  int
	limit int // MaxRecentEvents; lowered by tests
	seed  maphash.Seed
	// table holds, for each id, the low 32 bits of its hash (which also
	// give its home slot) above its ring index + 1, at its home slot or
	// the next free one after it (linear probing); 0 is free. A probe
	// compares hashes without touching the ring, which it reads only to
	// confirm a match. Its length is a power of two at least twice the
	// ring's.
	table []uint64
	// rows marks the ring's chunks changed since the last checkpoint.
	rows chunkMarks
}

func recentEntry(h uint32, k int) uint64 { return uint64(h)<<32 | uint64(k+1) }

// seen reports whether id is remembered, and remembers it if not; h is
// id's hash with the engine's seed. The empty id is never remembered.
func (r *recentIDs) seen(id string) (seen bool, h uint64) {
	if id == "" {
		return false, 0
	}
	h = maphash.String(r.seed, id)
	tag := uint64(uint32(h)) << 32
	mask := uint32(len(r.table) - 1)
	if len(r.table) > 0 {
		for i := uint32(h) & mask; r.table[i] != 0; i = (i + 1) & mask {
			if en := r.table[i]; en&^0xffffffff == tag && r.ring[uint32(en)-1] == id {
				return true, h
			}
		}
	}
	if len(r.ring) < r.limit {
		r.ring = append(r.ring, id)
		r.tags = append(r.tags, uint32(h))
		r.rows.mark(len(r.ring) - 1)
		if 2*len(r.ring) > len(r.table) {
			r.rebuild()
		} else {
			r.place(recentEntry(uint32(h), len(r.ring)-1))
		}
		return false, h
	}
	r.remove(r.next)
	r.ring[r.next], r.tags[r.next] = id, uint32(h)
	r.rows.mark(r.next)
	r.place(recentEntry(uint32(h), r.next))
	r.next = (r.next + 1) % r.limit
	return false, h
}

// place puts entry en in the table.
func (r *recentIDs) place(en uint64) {
	mask := uint32(len(r.table) - 1)
	i := uint32(en>>32) & mask
	for r.table[i] != 0 {
		i = (i + 1) & mask
	}
	r.table[i] = en
}

// remove takes ring index k out of the table, shifting back the entries
// after it that probed past its slot, so that lookups never need
// tombstones.
func (r *recentIDs) remove(k int) {
	mask := uint32(len(r.table) - 1)
	i := r.tags[k] & mask
	for uint32(r.table[i]) != uint32(k+1) {
		i = (i + 1) & mask
	}
	for j := i; ; {
		j = (j + 1) & mask
		if r.table[j] == 0 {
			break
		}
		home := uint32(r.table[j]>>32) & mask
		// Entry j may fill the hole at i unless its home lies cyclically
		// in (i, j].
		if (i < j && i < home && home <= j) || (i > j && (home > i || home <= j)) {
			continue
		}
		r.table[i] = r.table[j]
		i = j
	}
	r.table[i] = 0
}

// rebuild sizes the table for the ring (and the ring's growth up to
// limit) and places every id again, hashing those without a tag (a ring
// restored from a snapshot).
func (r *recentIDs) rebuild() {
	n := 1024
	for n < 2*len(r.ring) {
		n *= 2
	}
	// Doubling ahead while the ring grows; never past what limit needs.
	if len(r.ring) < r.limit {
		for n < 4*len(r.ring) && n < 2*r.limit {
			n *= 2
		}
	}
	for k := len(r.tags); k < len(r.ring); k++ {
		r.tags = append(r.tags, uint32(maphash.String(r.seed, r.ring[k])))
	}
	r.table = make([]uint64, n)
	for k, tag := range r.tags {
		r.place(recentEntry(tag, k))
	}
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
	byAnon map[string]slotLink
	ring   []string // anonymous ids in the order learnt, from next on
	next   int
	limit  int // MaxIdentityLinks; lowered by tests
	// rows marks the ring's chunks changed since the last checkpoint.
	rows chunkMarks
}

// slotLink is a link and its anonymous id's index in the ring, so that a
// changed link marks its chunk without a search.
type slotLink struct {
	link
	slot int
}

func (l *identityLinks) get(anon string) (link, bool) {
	k, ok := l.byAnon[anon]
	return k.link, ok
}

// put sets the link of anon; a new anonymous id may evict the oldest.
func (l *identityLinks) put(anon string, k link) {
	if l.byAnon == nil {
		l.byAnon = make(map[string]slotLink)
	}
	old, ok := l.byAnon[anon]
	slot := old.slot
	if !ok {
		if len(l.ring) < l.limit {
			slot = len(l.ring)
			l.ring = append(l.ring, anon)
		} else {
			slot = l.next
			delete(l.byAnon, l.ring[l.next])
			l.ring[l.next] = anon
			l.next = (l.next + 1) % l.limit
		}
	}
	l.byAnon[anon] = slotLink{link: k, slot: slot}
	l.rows.mark(slot)
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
	if e.tier.rows.len() > 0 {
		e.thawKey([]byte(src))
		e.thawKey([]byte("customer:" + k.customer))
		if k.account != "" {
			e.thawKey([]byte("account:" + k.account))
		}
	}
	for _, p := range e.programs {
		dst := "customer:" + k.customer
		if p.sig.Scope == ScopeAccount && k.account != "" {
			dst = "account:" + k.account
		}
		d := p.states[dst]
		if d != nil {
			p.marks.mark(d.subject)
		}
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
		p.marks.mark(st.subject)
		if p.expired(st, e.watermark) {
			p.drop(st)
			continue
		}
		delete(p.states, src)
		st.relabel(anon, k.customer, p.distinct.kind == fieldCustomerID)
		if d != nil {
			d.absorb(st, p.plan, e.watermark)
			*st = subjectState{} // as drop: its queue entry is stale
			p.schedule(d)
			continue
		}
		st.subject = dst
		p.states[dst] = st
		p.marks.mark(dst)
	}
}
