package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
)

// Tailer reads every partition of a topic from where it ended when the
// Tailer was made. It joins no consumer group: every instance sees every
// message, which fan-out to the sockets each instance holds needs.
type Tailer struct {
	cluster Cluster
	topic   string
	log     *slog.Logger
	start   map[int]int64 // partition -> first offset to read
}

// NewTailer resolves the end of every partition of topic now, so that
// nothing written after NewTailer returns is missed.
func NewTailer(ctx context.Context, cl Cluster, topic string, log *slog.Logger) (*Tailer, error) {
	if len(cl.Brokers) == 0 {
		return nil, fmt.Errorf("tailing %s: no brokers", topic)
	}
	dialer := cl.dialer()
	conn, err := dialer.DialContext(ctx, "tcp", cl.Brokers[0])
	if err != nil {
		return nil, fmt.Errorf("tailing %s: %w", topic, explain(err, "Describe on topic "+topic))
	}
	ps, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return nil, fmt.Errorf("listing partitions of %s: %w", topic, explain(err, "Describe on topic "+topic))
	}
	t := &Tailer{cluster: cl, topic: topic, log: log, start: make(map[int]int64, len(ps))}
	for _, p := range ps {
		lc, err := dialer.DialLeader(ctx, "tcp", cl.Brokers[0], topic, p.ID)
		if err != nil {
			return nil, fmt.Errorf("dialing the leader of %s/%d: %w", topic, p.ID, explain(err, "Read on topic "+topic))
		}
		end, err := lc.ReadLastOffset()
		lc.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the end of %s/%d: %w", topic, p.ID, explain(err, "Read on topic "+topic))
		}
		t.start[p.ID] = end
	}
	return t, nil
}

// Run calls fn with each message value until ctx ends. fn is called from
// one goroutine per partition.
func (t *Tailer) Run(ctx context.Context, fn func(value []byte)) error {
	g, ctx := errgroup.WithContext(ctx)
	for p, offset := range t.start {
		g.Go(func() error {
			r := kafkago.NewReader(kafkago.ReaderConfig{
				Brokers:   t.cluster.Brokers,
				Dialer:    t.cluster.dialer(),
				Topic:     t.topic,
				Partition: p,
				MinBytes:  1,
				MaxBytes:  4 << 20,
				MaxWait:   250 * time.Millisecond,
			})
			defer r.Close()
			if err := r.SetOffset(offset); err != nil {
				return fmt.Errorf("seeking %s/%d to %d: %w", t.topic, p, offset, err)
			}
			wait := time.Second
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					// The reader retries broker errors itself; what
					// reaches us is worth a log line and another try, a
					// refusal a slower one: it lasts until someone acts.
					err = explain(err, "Read on topic "+t.topic)
					if errors.Is(err, ErrDenied) {
						wait = min(2*wait, time.Minute)
					} else {
						wait = time.Second
					}
					t.log.Warn("reading topic", "topic", t.topic, "partition", p, "err", err, "in", wait)
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(wait):
					}
					continue
				}
				wait = time.Second
				fn(m.Value)
			}
		})
	}
	return g.Wait()
}
