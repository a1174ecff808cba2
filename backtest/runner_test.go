package backtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/schema"
)

// testSignals are a small signal pack covering scopes, audiences and
// priorities.
func testSignals(t testing.TB) []*detector.Signal {
	t.Helper()
	dir := t.TempDir()
	files := []string{
		writeFile(t, dir, "pricing.yaml", pricingSignal),
		writeFile(t, dir, "webinar.yaml", webinarSignal),
		writeFile(t, dir, "docs.yaml", `id: integration-docs
owner: mkt-omar
scope: account
priority: medium
when: {threshold: {match: {type: page_view, url: "*/docs/integrations/*"}, count: 4, within: 3d}}
cooldown: 7d
`),
		writeFile(t, dir, "support.yaml", `id: support-escalation
owner: mkt-omar
audience: customer
scope: account
priority: urgent
when: {threshold: {match: {type: support_email}, count: 2, within: 14d}}
cooldown: 7d
`),
	}
	signals, err := LoadSignals(files...)
	if err != nil {
		t.Fatal(err)
	}
	return signals
}

// generateEvents writes n synthetic events, one JSON object a line, two
// seconds of event time apart: page views over a few hundred accounts, some
// of them on pricing and integration pages, webinar signups and support
// emails. Some events carry their lifecycle, the others leave it to the
// account.
func generateEvents(w *bufio.Writer, n int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	enc := json.NewEncoder(w)
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		acct := rng.IntN(400)
		ev := schema.Event{
			ID:     fmt.Sprintf("evt-%d", i),
			Type:   schema.TypePageView,
			Time:   start.Add(time.Duration(i) * 2 * time.Second),
			Source: "test",
			Customer: schema.Customer{
				ID:        fmt.Sprintf("c-%d-%d", acct, rng.IntN(4)),
				Email:     fmt.Sprintf("p%d@a%d.example", rng.IntN(4), acct),
				AccountID: fmt.Sprintf("acct-%d", acct),
			},
		}
		if acct%5 == 0 {
			ev.Customer.Lifecycle = schema.LifecycleCustomer
		}
		switch r := rng.IntN(100); {
		case r < 5:
			ev.Properties = map[string]any{"url": "https://dowser.example/pricing", "title": "Pricing"}
		case r < 10:
			ev.Properties = map[string]any{"url": fmt.Sprintf("https://dowser.example/docs/integrations/i%d", rng.IntN(6)), "title": "Integration"}
		case r < 11:
			ev.Type = schema.TypeWebinarSignup
			ev.ContentID = "kafka-webinar"
			ev.Properties = map[string]any{"webinar_id": "w1", "title": "Real-time intent"}
		case r < 13:
			ev.Type = schema.TypeSupportEmail
			ev.Properties = map[string]any{"subject": "Export keeps timing out", "body": strings.Repeat("words ", 20)}
		case r < 30:
			ev.Customer = schema.Customer{AnonymousID: fmt.Sprintf("ajs-%d", rng.IntN(5000))}
			fallthrough
		default:
			ev.Properties = map[string]any{"url": fmt.Sprintf("https://dowser.example/blog/post-%d", rng.IntN(50)), "title": "Blog"}
		}
		if err := enc.Encode(&ev); err != nil {
			panic(err)
		}
	}
	w.Flush()
}

func generated(n int) []byte {
	var b bytes.Buffer
	generateEvents(bufio.NewWriter(&b), n, 1)
	return b.Bytes()
}

// reference evaluates the lines of data one by one with one engine: what
// the parallel runner must reproduce exactly.
func reference(t *testing.T, signals []*detector.Signal, data []byte) []schema.Alert {
	t.Helper()
	engine := detector.New(signals)
	var out []schema.Alert
	for line := range bytes.Lines(data) {
		ev, err := schema.ParseEvent(bytes.TrimSpace(line), 0)
		if err != nil {
			continue
		}
		out = append(out, engine.Evaluate(&ev)...)
	}
	return out
}

func TestRunJSONLMatchesOneEngine(t *testing.T) {
	signals := testSignals(t)
	data := generated(20_000) // several chunks
	if len(data) < 3*chunkBytes {
		t.Fatalf("test data is %d bytes, want more than 3 chunks", len(data))
	}
	want := reference(t, signals, data)
	if len(want) < 50 {
		t.Fatalf("reference fired %d alerts; the data should fire more", len(want))
	}
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			var got []string
			r := NewRunner(Config{Signals: signals, Workers: workers, OnAlert: func(a *schema.Alert, rep string) error {
				got = append(got, a.ID)
				return nil
			}})
			if err := r.RunJSONL(context.Background(), bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			var wantIDs []string
			for _, a := range want {
				wantIDs = append(wantIDs, a.ID)
			}
			if !slices.Equal(got, wantIDs) {
				t.Errorf("runner fired %d alerts, one engine %d, or in another order", len(got), len(wantIDs))
			}
			s := r.Summary()
			if s.Records != 20_000 || s.Events != 20_000 || s.Invalid != 0 || s.Alerts != int64(len(want)) || s.Partitions != 1 {
				t.Errorf("summary: %d records, %d events, %d invalid, %d alerts, %d partitions; want 20000, 20000, 0, %d, 1",
					s.Records, s.Events, s.Invalid, s.Alerts, s.Partitions, len(want))
			}
			bytesDone, recs, alerts := r.Progress()
			if bytesDone != int64(len(data)) || recs != 20_000 || alerts != int64(len(want)) {
				t.Errorf("Progress() = %d, %d, %d; want %d, 20000, %d", bytesDone, recs, alerts, len(data), len(want))
			}
		})
	}
}

func TestRunJSONLInvalidLines(t *testing.T) {
	valid := func(id string) string {
		return `{"id":"` + id + `","type":"webinar_signup","time":"2026-11-23T07:00:00Z","customer":{"id":"c-` + id + `"}}`
	}
	input := strings.Join([]string{
		valid("a"),                      // 1
		"",                              // 2: blank, skipped
		"not json",                      // 3
		`{"id":"b","type":"page_view"}`, // 4
		strings.Repeat("x", 2<<20),      // 5: longer than the read buffer
		valid("c") + "\r",               // 6: CRLF
		`{"id":"d","type":"page_view","time":"2026-11-23T07:00:00Z","customer":{"id":"c"},"properties":{"title":"` + strings.Repeat("y", 300) + `"}}`, // 7: over --max-event-bytes
		"   ", // 8: blank
		`{"id":"e","type":"Bad","time":"2026-11-23T07:00:00Z","customer":{"id":"c"}}`, // 9
		`[1]`,      // 10
		valid("f"), // 11, no final newline
	}, "\n")
	r := NewRunner(Config{Signals: testSignals(t), MaxEventBytes: 300})
	if err := r.RunJSONL(context.Background(), strings.NewReader(input)); err != nil {
		t.Fatal(err)
	}
	s := r.Summary()
	if s.Records != 9 || s.Events != 3 || s.Invalid != 6 || s.Alerts != 3 {
		t.Errorf("summary: %d records, %d events, %d invalid, %d alerts; want 9, 3, 6, 3", s.Records, s.Events, s.Invalid, s.Alerts)
	}
	var got []string
	for _, r := range s.InvalidSamples {
		got = append(got, r.String())
	}
	want := []string{
		"line 3: not_json: invalid character 'o' in literal null (expecting 'u')",
		"line 4: missing_field: time: is required",
		"line 5: too_large: 2097152 bytes exceeds the limit of 300",
		"line 7: too_large: 407 bytes exceeds the limit of 300",
		`line 9: bad_field: type: "Bad" is not a lowercase event type`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("invalid samples:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantReasons := map[string]int64{"not_json": 1, "missing_field": 1, "too_large": 2, "bad_field": 2}
	for k, v := range wantReasons {
		if s.InvalidByReason[k] != v {
			t.Errorf("InvalidByReason = %v, want %v", s.InvalidByReason, wantReasons)
			break
		}
	}
}

func TestRunRecordsOneEnginePerPartition(t *testing.T) {
	ev := func(id, acct string) []byte {
		return []byte(`{"id":"` + id + `","type":"support_email","time":"2026-11-23T07:00:00Z","customer":{"id":"c-` + id + `","account_id":"` + acct + `","lifecycle":"customer"}}`)
	}
	records := []struct {
		partition int
		value     []byte
	}{
		{0, ev("a1", "acme")},
		{1, ev("a2", "acme")}, // another partition: does not count with a1
		{1, []byte(`{}`)},
		{1, ev("g1", "globex")},
		{1, ev("g2", "globex")}, // fires in partition 1
		{0, ev("a3", "acme")},   // fires in partition 0
	}
	var fired []string
	r := NewRunner(Config{Signals: testSignals(t), OnAlert: func(a *schema.Alert, rep string) error {
		fired = append(fired, a.EventID)
		return nil
	}})
	err := r.RunRecords(context.Background(), func(emit func(int, int64, []byte) error) error {
		for i, rec := range records {
			if err := emit(rec.partition, int64(10+i), rec.value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fired, []string{"g2", "a3"}) {
		t.Errorf("fired at %v, want [g2 a3]", fired)
	}
	s := r.Summary()
	if s.Partitions != 2 || s.Records != 6 || s.Invalid != 1 {
		t.Errorf("summary: %d partitions, %d records, %d invalid; want 2, 6, 1", s.Partitions, s.Records, s.Invalid)
	}
	if got := s.InvalidSamples[0].String(); !strings.HasPrefix(got, "partition 1 offset 12: missing_field: id") {
		t.Errorf("invalid sample = %q, want it placed at partition 1 offset 12", got)
	}
}

func TestRunStops(t *testing.T) {
	data := generated(5000)
	stop := errors.New("enough")
	n := 0
	r := NewRunner(Config{Signals: testSignals(t), OnAlert: func(*schema.Alert, string) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	}})
	if err := r.RunJSONL(context.Background(), bytes.NewReader(data)); !errors.Is(err, stop) {
		t.Errorf("OnAlert error: RunJSONL = %v, want %v", err, stop)
	}
	if n != 3 {
		t.Errorf("OnAlert called %d times after failing, want 3 in all", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r = NewRunner(Config{Signals: testSignals(t)})
	if err := r.RunJSONL(ctx, bytes.NewReader(data)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: RunJSONL = %v, want context.Canceled", err)
	}

	readErr := errors.New("broken pipe")
	err := r.RunJSONL(context.Background(), io.MultiReader(bytes.NewReader(data[:1000]), errReader{readErr}))
	if !errors.Is(err, readErr) {
		t.Errorf("read error: RunJSONL = %v, want %v", err, readErr)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// BenchmarkRunJSONL measures a backtest of 100,000 synthetic events with
// the four signals of testSignals; events/s is the figure to watch. Run
// with -benchtime=1x for a single pass.
func BenchmarkRunJSONL(b *testing.B) {
	const n = 100_000
	data := generated(n)
	signals := testSignals(b)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		r := NewRunner(Config{Signals: signals})
		if err := r.RunJSONL(context.Background(), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
