package demo

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// Traffic produces synthetic behaviour: mostly noise that no signal of the
// default pack takes for demand, and a buying phase starting every 20 to
// 30 seconds of event time (the first at once), each a real buying moment
// of one account or person that the pack's signals are written to catch:
//
//   - committee: 3 to 5 people of a prospect account read pricing, the
//     comparison and integration guides within a minute or two (account-
//     surge; often pricing-research, competitor-comparison, integration-
//     docs); sometimes one of them signs up for the webinar and goes to
//     pricing (webinar-then-pricing), or an anonymous colleague downloads
//     the buyer's guide, which identifies them;
//   - evaluation: one or two people of a prospect account dig into pricing,
//     the comparison or the integration guides;
//   - webinar: a person signs up for the webinar (a prospect then looks at
//     pricing, sometimes having browsed anonymously before signing up);
//     most attend, and then half ask sales for a call and half come back
//     to pricing or the docs without doing so (webinar-no-follow-up);
//   - growth: a customer asks support about seats, limits or upgrading
//     (upsell-signal) or reads the integration guides (integration-docs);
//   - churn: a customer writes about cancelling or a competitor, or reports
//     outages three times in a row (churn-risk).
//
// The pack's silence (outage-then-silence: no use for 7 days after an
// outage) and changes (usage-surge, usage-drop: a week against the four
// before) need days to weeks of event time: the traffic alone shows them
// only after days, though the outage emails of churn phases do start
// their waits. [RunTraffic] produces a back-dated [History] first, which
// makes outage-then-silence and usage-surge fire in the first minute.
//
// The pack's cooldowns are 2 to 14 days per account or person, so the
// traffic remembers (in event time) whom it gave which behaviour, gives a
// phase to a subject whose signal is not cooling down, and paces the
// behaviours of accounts (see budget) so that each keeps firing a few
// times an hour instead of all at first and then not for days; webinars
// bring people new to their account, so they never run out. Measured
// (TestDemoTrafficKeepsAlertsComing) at 20 events a second: the first
// alert within a minute, about 4 alerts a minute in the first hours, 2 to
// 3 a minute after that, for as long as it runs.
//
// The same seed and the same times give the same events. Events carry no
// lifecycle: the service takes the account's, as it does for real trackers.
type Traffic struct {
	rng *rand.Rand
	// hot remembers when the traffic last gave a subject a buying
	// behaviour, by behaviour and subject ("surge/acme",
	// "webinar/c-acme-2"). It is only looked up, never ranged over, so the
	// traffic depends on nothing but the seed and the times.
	hot map[string]time.Time

	started   bool
	nextPhase time.Time
	planned   []plannedEvent     // the phases' events, by time, then order planned
	leads     int                // people new to their account so far
	budgets   map[string]*budget // by behaviour key

	// productLines, when set, files each account's research pages
	// (pricing, comparison, integration guides) under one of that many
	// product lines ("/p07/pricing"), as a site selling several products
	// does; the benchmark's signal variants each watch one line.
	productLines int
}

// plannedEvent is an event of a phase, due at a time; it gets its id and
// time when it is produced.
type plannedEvent struct {
	at time.Time
	ev schema.Event
}

const (
	day = 24 * time.Hour
	// A phase starts every phaseEvery plus up to phaseJitter.
	phaseEvery  = 20 * time.Second
	phaseJitter = 10 * time.Second
	// While this many phase events wait (the events are produced more
	// slowly than the phases plan them), no phase starts.
	maxPlanned = 500
	// At most this many phases start between two events.
	maxPhasesAtOnce = 16
	// cooldownMargin pads a signal's cooldown when choosing a subject: the
	// alerts of a phase come up to a few minutes after it starts.
	cooldownMargin = 15 * time.Minute
	// anonymousVisitors is the size of the pool of anonymous visitors
	// reading blog posts, the home page and the like.
	anonymousVisitors = 200_000
)

// NewTraffic returns the generator of seed. With productLines more than 0
// it files every event under one of that many product lines, as
// [FileUnderProductLine] does; 0 keeps the one product the demo's signals
// watch.
func NewTraffic(seed uint64, productLines int) *Traffic {
	return &Traffic{rng: rand.New(rand.NewPCG(seed, 42)), hot: map[string]time.Time{}, productLines: productLines}
}

type page struct{ path, title, content string }

var (
	noisePages = []page{
		{"/", "Dowser: hear demand the moment it happens", ""},
		{"/blog/intent-data-is-stale", "Blog: intent data is stale by the time you read it", ""},
		{"/blog/sales-marketing-silos", "Blog: breaking the sales and marketing silo", ""},
		{"/blog/kafka-at-scale", "Blog: Kafka at scale", ""},
		{"/docs/getting-started", "Docs: getting started", ""},
		{"/careers", "Careers", ""},
		{"/about", "About us", ""},
		{"/customers", "Customer stories", ""},
	}
	pricingPage      = page{"/pricing", "Pricing", "pricing-page"}
	comparePage      = page{"/compare", "Dowser vs. the others", "compare-page"}
	buyersGuidePage  = page{"/resources/buyers-guide", "The buyer's guide to intent data", "buyers-guide"}
	integrationPages = []string{"salesforce", "hubspot", "segment", "snowflake", "slack", "zendesk", "bigquery", "marketo"}

	// Support subjects: what no signal takes for churn or growth, what the
	// upsell signal catches, and what the churn signal scores (10 points
	// for cancelling or a competitor, 4 for an outage).
	neutralSubjects = []string{
		"Question about our invoice", "SSO setup help", "How do I export alerts to CSV?",
		"Can you resend the onboarding slides?", "Webhook signature question", "Renaming our workspace",
	}
	upsellSubjects = []string{
		"How do I add more seats?", "We hit the event limit again", "Can we upgrade mid-term?",
		"Quote for the enterprise plan", "Need to add users for the EMEA team", "Raising our API quota",
	}
	cancelSubjects = []string{
		"Considering moving to a competitor", "Please cancel our subscription at renewal",
		"We will not renew next year", "How do we end our contract early?", "Switching to another vendor",
	}
	outageSubjects = []string{
		"Outage this morning?", "The dashboard is down again", "Export keeps timing out",
		"Alerts not working since yesterday", "The live feed is broken",
	}
)

func guidePage(name string) page {
	return page{"/docs/integrations/" + name, "Integration: " + name, "integration-docs"}
}

// Next returns the event at event time now; successive calls must not go
// back in time.
func (t *Traffic) Next(now time.Time) schema.Event {
	if t.hot == nil {
		t.hot = map[string]time.Time{}
	}
	if !t.started {
		// The first phase is a committee's, so that the first alerts come
		// within a minute.
		t.started = true
		t.phase(now, kindCommittee)
		t.nextPhase = now.Add(t.phaseGap())
	}
	for i := 0; !now.Before(t.nextPhase); i++ {
		if i == maxPhasesAtOnce {
			// Events minutes apart (signals generate --step): skip the
			// phases there is no room for.
			t.nextPhase = now.Add(t.phaseGap())
			break
		}
		if len(t.planned) < maxPlanned {
			t.phase(t.nextPhase, t.kind())
		}
		t.nextPhase = t.nextPhase.Add(t.phaseGap())
	}
	var ev schema.Event
	if len(t.planned) > 0 && !now.Before(t.planned[0].at) {
		ev = t.planned[0].ev
		t.planned = t.planned[1:]
	} else {
		ev = t.background()
	}
	ev.ID = fmt.Sprintf("evt-%016x", t.rng.Uint64())
	ev.Time = now.UTC()
	ev.Source = "demo-traffic"
	if t.productLines > 0 {
		FileUnderProductLine(&ev, t.productLines)
	}
	return ev
}

func (t *Traffic) phaseGap() time.Duration {
	return phaseEvery + time.Duration(t.rng.Int64N(int64(phaseJitter)))
}

// between returns a random duration in [lo, hi).
func (t *Traffic) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(t.rng.Int64N(int64(hi-lo)))
}

func (t *Traffic) chance(percent int) bool { return t.rng.IntN(100) < percent }

func (t *Traffic) anonID() string { return fmt.Sprintf("ajs-%012x", t.rng.Uint64()>>16) }

// background is an event of no buying phase: mostly people reading the
// blog, the home page and the like. Pricing, the comparison and the
// integration guides get 0.5% of them, from one-off visitors, so that
// background alone never adds up to a signal.
func (t *Traffic) background() schema.Event {
	r := t.rng.IntN(1000)
	switch {
	case r < 5:
		c := schema.Customer{AnonymousID: t.anonID()}
		switch t.rng.IntN(5) {
		case 0, 1:
			return pageView(c, pricingPage)
		case 2:
			return pageView(c, comparePage)
		default:
			return pageView(c, guidePage(integrationPages[t.rng.IntN(len(integrationPages))]))
		}
	case r < 7:
		// A webinar signup from outside the accounts.
		first, last := firstNames[t.rng.IntN(len(firstNames))], lastNames[t.rng.IntN(len(lastNames))]
		return WebinarEvent(schema.TypeWebinarSignup, schema.Customer{
			ID:    fmt.Sprintf("lead-%08x", t.rng.Uint32()),
			Email: fmt.Sprintf("%s.%s@mail.example", first, last),
		})
	case r < 10:
		p := customerPeople[t.rng.IntN(len(customerPeople))]
		return supportEmail(personOf(p.acct, p.j), neutralSubjects[t.rng.IntN(len(neutralSubjects))])
	case r < 620:
		c := schema.Customer{AnonymousID: fmt.Sprintf("ajs-%06d", t.rng.IntN(anonymousVisitors))}
		return pageView(c, noisePages[t.rng.IntN(len(noisePages))])
	default:
		a := t.rng.IntN(len(accountIDs))
		return pageView(personOf(a, 1+t.rng.IntN(peopleCount(a))), noisePages[t.rng.IntN(len(noisePages))])
	}
}

func pageView(c schema.Customer, p page) schema.Event {
	ev := PageView(c, p.path, p.title)
	ev.ContentID = p.content
	return ev
}

// PageView is c's view of the page at path of the demo's [Site].
func PageView(c schema.Customer, path, title string) schema.Event {
	return schema.Event{Type: schema.TypePageView, Customer: c,
		Properties: map[string]any{"url": Site + path, "title": title}}
}

// WebinarEvent is c's signup for (typ [schema.TypeWebinarSignup]) or
// attendance of ([schema.TypeWebinarAttended]) the demo's webinar.
func WebinarEvent(typ string, c schema.Customer) schema.Event {
	return schema.Event{Type: typ, Customer: c, ContentID: "kafka-webinar",
		Properties: map[string]any{"webinar_id": "kafka-2026-12", "title": "Real-time intent with Kafka", "url": Site + "/webinars/kafka"}}
}

func supportEmail(c schema.Customer, subject string) schema.Event {
	first, _, _ := strings.Cut(c.Email, ".")
	body := fmt.Sprintf("Hi team,\n\n%s\n\nThanks,\n%s", subject, titleWords(first))
	return schema.Event{Type: schema.TypeSupportEmail, Customer: c,
		Properties: map[string]any{"subject": subject, "body": body}}
}

func formSubmit(c schema.Customer, form string, p page) schema.Event {
	return schema.Event{Type: schema.TypeFormSubmit, Customer: c, ContentID: p.content,
		Properties: map[string]any{"form": form, "url": Site + p.path, "title": p.title}}
}
