package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/api"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/schema"
)

type alertsPage struct {
	Alerts []struct {
		Seq          int64
		Acked        bool
		SnoozedUntil *time.Time `json:"snoozed_until"`
		Alert        schema.Alert
	}
	Next string
}

func (p alertsPage) ids() []string {
	var ids []string
	for _, a := range p.Alerts {
		ids = append(ids, a.Alert.ID)
	}
	return ids
}

// seedAlert stores an alert for the recipients, as the event path does.
func seedAlert(t *testing.T, store *postgres.Store, id, account, signal, priority string, at time.Time, to ...string) {
	t.Helper()
	a := &schema.Alert{ID: id, SignalID: signal, SignalVersion: 1, Subject: "account:" + account, CustomerID: "c-" + account,
		AccountID: account, Priority: priority, EventID: "evt-" + id, Time: at, Rep: "rep-ana"}
	if _, err := store.Alerts.SaveAlert(context.Background(), a, to); err != nil {
		t.Fatal(err)
	}
}

func TestListAlertsPagesByCursorWhileAlertsArrive(t *testing.T) {
	srv, store := newServer(t)
	at := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	for i := range 12 {
		seedAlert(t, store, fmt.Sprintf("al-%02d", i), "acme", "pricing", "high", at, "rep-ana")
	}
	get := func(path, user string) alertsPage {
		t.Helper()
		status, body := call(t, srv, "GET", path, tok(user), "", nil)
		if status != 200 {
			t.Fatalf("GET %s = %d %s", path, status, body)
		}
		var p alertsPage
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, user := range []string{"rep-ana", "admin"} {
		t.Run(user, func(t *testing.T) {
			want := get("/v1/alerts?limit=1000", user).ids()
			var seen []string
			path := "/v1/alerts?limit=5"
			for n := 0; ; n++ {
				p := get(path, user)
				seen = append(seen, p.ids()...)
				if p.Next == "" {
					break
				}
				var wg sync.WaitGroup
				for j := range 2 {
					wg.Go(func() {
						seedAlert(t, store, fmt.Sprintf("al-new-%s-%d-%d", user, n, j), "acme", "pricing", "high", at, "rep-ana")
					})
				}
				wg.Wait()
				path = "/v1/alerts?limit=5&cursor=" + url.QueryEscape(p.Next)
			}
			if !slices.Equal(seen, want) {
				t.Errorf("paged %v, want what one page listed before alerts arrived: %v", seen, want)
			}
		})
	}
	// An admin's own alerts: none were sent to them.
	if p := get("/v1/alerts?mine=true&state=new", "admin"); len(p.Alerts) != 0 {
		t.Errorf("an admin's own alerts: %v, want none", p.ids())
	}
	// A cursor is for the listing that made it.
	p := get("/v1/alerts?limit=2", "rep-ana")
	if status, body := call(t, srv, "GET", "/v1/alerts?cursor="+url.QueryEscape(p.Next), tok("admin"), "", nil); status != 400 || !strings.Contains(body, "cursor") {
		t.Errorf("an admin passing a rep's cursor = %d %s, want 400 naming the cursor", status, body)
	}
	if status, body := call(t, srv, "GET", "/v1/alerts?cursor=nonsense!", tok("rep-ana"), "", nil); status != 400 || !strings.Contains(body, "cursor") {
		t.Errorf("a made-up cursor = %d %s, want 400 naming the cursor", status, body)
	}
}

func TestListAlertsFiltersAndNames(t *testing.T) {
	srv, store := newServer(t)
	ctx := context.Background()
	if err := store.Directory.PutAccount(ctx, dowser.Account{ID: "acme", Name: "Acme Freight", Lifecycle: dowser.LifecycleProspect}); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	seedAlert(t, store, "al-a", "acme", "pricing", "high", day.Add(time.Hour), "rep-ana")
	seedAlert(t, store, "al-b", "globex", "pricing", "low", day.Add(25*time.Hour), "rep-ana")
	seedAlert(t, store, "al-c", "acme", "webinar", "urgent", day.Add(49*time.Hour), "rep-ana")
	if err := store.Alerts.Feedback(ctx, "rep-ana", "al-b", "useful", "", ""); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"al-c", "al-b", "al-a"}},
		{"account=acme", []string{"al-c", "al-a"}},
		{"signal=webinar", []string{"al-c"}},
		{"priority=high,low", []string{"al-b", "al-a"}},
		{"priority=high&priority=urgent", []string{"al-c", "al-a"}},
		{"from=2026-11-24T00:00:00Z", []string{"al-c", "al-b"}},
		{"to=2026-11-24T00:00:00Z", []string{"al-a"}},
		{"state=new", []string{"al-c", "al-a"}},
		{"state=acked", []string{"al-b"}},
		{"state=verdict", []string{"al-b"}},
		{"state=snoozed", nil},
	} {
		status, body := call(t, srv, "GET", "/v1/alerts?"+tc.query, tok("rep-ana"), "", nil)
		var p alertsPage
		if status != 200 || json.Unmarshal([]byte(body), &p) != nil {
			t.Fatalf("GET ?%s = %d %s", tc.query, status, body)
		}
		if got := p.ids(); !slices.Equal(got, tc.want) {
			t.Errorf("GET ?%s listed %v, want %v", tc.query, got, tc.want)
		}
	}
	status, body := call(t, srv, "GET", "/v1/alerts?account=acme&limit=1", tok("rep-ana"), "", nil)
	var p alertsPage
	if status != 200 || json.Unmarshal([]byte(body), &p) != nil || len(p.Alerts) != 1 {
		t.Fatalf("GET = %d %s", status, body)
	}
	if a := p.Alerts[0].Alert; a.AccountName != "Acme Freight" || a.AccountID != "acme" || a.RepName != "Ana" || a.Rep != "rep-ana" {
		t.Errorf("listed alert names account %q (%q), rep %q (%q); want Acme Freight (acme), Ana (rep-ana)", a.AccountName, a.AccountID, a.RepName, a.Rep)
	}
	for query, want := range map[string]string{
		"priority=severe": `priority: \"severe\" is not one of urgent, high, medium, low`,
		"state=done":      `state: \"done\" is not one of`,
		"from=yesterday":  `from: \"yesterday\" is not a time`,
		"from=2026-11-24T00:00:00Z&to=2026-11-23T00:00:00Z": "from (2026-11-24T00:00:00Z) must be before to",
		"limit=0":       "limit",
		"account=a%00b": "account",
		"signal=%FF":    "signal",
	} {
		status, body := call(t, srv, "GET", "/v1/alerts?"+query, tok("rep-ana"), "", nil)
		if status != 400 || !strings.Contains(body, want) {
			t.Errorf("GET ?%s = %d %s, want 400 saying %s", query, status, body, want)
		}
	}
}

func TestSnoozeHidesAnAlertUntilItsTime(t *testing.T) {
	srv, store := newServer(t)
	at := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	seedAlert(t, store, "al-1", "acme", "pricing", "high", at, "rep-ana")
	seedAlert(t, store, "al-2", "acme", "pricing", "high", at, "rep-ana")
	list := func(query string) []string {
		t.Helper()
		status, body := call(t, srv, "GET", "/v1/alerts?"+query, tok("rep-ana"), "", nil)
		var p alertsPage
		if status != 200 || json.Unmarshal([]byte(body), &p) != nil {
			t.Fatalf("GET = %d %s", status, body)
		}
		return p.ids()
	}
	until := time.Now().Add(2 * time.Second).UTC().Truncate(time.Millisecond)
	status, body := call(t, srv, "PUT", "/v1/alerts/al-1/snooze", tok("rep-ana"), fmt.Sprintf(`{"until":%q}`, until.Format(time.RFC3339Nano)), nil)
	if status != 200 || !strings.Contains(body, `"snoozed_until":"`+until.Format(time.RFC3339Nano)) {
		t.Fatalf("snoozing = %d %s", status, body)
	}
	if got := list(""); !slices.Equal(got, []string{"al-2"}) {
		t.Fatalf("while snoozed the list is %v, want al-2 only", got)
	}
	if got := list("state=snoozed"); !slices.Equal(got, []string{"al-1"}) {
		t.Fatalf("snoozed list is %v, want al-1", got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(list("")) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the snoozed alert did not come back after its time")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Snoozed for long, then woken by hand.
	if status, body := call(t, srv, "PUT", "/v1/alerts/al-2/snooze", tok("rep-ana"), `{"until":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`, nil); status != 200 {
		t.Fatalf("snoozing = %d %s", status, body)
	}
	if got := list(""); !slices.Equal(got, []string{"al-1"}) {
		t.Fatalf("while al-2 is snoozed the list is %v", got)
	}
	if status, body := call(t, srv, "DELETE", "/v1/alerts/al-2/snooze", tok("rep-ana"), "", nil); status != 200 || !strings.Contains(body, `"snoozed_until":null`) {
		t.Fatalf("waking = %d %s", status, body)
	}
	if got := list(""); len(got) != 2 {
		t.Fatalf("after waking the list is %v, want both", got)
	}
	for body, want := range map[string]string{
		`{"until":"2020-01-01T00:00:00Z"}`: "is not in the future",
		`{"until":"2999-01-01T00:00:00Z"}`: "more than 90 days ahead",
		`{}`:                               "until: required",
	} {
		if status, got := call(t, srv, "PUT", "/v1/alerts/al-1/snooze", tok("rep-ana"), body, nil); status != 400 || !strings.Contains(got, want) {
			t.Errorf("snoozing with %s = %d %s, want 400 saying %s", body, status, got, want)
		}
	}
	if status, _ := call(t, srv, "PUT", "/v1/alerts/al-1/snooze", tok("mkt-jane"), `{"until":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`"}`, nil); status != 404 {
		t.Errorf("snoozing someone else's alert = %d, want 404", status)
	}
}

func TestListedAlertsLinkToTheCRM(t *testing.T) {
	crm := api.CRMLinks{AccountURL: "https://crm.example.com/accounts/{{.AccountID}}", ContactURL: "https://crm.example.com/a/{{.AccountID}}/people/{{.CustomerID}}"}
	srv, store := newServer(t, api.Config{CRM: crm})
	seedAlert(t, store, "al-1", "north freight/eu", "pricing", "high", time.Now(), "rep-ana")
	status, body := call(t, srv, "GET", "/v1/alerts", tok("rep-ana"), "", nil)
	var p struct {
		Alerts []struct {
			Links struct {
				CRMAccount string `json:"crm_account"`
				CRMContact string `json:"crm_contact"`
			}
		}
	}
	if status != 200 || json.Unmarshal([]byte(body), &p) != nil || len(p.Alerts) != 1 {
		t.Fatalf("GET = %d %s", status, body)
	}
	l := p.Alerts[0].Links
	if want := "https://crm.example.com/accounts/north%20freight%2Feu"; l.CRMAccount != want {
		t.Errorf("account link %q, want %q", l.CRMAccount, want)
	}
	if want := "https://crm.example.com/a/north%20freight%2Feu/people/c-north%20freight%2Feu"; l.CRMContact != want {
		t.Errorf("contact link %q, want %q", l.CRMContact, want)
	}
	status, body = call(t, srv, "GET", "/v1/crm", tok("rep-ana"), "", nil)
	if status != 200 || !strings.Contains(body, `"account_url":"https://crm.example.com/accounts/{{.AccountID}}"`) {
		t.Errorf("GET /v1/crm = %d %s", status, body)
	}
	// Without templates, no links at all.
	plain, store2 := newServer(t)
	seedAlert(t, store2, "al-1", "acme", "pricing", "high", time.Now(), "rep-ana")
	if _, body := call(t, plain, "GET", "/v1/alerts", tok("rep-ana"), "", nil); strings.Contains(body, "links") {
		t.Errorf("links without templates: %s", body)
	}
}

func TestCRMLinkTemplatesAreChecked(t *testing.T) {
	for _, tc := range []struct {
		crm  api.CRMLinks
		want string
	}{
		{api.CRMLinks{AccountURL: "https://crm.example.com/accounts/"}, "--crm-account-url \"https://crm.example.com/accounts/\": has no {{.AccountID}}"},
		{api.CRMLinks{AccountURL: "crm.example.com/{{.AccountID}}"}, "not an absolute http(s) URL"},
		{api.CRMLinks{AccountURL: "javascript:alert({{.AccountID}})"}, "not an absolute http(s) URL"},
		{api.CRMLinks{ContactURL: "https://crm/{{.CustomerID}}/{{.Email}}"}, "--crm-contact-url"},
		{api.CRMLinks{ContactURL: "https://crm/{{.AccountID}}"}, "has no {{.CustomerID}}"},
	} {
		err := tc.crm.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error saying %s", tc.crm, err, tc.want)
		}
	}
	if err := (api.CRMLinks{AccountURL: "https://crm.example.com/accounts/{{.AccountID}}", ContactURL: "http://crm.local/p/{{.CustomerID}}?a={{.AccountID}}"}).Validate(); err != nil {
		t.Errorf("good templates refused: %v", err)
	}
}

// The listing carries what the caller said of each alert (reason, note
// and a win's value, not only the verdict), so that a panel reloaded
// shows what it showed when the verdict was given.
func TestListedAlertsCarryTheVerdict(t *testing.T) {
	srv, store := newServer(t)
	at := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	seedAlert(t, store, "al-won", "acme", "pricing", "high", at, "rep-ana")
	seedAlert(t, store, "al-no", "acme", "pricing", "high", at.Add(time.Minute), "rep-ana")
	seedAlert(t, store, "al-new", "acme", "pricing", "high", at.Add(2*time.Minute), "rep-ana")
	for id, body := range map[string]string{
		"al-won": `{"verdict":"won","reason":"competitor","value":24000.5,"note":"beat the incumbent"}`,
		"al-no":  `{"verdict":"not_useful","reason":"wrong-person","note":"talked to the intern"}`,
	} {
		if status, got := call(t, srv, "PUT", "/v1/alerts/"+id+"/verdict", tok("rep-ana"), body, nil); status != 200 {
			t.Fatalf("PUT verdict on %s = %d %s", id, status, got)
		}
	}
	type listed struct {
		Verdict, Reason, Note string
		Value                 *float64
		Alert                 struct{ ID string }
	}
	list := func(user, query string) map[string]listed {
		t.Helper()
		status, body := call(t, srv, "GET", "/v1/alerts?"+query, tok(user), "", nil)
		var p struct{ Alerts []listed }
		if status != 200 || json.Unmarshal([]byte(body), &p) != nil {
			t.Fatalf("GET ?%s = %d %s", query, status, body)
		}
		out := map[string]listed{}
		for _, la := range p.Alerts {
			out[la.Alert.ID] = la
		}
		return out
	}
	show := func(la listed) string {
		v := "none"
		if la.Value != nil {
			v = fmt.Sprint(*la.Value)
		}
		return fmt.Sprintf("%s/%s/%q/%s", la.Verdict, la.Reason, la.Note, v)
	}
	want := map[string]string{
		"al-won": `won/competitor/"beat the incumbent"/24000.5`,
		"al-no":  `not_useful/wrong-person/"talked to the intern"/none`,
		"al-new": `//""/none`,
	}
	for _, query := range []string{"", "state=verdict"} {
		got := list("rep-ana", query)
		for id, w := range want {
			la, ok := got[id]
			if !ok && (query == "" || w != `//""/none`) {
				t.Errorf("GET ?%s does not list %s", query, id)
			}
			if s := show(la); ok && s != w {
				t.Errorf("GET ?%s lists %s as %s, want %s", query, id, s, w)
			}
		}
	}
	// An admin's list of every alert has no delivery of its own to tell of.
	for id, la := range list("admin", "") {
		if s := show(la); s != `//""/none` {
			t.Errorf("an admin's list of every alert shows %s as %s, want no verdict", id, s)
		}
	}
}

// account_q finds an account's alerts by a part of its name or id,
// ignoring case, whatever alerts a panel has loaded, and pages under the
// cursor like any other filter.
func TestListAlertsByAccountSearch(t *testing.T) {
	srv, store := newServer(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	var freight []string
	for i := range 7 {
		id := fmt.Sprintf("al-%02d", i)
		account := "globex"
		if i%2 == 0 {
			account = "acme"
			freight = append([]string{id}, freight...) // newest first
		}
		seedAlert(t, store, id, account, "pricing", "high", at.Add(time.Duration(i)*time.Minute), "rep-ana")
	}
	seedAlert(t, store, "al-other", "initech", "pricing", "high", at, "mkt-jane")
	// Named after the alerts were stored: the directory's name counts.
	for _, a := range []dowser.Account{{ID: "acme", Name: "Acme Freight"}, {ID: "globex", Name: "Globex Corp"}, {ID: "initech", Name: "Initech Freight"}} {
		a.Lifecycle = dowser.LifecycleProspect
		if err := store.Directory.PutAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	pages := func(user, query string) []string {
		t.Helper()
		var seen []string
		path := "/v1/alerts?limit=2&" + query
		for range 20 {
			status, body := call(t, srv, "GET", path, tok(user), "", nil)
			var p alertsPage
			if status != 200 || json.Unmarshal([]byte(body), &p) != nil {
				t.Fatalf("GET %s = %d %s", path, status, body)
			}
			seen = append(seen, p.ids()...)
			if p.Next == "" {
				return seen
			}
			path = "/v1/alerts?limit=2&" + query + "&cursor=" + url.QueryEscape(p.Next)
		}
		t.Fatalf("GET ?%s did not end in 20 pages", query)
		return nil
	}
	for _, tc := range []struct {
		user, query string
		want        []string
	}{
		{"rep-ana", "account_q=freight", freight},
		{"rep-ana", "account_q=ACME+FR", freight},
		{"rep-ana", "account_q=cme", freight}, // the id
		{"rep-ana", "account_q=globex+corp&priority=high", []string{"al-05", "al-03", "al-01"}},
		{"rep-ana", "account_q=freight&state=new&signal=pricing", freight},
		{"rep-ana", "account_q=%25", nil}, // % is a plain character
		{"rep-ana", "account_q=initech", nil},
		{"admin", "account_q=Freight", append([]string{"al-other"}, freight...)}, // by when stored
	} {
		if got := pages(tc.user, tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("%s paging GET ?%s listed %v, want %v", tc.user, tc.query, got, tc.want)
		}
	}
	if status, body := call(t, srv, "GET", "/v1/alerts?account_q=a%00b", tok("rep-ana"), "", nil); status != 400 || !strings.Contains(body, "account_q") {
		t.Errorf("GET ?account_q with a NUL = %d %s, want 400 naming account_q", status, body)
	}
}
