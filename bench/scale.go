package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/postgres"
)

// ScaleResult is what the state-at-scale stage measured (issue #13): a
// nil figure is "not measured".
type ScaleResult struct {
	SubjectsTarget  int   `json:"subjects_target"`
	People          int   `json:"people"`
	Accounts        int   `json:"accounts"`
	Events          int   `json:"events"`
	Partitions      int   `json:"partitions"`
	EventsConsumed  int64 `json:"events_consumed"`
	SubjectsReached int   `json:"subjects_reached"`
	GrowthComplete  bool  `json:"growth_complete"`
	// GrowthStopped says why the growth ended before every event was
	// consumed.
	GrowthStopped string  `json:"growth_stopped,omitempty"`
	GrowthSeconds float64 `json:"growth_seconds"`
	ProduceEPS    float64 `json:"produce_eps"`

	// Consume rate from the first event consumed to the last, and by
	// segment of scaleSegment events; LastMinuteEPS is the rate over the
	// growth's last minute.
	ConsumeEPS    *float64       `json:"consume_eps"`
	LastMinuteEPS *float64       `json:"last_minute_eps"`
	Segments      []ScaleSegment `json:"segments"`
	Timeline      []ScaleTick    `json:"timeline"`

	// Checkpoints during the growth: mean duration, the last one's size
	// (dowser_checkpoint_bytes), the WAL the PostgreSQL server wrote a
	// second, the checkpoint bytes the service says it wrote a second
	// (dowser_checkpoint_written_bytes_total), and their ratio.
	CheckpointMeanMs       *float64 `json:"checkpoint_mean_ms"`
	Checkpoints            int64    `json:"checkpoints"`
	CheckpointLastBytes    *float64 `json:"checkpoint_last_bytes"`
	WALBytesPerSec         *float64 `json:"wal_bytes_per_sec"`
	WALBytesPerEvent       *float64 `json:"wal_bytes_per_event"`
	CheckpointBytesPerSec  *float64 `json:"checkpoint_written_bytes_per_sec"`
	WALPerCheckpointBytes  *float64 `json:"wal_per_checkpoint_bytes"`
	LiveHeapBytes          *float64 `json:"live_heap_bytes"`
	LiveHeapMetric         string   `json:"live_heap_metric,omitempty"`
	RSSBytes               *float64 `json:"rss_bytes"`
	HWMBytes               *float64 `json:"hwm_bytes"`
	RSSPerLiveHeap         *float64 `json:"rss_per_live_heap"`
	PGCheckpointBytes      *float64 `json:"pg_checkpoint_bytes"`
	PGCheckpointTableBytes *float64 `json:"pg_checkpoint_table_bytes_metric"`
	PGDatabaseBytes        *float64 `json:"pg_database_bytes"`
	PGPerLiveHeap          *float64 `json:"pg_per_live_heap"`
	// The buyer's journey rows of the growth once it is consumed:
	// written, dropped (every reason) and still waiting to be written.
	JourneyWritten  *float64 `json:"journey_rows_written"`
	JourneyDropped  *float64 `json:"journey_rows_dropped"`
	JourneyBuffered *float64 `json:"journey_rows_buffered"`

	// With every subject held: end-to-end latency at E2ERate events a
	// second, then a SIGKILL and a restart.
	E2ERate   float64  `json:"e2e_rate"`
	E2EAlerts int      `json:"e2e_alerts"`
	E2EP50Ms  *float64 `json:"e2e_p50_ms"`
	E2EP99Ms  *float64 `json:"e2e_p99_ms"`
	E2EMaxMs  *float64 `json:"e2e_max_ms"`
	// Then once the checkpoints caught up with the growth (every
	// partition's dowser_checkpoint_behind_seconds within two intervals),
	// SettleS after the first measurement, the same measurement again.
	SettleS         *float64 `json:"settle_s"`
	E2ESettledP50Ms *float64 `json:"e2e_settled_p50_ms"`
	E2ESettledP99Ms *float64 `json:"e2e_settled_p99_ms"`
	E2ESettledMaxMs *float64 `json:"e2e_settled_max_ms"`
	// Where the settled probes' time went: from a probe's acknowledgement
	// to the start of its alert's transaction (fetch, detection), and from
	// there to the websocket client (the transaction, the push); and the
	// slowest probes, to tell a stop of one partition from one of the
	// process or the broker.
	E2ESettledToStoreP99Ms       *float64     `json:"e2e_settled_to_store_p99_ms"`
	E2ESettledStoreToClientP99Ms *float64     `json:"e2e_settled_store_to_client_p99_ms"`
	E2ESettledSlowest            []ProbeTrace `json:"e2e_settled_slowest,omitempty"`
	// What the service did during the settled measurement, from its
	// metrics before and after: what competes with the events for the
	// cores (see docs/benchmarks.md).
	Settled              *ScaleWindow `json:"settled_window,omitempty"`
	RestartToConsumingS  *float64     `json:"restart_to_consuming_s"`
	RestartToFirstAlertS *float64     `json:"restart_to_first_alert_s"`
	RSSAfterRestart      *float64     `json:"rss_after_restart_bytes"`
	HWMAfterRestart      *float64     `json:"hwm_after_restart_bytes"`
}

// ProbeTrace is one probe's way through the service.
type ProbeTrace struct {
	Account string `json:"account"`
	// AtMs is when the probe was acknowledged, after the window's start.
	AtMs      float64 `json:"at_ms"`
	Partition int     `json:"partition"`
	TotalMs   float64 `json:"total_ms"`
	// ToStoreMs is to its alert's transaction's start; ToTopicMs to its
	// message on the alerts topic, written after the transaction (the
	// detecting instance pushes to its own clients without waiting for
	// that message, so it can come after the client's read).
	ToStoreMs float64 `json:"to_store_ms"`
	ToTopicMs float64 `json:"to_alerts_topic_ms"`
}

// ScaleWindow is what the service's metrics say of a stretch of time.
type ScaleWindow struct {
	Seconds            float64 `json:"seconds"`
	ServiceCPUSeconds  float64 `json:"service_cpu_s"`
	Compactions        float64 `json:"compactions"`
	CompactionSeconds  float64 `json:"compaction_s"`
	CompactionPausedS  float64 `json:"compaction_paused_s"`
	CheckpointSaves    float64 `json:"checkpoint_saves"`
	GCCycles           float64 `json:"gc_cycles"`
	GCPauseSeconds     float64 `json:"gc_pause_s"`
	ProcessingP99Bound float64 `json:"event_processing_p99_le_s"`
	// The buyer's journey rows written and dropped in the window, and
	// those waiting at its end.
	JourneyWritten  float64 `json:"journey_rows_written"`
	JourneyDropped  float64 `json:"journey_rows_dropped"`
	JourneyBuffered float64 `json:"journey_rows_buffered"`
}

// scaleWindow is the difference of the service's metrics a and b, taken
// at and seconds apart.
func scaleWindow(a, b promMetrics, seconds float64) *ScaleWindow {
	d := func(name string) float64 { return b[name] - a[name] }
	w := &ScaleWindow{
		Seconds:           seconds,
		ServiceCPUSeconds: d("process_cpu_seconds_total"),
		Compactions:       d("dowser_checkpoint_compactions_total"),
		CompactionSeconds: d("dowser_checkpoint_compaction_seconds_total"),
		CompactionPausedS: d("dowser_checkpoint_compaction_paused_seconds_total"),
		CheckpointSaves:   d("dowser_checkpoint_duration_seconds_count"),
		GCCycles:          d("go_gc_duration_seconds_count"),
		GCPauseSeconds:    d("go_gc_duration_seconds_sum"),
		JourneyWritten:    d("dowser_journey_written_total"),
		JourneyDropped:    d("dowser_journey_dropped_total"),
		JourneyBuffered:   b["dowser_journey_buffered"],
	}
	// The smallest bucket bound holding 99% of the window's events.
	const h = "dowser_event_processing_seconds"
	total := b.bucket(h, "+Inf") - a.bucket(h, "+Inf")
	for _, le := range b.bounds(h) {
		if n := b.bucket(h, le) - a.bucket(h, le); total > 0 && n >= 0.99*total {
			w.ProcessingP99Bound, _ = strconv.ParseFloat(le, 64)
			break
		}
	}
	return w
}

// ScaleSegment is the consume rate over a stretch of the growth.
type ScaleSegment struct {
	ToEvents     int64    `json:"to_events"`
	ToSubjects   int      `json:"to_subjects"`
	EPS          float64  `json:"eps"`
	CheckpointMs *float64 `json:"checkpoint_mean_ms"`
}

// nextSegment is where the growth's consume-rate segment that starts at
// consumed events ends: every 100,000 events up to a million, where the
// rate of a service that collapses is worth seeing closely, then every
// million.
func nextSegment(consumed int64) int64 {
	if consumed < 1_000_000 {
		return (consumed/100_000 + 1) * 100_000
	}
	return (consumed/1_000_000 + 1) * 1_000_000
}

// ScaleTick is the growth every 30 seconds.
type ScaleTick struct {
	Seconds  float64 `json:"seconds"`
	Consumed int64   `json:"consumed"`
	Subjects int     `json:"subjects"`
	RSSBytes int64   `json:"rss_bytes"`
}

// scaleSample is one poll of the service during the growth.
type scaleSample struct {
	at         time.Time
	consumed   float64
	written    float64
	hasWritten bool
	cpSum      float64
	cpCount    float64
	wal        int64
	rss        int64
}

// runScale is the state-at-scale stage: see docs/benchmarks.md. What it
// could not measure is a note, an error only what stops it from starting.
func runScale(ctx context.Context, cfg Config, cl kafka.Cluster, progress func(string, ...any)) (*ScaleResult, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.ScaleTimeout)
	defer cancel()
	stageStart := time.Now()
	var notes []string
	note := func(format string, a ...any) {
		s := fmt.Sprintf(format, a...)
		progress("scale: %s", s)
		notes = append(notes, "scale: "+s)
	}
	// Events are dated over the hour before now: inside every window of
	// the pack (the shortest is 2 days), and none ahead of the wall clock.
	traffic := newScaleTraffic(cfg.ScaleSubjects, time.Now().Add(-time.Hour), time.Hour)
	res := &ScaleResult{
		SubjectsTarget: cfg.ScaleSubjects, People: traffic.people, Accounts: scaleAccounts(traffic.people),
		Events: traffic.events(), Partitions: cfg.ScalePartitions, E2ERate: cfg.E2ERate,
	}
	maxRSS := cfg.ScaleMaxRSS
	if maxRSS == 0 {
		maxRSS = memAvailable() / 2
	}

	dbURL, drop, err := postgres.CreateScratchDatabase(ctx, cfg.DatabaseURL, "dowser_bench_scale_")
	if err != nil {
		return nil, nil, err
	}
	defer drop()
	// Two latency measurements, then the restart's.
	probes := 2*(cfg.ScaleAlerts+cfg.ScaleAlerts/10) + 5000
	probe, err := seed(ctx, dbURL, probes, 1)
	if err != nil {
		return nil, nil, err
	}
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	stamp := strconv.FormatInt(time.Now().UnixNano(), 36)
	topic := "dowser.bench-scale.events." + stamp
	if err := kafka.EnsureTopics(ctx, cl, cfg.ScalePartitions, 1, topic, kafka.DLQTopic(topic)); err != nil {
		return nil, nil, err
	}

	progress("scale: producing %d events (%d people in %d accounts: %d subjects) to %s",
		res.Events, res.People, res.Accounts, traffic.subjects(res.Events), topic)
	start := time.Now()
	if err := produceScale(ctx, cl, topic, traffic); err != nil {
		return nil, nil, fmt.Errorf("producing the state-at-scale events: %w", err)
	}
	res.ProduceEPS = float64(res.Events) / time.Since(start).Seconds()
	progress("scale: produced %.0f events/s", res.ProduceEPS)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	alertsTopic := "dowser.bench-scale.alerts." + stamp
	serveArgs := []string{"--database-url", dbURL, "--kafka-brokers", strings.Join(cl.Brokers, ","),
		"--events-topic", topic, "--alerts-topic", alertsTopic, "--group-id", "dowser.bench-scale." + stamp,
		"--partitions", strconv.Itoa(cfg.ScalePartitions), "--signals-poll", "200ms"}

	// Growth: the service consumes the whole topic while its state grows.
	child, err := startServe(addr, serveArgs...)
	if err != nil {
		return nil, nil, err
	}
	defer func() { child.stop() }()
	fp0, err := db.Footprint(ctx)
	if err != nil {
		return nil, nil, err
	}
	// The latency and restart runs need a few minutes of the time box.
	growthEnd := stageStart.Add(max(cfg.ScaleTimeout-4*time.Minute, cfg.ScaleTimeout/2))
	origin := scaleSample{at: time.Now(), wal: fp0.WAL}
	samples, stopped := scaleGrowth(ctx, child, db, origin, int64(res.Events), growthEnd, maxRSS, progress)
	res.GrowthStopped = stopped
	if len(samples) < 2 {
		note("growth: no events consumed: %s", stopped)
		return res, notes, nil
	}
	last := samples[len(samples)-1]
	res.EventsConsumed = int64(last.consumed)
	res.SubjectsReached = traffic.subjects(int(last.consumed))
	res.GrowthComplete = res.EventsConsumed >= int64(res.Events)
	res.GrowthSeconds = last.at.Sub(samples[0].at).Seconds()
	scaleRates(res, samples, traffic)
	if w := float64(last.wal - fp0.WAL); res.GrowthSeconds > 0 {
		res.WALBytesPerSec = ptr(w / res.GrowthSeconds)
		if last.consumed > 0 {
			res.WALBytesPerEvent = ptr(w / last.consumed)
		}
		if last.hasWritten {
			res.CheckpointBytesPerSec = ptr(last.written / res.GrowthSeconds)
			if last.written > 0 {
				res.WALPerCheckpointBytes = ptr(w / last.written)
			}
		}
	}
	note("growth: %d of %d events consumed (%d subjects) in %.0f s%s", res.EventsConsumed, res.Events, res.SubjectsReached, res.GrowthSeconds,
		map[bool]string{true: "", false: "; stopped: " + stopped}[res.GrowthComplete])
	if res.CheckpointBytesPerSec == nil {
		note("checkpoint_written_bytes_per_sec: not measured (the service exposes no dowser_checkpoint_written_bytes_total)")
	}
	note("wal_bytes_per_sec: WAL the whole PostgreSQL server wrote during the growth (pg_current_wal_lsn), other databases' writes included")

	// State held: memory and footprint.
	if m, err := child.metrics(ctx); err != nil {
		note("live heap: not measured: %v", err)
	} else {
		for _, name := range []string{"go_gc_heap_live_bytes", "go_memstats_heap_inuse_bytes"} {
			if v, ok := m.get(name); ok {
				res.LiveHeapBytes, res.LiveHeapMetric = ptr(v), name
				break
			}
		}
		if v, ok := m.get("dowser_checkpoint_bytes"); ok {
			res.CheckpointLastBytes = ptr(v)
		}
		if v, ok := m.get("dowser_checkpoint_table_bytes"); ok {
			res.PGCheckpointTableBytes = ptr(v)
		}
		if v, ok := m.get("dowser_journey_written_total"); ok {
			res.JourneyWritten = ptr(v)
			dropped, _ := m.get("dowser_journey_dropped_total")
			buffered, _ := m.get("dowser_journey_buffered")
			res.JourneyDropped, res.JourneyBuffered = ptr(dropped), ptr(buffered)
		}
	}
	if rss, hwm, err := child.memory(); err != nil {
		note("rss: not measured: %v", err)
	} else {
		res.RSSBytes, res.HWMBytes = ptr(float64(rss)), ptr(float64(hwm))
		if res.LiveHeapBytes != nil && *res.LiveHeapBytes > 0 {
			res.RSSPerLiveHeap = ptr(float64(rss) / *res.LiveHeapBytes)
		}
	}
	if fp, err := db.Footprint(ctx); err != nil {
		note("postgres footprint: not measured: %v", err)
	} else {
		res.PGCheckpointBytes, res.PGDatabaseBytes = ptr(float64(fp.Checkpoints)), ptr(float64(fp.Database))
		if res.LiveHeapBytes != nil && *res.LiveHeapBytes > 0 {
			res.PGPerLiveHeap = ptr(float64(fp.Checkpoints) / *res.LiveHeapBytes)
		}
	}
	if !res.GrowthComplete {
		note("e2e latency and restart: not measured: the service had not consumed the growth (%d events behind)", int64(res.Events)-res.EventsConsumed)
		return res, notes, nil
	}

	// Latency with every subject held.
	p := kafka.NewProducer(cl, topic)
	defer p.Close()
	n := cfg.ScaleAlerts + cfg.ScaleAlerts/10 // probe accounts a measurement uses
	if lat, _, err := scaleLatency(ctx, cfg, child.addr, p, probe, 0, progress); err != nil {
		note("e2e latency: not measured: %v", err)
	} else {
		slices.Sort(lat)
		ms := func(d time.Duration) *float64 { return ptr(float64(d) / float64(time.Millisecond)) }
		res.E2EP50Ms, res.E2EP99Ms, res.E2EMaxMs = ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)), ms(lat[len(lat)-1])
		res.E2EAlerts = len(lat)
		note("e2e: %d probe alerts at %.0f events/s of demo traffic, one in 50 a probe; latency from the probe's acknowledgement to its alert frame read by one websocket client %s",
			len(lat), cfg.E2ERate, clientsWhere())
	}

	// The same once the checkpoints caught up with the growth.
	settleStart := time.Now()
	if err := scaleSettle(ctx, child, cfg.ScalePartitions, 3*time.Minute); err != nil {
		note("settle: %v; measured anyway", err)
	}
	res.SettleS = ptr(time.Since(settleStart).Seconds())
	progress("scale: checkpoints caught up and the growth's subjects frozen after %.0f s", *res.SettleS)
	before, beforeErr := child.metrics(ctx)
	windowStart := time.Now()
	lat, times, err := scaleLatency(ctx, cfg, child.addr, p, probe, n, progress)
	if after, afterErr := child.metrics(ctx); beforeErr == nil && afterErr == nil {
		res.Settled = scaleWindow(before, after, time.Since(windowStart).Seconds())
	}
	if err != nil {
		note("e2e latency once settled: not measured: %v", err)
	} else {
		slices.Sort(lat)
		ms := func(d time.Duration) *float64 { return ptr(float64(d) / float64(time.Millisecond)) }
		res.E2ESettledP50Ms, res.E2ESettledP99Ms, res.E2ESettledMaxMs = ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)), ms(lat[len(lat)-1])
		if err := traceProbes(ctx, cl, db, topic, alertsTopic, windowStart, times, res); err != nil {
			note("e2e latency once settled: where the time went: not measured: %v", err)
		}
	}

	// SIGKILL and restart on the same database and topics.
	restarted, err := scaleRestart(ctx, res, child, p, probe, 2*n, probes, serveArgs, progress)
	if restarted != nil {
		child = restarted
	}
	if err != nil {
		note("restart: %v", err)
	}
	return res, notes, nil
}

// produceScale produces the traffic's events, encoded by two goroutines
// and sent by eight producers.
func produceScale(ctx context.Context, cl kafka.Cluster, topic string, t *scaleTraffic) error {
	const chunk = 4000
	p := kafka.NewProducer(cl, topic)
	defer p.Close()
	type work struct{ from, to int }
	todo := make(chan work)
	chunks := make(chan []kafka.Message, 16)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(todo)
		for i := 0; i < t.events(); i += chunk {
			if err := send(gctx, todo, work{i, min(i+chunk, t.events())}); err != nil {
				return err
			}
		}
		return nil
	})
	var encoders sync.WaitGroup
	for range 2 {
		encoders.Go(func() {
			for w := range todo {
				batch := make([]kafka.Message, 0, w.to-w.from)
				for i := w.from; i < w.to; i++ {
					ev := t.event(i)
					b, err := json.Marshal(&ev)
					if err != nil {
						panic(err) // a schema.Event always encodes
					}
					batch = append(batch, kafka.Message{Key: []byte(kafka.EventKey(&ev)), Value: b})
				}
				if send(gctx, chunks, batch) != nil {
					return
				}
			}
		})
	}
	go func() { encoders.Wait(); close(chunks) }()
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
	return g.Wait()
}

// scaleGrowth polls the service every second until it has consumed
// events, the deadline passes, its RSS exceeds maxRSS or it stops, and
// returns the samples and why it stopped early. The first sample is the
// last one with nothing consumed yet: origin, the child's start, unless a
// later poll saw nothing consumed.
func scaleGrowth(ctx context.Context, child *serveChild, db *postgres.Store, origin scaleSample, events int64, deadline time.Time, maxRSS int64, progress func(string, ...any)) ([]scaleSample, string) {
	samples := []scaleSample{origin}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	logged := time.Now()
	for {
		select {
		case <-ctx.Done():
			return samples, "the stage's time box ended"
		case <-child.exited:
			return samples, fmt.Sprintf("the service exited: %v", child.cmd.ProcessState)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return samples, "the growth's time box ended"
		}
		m, err := child.metrics(ctx)
		if err != nil {
			continue // not serving yet, or too busy to answer this second
		}
		s := scaleSample{at: time.Now()}
		s.consumed, _ = m.get("dowser_events_consumed_total")
		s.written, s.hasWritten = m.get("dowser_checkpoint_written_bytes_total")
		s.cpSum, _ = m.get("dowser_checkpoint_duration_seconds_sum")
		s.cpCount, _ = m.get("dowser_checkpoint_duration_seconds_count")
		if fp, err := db.Footprint(ctx); err == nil {
			s.wal = fp.WAL
		} else {
			s.wal = samples[len(samples)-1].wal
		}
		if s.consumed == 0 && len(samples) == 1 {
			samples[0] = s
		} else {
			samples = append(samples, s)
		}
		if s.consumed >= float64(events) {
			return samples, ""
		}
		rss, _, err := child.memory()
		samples[len(samples)-1].rss = rss
		if err == nil && maxRSS > 0 && rss > maxRSS {
			return samples, fmt.Sprintf("the service's RSS, %d MiB, passed the limit of %d MiB", rss>>20, maxRSS>>20)
		}
		if time.Since(logged) >= 30*time.Second {
			logged = time.Now()
			progress("scale: %.0f s: %.0f of %d events consumed, RSS %d MiB", s.at.Sub(origin.at).Seconds(), s.consumed, events, rss>>20)
		}
	}
}

// scaleRates fills the consume rates and checkpoint durations from the
// growth's samples.
func scaleRates(res *ScaleResult, samples []scaleSample, t *scaleTraffic) {
	first, last := samples[0], samples[len(samples)-1]
	if d := last.at.Sub(first.at).Seconds(); d > 0 {
		res.ConsumeEPS = ptr((last.consumed - first.consumed) / d)
	}
	if last.cpCount > 0 {
		res.CheckpointMeanMs = ptr(last.cpSum / last.cpCount * 1000)
		res.Checkpoints = int64(last.cpCount)
	}
	for i := len(samples) - 1; i >= 0; i-- {
		if d := last.at.Sub(samples[i].at); d >= time.Minute || i == 0 {
			if d > 0 {
				res.LastMinuteEPS = ptr((last.consumed - samples[i].consumed) / d.Seconds())
			}
			break
		}
	}
	from := first
	for i, s := range samples {
		next := nextSegment(int64(from.consumed))
		if int64(s.consumed) < next && i < len(samples)-1 {
			continue
		}
		d := s.at.Sub(from.at).Seconds()
		if d <= 0 {
			continue
		}
		seg := ScaleSegment{ToEvents: int64(s.consumed), ToSubjects: t.subjects(int(s.consumed)), EPS: (s.consumed - from.consumed) / d}
		if n := s.cpCount - from.cpCount; n > 0 {
			seg.CheckpointMs = ptr((s.cpSum - from.cpSum) / n * 1000)
		}
		res.Segments = append(res.Segments, seg)
		from = s
	}
	var tick time.Time
	for i, s := range samples {
		if i > 0 && s.at.Sub(tick) < 30*time.Second && i < len(samples)-1 {
			continue
		}
		tick = s.at
		res.Timeline = append(res.Timeline, ScaleTick{Seconds: s.at.Sub(first.at).Seconds(), Consumed: int64(s.consumed),
			Subjects: t.subjects(int(s.consumed)), RSSBytes: s.rss})
	}
}

// scaleLatency measures, as the e2e stage does, the latency of
// cfg.ScaleAlerts probe alerts at cfg.E2ERate events a second, read by
// one websocket client of the rep owning the probe accounts.
func scaleLatency(ctx context.Context, cfg Config, addr string, p *kafka.Producer, probe string, first int, progress func(string, ...any)) ([]time.Duration, *probeTimes, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	clients, err := startClients(ctx, "e2e", addr, 1, 1, probe)
	if err != nil {
		return nil, nil, err
	}
	defer clients.stop()
	if clients.opened < 1 {
		return nil, nil, fmt.Errorf("the websocket client did not connect: %s", clients.short)
	}
	var mu sync.Mutex
	acked, received := map[string]time.Time{}, map[string]time.Time{}
	go readAlerts(clients.lines, &mu, received)
	probes := cfg.ScaleAlerts + cfg.ScaleAlerts/10
	progress("scale: e2e latency at %.0f events/s, %d probes, every subject held", cfg.E2ERate, probes)
	err = probeRun(ctx, p, cfg.E2ERate, 50, first, first+probes, func(acct string, at time.Time) {
		mu.Lock()
		acked[acct] = at
		mu.Unlock()
	})
	if err != nil {
		return nil, nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if n >= probes {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	for acct, at := range acked {
		if got, ok := received[acct]; ok {
			lat = append(lat, got.Sub(at.Round(0)))
		}
	}
	if len(lat) < cfg.ScaleAlerts {
		return nil, nil, fmt.Errorf("only %d of %d probe alerts reached the client", len(lat), probes)
	}
	return lat, &probeTimes{acked: maps.Clone(acked), received: maps.Clone(received)}, nil
}

// probeTimes are, by probe account, when its event was acknowledged and
// when its alert reached the client.
type probeTimes struct{ acked, received map[string]time.Time }

// traceProbes reads the probes of times from the events topic (their
// partitions) and their alerts from the alerts topic (when the service
// wrote them), both from the window's start, and sets res's settled
// stages and slowest probes.
func traceProbes(ctx context.Context, cl kafka.Cluster, db *postgres.Store, eventsTopic, alertsTopic string, from time.Time, times *probeTimes, res *ScaleResult) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// Kafka timestamps are milliseconds: start a little early.
	from = from.Add(-time.Second)
	partition := map[string]int{}
	h, err := kafka.OpenHistory(ctx, cl, eventsTopic, from)
	if err != nil {
		return err
	}
	if err := h.ReadRecords(ctx, func(r kafka.Record) error {
		if _, ok := times.acked[string(r.Key)]; ok {
			partition[string(r.Key)] = r.Partition
		}
		return nil
	}); err != nil {
		return fmt.Errorf("reading %s: %w", eventsTopic, err)
	}
	written := map[string]time.Time{}
	if h, err = kafka.OpenHistory(ctx, cl, alertsTopic, from); err != nil {
		return err
	}
	if err := h.ReadRecords(ctx, func(r kafka.Record) error {
		var m struct {
			Alert struct {
				AccountID string `json:"account_id"`
			} `json:"alert"`
		}
		if json.Unmarshal(r.Value, &m) != nil {
			return nil
		}
		if _, ok := times.acked[m.Alert.AccountID]; ok {
			if _, seen := written[m.Alert.AccountID]; !seen {
				written[m.Alert.AccountID] = r.Time
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("reading %s: %w", alertsTopic, err)
	}
	stored, err := db.AlertsStored(ctx, slices.Collect(maps.Keys(times.acked)))
	if err != nil {
		return err
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	var traces []ProbeTrace
	var toStore, toClient []time.Duration
	start := from.Add(time.Second)
	for acct, acked := range times.acked {
		got, ok := times.received[acct]
		at, wasStored := stored[acct]
		if !ok || !wasStored {
			continue
		}
		acked = acked.Round(0)
		toStore, toClient = append(toStore, at.Sub(acked)), append(toClient, got.Sub(at))
		t := ProbeTrace{Account: acct, AtMs: ms(acked.Sub(start)), Partition: partition[acct],
			TotalMs: ms(got.Sub(acked)), ToStoreMs: ms(at.Sub(acked))}
		if w, ok := written[acct]; ok {
			t.ToTopicMs = ms(w.Sub(acked))
		}
		traces = append(traces, t)
	}
	if len(traces) == 0 {
		return errors.New("no probe alert stored and read")
	}
	slices.Sort(toStore)
	slices.Sort(toClient)
	res.E2ESettledToStoreP99Ms = ptr(ms(percentile(toStore, 0.99)))
	res.E2ESettledStoreToClientP99Ms = ptr(ms(percentile(toClient, 0.99)))
	slices.SortFunc(traces, func(a, b ProbeTrace) int { return cmp.Compare(b.TotalMs, a.TotalMs) })
	res.E2ESettledSlowest = traces[:min(len(traces), 12)]
	return nil
}

// readAlerts records, from a client's lines "alert <account> <unix
// nanoseconds>", when each account's first alert was read.
func readAlerts(lines <-chan string, mu *sync.Mutex, received map[string]time.Time) {
	for line := range lines {
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
}

// scaleRestart produces probes at 200 events a second (one in ten a
// probe, accounts first..end), kills the child with SIGKILL, starts it
// again with args, and measures from the kill to the new child consuming
// and to the first probe alert a new websocket client reads. It returns
// the new child, if it started.
func scaleRestart(ctx context.Context, res *ScaleResult, old *serveChild, p *kafka.Producer, probe string, first, end int, args []string, progress func(string, ...any)) (*serveChild, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	pctx, stopProbes := context.WithCancel(ctx)
	defer stopProbes()
	probeErr := make(chan error, 1)
	go func() { probeErr <- probeRun(pctx, p, 200, 10, first, end, func(string, time.Time) {}) }()
	defer func() { stopProbes(); <-probeErr }()
	// Alerts flowing before the kill: the probes are consumed.
	time.Sleep(3 * time.Second)
	progress("scale: SIGKILL and restart")
	killed := time.Now()
	old.kill()
	child, err := startServe(old.addr, args...)
	if err != nil {
		return nil, err
	}
	// The client connects as soon as the stream accepts it.
	var clients *clients
	for clients == nil {
		c, err := startClients(ctx, "e2e", child.addr, 1, 1, probe)
		if err == nil && c.opened == 1 {
			clients = c
			break
		}
		if c != nil {
			c.stop()
		}
		select {
		case <-ctx.Done():
			return child, fmt.Errorf("restart-to-first-alert: not measured: no websocket client connected within the time box: %v", err)
		case <-child.exited:
			return child, fmt.Errorf("the restarted service exited: %v", child.cmd.ProcessState)
		case <-time.After(100 * time.Millisecond): // another process: nothing to await but its port
		}
	}
	defer clients.stop()
	progress("scale: client connected %.1f s after the kill", time.Since(killed).Seconds())
	var errs []error
	consuming, alerted := false, false
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !consuming || !alerted {
		select {
		case line, ok := <-clients.lines:
			if !ok {
				return child, errors.New("restart-to-first-alert: not measured: the websocket client stopped")
			}
			if strings.HasPrefix(line, "alert ") && !alerted {
				if ns, err := strconv.ParseInt(strings.Fields(line)[2], 10, 64); err == nil {
					alerted = true
					res.RestartToFirstAlertS = ptr(time.Unix(0, ns).Sub(killed.Round(0)).Seconds())
				}
			}
		case <-tick.C:
			if consuming {
				continue
			}
			if m, err := child.metrics(ctx); err == nil {
				if v, _ := m.get("dowser_events_consumed_total"); v > 0 {
					consuming = true
					res.RestartToConsumingS = ptr(time.Since(killed).Seconds())
				}
			}
		case <-ctx.Done():
			if !alerted {
				errs = append(errs, errors.New("restart-to-first-alert: not measured: no probe alert within the time box"))
			}
			if !consuming {
				errs = append(errs, errors.New("restart-to-consuming: not measured: nothing consumed within the time box"))
			}
			return child, errors.Join(errs...)
		}
	}
	if rss, hwm, err := child.memory(); err == nil {
		res.RSSAfterRestart, res.HWMAfterRestart = ptr(float64(rss)), ptr(float64(hwm))
	}
	return child, nil
}

// memAvailable is the machine's MemAvailable in bytes; 0 when unknown.
func memAvailable() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	return statusField(string(b), "MemAvailable")
}

// scaleSettle waits until every partition's checkpoints are within two
// intervals of what it handled (the sum of dowser_checkpoint_behind_seconds
// over partitions at most partitions × 4 s) and the detector has frozen
// the subjects of the growth's last seconds (at most 1% of its states
// decoded: dowser_detector_states against dowser_detector_cold_subjects),
// or within passes: the state the service holds once the growth is over.
func scaleSettle(ctx context.Context, child *serveChild, partitions int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		m, err := child.metrics(ctx)
		if err != nil {
			return err
		}
		behind, ok := m.get("dowser_checkpoint_behind_seconds")
		if !ok {
			return errors.New("no dowser_checkpoint_behind_seconds")
		}
		states, _ := m.get("dowser_detector_states")
		cold, _ := m.get("dowser_detector_cold_subjects")
		hot := states - cold
		if behind <= float64(partitions)*4 && hot <= states/100 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v, checkpoints still %.0f s behind in all and %.0f of %.0f states decoded", within, behind, hot, states)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second): // another process: its metrics are all there is to poll
		}
	}
}
