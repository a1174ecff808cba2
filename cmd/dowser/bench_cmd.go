package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/dowserhq/dowser/deploy"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/ingest"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/schema"
)

// benchConfig is the configuration of `dowser bench`.
type benchConfig struct {
	Events        int
	Partitions    int
	Signals       int
	JSON          bool
	KafkaBrokers  string
	DatabaseURL   string
	E2ERate       float64
	E2EClients    int
	E2EAlerts     int
	StateSubjects int
	WSConns       int
	EngineTime    time.Duration
}

// benchResult is the --json output: nil is "not measured".
type benchResult struct {
	RawConsumeEPS        *float64           `json:"raw_consume_eps"`
	PipelineEPS          *float64           `json:"pipeline_eps"`
	PipelineVsRaw        *float64           `json:"pipeline_vs_raw"`
	EngineEPSPerCore     map[string]float64 `json:"engine_eps_per_core"`
	EngineEPSWall        map[string]float64 `json:"engine_eps_wall"`
	E2EP50Ms             *float64           `json:"e2e_p50_ms"`
	E2EP99Ms             *float64           `json:"e2e_p99_ms"`
	E2EMaxMs             *float64           `json:"e2e_max_ms"`
	WSBytesPerConn       *float64           `json:"ws_bytes_per_conn"`
	StateBytesPerSubject *float64           `json:"state_bytes_per_subject"`

	// Context of the figures.
	Events           int      `json:"events"`
	EventBytesAvg    float64  `json:"event_bytes_avg"`
	ProduceEPS       *float64 `json:"produce_eps"`
	Partitions       int      `json:"partitions"`
	PipelineSignals  int      `json:"pipeline_signals"`
	PipelineAlerts   int64    `json:"pipeline_alerts"`
	E2EAlerts        int      `json:"e2e_alerts"`
	StateSubjects    int      `json:"state_subjects"`
	StateSignalPairs int      `json:"state_signal_subject_pairs"`
	GOMAXPROCS       int      `json:"gomaxprocs"`
	Notes            []string `json:"notes"`
}

func ptr(v float64) *float64 { return &v }

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 && args[0] == benchClientsArg {
		return runBenchClients(ctx, args[1:], os.Stdin, stdout)
	}
	fs := newFlagSet("bench")
	var cfg benchConfig
	fs.IntVar(&cfg.Events, "events", 1_000_000, "events produced to a fresh topic and consumed raw and by the pipeline")
	fs.IntVar(&cfg.Partitions, "partitions", 6, "partitions of the benchmark topic")
	fs.IntVar(&cfg.Signals, "signals", 100, "signals the pipeline runs: the default pack plus generated variants")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object instead of the table")
	fs.StringVar(&cfg.KafkaBrokers, "kafka-brokers", "", "comma-separated Kafka bootstrap brokers; empty starts `dowser broker` as a child process on a free port")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL URL (also read from DATABASE_URL); without it the end-to-end latency is not measured")
	fs.Float64Var(&cfg.E2ERate, "e2e-rate", 5000, "events per second of the end-to-end latency run")
	fs.IntVar(&cfg.E2EClients, "e2e-clients", 1000, "websocket clients connected during the end-to-end latency run")
	fs.IntVar(&cfg.E2EAlerts, "e2e-alerts", 1000, "alerts the end-to-end latency run measures")
	fs.IntVar(&cfg.WSConns, "ws-conns", 10_000, "idle websocket connections of the memory measurement (with --database-url; 0 skips it)")
	fs.DurationVar(&cfg.EngineTime, "engine-time", 10*time.Second, "most CPU time the engine measurement spends evaluating for one signal count")
	fs.IntVar(&cfg.StateSubjects, "state-subjects", 1_000_000, "active subjects (people and their accounts, half each) of the detector state measurement (20 signals)")
	if err := parseFlags(fs, args, stderr, getenv, map[string]string{"database-url": "DATABASE_URL"}); err != nil {
		return err
	}
	if cfg.Events < 1 || cfg.Partitions < 1 || cfg.Signals < 1 || cfg.StateSubjects < 1 {
		return errors.New("--events, --partitions, --signals and --state-subjects must be at least 1")
	}
	progress := func(format string, a ...any) {
		fmt.Fprintf(stderr, "bench: "+format+"\n", a...)
	}
	res, err := bench(ctx, cfg, progress)
	if err != nil {
		return err
	}
	if cfg.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printBenchTable(stdout, res)
	return nil
}

func bench(ctx context.Context, cfg benchConfig, progress func(string, ...any)) (*benchResult, error) {
	res := &benchResult{
		Events: cfg.Events, Partitions: cfg.Partitions, PipelineSignals: cfg.Signals,
		GOMAXPROCS: runtime.GOMAXPROCS(0), EngineEPSPerCore: map[string]float64{}, EngineEPSWall: map[string]float64{},
	}
	brokers := splitList(cfg.KafkaBrokers)
	if len(brokers) == 0 {
		addr, stop, err := startChildBroker(ctx, cfg.Partitions)
		if err != nil {
			return nil, err
		}
		defer stop()
		brokers = []string{addr}
		progress("broker: `dowser broker` child process on %s", addr)
		res.Notes = append(res.Notes, "broker: embedded kfake broker in a child process (`dowser broker`), in memory")
	}
	topic := fmt.Sprintf("dowser.bench.%d", time.Now().UnixNano())
	if err := ingest.EnsureTopics(ctx, brokers, cfg.Partitions, 1, topic, ingest.DLQTopic(topic)); err != nil {
		return nil, err
	}

	// 1. Produce.
	progress("producing %d demo events to %s", cfg.Events, topic)
	start := time.Now()
	bytes, err := benchProduce(ctx, brokers, topic, cfg.Events)
	if err != nil {
		return nil, err
	}
	res.ProduceEPS = ptr(float64(cfg.Events) / time.Since(start).Seconds())
	res.EventBytesAvg = float64(bytes) / float64(cfg.Events)
	progress("produced: %.0f events/s, %.0f bytes an event", *res.ProduceEPS, res.EventBytesAvg)

	// 2. Raw consume.
	runtime.GC()
	start = time.Now()
	n, err := ingest.DrainTopic(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	if n != int64(cfg.Events) {
		return nil, fmt.Errorf("raw consume read %d messages, want %d", n, cfg.Events)
	}
	res.RawConsumeEPS = ptr(float64(n) / time.Since(start).Seconds())
	progress("raw consume: %.0f events/s", *res.RawConsumeEPS)

	// 3. Pipeline.
	sigs, err := benchSignalSet(cfg.Signals)
	if err != nil {
		return nil, err
	}
	runtime.GC()
	eps, alerts, err := benchPipeline(ctx, brokers, topic, cfg.Events, sigs)
	if err != nil {
		return nil, err
	}
	res.PipelineEPS = ptr(eps)
	res.PipelineAlerts = alerts
	res.PipelineVsRaw = ptr(eps / *res.RawConsumeEPS)
	res.Notes = append(res.Notes, "pipeline: ingest.Consumer (consumer group, decoding, validation) + one detector engine a partition; "+
		"alerts counted and discarded, checkpoints no-ops, account lifecycles from an in-memory map: no PostgreSQL")
	progress("pipeline: %.0f events/s (%.2f of raw), %d alerts", eps, *res.PipelineVsRaw, alerts)

	// 4. Engine alone.
	evs, err := newBenchEvents(min(cfg.Events, 500_000))
	if err != nil {
		return nil, err
	}
	for _, k := range []int{10, 100, 1000} {
		sigs, err := benchSignalSet(k)
		if err != nil {
			return nil, err
		}
		perCPU, perWall, err := benchEngine(evs, sigs, cfg.EngineTime)
		if err != nil {
			return nil, err
		}
		res.EngineEPSPerCore[strconv.Itoa(k)] = perCPU
		res.EngineEPSWall[strconv.Itoa(k)] = perWall
		progress("engine, %d signals: %.0f events per CPU-second (%.0f a wall second)", k, perCPU, perWall)
	}
	res.Notes = append(res.Notes, "engine_eps_per_core: events evaluated per second of the process's CPU time (GC included) by one goroutine; "+
		"engine_eps_wall: per wall second, lower when other processes share the cores")
	evs = nil

	// 5. End-to-end latency.
	var e2eLat []time.Duration
	var ws *benchWS
	if cfg.DatabaseURL == "" || cfg.E2EAlerts < 1 || cfg.E2EClients < 1 {
		res.Notes = append(res.Notes, "e2e latency: not measured (no --database-url / DATABASE_URL)")
	} else {
		e2eLat, ws, err = benchE2E(ctx, cfg, brokers, progress)
		if err != nil {
			progress("e2e: %v", err)
			res.Notes = append(res.Notes, "e2e latency: not measured: "+err.Error())
			e2eLat, ws = nil, nil
		}
	}
	if lat := e2eLat; len(lat) > 0 {
		slices.Sort(lat)
		ms := func(d time.Duration) *float64 { return ptr(float64(d) / float64(time.Millisecond)) }
		res.E2EP50Ms, res.E2EP99Ms, res.E2EMaxMs = ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)), ms(lat[len(lat)-1])
		res.E2EAlerts = len(lat)
		res.Notes = append(res.Notes, fmt.Sprintf("e2e: full service (PostgreSQL, default pack + a probe signal), %d websocket clients, %.0f events/s; "+
			"latency from the producer's acknowledgement of a probe event to its alert frame read by the owner's client, over %d alerts; clients %s",
			cfg.E2EClients, cfg.E2ERate, len(lat), benchClientsWhere()))
		progress("e2e: p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d alerts", *res.E2EP50Ms, *res.E2EP99Ms, *res.E2EMaxMs, len(lat))
		if ws != nil {
			res.WSBytesPerConn = &ws.perConn
			note := fmt.Sprintf("ws_bytes_per_conn: growth of the service process's RSS (after GC and returning memory to the OS) per idle websocket connection, "+
				"%d connections; clients (bare sockets after the handshake) %s", ws.conns, benchClientsWhere())
			if ws.short != "" {
				note += "; fewer than asked: " + ws.short
			}
			res.Notes = append(res.Notes, note)
			progress("websocket: %.0f bytes an idle connection (%d connections)", ws.perConn, ws.conns)
		}
	}
	if res.WSBytesPerConn == nil {
		res.Notes = append(res.Notes, "ws_bytes_per_conn: not measured (needs --database-url and --ws-conns > 0)")
	}

	// 6. Detector state.
	runtime.GC()
	per, pairs, err := benchState(cfg.StateSubjects)
	if err != nil {
		return nil, err
	}
	res.StateBytesPerSubject = ptr(per)
	res.StateSubjects = cfg.StateSubjects
	res.StateSignalPairs = pairs
	progress("detector state: %.0f bytes a subject (%d subjects, %d signal-subject states)", per, cfg.StateSubjects, pairs)
	return res, nil
}

// startChildBroker runs `dowser broker` (this very binary) on a free port
// and returns its address once it answers, and a function stopping it.
func startChildBroker(ctx context.Context, partitions int) (string, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("finding the dowser binary: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(exe, "broker", "--embedded-kafka-addr", addr, "--embedded-kafka-dir", "",
		"--partitions", strconv.Itoa(partitions), "--log-format", "text", "--log-level", "error")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("starting %s broker: %w", exe, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := ingest.Ping(pctx, []string{addr})
		cancel()
		if err == nil {
			return addr, stop, nil
		}
		select {
		case <-exited:
			return "", nil, fmt.Errorf("the broker child process exited: %v", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return "", nil, fmt.Errorf("the broker child process does not answer on %s: %w", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// benchEpoch is the event time of the first generated event; the traffic
// then runs at benchEventRate events a second of event time.
var benchEpoch = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

const benchEventRate = 5000

// newBenchTraffic is the demo's traffic generator with a fixed seed.
func newBenchTraffic() *traffic {
	return &traffic{rng: rand.New(rand.NewPCG(2026, 42)), hot: map[string]time.Time{}, productLines: benchProductLines}
}

func benchEventTime(i int) time.Time {
	return benchEpoch.Add(time.Duration(i) * time.Second / benchEventRate)
}

// benchProduce produces n demo events and returns their total size.
func benchProduce(ctx context.Context, brokers []string, topic string, n int) (int64, error) {
	const chunk = 2000
	p := ingest.NewProducer(brokers, topic)
	defer p.Close()
	chunks := make(chan []ingest.Message, 8)
	g, gctx := errgroup.WithContext(ctx)
	var total int64
	g.Go(func() error {
		defer close(chunks)
		t := newBenchTraffic()
		batch := make([]ingest.Message, 0, chunk)
		for i := range n {
			ev := t.next(benchEventTime(i))
			b, err := json.Marshal(&ev)
			if err != nil {
				return err
			}
			total += int64(len(b))
			batch = append(batch, ingest.Message{Key: []byte(ingest.EventKey(&ev)), Value: b})
			if len(batch) == chunk || i == n-1 {
				select {
				case chunks <- batch:
				case <-gctx.Done():
					return gctx.Err()
				}
				batch = make([]ingest.Message, 0, chunk)
			}
		}
		return nil
	})
	for range 8 {
		g.Go(func() error {
			for b := range chunks {
				if err := p.Produce(gctx, b...); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	return total, err
}

// benchLifecycles stands in for the lifecycle cache the service fills from
// PostgreSQL: the demo accounts' lifecycles, as the demo seeds them (every
// third account a customer).
var benchLifecycles = sync.OnceValue(func() map[string]string {
	m := make(map[string]string, len(demoAccounts))
	for i, id := range demoAccounts {
		m[id] = schema.LifecycleProspect
		if i%3 == 2 {
			m[id] = schema.LifecycleCustomer
		}
	}
	return m
})

func benchFillLifecycle(ev *schema.Event) {
	if ev.Customer.Lifecycle == "" && ev.Customer.AccountID != "" {
		ev.Customer.Lifecycle = benchLifecycles()[ev.Customer.AccountID]
	}
}

// benchProcessor is an ingest.Processor running one detector engine a
// partition, as the service does, without PostgreSQL: alerts are counted
// and dropped, checkpoints do nothing.
type benchProcessor struct {
	signals []*detector.Signal
	target  int64
	started atomic.Int64 // unix nanoseconds of the first assignment
	handled atomic.Int64
	alerts  atomic.Int64
	done    chan struct{}
	doneAt  time.Time
}

func (p *benchProcessor) Partition(ctx context.Context, partition int) (ingest.PartitionHandler, int64, error) {
	p.started.CompareAndSwap(0, time.Now().UnixNano())
	return &benchPartition{p: p, engine: detector.New(p.signals)}, 0, nil
}

type benchPartition struct {
	p      *benchProcessor
	engine *detector.Engine
}

func (h *benchPartition) Handle(ctx context.Context, ev *schema.Event) error {
	benchFillLifecycle(ev)
	if a := h.engine.Evaluate(ev); len(a) > 0 {
		h.p.alerts.Add(int64(len(a)))
	}
	if h.p.handled.Add(1) == h.p.target {
		h.p.doneAt = time.Now()
		close(h.p.done)
	}
	return nil
}

func (h *benchPartition) Checkpoint(ctx context.Context, nextOffset int64) error { return nil }

// benchPipeline runs the consumer over the topic from its start until it
// has handled n events and returns the events a second from the first
// partition assigned to the last event evaluated.
func benchPipeline(ctx context.Context, brokers []string, topic string, n int, sigs []*detector.Signal) (float64, int64, error) {
	proc := &benchProcessor{signals: sigs, target: int64(n), done: make(chan struct{})}
	c, err := ingest.NewConsumer(ingest.Config{
		Brokers: brokers, Topic: topic, GroupID: topic + ".bench",
		CheckpointInterval: 2 * time.Second,
	}, proc, ingest.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		return 0, 0, err
	}
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(cctx) }()
	defer func() { cancel(); <-errc }()
	select {
	case <-proc.done:
	case err := <-errc:
		return 0, 0, fmt.Errorf("consumer stopped after %d of %d events: %v", proc.handled.Load(), n, err)
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	took := proc.doneAt.Sub(time.Unix(0, proc.started.Load()))
	return float64(n) / took.Seconds(), proc.alerts.Load(), nil
}

type benchRow struct {
	name, value, goal, verdict string
}

func printBenchTable(w io.Writer, r *benchResult) {
	f := func(v *float64, format string) string {
		if v == nil {
			return "not measured"
		}
		return fmt.Sprintf(format, *v)
	}
	verdict := func(v *float64, ok func(float64) bool) string {
		if v == nil {
			return "-"
		}
		if ok(*v) {
			return "met"
		}
		return "MISSED"
	}
	rows := []benchRow{
		{"produce (events/s)", f(r.ProduceEPS, "%.0f"), "", ""},
		{"raw_consume_eps", f(r.RawConsumeEPS, "%.0f"), "", ""},
		{"pipeline_eps", f(r.PipelineEPS, "%.0f"), "", ""},
		{"pipeline_vs_raw", f(r.PipelineVsRaw, "%.2f"), ">= 0.6", verdict(r.PipelineVsRaw, func(v float64) bool { return v >= 0.6 })},
	}
	e10, ok10 := r.EngineEPSPerCore["10"]
	e100, ok100 := r.EngineEPSPerCore["100"]
	e1000, ok1000 := r.EngineEPSPerCore["1000"]
	for _, k := range []string{"10", "100", "1000"} {
		v, ok := r.EngineEPSPerCore[k]
		row := benchRow{"engine_eps_per_core[" + k + "]", "not measured", "", ""}
		if ok {
			row.value = fmt.Sprintf("%.0f", v)
		}
		if k == "100" {
			row.goal = ">= 2,000,000"
			row.verdict = verdict(ptrIf(e100, ok100), func(v float64) bool { return v >= 2_000_000 })
		}
		rows = append(rows, row)
	}
	var drop *float64
	if ok10 && ok1000 && e1000 > 0 {
		drop = ptr(e10 / e1000)
	}
	rows = append(rows,
		benchRow{"engine drop 10 -> 1000 signals", f(drop, "%.2fx"), "< 2x", verdict(drop, func(v float64) bool { return v < 2 })},
		benchRow{"e2e_p50_ms", f(r.E2EP50Ms, "%.1f"), "", ""},
		benchRow{"e2e_p99_ms", f(r.E2EP99Ms, "%.1f"), "<= 20", verdict(r.E2EP99Ms, func(v float64) bool { return v <= 20 })},
		benchRow{"e2e_max_ms", f(r.E2EMaxMs, "%.1f"), "", ""},
		benchRow{"ws_bytes_per_conn", f(r.WSBytesPerConn, "%.0f"), "<= 16384", verdict(r.WSBytesPerConn, func(v float64) bool { return v <= 16<<10 })},
		benchRow{"state_bytes_per_subject", f(r.StateBytesPerSubject, "%.0f"), "<= 512", verdict(r.StateBytesPerSubject, func(v float64) bool { return v <= 512 })},
	)
	fmt.Fprintf(w, "dowser bench: %d events (%.0f bytes avg), %d partitions, %d pipeline signals, GOMAXPROCS %d\n\n",
		r.Events, r.EventBytesAvg, r.Partitions, r.PipelineSignals, r.GOMAXPROCS)
	fmt.Fprintf(w, "%-32s %16s  %-14s %s\n", "measure", "value", "goal", "")
	for _, row := range rows {
		fmt.Fprintf(w, "%-32s %16s  %-14s %s\n", row.name, row.value, row.goal, row.verdict)
	}
	fmt.Fprintf(w, "\npipeline alerts: %d; state: %d subjects, %d signal-subject states\n", r.PipelineAlerts, r.StateSubjects, r.StateSignalPairs)
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note: "+n)
	}
}

func ptrIf(v float64, ok bool) *float64 {
	if !ok {
		return nil
	}
	return &v
}

// benchProbeSignal fires once per account on a probe form submission: the
// end-to-end run produces one probe per account and times its alert.
const benchProbeSignal = `id: bench-latency-probe
name: Bench latency probe
owner: bench-marketer
audience: prospect
scope: account
priority: urgent
when:
  threshold:
    match: {type: form_submit, url: "*/bench-probe*"}
    count: 1
    within: 1h
cooldown: 1h
message: "{{.Account}} probe"
`

// benchE2E runs the whole service (the App, on the given brokers and a
// fresh database made next to databaseURL's) with the default pack and the
// probe signal, connects clients websocket clients, each a rep owning some
// accounts, produces demo traffic at rate events a second with one probe
// in 50, and returns the latencies from each probe's producer
// acknowledgement to its alert frame read by its owner's client.
func benchE2E(ctx context.Context, cfg benchConfig, brokers []string, progress func(string, ...any)) (lat []time.Duration, ws *benchWS, err error) {
	dbURL, drop, err := benchDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	defer drop()
	stamp := strconv.FormatInt(time.Now().UnixNano(), 36)
	app, err := newApp(serveConfig{
		HTTPAddr:        "127.0.0.1:0",
		DatabaseURL:     dbURL,
		KafkaBrokers:    strings.Join(brokers, ","),
		EventsTopic:     "dowser.bench-e2e.events." + stamp,
		AlertsTopic:     "dowser.bench-e2e.alerts." + stamp,
		GroupID:         "dowser.bench-e2e." + stamp,
		Partitions:      cfg.Partitions,
		Replication:     1,
		MaxEventBytes:   schema.MaxEventBytes,
		SignalsPoll:     200 * time.Millisecond,
		CheckpointEvery: 2 * time.Second,
	}, slog.New(slog.DiscardHandler), io.Discard)
	if err != nil {
		return nil, nil, err
	}
	actx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- app.Run(actx) }()
	defer func() {
		cancel()
		if rerr := <-errc; rerr != nil && err == nil {
			err = rerr
		}
	}()
	select {
	case <-app.Ready():
	case err := <-errc:
		errc <- err
		return nil, nil, fmt.Errorf("the service stopped before it was ready: %w", err)
	case <-time.After(60 * time.Second):
		return nil, nil, errors.New("the service was not ready within 60s")
	}
	store := app.store

	// People, accounts and signals.
	probes := cfg.E2EAlerts + cfg.E2EAlerts/10
	if err := store.PutUser(ctx, postgres.User{ID: "bench-marketer", Name: "Bench marketer", Role: postgres.RoleMarketer}, ""); err != nil {
		return nil, nil, err
	}
	for i := range cfg.E2EClients {
		id := fmt.Sprintf("bench-rep-%05d", i)
		if err := store.PutUser(ctx, postgres.User{ID: id, Name: id, Role: postgres.RoleRep}, benchToken(i)); err != nil {
			return nil, nil, err
		}
	}
	for i := range probes {
		a := postgres.Account{ID: fmt.Sprintf("bench-acct-%05d", i), Name: fmt.Sprintf("Bench %d", i),
			OwnerID: fmt.Sprintf("bench-rep-%05d", i%cfg.E2EClients), Lifecycle: schema.LifecycleProspect}
		if err := store.PutAccount(ctx, a); err != nil {
			return nil, nil, err
		}
	}
	packFiles, err := fs.Glob(deploy.Signals, "signals/*.yaml")
	if err != nil {
		return nil, nil, err
	}
	pack, err := benchSignalSet(len(packFiles))
	if err != nil {
		return nil, nil, err
	}
	probe, err := detector.ParseSignal([]byte(benchProbeSignal))
	if err != nil {
		return nil, nil, err
	}
	srcs := map[string]string{probe.ID: benchProbeSignal}
	for _, s := range pack {
		srcs[s.ID] = benchPackSource(s.ID)
	}
	for _, s := range append(pack, probe) {
		doc, err := json.Marshal(s)
		if err != nil {
			return nil, nil, err
		}
		if _, err := store.SaveSignal(ctx, s.ID, doc, srcs[s.ID], "bench", true); err != nil {
			return nil, nil, err
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if enabled, _ := app.pipe.Signals(); slices.ContainsFunc(enabled, func(s *detector.Signal) bool { return s.ID == probe.ID }) {
			break
		}
		if time.Now().After(deadline) {
			return nil, nil, errors.New("the probe signal did not reach the detectors within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Clients, in a process of their own: what they cost in CPU, memory
	// and GC is not the service's.
	var mu sync.Mutex
	acked := map[string]time.Time{}    // account -> probe acknowledged
	received := map[string]time.Time{} // account -> alert frame read
	progress("e2e: connecting %d websocket clients", cfg.E2EClients)
	clients, err := startBenchClients(ctx, "e2e", app.HTTPAddr(), cfg.E2EClients, cfg.E2EClients, probe.ID)
	if err != nil {
		return nil, nil, err
	}
	defer clients.stop()
	if clients.opened < cfg.E2EClients {
		return nil, nil, fmt.Errorf("only %d of %d websocket clients connected: %s", clients.opened, cfg.E2EClients, clients.short)
	}
	go func() {
		for line := range clients.lines {
			// "alert <account> <unix nanoseconds read>"
			f := strings.Fields(line)
			if len(f) != 3 || f[0] != "alert" {
				continue
			}
			ns, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				continue
			}
			mu.Lock()
			if _, ok := received[f[1]]; !ok {
				received[f[1]] = time.Unix(0, ns)
			}
			mu.Unlock()
		}
	}()

	// Traffic: rate events a second in 1 ms ticks, one in 50 a probe,
	// produced by 16 producers so that waiting for acknowledgements does
	// not slow the pace.
	progress("e2e: %0.f events/s, %d probes", cfg.E2ERate, probes)
	type batch struct {
		msgs  []ingest.Message
		probe string
	}
	batches := make(chan batch, 1024)
	p := ingest.NewProducer(brokers, app.cfg.EventsTopic)
	defer p.Close()
	g, gctx := errgroup.WithContext(ctx)
	for range 16 {
		g.Go(func() error {
			for b := range batches {
				if err := p.Produce(gctx, b.msgs...); err != nil {
					return err
				}
				if b.probe != "" {
					now := time.Now()
					mu.Lock()
					acked[b.probe] = now
					mu.Unlock()
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(batches)
		t := newBenchTraffic()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		sent, probed := 0, 0
		for probed < probes {
			select {
			case <-gctx.Done():
				return gctx.Err()
			case <-tick.C:
			}
			due := int(time.Since(start).Seconds() * cfg.E2ERate)
			var b batch
			for ; sent < due; sent++ {
				ev := t.next(time.Now())
				if sent%50 == 49 && probed < probes {
					acct := fmt.Sprintf("bench-acct-%05d", probed)
					probed++
					ev.Type, ev.ContentID = schema.TypeFormSubmit, ""
					ev.Customer = schema.Customer{ID: "c-" + acct, AccountID: acct}
					ev.Properties = map[string]any{"form": "probe", "url": "https://dowser.example/bench-probe"}
					// A probe goes alone, so that its acknowledgement is its own.
					if err := benchSend(gctx, batches, batch{msgs: []ingest.Message{benchMessage(&ev)}, probe: acct}); err != nil {
						return err
					}
					continue
				}
				b.msgs = append(b.msgs, benchMessage(&ev))
			}
			if len(b.msgs) > 0 {
				if err := benchSend(gctx, batches, b); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if n >= probes {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for acct, at := range acked {
		if got, ok := received[acct]; ok {
			// Wall clock on both sides: the read time comes from the
			// clients' process.
			lat = append(lat, got.Sub(at.Round(0)))
		}
	}
	if len(lat) < cfg.E2EAlerts {
		return lat, nil, fmt.Errorf("only %d of %d probe alerts reached their clients within 30s", len(lat), probes)
	}
	mu.Unlock()
	defer mu.Lock()
	if cfg.WSConns > 0 {
		// The latency clients are done: their files are needed.
		clients.stop()
		progress("e2e: opening %d idle websocket connections", cfg.WSConns)
		ws, err := benchWSMemory(ctx, app.HTTPAddr(), cfg.WSConns, cfg.E2EClients)
		if err != nil {
			progress("websocket memory: not measured: %v", err)
			return lat, nil, nil
		}
		if ws.short != "" {
			progress("websocket memory: %d connections, not %d: %s", ws.conns, cfg.WSConns, ws.short)
		}
		return lat, ws, nil
	}
	return lat, nil, nil
}

// benchWS is the websocket memory measurement.
type benchWS struct {
	perConn float64
	conns   int
	short   string // why fewer connections than asked, if so
}

// benchWSMemory opens n idle websocket connections to the service running
// in this process from a client process (see runBenchClients), and returns
// the growth of this process's RSS per connection.
func benchWSMemory(ctx context.Context, addr string, n, users int) (*benchWS, error) {
	ws := &benchWS{}
	if _, hard, room := raiseOpenFileLimit(); room < n {
		ws.short = fmt.Sprintf("the service process's open-file hard limit is %d", hard)
		n = max(room, 1)
	}
	settle := func() (int64, error) {
		time.Sleep(time.Second)
		runtime.GC()
		debug.FreeOSMemory()
		return processRSS()
	}
	before, err := settle()
	if err != nil {
		return nil, err
	}
	clients, err := startBenchClients(ctx, "idle", addr, n, users, "")
	if err != nil {
		return nil, err
	}
	defer clients.stop()
	if clients.opened < 1 {
		return nil, fmt.Errorf("no connection opened: %s", clients.short)
	}
	if clients.short != "" {
		ws.short = clients.short
	}
	after, err := settle()
	if err != nil {
		return nil, err
	}
	ws.conns = clients.opened
	ws.perConn = float64(after-before) / float64(clients.opened)
	return ws, nil
}

// raiseOpenFileLimit raises this process's open-file limit to its hard
// limit and returns both and how many more files it can open, keeping 256
// spare.
func raiseOpenFileLimit() (soft, hard uint64, room int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, 1 << 30 // unknown: let the dials find out
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		}
	}
	open := 0
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		open = len(fds)
	}
	return lim.Cur, lim.Max, int(lim.Cur) - open - 256
}

// benchClientsArg, as `dowser bench __clients MODE ADDR N USERS [PROBE]`,
// runs the client side of the websocket measurements (runBenchClients):
// the bench starts this very binary so, as it does `dowser broker`.
const benchClientsArg = "__clients"

// benchClients is a running client process.
type benchClients struct {
	opened int           // connections open
	short  string        // why fewer than asked, if so
	lines  <-chan string // what the clients report after "ready"
	stop   func()        // closes the connections and waits for the process
}

// benchClientsWhere says where startBenchClients runs the clients.
func benchClientsWhere() string {
	if testing.Testing() {
		return "in the service's process (a test binary cannot run `dowser bench __clients`)"
	}
	return "in a process of their own"
}

// startBenchClients starts `dowser bench __clients` and waits until its
// connections are open. In a test binary, which cannot be started as
// dowser, the clients run in this process instead.
func startBenchClients(ctx context.Context, mode, addr string, n, users int, probe string) (*benchClients, error) {
	args := []string{mode, addr, strconv.Itoa(n), strconv.Itoa(users), probe}
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	var wait func() error
	if testing.Testing() {
		errc := make(chan error, 1)
		go func() {
			err := runBenchClients(ctx, args, stdinR, stdoutW)
			stdoutW.CloseWithError(err)
			errc <- err
		}()
		wait = func() error { return <-errc }
	} else {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the dowser binary: %w", err)
		}
		cmd := exec.Command(exe, append([]string{"bench", benchClientsArg}, args...)...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdinR, stdoutW, os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting %s bench %s: %w", exe, benchClientsArg, err)
		}
		exited := make(chan error, 1)
		go func() {
			err := cmd.Wait()
			stdoutW.CloseWithError(err)
			exited <- err
		}()
		wait = func() error {
			select {
			case err := <-exited:
				return err
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				return <-exited
			}
		}
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stdinW.Close()
			_ = wait()
		})
	}
	sc := bufio.NewScanner(stdoutR)
	if !sc.Scan() {
		stop()
		return nil, fmt.Errorf("the websocket clients stopped before they were ready: %v", sc.Err())
	}
	// "ready <opened> <why fewer, if so>"
	ready := strings.SplitN(sc.Text(), " ", 3)
	if len(ready) < 2 || ready[0] != "ready" {
		stop()
		return nil, fmt.Errorf("the websocket clients said %q, not ready", sc.Text())
	}
	c := &benchClients{stop: stop}
	c.opened, _ = strconv.Atoi(ready[1])
	if len(ready) == 3 {
		c.short = ready[2]
	}
	lines := make(chan string, 1024)
	c.lines = lines
	go func() {
		defer close(lines)
		for sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stdoutR)
	}()
	return c, nil
}

// runBenchClients is `dowser bench __clients MODE ADDR N USERS [PROBE]`:
// it opens N websocket connections to ADDR's stream, connection i as user
// i mod USERS, each having read its hello, says "ready <opened> [why
// fewer]", and keeps them open until its input ends. MODE "idle" leaves
// the connections as bare sockets (as few as the open-file limit allows);
// MODE "e2e" reads every connection and says "alert <account> <unix
// nanoseconds>" for each alert frame of signal PROBE.
func runBenchClients(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	if len(args) < 4 {
		return fmt.Errorf("bench %s: want MODE ADDR N USERS [PROBE], got %q", benchClientsArg, args)
	}
	mode, addr, probe := args[0], args[1], ""
	if len(args) > 4 {
		probe = args[4]
	}
	n, err1 := strconv.Atoi(args[2])
	users, err2 := strconv.Atoi(args[3])
	if err := errors.Join(err1, err2); err != nil || n < 1 || users < 1 {
		return fmt.Errorf("bench %s: N and USERS must be positive numbers: %q", benchClientsArg, args)
	}
	var short string
	if _, hard, room := raiseOpenFileLimit(); room < n {
		short = fmt.Sprintf("the clients' process's open-file hard limit is %d", hard)
		n = max(room, 1)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var outMu sync.Mutex
	w := bufio.NewWriter(out)
	say := func(format string, a ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(w, format+"\n", a...)
		w.Flush()
	}

	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	switch mode {
	case "idle":
		conns := make([]net.Conn, n)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(16)
		for i := range n {
			g.Go(func() error {
				c, err := benchIdleConn(gctx, addr, benchToken(i%users))
				if err != nil {
					return fmt.Errorf("connection %d: %w", i, err)
				}
				conns[i] = c
				return nil
			})
		}
		err := g.Wait()
		for _, c := range conns {
			if c != nil {
				closers = append(closers, c)
			}
		}
		if err != nil {
			return err
		}
	case "e2e":
		dialer := &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 1024}
		for i := range n {
			conn, _, err := dialer.DialContext(ctx, "ws://"+addr+"/v1/stream", http.Header{"Authorization": {"Bearer " + benchToken(i%users)}})
			if err != nil {
				return fmt.Errorf("websocket client %d: %w", i, err)
			}
			closers = append(closers, conn.NetConn())
			// Its hello first, so that "ready" means connected.
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, _, err := conn.ReadMessage(); err != nil {
				return fmt.Errorf("websocket client %d: reading hello: %w", i, err)
			}
			conn.SetReadDeadline(time.Time{})
			go func() {
				for {
					_, data, err := conn.ReadMessage()
					if err != nil {
						return
					}
					now := time.Now()
					var f struct {
						Op    string `json:"op"`
						Alert struct {
							SignalID  string `json:"signal_id"`
							AccountID string `json:"account_id"`
						} `json:"alert"`
					}
					if json.Unmarshal(data, &f) != nil || f.Op != "alert" || f.Alert.SignalID != probe {
						continue
					}
					say("alert %s %d", f.Alert.AccountID, now.UnixNano())
				}
			}()
		}
	default:
		return fmt.Errorf("bench %s: mode %q is not idle or e2e", benchClientsArg, mode)
	}
	say("ready %d %s", len(closers), short)
	// Until the bench closes our input (or dies).
	go func() {
		io.Copy(io.Discard, in)
		cancel()
	}()
	<-ctx.Done()
	return nil
}

// benchIdleConn opens a websocket connection to addr's stream with a
// handshake by hand, reads the hello frame, and leaves nothing on the
// client side but the socket.
func benchIdleConn(ctx context.Context, addr, token string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	var key [16]byte
	for j := range key {
		key[j] = byte(rand.IntN(256))
	}
	fmt.Fprintf(c, "GET /v1/stream HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
		addr, base64.StdEncoding.EncodeToString(key[:]), token)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(c, 512)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		c.Close()
		return nil, fmt.Errorf("handshake answered %q: %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("reading the handshake's headers: %w", err)
		}
		if line == "\r\n" {
			break
		}
	}
	// The hello: an unmasked text frame, short enough for a 7-bit or
	// 16-bit length.
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("reading the hello: %w", err)
	}
	size := int(hdr[1] & 0x7f)
	if size == 126 {
		var ext [2]byte
		if _, err := io.ReadFull(br, ext[:]); err != nil {
			c.Close()
			return nil, fmt.Errorf("reading the hello: %w", err)
		}
		size = int(ext[0])<<8 | int(ext[1])
	}
	payload := make([]byte, size)
	if _, err := io.ReadFull(br, payload); err != nil || !strings.Contains(string(payload), `"hello"`) {
		c.Close()
		return nil, fmt.Errorf("reading the hello: got %q: %v", payload, err)
	}
	c.SetReadDeadline(time.Time{})
	return c, nil
}

// processRSS is this process's resident set size in bytes.
func processRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("reading RSS: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}

func benchSend[T any](ctx context.Context, ch chan<- T, v T) error {
	select {
	case ch <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func benchMessage(ev *schema.Event) ingest.Message {
	b, _ := json.Marshal(ev)
	return ingest.Message{Key: []byte(ingest.EventKey(ev)), Value: b}
}

func benchToken(i int) string { return fmt.Sprintf("bench-token-%05d-0123456789", i) }

// benchPackSource is the YAML of the default pack's signal id.
func benchPackSource(id string) string {
	b, _ := fs.ReadFile(deploy.Signals, "signals/"+id+".yaml")
	return string(b)
}

// benchDatabase creates a fresh database on the server of base and returns
// its URL and a function dropping it.
func benchDatabase(ctx context.Context, base string) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, fmt.Errorf("parsing the database URL: %w", err)
	}
	name := "dowser_bench_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("creating the bench database: %w", err)
	}
	u.Path = "/" + name
	drop := func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	return u.String(), drop, nil
}

// percentile returns the q quantile (0..1) of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
