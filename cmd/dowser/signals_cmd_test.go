package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/kafka"
)

// runSignalsCmd runs the real program in-process with an empty environment and
// returns its exit code and outputs.
func runSignalsCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut, func(string) string { return "" })
	return code, out.String(), errOut.String()
}

func writeSignalsFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const testPricingSignal = `id: pricing-research
name: Pricing research
owner: mkt-jane
audience: prospect
scope: account
priority: high
when:
  threshold:
    match: {type: page_view, url: "*/pricing*"}
    count: 3
    within: 7d
cooldown: 72h
message: "{{.Account}}: pricing viewed {{.Count}} times in 7 days"
`

func TestSignalsCommandUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"signals"}, 2, "dowser signals lint FILE|DIR..."},
		{[]string{"signals", "help"}, 0, "dowser signals backtest"},
		{[]string{"signals", "nope"}, 2, `unknown command "nope"`},
		{[]string{"signals", "lint"}, 2, "usage: dowser signals lint FILE|DIR..."},
		{[]string{"signals", "test"}, 2, "usage: dowser signals test"},
		{[]string{"signals", "backtest", "--events", "x.jsonl"}, 2, "give the signal files with --signals FILE[,FILE...] or as arguments"},
		{[]string{"signals", "backtest", "--signals", "s.yaml"}, 2, "exactly one of --events FILE and --from-kafka"},
		{[]string{"signals", "backtest", "--signals", "s.yaml", "--events", "e", "--from-kafka"}, 2, "exactly one of"},
		{[]string{"signals", "backtest", "--signals", "s.yaml", "--events", "e", "--format", "xml"}, 2, `--format "xml" is not summary or jsonl`},
		{[]string{"signals", "backtest", "--since", "7x"}, 2, `"7x" is not a duration`},
		{[]string{"signals", "backtest", "-h"}, 0, "--from-kafka (env DOWSER_FROM_KAFKA)"},
		{[]string{"help"}, 0, "dowser signals"},
	} {
		code, stdout, stderr := runSignalsCmd(t, tt.args...)
		if code != tt.code || !strings.Contains(stdout+stderr, tt.want) {
			t.Errorf("dowser %s: exit %d, output:\n%s%s\nwant exit %d and %q", strings.Join(tt.args, " "), code, stdout, stderr, tt.code, tt.want)
		}
	}
}

func TestSignalsLintCommand(t *testing.T) {
	dir := t.TempDir()
	good := writeSignalsFile(t, dir, "pricing.yaml", testPricingSignal)
	bad := writeSignalsFile(t, dir, "bad.yaml", "id: Bad\nwhen: {threshold: {match: {type: page_view}, count: 1, within: 7x}}\n")

	code, stdout, _ := runSignalsCmd(t, "signals", "lint", good)
	if code != 0 || stdout != "ok: 1 signal in 1 file\n" {
		t.Errorf("lint of a good file: exit %d, %q", code, stdout)
	}
	code, stdout, stderr := runSignalsCmd(t, "signals", "lint", good, bad)
	want := bad + `: id: "Bad" is not a valid id: lowercase letters, digits, '_', '.' and '-', starting with a letter or digit, at most 64 characters
` + bad + `: owner: is required
` + bad + `: when.threshold.within: "7x" is not a duration
`
	// The order of one file's problems is the detector's.
	sorted := func(s string) string {
		lines := strings.Split(s, "\n")
		slices.Sort(lines)
		return strings.Join(lines, "\n")
	}
	if code != 1 || sorted(stdout) != sorted(want) || !strings.Contains(stderr, "3 problems in 1 file") {
		t.Errorf("lint of a bad file: exit %d, stdout:\n%s\nstderr: %s\nwant exit 1 and:\n%s", code, stdout, stderr, want)
	}
}

func TestSignalsTestCommand(t *testing.T) {
	dir := t.TempDir()
	writeSignalsFile(t, dir, "pricing-research.yaml", testPricingSignal)
	events := `events:
  - {id: e1, type: page_view, time: "2026-11-23T07:00:00Z", customer: {id: c1, account_id: acme, lifecycle: prospect}, properties: {url: "https://dowser.example/pricing"}}
  - {id: e2, type: page_view, time: "2026-11-23T08:00:00Z", customer: {id: c2, account_id: acme}, properties: {url: "https://dowser.example/pricing"}}
  - {id: e3, type: page_view, time: "2026-11-23T09:00:00Z", customer: {id: c1, account_id: acme}, properties: {url: "https://dowser.example/pricing"}}
`
	pass := writeSignalsFile(t, dir, "tests/pass.yaml", "signals: [../pricing-research.yaml]\n"+events+
		"expect:\n  - {signal: pricing-research, subject: \"account:acme\", event_id: e3}\n")
	fail := writeSignalsFile(t, dir, "tests/fail.yaml", "signals: [../pricing-research.yaml]\n"+events+
		"expect:\n  - {signal: pricing-research, subject: \"account:acme\", event_id: e2}\n")
	broken := writeSignalsFile(t, dir, "tests/broken.yaml", "signals: [../pricing-research.yaml]\nevents: [{id: x, type: page_view}]\n")

	code, stdout, _ := runSignalsCmd(t, "signals", "test", "-v", pass)
	if code != 0 || stdout != "ok   "+pass+" (3 events, 1 alert)\n       pricing-research account:acme at e3: acme: pricing viewed 3 times in 7 days\n" {
		t.Errorf("passing fixture: exit %d, %q", code, stdout)
	}
	code, stdout, stderr := runSignalsCmd(t, "signals", "test", pass, fail, broken)
	want := "ok   " + pass + " (3 events, 1 alert)\n" +
		"FAIL " + fail + "\n" +
		"    alerts of 3 events (- missing, + unexpected, ~ differs):\n" +
		"      - pricing-research account:acme at e2\n" +
		"      + pricing-research account:acme at e3  (count 3: \"acme: pricing viewed 3 times in 7 days\")\n" +
		"FAIL " + broken + "\n" +
		"    " + broken + ": events[0] (line 2): missing_field: time: is required\n"
	if code != 1 || stdout != want || !strings.Contains(stderr, "2 of 3 fixtures failed") {
		t.Errorf("failing fixtures: exit %d, stdout:\n%s\nstderr: %s\nwant:\n%s", code, stdout, stderr, want)
	}
}

// pricingLine is a page view of the pricing page as a JSON line.
func pricingLine(id, account string, at time.Time) string {
	return fmt.Sprintf(`{"id":%q,"type":"page_view","time":%q,"customer":{"id":"c-%s","account_id":%q},"properties":{"url":"https://dowser.example/pricing"}}`,
		id, at.UTC().Format(time.RFC3339), id, account)
}

func TestSignalsBacktestFile(t *testing.T) {
	dir := t.TempDir()
	signals := writeSignalsFile(t, dir, "pricing.yaml", testPricingSignal)
	t0 := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	lines := []string{
		pricingLine("a1", "acme", t0),
		pricingLine("a2", "acme", t0.Add(time.Hour)),
		`{"id":"x","type":"page_view"}`,
		pricingLine("a3", "acme", t0.Add(2*time.Hour)), // fires
		"not json",
		pricingLine("g1", "globex", t0.Add(24*time.Hour)),
		pricingLine("g2", "globex", t0.Add(25*time.Hour)),
		pricingLine("g3", "globex", t0.Add(26*time.Hour)), // fires
	}
	events := writeSignalsFile(t, dir, "events.jsonl", strings.Join(lines, "\n")+"\n")
	owners := writeSignalsFile(t, dir, "owners.csv", "account_id,owner\nacme,rep-ana\n")

	code, stdout, stderr := runSignalsCmd(t, "signals", "backtest", "--signals", signals, "--events", events, "--owners", owners)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"events:   8 read, 6 valid, 2 invalid\n",
		"alerts:   2\n",
		"per signal:\n  pricing-research          2\n",
		"per day (event time, UTC):\n  2026-11-23          1\n  2026-11-24          1\n",
		"  high            2\n",
		"per rep:\n  (no owner)          1\n  rep-ana             1\n",
		"invalid events: 2 (missing_field 1, not_json 1); the first 2:\n  line 3: missing_field: time: is required\n  line 5: not_json: ",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary:\n%s\nwant it to contain:\n%s", stdout, want)
		}
	}
	if !strings.Contains(stderr, "backtest: 8 events, 2 alerts in ") {
		t.Errorf("stderr = %q, want the timing line", stderr)
	}
	if strings.Contains(stderr, "\r") {
		t.Errorf("stderr is not a terminal but got a progress bar: %q", stderr)
	}

	code, stdout, stderr = runSignalsCmd(t, "signals", "backtest", "--signals", signals, "--events", events, "--format", "jsonl")
	if code != 0 {
		t.Fatalf("jsonl: exit %d: %s", code, stderr)
	}
	out := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(out) != 2 {
		t.Fatalf("jsonl: %d lines, want 2:\n%s", len(out), stdout)
	}
	for i, wantEvent := range []string{"a3", "g3"} {
		var rec map[string]any
		if err := json.Unmarshal([]byte(out[i]), &rec); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		for _, k := range []string{"signal", "subject", "event_id", "time", "priority", "message", "count"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("line %d has no %q: %s", i+1, k, out[i])
			}
		}
		if rec["event_id"] != wantEvent || rec["signal"] != "pricing-research" {
			t.Errorf("line %d = %s, want pricing-research at %s", i+1, out[i], wantEvent)
		}
	}
	if !strings.Contains(stderr, "2 invalid events; the first 2:\n  line 3: missing_field") {
		t.Errorf("jsonl stderr = %q, want the invalid lines", stderr)
	}

	code, _, stderr = runSignalsCmd(t, "signals", "backtest", "--signals", signals+","+filepath.Join(dir, "nope.yaml"), "--events", events)
	if code != 1 || !strings.Contains(stderr, "nope.yaml: open: no such file or directory") {
		t.Errorf("missing signal file: exit %d, %s", code, stderr)
	}
}

func TestSignalsGenerateThenBacktest(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "events.jsonl")
	accounts := filepath.Join(dir, "accounts.csv")
	code, _, stderr := runSignalsCmd(t, "signals", "generate", "--events", "20000", "--out", events, "--accounts", accounts)
	if code != 0 || !strings.Contains(stderr, "generated 20000 events from 2026-11-01T00:00:00Z to 2026-11-01T05:33:19Z") {
		t.Fatalf("generate: exit %d: %s", code, stderr)
	}
	// The default signal pack, whatever it holds.
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "signals", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no signal pack: %v", err)
	}
	code, stdout, stderr := runSignalsCmd(t, "signals", "backtest", "--signals", strings.Join(files, ","), "--events", events, "--owners", accounts)
	if code != 0 {
		t.Fatalf("backtest: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "events:   20,000 read, 20,000 valid, 0 invalid") || !strings.Contains(stdout, "  rep-ana ") || strings.Contains(stdout, "alerts:   0\n") {
		t.Errorf("backtest of generated events:\n%s", stdout)
	}
}

// TestSignalsBacktestFromKafka backtests the history of a real (embedded)
// broker: only messages from the last --since count, and each partition
// has its own engine.
func TestSignalsBacktestFromKafka(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic = "backtest.events"
	if err := kafka.EnsureTopics(ctx, kafka.Cluster{Brokers: b.Brokers()}, 3, 1, topic); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old := now.Add(-10 * 24 * time.Hour)
	type msg struct {
		account, id string
		at          time.Time
	}
	// globex has two views 10 days ago (before --since) and one recent:
	// it must not fire. acme and initech view pricing three times recently.
	msgs := []msg{
		{"globex", "g1", old}, {"globex", "g2", old.Add(time.Minute)},
		{"acme", "a1", now.Add(-3 * time.Hour)}, {"initech", "i1", now.Add(-3 * time.Hour)},
		{"globex", "g3", now.Add(-150 * time.Minute)},
		{"acme", "a2", now.Add(-2 * time.Hour)}, {"initech", "i2", now.Add(-2 * time.Hour)},
		{"acme", "a3", now.Add(-time.Hour)}, {"initech", "i3", now.Add(-time.Hour)},
	}
	// RequireAll: a Writer literal defaults to fire-and-forget, and the
	// backtest must find every message in the log when it lists offsets.
	w := &kafkago.Writer{Addr: kafkago.TCP(b.Addr()), Topic: topic, Balancer: &kafkago.Hash{}, BatchSize: 1, RequiredAcks: kafkago.RequireAll}
	for _, m := range msgs {
		// Event time follows Kafka time here, so that windows and --since
		// agree: the old events are 10 days before the rest.
		err := w.WriteMessages(ctx, kafkago.Message{Key: []byte(m.account), Value: []byte(pricingLine(m.id, m.account, m.at)), Time: m.at})
		if err != nil {
			t.Fatal(err)
		}
	}
	w.Close()

	dir := t.TempDir()
	signals := writeSignalsFile(t, dir, "pricing.yaml", testPricingSignal)
	code, stdout, stderr := runSignalsCmd(t, "signals", "backtest", "--signals", signals, "--from-kafka", "--since", "7d",
		"--kafka-brokers", b.Addr(), "--events-topic", topic, "--format", "jsonl")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var fired []string
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var rec struct {
			Signal, Subject string
			EventID         string `json:"event_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("%v: %s", err, sc.Text())
		}
		fired = append(fired, rec.Subject+"@"+rec.EventID)
	}
	// Partitions are read in order, so the order depends on where the
	// hash puts acme and initech; compare as a set.
	if len(fired) != 2 || !slices.Contains(fired, "account:acme@a3") || !slices.Contains(fired, "account:initech@i3") {
		t.Errorf("fired %v, want account:acme@a3 and account:initech@i3\nstderr: %s", fired, stderr)
	}
	if !strings.Contains(stderr, "backtest: 7 events, 2 alerts") {
		t.Errorf("stderr = %q, want 7 events read (the 2 old ones left out)", stderr)
	}

	// A customer-only signal over events that carry no lifecycle fires
	// nothing: the backtest says why instead of a silent 0.
	customers := writeSignalsFile(t, dir, "renewal.yaml", strings.Replace(strings.Replace(testPricingSignal, "audience: prospect", "audience: customer", 1), "id: pricing-research", "id: renewal-pricing", 1))
	code, stdout, stderr = runSignalsCmd(t, "signals", "backtest", "--signals", customers, "--from-kafka", "--since", "7d",
		"--kafka-brokers", b.Addr(), "--events-topic", topic)
	want := "warning: renewal-pricing counts customers only and fired nothing, but 7 of 7 events carried no lifecycle and were read as prospects: give --owners FILE"
	if code != 0 || !strings.Contains(stdout, "alerts:   0\n") || !strings.Contains(stderr, want) {
		t.Errorf("customer-only signal: exit %d, stdout:\n%s\nstderr: %s\nwant the warning %q", code, stdout, stderr, want)
	}
	// With the accounts' lifecycles it fires and says nothing more.
	owners := writeSignalsFile(t, dir, "owners.csv", "account_id,owner,lifecycle\nacme,rep-ana,customer\ninitech,rep-ben,customer\nglobex,rep-ben,customer\n")
	code, stdout, stderr = runSignalsCmd(t, "signals", "backtest", "--signals", customers, "--from-kafka", "--since", "7d",
		"--kafka-brokers", b.Addr(), "--events-topic", topic, "--owners", owners)
	if code != 0 || !strings.Contains(stdout, "alerts:   2\n") || strings.Contains(stderr, "warning:") {
		t.Errorf("customer-only signal with lifecycles: exit %d, stdout:\n%s\nstderr: %s", code, stdout, stderr)
	}

	// The summary counts the partitions it saw; all history from 30 days.
	code, stdout, stderr = runSignalsCmd(t, "signals", "backtest", "--signals", signals, "--from-kafka", "--since", "30d",
		"--kafka-brokers", b.Addr(), "--events-topic", topic)
	if code != 0 || !strings.Contains(stdout, "events:   9 read, 9 valid, 0 invalid") {
		t.Errorf("since 30d: exit %d, stdout:\n%s\nstderr: %s", code, stdout, stderr)
	}
}

// A directory stands for its signal files, and a shell glob after
// --signals (the first file to the flag, the rest as arguments) runs them
// all.
func TestSignalsDirectoriesAndGlobs(t *testing.T) {
	dir := t.TempDir()
	pricing := writeSignalsFile(t, dir, "pricing.yaml", testPricingSignal)
	demo := writeSignalsFile(t, dir, "more/demo.yml", strings.Replace(testPricingSignal, "id: pricing-research", "id: demo-request", 1))
	writeSignalsFile(t, dir, "README.md", "not a signal")
	code, stdout, stderr := runSignalsCmd(t, "signals", "lint", dir)
	if code != 0 || stdout != "ok: 2 signals in 2 files\n" {
		t.Errorf("lint DIR: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	empty := t.TempDir()
	code, _, stderr = runSignalsCmd(t, "signals", "lint", empty)
	if code != 1 || !strings.Contains(stderr, empty+": no signal files in it (.yaml, .yml, .json)") {
		t.Errorf("lint of an empty DIR: exit %d, stderr %q", code, stderr)
	}

	t0 := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	events := writeSignalsFile(t, dir, "events.jsonl", strings.Join([]string{
		pricingLine("a1", "acme", t0), pricingLine("a2", "acme", t0.Add(time.Hour)), pricingLine("a3", "acme", t0.Add(2*time.Hour)),
	}, "\n")+"\n")
	for _, args := range [][]string{
		{"--signals", pricing, demo, "--events", events},
		{"--events", events, "--signals", filepath.Join(dir, "more"), pricing},
	} {
		code, stdout, stderr = runSignalsCmd(t, append([]string{"signals", "backtest"}, args...)...)
		if code != 0 || !strings.Contains(stdout, "alerts:   2\n") || !strings.Contains(stdout, "  demo-request ") || !strings.Contains(stdout, "  pricing-research ") {
			t.Errorf("backtest %v: exit %d, stdout:\n%s\nstderr: %s\nwant both signals to fire", args, code, stdout, stderr)
		}
	}
}
