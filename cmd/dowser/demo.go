package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/dowserhq/dowser/deploy"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/ingest"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/schema"
)

// demoUser is a seeded demo login. The tokens are fixed so the README can
// name them; they are for the local demo only.
type demoUser struct {
	postgres.User
	token string
}

var demoUsers = []demoUser{
	{postgres.User{ID: "admin", Name: "Administrator", Role: postgres.RoleAdmin}, "demo-admin-token"},
	{postgres.User{ID: "rep-ana", Name: "Ana Ruiz", Role: postgres.RoleRep}, "demo-rep-ana-token"},
	{postgres.User{ID: "rep-ben", Name: "Ben Okafor", Role: postgres.RoleRep}, "demo-rep-ben-token"},
	{postgres.User{ID: "rep-cho", Name: "Cho Min-jun", Role: postgres.RoleRep}, "demo-rep-cho-token"},
	{postgres.User{ID: "mkt-jane", Name: "Jane Hollis", Role: postgres.RoleMarketer}, "demo-mkt-jane-token"},
	{postgres.User{ID: "mkt-omar", Name: "Omar Haddad", Role: postgres.RoleMarketer}, "demo-mkt-omar-token"},
}

// The demo's population. Account i is owned by demoOwner(i) and has the
// lifecycle demoLifecycle(i) (a third are customers); `dowser signals
// generate --accounts` writes the same. Account i has demoPeople(i) known
// people (1 to 8); beside them, a large pool of anonymous visitors reads
// the site. Everything is derived from the index, so the population is the
// same in every run and in every process.
const demoAccountCount = 1000

// demoNamedAccounts are the first accounts, kept from the first demo.
var demoNamedAccounts = []string{
	"acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell", "cyberdyne",
	"soylent", "massive", "aperture", "blackmesa", "oscorp", "monarch", "vandelay", "dunder", "pied-piper", "gringotts",
	"duff", "krusty", "nakatomi", "oceanic", "planet-express", "prestige", "sirius", "virtucon", "weyland", "zorg",
}

// The generated accounts are "<word>-<trade>": 40 × 30 = 1200 names.
var (
	accountWords = []string{
		"amber", "apex", "arctic", "aspen", "atlas", "birch", "bluebird", "boulder", "cedar", "cinder",
		"cobalt", "coral", "cypress", "delta", "ember", "falcon", "fern", "granite", "harbor", "hazel",
		"indigo", "iron", "juniper", "kestrel", "lumen", "maple", "meridian", "nimbus", "north", "oak",
		"onyx", "orbit", "pine", "quartz", "raven", "redwood", "sable", "summit", "tidal", "willow",
	}
	accountTrades = []string{
		"analytics", "bank", "bio", "capital", "cloud", "foods", "freight", "games", "health", "insurance",
		"labs", "logistics", "media", "metals", "mobility", "motors", "networks", "partners", "pharma", "retail",
		"robotics", "security", "software", "solar", "systems", "telecom", "textiles", "travel", "ventures", "works",
	}
	firstNames = []string{
		"ana", "ben", "chloe", "david", "elena", "farid", "grace", "hiro", "ines", "jonas", "kara", "liam",
		"maya", "noah", "olga", "pedro", "quinn", "rosa", "sam", "tara", "uma", "victor", "wen", "yusuf",
	}
	lastNames = []string{
		"adams", "bauer", "costa", "dubois", "evans", "fischer", "garcia", "hansen", "ito", "jensen", "kim", "lopez",
		"muller", "nguyen", "okafor", "patel", "rossi", "silva", "tanaka", "ueda", "varga", "walsh", "yilmaz", "zhou",
	}
)

// demoAccounts are the demo account ids, demoAccountNames their names.
var demoAccounts, demoAccountNames = makeDemoAccounts()

var demoReps = []string{"rep-ana", "rep-ben", "rep-cho"}

// The accounts by what the traffic does with them (indexes into
// demoAccounts), and their known people.
var (
	demoAccountIndex = indexDemoAccounts()
	demoProspects    = demoAccountsWhere(func(i int) bool { return demoLifecycle(i) == schema.LifecycleProspect })
	demoCommittees   = demoAccountsWhere(func(i int) bool { return demoLifecycle(i) == schema.LifecycleProspect && demoPeople(i) >= 3 })
	demoCustomers    = demoAccountsWhere(func(i int) bool { return demoLifecycle(i) == schema.LifecycleCustomer })
	demoProspectPpl  = demoPeopleOf(demoProspects)
	demoCustomerPpl  = demoPeopleOf(demoCustomers)
)

// personRef is person j (from 1) of account acct.
type personRef struct{ acct, j int }

func indexDemoAccounts() map[string]int {
	m := make(map[string]int, len(demoAccounts))
	for i, id := range demoAccounts {
		m[id] = i
	}
	return m
}

func demoAccountsWhere(ok func(int) bool) []int {
	var out []int
	for i := range demoAccounts {
		if ok(i) {
			out = append(out, i)
		}
	}
	return out
}

func demoPeopleOf(accounts []int) []personRef {
	var out []personRef
	for _, i := range accounts {
		for j := 1; j <= demoPeople(i); j++ {
			out = append(out, personRef{i, j})
		}
	}
	return out
}

func makeDemoAccounts() (ids, names []string) {
	for _, id := range demoNamedAccounts {
		ids = append(ids, id)
		names = append(names, titleWords(id))
	}
	// Stride 31 is prime to 1200: every (word, trade) pair at most once,
	// neighbours differing in both.
	n := len(accountWords) * len(accountTrades)
	for k := 0; len(ids) < demoAccountCount && k < n; k++ {
		p := k * 31 % n
		id := accountWords[p/len(accountTrades)] + "-" + accountTrades[p%len(accountTrades)]
		ids = append(ids, id)
		names = append(names, titleWords(id))
	}
	return ids, names
}

// titleWords turns "pied-piper" into "Pied Piper".
func titleWords(id string) string {
	words := strings.Split(id, "-")
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, " ")
}

func demoOwner(i int) string { return demoReps[i%len(demoReps)] }

// demoLifecycle is the rule writeDemoAccounts (signals generate) repeats.
func demoLifecycle(i int) string {
	if i%3 == 2 {
		return schema.LifecycleCustomer
	}
	return schema.LifecycleProspect
}

func hash32(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// demoPeople is how many known people account i has, 1 to 8.
func demoPeople(i int) int { return 1 + int(hash32(demoAccounts[i])%8) }

// demoPerson is person j (1 to demoPeople(i)) of account i.
func demoPerson(i, j int) schema.Customer {
	acct := demoAccounts[i]
	h := hash32(fmt.Sprintf("%s/%d", acct, j))
	first := firstNames[h%uint32(len(firstNames))]
	last := lastNames[h/uint32(len(firstNames))%uint32(len(lastNames))]
	return schema.Customer{
		ID:        fmt.Sprintf("c-%s-%d", acct, j),
		Email:     fmt.Sprintf("%s.%s@%s.example", first, last, acct),
		AccountID: acct,
	}
}

const demoSite = "https://dowser.example"

var demoContent = []postgres.Content{
	{ID: "pricing-page", Title: "Pricing", URLPrefix: demoSite + "/pricing", OwnerID: "mkt-jane"},
	{ID: "kafka-webinar", Title: "Webinar: real-time intent with Kafka", URLPrefix: demoSite + "/webinars/kafka", OwnerID: "mkt-jane"},
	{ID: "integration-docs", Title: "Integration guides", URLPrefix: demoSite + "/docs/integrations/", OwnerID: "mkt-omar"},
	{ID: "compare-page", Title: "Dowser vs. the others", URLPrefix: demoSite + "/compare", OwnerID: "mkt-jane"},
	{ID: "buyers-guide", Title: "The buyer's guide to intent data", URLPrefix: demoSite + "/resources/buyers-guide", OwnerID: "mkt-omar"},
}

// seedDemo writes the demo users, accounts, content and the default signal
// pack, and deletes the signals an earlier demo seeded that the pack no
// longer has (those a person saved since are theirs and stay). It is
// idempotent: a signal whose text is unchanged keeps its version.
func seedDemo(ctx context.Context, store *postgres.Store, log *slog.Logger) error {
	start := time.Now()
	for _, u := range demoUsers {
		if err := store.PutUser(ctx, u.User, u.token); err != nil {
			return err
		}
	}
	for i, id := range demoAccounts {
		a := postgres.Account{ID: id, Name: demoAccountNames[i], OwnerID: demoOwner(i), Lifecycle: demoLifecycle(i)}
		if err := store.PutAccount(ctx, a); err != nil {
			return err
		}
	}
	for _, c := range demoContent {
		if err := store.PutContent(ctx, c); err != nil {
			return err
		}
	}
	files, err := fs.Glob(deploy.Signals, "signals/*.yaml")
	if err != nil {
		return fmt.Errorf("listing the signal pack: %w", err)
	}
	pack := map[string]bool{}
	for _, f := range files {
		src, err := fs.ReadFile(deploy.Signals, f)
		if err != nil {
			return fmt.Errorf("reading %s: %w", f, err)
		}
		sig, err := detector.ParseSignal(src)
		if err != nil {
			return fmt.Errorf("signal pack %s: %w", f, err)
		}
		pack[sig.ID] = true
		if cur, err := store.GetSignal(ctx, sig.ID); err == nil && cur.Source == string(src) {
			continue
		}
		doc, err := json.Marshal(sig)
		if err != nil {
			return fmt.Errorf("encoding %s: %w", f, err)
		}
		if _, err := store.SaveSignal(ctx, sig.ID, doc, string(src), "demo", true); err != nil {
			return err
		}
	}
	stored, err := store.ListSignals(ctx)
	if err != nil {
		return err
	}
	var removed []string
	for _, s := range stored {
		if s.UpdatedBy == "demo" && !pack[s.ID] {
			if err := store.DeleteSignal(ctx, s.ID, "demo"); err != nil {
				return err
			}
			removed = append(removed, s.ID)
		}
	}
	log.Info("demo data seeded", "users", len(demoUsers), "accounts", len(demoAccounts), "content", len(demoContent),
		"signals", len(files), "signals_removed", removed, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

func printDemoBanner(w io.Writer, httpAddr string) {
	fmt.Fprintf(w, "\n  Dowser demo is running.\n\n  Alert panel:  http://%s/\n\n  Log in with one of these tokens:\n", httpAddr)
	for _, u := range demoUsers {
		fmt.Fprintf(w, "    %-22s %-9s %s\n", u.token, u.Role, u.Name)
	}
	fmt.Fprintf(w, "\n  Alerts start arriving within a minute. Ctrl-C stops the demo.\n\n")
}

// traffic produces synthetic behaviour: mostly noise that no signal of the
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
type traffic struct {
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

// newTraffic returns a generator; `dowser signals generate` builds the
// same literal.
func newTraffic(seed uint64) *traffic {
	return &traffic{rng: rand.New(rand.NewPCG(seed, 42)), hot: map[string]time.Time{}}
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

func (t *traffic) next(now time.Time) schema.Event {
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
		t.fileUnderProductLine(&ev)
	}
	return ev
}

// researchPaths are the path prefixes fileUnderProductLine moves.
var researchPaths = []string{"/pricing", "/compare", "/docs/integrations/", "/webinars/"}

// fileUnderProductLine files an event under the product line of its
// account (else its customer): a research page view or webinar moves to
// the line's path, a support email goes to the line's support queue (its
// content id).
func (t *traffic) fileUnderProductLine(ev *schema.Event) {
	who := ev.Customer.AccountID
	if who == "" {
		who = ev.Customer.Key()
	}
	line := productLinePrefix(int(hash32(who) % uint32(t.productLines)))
	if ev.Type == schema.TypeSupportEmail {
		ev.ContentID = "support-" + line[1:]
		return
	}
	path, ok := strings.CutPrefix(ev.Prop("url"), demoSite)
	if !ok || !slices.ContainsFunc(researchPaths, func(p string) bool { return strings.HasPrefix(path, p) }) {
		return
	}
	props := maps.Clone(ev.Properties)
	props["url"] = demoSite + line + path
	ev.Properties = props
}

// productLinePrefix is the path prefix of product line i.
func productLinePrefix(i int) string { return fmt.Sprintf("/p%02d", i) }

func (t *traffic) phaseGap() time.Duration {
	return phaseEvery + time.Duration(t.rng.Int64N(int64(phaseJitter)))
}

// between returns a random duration in [lo, hi).
func (t *traffic) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(t.rng.Int64N(int64(hi-lo)))
}

func (t *traffic) chance(percent int) bool { return t.rng.IntN(100) < percent }

func (t *traffic) anonID() string { return fmt.Sprintf("ajs-%012x", t.rng.Uint64()>>16) }

// background is an event of no buying phase: mostly people reading the
// blog, the home page and the like. Pricing, the comparison and the
// integration guides get 0.5% of them, from one-off visitors, so that
// background alone never adds up to a signal.
func (t *traffic) background() schema.Event {
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
		return webinarEvent(schema.TypeWebinarSignup, schema.Customer{
			ID:    fmt.Sprintf("lead-%08x", t.rng.Uint32()),
			Email: fmt.Sprintf("%s.%s@mail.example", first, last),
		})
	case r < 10:
		p := demoCustomerPpl[t.rng.IntN(len(demoCustomerPpl))]
		return supportEmail(demoPerson(p.acct, p.j), neutralSubjects[t.rng.IntN(len(neutralSubjects))])
	case r < 620:
		c := schema.Customer{AnonymousID: fmt.Sprintf("ajs-%06d", t.rng.IntN(anonymousVisitors))}
		return pageView(c, noisePages[t.rng.IntN(len(noisePages))])
	default:
		a := t.rng.IntN(len(demoAccounts))
		return pageView(demoPerson(a, 1+t.rng.IntN(demoPeople(a))), noisePages[t.rng.IntN(len(noisePages))])
	}
}

func pageView(c schema.Customer, p page) schema.Event {
	return schema.Event{Type: schema.TypePageView, Customer: c, ContentID: p.content,
		Properties: map[string]any{"url": demoSite + p.path, "title": p.title}}
}

func webinarEvent(typ string, c schema.Customer) schema.Event {
	return schema.Event{Type: typ, Customer: c, ContentID: "kafka-webinar",
		Properties: map[string]any{"webinar_id": "kafka-2026-12", "title": "Real-time intent with Kafka", "url": demoSite + "/webinars/kafka"}}
}

func supportEmail(c schema.Customer, subject string) schema.Event {
	first, _, _ := strings.Cut(c.Email, ".")
	body := fmt.Sprintf("Hi team,\n\n%s\n\nThanks,\n%s", subject, titleWords(first))
	return schema.Event{Type: schema.TypeSupportEmail, Customer: c,
		Properties: map[string]any{"subject": subject, "body": body}}
}

func formSubmit(c schema.Customer, form string, p page) schema.Event {
	return schema.Event{Type: schema.TypeFormSubmit, Customer: c, ContentID: p.content,
		Properties: map[string]any{"form": form, "url": demoSite + p.path, "title": p.title}}
}

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

func (t *traffic) kind() phaseKind {
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
func (t *traffic) phase(at time.Time, k phaseKind) {
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
	surge   = behaviour{"surge", len(demoCommittees), 7 * day}   // account-surge
	pricing = behaviour{"pricing", len(demoProspects), 3 * day}  // pricing-research
	compare = behaviour{"compare", len(demoProspects), 7 * day}  // competitor-comparison
	guides  = behaviour{"guides", len(demoAccounts), 7 * day}    // integration-docs
	upsell  = behaviour{"upsell", len(demoCustomers), 14 * day}  // upsell-signal
	churn   = behaviour{"churn", len(demoCustomers), 7 * day}    // churn-risk
	asked   = behaviour{"nofollow", len(demoAccounts), 14 * day} // webinar-no-follow-up, per person
	signup  = behaviour{"webinar", len(demoAccounts), 2 * day}   // webinar-then-pricing, per person
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
func (t *traffic) allow(b behaviour, at time.Time) bool {
	return t.bucket(b, at).tokens >= 1
}

// spend takes a token of b (possibly going below zero).
func (t *traffic) spend(b behaviour, at time.Time) { t.bucket(b, at).tokens-- }

func (t *traffic) bucket(b behaviour, at time.Time) *budget {
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
func (t *traffic) cooling(b behaviour, subject string, at time.Time) bool {
	last, ok := t.hot[b.key+"/"+subject]
	return ok && at.Sub(last) <= b.cooldown+cooldownMargin
}

// pick draws up to 64 of n candidates and returns the first whose
// behaviour b is not cooling down; false when it found none.
func (t *traffic) pick(n int, subject func(int) string, b behaviour, at time.Time) (int, bool) {
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
	t    *traffic
	at   time.Time
	acct string
	// What the phase showed of the account, to remember in t.hot.
	pricing, compare int
	guides           map[string]bool
}

func (t *traffic) script(at time.Time, acct int) *script {
	return &script{t: t, at: at, acct: demoAccounts[acct], guides: map[string]bool{}}
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
func (t *traffic) researchPages(pricing, compare, guides, least int) []page {
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
func (t *traffic) committee(at time.Time) bool {
	if !t.allow(surge, at) {
		return false
	}
	c, ok := t.pick(len(demoCommittees), func(c int) string { return demoAccounts[demoCommittees[c]] }, surge, at)
	if !ok {
		return false
	}
	a := demoCommittees[c]
	n := demoPeople(a)
	people := t.rng.Perm(n)
	k := 3 + t.rng.IntN(min(5, n)-2)
	who := func(v int) schema.Customer {
		if v < k {
			return demoPerson(a, people[v]+1)
		}
		return demoPerson(a, people[t.rng.IntN(k)]+1)
	}
	s := t.script(at, a)
	for v, p := range t.researchPages(1+t.rng.IntN(4), t.rng.IntN(4), t.rng.IntN(5), 5) {
		s.view(who(v), p)
		s.wait(3*time.Second, 10*time.Second)
	}
	if me := who(t.rng.IntN(k)); t.chance(35) && !t.cooling(signup, me.ID, at) {
		// One of them signs up for the webinar and goes back to pricing.
		s.at = at.Add(t.between(10*time.Second, 40*time.Second))
		s.add(webinarEvent(schema.TypeWebinarSignup, me))
		s.wait(15*time.Second, 45*time.Second)
		s.view(me, pricingPage)
		t.hot[signup.key+"/"+me.ID] = at
	}
	if k < n && t.chance(30) {
		// A colleague the site does not know yet reads along (the tracker
		// knows the company from the network), then downloads the buyer's
		// guide and so identifies.
		anon := schema.Customer{AnonymousID: t.anonID(), AccountID: demoAccounts[a]}
		s.at = at.Add(t.between(5*time.Second, 30*time.Second))
		for _, p := range t.researchPages(0, t.rng.IntN(2), 1, 1) {
			s.view(anon, p)
			s.wait(5*time.Second, 15*time.Second)
		}
		me := demoPerson(a, people[k]+1)
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
func (t *traffic) evaluation(at time.Time) bool {
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
	c, ok := t.pick(len(demoProspects), func(c int) string { return demoAccounts[demoProspects[c]] }, b, at)
	if !ok {
		return false
	}
	a := demoProspects[c]
	n := demoPeople(a)
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
		s.view(demoPerson(a, person[v%2]), p)
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
func (t *traffic) webinar(at time.Time) bool {
	prospect := t.rng.IntN(4) != 0
	ppl := demoCustomerPpl
	if prospect {
		ppl = demoProspectPpl
	}
	c, ok := t.pick(len(ppl), func(c int) string { return demoPerson(ppl[c].acct, ppl[c].j).ID }, signup, at)
	p := ppl[c]
	lead := !ok || t.chance(25)
	if lead {
		t.leads++
		p.j = 8 + t.leads // beyond the known people of every account
	}
	me := demoPerson(p.acct, p.j)
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
		s.add(webinarEvent(schema.TypeWebinarSignup, linked))
		s.wait(10*time.Second, 40*time.Second)
		s.view(anon, pricingPage)
	} else {
		s.add(webinarEvent(schema.TypeWebinarSignup, me))
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
	s.add(webinarEvent(schema.TypeWebinarAttended, me))
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
func (t *traffic) growth(at time.Time) bool {
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
	c, ok := t.pick(len(demoCustomers), func(c int) string { return demoAccounts[demoCustomers[c]] }, b, at)
	if !ok {
		return false
	}
	a := demoCustomers[c]
	n := demoPeople(a)
	s := t.script(at, a)
	if reads {
		me := demoPerson(a, 1+t.rng.IntN(n))
		for _, p := range t.researchPages(t.rng.IntN(2), 0, 3+t.rng.IntN(2), 0) {
			s.view(me, p)
			s.wait(5*time.Second, 20*time.Second)
		}
	}
	if email {
		s.add(supportEmail(demoPerson(a, 1+t.rng.IntN(n)), upsellSubjects[t.rng.IntN(len(upsellSubjects))]))
		s.remember(at, upsell)
		return true
	}
	s.remember(at)
	return true
}

// churn: a customer writes about leaving, or keeps reporting outages.
func (t *traffic) churn(at time.Time) bool {
	if !t.allow(churn, at) {
		return false
	}
	c, ok := t.pick(len(demoCustomers), func(c int) string { return demoAccounts[demoCustomers[c]] }, churn, at)
	if !ok {
		return false
	}
	a := demoCustomers[c]
	n := demoPeople(a)
	s := t.script(at, a)
	if t.chance(55) {
		me := demoPerson(a, 1+t.rng.IntN(n))
		if t.chance(50) {
			s.view(me, comparePage)
			s.wait(20*time.Second, 60*time.Second)
		}
		s.add(supportEmail(me, cancelSubjects[t.rng.IntN(len(cancelSubjects))]))
	} else {
		for _, i := range t.rng.Perm(len(outageSubjects))[:3] {
			s.add(supportEmail(demoPerson(a, 1+t.rng.IntN(n)), outageSubjects[i]))
			s.wait(20*time.Second, 90*time.Second)
		}
	}
	s.remember(at, churn)
	return true
}

// runTraffic produces rate synthetic events a second until ctx ends.
func runTraffic(ctx context.Context, brokers []string, topic string, rate float64, log *slog.Logger) error {
	if rate <= 0 {
		return nil
	}
	p := ingest.NewProducer(brokers, topic)
	defer p.Close()
	t := newTraffic(uint64(time.Now().UnixNano()))
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	produced := 0
	for {
		select {
		case <-ctx.Done():
			log.Info("demo traffic stopped", "events", produced)
			return nil
		case now := <-tick.C:
			ev := t.next(now)
			b, err := json.Marshal(&ev)
			if err != nil {
				return fmt.Errorf("encoding demo event: %w", err)
			}
			if err := p.Produce(ctx, ingest.Message{Key: []byte(ingest.EventKey(&ev)), Value: b}); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				log.Warn("demo traffic", "err", err)
				continue
			}
			produced++
		}
	}
}
