package api_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/api"
)

// people returns, by alert id, the person GET /v1/alerts answers for
// user (nil when none).
func listedPeople(t *testing.T, srv *httptest.Server, user string) map[string]*dowser.Person {
	t.Helper()
	status, body := call(t, srv, "GET", "/v1/alerts", tok(user), "", nil)
	var p struct {
		Alerts []struct {
			Alert  struct{ ID string }
			Person *dowser.Person
		}
	}
	if status != 200 || json.Unmarshal([]byte(body), &p) != nil {
		t.Fatalf("GET /v1/alerts = %d %s", status, body)
	}
	out := map[string]*dowser.Person{}
	for _, a := range p.Alerts {
		out[a.Alert.ID] = a.Person
	}
	return out
}

// timelinePeople returns, by event id, the person of a timeline's items.
func timelinePeople(t *testing.T, srv *httptest.Server, path, user string) map[string]*dowser.Person {
	t.Helper()
	status, body := call(t, srv, "GET", path, tok(user), "", nil)
	var p struct {
		Items []struct {
			EventID string `json:"event_id"`
			Person  *dowser.Person
		}
	}
	if status != 200 || json.Unmarshal([]byte(body), &p) != nil {
		t.Fatalf("GET %s = %d %s", path, status, body)
	}
	out := map[string]*dowser.Person{}
	for _, it := range p.Items {
		out[it.EventID] = it.Person
	}
	return out
}

func putContact(t *testing.T, srv *httptest.Server, id, body string) dowser.Contact {
	t.Helper()
	status, resp := call(t, srv, "PUT", "/v1/contacts/"+id, tok("admin"), body, nil)
	var c dowser.Contact
	if status != 200 || json.Unmarshal([]byte(resp), &c) != nil {
		t.Fatalf("PUT contact %s %s = %d %s", id, body, status, resp)
	}
	return c
}

const annConsents = `{"account_id":"acme","name":"Ann Lee","title":"CTO","email":"ann@acme.example","identity_consent":true,"identity_consent_source":"crm:web-form"}`

func TestWhomToCallShowsOnlyConsentedIdentity(t *testing.T) {
	now := time.Now().UTC()
	all := dowser.IdentityFields{Name: true, Title: true, Email: true}
	srv, store := newServer(t, api.Config{JourneyDays: 30, Identity: all})
	seedJourney(t, store, now)
	seedAlert(t, store, "al-acme", "acme", "pricing", "high", now, "rep-ana") // about c-acme
	seedAlert(t, store, "al-globex", "globex", "pricing", "high", now, "rep-ana")

	ann := putContact(t, srv, "c-acme", annConsents)
	if ann.Name != "Ann Lee" || ann.IdentityConsent == nil || !*ann.IdentityConsent || ann.IdentityConsentAt == nil {
		t.Errorf("stored consenting contact = %+v", ann)
	}
	// Without consent the identity is not stored at all.
	if c := putContact(t, srv, "c-globex", `{"name":"Gus","email":"gus@globex.example","identity_consent":false}`); c.Name != "" || c.Email != "" {
		t.Errorf("contact without consent kept %+v", c)
	}
	putContact(t, srv, "c-1", `{"account_id":"acme","name":"Cy","title":"Buyer","identity_consent":true,"identity_consent_source":"import"}`)

	want := dowser.Person{ID: "c-acme", Name: "Ann Lee", Title: "CTO", Email: "ann@acme.example"}
	shown := func(what string, wantShown bool) {
		t.Helper()
		p := listedPeople(t, srv, "rep-ana")
		if got := p["al-acme"]; wantShown != (got != nil) || (got != nil && *got != want) {
			t.Errorf("%s: al-acme's person = %+v, want shown %v", what, got, wantShown)
		}
		if p["al-globex"] != nil {
			t.Errorf("%s: unconsented person shown: %+v", what, p["al-globex"])
		}
	}
	shown("consented", true)
	tl := timelinePeople(t, srv, "/v1/accounts/acme/timeline", "rep-ana")
	if p := tl["e1"]; p == nil || p.Name != "Cy" || p.Title != "Buyer" || tl["e2"] != nil {
		t.Errorf("timeline people = e1 %+v, e2 %+v; want Cy on e1 only", tl["e1"], tl["e2"])
	}
	// A rep reads a contact as reps are shown it, without the consent's record.
	if _, body := call(t, srv, "GET", "/v1/contacts/c-acme", tok("rep-ana"), "", nil); !strings.Contains(body, `"name":"Ann Lee"`) || strings.Contains(body, "crm:web-form") {
		t.Errorf("a rep's GET contact = %s", body)
	}

	t.Run("withdrawal deletes the identity", func(t *testing.T) {
		putContact(t, srv, "c-acme", `{"account_id":"acme","identity_consent":false}`)
		shown("withdrawn", false)
		if _, body := call(t, srv, "GET", "/v1/contacts/c-acme", tok("admin"), "", nil); strings.Contains(body, "Ann") || strings.Contains(body, "acme.example") {
			t.Errorf("withdrawn identity still stored: %s", body)
		}
		// Consenting again needs the identity again.
		putContact(t, srv, "c-acme", annConsents)
		shown("consented again", true)
		// A save without identity_consent keeps it.
		putContact(t, srv, "c-acme", `{"account_id":"acme","owner":"rep-ana"}`)
		shown("saved without identity fields", true)
	})
	t.Run("do-not-track hides it", func(t *testing.T) {
		ctx := context.Background()
		for _, dnt := range [][2]string{{dowser.DNTCustomer, "c-acme"}, {dowser.DNTAccount, "acme"}} {
			if err := store.Privacy.SetDoNotTrack(ctx, dnt[0], dnt[1], true, "admin"); err != nil {
				t.Fatal(err)
			}
			shown("do-not-track "+dnt[0], false)
			if _, body := call(t, srv, "GET", "/v1/contacts/c-acme", tok("rep-ana"), "", nil); strings.Contains(body, "Ann") {
				t.Errorf("do-not-track %s: a rep's GET contact = %s", dnt[0], body)
			}
			if err := store.Privacy.SetDoNotTrack(ctx, dnt[0], dnt[1], false, "admin"); err != nil {
				t.Fatal(err)
			}
			shown("do-not-track lifted", true)
		}
	})
	t.Run("erasure deletes it", func(t *testing.T) {
		if _, _, err := store.Privacy.EraseCustomer(context.Background(), "c-acme", "admin"); err != nil {
			t.Fatal(err)
		}
		if status, body := call(t, srv, "GET", "/v1/contacts/c-acme", tok("admin"), "", nil); status != 404 {
			t.Errorf("erased contact: GET = %d %s", status, body)
		}
		// The person's events after the erasure make new alerts: they
		// show the id only.
		seedAlert(t, store, "al-acme-2", "acme", "pricing", "high", now, "rep-ana")
		if p := listedPeople(t, srv, "rep-ana")["al-acme-2"]; p != nil {
			t.Errorf("identity outlived the erasure: %+v", p)
		}
	})
}

func TestWhomToCallDefaultShowsIDsOnly(t *testing.T) {
	now := time.Now().UTC()
	srv, store := newServer(t, api.Config{JourneyDays: 30})
	seedJourney(t, store, now)
	seedAlert(t, store, "al-acme", "acme", "pricing", "high", now, "rep-ana")
	putContact(t, srv, "c-acme", annConsents)
	putContact(t, srv, "c-1", `{"name":"Cy","identity_consent":true,"identity_consent_source":"import"}`)
	if _, body := call(t, srv, "GET", "/v1/alerts", tok("rep-ana"), "", nil); strings.Contains(body, "person") || strings.Contains(body, "Ann") {
		t.Errorf("default setting shows people: %s", body)
	}
	if _, body := call(t, srv, "GET", "/v1/accounts/acme/timeline", tok("rep-ana"), "", nil); strings.Contains(body, "person") || strings.Contains(body, "Cy") {
		t.Errorf("default setting shows people on the timeline: %s", body)
	}
	if _, body := call(t, srv, "GET", "/v1/contacts/c-acme", tok("rep-ana"), "", nil); strings.Contains(body, "Ann") {
		t.Errorf("default setting: a rep's GET contact = %s", body)
	}
	// Only the fields configured.
	srv2, store2 := newServer(t, api.Config{Identity: dowser.IdentityFields{Title: true}})
	seedAlert(t, store2, "al-acme", "acme", "pricing", "high", now, "rep-ana")
	putContact(t, srv2, "c-acme", annConsents)
	if p := listedPeople(t, srv2, "rep-ana")["al-acme"]; p == nil || *p != (dowser.Person{ID: "c-acme", Title: "CTO"}) {
		t.Errorf("title only: %+v", p)
	}
}

func TestContactIdentityIsValidated(t *testing.T) {
	srv, _ := newServer(t)
	for _, tc := range []struct{ body, want string }{
		{`{"name":"Ann"}`, "needs identity_consent"},
		{`{"email":"ann@acme.example","identity_consent":true,"identity_consent_source":"x"}`, ""},
		{`{"email":"not an address","identity_consent":true,"identity_consent_source":"x"}`, "email"},
		{`{"email":"Ann <ann@acme.example>","identity_consent":true,"identity_consent_source":"x"}`, "email"},
		{`{"name":"Ann","identity_consent":true}`, "identity_consent_source"},
	} {
		status, body := call(t, srv, "PUT", "/v1/contacts/c-1", tok("admin"), tc.body, nil)
		if tc.want == "" {
			if status != 200 {
				t.Errorf("PUT %s = %d %s, want 200", tc.body, status, body)
			}
			continue
		}
		if status != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("PUT %s = %d %s, want 400 naming %s", tc.body, status, body, tc.want)
		}
	}
}
