package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// timelineItems is the answer of a timeline, as the tests read it.
type timelineItems struct {
	Items []struct {
		EventID      string `json:"event_id"`
		Type         string
		CustomerID   string `json:"customer_id"`
		AnonymousID  string `json:"anonymous_id"`
		ContentID    string `json:"content_id"`
		Title        string
		URLPath      string `json:"url_path"`
		TalkingPoint string `json:"talking_point"`
	}
	Next string
}

func (p timelineItems) ids() []string {
	var out []string
	for _, it := range p.Items {
		out = append(out, it.EventID)
	}
	slices.Sort(out)
	return out
}

// awaitTimeline reads path as user until cond holds: the journey is
// written in batches, a moment after the events are handled.
func (a *testApp) awaitTimeline(path, tok string, cond func(timelineItems) bool) timelineItems {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var p timelineItems
		a.do("GET", path, tok, nil, http.StatusOK, &p)
		if cond(p) {
			return p
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("GET %s after 30 s: %q", path, p.ids())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestEndToEndJourneyShowsWhatWasConsumedAndErasureEmptiesIt(t *testing.T) {
	app := startApp(t, func(c *serveConfig) { c.JourneyDays, c.CheckpointEvery = 30, 100*time.Millisecond })
	app.seed()
	app.do("PUT", "/v1/content/pricing-page", adminToken, map[string]string{"title": "Pricing", "url_prefix": "https://example.com/pricing",
		"owner": "mkt-jane", "talking_point": "Ask how many seats they plan."}, http.StatusOK, nil)
	w := app.writer()
	now := time.Now().UTC()
	at := func(m int) string { return now.Add(time.Duration(m) * time.Minute).Format(time.RFC3339) }
	const person = "c-journey"
	anon := fmt.Sprintf(`{"id":"j-anon","type":"page_view","time":%q,"customer":{"anonymous_id":"anon-journey","account_id":"acme"},"properties":{"url":"https://example.com/compare?email=x@y.example#top","title":"Compare"}}`, at(-9))
	ident := fmt.Sprintf(`{"id":"j-ident","type":"identify","time":%q,"customer":{"id":%q,"anonymous_id":"anon-journey","account_id":"acme"}}`, at(-8), person)
	mail := fmt.Sprintf(`{"id":"j-mail","type":"support_email","time":%q,"customer":{"id":"c-2","account_id":"acme","email":"c2@acme.example"},"properties":{"subject":"How many seats?","body":"private body"}}`, at(-7))
	view := func(id, customer string, m int) [2][]byte {
		return kv([]byte("acme"), fmt.Appendf(nil, `{"id":%q,"type":"page_view","time":%q,"customer":{"id":%q,"account_id":"acme"},"content_id":"pricing-page","properties":{"url":"https://example.com/pricing?utm_source=x","title":"Pricing"}}`, id, at(m), customer))
	}
	other := fmt.Sprintf(`{"id":"j-globex","type":"page_view","time":%q,"customer":{"id":"c-9","account_id":"globex"},"properties":{"url":"https://example.com/"}}`, at(-5))
	app.produce(w, kv([]byte("acme"), []byte(anon)), kv([]byte("acme"), []byte(ident)), kv([]byte("acme"), []byte(mail)),
		view("j-p1", person, -6), view("j-p2", "c-2", -4), view("j-p1", person, -6), // a duplicate
		kv([]byte("globex"), []byte(other)))

	want := []string{"j-anon", "j-ident", "j-mail", "j-p1", "j-p2"}
	p := app.awaitTimeline("/v1/accounts/acme/timeline", token("rep-ana"), func(p timelineItems) bool { return len(p.Items) >= len(want) })
	if !slices.Equal(p.ids(), want) {
		t.Errorf("acme's journey = %q, want %q, the duplicate once", p.ids(), want)
	}
	raw, _ := json.Marshal(p)
	for _, secret := range []string{"email=", "x@y.example", "c2@acme.example", "private body", "utm_source"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the journey holds %q: %s", secret, raw)
		}
	}
	for _, it := range p.Items {
		switch it.EventID {
		case "j-p1":
			if it.CustomerID != person || it.TalkingPoint != "Ask how many seats they plan." || it.URLPath != "/pricing" || it.ContentID != "pricing-page" {
				t.Errorf("j-p1 = %+v, want the person, the URL's path and the content's talking point", it)
			}
		case "j-mail":
			if it.Title != "How many seats?" || it.CustomerID != "c-2" {
				t.Errorf("j-mail = %+v, want its subject as title, by c-2", it)
			}
		}
	}
	// Ben owns globex, not acme.
	app.do("GET", "/v1/accounts/acme/timeline", token("rep-ben"), nil, http.StatusForbidden, nil)
	mine := app.awaitTimeline("/v1/customers/"+person+"/timeline", token("rep-ana"), func(p timelineItems) bool { return len(p.Items) >= 3 })
	if want := []string{"j-anon", "j-ident", "j-p1"}; !slices.Equal(mine.ids(), want) {
		t.Errorf("%s's journey = %q, want %q (their anonymous visit too)", person, mine.ids(), want)
	}

	// Erasure empties the person's journey, their anonymous visit too.
	app.do("DELETE", "/v1/customers/"+person, adminToken, nil, http.StatusAccepted, nil)
	var left timelineItems
	app.do("GET", "/v1/accounts/acme/timeline", token("rep-ana"), nil, http.StatusOK, &left)
	if want := []string{"j-mail", "j-p2"}; !slices.Equal(left.ids(), want) {
		t.Errorf("acme's journey after the erasure = %q, want c-2's %q", left.ids(), want)
	}
	var theirs timelineItems
	app.do("GET", "/v1/customers/"+person+"/timeline", adminToken, nil, http.StatusOK, &theirs)
	if len(theirs.Items) != 0 {
		t.Errorf("%s's journey after the erasure = %q, want nothing", person, theirs.ids())
	}

	// Do-not-track hides a person at once.
	app.do("PUT", "/v1/do-not-track/customer/c-2", adminToken, nil, http.StatusNoContent, nil)
	app.do("GET", "/v1/accounts/acme/timeline", token("rep-ana"), nil, http.StatusOK, &left)
	if len(left.Items) != 0 {
		t.Errorf("acme's journey with c-2 not tracked = %q, want nothing", left.ids())
	}
}
