package broadcast

import (
	"context"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/schema"
)

// Publish hands a stored alert to the publishing loop without waiting: the
// partition that stored it goes on with its next events. When the queue
// is full the alert's outbox row stays unmarked, and the outbox relay
// publishes it.
func (b *Broadcaster) Publish(saved dowser.SavedAlert) {
	select {
	case b.toPublish <- saved:
	default:
		b.log.Warn("publish queue full; the outbox relay will publish the alert", "outbox_id", saved.OutboxID)
	}
}

// publishLoop puts the alerts the partitions stored on the alerts topic,
// all that are waiting in one produce call, and marks their outbox rows
// published, until ctx ends; then it publishes what is still queued, for
// a few seconds at most. Failing is not fatal: the outbox relay publishes
// what is left unmarked.
func (b *Broadcaster) publishLoop(ctx context.Context) error {
	const most = 500
	batch := make([]dowser.SavedAlert, 0, most)
	take := func() {
		for len(batch) < most {
			select {
			case s := <-b.toPublish:
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
				b.publish(dctx, batch)
				batch = batch[:0]
			}
			return nil
		case s := <-b.toPublish:
			batch = append(batch, s)
			take()
			// A batch begun is finished (publish bounds it) even if the
			// service stops meanwhile: a message written without its
			// erasure check could outlive the erasure on the topic.
			b.publish(context.WithoutCancel(ctx), batch)
			clear(batch)
			batch = batch[:0]
		}
	}
}

// publish puts stored alerts on the alerts topic and marks their outbox
// rows published.
func (b *Broadcaster) publish(ctx context.Context, batch []dowser.SavedAlert) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	msgs := make([]kafka.Message, 0, len(batch))
	ids := make([]int64, 0, len(batch))
	alertIDs := make([]string, 0, len(batch))
	for _, saved := range batch {
		m := schema.NewAlertMessage(saved.AlertID, saved.EventTime, saved.Alert, saved.Deliveries)
		value, err := m.Encode()
		if err != nil {
			// Left unmarked: the relay tries again, and says so.
			b.log.Error("encoding an alert message", "alert", saved.AlertID, "err", err)
			continue
		}
		msgs = append(msgs, kafka.Message{Key: []byte(saved.AlertID), Value: value})
		ids = append(ids, saved.OutboxID)
		alertIDs = append(alertIDs, saved.AlertID)
	}
	if err := b.producer.Produce(ctx, msgs...); err != nil {
		b.log.Warn("publishing alerts; the outbox relay will retry", "alerts", len(msgs), "err", err)
		return
	}
	if err := b.cfg.Outbox.MarkPublished(ctx, ids...); err != nil {
		b.log.Warn("marking alerts published; they may be published twice, harmlessly", "alerts", len(ids), "err", err)
	}
	// An alert erased after it was stored got its tombstone, perhaps
	// before its message, which we just wrote: one more tombstone after
	// it keeps the erasure the last word on the topic.
	gone, err := b.cfg.Erasures.AlertsGone(ctx, alertIDs)
	if err == nil && len(gone) > 0 {
		err = b.producer.Produce(ctx, tombstones(gone)...)
	}
	if err != nil {
		b.log.Error("checking published alerts for erasures; an erased alert may stay on the alerts topic until its retention", "alerts", len(alertIDs), "err", err)
	}
}
