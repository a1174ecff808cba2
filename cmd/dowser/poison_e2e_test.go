package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// Poison events (issue 11): an event that can never be processed goes to
// the dead-letter topic with its reason and the partition goes on; one
// that cannot be processed *yet* stalls its partition visibly. Every wait
// is bounded, so that the hang these tests guard against fails them.

// deadLetter is one message of the dead-letter topic.
type deadLetter struct {
	key, value []byte
	h          map[string]string
}

// deadLetters reads the dead-letter topic from its start until it holds
// n messages, or fails t after 30 s.
func (a *testApp) deadLetters(n int) []deadLetter {
	a.t.Helper()
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: a.Brokers(), Topic: kafka.DLQTopic("dowser.events"), GroupID: fmt.Sprintf("test-dlq-%d", time.Now().UnixNano()),
		StartOffset: kafkago.FirstOffset, MaxWait: 100 * time.Millisecond, MaxBytes: 4 << 20,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []deadLetter
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			a.t.Fatalf("reading the dead-letter topic (have %d of %d): %v", len(out), n, err)
		}
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		out = append(out, deadLetter{key: m.Key, value: m.Value, h: h})
	}
	return out
}

// byOffset indexes dead letters by the offset they had on the events topic.
func byOffset(t *testing.T, dls []deadLetter) map[int64]deadLetter {
	t.Helper()
	out := map[int64]deadLetter{}
	for _, d := range dls {
		o, err := strconv.ParseInt(d.h[kafka.HeaderOffset], 10, 64)
		if err != nil {
			t.Fatalf("dead letter without an offset: %v", d.h)
		}
		out[o] = d
	}
	return out
}

// produceAt produces messages one by one and returns the offset of each.
func (a *testApp) produceAt(w *kafkago.Writer, msgs ...[2][]byte) []int64 {
	a.t.Helper()
	offsets := make([]int64, len(msgs))
	for i, m := range msgs {
		a.produce(w, m)
		offsets[i] = a.lastOffset(string(m[0]))
	}
	return offsets
}

// lastOffset is the offset of the last message in key's partition.
func (a *testApp) lastOffset(key string) int64 {
	a.t.Helper()
	conn, err := kafkago.DialLeader(context.Background(), "tcp", a.Brokers()[0], "dowser.events", partitionOf(key, 3))
	if err != nil {
		a.t.Fatal(err)
	}
	defer conn.Close()
	last, err := conn.ReadLastOffset()
	if err != nil {
		a.t.Fatal(err)
	}
	return last - 1
}

// view is an encoded pricing view of account acme by c-1, key acme, with
// title as its page title.
func view(id, title string, at time.Time) [2][]byte {
	ev := map[string]any{
		"id": id, "type": "page_view", "time": at.UTC().Format(time.RFC3339Nano), "content_id": "pricing-page",
		"customer":   map[string]any{"id": "c-1", "account_id": "acme"},
		"properties": map[string]any{"url": "https://example.com/pricing", "title": title},
	}
	b, _ := json.Marshal(ev)
	return kv([]byte("acme"), b)
}

func TestEndToEndPoisonEventsGoToDeadLetterTopicAndThePartitionGoesOn(t *testing.T) {
	now := time.Now()
	// Just under the events topic's limit (the kafka-go writer's 1 MiB
	// and the broker's max.message.bytes, 1 MiB + 12 for a whole batch):
	// accepted there, but its dead-letter copy, with headers, is over it.
	const bigSize = 1<<20 - 100
	big := kv([]byte("acme"), []byte(`{"id":"evt-big","pad":"`+strings.Repeat("x", bigSize-25)+`"}`))
	future := view("evt-2262", "Pricing", time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, c := range []struct {
		name   string
		poison [2][]byte
		reason string
		error  string // how dowser-error starts
	}{
		{"NUL in account_id", kv([]byte("acme"), fmt.Appendf(nil, `{"id":"evt-nul-account","type":"page_view","time":%q,"customer":{"id":"c-2","account_id":"ac\u0000me"}}`,
			now.Add(-5*time.Minute).UTC().Format(time.RFC3339))),
			"bad_field", "bad_field: customer.account_id: "},
		// The third view within the hour: it would fire, and its alert's
		// evidence would carry the NUL.
		{"NUL in the title of a firing event", view("evt-nul-title", "Pri\x00cing", now.Add(-4*time.Minute)),
			"bad_field", "bad_field: properties.title: "},
		{"a message just under 1 MiB", big, "too_large", "too_large: "},
		{"an event dated 2262", future, "bad_field", "bad_field: time: 2262-01-01T00:00:00Z is more than 1h0m0s ahead of the clock"},
	} {
		t.Run(c.name, func(t *testing.T) {
			app := startApp(t, func(c *serveConfig) { c.MaxEventSkew = time.Hour })
			app.seed()
			ana := app.connect("rep-ana")
			w := app.writer()
			offsets := app.produceAt(w,
				view("evt-1", "Pricing", now.Add(-7*time.Minute)),
				view("evt-2", "Pricing", now.Add(-6*time.Minute)),
				c.poison,
				view("evt-3", "Pricing", now.Add(-time.Minute)),
			)
			// The partition went past the poison: the third good view fires.
			if _, a := ana.nextAlert(20 * time.Second); a["event_id"] != "evt-3" || a["count"] != 3.0 {
				t.Errorf("alert = %v, want the one evt-3 fired counting three views", a)
			}
			d := app.deadLetters(1)[0]
			if d.h[kafka.HeaderOffset] != strconv.FormatInt(offsets[2], 10) || d.h[kafka.HeaderReason] != c.reason || !strings.HasPrefix(d.h[kafka.HeaderError], c.error) {
				t.Errorf("dead letter at offset %s as %q %q, want offset %d as %q %q...",
					d.h[kafka.HeaderOffset], d.h[kafka.HeaderReason], d.h[kafka.HeaderError], offsets[2], c.reason, c.error)
			}
			if len(c.poison[1]) < 1<<20-1<<10 {
				if string(d.value) != string(c.poison[1]) || string(d.key) != "acme" || d.h[kafka.HeaderTruncated] != "" {
					t.Errorf("dead letter %q %q (truncated: %q), want the message as it was", d.key, d.value, d.h[kafka.HeaderTruncated])
				}
				return
			}
			// Cut to what fits, saying so.
			if d.h[kafka.HeaderTruncated] != strconv.Itoa(len(c.poison[1])) || len(d.value) > 64<<10 ||
				string(d.value) != string(c.poison[1][:len(d.value)]) || string(d.key) != "acme" {
				t.Errorf("dead letter of the large message: %d bytes, key %q, %s %q; want its first bytes, at most 64 KiB, and the original size %d",
					len(d.value), d.key, kafka.HeaderTruncated, d.h[kafka.HeaderTruncated], len(c.poison[1]))
			}
		})
	}

	// Over HTTP the same far-future event is refused, naming the field.
	t.Run("an event dated 2262 over HTTP", func(t *testing.T) {
		app := startApp(t, func(c *serveConfig) { c.MaxEventSkew = time.Hour })
		app.do("PUT", "/v1/users/tracker", adminToken, map[string]string{"name": "Web tracker", "role": "source", "token": token("tracker")}, http.StatusOK, nil)
		var problem struct {
			Problems []struct{ Reason, Field, Error string }
		}
		app.do("POST", "/v1/events", token("tracker"), []json.RawMessage{future[1]}, http.StatusUnprocessableEntity, &problem)
		if len(problem.Problems) != 1 || problem.Problems[0].Reason != "bad_field" || problem.Problems[0].Field != "time" {
			t.Errorf("posting an event dated 2262: problems %+v, want bad_field time", problem.Problems)
		}
	})
}

// readyz returns /readyz's status and its "stalled" list.
func (a *testApp) readyz() (int, []string) {
	a.t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr() + "/readyz")
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Stalled []string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		a.t.Fatalf("decoding /readyz: %v", err)
	}
	return resp.StatusCode, body.Stalled
}

// metric returns the value of the series named by name and labels (as
// exposed, e.g. `dowser_consumer_lag{partition="1"}`), or -1 when absent.
func (a *testApp) metric(series string) float64 {
	a.t.Helper()
	resp, err := http.Get("http://" + a.HTTPAddr() + "/metrics")
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				a.t.Fatalf("%s: %v", sc.Text(), err)
			}
			return f
		}
	}
	return -1
}

// await polls cond every 50 ms until it holds, or fails t after within:
// /readyz and /metrics have nothing to wait on.
func await(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A trigger on alerts makes the insert of an alert of signal (every
// signal when NULL) fail with the SQLSTATE code, while table fault has
// that row: a real PostgreSQL error, on demand.
const faultTrigger = `
CREATE TABLE fault (code text NOT NULL, signal text);
CREATE FUNCTION inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE c text;
BEGIN
	SELECT code INTO c FROM fault WHERE signal IS NULL OR signal = NEW.signal_id LIMIT 1;
	IF c IS NOT NULL THEN
		RAISE EXCEPTION 'injected fault %', c USING ERRCODE = c;
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER inject_fault BEFORE INSERT ON alerts FOR EACH ROW EXECUTE FUNCTION inject_fault();`

func TestEndToEndTransientFailureStallsVisiblyAndPermanentOneIsDeadLettered(t *testing.T) {
	app := startApp(t, func(c *serveConfig) { c.StallThreshold = 500 * time.Millisecond })
	app.seed()
	ana := app.connect("rep-ana")
	w := app.writer()
	db := app.cfg.DatabaseURL
	pgtest.Exec(t, db, faultTrigger)
	part := partitionOf("acme", 3)
	now := time.Now()

	// Transient: a serialization failure (40001) on every alert insert.
	// The partition retries the firing event and says so.
	pgtest.Exec(t, db, `INSERT INTO fault VALUES ('40001', NULL)`)
	offsets := app.produceAt(w,
		view("evt-1", "Pricing", now.Add(-5*time.Minute)),
		view("evt-2", "Pricing", now.Add(-4*time.Minute)),
		view("evt-3", "Pricing", now.Add(-3*time.Minute)),
	)
	wantStall := fmt.Sprintf("partition %d stalled at offset %d for ", part, offsets[2])
	var stalled []string
	await(t, 20*time.Second, "/readyz reporting the stall", func() bool {
		_, stalled = app.readyz()
		return len(stalled) == 1 && strings.HasPrefix(stalled[0], wantStall) && strings.Contains(stalled[0], "SQLSTATE 40001")
	})
	if status, _ := app.readyz(); status != http.StatusOK {
		t.Errorf("/readyz status %d during a stall, want 200 (a stall is reported, not unready)", status)
	}
	label := fmt.Sprintf(`{partition="%d"}`, part)
	if s := app.metric("dowser_partition_stalled_seconds" + label); s < 0.5 {
		t.Errorf("dowser_partition_stalled_seconds%s = %v during a stall, want at least the threshold", label, s)
	}
	if lag := app.metric("dowser_consumer_lag" + label); lag < 1 {
		t.Errorf("dowser_consumer_lag%s = %v while retrying the last message, want 1 (it counts)", label, lag)
	}
	if f, ok := ana.pending(); ok {
		t.Fatalf("frame %v while every alert insert fails", f)
	}
	// The fault ends: nothing was skipped, the stall clears.
	pgtest.Exec(t, db, `DELETE FROM fault`)
	if _, a := ana.nextAlert(20 * time.Second); a["event_id"] != "evt-3" {
		t.Errorf("alert after the fault = %v, want evt-3's", a)
	}
	await(t, 10*time.Second, "the stall clearing", func() bool {
		_, stalled = app.readyz()
		return len(stalled) == 0 && app.metric("dowser_partition_stalled_seconds"+label) < 0.5
	})

	// Permanent: a check violation (23514) on the insert of one of the
	// two alerts the next view fires. The other alert is stored, the
	// event goes to the dead-letter topic with the error, the partition
	// goes on.
	app.putSignal("pricing-any", `
id: pricing-any
name: Any pricing view
owner: mkt-omar
audience: prospect
scope: account
priority: low
when:
  threshold:
    match: {type: page_view, url: "*/pricing*"}
    count: 1
    within: 1h
cooldown: 0s
message: "{{.Account}}: pricing viewed"
`)
	pgtest.Exec(t, db, `INSERT INTO fault VALUES ('23514', 'pricing-research')`)
	failed := app.produceAt(w, view("evt-4", "Pricing", now.Add(-2*time.Minute)))[0]
	d := app.deadLetters(1)[0]
	if d.h[kafka.HeaderOffset] != strconv.FormatInt(failed, 10) || d.h[kafka.HeaderReason] != "processing_failed" ||
		!strings.Contains(d.h[kafka.HeaderError], "SQLSTATE 23514") || !strings.Contains(d.h[kafka.HeaderError], "pricing-research") {
		t.Errorf("dead letter %v, want offset %d, reason processing_failed, the error of pricing-research with SQLSTATE 23514", d.h, failed)
	}
	if _, a := ana.nextAlert(20 * time.Second); a["event_id"] != "evt-4" || a["signal_id"] != "pricing-any" {
		t.Errorf("alert = %v, want evt-4's of pricing-any, stored despite its sibling's failure", a)
	}
	pgtest.Exec(t, db, `DELETE FROM fault`)
	app.produce(w, view("evt-5", "Pricing", now.Add(-time.Minute)))
	got := map[string]bool{}
	for range 2 {
		_, a := ana.nextAlert(20 * time.Second)
		got[fmt.Sprint(a["event_id"], " ", a["signal_id"])] = true
	}
	if !got["evt-5 pricing-research"] || !got["evt-5 pricing-any"] {
		t.Errorf("alerts after the dead-lettered event: %v, want evt-5's of both signals", got)
	}
	if f, ok := ana.pending(); ok {
		t.Errorf("unexpected frame %v", f)
	}
}

// pgProxy forwards TCP connections to PostgreSQL until cut; then it drops
// every connection and refuses new ones, as a PostgreSQL gone away looks
// to the pool, until restored.
type pgProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

// startPGProxy proxies the server of the database URL db and returns the
// URL that goes through the proxy.
func startPGProxy(t *testing.T, db string) (*pgProxy, string) {
	t.Helper()
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln, target: u.Host, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *pgProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = true, true
		p.mu.Unlock()
		go func() { _, _ = io.Copy(s, c); s.Close(); c.Close() }()
		go func() { _, _ = io.Copy(c, s); s.Close(); c.Close() }()
	}
}

func (p *pgProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *pgProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// A real outage: PostgreSQL unreachable while a partition stores an alert.
// The partition retries the same event, says so, and loses nothing.
func TestEndToEndPostgresOutageStallsThePartitionVisibly(t *testing.T) {
	var proxy *pgProxy
	app := startApp(t, func(c *serveConfig) {
		c.StallThreshold = 500 * time.Millisecond
		proxy, c.DatabaseURL = startPGProxy(t, c.DatabaseURL)
	})
	app.seed()
	ana := app.connect("rep-ana")
	w := app.writer()
	part := partitionOf("acme", 3)
	now := time.Now()
	app.produce(w, view("evt-1", "Pricing", now.Add(-5*time.Minute)), view("evt-2", "Pricing", now.Add(-4*time.Minute)))
	label := fmt.Sprintf(`{partition="%d"}`, part)
	await(t, 30*time.Second, "the first two views handled", func() bool {
		return app.metric("dowser_events_consumed_total"+label) == 2 && app.metric("dowser_consumer_lag"+label) == 0
	})

	proxy.cut()
	firing := app.produceAt(w, view("evt-3", "Pricing", now.Add(-3*time.Minute)))[0]
	wantStall := fmt.Sprintf("partition %d stalled at offset %d for ", part, firing)
	var stalled []string
	await(t, 30*time.Second, "/readyz reporting the stall", func() bool {
		_, stalled = app.readyz()
		return len(stalled) == 1 && strings.HasPrefix(stalled[0], wantStall)
	})
	t.Logf("/readyz during the outage: %q", stalled)
	if s := app.metric("dowser_partition_stalled_seconds" + label); s < 0.5 {
		t.Errorf("dowser_partition_stalled_seconds%s = %v during the outage, want at least the threshold", label, s)
	}
	if lag := app.metric("dowser_consumer_lag" + label); lag < 1 {
		t.Errorf("dowser_consumer_lag%s = %v while retrying the last message, want 1 (it counts)", label, lag)
	}

	proxy.restore()
	if _, a := ana.nextAlert(30 * time.Second); a["event_id"] != "evt-3" {
		t.Errorf("alert after the outage = %v, want evt-3's", a)
	}
	await(t, 10*time.Second, "the stall clearing", func() bool {
		_, stalled = app.readyz()
		return len(stalled) == 0
	})
}
