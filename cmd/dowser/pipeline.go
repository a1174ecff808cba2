package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/ingest"
	"github.com/dowserhq/dowser/notify"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/schema"
)

// pipeline connects ingest to the detector, storage and the hub: each
// assigned partition gets its own engine, fed in offset order.
type pipeline struct {
	privacy *privacy
	group   string // consumer group and events topic: the checkpoints' key
	topic   string
	store   *postgres.Store
	router  *notify.Router
	hub     *notify.Hub
	signals *signalSet
	alerts  *ingest.Producer // the alerts topic
	log     *slog.Logger
	fired   *prometheus.CounterVec
	skipped *prometheus.CounterVec // owners routing passed over
	cpTime  prometheus.Histogram
	cpBytes prometheus.Gauge
	// whereStopped counts where evaluations stopped at a CEL limit.
	whereStopped prometheus.Counter

	lifecycles lifecycleCache

	// toPublish carries stored alerts from the partitions to publishLoop.
	toPublish chan postgres.SavedAlert
}

// publishQueue bounds the stored alerts waiting for publishLoop; beyond
// it, the outbox relay publishes them.
const publishQueue = 4096

var _ ingest.Processor = (*pipeline)(nil)

func newPipeline(priv *privacy, group, topic string, store *postgres.Store, router *notify.Router, hub *notify.Hub, signals *signalSet, alerts *ingest.Producer, log *slog.Logger, reg prometheus.Registerer) *pipeline {
	p := &pipeline{
		privacy: priv, group: group, topic: topic,
		store: store, router: router, hub: hub, signals: signals, alerts: alerts, log: log,
		cpTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dowser_checkpoint_duration_seconds",
			Help:    "Time to snapshot a partition's detector state and save it with its offset.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		cpBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dowser_checkpoint_bytes",
			Help: "Size of the last checkpoint saved by this instance.",
		}),
		fired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dowser_alerts_fired_total",
			Help: "Alerts stored, by signal and priority.",
		}, []string{"signal", "priority"}),
		whereStopped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dowser_where_stopped_total",
			Help: "Where expressions stopped at their cost or size limit (the event did not match).",
		}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dowser_routing_owner_skipped_total",
			Help: "Stored owners routing passed over because they are no user or their role no longer fits, by step.",
		}, []string{"step"}),
		lifecycles: lifecycleCache{ttl: 30 * time.Second, m: map[string]lifecycleEntry{}},
		toPublish:  make(chan postgres.SavedAlert, publishQueue),
	}
	reg.MustRegister(p.fired, p.skipped, p.cpTime, p.cpBytes, p.whereStopped)
	return p
}

// Partition implements ingest.Processor: it claims the partition's
// checkpoint, so that a previous owner still running can no longer save
// over it, restores the detector state and resumes at the offset that
// state reflects.
func (p *pipeline) Partition(ctx context.Context, partition int) (ingest.PartitionHandler, int64, error) {
	owner := postgres.NewToken()
	cp, err := p.store.ClaimCheckpoint(ctx, p.group, p.topic, partition, owner)
	if err != nil {
		return nil, 0, err
	}
	snap := p.signals.current()
	engine := detector.New(snap.signals)
	if len(cp.State) > 0 {
		if err := engine.Restore(cp.State); err != nil {
			// An unreadable state (from an incompatible version, say)
			// costs the windows it held, not the partition: resume at its
			// offset with empty state.
			p.log.Error("checkpoint state unreadable; resuming with empty state", "partition", partition, "offset", cp.NextOffset, "err", err)
			engine = detector.New(snap.signals)
		}
	}
	// After Restore: the evidence an older build kept is cleaned too.
	engine.SetEvidenceURL(p.privacy.evidenceURL)
	w := &partitionWorker{p: p, partition: partition, owner: owner, snap: snap, engine: engine, erased: cp.ErasureSeq}
	w.applyErasures()
	p.log.Info("partition opened", "partition", partition, "checkpoint_offset", cp.NextOffset, "state_bytes", len(cp.State))
	return w, cp.NextOffset, nil
}

// partitionWorker owns one partition's detector state. ingest calls it from
// one goroutine only.
type partitionWorker struct {
	p         *pipeline
	partition int
	owner     string // this worker's claim on the partition's checkpoint
	erased    int64  // the last erasure request applied to engine
	// eraseAnon are anonymous ids the engine linked to erased people
	// that the erasures did not name (links learnt before they were
	// recorded in PostgreSQL): their alerts go before the checkpoint
	// that forgets the links is saved.
	eraseAnon []string
	snap      *signalSnapshot
	engine    *detector.Engine
	// whereStops is engine.WhereStops() already added to the metric.
	whereStops uint64

	// pending holds alerts of pendingEvent not yet stored: a retry of the
	// same event must store them, not evaluate the event a second time
	// (the engine would rightly count it as a duplicate and stay silent).
	pendingEvent *schema.Event
	pending      []schema.Alert
	// dropped holds the permanent failures of pendingEvent's alerts,
	// reported once the others are stored.
	dropped error
}

// Handle implements ingest.PartitionHandler. A failure PostgreSQL will
// repeat on every retry (postgres.Permanent: bad data, a constraint) is
// permanent: an alert that cannot be routed or stored is dropped, the
// event's other alerts are stored, and then the error is returned wrapping
// ingest.ErrPermanent, so that ingest dead-letters the event and the
// partition goes on. The engine keeps the event counted: its state is then
// what a replay from any checkpoint rebuilds (the same event evaluates the
// same way and fails the same way), so later alerts keep their ids and are
// stored once. Every other failure is returned as it is, to be retried.
func (w *partitionWorker) Handle(ctx context.Context, ev *schema.Event) error {
	if w.pendingEvent != ev {
		if !w.p.privacy.tracked(ev) {
			return nil
		}
		if err := w.p.privacy.link(ctx, ev); err != nil {
			return err
		}
		w.applyErasures()
		if snap := w.p.signals.current(); snap != w.snap {
			w.engine.SetSignals(snap.signals)
			w.snap = snap
		}
		if err := dowser.FillLifecycle(&ev.Customer, func(accountID string) (string, error) {
			return w.p.lifecycles.get(ctx, w.p.store, accountID)
		}); err != nil {
			return permanently(err)
		}
		w.pending = w.engine.Evaluate(ev)
		w.pendingEvent = ev
		if n := w.engine.WhereStops(); n != w.whereStops {
			w.p.whereStopped.Add(float64(n - w.whereStops))
			w.whereStops = n
		}
	}
	for len(w.pending) > 0 {
		a := &w.pending[0]
		route, err := w.p.router.Route(ctx, a)
		if err != nil {
			err = fmt.Errorf("routing alert %s of signal %s: %w", a.ID, a.SignalID, err)
		}
		var saved postgres.SavedAlert
		if err == nil {
			for _, sk := range route.Skipped {
				// A role changed or a user removed after the owner was
				// saved: the alert went on to the next step; someone should
				// fix the ownership.
				w.p.skipped.WithLabelValues(sk.Step).Inc()
				w.p.log.Warn("routing skipped an owner whose role does not fit", "alert", a.ID, "step", sk.Step, "owner", sk.Owner, "role", sk.Role)
			}
			saved, err = w.p.store.SaveAlert(ctx, a, route.Recipients())
			if err != nil {
				err = fmt.Errorf("storing alert %s of signal %s: %w", a.ID, a.SignalID, err)
			}
		}
		if err != nil {
			if !postgres.Permanent(err) {
				return err
			}
			w.dropped = errors.Join(w.dropped, err)
			w.pending = w.pending[1:]
			continue
		}
		w.pending = w.pending[1:]
		if saved.OutboxID == 0 {
			continue // stored before: a replay, already delivered
		}
		w.p.fired.WithLabelValues(a.SignalID, a.Priority).Inc()
		w.p.log.Info("alert", "id", a.ID, "signal", a.SignalID, "subject", w.p.privacy.pseudonym(a.Subject), "recipients", len(saved.Deliveries),
			"sales", route.Sales, "sales_by", route.SalesBy, "partition", strconv.Itoa(w.partition))
		// Sockets on this instance hear at once; the alerts topic carries
		// it to every other instance (and back here, deduplicated by seq).
		// The partition does not wait for the alerts topic: its next
		// events, and their alerts, would.
		w.p.hub.Deliver(saved.Deliveries...)
		w.p.queuePublish(saved)
	}
	w.pendingEvent = nil
	if w.dropped != nil {
		err := w.dropped
		w.dropped = nil
		return fmt.Errorf("%w: %w", ingest.ErrPermanent, err)
	}
	return nil
}

// permanently marks a failure PostgreSQL will repeat as permanent for the
// event.
func permanently(err error) error {
	if postgres.Permanent(err) {
		return fmt.Errorf("%w: %w", ingest.ErrPermanent, err)
	}
	return err
}

// Checkpoint implements ingest.PartitionHandler: the engine's state and the
// offset it reflects are saved in one statement.
func (w *partitionWorker) Checkpoint(ctx context.Context, nextOffset int64) error {
	if w.pendingEvent != nil {
		// The state already counts an event whose alerts are not stored:
		// saving it would lose them for good.
		return fmt.Errorf("partition %d: an event is half-handled; not checkpointing", w.partition)
	}
	start := time.Now()
	w.applyErasures()
	if len(w.eraseAnon) > 0 {
		n, err := w.p.store.EraseAnonymousIDs(ctx, w.eraseAnon)
		if err != nil {
			return fmt.Errorf("partition %d: %w", w.partition, err)
		}
		w.p.log.Info("erasure reached anonymous ids only this partition knew", "partition", w.partition, "ids", len(w.eraseAnon), "alerts_deleted", n)
		w.eraseAnon = nil
	}
	state, err := w.engine.Snapshot()
	if err != nil {
		return fmt.Errorf("snapshotting partition %d: %w", w.partition, err)
	}
	err = w.p.store.SaveCheckpoint(ctx, w.p.group, w.p.topic, w.partition, w.owner, postgres.Checkpoint{NextOffset: nextOffset, State: state, ErasureSeq: w.erased})
	if errors.Is(err, postgres.ErrNotOwner) {
		return fmt.Errorf("%w: %w", ingest.ErrNotOwner, err)
	}
	if err != nil {
		return err
	}
	w.p.cpTime.Observe(time.Since(start).Seconds())
	w.p.cpBytes.Set(float64(len(state)))
	return nil
}

// applyErasures makes the engine forget the people of erasure requests it
// has not applied yet.
func (w *partitionWorker) applyErasures() {
	for _, e := range w.p.privacy.erasuresAfter(w.erased) {
		for _, anon := range w.engine.LinkedTo(e.CustomerID) {
			if !slices.Contains(e.LinkedIDs, anon) {
				w.eraseAnon = append(w.eraseAnon, anon)
			}
		}
		dropped := w.engine.Forget(e.CustomerID)
		for _, anon := range e.LinkedIDs {
			dropped += w.engine.Forget(anon)
		}
		w.erased = e.Seq
		w.p.log.Info("erasure applied", "erasure", e.Seq, "partition", w.partition, "states_dropped", dropped)
	}
}

// CheckpointDue implements ingest's checkpoint request: an idle partition
// still saves a new checkpoint when an erasure must reach it.
func (w *partitionWorker) CheckpointDue() bool {
	return len(w.p.privacy.erasuresAfter(w.erased)) > 0
}

// queuePublish hands a stored alert to publishLoop without waiting. When
// the queue is full the alert's outbox row stays unmarked, and the outbox
// relay publishes it.
func (p *pipeline) queuePublish(saved postgres.SavedAlert) {
	select {
	case p.toPublish <- saved:
	default:
		p.log.Warn("publish queue full; the outbox relay will publish the alert", "outbox_id", saved.OutboxID)
	}
}

// publishLoop puts the alerts the partitions stored on the alerts topic,
// all that are waiting in one produce call, and marks their outbox rows
// published, until ctx ends; then it publishes what is still queued, for
// a few seconds at most. Failing is not fatal: the outbox relay publishes
// what is left unmarked.
func (p *pipeline) publishLoop(ctx context.Context) error {
	const most = 500
	batch := make([]postgres.SavedAlert, 0, most)
	take := func() {
		for len(batch) < most {
			select {
			case s := <-p.toPublish:
				batch = append(batch, s)
			default:
				return
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			for take(); len(batch) > 0 && dctx.Err() == nil; take() {
				p.publish(dctx, batch)
				batch = batch[:0]
			}
			return nil
		case s := <-p.toPublish:
			batch = append(batch, s)
			take()
			p.publish(ctx, batch)
			clear(batch)
			batch = batch[:0]
		}
	}
}

// publish puts stored alerts on the alerts topic and marks their outbox
// rows published.
func (p *pipeline) publish(ctx context.Context, batch []postgres.SavedAlert) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	msgs := make([]ingest.Message, 0, len(batch))
	ids := make([]int64, 0, len(batch))
	alertIDs := make([]string, 0, len(batch))
	for _, saved := range batch {
		var m struct {
			AlertID string `json:"alert_id"`
		}
		if err := json.Unmarshal(saved.Message, &m); err != nil {
			p.log.Error("decoding own alert message", "outbox_id", saved.OutboxID, "err", err)
			continue
		}
		msgs = append(msgs, ingest.Message{Key: []byte(m.AlertID), Value: saved.Message})
		ids = append(ids, saved.OutboxID)
		alertIDs = append(alertIDs, m.AlertID)
	}
	if err := p.alerts.Produce(ctx, msgs...); err != nil {
		p.log.Warn("publishing alerts; the outbox relay will retry", "alerts", len(msgs), "err", err)
		return
	}
	if err := p.store.MarkPublished(ctx, ids...); err != nil {
		p.log.Warn("marking alerts published; they may be published twice, harmlessly", "alerts", len(ids), "err", err)
	}
	// An alert erased after it was stored got its tombstone, perhaps
	// before its message, which we just wrote: one more tombstone after
	// it keeps the erasure the last word on the topic.
	gone, err := p.store.AlertsGone(ctx, alertIDs)
	if err == nil && len(gone) > 0 {
		err = p.alerts.Produce(ctx, tombstones(gone)...)
	}
	if err != nil {
		p.log.Error("checking published alerts for erasures; an erased alert may stay on the alerts topic until its retention", "alerts", len(alertIDs), "err", err)
	}
}

// relayOutbox publishes, every interval, the outbox rows that the detecting
// instance did not get onto the alerts topic (it crashed, or Kafka
// refused), until ctx ends.
func (p *pipeline) relayOutbox(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := p.store.PublishPending(ctx, 2*interval, 500, func(ctx context.Context, msgs []postgres.OutboxMessage) error {
			out := make([]ingest.Message, len(msgs))
			for i, m := range msgs {
				out[i] = ingest.Message{Key: []byte(m.AlertID), Value: m.Payload}
			}
			return p.alerts.Produce(ctx, out...)
		})
		if err != nil && ctx.Err() == nil {
			p.log.Warn("outbox relay", "err", err)
		}
		if n > 0 {
			p.log.Info("outbox relay published alerts left behind", "alerts", n)
		}
	}
}

// fanOut pushes an alerts-topic message to the sockets of this instance.
// A tombstone (no value) is an erased alert: nothing to push.
func (p *pipeline) fanOut(value []byte) {
	if len(value) == 0 {
		return
	}
	var m schema.AlertMessage
	if err := json.Unmarshal(value, &m); err != nil {
		p.log.Warn("undecodable message on the alerts topic", "err", err)
		return
	}
	p.hub.Deliver(m.Expand()...)
}

// lifecycleCache remembers account lifecycles briefly, so that events of
// the same account do not each cost a query.
type lifecycleCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]lifecycleEntry
}

type lifecycleEntry struct {
	lifecycle string
	expires   time.Time
}

func (c *lifecycleCache) get(ctx context.Context, store *postgres.Store, accountID string) (string, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[accountID]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.lifecycle, nil
	}
	lc, err := store.AccountLifecycle(ctx, accountID)
	if err != nil {
		return "", fmt.Errorf("looking up lifecycle of account %q: %w", accountID, err)
	}
	c.mu.Lock()
	if len(c.m) > 100_000 {
		clear(c.m) // bound memory; a cold cache only costs queries
	}
	c.m[accountID] = lifecycleEntry{lifecycle: lc, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return lc, nil
}
