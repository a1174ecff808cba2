package bench

import (
	"strconv"
	"time"

	"github.com/dowserhq/dowser/demo"
	"github.com/dowserhq/dowser/schema"
)

// peoplePerAccount is how many people the state-at-scale traffic puts
// in one account, as real traffic has several people an account.
const peoplePerAccount = 5

// scalePages is the page person i mod 5 of an account views: two pricing
// views, one comparison, one integration guide and the buyer's guide
// stay under every default-pack threshold of the account (pricing 3,
// comparison 2, guides 3, research surge 5), so that growing the state
// fires no alert.
var scalePages = [peoplePerAccount]string{"/pricing", "/pricing", "/compare", "/docs/integrations/salesforce", "/resources/buyers-guide"}

// scaleTraffic is the state-at-scale traffic: each person views one
// research page and then attends the webinar, so that each person is a
// subject of the detector ("customer:<id>", through the webinar
// sequence) and each account one ("account:<id>", through the research
// thresholds). Events are dated from start, spaced by step: the run keeps
// them inside every signal's window.
type scaleTraffic struct {
	people int
	start  time.Time
	step   time.Duration
}

// newScaleTraffic is traffic of at least subjects subjects: people and
// their accounts, peoplePerAccount people an account.
func newScaleTraffic(subjects int, start time.Time, span time.Duration) *scaleTraffic {
	// subjects = people + ceil(people / peoplePerAccount)
	people := subjects * peoplePerAccount / (peoplePerAccount + 1)
	for people+scaleAccounts(people) < subjects {
		people++
	}
	t := &scaleTraffic{people: max(people, 1), start: start}
	t.step = span / time.Duration(t.events())
	return t
}

func scaleAccounts(people int) int { return (people + peoplePerAccount - 1) / peoplePerAccount }

// events is how many events the traffic has: two a person.
func (t *scaleTraffic) events() int { return 2 * t.people }

// subjects is how many detector subjects the first n events make: a
// person is one from their webinar attendance, an account from its first
// person's page view.
func (t *scaleTraffic) subjects(n int) int {
	return min(n/2, t.people) + scaleAccounts(min((n+1)/2, t.people))
}

// event is event i: person i/2's page view, then their webinar attendance.
func (t *scaleTraffic) event(i int) schema.Event {
	p := i / 2
	acct := "sa-" + strconv.Itoa(p/peoplePerAccount)
	c := schema.Customer{ID: "sc-" + strconv.Itoa(p), AccountID: acct, Lifecycle: schema.LifecycleProspect}
	var ev schema.Event
	if i%2 == 0 {
		ev = demo.PageView(c, scalePages[p%peoplePerAccount], "Page")
	} else {
		ev = demo.WebinarEvent(schema.TypeWebinarAttended, c)
	}
	ev.ID = "se-" + strconv.Itoa(i)
	ev.Source = "bench"
	ev.Time = t.start.Add(time.Duration(i) * t.step)
	return ev
}
