package demo

import (
	"slices"
	"strings"
	"time"

	"github.com/dowserhq/dowser/schema"
)

type phaseKind int

const (
	kindCommittee phaseKind = iota
	kindEvaluation
	kindWebinar
	kindGrowth
	kindChurn
	phaseKinds
)

// phaseWeights is how often each kind of phase is drawn, in percent.
var phaseWeights = [phaseKinds]int{25, 20, 30, 12, 13}

func (t *Traffic) kind() phaseKind {
	r := t.rng.IntN(100)
	for k, w := range phaseWeights {
		if r < w {
			return phaseKind(k)
		}
		r -= w
	}
	return kindWebinar
}

// phase plans a buying phase starting at at: of kind k when it finds a
// subject for it, else of the next kind that does. A webinar always does.
func (t *Traffic) phase(at time.Time, k phaseKind) {
	plans := [phaseKinds]func(time.Time) bool{t.committee, t.evaluation, t.webinar, t.growth, t.churn}
	for i := range phaseKinds {
		if plans[(k+i)%phaseKinds](at) {
			return
		}
	}
}

// behaviour is what a phase shows one of the pack's account signals: the
// key of its subjects in t.hot, how many accounts can show it, and the
// signal's cooldown.
type behaviour struct {
	key      string
	accounts int
	cooldown time.Duration
}

var (
	surge   = behaviour{"surge", len(committees), 7 * day}     // account-surge
	pricing = behaviour{"pricing", len(prospects), 3 * day}    // pricing-research
	compare = behaviour{"compare", len(prospects), 7 * day}    // competitor-comparison
	guides  = behaviour{"guides", len(accountIDs), 7 * day}    // integration-docs
	upsell  = behaviour{"upsell", len(customers), 14 * day}    // upsell-signal
	churn   = behaviour{"churn", len(customers), 7 * day}      // churn-risk
	asked   = behaviour{"nofollow", len(accountIDs), 14 * day} // webinar-no-follow-up, per person
	signup  = behaviour{"webinar", len(accountIDs), 2 * day}   // webinar-then-pricing, per person
)

// budget is a token bucket per behaviour. An account can show a behaviour
// once per cooldown, so the supply is finite: a third of the accounts may
// show it at once (the first hours of a demo are busy), the other two
// thirds spread over the cooldown. So the signals of accounts keep firing,
// a few times an hour each, for as long as the traffic runs, instead of
// all at first and then not for days.
type budget struct {
	tokens float64
	at     time.Time
}

// allow reports whether behaviour b may be shown again at at.
func (t *Traffic) allow(b behaviour, at time.Time) bool {
	return t.bucket(b, at).tokens >= 1
}

// spend takes a token of b (possibly going below zero).
func (t *Traffic) spend(b behaviour, at time.Time) { t.bucket(b, at).tokens-- }

func (t *Traffic) bucket(b behaviour, at time.Time) *budget {
	if t.budgets == nil {
		t.budgets = map[string]*budget{}
	}
	burst := float64(b.accounts) / 3
	bk := t.budgets[b.key]
	if bk == nil {
		bk = &budget{tokens: burst, at: at}
		t.budgets[b.key] = bk
	}
	if at.After(bk.at) {
		rate := (float64(b.accounts) - burst) / float64(b.cooldown)
		bk.tokens = min(burst, bk.tokens+rate*float64(at.Sub(bk.at)))
		bk.at = at
	}
	return bk
}

// cooling reports whether subject showed b within its cooldown (and a
// margin: the alerts of a phase come up to a few minutes after it starts).
func (t *Traffic) cooling(b behaviour, subject string, at time.Time) bool {
	last, ok := t.hot[b.key+"/"+subject]
	return ok && at.Sub(last) <= b.cooldown+cooldownMargin
}

// pick draws up to 64 of n candidates and returns the first whose
// behaviour b is not cooling down; false when it found none.
func (t *Traffic) pick(n int, subject func(int) string, b behaviour, at time.Time) (int, bool) {
	for range 64 {
		c := t.rng.IntN(n)
		if !t.cooling(b, subject(c), at) {
			return c, true
		}
	}
	return 0, false
}

// script plans the events of one phase, one after another.
type script struct {
	t    *Traffic
	at   time.Time
	acct string
	// What the phase showed of the account, to remember in t.hot.
	pricing, compare int
	guides           map[string]bool
}

func (t *Traffic) script(at time.Time, acct int) *script {
	return &script{t: t, at: at, acct: accountIDs[acct], guides: map[string]bool{}}
}

func (s *script) wait(lo, hi time.Duration) { s.at = s.at.Add(s.t.between(lo, hi)) }

func (s *script) add(ev schema.Event) {
	t := s.t
	i, _ := slices.BinarySearchFunc(t.planned, s.at, func(p plannedEvent, at time.Time) int {
		if p.at.After(at) {
			return 1
		}
		return -1 // equal times: after the ones planned before
	})
	t.planned = slices.Insert(t.planned, i, plannedEvent{at: s.at, ev: ev})
}

func (s *script) view(c schema.Customer, p page) {
	switch {
	case p == pricingPage:
		s.pricing++
	case p == comparePage:
		s.compare++
	case strings.HasPrefix(p.path, "/docs/integrations/"):
		s.guides[p.path] = true
	}
	s.add(pageView(c, p))
}

// remember notes in t.hot, and in the budgets, what the phase starting at
// start made the account's signals see.
func (s *script) remember(start time.Time, shown ...behaviour) {
	if s.pricing >= 3 {
		shown = append(shown, pricing)
	}
	if s.compare >= 2 {
		shown = append(shown, compare)
	}
	if len(s.guides) >= 3 {
		shown = append(shown, guides)
	}
	for _, b := range shown {
		s.t.hot[b.key+"/"+s.acct] = start
		s.t.spend(b, start)
	}
}

// researchPages returns pricing, comparison and integration pages (at
// least `least` in all) in random order.
func (t *Traffic) researchPages(pricing, compare, guides, least int) []page {
	var pages []page
	for range pricing {
		pages = append(pages, pricingPage)
	}
	for range compare {
		pages = append(pages, comparePage)
	}
	for _, g := range t.rng.Perm(len(integrationPages))[:guides] {
		pages = append(pages, guidePage(integrationPages[g]))
	}
	for len(pages) < least {
		pages = append(pages, pricingPage)
	}
	t.rng.Shuffle(len(pages), func(i, j int) { pages[i], pages[j] = pages[j], pages[i] })
	return pages
}

// committee: 3 to 5 people of a prospect account research within a minute
// or two.
func (t *Traffic) committee(at time.Time) bool {
	if !t.allow(surge, at) {
		return false
	}
	c, ok := t.pick(len(committees), func(c int) string { return accountIDs[committees[c]] }, surge, at)
	if !ok {
		return false
	}
	a := committees[c]
	n := peopleCount(a)
	people := t.rng.Perm(n)
	k := 3 + t.rng.IntN(min(5, n)-2)
	who := func(v int) schema.Customer {
		if v < k {
			return personOf(a, people[v]+1)
		}
		return personOf(a, people[t.rng.IntN(k)]+1)
	}
	s := t.script(at, a)
	for v, p := range t.researchPages(1+t.rng.IntN(4), t.rng.IntN(4), t.rng.IntN(5), 5) {
		s.view(who(v), p)
		s.wait(3*time.Second, 10*time.Second)
	}
	if me := who(t.rng.IntN(k)); t.chance(35) && !t.cooling(signup, me.ID, at) {
		// One of them signs up for the webinar and goes back to pricing.
		s.at = at.Add(t.between(10*time.Second, 40*time.Second))
		s.add(WebinarEvent(schema.TypeWebinarSignup, me))
		s.wait(15*time.Second, 45*time.Second)
		s.view(me, pricingPage)
		t.hot[signup.key+"/"+me.ID] = at
	}
	if k < n && t.chance(30) {
		// A colleague the site does not know yet reads along (the tracker
		// knows the company from the network), then downloads the buyer's
		// guide and so identifies.
		anon := schema.Customer{AnonymousID: t.anonID(), AccountID: accountIDs[a]}
		s.at = at.Add(t.between(5*time.Second, 30*time.Second))
		for _, p := range t.researchPages(0, t.rng.IntN(2), 1, 1) {
			s.view(anon, p)
			s.wait(5*time.Second, 15*time.Second)
		}
		me := personOf(a, people[k]+1)
		me.AnonymousID = anon.AnonymousID
		s.view(anon, buyersGuidePage)
		s.wait(10*time.Second, 30*time.Second)
		s.add(formSubmit(me, "buyers-guide", buyersGuidePage))
	}
	s.remember(at, surge)
	return true
}

// evaluation: one or two people of a prospect account dig into pricing,
// the comparison or the integration guides.
func (t *Traffic) evaluation(at time.Time) bool {
	focus := []behaviour{pricing, compare, guides}
	first := t.rng.IntN(len(focus))
	var b behaviour
	for i := range focus {
		if b = focus[(first+i)%len(focus)]; t.allow(b, at) {
			break
		}
		if i == len(focus)-1 {
			return false
		}
	}
	c, ok := t.pick(len(prospects), func(c int) string { return accountIDs[prospects[c]] }, b, at)
	if !ok {
		return false
	}
	a := prospects[c]
	n := peopleCount(a)
	person := [2]int{1 + t.rng.IntN(n), 1 + t.rng.IntN(n)}
	var pages []page
	switch b {
	case pricing:
		pages = t.researchPages(3+t.rng.IntN(2), t.rng.IntN(2), 0, 0)
	case compare:
		pages = t.researchPages(t.rng.IntN(2), 2+t.rng.IntN(2), 0, 0)
	default:
		pages = t.researchPages(t.rng.IntN(2), 0, 3+t.rng.IntN(2), 0)
	}
	s := t.script(at, a)
	for v, p := range pages {
		s.view(personOf(a, person[v%2]), p)
		s.wait(5*time.Second, 20*time.Second)
	}
	s.remember(at)
	return true
}

// webinar: a person signs up for the webinar (a prospect then looks at
// pricing); most attend, and half of those then ask sales for a call. An
// attendee whose webinar-no-follow-up would be cooling down asks for the
// call. A quarter of the signups, and all once the known people are
// cooling down, are people new to their account (webinars bring leads),
// so this phase always finds someone.
func (t *Traffic) webinar(at time.Time) bool {
	prospect := t.rng.IntN(4) != 0
	ppl := customerPeople
	if prospect {
		ppl = prospectPeople
	}
	c, ok := t.pick(len(ppl), func(c int) string { return personOf(ppl[c].acct, ppl[c].j).ID }, signup, at)
	p := ppl[c]
	lead := !ok || t.chance(25)
	if lead {
		t.leads++
		p.j = 8 + t.leads // beyond the known people of every account
	}
	me := personOf(p.acct, p.j)
	remember := func(b behaviour) {
		if !lead { // a lead is never picked again
			t.hot[b.key+"/"+me.ID] = at
		}
	}
	s := t.script(at, p.acct)
	if prospect && t.chance(40) {
		// Browses anonymously (the tracker knows the company), signs up
		// with the site's form, which links the visitor to the person, and
		// comes back to pricing without logging in.
		anon := schema.Customer{AnonymousID: t.anonID(), AccountID: me.AccountID}
		s.view(anon, []page{comparePage, noisePages[1], noisePages[3]}[t.rng.IntN(3)])
		s.wait(10*time.Second, 30*time.Second)
		linked := me
		linked.AnonymousID = anon.AnonymousID
		s.add(WebinarEvent(schema.TypeWebinarSignup, linked))
		s.wait(10*time.Second, 40*time.Second)
		s.view(anon, pricingPage)
	} else {
		s.add(WebinarEvent(schema.TypeWebinarSignup, me))
		if prospect && t.chance(80) {
			s.wait(10*time.Second, 40*time.Second)
			s.view(me, pricingPage)
		}
	}
	remember(signup)
	if !t.chance(70) {
		return true // a no-show
	}
	s.wait(30*time.Second, 90*time.Second)
	s.add(WebinarEvent(schema.TypeWebinarAttended, me))
	s.wait(10*time.Second, 40*time.Second)
	if t.chance(50) || t.cooling(asked, me.ID, at) {
		s.add(formSubmit(me, "contact-sales", page{"/contact", "Talk to sales", ""}))
		s.wait(10*time.Second, 40*time.Second)
		s.view(me, pricingPage) // after asking for the call: no alert
		return true
	}
	s.view(me, []page{pricingPage, noisePages[4], guidePage(integrationPages[t.rng.IntN(len(integrationPages))])}[t.rng.IntN(3)])
	remember(asked)
	return true
}

// growth: a customer asks support about growing (upsell-signal), or reads
// up on integrations (integration-docs), or both.
func (t *Traffic) growth(at time.Time) bool {
	email := t.chance(70) && t.allow(upsell, at)
	reads := !email || t.chance(50)
	if reads && !t.allow(guides, at) {
		if !email {
			return false
		}
		reads = false
	}
	b := upsell
	if !email {
		b = guides
	}
	c, ok := t.pick(len(customers), func(c int) string { return accountIDs[customers[c]] }, b, at)
	if !ok {
		return false
	}
	a := customers[c]
	n := peopleCount(a)
	s := t.script(at, a)
	if reads {
		me := personOf(a, 1+t.rng.IntN(n))
		for _, p := range t.researchPages(t.rng.IntN(2), 0, 3+t.rng.IntN(2), 0) {
			s.view(me, p)
			s.wait(5*time.Second, 20*time.Second)
		}
	}
	if email {
		s.add(supportEmail(personOf(a, 1+t.rng.IntN(n)), upsellSubjects[t.rng.IntN(len(upsellSubjects))]))
		s.remember(at, upsell)
		return true
	}
	s.remember(at)
	return true
}

// churn: a customer writes about leaving, or keeps reporting outages.
func (t *Traffic) churn(at time.Time) bool {
	if !t.allow(churn, at) {
		return false
	}
	c, ok := t.pick(len(customers), func(c int) string { return accountIDs[customers[c]] }, churn, at)
	if !ok {
		return false
	}
	a := customers[c]
	n := peopleCount(a)
	s := t.script(at, a)
	if t.chance(55) {
		me := personOf(a, 1+t.rng.IntN(n))
		if t.chance(50) {
			s.view(me, comparePage)
			s.wait(20*time.Second, 60*time.Second)
		}
		s.add(supportEmail(me, cancelSubjects[t.rng.IntN(len(cancelSubjects))]))
	} else {
		for _, i := range t.rng.Perm(len(outageSubjects))[:3] {
			s.add(supportEmail(personOf(a, 1+t.rng.IntN(n)), outageSubjects[i]))
			s.wait(20*time.Second, 90*time.Second)
		}
	}
	s.remember(at, churn)
	return true
}
