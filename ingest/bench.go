package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
)

// DrainTopic reads every partition of topic, each from its first offset to
// the end offset it had when DrainTopic started, one reader per partition
// in parallel, and discards the messages: the raw consume rate `dowser
// bench` compares the pipeline with. It returns the messages read. The
// readers are set as the Consumer's are (no consumer group).
func DrainTopic(ctx context.Context, brokers []string, topic string) (messages int64, err error) {
	h, err := OpenHistory(ctx, brokers, topic, time.Time{})
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
			r := kafka.NewReader(kafka.ReaderConfig{
				Brokers:   brokers,
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
			for {
				fctx, cancel := context.WithTimeout(gctx, 10*time.Second)
				msg, err := r.FetchMessage(fctx)
				cancel()
				if err != nil {
					if errors.Is(err, context.DeadlineExceeded) && gctx.Err() == nil {
						return fmt.Errorf("reading %s/%d: no message for 10s before offset %d", topic, pr.Partition, pr.End)
					}
					return fmt.Errorf("reading %s/%d: %w", topic, pr.Partition, err)
				}
				n.Add(1)
				if msg.Offset+1 >= pr.End {
					return nil
				}
			}
		})
	}
	err = g.Wait()
	return n.Load(), err
}
