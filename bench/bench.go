package bench

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dowserhq/dowser/kafka"
)

// Config is one run of the benchmark. Every count must be at least 1,
// except the end-to-end ones, where 0 skips the measurement.
type Config struct {
	// Events are produced to a fresh topic and consumed raw and by the
	// pipeline; Partitions is that topic's partition count.
	Events     int
	Partitions int
	// Signals is how many signals the pipeline runs: the default pack
	// plus generated variants.
	Signals int
	// KafkaBrokers are the bootstrap brokers; none starts `dowser broker`
	// (this very binary) as a child process on a free port.
	KafkaBrokers []string
	// KafkaSecurity is how to reach KafkaBrokers (TLS, SASL); the
	// state-at-scale stage's `dowser serve` child takes it from the
	// DOWSER_KAFKA_* variables it inherits instead.
	KafkaSecurity kafka.Security
	// DatabaseURL names the PostgreSQL server the end-to-end run makes a
	// fresh database on; empty skips the end-to-end and websocket-memory
	// measurements.
	DatabaseURL string
	// E2ERate events a second, with E2EClients websocket clients
	// connected, until E2EAlerts probe alerts are measured.
	E2ERate    float64
	E2EClients int
	E2EAlerts  int
	// WSConns idle websocket connections for the memory measurement; 0
	// skips it.
	WSConns int
	// EngineTime is the most CPU time the engine measurement spends per
	// signal count.
	EngineTime time.Duration
	// StateSubjects active subjects for the detector-state measurement.
	StateSubjects int
	// ScaleSubjects detector subjects the state-at-scale stage grows a
	// `dowser serve` child process's state to (with DatabaseURL); 0 skips
	// the stage. ScalePartitions is its topic's partition count,
	// ScaleTimeout the most the whole stage takes, ScaleAlerts the probe
	// alerts of its latency run (at E2ERate), and ScaleMaxRSS the child's
	// RSS at which the growth stops (0: half the machine's available
	// memory). ScaleOnly skips every other stage.
	ScaleSubjects   int
	ScalePartitions int
	ScaleTimeout    time.Duration
	ScaleAlerts     int
	ScaleMaxRSS     int64
	ScaleOnly       bool
	// NewService builds the service the end-to-end run measures; nil
	// skips the end-to-end run.
	NewService func(ServiceConfig) (Service, error)
	// Progress receives a line, "bench: ...", as each step starts and
	// ends; nil discards them.
	Progress io.Writer
}

// Result is what a run measured, as `dowser bench --json` prints it: a
// nil figure is "not measured".
type Result struct {
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
	// ColdStateBytesPerSubject is the same state held cold (encoded).
	ColdStateBytesPerSubject *float64 `json:"cold_state_bytes_per_subject"`

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
	// Scale is the state-at-scale stage; nil when skipped.
	Scale *ScaleResult `json:"scale"`
	Notes []string     `json:"notes"`
}

func ptr(v float64) *float64 { return &v }

// Run measures, one after another: producing cfg.Events demo events,
// consuming them raw, through the pipeline without PostgreSQL, the engine
// alone at 10, 100 and 1,000 signals, the whole service end to end with
// websocket clients (and their memory), and the detector's state per
// subject. docs/benchmarks.md says what each step measures and how. A
// failed end-to-end run is a note in the result, not an error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	progress := func(format string, a ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "bench: "+format+"\n", a...)
		}
	}
	res := &Result{
		Events: cfg.Events, Partitions: cfg.Partitions, PipelineSignals: cfg.Signals,
		GOMAXPROCS: runtime.GOMAXPROCS(0), EngineEPSPerCore: map[string]float64{}, EngineEPSWall: map[string]float64{},
	}
	var cl kafka.Cluster
	if len(cfg.KafkaBrokers) > 0 {
		var err error
		if cl, err = kafka.Connect(ctx, cfg.KafkaBrokers, cfg.KafkaSecurity, nil); err != nil {
			return nil, err
		}
	} else {
		addr, stop, err := startChildBroker(ctx, cfg.Partitions)
		if err != nil {
			return nil, err
		}
		defer stop()
		cl = kafka.Cluster{Brokers: []string{addr}}
		cfg.KafkaSecurity = kafka.Security{} // the child broker is plaintext
		progress("broker: `dowser broker` child process on %s", addr)
		res.Notes = append(res.Notes, "broker: embedded kfake broker in a child process (`dowser broker`), in memory")
	}
	if cfg.ScaleOnly {
		res.Events, res.Partitions, res.PipelineSignals = 0, 0, 0
		if err := scaleStage(ctx, cfg, cl, res, progress); err != nil {
			return nil, err
		}
		return res, nil
	}
	topic := fmt.Sprintf("dowser.bench.%d", time.Now().UnixNano())
	if err := kafka.EnsureTopics(ctx, cl, cfg.Partitions, 1, topic, kafka.DLQTopic(topic)); err != nil {
		return nil, err
	}

	// 1. Produce.
	progress("producing %d demo events to %s", cfg.Events, topic)
	start := time.Now()
	bytes, err := produce(ctx, cl, topic, cfg.Events)
	if err != nil {
		return nil, err
	}
	res.ProduceEPS = ptr(float64(cfg.Events) / time.Since(start).Seconds())
	res.EventBytesAvg = float64(bytes) / float64(cfg.Events)
	progress("produced: %.0f events/s, %.0f bytes an event", *res.ProduceEPS, res.EventBytesAvg)

	// 2. Raw consume.
	runtime.GC()
	start = time.Now()
	n, err := kafka.DrainTopic(ctx, cl, topic)
	if err != nil {
		return nil, err
	}
	if n != int64(cfg.Events) {
		return nil, fmt.Errorf("raw consume read %d messages, want %d", n, cfg.Events)
	}
	res.RawConsumeEPS = ptr(float64(n) / time.Since(start).Seconds())
	progress("raw consume: %.0f events/s", *res.RawConsumeEPS)

	// 3. Pipeline.
	sigs, err := signalSet(cfg.Signals)
	if err != nil {
		return nil, err
	}
	runtime.GC()
	eps, alerts, err := runPipeline(ctx, cl, topic, cfg.Events, sigs)
	if err != nil {
		return nil, err
	}
	res.PipelineEPS = ptr(eps)
	res.PipelineAlerts = alerts
	res.PipelineVsRaw = ptr(eps / *res.RawConsumeEPS)
	res.Notes = append(res.Notes, "pipeline: kafka.Consumer (consumer group, decoding, validation) + one detector engine a partition; "+
		"alerts counted and discarded, checkpoints no-ops, account lifecycles from an in-memory map: no PostgreSQL")
	progress("pipeline: %.0f events/s (%.2f of raw), %d alerts", eps, *res.PipelineVsRaw, alerts)

	// 4. Engine alone.
	evs, err := newEvents(min(cfg.Events, 500_000))
	if err != nil {
		return nil, err
	}
	for _, k := range []int{10, 100, 1000} {
		sigs, err := signalSet(k)
		if err != nil {
			return nil, err
		}
		perCPU, perWall, err := measureEngine(evs, sigs, cfg.EngineTime)
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
	var ws *wsMemory
	if cfg.DatabaseURL == "" || cfg.NewService == nil || cfg.E2EAlerts < 1 || cfg.E2EClients < 1 {
		res.Notes = append(res.Notes, "e2e latency: not measured (no --database-url / DATABASE_URL)")
	} else {
		e2eLat, ws, err = endToEnd(ctx, cfg, cl, progress)
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
			cfg.E2EClients, cfg.E2ERate, len(lat), clientsWhere()))
		progress("e2e: p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d alerts", *res.E2EP50Ms, *res.E2EP99Ms, *res.E2EMaxMs, len(lat))
		if ws != nil {
			res.WSBytesPerConn = &ws.perConn
			note := fmt.Sprintf("ws_bytes_per_conn: growth of the service process's RSS (after GC and returning memory to the OS) per idle websocket connection, "+
				"%d connections; clients (bare sockets after the handshake) %s", ws.conns, clientsWhere())
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
	per, cold, pairs, err := measureState(cfg.StateSubjects)
	if err != nil {
		return nil, err
	}
	res.StateBytesPerSubject = ptr(per)
	res.ColdStateBytesPerSubject = ptr(cold)
	res.StateSubjects = cfg.StateSubjects
	res.StateSignalPairs = pairs
	progress("detector state: %.0f bytes a subject decoded, %.0f cold (%d subjects, %d signal-subject states)", per, cold, cfg.StateSubjects, pairs)

	// 7. State at scale.
	if err := scaleStage(ctx, cfg, cl, res, progress); err != nil {
		return nil, err
	}
	return res, nil
}

// scaleStage runs the state-at-scale stage when it is asked for and
// possible, into res.
func scaleStage(ctx context.Context, cfg Config, cl kafka.Cluster, res *Result, progress func(string, ...any)) error {
	switch {
	case cfg.ScaleSubjects < 1:
		res.Notes = append(res.Notes, "scale: not measured (--scale-subjects 0)")
		return nil
	case cfg.DatabaseURL == "":
		res.Notes = append(res.Notes, "scale: not measured (no --database-url / DATABASE_URL)")
		return nil
	case testing.Testing():
		res.Notes = append(res.Notes, "scale: not measured (a test binary cannot be started as `dowser serve`)")
		return nil
	}
	scale, notes, err := runScale(ctx, cfg, cl, progress)
	res.Notes = append(res.Notes, notes...)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		res.Notes = append(res.Notes, "scale: not measured: "+err.Error())
		return nil
	}
	res.Scale = scale
	return nil
}

// percentile returns the q quantile (0..1) of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
