package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/api"
	"github.com/dowserhq/dowser/links"
	"github.com/dowserhq/dowser/postgres"
)

type teamAnswer struct {
	Manager string
	Reps    []dowser.TeamRep
	Alerts  []struct {
		Rep        string
		RepName    string   `json:"rep_name"`
		AckSeconds *float64 `json:"ack_seconds"`
		Verdict    string
		Reason     string
		Alert      struct{ ID string }
	}
	Next string
}

func (a teamAnswer) ids() []string {
	var ids []string
	for _, x := range a.Alerts {
		ids = append(ids, x.Rep+":"+x.Alert.ID)
	}
	return ids
}

// A manager follows two reps from the API, sees each rep's counts and
// median times, the alerts nobody acknowledged and who acknowledged what
// and how fast, a page at a time; the reps they do not follow stay out.
func TestTeamViewShowsFollowedRepsAlertsAndTimes(t *testing.T) {
	srv, store := newServer(t)
	ctx := context.Background()
	for _, u := range []dowser.User{{ID: "rep-bo", Name: "Bo", Role: dowser.RoleRep}, {ID: "rep-cy", Name: "Cy", Role: dowser.RoleRep}} {
		if err := store.People.PutUser(ctx, u, tok(u.ID)); err != nil {
			t.Fatal(err)
		}
	}
	get := func(path, user string, v any) {
		t.Helper()
		status, body := call(t, srv, "GET", path, tok(user), "", nil)
		if status != http.StatusOK {
			t.Fatalf("GET %s as %s = %d %s", path, user, status, body)
		}
		if err := json.Unmarshal([]byte(body), v); err != nil {
			t.Fatal(err)
		}
	}
	var subs struct{ Reps []dowser.Followable }
	get("/v1/managers/mgr-max/subscriptions", "mgr-max", &subs)
	if got := subs.Reps; len(got) != 3 || got[0].Name != "Ana" || got[0].Followed || got[1].ID != "rep-bo" {
		t.Fatalf("followable reps = %+v, want Ana, Bo, Cy, none followed", got)
	}
	for _, rep := range []string{"rep-ana", "rep-bo"} {
		if status, body := call(t, srv, "PUT", "/v1/managers/mgr-max/subscriptions/"+rep, tok("mgr-max"), "", nil); status != http.StatusNoContent {
			t.Fatalf("following %s = %d %s", rep, status, body)
		}
	}
	get("/v1/managers/mgr-max/subscriptions", "mgr-max", &subs)
	var followed []string
	for _, r := range subs.Reps {
		if r.Followed {
			followed = append(followed, r.ID)
		}
	}
	if !slices.Equal(followed, []string{"rep-ana", "rep-bo"}) {
		t.Fatalf("followed = %v, want rep-ana and rep-bo", followed)
	}

	at := time.Now().Add(-time.Hour)
	seedAlert(t, store, "al-1", "acme", "pricing", "high", at, "rep-ana")
	seedAlert(t, store, "al-2", "acme", "pricing", "high", at, "rep-ana")
	seedAlert(t, store, "al-3", "bolt", "pricing", "urgent", at, "rep-bo")
	seedAlert(t, store, "al-4", "cove", "pricing", "low", at, "rep-cy")
	if err := store.Alerts.Ack(ctx, "rep-ana", "al-1", ""); err != nil {
		t.Fatal(err)
	}
	if status, body := call(t, srv, "PUT", "/v1/alerts/al-2/verdict", tok("rep-ana"), `{"verdict":"not_useful","reason":"timing"}`, nil); status != http.StatusOK {
		t.Fatalf("verdict = %d %s", status, body)
	}

	var team teamAnswer
	get("/v1/team", "mgr-max", &team)
	if len(team.Reps) != 2 {
		t.Fatalf("team reps = %+v, want Ana and Bo", team.Reps)
	}
	ana, bo := team.Reps[0], team.Reps[1]
	if ana.ID != "rep-ana" || ana.Alerts != 2 || ana.Acked != 2 || ana.Verdicts != 1 || ana.Unacted != 0 || ana.MedianAckSeconds == nil || ana.MedianVerdictSeconds == nil {
		t.Errorf("Ana = %+v, want 2 alerts, 2 acked, 1 verdict, none unacted, with median times", ana)
	}
	if bo.ID != "rep-bo" || bo.Alerts != 1 || bo.Unacted != 1 || bo.MedianAckSeconds != nil {
		t.Errorf("Bo = %+v, want 1 alert, unacted, no median", bo)
	}
	if got := team.ids(); !slices.Equal(got, []string{"rep-bo:al-3"}) || team.Alerts[0].RepName != "Bo" {
		t.Errorf("unacted = %v (%+v), want Bo's al-3 only", got, team.Alerts)
	}

	// Who acknowledged what, latest first, a page of one at a time.
	var page1, page2 teamAnswer
	get("/v1/team?state=acted&limit=1", "mgr-max", &page1)
	if got := page1.ids(); !slices.Equal(got, []string{"rep-ana:al-2"}) || page1.Alerts[0].Reason != "timing" || page1.Alerts[0].AckSeconds == nil || page1.Next == "" {
		t.Fatalf("acted page 1 = %v %+v next %q, want al-2 with its reason and time to ack, and a next", got, page1.Alerts, page1.Next)
	}
	get("/v1/team?state=acted&limit=1&cursor="+page1.Next, "mgr-max", &page2)
	if got := page2.ids(); !slices.Equal(got, []string{"rep-ana:al-1"}) || page2.Next != "" {
		t.Errorf("acted page 2 = %v next %q, want al-1 and no next", got, page2.Next)
	}

	// An admin reads any manager's team; each bad parameter is named.
	var asAdmin teamAnswer
	get("/v1/team?manager=mgr-max", "admin", &asAdmin)
	if asAdmin.Manager != "mgr-max" || len(asAdmin.Reps) != 2 {
		t.Errorf("admin's view of mgr-max = %+v", asAdmin)
	}
	for _, c := range []struct{ path, user, want string }{
		{"/v1/team?manager=rep-ana", "admin", "is a rep, not a manager"},
		{"/v1/team?days=0", "mgr-max", "days:"},
		{"/v1/team?state=lost", "mgr-max", "state:"},
		{"/v1/team?cursor=zz", "mgr-max", "cursor:"},
		{"/v1/team", "admin", "manager: required for an admin"},
	} {
		if status, body := call(t, srv, "GET", c.path, tok(c.user), "", nil); status != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("GET %s as %s = %d %s, want 400 naming %q", c.path, c.user, status, body, c.want)
		}
	}

	// Unfollowing takes the rep out of the team.
	if status, body := call(t, srv, "DELETE", "/v1/managers/mgr-max/subscriptions/rep-bo", tok("mgr-max"), "", nil); status != http.StatusNoContent {
		t.Fatalf("unfollowing = %d %s", status, body)
	}
	get("/v1/team", "mgr-max", &team)
	if len(team.Reps) != 1 || len(team.Alerts) != 0 {
		t.Errorf("after unfollowing Bo: reps %+v, unacted %v; want Ana only and nothing unacted", team.Reps, team.ids())
	}
}

// The panel's header counts every unacknowledged alert of the user, not
// the loaded page: snoozed and acknowledged ones are left out.
func TestUnackedCountCoversEveryPage(t *testing.T) {
	srv, store := newServer(t)
	at := time.Now().Add(-time.Hour)
	for _, id := range []string{"al-1", "al-2", "al-3", "al-4", "al-5"} {
		seedAlert(t, store, id, "acme", "pricing", "high", at, "rep-ana")
	}
	count := func() string {
		t.Helper()
		status, body := call(t, srv, "GET", "/v1/alerts/unacked", tok("rep-ana"), "", nil)
		if status != http.StatusOK {
			t.Fatalf("count = %d %s", status, body)
		}
		return strings.TrimSpace(body)
	}
	if got := count(); got != `{"unacked":5}` {
		t.Fatalf("count = %s, want 5", got)
	}
	ctx := context.Background()
	if err := store.Alerts.Ack(ctx, "rep-ana", "al-1", ""); err != nil {
		t.Fatal(err)
	}
	if err := store.Alerts.Snooze(ctx, "rep-ana", "al-2", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != `{"unacked":3}` {
		t.Errorf("after an ack and a snooze, count = %s, want 3", got)
	}
	if status, body := call(t, srv, "GET", "/v1/alerts/unacked", tok("mkt-jane"), "", nil); status != http.StatusOK || !strings.Contains(body, `"unacked":0`) {
		t.Errorf("a user without alerts = %d %s, want 0", status, body)
	}
}

// heardVerdicts listens for the verdicts the store announces to every
// instance, until the test ends.
func heardVerdicts(t *testing.T, store *postgres.Store) <-chan string {
	t.Helper()
	heard := make(chan string, 10)
	listening := make(chan struct{})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := store.Alerts.ListenVerdicts(ctx, func() { close(listening) }, func(v dowser.VerdictGiven) {
			if v.Acked {
				heard <- v.UserID + " " + v.AlertID + " acknowledged"
				return
			}
			heard <- v.UserID + " " + v.AlertID + " " + v.Verdict + " " + v.Reason
		})
		if err != nil {
			t.Errorf("listening for verdicts: %v", err)
		}
	}()
	t.Cleanup(func() { stop(); <-done })
	<-listening
	return heard
}

// nextHeard returns the next verdict heard, or fails after 10 s.
func nextHeard(t *testing.T, heard <-chan string) string {
	t.Helper()
	select {
	case v := <-heard:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no verdict heard in 10 s")
		return ""
	}
}

// A verdict given over REST, with its reason, is announced to every
// instance, whose hubs tell it to the giver's panels and the managers
// who follow them.
func TestVerdictOverRESTIsToldWithItsReason(t *testing.T) {
	srv, store := newServer(t)
	seedAlert(t, store, "al-1", "acme", "pricing", "high", time.Now(), "rep-ana", "mgr-max")
	heard := heardVerdicts(t, store)
	if status, body := call(t, srv, "PUT", "/v1/alerts/al-1/verdict", tok("rep-ana"), `{"verdict":"not_useful","reason":"wrong-person"}`, nil); status != http.StatusOK {
		t.Fatalf("verdict = %d %s", status, body)
	}
	// The giver's listing carries the reason too, for a panel that loads later.
	if status, body := call(t, srv, "GET", "/v1/alerts", tok("rep-ana"), "", nil); status != http.StatusOK || !strings.Contains(body, `"reason":"wrong-person"`) {
		t.Errorf("rep-ana's listing = %d %s, want the verdict's reason", status, body)
	}
	if status, _ := call(t, srv, "PUT", "/v1/alerts/al-9/verdict", tok("rep-ana"), `{"verdict":"useful"}`, nil); status != http.StatusNotFound {
		t.Errorf("verdict on an unknown alert = %d, want 404", status)
	}
	if status, body := call(t, srv, "PUT", "/v1/alerts/al-1/verdict", tok("rep-ana"), `{"verdict":"useful"}`, nil); status != http.StatusOK {
		t.Fatalf("second verdict = %d %s", status, body)
	}
	if got, want := nextHeard(t, heard), "rep-ana al-1 not_useful wrong-person"; got != want {
		t.Errorf("heard %q, want %q", got, want)
	}
	if got, want := nextHeard(t, heard), "rep-ana al-1 useful "; got != want {
		t.Errorf("after a verdict on an unknown alert, heard %q, want %q", got, want)
	}
}

// A verdict given with a one-click link is announced like one given in
// the panel, as stored (keeping the reason given before); an
// acknowledgement link announces an acknowledgement, not a verdict.
func TestVerdictByLinkIsTold(t *testing.T) {
	signer, err := links.New(links.Config{Key: []byte("a-link-key-of-at-least-32-bytes-0123"), BaseURL: "https://dowser.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	srv, store := newServerWith(t, api.Config{Links: signer}, streamStub{})
	seedAlert(t, store, "al-1", "acme", "pricing", "high", time.Now(), "rep-ana", "mgr-max")
	seedAlert(t, store, "al-2", "acme", "pricing", "high", time.Now(), "rep-ana")
	if err := store.Alerts.GiveVerdict(context.Background(), "rep-ana", "al-1", dowser.Verdict{Verdict: dowser.VerdictNotUseful, Reason: "timing"}); err != nil {
		t.Fatal(err)
	}
	heard := heardVerdicts(t, store)
	for _, l := range []struct {
		action dowser.LinkAction
		alert  string
	}{{dowser.LinkAck, "al-2"}, {dowser.LinkNotUseful, "al-1"}} {
		token, err := signer.Token(l.action, l.alert, "rep-ana")
		if err != nil {
			t.Fatal(err)
		}
		if status, body := call(t, srv, "POST", "/v1/links/"+token, "", "", nil); status != http.StatusOK {
			t.Fatalf("%s link = %d %s", l.action, status, body)
		}
	}
	for _, want := range []string{"rep-ana al-2 acknowledged", "rep-ana al-1 not_useful timing"} {
		if got := nextHeard(t, heard); got != want {
			t.Errorf("heard %q, want %q", got, want)
		}
	}
}
