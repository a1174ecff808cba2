package api_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// saveAlert stores an alert of signal about customer, at an account, with
// content in its evidence, for the recipients.
func saveAlert(t *testing.T, save func(context.Context, *schema.Alert, []string) (dowser.SavedAlert, error), id, signal, customer, content string, to ...string) {
	t.Helper()
	a := &schema.Alert{ID: id, SignalID: signal, SignalVersion: 1, Subject: "customer:" + customer, CustomerID: customer,
		AccountID: "acme", Priority: "high", EventID: "ev-" + id, Time: time.Now().UTC(),
		Evidence: []schema.Evidence{{EventID: "ev-" + id, Type: "page_view", Time: time.Now().UTC(), CustomerID: customer, ContentID: content}}}
	if _, err := save(context.Background(), a, to); err != nil {
		t.Fatal(err)
	}
}

func TestFeedbackAuthorization(t *testing.T) {
	srv, store := newServer(t)
	saveAlert(t, store.Alerts.SaveAlert, "al-1", "pricing", "c-1", "", "rep-ana", "mkt-jane", "admin")
	type want struct{ none, rep, marketer, admin int }
	const ok, no, forbidden, unauth = 200, 204, 403, 401
	for _, r := range []struct {
		method, path, body string
		want               want
	}{
		{"GET", "/v1/feedback-reasons", "", want{unauth, ok, ok, ok}},
		{"PUT", "/v1/feedback-reasons/budget-cut", `{"label":"Budget cut","position":70}`, want{unauth, forbidden, ok, ok}},
		{"DELETE", "/v1/feedback-reasons/budget-cut", "", want{unauth, forbidden, no, no}},
		{"PUT", "/v1/alerts/al-1/verdict", `{"verdict":"useful"}`, want{unauth, ok, ok, ok}},
		{"GET", "/v1/feedback/report", "", want{unauth, forbidden, ok, ok}},
		{"GET", "/v1/export/alerts.csv", "", want{unauth, forbidden, ok, ok}},
	} {
		for _, who := range []struct {
			user string
			want int
		}{{"", r.want.none}, {"rep-ana", r.want.rep}, {"mkt-jane", r.want.marketer}, {"admin", r.want.admin}} {
			token := ""
			if who.user != "" {
				token = tok(who.user)
			}
			if got, body := call(t, srv, r.method, r.path, token, r.body, nil); got != who.want {
				t.Errorf("%s %s as %q = %d, want %d (%s)", r.method, r.path, who.user, got, who.want, body)
			}
		}
	}
}

func TestStructuredFeedback(t *testing.T) {
	srv, store := newServer(t)
	ctx := context.Background()
	rep := tok("rep-ana")
	mkt := tok("mkt-jane")

	var reasons struct{ Reasons []dowser.FeedbackReason }
	code, body := call(t, srv, "GET", "/v1/feedback-reasons", rep, "", nil)
	if err := json.Unmarshal([]byte(body), &reasons); code != 200 || err != nil {
		t.Fatalf("GET reasons = %d %v (%s)", code, err, body)
	}
	var ids []string
	for _, r := range reasons.Reasons {
		ids = append(ids, r.ID)
	}
	if got, want := strings.Join(ids, ","), "wrong-person,already-in-touch,no-budget,timing,competitor,right-timing,champion,other"; got != want {
		t.Errorf("seeded reasons = %s, want %s", got, want)
	}
	if code, body := call(t, srv, "PUT", "/v1/feedback-reasons/budget-cut", mkt, `{"label":"Budget cut","position":35}`, nil); code != 200 {
		t.Fatalf("PUT reason = %d (%s)", code, body)
	}
	if code, body := call(t, srv, "PUT", "/v1/feedback-reasons/x", mkt, `{"label":""}`, nil); code != 400 || !strings.Contains(body, `"path":"label"`) {
		t.Errorf("PUT reason without label = %d (%s), want 400 naming label", code, body)
	}

	saveAlert(t, store.Alerts.SaveAlert, "al-1", "pricing", "c-1", "pricing-page", "rep-ana")
	saveAlert(t, store.Alerts.SaveAlert, "al-2", "pricing", "c-2", "pricing-page", "rep-ana")
	saveAlert(t, store.Alerts.SaveAlert, "al-3", "webinar", "c-3", "webinar-1", "rep-ana")
	saveAlert(t, store.Alerts.SaveAlert, "al-4", "webinar", "c-4", "", "mkt-jane")

	for _, c := range []struct {
		alert, body string
		want        int
		names       string
	}{
		{"al-1", `{"verdict":"not_useful","reason":"wrong-person","note":"=HYPERLINK(1) talked to the intern"}`, 200, ""},
		{"al-2", `{"verdict":"won","reason":"competitor","value":12500.5,"note":"beat the incumbent"}`, 200, ""},
		{"al-3", `{"verdict":"not_useful","reason":"budget-cut"}`, 200, ""},
		{"al-3", `{"verdict":"useful","value":3}`, 400, `"path":"value"`},
		{"al-3", `{"verdict":"useful","reason":"timing"}`, 400, `"path":"reason"`},
		{"al-3", `{"verdict":"won","reason":"no-such"}`, 400, `"path":"reason"`},
		{"al-3", `{"verdict":"maybe"}`, 400, `"path":"verdict"`},
		{"al-3", `{"verdict":"won","value":-1}`, 400, `"path":"value"`},
		{"al-4", `{"verdict":"useful"}`, 404, ""}, // not addressed to rep-ana
	} {
		code, body := call(t, srv, "PUT", "/v1/alerts/"+c.alert+"/verdict", rep, c.body, nil)
		if code != c.want || !strings.Contains(body, c.names) {
			t.Errorf("PUT verdict %s %s = %d (%s), want %d naming %s", c.alert, c.body, code, body, c.want, c.names)
		}
	}
	// A retired reason is no longer accepted, but the verdicts that gave it
	// keep it.
	if code, body := call(t, srv, "DELETE", "/v1/feedback-reasons/budget-cut", mkt, "", nil); code != 204 {
		t.Fatalf("DELETE reason = %d (%s)", code, body)
	}
	if code, body := call(t, srv, "PUT", "/v1/alerts/al-3/verdict", rep, `{"verdict":"not_useful","reason":"budget-cut"}`, nil); code != 400 || !strings.Contains(body, "budget-cut") {
		t.Errorf("verdict with a retired reason = %d (%s), want 400", code, body)
	}
	// The panel's buttons send the verdict alone: the same verdict keeps
	// the reason given before.
	if err := store.Alerts.Feedback(ctx, "rep-ana", "al-2", "won", "beat the incumbent", ""); err != nil {
		t.Fatal(err)
	}

	var report dowser.FeedbackReport
	code, body = call(t, srv, "GET", "/v1/feedback/report?weeks=4", mkt, "", nil)
	if err := json.Unmarshal([]byte(body), &report); code != 200 || err != nil {
		t.Fatalf("GET report = %d %v (%s)", code, err, body)
	}
	impact := map[string]dowser.SignalImpact{}
	for _, si := range report.Signals {
		impact[si.SignalID] = si
	}
	p := impact["pricing"]
	want := dowser.Outcomes{Alerts: 2, Delivered: 2, Acted: 2, NotUseful: 1, Won: 1, Value: 12500.5}
	if p.Weeks4 != want || p.Weeks12 != want {
		t.Errorf("pricing impact = %+v / %+v, want %+v over 4 and 12 weeks", p.Weeks4, p.Weeks12, want)
	}
	if len(p.Weekly) != 12 || p.Weekly[11].Outcomes != want || !p.Weekly[11].Week.Equal(dowser.WeekStart(time.Now())) {
		t.Errorf("pricing weekly = %+v, want 12 weeks with this week's last", p.Weekly)
	}
	if w := impact["webinar"].Weeks4; w.Alerts != 2 || w.Delivered != 2 || w.Acted != 1 || w.NotUseful != 1 {
		t.Errorf("webinar impact = %+v", w)
	}
	byReason := map[string]dowser.ReasonCount{}
	for _, r := range report.Reasons {
		byReason[r.Reason] = r
	}
	if byReason["wrong-person"].NotUseful != 1 || byReason["competitor"].Won != 1 || byReason["budget-cut"].NotUseful != 1 || byReason["timing"].Reason == "" {
		t.Errorf("reasons = %+v, want wrong-person 1 not useful, competitor 1 won, the retired budget-cut 1, timing listed unused", report.Reasons)
	}
	if len(report.Content) != 2 || report.Content[0].ContentID != "pricing-page" || report.Content[0].Won != 1 || report.Content[0].NotUseful != 1 {
		t.Errorf("content = %+v, want pricing-page first with 1 won and 1 not useful", report.Content)
	}

	rows := exportCSV(t, srv.URL, mkt)
	if got := strings.Join(rows[0], ","); got != strings.Join(dowser.ExportColumns, ",") {
		t.Errorf("CSV header = %s", got)
	}
	if len(rows) != 5 {
		t.Fatalf("CSV has %d rows, want a header and 4 deliveries: %q", len(rows), rows)
	}
	col := func(name string) int {
		for i, c := range dowser.ExportColumns {
			if c == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return 0
	}
	found := false
	for _, r := range rows[1:] {
		if r[0] == "al-1" {
			found = true
			if r[col("reason")] != "wrong-person" || r[col("note")] != "'=HYPERLINK(1) talked to the intern" || r[col("verdict_at")] == "" {
				t.Errorf("al-1 row = %q, want its reason, its note defused and a verdict time", r)
			}
		}
		if r[0] == "al-2" && (r[col("value")] != "12500.50" || r[col("reason")] != "competitor") {
			t.Errorf("al-2 row = %q, want value 12500.50 and reason competitor", r)
		}
	}
	if !found {
		t.Errorf("no row for al-1 in %q", rows)
	}

	// Another verdict from the panel's buttons drops the reason that went
	// with the verdict before: "useful" has none.
	if err := store.Alerts.Feedback(ctx, "rep-ana", "al-3", "useful", "", ""); err != nil {
		t.Fatal(err)
	}
	for _, r := range exportCSV(t, srv.URL, mkt) {
		if r[0] == "al-3" && (r[col("verdict")] != "useful" || r[col("reason")] != "") {
			t.Errorf("al-3 after a useful verdict = %q, want no reason", r)
		}
	}

	// Erasing the person erases the notes written about their alerts.
	if _, _, err := store.Privacy.EraseCustomer(ctx, "c-1", "admin"); err != nil {
		t.Fatal(err)
	}
	for _, r := range exportCSV(t, srv.URL, mkt) {
		if r[0] == "al-1" || strings.Contains(strings.Join(r, ","), "intern") {
			t.Errorf("after erasing c-1 the export still has %q", r)
		}
	}
}

func exportCSV(t *testing.T, base, token string) [][]string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/export/alerts.csv?weeks=4", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatalf("reading the CSV: %v", err)
	}
	return rows
}

func TestContentSearch(t *testing.T) {
	srv, _ := newServer(t)
	mkt := tok("mkt-jane")
	for _, c := range []string{
		`"pricing-page" {"title":"Pricing","url_prefix":"https://example.com/pricing","owner":"mkt-jane"}`,
		`"webinar-1" {"title":"Webinar: 100% uptime","owner":"mkt-jane"}`,
		`"case-study" {"title":"Case study"}`,
	} {
		id, body, _ := strings.Cut(c, " ")
		if code, b := call(t, srv, "PUT", "/v1/content/"+strings.Trim(id, `"`), mkt, body, nil); code != 200 {
			t.Fatalf("PUT content %s = %d (%s)", id, code, b)
		}
	}
	for _, c := range []struct{ query, want string }{
		{"", "case-study,pricing-page,webinar-1"},
		{"?q=PRICING", "pricing-page"},
		{"?q=100%25", "webinar-1"}, // % is literal
		{"?q=_", ""},               // so is _
		{"?owner=mkt-jane", "pricing-page,webinar-1"},
		{"?q=jane&limit=1", "pricing-page"},
	} {
		code, body := call(t, srv, "GET", "/v1/content"+c.query, tok("rep-ana"), "", nil)
		var got struct{ Content []dowser.Content }
		if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil {
			t.Fatalf("GET /v1/content%s = %d %v (%s)", c.query, code, err, body)
		}
		var ids []string
		for _, ci := range got.Content {
			ids = append(ids, ci.ID)
		}
		if strings.Join(ids, ",") != c.want {
			t.Errorf("GET /v1/content%s = %v, want %s", c.query, ids, c.want)
		}
	}
	if code, _ := call(t, srv, "GET", "/v1/content?owner=bad%20id", mkt, "", nil); code != 400 {
		t.Errorf("a bad owner = %d, want 400", code)
	}
}

// Each reason says which decisions it fits: the list can be filtered by
// one, a reason saved without kinds fits all (or keeps its own), and a
// verdict or rejection with a reason that does not fit is refused, but
// for verdicts given before the reason's kinds changed.
func TestFeedbackReasonKinds(t *testing.T) {
	srv, store := newServer(t)
	rep := tok("rep-ana")
	mkt := tok("mkt-jane")
	reasons := func(query string) string {
		t.Helper()
		var list struct{ Reasons []dowser.FeedbackReason }
		code, body := call(t, srv, "GET", "/v1/feedback-reasons"+query, mkt, "", nil)
		if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil {
			t.Fatalf("GET reasons%s = %d %v (%s)", query, code, err, body)
		}
		var out []string
		for _, r := range list.Reasons {
			out = append(out, r.ID+":"+strings.Join(r.Kinds, "+"))
		}
		return strings.Join(out, " ")
	}
	if got, want := reasons(""), "wrong-person:not_useful+reject already-in-touch:not_useful+reject no-budget:not_useful+reject "+
		"timing:not_useful+reject competitor:not_useful+won+reject right-timing:won champion:won other:not_useful+won+reject"; got != want {
		t.Errorf("seeded reasons =\n%s\nwant\n%s", got, want)
	}
	if got, want := reasons("?verdict=won"), "competitor:not_useful+won+reject right-timing:won champion:won other:not_useful+won+reject"; got != want {
		t.Errorf("reasons for won = %s, want %s", got, want)
	}
	if got, want := reasons("?verdict=reject"), "wrong-person:not_useful+reject already-in-touch:not_useful+reject no-budget:not_useful+reject "+
		"timing:not_useful+reject competitor:not_useful+won+reject other:not_useful+won+reject"; got != want {
		t.Errorf("reasons for a rejected handoff = %s, want %s", got, want)
	}
	if code, body := call(t, srv, "GET", "/v1/feedback-reasons?verdict=useful", rep, "", nil); code != 400 || !strings.Contains(body, `"path":"verdict"`) {
		t.Errorf("GET reasons?verdict=useful = %d (%s), want 400 naming verdict", code, body)
	}

	// Saving: kinds in any order are stored in theirs; none given fits all
	// for a new reason and keeps an existing one's (an older client that
	// retires or relabels a reason does not widen it).
	for _, c := range []struct {
		body, want string
	}{
		{`{"label":"Bad data","position":70}`, `"kinds":["not_useful","won","reject"]`},
		{`{"label":"Bad data","position":70,"kinds":["won","not_useful"]}`, `"kinds":["not_useful","won"]`},
		{`{"label":"Bad data","position":70,"retired":true}`, `"kinds":["not_useful","won"]`},
		{`{"label":"Bad data","position":70}`, `"kinds":["not_useful","won"]`},
	} {
		if code, body := call(t, srv, "PUT", "/v1/feedback-reasons/bad-data", mkt, c.body, nil); code != 200 || !strings.Contains(body, c.want) {
			t.Errorf("PUT bad-data %s = %d (%s), want %s", c.body, code, body, c.want)
		}
	}
	if got, want := reasons("?verdict=not_useful&retired=true"), "wrong-person:not_useful+reject already-in-touch:not_useful+reject no-budget:not_useful+reject "+
		"timing:not_useful+reject competitor:not_useful+won+reject other:not_useful+won+reject bad-data:not_useful+won"; got != want {
		t.Errorf("reasons for not useful = %s, want %s", got, want)
	}
	for _, c := range []struct{ body, names string }{
		{`{"label":"X","kinds":[]}`, `"path":"kinds"`},
		{`{"label":"X","kinds":["useful"]}`, `"path":"kinds[0]"`},
		{`{"label":"X","kinds":["won","won"]}`, `"path":"kinds[1]"`},
	} {
		if code, body := call(t, srv, "PUT", "/v1/feedback-reasons/x", mkt, c.body, nil); code != 400 || !strings.Contains(body, c.names) {
			t.Errorf("PUT reason %s = %d (%s), want 400 naming %s", c.body, code, body, c.names)
		}
	}

	saveAlert(t, store.Alerts.SaveAlert, "al-1", "pricing", "c-1", "", "rep-ana")
	saveAlert(t, store.Alerts.SaveAlert, "al-2", "pricing", "c-2", "", "rep-ana")
	saveAlert(t, store.Alerts.SaveAlert, "al-3", "pricing", "c-3", "", "rep-ana")
	for _, c := range []struct {
		alert, body string
		want        int
		names       string
	}{
		{"al-1", `{"verdict":"won","reason":"wrong-person","value":100}`, 400, `reason \"wrong-person\" does not fit a won verdict; it is given with a not_useful verdict or a rejected handoff`},
		{"al-1", `{"verdict":"not_useful","reason":"champion"}`, 400, `reason \"champion\" does not fit a not_useful verdict`},
		{"al-1", `{"verdict":"won","reason":"champion","value":100}`, 200, ""},
		{"al-2", `{"verdict":"not_useful","reason":"wrong-person"}`, 200, ""},
		{"al-3", `{"verdict":"won","reason":"other"}`, 200, ""},
	} {
		code, body := call(t, srv, "PUT", "/v1/alerts/"+c.alert+"/verdict", rep, c.body, nil)
		if code != c.want || !strings.Contains(body, c.names) || (code == 400 && !strings.Contains(body, `"path":"reason"`)) {
			t.Errorf("PUT verdict %s %s = %d (%s), want %d naming %s", c.alert, c.body, code, body, c.want, c.names)
		}
	}

	// "other" stops fitting a win: the win given with it stays, and can be
	// saved again with its value; a new win cannot take it.
	if code, body := call(t, srv, "PUT", "/v1/feedback-reasons/other", mkt, `{"label":"Other","position":60,"kinds":["not_useful"]}`, nil); code != 200 {
		t.Fatalf("PUT other = %d (%s)", code, body)
	}
	if code, body := call(t, srv, "PUT", "/v1/alerts/al-3/verdict", rep, `{"verdict":"won","reason":"other","value":900}`, nil); code != 200 {
		t.Errorf("saving again a win given with other before = %d (%s), want 200", code, body)
	}
	if code, body := call(t, srv, "PUT", "/v1/alerts/al-2/verdict", rep, `{"verdict":"won","reason":"other"}`, nil); code != 400 || !strings.Contains(body, "other") {
		t.Errorf("a new win with other = %d (%s), want 400", code, body)
	}
	var report dowser.FeedbackReport
	code, body := call(t, srv, "GET", "/v1/feedback/report?weeks=4", mkt, "", nil)
	if err := json.Unmarshal([]byte(body), &report); code != 200 || err != nil {
		t.Fatalf("GET report = %d %v (%s)", code, err, body)
	}
	byReason := map[string]dowser.ReasonCount{}
	for _, r := range report.Reasons {
		byReason[r.Reason] = r
	}
	if byReason["other"].Won != 1 || byReason["champion"].Won != 1 || byReason["wrong-person"].NotUseful != 1 || byReason["right-timing"].Label != "Right timing" {
		t.Errorf("report reasons = %+v, want other and champion 1 won each, wrong-person 1 not useful, right-timing listed", report.Reasons)
	}
}
