package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"
)

// lagState is what the lag of one partition is computed from. The
// partition's goroutine moves position; the lag loop sets hwm and logStart;
// scrapes read all three. All are atomics, so that a partition stuck
// inside Handle or Checkpoint still shows its lag growing.
type lagState struct {
	// position is the first offset not yet done: the offset being worked
	// on, or the next to read when idle. Negative until the first message
	// when the partition starts from the beginning of the log.
	position atomic.Int64
	// hwm is the partition's end offset (high watermark) as last known;
	// -1 while unknown.
	hwm atomic.Int64
	// logStart is the first offset in the log at the last refresh.
	logStart atomic.Int64
}

func (l *lagState) init(position int64) {
	l.position.Store(position)
	l.hwm.Store(-1)
}

// raiseEnd notes an end offset read along with a message: the reader
// prefetches, so it may be older than what the lag loop saw, and is
// only taken when higher.
func (l *lagState) raiseEnd(end int64) {
	for {
		cur := l.hwm.Load()
		if end <= cur || l.hwm.CompareAndSwap(cur, end) {
			return
		}
	}
}

// lag is the number of messages from the position to the end, and
// whether it is known.
func (l *lagState) lag() (int64, bool) {
	end := l.hwm.Load()
	if end < 0 {
		return 0, false
	}
	return max(end-max(l.position.Load(), l.logStart.Load()), 0), true
}

// lagCollector reports dowser_consumer_lag and dowser_consumer_lag_age_seconds
// at scrape time, for the partitions being consumed now: a revoked
// partition's series goes with it.
type lagCollector struct {
	t         *progressTable
	refreshed *atomic.Pointer[time.Time]
	lag, age  *prometheus.Desc
}

func (l lagCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- l.lag
	ch <- l.age
}

func (l lagCollector) Collect(ch chan<- prometheus.Metric) {
	parts := l.t.all()
	for _, p := range parts {
		if n, ok := p.lag(); ok {
			ch <- prometheus.MustNewConstMetric(l.lag, prometheus.GaugeValue, float64(n), strconv.Itoa(p.partition))
		}
	}
	if at := l.refreshed.Load(); at != nil && len(parts) > 0 {
		ch <- prometheus.MustNewConstMetric(l.age, prometheus.GaugeValue, time.Since(*at).Seconds())
	}
}

// watchLag asks Kafka for the end offsets of the partitions being
// consumed every LagInterval, until ctx ends. A failure keeps the last
// figures (dowser_consumer_lag_age_seconds grows) and is logged at most
// once a minute.
func (c *Consumer) watchLag(ctx context.Context) {
	client, done := c.cfg.Cluster.client(0)
	defer done()
	now := time.Now()
	c.metrics.lagRefreshed.Store(&now)
	t := time.NewTicker(c.cfg.LagInterval)
	defer t.Stop()
	var warned time.Time // the last warning, kept across recoveries
	failing := false     // warned, and not yet read again
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := c.refreshLag(ctx, client)
		switch {
		case err == nil:
			now := time.Now()
			c.metrics.lagRefreshed.Store(&now)
			if failing {
				failing = false
				c.cfg.Logger.Info("reading partition end offsets again", "topic", c.cfg.Topic)
			}
		case ctx.Err() != nil:
			return
		case time.Since(warned) >= time.Minute:
			failing = true
			warned = time.Now()
			at := c.metrics.lagRefreshed.Load()
			c.cfg.Logger.Warn("reading partition end offsets failed; consumer lag is stale", "topic", c.cfg.Topic,
				"since", at.Round(time.Second), "err", err)
		}
	}
}

// refreshLag reads the first and end offsets of the partitions being
// consumed, in one ListOffsets call (which kafka-go sends to each leader
// as one request per partition and offset).
func (c *Consumer) refreshLag(ctx context.Context, client *kafkago.Client) error {
	parts := c.metrics.progress.all()
	if len(parts) == 0 {
		return nil
	}
	reqs := make([]kafkago.OffsetRequest, 0, 2*len(parts))
	byID := make(map[int]*progress, len(parts))
	for _, p := range parts {
		reqs = append(reqs, kafkago.FirstOffsetOf(p.partition), kafkago.LastOffsetOf(p.partition))
		byID[p.partition] = p
	}
	ctx, cancel := context.WithTimeout(ctx, max(c.cfg.LagInterval, 5*time.Second))
	defer cancel()
	resp, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{c.cfg.Topic: reqs}})
	if err != nil {
		return fmt.Errorf("listing offsets of %s: %w", c.cfg.Topic, err)
	}
	var errs []error
	for _, po := range resp.Topics[c.cfg.Topic] {
		p := byID[po.Partition]
		if p == nil {
			continue
		}
		delete(byID, po.Partition)
		if po.Error != nil {
			errs = append(errs, fmt.Errorf("partition %d: %w", po.Partition, po.Error))
			continue
		}
		if po.LastOffset < 0 {
			errs = append(errs, fmt.Errorf("partition %d: no end offset in the answer", po.Partition))
			continue
		}
		p.logStart.Store(po.FirstOffset)
		// The broker's figure is fresher than any the reader brought.
		p.hwm.Store(po.LastOffset)
	}
	for id := range byID {
		errs = append(errs, fmt.Errorf("partition %d: no offsets in the answer", id))
	}
	return errors.Join(errs...)
}
