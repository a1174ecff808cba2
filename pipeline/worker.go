package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/schema"
)

// partitionWorker owns one partition's detector state. kafka calls it from
// one goroutine only.
type partitionWorker struct {
	p         *Pipeline
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
	cp        *checkpointer
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

	// lastEvent and lastAdvance are the wall-clock times of the last
	// event handled and of the last Advance: a partition quiet for a
	// checkpoint interval advances its event time (see Config.Lateness)
	// from newest, the newest event time handled (the restored event
	// time until an event comes).
	lastEvent, lastAdvance time.Time
	newest                 time.Time
}

// Handle implements kafka.PartitionHandler. A failure PostgreSQL will
// repeat on every retry (dowser.ErrPermanent: bad data, a constraint) is
// permanent: an alert that cannot be routed or stored is dropped, the
// event's other alerts are stored, and then the error is returned wrapping
// kafka.ErrPermanent, so that kafka dead-letters the event and the
// partition goes on. The engine keeps the event counted: its state is then
// what a replay from any checkpoint rebuilds (the same event evaluates the
// same way and fails the same way), so later alerts keep their ids and are
// stored once. Every other failure is returned as it is, to be retried.
func (w *partitionWorker) Handle(ctx context.Context, ev *schema.Event) error {
	w.lastEvent = time.Now()
	if ev.Time.After(w.newest) {
		w.newest = ev.Time
	}
	if w.pendingEvent != ev && len(w.pending) > 0 {
		// Alerts of an Advance not stored yet go first.
		if err := w.storeTimers(ctx); err != nil {
			return err
		}
	}
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
		if id := ev.Customer.AccountID; id != "" && ev.Customer.Lifecycle == "" {
			// The account's lifecycle, as dowser.FillLifecycle fills it,
			// and with it its name for message templates.
			acc, err := w.p.lifecycles.get(ctx, w.p.cfg.Accounts, id)
			if err != nil {
				return permanently(err)
			}
			ev.Customer.Lifecycle, ev.Customer.AccountName = acc.lifecycle, acc.name
		}
		w.pending = w.engine.Evaluate(ev)
		if w.p.cfg.Journey != nil && w.engine.Evaluated() {
			w.p.cfg.Journey.Record(ev)
		}
		if w.engine.NeedsAccountName() {
			// Looked up only when an alert's message wants the name: a
			// query per event whose account left the cache halved the
			// consume rate at a million accounts.
			// The event is evaluated now: a failed lookup must not send
			// it back (a retry would find it a duplicate and its alerts
			// gone), so the message keeps the account's id.
			if acc, err := w.p.lifecycles.get(ctx, w.p.cfg.Accounts, ev.Customer.AccountID); err == nil {
				w.engine.NameAccount(w.pending, acc.name)
			} else {
				w.p.log.Warn("alert messages keep the account's id", "account", ev.Customer.AccountID, "err", err)
			}
		}
		w.pendingEvent = ev
		w.cp.changed()
		if n := w.engine.WhereStops(); n != w.whereStops {
			w.p.whereStopped.Add(float64(n - w.whereStops))
			w.whereStops = n
		}
	}
	if err := w.store(ctx); err != nil {
		return err
	}
	w.pendingEvent = nil
	if w.dropped != nil {
		err := w.dropped
		w.dropped = nil
		return fmt.Errorf("%w: %w", kafka.ErrPermanent, err)
	}
	return nil
}

// store routes and stores w.pending, in order, removing each once stored
// or (a permanent failure, added to w.dropped) dropped. Any other failure
// is returned with the rest still pending.
func (w *partitionWorker) store(ctx context.Context) error {
	for len(w.pending) > 0 {
		a := &w.pending[0]
		route, err := w.p.cfg.Router.Route(ctx, a)
		if err != nil {
			err = fmt.Errorf("routing alert %s of signal %s: %w", a.ID, a.SignalID, err)
		}
		var saved dowser.SavedAlert
		if err == nil {
			for _, sk := range route.Skipped {
				// A role changed or a user removed after the owner was
				// saved: the alert went on to the next step; someone should
				// fix the ownership.
				w.p.skipped.WithLabelValues(sk.Step).Inc()
				w.p.log.Warn("routing skipped an owner whose role does not fit", "alert", a.ID, "step", sk.Step, "owner", sk.Owner, "role", sk.Role)
			}
			a.Rep = route.Sales // stored with the rep's name, for whoever reads the alert
			saved, err = w.p.cfg.Alerts.SaveAlert(ctx, a, route.Recipients())
			if err != nil {
				err = fmt.Errorf("storing alert %s of signal %s: %w", a.ID, a.SignalID, err)
			}
		}
		if err != nil {
			if !errors.Is(err, dowser.ErrPermanent) {
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
		w.p.cfg.Hub.Deliver(saved.Deliveries...)
		w.p.cfg.Broadcast.Publish(saved)
	}
	return nil
}

// advance is the processing-time fallback of silences: a partition that
// handled no event for a checkpoint interval takes event time to have run
// on at the wall clock's pace since its newest event, but no further than
// the wall clock less Config.Lateness, and moves the detector's event
// time there. So a live stream's silences fire Lateness after their
// deadline, while a replay of history (events far older than the wall
// clock) only moves by the time it was quiet, and its next events are not
// made late. The alerts of the waits that end are stored like an event's,
// before the checkpoint that counts them.
func (w *partitionWorker) advance(ctx context.Context) error {
	if w.advanceDue() {
		now := time.Now()
		w.lastAdvance = now
		to := now.Add(-w.p.cfg.Lateness)
		if run := w.newest.Add(now.Sub(w.lastEvent)); run.Before(to) {
			to = run
		}
		if alerts := w.engine.Advance(to); len(alerts) > 0 {
			w.pending = append(w.pending, alerts...)
			w.cp.changed()
		}
	}
	return w.storeTimers(ctx)
}

// advanceDue reports whether the partition has been quiet long enough
// to advance its event time again.
func (w *partitionWorker) advanceDue() bool {
	every := w.p.cfg.CheckpointInterval
	return w.p.cfg.Lateness > 0 && w.pendingEvent == nil && !w.newest.IsZero() &&
		time.Since(w.lastEvent) >= every && time.Since(w.lastAdvance) >= every
}

// storeTimers stores the pending alerts of an Advance; a permanent
// failure drops the alert, logged, as no event can be dead-lettered for
// it.
func (w *partitionWorker) storeTimers(ctx context.Context) error {
	err := w.store(ctx)
	if w.dropped != nil {
		w.p.log.Error("dropped a silence's alert that cannot be stored", "partition", w.partition, "err", w.dropped)
		w.dropped = nil
	}
	return err
}

// permanently marks a failure storage will repeat (dowser.ErrPermanent) as
// permanent for the event.
func permanently(err error) error {
	if errors.Is(err, dowser.ErrPermanent) {
		return fmt.Errorf("%w: %w", kafka.ErrPermanent, err)
	}
	return err
}

// Checkpoint implements kafka.PartitionHandler: what changed in the
// engine since the last checkpoint is written with nextOffset in the
// background (see checkpointer); final waits for it.
func (w *partitionWorker) Checkpoint(ctx context.Context, nextOffset int64, final bool) (int64, error) {
	if final {
		defer w.cp.close()
	}
	if w.pendingEvent != nil {
		// The state already counts an event whose alerts are not stored:
		// saving it would lose them for good.
		return w.cp.durable, fmt.Errorf("partition %d: an event is half-handled; not checkpointing", w.partition)
	}
	if err := w.advance(ctx); err != nil {
		// As for an event: the state counts the alerts, so it waits.
		return w.cp.durable, fmt.Errorf("partition %d: storing the alerts of silences: %w", w.partition, err)
	}
	if w.applyErasures() {
		w.cp.changed()
	}
	if len(w.eraseAnon) > 0 {
		n, err := w.p.cfg.Privacy.EraseAnonymousIDs(ctx, w.eraseAnon)
		if err != nil {
			return w.cp.durable, fmt.Errorf("partition %d: %w", w.partition, err)
		}
		w.p.log.Info("erasure reached anonymous ids only this partition knew", "partition", w.partition, "ids", len(w.eraseAnon), "alerts_deleted", n)
		w.eraseAnon = nil
	}
	durable, err := w.cp.save(ctx, w.engine, nextOffset, w.erased, final)
	if errors.Is(err, dowser.ErrNotOwner) {
		return durable, fmt.Errorf("%w: %w", kafka.ErrNotOwner, err)
	}
	return durable, err
}

// applyErasures makes the engine forget the people of erasure requests it
// has not applied yet, and reports whether there were any.
func (w *partitionWorker) applyErasures() bool {
	es := w.p.privacy.erasuresAfter(w.erased)
	for _, e := range es {
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
	return len(es) > 0
}

// CheckpointDue implements kafka's checkpoint request: an idle partition
// still saves a new checkpoint when an erasure must reach it, or when
// changes wait behind a write in flight.
func (w *partitionWorker) CheckpointDue() bool {
	return w.cp.pending() || len(w.p.privacy.erasuresAfter(w.erased)) > 0 || w.advanceDue() || len(w.pending) > 0 ||
		w.engine.Freezing()
}
