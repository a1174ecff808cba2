package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/kafka"
)

// syncBuffer collects a service's log output, written from many
// goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startAppLogging is startApp with the service's log, every level, going
// to logs instead of the test's output.
func startAppLogging(t *testing.T, logs io.Writer, opts ...func(*serveConfig)) *testApp {
	t.Helper()
	return startAppWithLog(t, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), opts...)
}

// topicAsCompacted reads every partition of topic from its start to its
// end and returns what compaction would leave: the last value of each
// key, tombstones (null values) removing the key.
func topicAsCompacted(t *testing.T, brokers []string, topic string, partitions int) map[string][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[string][]byte{}
	for p := range partitions {
		conn, err := kafkago.DialLeader(ctx, "tcp", brokers[0], topic, p)
		if err != nil {
			t.Fatal(err)
		}
		end, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if end == 0 {
			continue
		}
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, Topic: topic, Partition: p, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 100 * time.Millisecond})
		if err := r.SetOffset(kafkago.FirstOffset); err != nil {
			t.Fatal(err)
		}
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				r.Close()
				t.Fatalf("reading %s/%d: %v", topic, p, err)
			}
			if m.Value == nil {
				delete(out, string(m.Key))
			} else {
				out[string(m.Key)] = m.Value
			}
			if m.Offset >= end-1 {
				break
			}
		}
		r.Close()
	}
	return out
}

// The case: an anonymous visitor fires alerts, identifies as a
// customer with a contact row, fires more; erasing the customer leaves no
// trace of either id in PostgreSQL, the REST API, the alerts topic (as
// compaction leaves it) or the service's log; evidence never held the
// URL's e-mail; the audit hash is keyed.
func TestEndToEndErasureReachesLinkedIdentitiesTopicAndLogs(t *testing.T) {
	const (
		person = "c-erase-7f3"
		anon   = "anon-erase-9d2"
		key    = "test-privacy-key-0123456789abcdef0123456789"
	)
	var logs syncBuffer
	app := startAppLogging(t, &logs, func(c *serveConfig) {
		c.CheckpointEvery = 100 * time.Millisecond
		c.PrivacyKey = key
		c.EvidenceURLParams = "utm_campaign"
	})
	app.seed()
	// A customer-scope signal too, so that alerts have the person (first
	// anonymous, then known) as their subject.
	app.putSignal("pricing-person", `
id: pricing-person
name: Pricing, one person
owner: mkt-omar
audience: prospect
scope: customer
priority: medium
when:
  threshold:
    match: {type: page_view, url: "*/pricing*"}
    count: 2
    within: 1h
cooldown: 0s
message: "{{.Customer}} viewed pricing {{.Count}} times, last {{(index .Evidence 0).URL}}"
`)
	app.do("PUT", "/v1/contacts/"+person, adminToken, map[string]string{"owner": "rep-ana", "account_id": "acme"}, http.StatusOK, nil)
	ana := app.connect("rep-ana")
	ben := app.connect("rep-ben")

	now := time.Now()
	seq := 0
	view := func(customer map[string]any, at time.Time) (key, value []byte, id string) {
		seq++
		id = fmt.Sprintf("evt-privacy-%d", seq)
		ev := map[string]any{
			"id": id, "type": "page_view", "time": at.UTC().Format(time.RFC3339Nano), "customer": customer,
			"properties": map[string]any{"url": "https://example.com/pricing?email=ann%40example.com&utm_campaign=spring#plans", "title": "Pricing"},
		}
		b, _ := json.Marshal(ev)
		return []byte(customer["account_id"].(string)), b, id
	}
	var msgs [][2][]byte
	add := func(k, v []byte, id string) string { msgs = append(msgs, kv(k, v)); return id }
	visitor := map[string]any{"anonymous_id": anon, "account_id": "acme"}
	for i := range 3 {
		add(view(visitor, now.Add(time.Duration(i-10)*time.Minute)))
	}
	ident := fmt.Sprintf(`{"id":"evt-privacy-ident","type":"identify","time":%q,"customer":{"id":%q,"anonymous_id":%q,"account_id":"acme"}}`,
		now.Add(-7*time.Minute).UTC().Format(time.RFC3339), person, anon)
	msgs = append(msgs, kv([]byte("acme"), []byte(ident)))
	last := add(view(map[string]any{"id": person, "account_id": "acme"}, now.Add(-6*time.Minute)))
	for i := range 3 {
		add(view(map[string]any{"id": "g-1", "account_id": "globex"}, now.Add(time.Duration(i-5)*time.Minute)))
	}
	app.produce(app.writer(), msgs...)

	// rep-ana hears the visitor's alerts (two of the person signal, one of
	// the account's), then the two the known person's view fires; rep-ben
	// the three of globex, which the erasure must leave alone.
	var anas []map[string]any
	for fired := 0; fired < 2; {
		_, a := ana.nextAlert(10 * time.Second)
		anas = append(anas, a)
		if a["event_id"] == last {
			fired++
		}
	}
	for range 3 {
		ben.nextAlert(10 * time.Second)
	}
	if len(anas) != 5 {
		t.Errorf("rep-ana got %d alerts before the erasure, want 5", len(anas))
	}
	ctx := context.Background()
	db, err := pgx.Connect(ctx, app.cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(ctx) })
	var anonAlerts int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM alerts WHERE customer_id = $1`, anon).Scan(&anonAlerts); err != nil {
		t.Fatal(err)
	}
	if anonAlerts != 3 {
		t.Errorf("alerts of the anonymous id before the erasure = %d, want 3", anonAlerts)
	}

	// Evidence URLs keep only the allowed parameter: in PostgreSQL, on
	// the websocket, in the message.
	var urls []string
	rows, _ := db.Query(ctx, `SELECT DISTINCT url FROM alert_evidence`)
	urls, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(urls) != 1 || urls[0] != "https://example.com/pricing?utm_campaign=spring" {
		t.Errorf("evidence URLs stored = %q, want only https://example.com/pricing?utm_campaign=spring", urls)
	}
	for _, a := range anas {
		if b, _ := json.Marshal(a); bytes.Contains(b, []byte("email")) || bytes.Contains(b, []byte("#plans")) {
			t.Errorf("alert on the websocket carries the URL's e-mail or fragment: %s", b)
		}
	}

	var erased struct {
		Erasure       int64
		AlertsDeleted int64 `json:"alerts_deleted"`
	}
	erasedAt := time.Now()
	app.do("DELETE", "/v1/customers/"+person, adminToken, nil, http.StatusAccepted, &erased)
	if erased.AlertsDeleted != 5 {
		t.Errorf("alerts deleted = %d, want 5 (the person's and their anonymous id's)", erased.AlertsDeleted)
	}

	traces := func(b []byte) bool { return bytes.Contains(b, []byte(person)) || bytes.Contains(b, []byte(anon)) }
	var listed struct{ Alerts []json.RawMessage }
	app.do("GET", "/v1/alerts?limit=100", adminToken, nil, http.StatusOK, &listed)
	for _, a := range listed.Alerts {
		if traces(a) {
			t.Errorf("GET /v1/alerts still lists %s", a)
		}
	}
	if len(listed.Alerts) != 3 {
		t.Errorf("GET /v1/alerts lists %d alerts, want globex's 3", len(listed.Alerts))
	}

	// Wait until every checkpoint applied the erasure and the queued ids
	// left, and every tombstone reached the alerts topic.
	deadline := time.Now().Add(20 * time.Second)
	var compacted map[string][]byte
	for {
		pending, err := app.store.Privacy.ErasuresAfter(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		var tombstones int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM alert_tombstones`).Scan(&tombstones); err != nil && !strings.Contains(err.Error(), "does not exist") {
			t.Fatal(err)
		}
		compacted = topicAsCompacted(t, app.Brokers(), "dowser.alerts", 3)
		clean := true
		for _, v := range compacted {
			clean = clean && !traces(v)
		}
		if len(pending) == 0 && tombstones == 0 && clean {
			t.Logf("every checkpoint applied the erasure and the alerts topic holds its tombstones %v after DELETE", time.Since(erasedAt).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("after 20 s: %d erasures queued, %d tombstones unwritten, alerts topic clean %v", len(pending), tombstones, clean)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for k, v := range compacted {
		if traces(v) {
			t.Errorf("the alerts topic, compacted, still holds %s: %s", k, v)
		}
	}
	if len(compacted) != 3 {
		t.Errorf("the alerts topic, compacted, holds %d alerts, want globex's 3", len(compacted))
	}

	// No table holds either id any more.
	for _, table := range []string{"alerts", "alert_evidence", "deliveries", "contacts", "erasures", "erasure_audit", "do_not_track", "identity_links"} {
		var n int
		err := db.QueryRow(ctx, `SELECT count(*) FROM `+table+` x WHERE x::text LIKE '%' || $1 || '%' OR x::text LIKE '%' || $2 || '%'`, person, anon).Scan(&n)
		if err != nil && !strings.Contains(err.Error(), "does not exist") {
			t.Fatal(err)
		}
		if n > 0 {
			t.Errorf("%s: %d rows still name the person", table, n)
		}
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE position($1 in payload) > 0 OR position($2 in payload) > 0`, []byte(person), []byte(anon)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		t.Errorf("outbox: %d rows still name the person", n)
	}

	// The audit hash is keyed: not the SHA-256 anyone can compute.
	var audit struct {
		Erasures []struct {
			SubjectSHA256 string `json:"subject_sha256"`
			Scheme        string `json:"subject_hash_scheme"`
		}
	}
	app.do("GET", "/v1/erasures", adminToken, nil, http.StatusOK, &audit)
	plain := sha256.Sum256([]byte(person))
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(person))
	if len(audit.Erasures) != 1 || audit.Erasures[0].SubjectSHA256 == hex.EncodeToString(plain[:]) ||
		audit.Erasures[0].SubjectSHA256 != hex.EncodeToString(mac.Sum(nil)) || audit.Erasures[0].Scheme != "hmac-sha256" {
		t.Errorf("audit = %+v, want one entry with the HMAC-SHA256 of the id under the privacy key", audit.Erasures)
	}

	out := logs.String()
	for _, id := range []string{person, anon} {
		if i := strings.Index(out, id); i >= 0 {
			t.Errorf("the service's log names %q: …%s…", id, out[max(0, i-200):min(len(out), i+100)])
		}
	}
	if strings.Contains(out, "undecodable message on the alerts topic") {
		t.Error("a tailer took a tombstone for an undecodable alert")
	}
	if t.Failed() {
		t.Logf("service log:\n%s", out)
	}
}

// A link the detector learnt but PostgreSQL does not hold (from a
// checkpoint written before links were recorded there) still leads the
// erasure to the anonymous id's alerts, before the checkpoint that
// forgets it.
func TestEndToEndErasureReachesLinksOnlyTheDetectorKnew(t *testing.T) {
	const person, anon = "c-erase-old", "anon-erase-old"
	app := startApp(t, func(c *serveConfig) { c.CheckpointEvery = 100 * time.Millisecond })
	app.seed()
	ana := app.connect("rep-ana")
	now := time.Now()
	ev := func(id string, customer string, at time.Time) [2][]byte {
		return kv([]byte("acme"), fmt.Appendf(nil, `{"id":%q,"type":"page_view","time":%q,"customer":%s,"properties":{"url":"https://example.com/pricing"}}`,
			id, at.UTC().Format(time.RFC3339), customer))
	}
	visitor := fmt.Sprintf(`{"anonymous_id":%q,"account_id":"acme"}`, anon)
	app.produce(app.writer(),
		ev("evt-old-1", visitor, now.Add(-10*time.Minute)),
		ev("evt-old-2", visitor, now.Add(-9*time.Minute)),
		ev("evt-old-3", visitor, now.Add(-8*time.Minute)),
		ev("evt-old-4", fmt.Sprintf(`{"id":%q,"anonymous_id":%q,"account_id":"acme"}`, person, anon), now.Add(-7*time.Minute)),
	)
	for fired := false; !fired; {
		_, a := ana.nextAlert(10 * time.Second)
		fired = a["event_id"] == "evt-old-4"
	}
	ctx := context.Background()
	db, err := pgx.Connect(ctx, app.cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(ctx) })
	// As if the link had been learnt before this version recorded links.
	if _, err := db.Exec(ctx, `DELETE FROM identity_links`); err != nil {
		t.Fatal(err)
	}
	app.do("DELETE", "/v1/customers/"+person, adminToken, nil, http.StatusAccepted, nil)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var left, tombstones int
		if err := db.QueryRow(ctx, `SELECT (SELECT count(*) FROM alerts WHERE customer_id = $1), (SELECT count(*) FROM alert_tombstones)`, anon).Scan(&left, &tombstones); err != nil {
			t.Fatal(err)
		}
		if left == 0 && tombstones == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %d alerts of the linked anonymous id left, %d tombstones unwritten", left, tombstones)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for k, v := range topicAsCompacted(t, app.Brokers(), "dowser.alerts", 3) {
		if bytes.Contains(v, []byte(anon)) {
			t.Errorf("the alerts topic, compacted, still holds %s: %s", k, v)
		}
	}
}

// The alerts topic Dowser creates is compacted and time-limited, so that
// tombstones remove erased alerts; one that exists uncompacted is left
// alone with a warning.
func TestAlertsTopicIsCreatedCompactedOrWarnedAbout(t *testing.T) {
	ctx := context.Background()
	fresh, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fresh.Close)
	startApp(t, func(c *serveConfig) { c.KafkaBrokers = fresh.Addr(); c.AlertsRetention = 2 * time.Hour })
	have, err := kafka.EnsureTopicConfigured(ctx, kafka.Cluster{Brokers: fresh.Brokers()}, "dowser.alerts", 3, 1, map[string]string{"cleanup.policy": "", "retention.ms": "", "segment.ms": ""})
	if err != nil {
		t.Fatal(err)
	}
	if have["cleanup.policy"] != "compact,delete" || have["retention.ms"] != "7200000" || have["segment.ms"] != "3600000" {
		t.Errorf("alerts topic configs = %v, want compact,delete, 2 h retention, hourly segments", have)
	}

	old, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(old.Close)
	if err := kafka.EnsureTopics(ctx, kafka.Cluster{Brokers: old.Brokers()}, 3, 1, "dowser.alerts"); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	startAppLogging(t, &logs, func(c *serveConfig) { c.KafkaBrokers = old.Addr() })
	if !strings.Contains(logs.String(), "the alerts topic is not compacted") {
		t.Errorf("no warning about the uncompacted alerts topic in:\n%s", logs.String())
	}
}
