package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/kafka"
)

func TestHistory(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const topic = "history"
	if err := kafka.EnsureTopics(ctx, kafka.Cluster{Brokers: b.Brokers()}, 3, 1, topic); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old, recent := now.Add(-10*24*time.Hour), now.Add(-time.Hour)
	// Partition 0: three old messages, then two recent ones; 1: two recent
	// ones; 2: one old one.
	produce := map[int][]time.Time{
		0: {old, old, old, recent, recent},
		1: {recent, recent},
		2: {old},
	}
	for p, times := range produce {
		conn, err := kafkago.DialLeader(ctx, "tcp", b.Addr(), topic, p)
		if err != nil {
			t.Fatal(err)
		}
		var msgs []kafkago.Message
		for i, ts := range times {
			msgs = append(msgs, kafkago.Message{Value: fmt.Appendf(nil, "p%d-%d", p, i), Time: ts})
		}
		if _, err := conn.WriteMessages(msgs...); err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}

	h, err := kafka.OpenHistory(ctx, kafka.Cluster{Brokers: b.Brokers()}, topic, now.Add(-7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []kafka.PartitionRange{{0, 3, 5}, {1, 0, 2}, {2, 1, 1}}
	if !slices.Equal(h.Ranges, want) {
		t.Errorf("Ranges = %v, want %v", h.Ranges, want)
	}
	if h.Messages() != 4 {
		t.Errorf("Messages() = %d, want 4", h.Messages())
	}
	var got []string
	err = h.Read(ctx, func(partition int, offset int64, value []byte) error {
		got = append(got, fmt.Sprintf("%d/%d=%s", partition, offset, value))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if w := []string{"0/3=p0-3", "0/4=p0-4", "1/0=p1-0", "1/1=p1-1"}; !slices.Equal(got, w) {
		t.Errorf("read %v, want %v", got, w)
	}
	if len(h.Incomplete) != 0 {
		t.Errorf("Incomplete = %v, want none", h.Incomplete)
	}

	var times []time.Time
	if err := h.ReadRecords(ctx, func(r kafka.Record) error {
		times = append(times, r.Time)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, at := range times {
		if !at.Equal(recent.Truncate(time.Millisecond)) {
			t.Errorf("record %d has time %s, want the producer's %s", i, at, recent)
		}
	}

	all, err := kafka.OpenHistory(ctx, kafka.Cluster{Brokers: b.Brokers()}, topic, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if w := []kafka.PartitionRange{{0, 0, 5}, {1, 0, 2}, {2, 0, 1}}; !slices.Equal(all.Ranges, w) {
		t.Errorf("from zero: Ranges = %v, want %v", all.Ranges, w)
	}
	stop := errors.New("stop")
	n := 0
	err = all.Read(ctx, func(int, int64, []byte) error {
		if n++; n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("Read with a failing fn = %v after %d calls, want %v after 2", err, n, stop)
	}

	if _, err := kafka.OpenHistory(ctx, kafka.Cluster{Brokers: b.Brokers()}, "no-such-topic", now); err == nil {
		t.Error("OpenHistory of a missing topic: no error")
	}
}
