package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/postgres/pgtest"
)

// The crash test runs the real binary as separate processes: the broker
// in its own process (so it outlives the detectors), and `dowser serve`
// SIGKILLed at random moments and restarted. At the end the alerts in
// PostgreSQL must be exactly the ones an independent, simple oracle
// computes from the events: none missing, none twice.

// chaosSignals are the signals of the crash test, in the language the
// oracle below re-implements by hand.
var chaosSignals = []string{`
id: pricing
owner: mkt
scope: account
when:
  threshold:
    match: {type: page_view, url: "*/pricing*"}
    count: 3
    within: 1h
cooldown: 2h
`, `
id: forms
owner: mkt
scope: customer
when:
  threshold:
    match: {type: form_submit}
    count: 2
    within: 30m
cooldown: 0s
`}

// oracleSignal is one threshold signal as the oracle understands it.
type oracleSignal struct {
	id, typ, urlContains string
	account              bool
	count                int
	within, cooldown     time.Duration
}

var oracleSignals = []oracleSignal{
	{id: "pricing", typ: "page_view", urlContains: "/pricing", account: true, count: 3, within: time.Hour, cooldown: 2 * time.Hour},
	{id: "forms", typ: "form_submit", count: 2, within: 30 * time.Minute},
}

type chaosEvent struct {
	ID       string    `json:"id"`
	Type     string    `json:"type"`
	Time     time.Time `json:"time"`
	Customer struct {
		ID        string `json:"id"`
		AccountID string `json:"account_id"`
	} `json:"customer"`
	Properties map[string]string `json:"properties"`
}

// chaosEvents makes n events over accounts, each account's events in one
// partition (keyed by account). Time runs on one clock, as it does for
// real trackers, a few seconds per event; each event is up to five minutes
// late, so some arrive out of order inside the windows; a few are exact
// duplicates of earlier ones.
func chaosEvents(rng *rand.Rand, n, accounts int) []chaosEvent {
	clock := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	out := make([]chaosEvent, 0, n)
	for len(out) < n {
		if len(out) > 0 && rng.IntN(200) == 0 {
			out = append(out, out[rng.IntN(len(out))]) // an upstream duplicate
			continue
		}
		clock = clock.Add(time.Duration(rng.IntN(4000)) * time.Millisecond)
		a := rng.IntN(accounts)
		var ev chaosEvent
		ev.ID = fmt.Sprintf("e%d", len(out))
		ev.Time = clock.Add(-time.Duration(rng.IntN(300)) * time.Second)
		ev.Customer.AccountID = fmt.Sprintf("acct-%d", a)
		ev.Customer.ID = fmt.Sprintf("c-%d-%d", a, rng.IntN(4))
		switch r := rng.IntN(10); {
		case r < 4:
			ev.Type, ev.Properties = "page_view", map[string]string{"url": "https://x.example/pricing"}
		case r < 5:
			ev.Type = "form_submit"
		default:
			ev.Type, ev.Properties = "page_view", map[string]string{"url": "https://x.example/blog/" + strconv.Itoa(rng.IntN(50))}
		}
		out = append(out, ev)
	}
	return out
}

// oracle computes the expected alerts, "signal subject event", by the rule
// of docs/signals.md, independently of the detector: for each matching
// event e of a subject (duplicates skipped), count the subject's matching
// events so far with a time in (e.time − within, e.time]; fire when there
// are at least count and no alert of the subject in (e.time − cooldown,
// e.time]. Per subject, events are seen in produce order, which is
// partition order because one account is one partition.
func oracle(events []chaosEvent) map[string]bool {
	type key struct{ sig, subject string }
	times := map[key][]time.Time{}
	alerts := map[key][]time.Time{}
	seen := map[key]map[string]bool{}
	want := map[string]bool{}
	for _, e := range events {
		for _, s := range oracleSignals {
			if e.Type != s.typ || (s.urlContains != "" && !strings.Contains(e.Properties["url"], s.urlContains)) {
				continue
			}
			subject := "customer:" + e.Customer.ID
			if s.account {
				subject = "account:" + e.Customer.AccountID
			}
			k := key{s.id, subject}
			if seen[k] == nil {
				seen[k] = map[string]bool{}
			}
			if seen[k][e.ID] {
				continue
			}
			seen[k][e.ID] = true
			times[k] = append(times[k], e.Time)
			n := 0
			for _, t := range times[k] {
				if t.After(e.Time.Add(-s.within)) && !t.After(e.Time) {
					n++
				}
			}
			cooling := slices.ContainsFunc(alerts[k], func(t time.Time) bool {
				return t.After(e.Time.Add(-s.cooldown)) && !t.After(e.Time)
			})
			if n >= s.count && !cooling {
				alerts[k] = append(alerts[k], e.Time)
				want[s.id+" "+subject+" "+e.ID] = true
			}
		}
	}
	return want
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// process is a child dowser process with its output in a log file.
type process struct {
	cmd *exec.Cmd
	log string
}

func startProcess(t *testing.T, bin, logPath string, args ...string) *process {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, log: logPath}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
	})
	return p
}

func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dowser")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("building dowser: %v\n%s", err, out)
	}
	return bin
}

// caughtUp reports whether the group's committed offsets reached the end
// of every partition of topic.
func caughtUp(ctx context.Context, brokers, topic, group string) (bool, error) {
	client := &kafka.Client{Addr: kafka.TCP(brokers), Timeout: 5 * time.Second}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(meta.Topics) == 0 {
		return false, err
	}
	var reqs []kafka.OffsetRequest
	var parts []int
	for _, p := range meta.Topics[0].Partitions {
		reqs = append(reqs, kafka.LastOffsetOf(p.ID))
		parts = append(parts, p.ID)
	}
	ends, err := client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return false, err
	}
	committed, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return false, err
	}
	got := map[int]int64{}
	for _, p := range committed.Topics[topic] {
		got[p.Partition] = p.CommittedOffset
	}
	for _, p := range ends.Topics[topic] {
		if got[p.Partition] < p.LastOffset {
			return false, nil
		}
	}
	return true, nil
}

func TestChaosKilledDetectorStillStoresExactlyTheExpectedAlerts(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DOWSER_CHAOS_EVENTS"))
	if n <= 0 {
		n = 200_000
	}
	kills := 5
	if k, err := strconv.Atoi(os.Getenv("DOWSER_CHAOS_KILLS")); err == nil {
		kills = k
	}
	ctx := context.Background()
	bin := buildBinary(t)
	dir := t.TempDir()
	db := pgtest.URL(t)

	// Signals go in before the first start, so no event predates them.
	store, err := postgres.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, src := range chaosSignals {
		sig, err := detector.ParseSignal([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := json.Marshal(sig)
		if _, err := store.SaveSignal(ctx, sig.ID, doc, src, "test", true); err != nil {
			t.Fatal(err)
		}
	}
	defer store.Close()

	kafkaAddr := freePort(t)
	startProcess(t, bin, filepath.Join(dir, "broker.log"), "broker", "--embedded-kafka-addr", kafkaAddr,
		"--embedded-kafka-dir", filepath.Join(dir, "kafka"), "--partitions", "4", "--log-format", "text")
	serveArgs := []string{"serve", "--kafka-brokers", kafkaAddr, "--database-url", db, "--http", freePort(t),
		"--partitions", "4", "--log-format", "text"}
	serveLog := filepath.Join(dir, "serve.log")
	serve := startProcess(t, bin, serveLog, serveArgs...)

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	events := chaosEvents(rng, n, 500)
	want := oracle(events)

	// Produce in the background while the detector is killed and restarted.
	produced := make(chan error, 1)
	go func() {
		w := &kafka.Writer{Addr: kafka.TCP(kafkaAddr), Topic: "dowser.events", Balancer: &kafka.Hash{},
			BatchSize: 1000, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireAll, AllowAutoTopicCreation: true}
		defer w.Close()
		const chunk = 2000
		for i := 0; i < len(events); i += chunk {
			var msgs []kafka.Message
			for _, e := range events[i:min(i+chunk, len(events))] {
				b, _ := json.Marshal(e)
				msgs = append(msgs, kafka.Message{Key: []byte(e.Customer.AccountID), Value: b})
			}
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				produced <- fmt.Errorf("producing: %w", err)
				return
			}
		}
		produced <- nil
	}()

	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond) // chaos: a random moment, not a synchronisation
		serve.kill()
		serve = startProcess(t, bin, serveLog, serveArgs...)
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		done, err := caughtUp(ctx, kafkaAddr, "dowser.events", "dowser")
		if err == nil && done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("detector did not catch up within 3 minutes (last error %v); see %s", err, serveLog)
		}
		time.Sleep(200 * time.Millisecond)
	}

	got := map[string]int{}
	rows, err := store.ListAlerts(ctx, "", 10_000_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		var a struct {
			SignalID string `json:"signal_id"`
			Subject  string `json:"subject"`
			EventID  string `json:"event_id"`
		}
		if err := json.Unmarshal(r.Alert, &a); err != nil {
			t.Fatal(err)
		}
		got[a.SignalID+" "+a.Subject+" "+a.EventID]++
	}
	var missing, extra, dup []string
	for k := range want {
		if got[k] == 0 {
			missing = append(missing, k)
		}
	}
	for k, c := range got {
		if !want[k] {
			extra = append(extra, k)
		}
		if c > 1 {
			dup = append(dup, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	t.Logf("events %d, kills %d, expected alerts %d, found %d, missing %d, unexpected %d, duplicated %d",
		len(events), kills, len(want), len(rows), len(missing), len(extra), len(dup))
	if len(missing)+len(extra)+len(dup) > 0 {
		t.Errorf("missing %v\nunexpected %v\nduplicated %v", head(missing), head(extra), head(dup))
	}
}

func head(s []string) []string { return s[:min(len(s), 10)] }
