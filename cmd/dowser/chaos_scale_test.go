package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser/postgres/pgtest"
)

// The crash test at scale: the detectors hold a large state (one pricing
// page view from each of many customers, which can never reach the
// threshold of 3 on its own) while the oracle-checked traffic flows, and
// some instances are SIGKILLed while they write a checkpoint.

// chaosSubjects is the number of customers of the large state:
// DOWSER_CHAOS_SUBJECTS, or a size that keeps `make test` in its budget.
func chaosSubjects() int {
	if v, _ := strconv.Atoi(os.Getenv("DOWSER_CHAOS_SUBJECTS")); v > 0 {
		return v
	}
	return 150_000
}

// chaosEpoch is where chaosEvents' clock starts.
var chaosEpoch = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// bulkView is a pricing page view of a customer with no account, so
// that the account-scoped pricing signal keeps it under the customer.
func bulkView(id, customer string, at time.Time) chaosEvent {
	var ev chaosEvent
	ev.ID, ev.Type, ev.Time = id, "page_view", at
	ev.Customer.ID = customer
	ev.Properties = map[string]string{"url": "https://x.example/pricing"}
	return ev
}

// bulkEvents are the n single pricing views of the large state, dated in
// the minute before the epoch: every signal keeps a subject for at least
// 30 minutes of event time, the pricing signal for 3 hours, and the
// traffic after them spans under an hour.
func bulkEvents(n int) iter.Seq[chaosEvent] {
	return func(yield func(chaosEvent) bool) {
		for i := range n {
			at := chaosEpoch.Add(-time.Minute + time.Duration(i)*time.Minute/time.Duration(n))
			if !yield(bulkView("b"+strconv.Itoa(i), bulkCustomer(i), at)) {
				return
			}
		}
	}
}

func bulkCustomer(i int) string { return "bulk-" + strconv.Itoa(i) }

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// committedOffsets returns the group's committed offset of each partition
// of topic.
func committedOffsets(ctx context.Context, brokers, topic, group string, partitions int) (map[int]int64, error) {
	client := &kafkago.Client{Addr: kafkago.TCP(brokers), Timeout: 5 * time.Second}
	res, err := client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: seq(partitions)}})
	if err != nil {
		return nil, err
	}
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out, nil
}

var (
	openedPartition  = regexp.MustCompile(`\bpartition=(\d+)`)
	openedCheckpoint = regexp.MustCompile(`\bcheckpoint_offset=(-?\d+)`)
	openedStateSize  = regexp.MustCompile(`\bstate_(bytes|rows)=(\d+)`)
)

// partitionOpened is one "partition opened" line of a process's log.
type partitionOpened struct {
	partition  int
	checkpoint int64
	stateSize  string // as logged ("123 rows", "4567 bytes"), when it is
}

// opened returns the "partition opened" lines of p's log so far.
func (p *process) opened() []partitionOpened {
	b, _ := os.ReadFile(p.log)
	var out []partitionOpened
	for line := range strings.Lines(string(b)) {
		if !strings.Contains(line, `msg="partition opened"`) {
			continue
		}
		var o partitionOpened
		if m := openedPartition.FindStringSubmatch(line); m != nil {
			o.partition, _ = strconv.Atoi(m[1])
		}
		if m := openedCheckpoint.FindStringSubmatch(line); m != nil {
			o.checkpoint, _ = strconv.ParseInt(m[1], 10, 64)
		}
		if m := openedStateSize.FindStringSubmatch(line); m != nil {
			o.stateSize = m[2] + " " + m[1]
		}
		out = append(out, o)
	}
	return out
}

// awaitOpened waits until p has opened n distinct partitions (claimed and
// restored their checkpoints) and returns the log lines that say so.
func awaitOpened(t *testing.T, p *process, n int, within time.Duration) []partitionOpened {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		o := p.opened()
		seen := map[int]bool{}
		for _, l := range o {
			seen[l.partition] = true
		}
		if len(seen) >= n {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s opened %d of %d partitions in %v", p.log, len(seen), n, within)
		}
		time.Sleep(50 * time.Millisecond) // another process: nothing to await but its log
	}
}

// checkpointWatch spots, from outside, a checkpoint being written to the
// test's database: a client session other than its own, of a process
// started since a given moment (not an orphan of a killed one, which
// PostgreSQL ends only once it notices), in a statement or transaction
// that writes into a table whose name starts with "checkpoint".
type checkpointWatch struct{ conn *pgx.Conn }

func newCheckpointWatch(t *testing.T, db string) *checkpointWatch {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &checkpointWatch{conn: conn}
}

// now returns the database's clock, to compare with sessions' starts.
func (c *checkpointWatch) now(t *testing.T) time.Time {
	t.Helper()
	var now time.Time
	if err := c.conn.QueryRow(context.Background(), `SELECT clock_timestamp()`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	return now
}

// checkpointWrite is a statement seen in flight on a checkpoint table.
type checkpointWrite struct {
	pid   int32
	start time.Time // the statement's query_start, which tells it from the session's next one
	query string
}

// await polls until a session started after since is writing a
// checkpoint, and returns its statement; false after within.
func (c *checkpointWatch) await(t *testing.T, since time.Time, within time.Duration) (checkpointWrite, bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		var w checkpointWrite
		err := c.conn.QueryRow(context.Background(), `
			SELECT pid, query_start, left(regexp_replace(query, '\s+', ' ', 'g'), 100) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_start > $1
			  AND backend_type = 'client backend' -- not autovacuum on those tables
			  AND state IN ('active', 'idle in transaction')
			  -- a write into the table, not a read of it in another's statement
			  AND query ~* '(insert\s+into|update|copy|delete\s+from|merge\s+into)\s+("?\w+"?\.)?"?checkpoint'
			LIMIT 1`, since).Scan(&w.pid, &w.start, &w.query)
		switch {
		case err == nil:
			return w, true
		case !errors.Is(err, pgx.ErrNoRows):
			t.Fatalf("watching pg_stat_activity: %v", err)
		}
		// Another process's statement: nothing to await but its trace. The
		// poll is short enough to catch a write of a few milliseconds.
		time.Sleep(2 * time.Millisecond)
	}
	return checkpointWrite{}, false
}

// stillRunning reports whether w's statement is still in flight. Asked
// once its client is dead, yes proves the client died during it; no
// proves nothing, since the server may already have ended the orphan.
func (c *checkpointWatch) stillRunning(t *testing.T, w checkpointWrite) bool {
	t.Helper()
	var n int
	err := c.conn.QueryRow(context.Background(), `
		SELECT count(*) FROM pg_stat_activity
		WHERE pid = $1 AND query_start = $2 AND state IN ('active', 'idle in transaction')`, w.pid, w.start).Scan(&n)
	if err != nil {
		t.Fatalf("watching pg_stat_activity: %v", err)
	}
	return n > 0
}

func TestChaosLargeStateKilledDuringCheckpointWrites(t *testing.T) {
	t.Parallel() // see TestMain
	const (
		partitions = 4
		midWrite   = 3 // kills that must land during a checkpoint write
		samples    = 400
		span       = 40 * time.Minute // of event time, for the checked traffic
	)
	subjects := chaosSubjects()
	db := pgtest.URL(t)
	traffic := 50_000
	r := newChaosRunStep(t, db, traffic, 2*span/time.Duration(traffic))
	// A scale of waits: restoring and rewriting a state of a million
	// subjects may take minutes where a tenth of it takes seconds.
	scale := time.Duration(max(1, subjects/100_000))
	r.catchUp = 3*time.Minute + scale*time.Minute

	// Some bulk customers come back twice, after the checked traffic, and
	// must fire then: only if their first view survived every kill. The
	// oracle sees those customers' bulk views; the others' cannot fire.
	every := max(1, subjects/samples)
	var sampled, tail []chaosEvent
	for i := 0; i < subjects; i += every {
		c := bulkCustomer(i)
		at := chaosEpoch.Add(span + 5*time.Minute + time.Duration(i)*time.Microsecond)
		sampled = append(sampled, bulkView("b"+strconv.Itoa(i), c, chaosEpoch.Add(-time.Minute+time.Duration(i)*time.Minute/time.Duration(subjects))))
		tail = append(tail, bulkView("t1-"+strconv.Itoa(i), c, at), bulkView("t2-"+strconv.Itoa(i), c, at.Add(time.Second)))
	}
	r.events = append(r.events, tail...)
	r.want = oracle(append(sampled, r.events...))
	for _, s := range oracleSignals {
		if s.count < 2 {
			t.Fatalf("signal %s fires on one event: the bulk customers would fire", s.id)
		}
	}
	bulkEnd := make([]int64, partitions) // the offset after each partition's bulk
	for i := range subjects {
		bulkEnd[partitionOf(bulkCustomer(i), partitions)]++
	}

	watch := newCheckpointWatch(t, db)
	instance := 0
	var serve *process
	var since time.Time
	start := func() {
		instance++
		since = watch.now(t)
		serve, _ = r.serve(fmt.Sprintf("serve-%d", instance))
	}
	// An instance that opened every partition has joined the group for
	// good (see the note on killing while joining in the crash test) and
	// restored its state: what it writes now is a checkpoint.
	opened := func() []partitionOpened {
		return awaitOpened(t, serve, partitions, 2*time.Minute+scale*time.Minute)
	}
	began := time.Now()
	start()
	produced := r.produceAll(func(yield func(chaosEvent) bool) {
		for e := range bulkEvents(subjects) {
			if !yield(e) {
				return
			}
		}
		for _, e := range r.events {
			if !yield(e) {
				return
			}
		}
	})

	// One kill at a random moment while the state builds up.
	opened()
	r.pause()
	serve.kill()
	start()

	// The state is whole once every partition's committed offset is past
	// its bulk: kafka commits only what a checkpoint holds.
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	produced = closedChan() // for finish, which waits for the production
	deadline := time.Now().Add(2*time.Minute + scale*2*time.Minute)
	for {
		got, err := committedOffsets(r.ctx, r.kafkaAddr, "dowser.events", "dowser", partitions)
		if err == nil && !slices.ContainsFunc(seq(partitions), func(p int) bool { return got[p] < bulkEnd[p] }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the state of %d subjects was not checkpointed within %v: committed %v, bulk ends at %v (error %v); logs in %s",
				subjects, time.Since(began).Round(time.Second), got, bulkEnd, err, r.dir)
		}
		time.Sleep(200 * time.Millisecond) // other processes: nothing to await but the group's offsets
	}
	t.Logf("%d subjects of state produced and checkpointed %v after the start", subjects, time.Since(began).Round(time.Second))

	// Kills during checkpoint writes. Before each try, fresh customers'
	// single views (which cannot fire either) give the instance something
	// to write; the try ends when a write is seen, and the kill follows at
	// once. Under load a try may see none: try again until the deadline.
	topUp := max(5_000, subjects/20)
	hits, tries, round, proven := 0, 0, 0, 0
	var hitLog []string
	targeting := time.Now()
	deadline = targeting.Add(5*time.Minute + scale*3*time.Minute)
	for hits < midWrite {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d kills landed during a checkpoint write in %d tries over %v: no session of a dowser serve was seen "+
				"writing into a table named checkpoint*; logs in %s", hits, midWrite, tries, time.Since(targeting).Round(time.Second), r.dir)
		}
		opened()
		round++
		at := chaosEpoch.Add(span + 5*time.Minute)
		fresh := func(yield func(chaosEvent) bool) {
			for i := range topUp {
				if !yield(bulkView(fmt.Sprintf("u%d-%d", round, i), fmt.Sprintf("fresh-%d-%d", round, i), at)) {
					return
				}
			}
		}
		if err := r.write(fresh); err != nil {
			t.Fatal(err)
		}
		tries++
		w, ok := watch.await(t, since, time.Minute)
		if !ok {
			continue
		}
		serve.kill()
		hits++
		if watch.stillRunning(t, w) {
			proven++
		}
		hitLog = append(hitLog, w.query)
		start()
	}
	t.Logf("%d of %d tries killed an instance during a checkpoint write (%d of them still in flight after the death, the others "+
		"seen a few milliseconds before it); the statements: %q", hits, tries, proven, hitLog)

	// And one more at a random moment.
	opened()
	r.pause()
	serve.kill()
	start()
	final := opened()

	r.finish(produced, fmt.Sprintf("%d subjects of state (+%d fresh), %d SIGKILLs of which %d during a checkpoint write",
		subjects, round*topUp, instance-1, hits))
	// The last instance resumed every partition from a checkpoint that
	// holds the whole bulk: it restored the state, not rebuilt it.
	for _, o := range final {
		if o.checkpoint < bulkEnd[o.partition] {
			t.Errorf("the last instance opened partition %d at checkpoint offset %d, before the end of its bulk at %d: not restored",
				o.partition, o.checkpoint, bulkEnd[o.partition])
		}
	}
	var restored []string
	for _, o := range final {
		restored = append(restored, fmt.Sprintf("%d at offset %d (state %s)", o.partition, o.checkpoint, cmp.Or(o.stateSize, "of unlogged size")))
	}
	t.Logf("the last instance restored partitions %s; the whole test took %v", strings.Join(restored, ", "), time.Since(began).Round(time.Second))
}

func closedChan() <-chan error {
	c := make(chan error)
	close(c)
	return c
}
