package api_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

func TestManagerReadsLikeAPersonAndWritesOnlyTheirFollows(t *testing.T) {
	srv, _ := newServer(t)
	if status, body := call(t, srv, "PUT", "/v1/users/mgr-eva", tok("admin"), `{"name":"Eva","role":"manager"}`, nil); status != 200 {
		t.Errorf("creating a manager = %d %s", status, body)
	}
	for _, r := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/v1/session", "", 200},
		{"GET", "/v1/alerts", "", 200},
		{"GET", "/v1/signals", "", 200},
		{"GET", "/v1/precision", "", 200},
		{"GET", "/v1/territory-rules", "", 200},
		{"GET", "/v1/stream", "", 418},
		{"PUT", "/v1/territory-rules/x", `{"rep":"rep-ana"}`, 403},
		// A manager follows and unfollows reps themself, but changes no
		// other manager's subscriptions.
		{"PUT", "/v1/managers/mgr-max/subscriptions/rep-ana", "", 204},
		{"PUT", "/v1/managers/mgr-other/subscriptions/rep-ana", "", 403},
		{"GET", "/v1/managers/mgr-other/subscriptions", "", 403},
		{"GET", "/v1/team?manager=mgr-other", "", 403},
		{"PUT", "/v1/content/x", `{"title":"X"}`, 403},
		{"POST", "/v1/events", `[]`, 403},
	} {
		if status, body := call(t, srv, r.method, r.path, tok("mgr-max"), r.body, nil); status != r.want {
			t.Errorf("%s %s as a manager = %d, want %d (%s)", r.method, r.path, status, r.want, body)
		}
	}
}

func TestRoutingResourcesValidateAndRoundTrip(t *testing.T) {
	srv, _ := newServer(t)
	admin := tok("admin")
	for _, r := range []struct {
		method, path, body string
		want               int
		contains           string
	}{
		{"PUT", "/v1/accounts/acme", `{"name":"Acme","region":"EMEA","industry":"banking","size":"smb"}`, 200, `"region":"EMEA"`},
		{"GET", "/v1/accounts/acme", "", 200, `"industry":"banking","size":"smb"`},
		{"PUT", "/v1/accounts/acme", `{"region":"` + strings.Repeat("r", 129) + `"}`, 400, "region: is 129 bytes, at most 128"},
		{"PUT", "/v1/contacts/c-1", `{"owner":"rep-ana","account_id":"acme"}`, 200, `"account_id":"acme"`},
		{"GET", "/v1/contacts/c-1", "", 200, `{"id":"c-1","owner":"rep-ana","account_id":"acme","identity_consent":false}`},
		{"GET", "/v1/contacts/c-2", "", 404, "not found"},
		{"PUT", "/v1/contacts/c-1", `{"id":"c-9"}`, 400, "does not match"},
		{"PUT", "/v1/contacts/c-1", `{"owner":"not an id"}`, 400, "owner:"},
		{"PUT", "/v1/territory-rules/r1", `{"region":"emea"}`, 400, "rep: is required"},
		{"PUT", "/v1/territory-rules/r1", `{"rep":"rep-ana","colour":"red"}`, 400, "colour"},
		{"PUT", "/v1/territory-rules/r2", `{"priority":2,"industry":"banking","rep":"rep-ana"}`, 200, `"priority":2`},
		{"PUT", "/v1/territory-rules/r1", `{"priority":1,"region":"emea","rep":"rep-ana"}`, 200, `"id":"r1"`},
		{"GET", "/v1/territory-rules", "", 200, `{"rules":[{"id":"r1","priority":1,"region":"emea","industry":"","size":"","rep":"rep-ana"},{"id":"r2"`},
		{"GET", "/v1/territory-rules/r3", "", 404, "not found"},
		{"DELETE", "/v1/territory-rules/r3", "", 404, "not found"},
		{"PUT", "/v1/managers/rep-ana/subscriptions/rep-ana", "", 400, `is a rep, not a manager`},
		{"PUT", "/v1/managers/mgr-max/subscriptions/mkt-jane", "", 400, `is a marketer, not a rep`},
		{"PUT", "/v1/managers/mgr-max/subscriptions/rep-nobody", "", 404, "not found"},
		{"PUT", "/v1/managers/mgr-max/subscriptions/bad%20id", "", 400, "rep:"},
		{"PUT", "/v1/managers/mgr-max/subscriptions/rep-ana", "", 204, ""},
		{"GET", "/v1/signals/nothing/precision", "", 404, "not found"},
		{"GET", "/v1/precision", "", 200, `{"precision":[]}`},
	} {
		status, body := call(t, srv, r.method, r.path, admin, r.body, nil)
		if status != r.want || !strings.Contains(body, r.contains) {
			t.Errorf("%s %s %s = %d %s, want %d containing %s", r.method, r.path, r.body, status, body, r.want, r.contains)
		}
	}
}

// The console codes against this contract: exactly these keys, with
// median_ack_seconds null until an alert is acknowledged.
func TestPrecisionContract(t *testing.T) {
	srv, store := newServer(t)
	ctx := context.Background()
	if status, body := call(t, srv, "PUT", "/v1/signals/pricing", tok("mkt-jane"), signalYAML, nil); status != 200 {
		t.Fatalf("saving the signal = %d %s", status, body)
	}
	a := &schema.Alert{ID: "al-1", SignalID: "pricing", SignalVersion: 1, Subject: "account:acme", CustomerID: "c-1", AccountID: "acme",
		Priority: "high", EventID: "e-1", Time: time.Now()}
	if _, err := store.Alerts.SaveAlert(ctx, a, []string{"rep-ana", "mkt-jane"}); err != nil {
		t.Fatal(err)
	}
	keys := []string{"acked", "alerts", "delivered", "median_ack_seconds", "not_useful", "signal_id", "useful", "won"}
	check := func(body string, want map[string]any) {
		t.Helper()
		var got map[string]any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		var have []string
		for k := range got {
			have = append(have, k)
		}
		slices.Sort(have)
		if !slices.Equal(have, keys) {
			t.Errorf("keys = %v, want %v", have, keys)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %v, want %v (%s)", k, got[k], v, body)
			}
		}
	}
	status, body := call(t, srv, "GET", "/v1/signals/pricing/precision", tok("rep-ana"), "", nil)
	if status != 200 {
		t.Fatalf("precision = %d %s", status, body)
	}
	check(body, map[string]any{"signal_id": "pricing", "alerts": 1.0, "delivered": 2.0, "acked": 0.0, "median_ack_seconds": nil})

	if err := store.Alerts.Feedback(ctx, "rep-ana", "al-1", "useful", "", ""); err != nil {
		t.Fatal(err)
	}
	status, body = call(t, srv, "GET", "/v1/precision", tok("mkt-jane"), "", nil)
	var list struct{ Precision []json.RawMessage }
	if err := json.Unmarshal([]byte(body), &list); status != 200 || err != nil || len(list.Precision) != 1 {
		t.Fatalf("GET /v1/precision = %d %s", status, body)
	}
	check(string(list.Precision[0]), map[string]any{"signal_id": "pricing", "acked": 1.0, "useful": 1.0, "not_useful": 0.0, "won": 0.0})
	var p dowser.Precision
	if err := json.Unmarshal(list.Precision[0], &p); err != nil || p.MedianAckSeconds == nil || *p.MedianAckSeconds < 0 {
		t.Errorf("median after one ack = %v, %v; want a number of seconds", p.MedianAckSeconds, err)
	}
}
