package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/dowserhq/dowser/kafka"
)

// RunTraffic produces the back-dated [History], then rate events a second
// of the demo's traffic to topic, keyed as every event is, until ctx ends. A failed produce is logged and
// the traffic goes on: the demo keeps running while the broker recovers.
func RunTraffic(ctx context.Context, cl kafka.Cluster, topic string, rate float64, log *slog.Logger) error {
	if rate <= 0 {
		return nil
	}
	p := kafka.NewProducer(cl, topic)
	defer p.Close()
	start := time.Now()
	if err := produceHistory(ctx, p, start, log); err != nil {
		return err
	}
	t := NewTraffic(uint64(start.UnixNano()), 0)
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	produced := 0
	for {
		select {
		case <-ctx.Done():
			log.Info("demo traffic stopped", "events", produced)
			return nil
		case now := <-tick.C:
			ev := t.Next(now)
			b, err := json.Marshal(&ev)
			if err != nil {
				return fmt.Errorf("encoding demo event: %w", err)
			}
			if err := p.Produce(ctx, kafka.Message{Key: []byte(kafka.EventKey(&ev)), Value: b}); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				log.Warn("demo traffic", "err", err)
				continue
			}
			produced++
		}
	}
}

// produceHistory produces History(now) in one batch, retrying until the
// broker takes it (the demo's silence and change alerts need it) or ctx
// ends.
func produceHistory(ctx context.Context, p *kafka.Producer, now time.Time, log *slog.Logger) error {
	history := History(now)
	msgs := make([]kafka.Message, len(history))
	for i := range history {
		b, err := json.Marshal(&history[i])
		if err != nil {
			return fmt.Errorf("encoding demo history: %w", err)
		}
		msgs[i] = kafka.Message{Key: []byte(kafka.EventKey(&history[i])), Value: b}
	}
	for {
		err := p.Produce(ctx, msgs...)
		if err == nil {
			log.Info("demo history produced", "events", len(msgs), "silent_account", SilentAccount, "surging_account", SurgingAccount)
			return nil
		}
		log.Warn("demo history", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// WriteEvents writes n events of the traffic of seed to w, one JSON event a
// line, the first at event time start and each step after the one before:
// what `dowser signals generate` writes. It returns the time of the last
// event.
func WriteEvents(w io.Writer, seed uint64, n int, start time.Time, step time.Duration) (time.Time, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	t := NewTraffic(seed, 0)
	now := start
	for range n {
		ev := t.Next(now)
		if err := enc.Encode(&ev); err != nil {
			return now, fmt.Errorf("writing events: %w", err)
		}
		now = now.Add(step)
	}
	if err := bw.Flush(); err != nil {
		return now, fmt.Errorf("writing events: %w", err)
	}
	return now.Add(-step), nil
}
