package demo

import (
	"encoding/csv"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// user is a seeded demo login. The tokens are fixed so the README can
// name them; they are for the local demo only.
type user struct {
	dowser.User
	token string
}

var users = []user{
	{dowser.User{ID: "admin", Name: "Administrator", Role: dowser.RoleAdmin}, "demo-admin-token"},
	{dowser.User{ID: "rep-ana", Name: "Ana Ruiz", Role: dowser.RoleRep}, "demo-rep-ana-token"},
	{dowser.User{ID: "rep-ben", Name: "Ben Okafor", Role: dowser.RoleRep}, "demo-rep-ben-token"},
	{dowser.User{ID: "rep-cho", Name: "Cho Min-jun", Role: dowser.RoleRep}, "demo-rep-cho-token"},
	{dowser.User{ID: "mkt-jane", Name: "Jane Hollis", Role: dowser.RoleMarketer}, "demo-mkt-jane-token"},
	{dowser.User{ID: "mkt-omar", Name: "Omar Haddad", Role: dowser.RoleMarketer}, "demo-mkt-omar-token"},
	{dowser.User{ID: "mgr-maya", Name: "Maya Lindqvist", Role: dowser.RoleManager}, "demo-mgr-maya-token"},
}

// follows are the demo's manager subscriptions, manager then rep: Maya
// follows two reps, so her team view fills within the demo's first
// minute (Cho owns the accounts of the back-dated history, whose alerts
// come first).
var follows = [][2]string{{"mgr-maya", "rep-ben"}, {"mgr-maya", "rep-cho"}}

// The demo's population. Account i is owned by ownerOf(i) and has the
// lifecycle lifecycleOf(i) (a third are customers): these two rules are
// the only ones, and [Seed], [WriteAccountsCSV] (`dowser signals generate
// --accounts`) and [FillLifecycle] (the bench) all read them. Account i has peopleCount(i) known
// people (1 to 8); beside them, a large pool of anonymous visitors reads
// the site. Everything is derived from the index, so the population is the
// same in every run and in every process.
const accountCount = 1000

// namedAccounts are the first accounts, kept from the first demo.
var namedAccounts = []string{
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

// accountIDs are the demo account ids, accountNames their names. Like
// every table of this package they are built once and only read.
var accountIDs, accountNames = makeAccounts()

var reps = []string{"rep-ana", "rep-ben", "rep-cho"}

// The accounts by what the traffic does with them (indexes into
// accountIDs), and their known people.
var (
	accountIndex   = indexAccounts()
	prospects      = accountsWhere(func(i int) bool { return lifecycleOf(i) == schema.LifecycleProspect })
	committees     = accountsWhere(func(i int) bool { return lifecycleOf(i) == schema.LifecycleProspect && peopleCount(i) >= 3 })
	customers      = accountsWhere(func(i int) bool { return lifecycleOf(i) == schema.LifecycleCustomer })
	prospectPeople = peopleIn(prospects)
	customerPeople = peopleIn(customers)
)

// personRef is person j (from 1) of account acct.
type personRef struct{ acct, j int }

func indexAccounts() map[string]int {
	m := make(map[string]int, len(accountIDs))
	for i, id := range accountIDs {
		m[id] = i
	}
	return m
}

func accountsWhere(ok func(int) bool) []int {
	var out []int
	for i := range accountIDs {
		if ok(i) {
			out = append(out, i)
		}
	}
	return out
}

func peopleIn(accounts []int) []personRef {
	var out []personRef
	for _, i := range accounts {
		for j := 1; j <= peopleCount(i); j++ {
			out = append(out, personRef{i, j})
		}
	}
	return out
}

func makeAccounts() (ids, names []string) {
	for _, id := range namedAccounts {
		ids = append(ids, id)
		names = append(names, titleWords(id))
	}
	// Stride 31 is prime to 1200: every (word, trade) pair at most once,
	// neighbours differing in both.
	n := len(accountWords) * len(accountTrades)
	for k := 0; len(ids) < accountCount && k < n; k++ {
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

// ownerOf is account i's sales owner: the reps take turns.
func ownerOf(i int) string { return reps[i%len(reps)] }

// lifecycleOf is account i's lifecycle: every third account a customer.
func lifecycleOf(i int) string {
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

// peopleCount is how many known people account i has, 1 to 8.
func peopleCount(i int) int { return 1 + int(hash32(accountIDs[i])%8) }

// personOf is person j (1 to peopleCount(i)) of account i.
func personOf(i, j int) schema.Customer {
	acct := accountIDs[i]
	h := hash32(fmt.Sprintf("%s/%d", acct, j))
	first := firstNames[h%uint32(len(firstNames))]
	last := lastNames[h/uint32(len(firstNames))%uint32(len(lastNames))]
	return schema.Customer{
		ID:        fmt.Sprintf("c-%s-%d", acct, j),
		Email:     fmt.Sprintf("%s.%s@%s.example", first, last, acct),
		AccountID: acct,
	}
}

// jobTitles are what the demo's known people do.
var jobTitles = []string{
	"VP Engineering", "Head of Data", "CTO", "Procurement Lead", "Platform Engineer", "Director of Marketing Ops",
	"Data Architect", "Head of Growth", "IT Manager", "Staff Engineer", "COO", "Solutions Architect",
}

// consents reports whether person j of account i consented to reps
// seeing their name, title and e-mail: about two in three did, so that
// the panel shows named and unnamed people side by side from its first
// alerts.
func consents(i, j int) bool { return hash32(fmt.Sprintf("consent/%s/%d", accountIDs[i], j))%3 != 0 }

// ContactColumns and ContactRows are the demo's known people as [Seed]
// imports them (postgres.Directory.Import, as `dowser import contacts`
// does): each with their account and, where they consented, their name,
// title and e-mail with where the consent was given.
func ContactColumns() []string {
	return []string{"id", "account_id", "name", "title", "email", "identity_consent", "identity_consent_source"}
}

// ContactRows: see [ContactColumns].
func ContactRows() [][]string {
	var rows [][]string
	for i := range accountIDs {
		for j := 1; j <= peopleCount(i); j++ {
			c := personOf(i, j)
			if !consents(i, j) {
				rows = append(rows, []string{c.ID, c.AccountID, "", "", "", "false", ""})
				continue
			}
			first, last, _ := strings.Cut(strings.SplitN(c.Email, "@", 2)[0], ".")
			title := jobTitles[hash32(c.ID)%uint32(len(jobTitles))]
			rows = append(rows, []string{c.ID, c.AccountID, titleWords(first) + " " + titleWords(last), title, c.Email, "true", "demo:web-form"})
		}
	}
	return rows
}

// Site is the demo company's web site, where the traffic's pages are.
const Site = "https://dowser.example"

// content is what the demo's marketers own: the pages their signals watch,
// some with a talking point for the reps whose buyers read them.
var content = []dowser.Content{
	{ID: "pricing-page", Title: "Pricing", URLPrefix: Site + "/pricing", OwnerID: "mkt-jane",
		TalkingPoint: "Ask how many seats and events a month they plan for: the annual plan saves them 20%."},
	{ID: "kafka-webinar", Title: "Webinar: real-time intent with Kafka", URLPrefix: Site + "/webinars/kafka", OwnerID: "mkt-jane"},
	{ID: "integration-docs", Title: "Integration guides", URLPrefix: Site + "/docs/integrations/", OwnerID: "mkt-omar",
		TalkingPoint: "Ask which CRM and warehouse they run: offer a 30-minute integration review with an engineer."},
	{ID: "compare-page", Title: "Dowser vs. the others", URLPrefix: Site + "/compare", OwnerID: "mkt-jane",
		TalkingPoint: "Ask who else they are evaluating; send the side-by-side on latency and data freshness."},
	{ID: "buyers-guide", Title: "The buyer's guide to intent data", URLPrefix: Site + "/resources/buyers-guide", OwnerID: "mkt-omar"},
}

// account is demo account i, as [Seed] writes it.
func account(i int) dowser.Account {
	return dowser.Account{ID: accountIDs[i], Name: accountNames[i], OwnerID: ownerOf(i), Lifecycle: lifecycleOf(i)}
}

// WriteAccountsCSV writes the demo accounts, with the owners and
// lifecycles [Seed] gives them, as CSV (account_id,owner,lifecycle): what
// `dowser signals backtest --owners` reads.
func WriteAccountsCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"account_id", "owner", "lifecycle"})
	for i := range accountIDs {
		a := account(i)
		cw.Write([]string{a.ID, a.OwnerID, a.Lifecycle})
	}
	cw.Flush()
	return cw.Error()
}

// FillLifecycle gives an event of a demo account without a lifecycle the
// account's, as the service's lifecycle cache does once [Seed] has run
// (dowser.FillLifecycle over the demo's accounts). Events of other
// accounts are left as they are.
func FillLifecycle(ev *schema.Event) {
	_ = dowser.FillLifecycle(&ev.Customer, func(accountID string) (string, error) {
		if i, ok := accountIndex[accountID]; ok {
			return lifecycleOf(i), nil
		}
		return "", nil
	})
}

// researchPaths are the path prefixes [FileUnderProductLine] moves.
var researchPaths = []string{"/pricing", "/compare", "/docs/integrations/", "/webinars/"}

// ResearchPaths returns the path prefixes of the research pages (pricing,
// comparison, integration guides, webinars) that [FileUnderProductLine]
// files under a product line.
func ResearchPaths() []string { return slices.Clone(researchPaths) }

// ProductLine is the path prefix of product line i: "/p07".
func ProductLine(i int) string { return fmt.Sprintf("/p%02d", i) }

// FileUnderProductLine files an event under the product line of its
// account (else its customer), one of lines: a research page view or
// webinar moves to the line's path ("/p07/pricing"), a support email goes
// to the line's support queue (content id "support-p07"). Other events are
// left as they are. The event's properties are copied, not changed in
// place.
func FileUnderProductLine(ev *schema.Event, lines int) {
	who := ev.Customer.AccountID
	if who == "" {
		who = ev.Customer.Key()
	}
	line := ProductLine(int(hash32(who) % uint32(lines)))
	if ev.Type == schema.TypeSupportEmail {
		ev.ContentID = "support-" + line[1:]
		return
	}
	path, ok := strings.CutPrefix(ev.Prop("url"), Site)
	if !ok || !slices.ContainsFunc(researchPaths, func(p string) bool { return strings.HasPrefix(path, p) }) {
		return
	}
	props := maps.Clone(ev.Properties)
	props["url"] = Site + line + path
	ev.Properties = props
}
