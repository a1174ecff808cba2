package api_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/api"
	"github.com/dowserhq/dowser/postgres"
)

type timelinePage struct {
	Items []struct {
		dowser.JourneyItem
		Links *dowser.AlertLinks `json:"links"`
	}
	Days int
	Next string
}

func (p timelinePage) ids() []string {
	var ids []string
	for _, it := range p.Items {
		ids = append(ids, it.EventID)
	}
	return ids
}

// seedJourney gives acme (Ana's) three items of two people, one on
// content with a talking point, and globex one.
func seedJourney(t *testing.T, store *postgres.Store, now time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := store.Journey.MaintainJourney(ctx, now, 30); err != nil {
		t.Fatal(err)
	}
	if err := store.Directory.PutAccount(ctx, dowser.Account{ID: "acme", Name: "Acme", OwnerID: "rep-ana", Lifecycle: dowser.LifecycleProspect}); err != nil {
		t.Fatal(err)
	}
	if err := store.Directory.PutContent(ctx, dowser.Content{ID: "pricing", Title: "Pricing", OwnerID: "mkt-jane", TalkingPoint: "Ask how many seats they plan."}); err != nil {
		t.Fatal(err)
	}
	h := func(n int) time.Time { return now.Add(-time.Duration(n) * time.Hour) }
	items := []dowser.JourneyItem{
		{EventID: "e1", Type: "page_view", Time: h(50), AccountID: "acme", CustomerID: "c-1", ContentID: "pricing", Title: "Pricing", URLPath: "/pricing"},
		{EventID: "e2", Type: "webinar_attended", Time: h(30), AccountID: "acme", CustomerID: "c-2", Title: "Kafka webinar"},
		{EventID: "e3", Type: "support_email", Time: h(2), AccountID: "acme", CustomerID: "c-1", Title: "Seats?"},
		{EventID: "g1", Type: "page_view", Time: h(1), AccountID: "globex", CustomerID: "c-9"},
	}
	if _, err := store.Journey.WriteJourney(ctx, items); err != nil {
		t.Fatal(err)
	}
}

func getTimeline(t *testing.T, srv *httptest.Server, path, user string) timelinePage {
	t.Helper()
	status, body := call(t, srv, "GET", path, tok(user), "", nil)
	var p timelinePage
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTimelineOfAnAccountAndAPerson(t *testing.T) {
	now := time.Now().UTC()
	srv, store := newServer(t, api.Config{JourneyDays: 30, CRM: api.CRMLinks{ContactURL: "https://crm.example/c/{{.CustomerID}}"}})
	seedJourney(t, store, now)

	p := getTimeline(t, srv, "/v1/accounts/acme/timeline", "rep-ana")
	if want := []string{"e3", "e2", "e1"}; !slices.Equal(p.ids(), want) || p.Days != 30 || p.Next != "" {
		t.Fatalf("Ana's acme timeline = %q days %d next %q, want %q in 30 days, one page", p.ids(), p.Days, p.Next, want)
	}
	e1 := p.Items[2]
	if e1.TalkingPoint != "Ask how many seats they plan." || e1.ContentTitle != "Pricing" || e1.CustomerID != "c-1" ||
		e1.Links == nil || e1.Links.CRMContact != "https://crm.example/c/c-1" {
		t.Errorf("e1 = %+v (links %+v); want the content's talking point and the person's CRM link", e1.JourneyItem, e1.Links)
	}

	p = getTimeline(t, srv, "/v1/accounts/acme/timeline?days=1", "rep-ana")
	if !slices.Equal(p.ids(), []string{"e3"}) {
		t.Errorf("the last day = %q, want e3", p.ids())
	}

	// A page at a time.
	var all []string
	path := "/v1/accounts/acme/timeline?limit=2"
	for range 3 {
		p = getTimeline(t, srv, path, "admin")
		all = append(all, p.ids()...)
		if p.Next == "" {
			break
		}
		path = "/v1/accounts/acme/timeline?limit=2&cursor=" + url.QueryEscape(p.Next)
	}
	if !slices.Equal(all, []string{"e3", "e2", "e1"}) {
		t.Errorf("paged by two: %q", all)
	}

	p = getTimeline(t, srv, "/v1/customers/c-1/timeline", "rep-ana")
	if !slices.Equal(p.ids(), []string{"e3", "e1"}) {
		t.Errorf("c-1's timeline = %q, want e3, e1", p.ids())
	}
}

func TestTimelineAuthorizationAndBadInput(t *testing.T) {
	now := time.Now().UTC()
	srv, store := newServer(t, api.Config{JourneyDays: 30})
	seedJourney(t, store, now)
	// Max follows nobody, Jane owns no account; an alert about globex
	// delivered to Jane lets her read it.
	seedAlert(t, store, "al-g", "globex", "s", "high", now, "mkt-jane")
	for _, c := range []struct {
		path, user string
		status     int
		says       string
	}{
		{"/v1/accounts/acme/timeline", "", 401, ""},
		{"/v1/accounts/acme/timeline", "mgr-max", 403, "acme is neither"},
		{"/v1/accounts/acme/timeline", "mkt-jane", 403, "acme"},
		{"/v1/accounts/globex/timeline", "mkt-jane", 200, ""},
		{"/v1/accounts/globex/timeline", "rep-ana", 403, "globex"},
		{"/v1/accounts/acme/timeline", "tracker", 403, ""},
		{"/v1/accounts/acme/timeline", "admin", 200, ""},
		{"/v1/customers/c-2/timeline", "mgr-max", 403, "person"},
		{"/v1/customers/c-9/timeline", "mkt-jane", 200, ""},
		{"/v1/customers/c-2/timeline", "rep-ana", 200, ""},
		{"/v1/accounts/acme/timeline?days=31", "rep-ana", 400, "days"},
		{"/v1/accounts/acme/timeline?limit=0", "rep-ana", 400, "limit"},
		{"/v1/accounts/acme/timeline?cursor=zz", "rep-ana", 400, "cursor"},
		{"/v1/accounts/a%20b/timeline", "admin", 400, "id"},
	} {
		token := ""
		if c.user != "" {
			token = tok(c.user)
		}
		status, body := call(t, srv, "GET", c.path, token, "", nil)
		if status != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s GET %s = %d %s; want %d saying %q", c.user, c.path, status, body, c.status, c.says)
		}
	}

	off, _ := newServer(t)
	if status, body := call(t, off, "GET", "/v1/accounts/acme/timeline", tok("admin"), "", nil); status != 503 || !strings.Contains(body, "journey-days") {
		t.Errorf("with the journey off: %d %s, want 503 naming --journey-days", status, body)
	}
}

func TestContentCarriesATalkingPoint(t *testing.T) {
	srv, _ := newServer(t)
	status, body := call(t, srv, "PUT", "/v1/content/pricing", tok("mkt-jane"), `{"title":"Pricing","owner":"mkt-jane","talking_point":"Ask about seats."}`, nil)
	if status != 200 {
		t.Fatalf("PUT: %d %s", status, body)
	}
	if status, body = call(t, srv, "GET", "/v1/content/pricing", tok("rep-ana"), "", nil); !strings.Contains(body, `"talking_point":"Ask about seats."`) {
		t.Errorf("GET: %d %s, want the talking point", status, body)
	}
	long := strings.Repeat("x", dowser.MaxTalkingPointLen+1)
	if status, body = call(t, srv, "PUT", "/v1/content/pricing", tok("mkt-jane"), `{"title":"Pricing","talking_point":"`+long+`"}`, nil); status != 400 || !strings.Contains(body, "talking_point") {
		t.Errorf("a talking point too long: %d %.200s, want 400 naming talking_point", status, body)
	}
}
