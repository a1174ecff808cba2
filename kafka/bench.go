package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
)

// DrainTopic reads every partition of topic, each from its first offset to
// the end offset it had when DrainTopic started, one reader per partition
// in parallel, and discards the messages: the raw consume rate `dowser
// bench` compares the pipeline with. It returns the messages read. The
// readers are set as the Consumer's are (no consumer group).
func DrainTopic(ctx context.Context, cl Cluster, topic string) (messages int64, err error) {
	h, err := OpenHistory(ctx, cl, topic, time.Time{})
	if err != nil {
		return 0, err
	}
	var n atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for _, pr := range h.Ranges {
		if pr.Start >= pr.End {
			continue
		}
		g.Go(func() error {
			r := kafkago.NewReader(kafkago.ReaderConfig{
				Brokers:   cl.Brokers,
				Dialer:    cl.dialer(),
				Topic:     topic,
				Partition: pr.Partition,
				MinBytes:  1,
				MaxBytes:  8 << 20,
				MaxWait:   250 * time.Millisecond,
			})
			defer r.Close()
			if err := r.SetOffset(pr.Start); err != nil {
				return fmt.Errorf("seeking %s/%d to %d: %w", topic, pr.Partition, pr.Start, err)
			}
			// One deadline for many messages, renewed when it fires after
			// progress, as the consumer does: a context and timer per
			// message would cost the raw rate what the consumer does not
			// pay. The stall bound only gives up: a busy machine has
			// starved a fetch for more than ten seconds.
			const stall = time.Minute
			var fctx context.Context
			cancel := func() {}
			renew := func() {
				cancel()
				fctx, cancel = context.WithTimeout(gctx, stall)
			}
			renew()
			defer func() { cancel() }()
			var read, readAtDeadline int64
			for {
				msg, err := r.FetchMessage(fctx)
				if err != nil {
					if errors.Is(err, context.DeadlineExceeded) && gctx.Err() == nil {
						if read == readAtDeadline {
							return fmt.Errorf("reading %s/%d: no message for %s before offset %d", topic, pr.Partition, stall, pr.End)
						}
						readAtDeadline = read
						renew()
						continue
					}
					return fmt.Errorf("reading %s/%d: %w", topic, pr.Partition, err)
				}
				read++
				if msg.Offset+1 >= pr.End {
					n.Add(read)
					return nil
				}
			}
		})
	}
	err = g.Wait()
	return n.Load(), err
}
