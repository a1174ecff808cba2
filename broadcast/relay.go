package broadcast

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/schema"
)

// relayOutbox publishes, every RelayEvery, the outbox rows that the
// detecting instance did not get onto the alerts topic (it crashed, or
// Kafka refused), until ctx ends.
func (b *Broadcaster) relayOutbox(ctx context.Context) error {
	interval := b.cfg.RelayEvery
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		n, err := b.cfg.Outbox.PublishPending(ctx, 2*interval, 500, func(ctx context.Context, msgs []dowser.OutboxMessage) error {
			out := make([]kafka.Message, 0, len(msgs))
			for _, m := range msgs {
				value, err := outboxValue(m)
				if err != nil {
					// It never can be: skipped, and marked with the rest,
					// rather than stop the relay. Its recipients still
					// read it from PostgreSQL.
					b.log.Error("outbox row cannot be encoded; skipped", "outbox_id", m.ID, "alert", m.AlertID, "err", err)
					continue
				}
				out = append(out, kafka.Message{Key: []byte(m.AlertID), Value: value})
			}
			return b.producer.Produce(ctx, out...)
		})
		if err != nil && ctx.Err() == nil {
			b.log.Warn("outbox relay", "err", err)
		}
		if n > 0 {
			b.log.Info("outbox relay published alerts left behind", "alerts", n)
		}
	}
}

// relayTombstones writes, at once and then every TombstonesEvery until ctx
// ends, a tombstone (the alert's id as key, a null value) to the alerts
// topic for every erased alert still waiting for one, so that a compacted
// alerts topic drops the alert's message and no tailer delivers it again.
func (b *Broadcaster) relayTombstones(ctx context.Context) error {
	t := time.NewTicker(b.cfg.TombstonesEvery)
	defer t.Stop()
	for {
		b.writeTombstones(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// writeTombstones writes the tombstones waiting, 500 at a time; a failure
// is retried at the next tick.
func (b *Broadcaster) writeTombstones(ctx context.Context) {
	for ctx.Err() == nil {
		n, err := b.cfg.Erasures.PublishTombstones(ctx, 500, func(ctx context.Context, ids []string) error {
			return b.producer.Produce(ctx, tombstones(ids)...)
		})
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn("writing tombstones of erased alerts; retrying at the next tick", "err", err)
			}
			return
		}
		if n < 500 {
			return
		}
	}
}

// tombstones are the alerts-topic messages that erase alerts: keyed by
// alert id like the alerts' own messages, with a null value.
func tombstones(alertIDs []string) []kafka.Message {
	out := make([]kafka.Message, len(alertIDs))
	for i, id := range alertIDs {
		out[i] = kafka.Message{Key: []byte(id)}
	}
	return out
}

// outboxValue is the alerts-topic message of an outbox row: encoded from
// the stored alert and its deliveries as the publish loop encodes it, the
// event time read back from the alert's own document; or, for a row an
// older version wrote, the payload it encoded then.
func outboxValue(m dowser.OutboxMessage) ([]byte, error) {
	if m.Payload != nil {
		return m.Payload, nil
	}
	var a struct {
		Time time.Time `json:"time"`
	}
	if err := json.Unmarshal(m.Alert, &a); err != nil {
		return nil, fmt.Errorf("reading the time of alert %s in outbox row %d: %w", m.AlertID, m.ID, err)
	}
	msg := schema.NewAlertMessage(m.AlertID, a.Time, m.Alert, m.Deliveries)
	return msg.Encode()
}
