package broadcast

import (
	"context"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/kafka"
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
			out := make([]kafka.Message, len(msgs))
			for i, m := range msgs {
				out[i] = kafka.Message{Key: []byte(m.AlertID), Value: m.Payload}
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
