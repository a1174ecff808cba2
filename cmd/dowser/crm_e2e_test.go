package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dowserhq/dowser/delivery"
)

// crmRequest is one request a CRM receiver took.
type crmRequest struct {
	Method, Path, Auth, ContentType, DeliveryID string
	Body                                        map[string]any
}

// crmReceiver stands in for a CRM's REST API on 127.0.0.1: it records
// every request and answers 201 (HubSpot's create) or 204 (Salesforce's
// upsert of an existing record): any 2xx is acceptance.
type crmReceiver struct {
	url      string
	mu       sync.Mutex
	requests []crmRequest
	bad      []string
	changed  chan struct{}
}

func startCRMReceiver(t *testing.T) *crmReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc := &crmReceiver{url: "http://" + ln.Addr().String(), changed: make(chan struct{}, 1)}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		req := crmRequest{Method: r.Method, Path: r.URL.EscapedPath(), Auth: r.Header.Get("Authorization"),
			ContentType: r.Header.Get("Content-Type"), DeliveryID: r.Header.Get(delivery.HeaderDeliveryID)}
		rc.mu.Lock()
		if err := json.Unmarshal(raw, &req.Body); err != nil {
			rc.bad = append(rc.bad, r.URL.Path+": body is not a JSON object: "+string(raw))
		}
		rc.requests = append(rc.requests, req)
		rc.mu.Unlock()
		select {
		case rc.changed <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusCreated)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return rc
}

// await returns the requests once there are n, failing t after a minute.
func (rc *crmReceiver) await(t *testing.T, n int) []crmRequest {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		rc.mu.Lock()
		got, bad := append([]crmRequest(nil), rc.requests...), rc.bad
		rc.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("receiver: %v", bad)
		}
		if len(got) >= n {
			return got
		}
		select {
		case <-rc.changed:
		case <-deadline:
			t.Fatalf("%d requests within a minute, want %d: %+v", len(got), n, got)
		}
	}
}

// crmExample returns the channel body docs/delivery.md gives for crm
// (hubspot, salesforce), aimed at target: the docs' examples are what is
// tested.
func crmExample(t *testing.T, name, target string) map[string]any {
	t.Helper()
	doc, err := os.ReadFile("../../docs/delivery.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- crm-example: "+name+" -->\n```json\n")
	if !ok {
		t.Fatalf("docs/delivery.md has no crm example %q", name)
	}
	block, _, _ := strings.Cut(rest, "```")
	var body map[string]any
	if err := json.Unmarshal([]byte(block), &body); err != nil {
		t.Fatalf("crm example %s: %v", name, err)
	}
	body["target"] = target
	return body
}

// path returns the value at the dotted path in a decoded JSON body
// ("properties.hs_task_subject", "associations.0.to.id").
func path(v any, p string) any {
	for _, k := range strings.Split(p, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			if len(k) != 1 || k[0] < '0' || int(k[0]-'0') >= len(x) {
				return nil
			}
			v = x[k[0]-'0']
		default:
			return nil
		}
	}
	return v
}

// The docs' HubSpot and Salesforce examples, set up by an admin, write
// each alert and each verdict (given over REST and over the websocket) to
// receivers that check the request shape; each delivery id arrives once.
// A rep cannot add a crm channel, and a broken template is refused naming
// the field.
func TestEndToEndCRMWriteBack(t *testing.T) {
	app := startApp(t, func(c *serveConfig) { c.DeliveryBackoff = 50 * time.Millisecond })
	app.seed()
	hub, sf := startCRMReceiver(t), startCRMReceiver(t)
	hubspot := crmExample(t, "hubspot", hub.url)
	var created struct {
		ID  int64
		CRM map[string]any
	}
	app.do("POST", "/v1/channels", adminToken, hubspot, http.StatusCreated, &created)
	if created.CRM == nil {
		t.Errorf("the created channel shows no templates")
	}
	app.do("POST", "/v1/channels", adminToken, crmExample(t, "salesforce", sf.url), http.StatusCreated, nil)
	app.do("POST", "/v1/channels", token("rep-ana"), crmExample(t, "salesforce", sf.url), http.StatusForbidden, nil)
	broken := crmExample(t, "salesforce", sf.url)
	broken["crm"].(map[string]any)["alert"].(map[string]any)["body"] = `{"Subject": {{.Alert.Message}}}`
	var refused struct {
		Problems []struct{ Path, Reason string }
	}
	app.do("POST", "/v1/channels", adminToken, broken, http.StatusBadRequest, &refused)
	if len(refused.Problems) != 1 || refused.Problems[0].Path != "crm.alert.body" || !strings.Contains(refused.Problems[0].Reason, "invalid JSON") {
		t.Errorf("a body rendering invalid JSON was refused with %+v, want crm.alert.body: … invalid JSON", refused.Problems)
	}

	ana := app.connect("rep-ana")
	w := app.writer()
	now := time.Now()
	app.produce(w,
		kv(pricingView("acme", "c-1", now.Add(-3*time.Minute))),
		kv(pricingView("acme", "c-2", now.Add(-2*time.Minute))),
		kv(pricingView("acme", "c-1", now.Add(-time.Minute))),
	)
	_, alert := ana.nextAlert(5 * time.Second)
	id := alert["id"].(string)

	const tok = "Bearer "
	h := hub.await(t, 1)[0]
	if h.Method != "POST" || h.Path != "/crm/v3/objects/tasks" || h.Auth != tok+hubspot["secret"].(string) || h.ContentType != "application/json" {
		t.Errorf("HubSpot alert request = %s %s auth %q type %q", h.Method, h.Path, h.Auth, h.ContentType)
	}
	for p, want := range map[string]any{
		"properties.hs_task_subject": "[HIGH] Pricing research", "properties.hs_task_status": "NOT_STARTED",
		"associations.0.to.id": "acme", "associations.0.types.0.associationTypeId": float64(192),
	} {
		if got := path(h.Body, p); got != want {
			t.Errorf("HubSpot task %s = %v, want %v", p, got, want)
		}
	}
	if b, _ := path(h.Body, "properties.hs_task_body").(string); !strings.Contains(b, "acme: pricing viewed 3 times") || !strings.Contains(b, "page_view: Pricing") || !strings.Contains(b, id) {
		t.Errorf("HubSpot task body = %q, want the message, the journey and the alert id", b)
	}
	if ts, _ := path(h.Body, "properties.hs_timestamp").(string); ts == "" {
		t.Errorf("HubSpot task has no hs_timestamp")
	}
	s := sf.await(t, 1)[0]
	upsert := "/services/data/v60.0/sobjects/Task/Dowser_Alert_Id__c/" + id
	if s.Method != "PATCH" || s.Path != upsert || !strings.HasPrefix(s.Auth, tok+"00D") {
		t.Errorf("Salesforce alert request = %s %s auth %q, want PATCH %s with the token", s.Method, s.Path, s.Auth, upsert)
	}
	for p, want := range map[string]any{"Subject": "[HIGH] Pricing research", "Status": "Not Started", "WhatId": "acme"} {
		if got := path(s.Body, p); got != want {
			t.Errorf("Salesforce task %s = %v, want %v", p, got, want)
		}
	}

	// A verdict over REST, then one over the websocket: each is one update
	// per channel.
	value := 12000.0
	app.do("PUT", "/v1/alerts/"+id+"/verdict", token("rep-ana"), map[string]any{"verdict": "won", "value": value, "note": "Signed"}, http.StatusOK, nil)
	h = hub.await(t, 2)[1]
	if h.Method != "POST" || h.Path != "/crm/v3/objects/notes" || h.Auth != tok+hubspot["secret"].(string) {
		t.Errorf("HubSpot verdict request = %s %s auth %q", h.Method, h.Path, h.Auth)
	}
	if b, _ := path(h.Body, "properties.hs_note_body").(string); !strings.Contains(b, id) || !strings.Contains(b, "won by rep-ana") || !strings.Contains(b, "Signed") {
		t.Errorf("HubSpot note = %q, want the alert, the verdict and its note", b)
	}
	if got := path(h.Body, "associations.0.types.0.associationTypeId"); got != float64(190) {
		t.Errorf("HubSpot note association type = %v, want 190", got)
	}
	s = sf.await(t, 2)[1]
	if s.Method != "PATCH" || s.Path != upsert || path(s.Body, "Status") != "Completed" {
		t.Errorf("Salesforce verdict request = %s %s %v, want PATCH %s completing the task", s.Method, s.Path, s.Body, upsert)
	}
	if d, _ := path(s.Body, "Description").(string); !strings.Contains(d, "Verdict: won by rep-ana") {
		t.Errorf("Salesforce description = %q", d)
	}
	ana.send(map[string]any{"op": "feedback", "id": id, "verdict": "useful"})
	// The REST verdict's news to ana's other panels (this one) may come
	// first.
	f := ana.next(5 * time.Second)
	for f["op"] == "verdict" {
		f = ana.next(5 * time.Second)
	}
	if f["op"] != "feedback_saved" {
		t.Fatalf("feedback answered %v", f)
	}
	for _, rc := range []*crmReceiver{hub, sf} {
		got := rc.await(t, 3)
		seen := map[string]int{}
		for _, r := range got {
			seen[r.DeliveryID]++
		}
		if len(seen) != 3 {
			t.Errorf("%s: %d delivery ids over %d requests, want 3 (alert and two verdicts), each once: %v", rc.url, len(seen), len(got), seen)
		}
	}
	if b, _ := path(hub.await(t, 3)[2].Body, "properties.hs_note_body").(string); !strings.Contains(b, "useful by rep-ana") {
		t.Errorf("the websocket verdict's note = %q", b)
	}

	// The channel's deliveries: sent, the verdicts' naming their user.
	var list struct {
		Deliveries []struct {
			Status      string
			VerdictUser string `json:"verdict_user"`
		}
	}
	// Acceptance is recorded just after the receiver answered.
	awaitCond(t, 30*time.Second, "the crm channel's deliveries recorded as sent", func() bool {
		list.Deliveries = nil
		app.do("GET", "/v1/channels/"+strconv.FormatInt(created.ID, 10)+"/deliveries", adminToken, nil, http.StatusOK, &list)
		for _, d := range list.Deliveries {
			if d.Status != "sent" {
				return false
			}
		}
		return true
	})
	verdicts := 0
	for _, d := range list.Deliveries {
		if d.VerdictUser == "rep-ana" {
			verdicts++
		}
	}
	for _, d := range list.Deliveries {
		if d.Status != "sent" {
			t.Errorf("a delivery is %q, want sent", d.Status)
		}
	}
	if len(list.Deliveries) != 3 || verdicts != 2 {
		t.Errorf("deliveries = %+v, want 3 of which 2 verdicts of rep-ana", list.Deliveries)
	}
}
