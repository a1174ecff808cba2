package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// History is a fixed stretch of a topic's past, for replaying it outside
// the consumer group (backtests): for each partition, the messages from the
// first one whose Kafka timestamp is at or after a start time up to the
// partition's end when [OpenHistory] looked. Messages produced later are
// not part of it.
type History struct {
	cluster Cluster
	topic   string
	// Ranges are the partitions, in ascending order, with their offsets.
	Ranges []PartitionRange
	// Idle is how long Read waits for a message it expects before it
	// gives up on the rest of a partition (see Incomplete); 10 s unless set.
	Idle time.Duration
	// Incomplete lists the partitions whose last messages Read did not
	// get within Idle. On a topic with transactions this is normal: a
	// partition's last offset can be a transaction marker, which is never
	// delivered.
	Incomplete []PartitionRange
}

// PartitionRange is the offsets [Start, End) of one partition.
type PartitionRange struct {
	Partition  int
	Start, End int64
}

// OpenHistory finds every partition of topic and, for each, the offset of
// the first message with a timestamp at or after from (the first offset
// when from is zero) and the current end offset. Timestamps are the
// messages' Kafka timestamps (producer or broker time, by the topic's
// configuration), not the events' own times.
func OpenHistory(ctx context.Context, cl Cluster, topic string, from time.Time) (*History, error) {
	if len(cl.Brokers) == 0 {
		return nil, errors.New("kafka: no brokers configured")
	}
	client, done := cl.client(10 * time.Second)
	defer done()
	meta, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("reading metadata of topic %s: %w", topic, cl.explain(ctx, err, "Describe on topic "+topic))
	}
	var parts []int
	for _, t := range meta.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, cl.explain(ctx, t.Error, "Describe on topic "+topic))
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("topic %s: no partitions", topic)
	}
	slices.Sort(parts)

	// Two requests: a broker rejects a partition named twice in one.
	starts := make([]kafkago.OffsetRequest, len(parts))
	ends := make([]kafkago.OffsetRequest, len(parts))
	for i, p := range parts {
		starts[i] = kafkago.TimeOffsetOf(p, from)
		if from.IsZero() {
			starts[i] = kafkago.FirstOffsetOf(p)
		}
		ends[i] = kafkago.LastOffsetOf(p)
	}
	endResp, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: ends}})
	if err != nil {
		return nil, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	startResp, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: starts}})
	if err != nil {
		return nil, fmt.Errorf("listing offsets of %s at %s: %w", topic, from.Format(time.RFC3339), err)
	}
	h := &History{cluster: cl, topic: topic, Idle: 10 * time.Second}
	byPart := map[int]*PartitionRange{}
	for _, p := range parts {
		h.Ranges = append(h.Ranges, PartitionRange{Partition: p})
	}
	for i := range h.Ranges {
		byPart[h.Ranges[i].Partition] = &h.Ranges[i]
	}
	for _, po := range endResp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("end offset of %s partition %d: %w", topic, po.Partition, po.Error)
		}
		if r := byPart[po.Partition]; r != nil {
			r.End = po.LastOffset
		}
	}
	for _, po := range startResp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("offset of %s partition %d at %s: %w", topic, po.Partition, from.Format(time.RFC3339), po.Error)
		}
		r := byPart[po.Partition]
		if r == nil {
			continue
		}
		if from.IsZero() {
			r.Start = po.FirstOffset
		} else {
			// No message at or after from is offset -1 (or no answer):
			// nothing to read.
			// The answer is a map: take its least offset, not whichever
			// the iteration happens to visit last.
			r.Start = r.End
			for off := range po.Offsets {
				if off >= 0 && off < r.Start {
					r.Start = off
				}
			}
		}
		r.Start = min(max(r.Start, 0), r.End)
	}
	return h, nil
}

// Messages is the number of offsets in the history, an upper bound of the
// messages Read delivers (transaction markers and compacted messages take
// offsets too).
func (h *History) Messages() int64 {
	var n int64
	for _, r := range h.Ranges {
		n += r.End - r.Start
	}
	return n
}

// Read calls fn with every message of the history, partition after
// partition in ascending order, each in offset order, from the calling
// goroutine. fn owns value. An error from fn stops Read, which returns it.
func (h *History) Read(ctx context.Context, fn func(partition int, offset int64, value []byte) error) error {
	return h.ReadRecords(ctx, func(r Record) error { return fn(r.Partition, r.Offset, r.Value) })
}

// Record is one message of a History.
type Record struct {
	Partition int
	Offset    int64
	// Time is the message's Kafka timestamp, to the millisecond.
	Time       time.Time
	Key, Value []byte
}

// ReadRecords is Read with each message's key and timestamp.
func (h *History) ReadRecords(ctx context.Context, fn func(Record) error) error {
	h.Incomplete = nil
	for _, pr := range h.Ranges {
		if pr.Start >= pr.End {
			continue
		}
		if err := h.readPartition(ctx, pr, fn); err != nil {
			return err
		}
	}
	return nil
}

func (h *History) readPartition(ctx context.Context, pr PartitionRange, fn func(Record) error) error {
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:   h.cluster.Brokers,
		Dialer:    h.cluster.dialer(),
		Topic:     h.topic,
		Partition: pr.Partition,
		MinBytes:  1,
		MaxBytes:  16 << 20,
		MaxWait:   250 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(pr.Start); err != nil {
		return fmt.Errorf("seeking %s partition %d to %d: %w", h.topic, pr.Partition, pr.Start, err)
	}
	idle := h.Idle
	if idle <= 0 {
		idle = 10 * time.Second
	}
	next := pr.Start
	for next < pr.End {
		fctx, cancel := context.WithTimeout(ctx, idle)
		msg, err := r.FetchMessage(fctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) {
				h.Incomplete = append(h.Incomplete, PartitionRange{Partition: pr.Partition, Start: next, End: pr.End})
				return nil
			}
			return fmt.Errorf("reading %s partition %d at offset %d: %w", h.topic, pr.Partition, next, err)
		}
		if msg.Offset >= pr.End {
			return nil
		}
		next = msg.Offset + 1
		if err := fn(Record{Partition: pr.Partition, Offset: msg.Offset, Time: msg.Time, Key: msg.Key, Value: msg.Value}); err != nil {
			return err
		}
	}
	return nil
}
