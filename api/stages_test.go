package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/dowserhq/dowser"
)

const stageModelBody = `{"stages":[
	{"id":"engaged","label":"Engaged","signals":["webinar"]},
	{"id":"mql","label":"Marketing-qualified","signals":["pricing"]},
	{"id":"sales-accepted","label":"Sales-accepted","signals":[]},
	{"id":"opportunity","label":"Opportunity"}],
	"accepted_stage":"sales-accepted"}`

func saveSignals(t *testing.T, save func(context.Context, string, json.RawMessage, string, string, bool) (int, error), ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := save(context.Background(), id, json.RawMessage(`{"id":"`+id+`"}`), "id: "+id, "mkt-jane", true); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStagesAuthorization(t *testing.T) {
	srv, store := newServer(t)
	saveSignals(t, store.Signals.SaveSignal, "pricing", "webinar")
	saveAlert(t, store.Alerts.SaveAlert, "al-1", "pricing", "c-1", "", "rep-ana", "mkt-jane", "mgr-max", "admin")
	type want struct{ none, rep, marketer, manager, admin int }
	const ok, forbidden, unauth = 200, 403, 401
	for _, r := range []struct {
		method, path, body string
		want               want
	}{
		{"GET", "/v1/stages", "", want{unauth, ok, ok, ok, ok}},
		{"PUT", "/v1/stages", stageModelBody, want{unauth, forbidden, ok, ok, ok}},
		{"GET", "/v1/stages/history", "", want{unauth, ok, ok, ok, ok}},
		{"GET", "/v1/stages/versions/1", "", want{unauth, ok, ok, ok, ok}},
		{"GET", "/v1/accounts/acme/stage", "", want{unauth, ok, ok, ok, ok}},
		{"PUT", "/v1/alerts/al-1/handoff", `{"decision":"accept"}`, want{unauth, ok, ok, ok, ok}},
		{"GET", "/v1/handoffs?alert=al-1", "", want{unauth, ok, ok, ok, ok}},
		{"GET", "/v1/handoffs/report", "", want{unauth, forbidden, ok, ok, ok}},
	} {
		for _, who := range []struct {
			user string
			want int
		}{{"", r.want.none}, {"rep-ana", r.want.rep}, {"mkt-jane", r.want.marketer}, {"mgr-max", r.want.manager}, {"admin", r.want.admin}} {
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

func TestStageModelIsVersionedAndChecked(t *testing.T) {
	srv, store := newServer(t)
	mkt := tok("mkt-jane")
	saveSignals(t, store.Signals.SaveSignal, "pricing", "webinar")

	var m dowser.StageModel
	code, body := call(t, srv, "GET", "/v1/stages", tok("rep-ana"), "", nil)
	if err := json.Unmarshal([]byte(body), &m); code != 200 || err != nil || m.Version != 0 || m.Stages == nil || len(m.Stages) != 0 {
		t.Fatalf("GET /v1/stages before any save = %d %v (%s), want version 0 with stages []", code, err, body)
	}
	for _, c := range []struct{ body, names string }{
		{`{"stages":[{"id":"a","label":"A","signals":["nope"]}]}`, `"path":"stages[0].signals[0]"`},
		{`{"stages":[{"id":"a","label":"A"},{"id":"a","label":"B"}]}`, `"path":"stages[1].id"`},
		{`{"stages":[{"id":"a","label":"A","signals":["pricing"]},{"id":"b","label":"B","signals":["pricing"]}]}`, `"path":"stages[1].signals[0]"`},
		{`{"stages":[{"id":"a","label":""}]}`, `"path":"stages[0].label"`},
		{`{"stages":[{"id":"a","label":"A"}],"accepted_stage":"z"}`, `"path":"accepted_stage"`},
		{`{"stages":[],"extra":1}`, `extra`},
	} {
		if code, body := call(t, srv, "PUT", "/v1/stages", mkt, c.body, nil); code != 400 || !strings.Contains(body, c.names) {
			t.Errorf("PUT %s = %d (%s), want 400 naming %s", c.body, code, body, c.names)
		}
	}
	code, body = call(t, srv, "PUT", "/v1/stages", mkt, stageModelBody, nil)
	if err := json.Unmarshal([]byte(body), &m); code != 200 || err != nil || m.Version != 1 || m.SavedBy != "mkt-jane" || len(m.Stages) != 4 || m.Stages[3].Signals == nil {
		t.Fatalf("PUT /v1/stages = %d %v (%s), want version 1 by mkt-jane", code, err, body)
	}
	if code, body := call(t, srv, "PUT", "/v1/stages", tok("mgr-max"), `{"stages":[{"id":"engaged","label":"Engaged","signals":["webinar","pricing"]}]}`, nil); code != 200 || !strings.Contains(body, `"version":2`) {
		t.Fatalf("second PUT = %d (%s), want version 2", code, body)
	}
	var hist struct{ Versions []dowser.StageModel }
	code, body = call(t, srv, "GET", "/v1/stages/history", mkt, "", nil)
	if err := json.Unmarshal([]byte(body), &hist); code != 200 || err != nil || len(hist.Versions) != 2 || hist.Versions[0].SavedBy != "mgr-max" || hist.Versions[1].Version != 1 {
		t.Fatalf("history = %d %v (%s), want versions 2 (mgr-max) and 1", code, err, body)
	}
	if code, body := call(t, srv, "GET", "/v1/stages/versions/1", mkt, "", nil); code != 200 || !strings.Contains(body, `"accepted_stage":"sales-accepted"`) {
		t.Errorf("version 1 = %d (%s)", code, body)
	}
	if code, _ := call(t, srv, "GET", "/v1/stages/versions/3", mkt, "", nil); code != 404 {
		t.Errorf("version 3 = %d, want 404", code)
	}
	if code, _ := call(t, srv, "GET", "/v1/stages/versions/x", mkt, "", nil); code != 400 {
		t.Errorf("version x = %d, want 400", code)
	}
}

func TestHandoffMovesTheAccountAndIsReported(t *testing.T) {
	srv, store := newServer(t)
	rep := tok("rep-ana")
	saveSignals(t, store.Signals.SaveSignal, "pricing", "webinar")
	if code, body := call(t, srv, "PUT", "/v1/stages", tok("mkt-jane"), stageModelBody, nil); code != 200 {
		t.Fatalf("PUT /v1/stages = %d (%s)", code, body)
	}
	saveAlert(t, store.Alerts.SaveAlert, "al-1", "pricing", "c-1", "", "rep-ana")
	saveAlert(t, store.Alerts.SaveAlert, "al-2", "webinar", "c-2", "", "rep-ana")
	saveAlert(t, store.Alerts.SaveAlert, "al-3", "webinar", "c-3", "", "mkt-jane")

	var st dowser.AccountStage
	code, body := call(t, srv, "GET", "/v1/accounts/acme/stage", rep, "", nil)
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || st.Stage != "mql" || len(st.Transitions) != 1 || st.Transitions[0].AlertID != "al-1" {
		t.Fatalf("stage of acme = %d %v (%s), want mql moved by al-1", code, err, body)
	}
	for _, c := range []struct {
		alert, body string
		want        int
		has         string
	}{
		{"al-2", `{"decision":"reject"}`, 400, `"path":"reason"`},
		{"al-2", `{"decision":"maybe"}`, 400, `"path":"decision"`},
		{"al-2", `{"decision":"reject","reason":"no-such"}`, 400, `"path":"reason"`},
		// A reason for wins only does not fit a rejection; an acceptance
		// may carry any active reason.
		{"al-2", `{"decision":"reject","reason":"champion"}`, 400, `does not fit a rejected handoff`},
		{"al-3", `{"decision":"accept"}`, 404, ""},
		{"al-2", `{"decision":"reject","reason":"timing","note":"next quarter"}`, 200, `"moved":false`},
		{"al-1", `{"decision":"accept","reason":"already-in-touch"}`, 200, `"moved":true`},
		{"al-1", `{"decision":"accept"}`, 200, `"moved":false`},
		{"al-1", `{"decision":"accept","reason":"champion"}`, 200, `"moved":false`},
	} {
		if code, body := call(t, srv, "PUT", "/v1/alerts/"+c.alert+"/handoff", rep, c.body, nil); code != c.want || !strings.Contains(body, c.has) {
			t.Errorf("PUT handoff %s %s = %d (%s), want %d with %s", c.alert, c.body, code, body, c.want, c.has)
		}
	}
	// The rep's decisions, read back for the cards: al-3 is not theirs.
	var decided struct{ Handoffs []dowser.HandoffDecision }
	code, body = call(t, srv, "GET", "/v1/handoffs?alert=al-1&alert=al-2&alert=al-3", rep, "", nil)
	if err := json.Unmarshal([]byte(body), &decided); code != 200 || err != nil || len(decided.Handoffs) != 2 {
		t.Fatalf("GET /v1/handoffs = %d %v (%s), want al-1 and al-2", code, err, body)
	}
	for _, d := range decided.Handoffs {
		if (d.AlertID == "al-1" && d.Decision != "accept") || (d.AlertID == "al-2" && (d.Decision != "reject" || d.Reason != "timing" || d.Note != "next quarter")) || d.DecidedAt.IsZero() {
			t.Errorf("decision %+v", d)
		}
	}
	if code, body := call(t, srv, "GET", "/v1/handoffs", rep, "", nil); code != 400 || !strings.Contains(body, "alert") {
		t.Errorf("GET /v1/handoffs without alerts = %d (%s), want 400 naming alert", code, body)
	}
	code, body = call(t, srv, "GET", "/v1/accounts/acme/stage", rep, "", nil)
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || st.Stage != "sales-accepted" || len(st.Transitions) != 2 ||
		st.Transitions[0].Cause != "handoff" || st.Transitions[0].By != "rep-ana" {
		t.Fatalf("stage after acceptance = %d %v (%s), want sales-accepted by rep-ana's handoff", code, err, body)
	}
	var rep12 dowser.HandoffReport
	code, body = call(t, srv, "GET", "/v1/handoffs/report?weeks=4", tok("mgr-max"), "", nil)
	if err := json.Unmarshal([]byte(body), &rep12); code != 200 || err != nil || rep12.Weeks != 4 || len(rep12.Signals) != 2 || len(rep12.Reps) != 1 {
		t.Fatalf("report = %d %v (%s), want 2 signals and 1 rep (mkt-jane's copy is no handoff)", code, err, body)
	}
	if p := rep12.Signals[0]; p.Key != "pricing" || p.Accepted != 1 || p.AcceptanceRate == nil || *p.AcceptanceRate != 1 || p.MedianAcceptSeconds == nil {
		t.Errorf("pricing = %+v, want one accepted at rate 1 with a time", p)
	}
	if a := rep12.Reps[0]; a.Key != "rep-ana" || a.Name != "Ana" || a.Accepted != 1 || a.Rejected != 1 || *a.AcceptanceRate != 0.5 {
		t.Errorf("rep-ana = %+v, want 1 of 2 accepted", a)
	}
	if code, _ := call(t, srv, "GET", "/v1/handoffs/report?weeks=0", tok("mgr-max"), "", nil); code != 400 {
		t.Errorf("weeks=0 = %d, want 400", code)
	}
}
