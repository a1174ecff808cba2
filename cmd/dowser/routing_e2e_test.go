package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser"
)

// An account without an owner goes to its territory rule's rep, and the
// rep's manager follows; a contact with a rep of their own goes to that
// rep; feedback shows in the signal's precision.
func TestEndToEndTerritoryRuleContactAndManager(t *testing.T) {
	app := startApp(t)
	app.seed()
	app.do("PUT", "/v1/users/mgr-max", adminToken, map[string]string{"name": "Max", "role": "manager", "token": token("mgr-max")}, http.StatusOK, nil)
	app.do("PUT", "/v1/managers/mgr-max/subscriptions/rep-ben", adminToken, nil, http.StatusNoContent, nil)
	app.do("PUT", "/v1/accounts/initech", adminToken, map[string]string{"name": "Initech", "region": "emea", "industry": "banking"}, http.StatusOK, nil)
	app.do("PUT", "/v1/territory-rules/anything-else", adminToken, map[string]any{"priority": 10, "rep": "rep-ana"}, http.StatusOK, nil)
	app.do("PUT", "/v1/territory-rules/emea-banks", adminToken, map[string]any{"priority": 1, "region": "EMEA", "industry": "banking", "rep": "rep-ben"}, http.StatusOK, nil)
	app.do("PUT", "/v1/contacts/c-vip", adminToken, map[string]string{"owner": "rep-ana", "account_id": "initech"}, http.StatusOK, nil)
	ana := app.connect("rep-ana")
	ben := app.connect("rep-ben")
	max := app.connect("mgr-max")

	w := app.writer()
	now := time.Now()
	app.produce(w,
		kv(pricingView("initech", "i-1", now.Add(-3*time.Minute))),
		kv(pricingView("initech", "i-2", now.Add(-2*time.Minute))),
		kv(pricingView("initech", "i-1", now.Add(-time.Minute))),
	)
	_, alert := ben.nextAlert(2 * time.Second)
	if alert["account_id"] != "initech" {
		t.Fatalf("rep-ben's alert = %v, want initech's (territory rule emea-banks)", alert)
	}
	if _, maxs := max.nextAlert(2 * time.Second); maxs["id"] != alert["id"] {
		t.Errorf("mgr-max got %v, want rep-ben's alert %v", maxs["id"], alert["id"])
	}
	if n := app.alertCount("rep-ana"); n != 0 {
		t.Errorf("rep-ana (the catch-all rule's rep) was addressed %d alerts, want 0", n)
	}

	// The lifecycle: seen, then judged; precision counts it.
	id := alert["id"].(string)
	ben.send(map[string]any{"op": "seen", "id": id})
	if f := ben.next(2 * time.Second); f["op"] != "seen_ok" || f["id"] != id {
		t.Errorf("seen answered %v", f)
	}
	ben.send(map[string]any{"op": "feedback", "id": id, "verdict": "useful"})
	if f := ben.next(2 * time.Second); f["op"] != "feedback_saved" {
		t.Errorf("feedback answered %v", f)
	}
	var p struct {
		SignalID  string   `json:"signal_id"`
		Alerts    int      `json:"alerts"`
		Delivered int      `json:"delivered"`
		Acked     int      `json:"acked"`
		Useful    int      `json:"useful"`
		Median    *float64 `json:"median_ack_seconds"`
	}
	app.do("GET", "/v1/signals/pricing-research/precision", token("mkt-omar"), nil, http.StatusOK, &p)
	// Delivered to rep-ben, mgr-max and mkt-jane (the pricing page's owner).
	if p.SignalID != "pricing-research" || p.Alerts != 1 || p.Delivered != 3 || p.Acked != 1 || p.Useful != 1 || p.Median == nil {
		t.Errorf("precision = %+v", p)
	}

	// A person with a rep of their own: their alert goes to that rep,
	// whatever the territory says, and not to rep-ben's manager.
	app.produce(w, kv(pricingView("initech", "c-vip", now)))
	if _, a := ana.nextAlert(2 * time.Second); a["customer_id"] != "c-vip" {
		t.Errorf("rep-ana's alert = %v, want c-vip's", a)
	}
	if n := app.alertCount("mgr-max"); n != 1 {
		t.Errorf("mgr-max was addressed %d alerts, want only rep-ben's one", n)
	}
}

// The attack: a marketer saves a catch-all content item owned by
// rep B, and rep B received rep A's alerts as its "marketing owner". The
// save is refused naming both fields; a row stored before the fix (or by
// hand) is skipped at routing time and counted; rep B hears nothing.
func TestEndToEndContentOwnerAttackIsRefusedAndSkipped(t *testing.T) {
	app := startApp(t)
	app.seed()
	var refused struct {
		Error    string
		Problems []struct{ Path, Reason string }
	}
	app.do("PUT", "/v1/content/x", token("mkt-omar"), map[string]string{"url_prefix": "https://", "owner": "rep-ben"}, http.StatusBadRequest, &refused)
	if len(refused.Problems) != 2 || refused.Problems[0].Path != "url_prefix" || refused.Problems[1].Path != "owner" {
		t.Fatalf("attack answered %+v, want problems naming url_prefix and owner", refused)
	}
	app.do("GET", "/v1/content/x", token("mkt-omar"), nil, http.StatusNotFound, nil)

	// The same row, as saved before owners were checked.
	if err := app.store.Directory.PutContent(context.Background(), dowser.Content{ID: "legacy", URLPrefix: "https://", OwnerID: "rep-ben"}); err != nil {
		t.Fatal(err)
	}
	ana := app.connect("rep-ana")
	ben := app.connect("rep-ben")
	jane := app.connect("mkt-jane")
	w := app.writer()
	now := time.Now()
	app.produce(w,
		kv(pricingView("acme", "c-1", now.Add(-3*time.Minute))),
		kv(pricingView("acme", "c-2", now.Add(-2*time.Minute))),
		kv(pricingView("acme", "c-1", now.Add(-time.Minute))),
	)
	_, alert := ana.nextAlert(5 * time.Second)
	if _, janes := jane.nextAlert(5 * time.Second); janes["id"] != alert["id"] {
		t.Errorf("the pricing page's owner got %v, want %v", janes["id"], alert["id"])
	}
	// Deliveries are stored with the alert in one transaction: once Ana
	// has it, Ben's would be stored too.
	if n := app.alertCount("rep-ben"); n != 0 {
		t.Errorf("rep-ben was addressed %d of rep-ana's alerts", n)
	}
	if f, ok := ben.pending(); ok {
		t.Errorf("rep-ben received %v", f)
	}
	resp, err := http.Get("http://" + app.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `dowser_routing_owner_skipped_total{step="content"} 1`; !strings.Contains(string(metrics), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}
