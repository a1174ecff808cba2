package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/schema"
)

// Header keys of a dead-lettered message.
const (
	HeaderReason    = "dowser-reason"
	HeaderError     = "dowser-error"
	HeaderTopic     = "dowser-topic"
	HeaderPartition = "dowser-partition"
	HeaderOffset    = "dowser-offset"
	// HeaderTruncated is on a dead-lettered copy whose value Kafka refused
	// whole (too large): the value is cut, and this says how many bytes
	// the original had.
	HeaderTruncated = "dowser-truncated"
	// HeaderFormat names the format of a message (one of formats.Names())
	// that is not in its topic's: POST /v1/events and dowser produce set
	// it. A binary CloudEvent (a ce_specversion header) needs none.
	HeaderFormat = "dowser-format"
)

// ErrPermanent, wrapped in an error from Handle, says that this event can
// never be handled: retrying would meet the same failure for ever (the
// database refuses one of its values, say). The consumer sends the event
// to the dead-letter topic with reason processing_failed and the error,
// and goes on with the next one.
var ErrPermanent = errors.New("permanent failure of this event")

// PartitionHandler processes the valid events of one partition, in offset
// order, from one goroutine.
type PartitionHandler interface {
	// Handle processes one event. An error means "not done, try again":
	// the consumer retries the same event with backoff and never skips it,
	// so Handle must be idempotent. An error wrapping ErrPermanent means
	// "never": the event is dead-lettered, and the handler must be ready
	// for the next event when it returns one.
	//
	// ev, and its Properties map, are the consumer's and valid only until
	// Handle succeeds: the next event is decoded into them. The strings of
	// the event may be kept.
	Handle(ctx context.Context, ev *schema.Event) error
	// Checkpoint asks the handler to make its state durable together
	// with nextOffset, the first offset it does not reflect, and returns
	// the offset its durable state reflects now. The consumer calls it
	// between events, every CheckpointInterval, and with final set when it
	// loses the partition. Without final the handler may write in the
	// background and return an older offset (the event path must not wait
	// for storage); with final it returns only once nextOffset is durable.
	// The consumer commits the durable offset to the group, and asks again
	// while it is behind. An error wrapping ErrNotOwner stops the
	// partition: another instance owns it now.
	Checkpoint(ctx context.Context, nextOffset int64, final bool) (durable int64, err error)
}

// CheckpointRequester may be implemented by a PartitionHandler whose state
// must be saved even though no event arrived since the last checkpoint (to
// apply an erasure, say). The consumer asks between events and when idle.
type CheckpointRequester interface {
	CheckpointDue() bool
}

// ErrNotOwner tells the consumer that a partition has moved on without it.
var ErrNotOwner = errors.New("partition owned by another instance")

// Processor hands out a PartitionHandler each time a partition is assigned
// to this instance.
type Processor interface {
	// Partition opens the handler of a newly assigned partition and says
	// where to read from: offset, or the group's committed offset when
	// offset is negative.
	Partition(ctx context.Context, partition int) (h PartitionHandler, offset int64, err error)
}

// Config configures a Consumer.
type Config struct {
	// Cluster is where the topics are, and how to reach it.
	Cluster Cluster
	// Topic is the events topic; its dead-letter topic is Topic + ".dlq".
	Topic string
	// DeadLetterTopic, when set, replaces Topic + ".dlq": the detector
	// reading the resolved topic dead-letters to the source's.
	DeadLetterTopic string
	// Source says how the events topic's messages are read (format and
	// field mapping); nil reads Dowser's envelope. Its topic, when it
	// names one, must be Topic.
	Source *formats.Source
	// GroupID is the consumer group shared by every Dowser instance.
	GroupID string
	// MaxEventBytes bounds one message; larger ones are dead-lettered.
	MaxEventBytes int
	// CheckpointInterval is how often a partition's state is checkpointed
	// and its offset committed.
	CheckpointInterval time.Duration
	// MaxWait bounds how long one fetch waits for new data; it is the
	// latency floor of an idle partition.
	MaxWait time.Duration
	// MaxEventSkew: an event dated more than this after Now is
	// dead-lettered as a bad time; 0 checks nothing.
	MaxEventSkew time.Duration
	// StallThreshold is how long a partition may work on one message (or
	// checkpoint) before it counts as stalled: it is then logged as an
	// error and listed by Stalled. 30 s when zero.
	StallThreshold time.Duration
	// LagInterval is how often the end offsets of the partitions this
	// instance owns are read from Kafka for dowser_consumer_lag. 5 s when
	// zero.
	LagInterval time.Duration
	// Now is the wall clock MaxEventSkew is measured from; time.Now when
	// nil.
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if len(c.Cluster.Brokers) == 0 {
		return errors.New("kafka: no brokers configured")
	}
	if c.Topic == "" {
		return errors.New("kafka: no events topic configured")
	}
	if c.Source == nil {
		c.Source, _ = formats.NewSource(formats.SourceConfig{})
	}
	if t := c.Source.Topic(); t != "" && t != c.Topic {
		return fmt.Errorf("kafka: source topic %q is not the events topic %q: one source topic is read", t, c.Topic)
	}
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = DLQTopic(c.Topic)
	}
	if c.GroupID == "" {
		c.GroupID = "dowser"
	}
	if c.MaxEventBytes <= 0 {
		c.MaxEventBytes = schema.MaxEventBytes
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = 2 * time.Second
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 250 * time.Millisecond
	}
	if c.StallThreshold <= 0 {
		c.StallThreshold = 30 * time.Second
	}
	if c.LagInterval <= 0 {
		c.LagInterval = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// DLQTopic names the dead-letter topic of an events topic.
func DLQTopic(topic string) string { return topic + ".dlq" }

// ResolvedTopic names the topic the identity-resolution stage writes the
// events of an events topic to, re-keyed by their resolved subject; the
// detector reads it instead.
func ResolvedTopic(topic string) string { return topic + ".resolved" }

// Metrics counts what the consumer does.
type Metrics struct {
	consumed   *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	processing prometheus.Histogram
	progress   *progressTable
	// lagRefreshed is when the lag loop last read the end offsets.
	lagRefreshed atomic.Pointer[time.Time]
}

// NewMetrics registers the consumer's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dowser_events_consumed_total",
			Help: "Messages read from the events topic, valid or not, by partition.",
		}, []string{"partition"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dowser_events_rejected_total",
			Help: "Messages sent to the dead-letter topic, by reason.",
		}, []string{"reason"}),
	}
	m.processing = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "dowser_event_processing_seconds",
		Help: "Time from a valid event read to its alerts stored and handed to the sockets, retries included.",
		// 10 µs to about 11 minutes: an event retried for minutes must
		// not vanish into +Inf.
		Buckets: prometheus.ExponentialBuckets(0.00001, 4, 14),
	})
	m.progress = &progressTable{m: map[int]*progress{}}
	reg.MustRegister(m.consumed, m.rejected, m.processing, lagCollector{
		t:         m.progress,
		refreshed: &m.lagRefreshed,
		lag: prometheus.NewDesc("dowser_consumer_lag",
			"Messages from the one this instance is working on (or will read next) to the end of the partition, by partition it owns; the end is read from Kafka every LagInterval, so a partition stuck on one message or checkpoint shows its backlog growing.",
			[]string{"partition"}, nil),
		age: prometheus.NewDesc("dowser_consumer_lag_age_seconds",
			"Seconds since the end offsets behind dowser_consumer_lag were last read from Kafka; grows while reading them fails. Only while this instance owns partitions.",
			nil, nil),
	}, stallCollector{
		t: m.progress,
		desc: prometheus.NewDesc("dowser_partition_stalled_seconds",
			"Seconds a partition this instance owns has been working on its current message or checkpoint (retrying, or waiting on PostgreSQL or Kafka); 0 between messages.",
			[]string{"partition"}, nil),
	})
	return m
}

// progress is where one partition is: the offset it works on, since when,
// the last failure, and its lag. Durations are since clock, on the
// monotonic clock.
type progress struct {
	lagState
	partition int
	clock     time.Time
	offset    atomic.Int64
	since     atomic.Int64           // when work on offset began, plus 1; 0 when idle
	err       atomic.Pointer[string] // the last failure of the current work
	reported  bool                   // the stall was logged; the partition's goroutine only
}

func (p *progress) begin(offset int64, now time.Duration) {
	p.offset.Store(offset)
	p.since.Store(int64(now) + 1)
}

func (p *progress) end() {
	p.since.Store(0)
	if p.err.Load() != nil {
		p.err.Store(nil)
	}
}

// stalledFor is how long the current work has taken, 0 when idle.
func (p *progress) stalledFor(now time.Duration) time.Duration {
	s := p.since.Load()
	if s == 0 {
		return 0
	}
	return max(now-time.Duration(s-1), 0)
}

// progressTable holds the progress of every partition being consumed.
type progressTable struct {
	mu sync.Mutex
	m  map[int]*progress
}

func (t *progressTable) add(p *progress) {
	t.mu.Lock()
	t.m[p.partition] = p
	t.mu.Unlock()
}

func (t *progressTable) remove(p *progress) {
	t.mu.Lock()
	// A newer consumer of the partition (next generation) may be in already.
	if t.m[p.partition] == p {
		delete(t.m, p.partition)
	}
	t.mu.Unlock()
}

func (t *progressTable) all() []*progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]*progress, 0, len(t.m))
	for _, p := range t.m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *progress) int { return a.partition - b.partition })
	return out
}

// stallCollector reports dowser_partition_stalled_seconds at scrape time,
// so that a partition blocked inside one call shows as well as one
// between retries.
type stallCollector struct {
	t    *progressTable
	desc *prometheus.Desc
}

func (s stallCollector) Describe(ch chan<- *prometheus.Desc) { ch <- s.desc }

func (s stallCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range s.t.all() {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.GaugeValue, p.stalledFor(time.Since(p.clock)).Seconds(), strconv.Itoa(p.partition))
	}
}

// Stall is a partition that has worked on one message, or one checkpoint,
// for longer than the stall threshold.
type Stall struct {
	Partition int
	// Offset is the message being worked on (for a checkpoint, the offset
	// it would record).
	Offset int64
	For    time.Duration
	// Err is the last failure; "" when the work is waiting, not failing.
	Err string
}

// Stalled lists the partitions of this consumer stalled right now, by
// partition.
func (c *Consumer) Stalled() []Stall {
	var out []Stall
	for _, p := range c.metrics.progress.all() {
		d := p.stalledFor(time.Since(p.clock))
		if d < c.cfg.StallThreshold {
			continue
		}
		st := Stall{Partition: p.partition, Offset: p.offset.Load(), For: d}
		if e := p.err.Load(); e != nil {
			st.Err = *e
		}
		out = append(out, st)
	}
	return out
}

// done ends the current work of p, noting the end of a stall.
func (c *Consumer) done(p *progress) {
	if p.reported {
		p.reported = false
		c.cfg.Logger.Info("partition moving again after a stall", "partition", p.partition, "offset", p.offset.Load(),
			"stalled_for", p.stalledFor(time.Since(p.clock)).Round(time.Millisecond))
	}
	p.end()
}

// Consumer is one member of the detectors' consumer group.
type Consumer struct {
	cfg     Config
	proc    Processor
	metrics *Metrics
	dlq     *Producer

	assignment atomic.Pointer[Assignment]
	// denied is the refusal (ErrDenied) that keeps the consumer out of
	// its group, nil while none does: Joined reports it.
	denied atomic.Pointer[error]
}

// Assignment is the set of partitions this member owns in one group
// generation.
type Assignment struct {
	// Generation is the group generation; 0 before the first one.
	Generation int
	Partitions []int
	// Changed is closed when a newer assignment replaces this one.
	Changed <-chan struct{}
	changed chan struct{}
}

// Assignment returns the current assignment; empty before the first
// generation and between generations.
func (c *Consumer) Assignment() *Assignment { return c.assignment.Load() }

func (c *Consumer) assign(generation int, parts []int) {
	ch := make(chan struct{})
	if old := c.assignment.Swap(&Assignment{Generation: generation, Partitions: parts, Changed: ch, changed: ch}); old != nil {
		close(old.changed)
	}
}

// NewConsumer returns a consumer feeding proc. Run starts it.
func NewConsumer(cfg Config, proc Processor, metrics *Metrics) (*Consumer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	c := &Consumer{
		cfg:     cfg,
		proc:    proc,
		metrics: metrics,
		dlq:     NewProducer(cfg.Cluster, cfg.DeadLetterTopic),
	}
	c.dlq.w.BatchTimeout = 5 * time.Millisecond
	c.assign(0, nil)
	return c, nil
}

// Run consumes until ctx ends, rejoining the group after each rebalance.
func (c *Consumer) Run(ctx context.Context) error {
	defer c.dlq.Close()
	group, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:                     c.cfg.GroupID,
		Brokers:                c.cfg.Cluster.Brokers,
		Dialer:                 c.cfg.Cluster.dialer(),
		Topics:                 []string{c.cfg.Topic},
		StartOffset:            kafkago.FirstOffset,
		HeartbeatInterval:      time.Second,
		SessionTimeout:         10 * time.Second,
		RebalanceTimeout:       10 * time.Second,
		JoinGroupBackoff:       time.Second,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 5 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("joining consumer group %q: %w", c.cfg.GroupID, err)
	}
	stop := context.AfterFunc(ctx, func() { group.Close() })
	defer stop()
	defer group.Close()

	lagCtx, stopLag := context.WithCancel(ctx)
	var lagDone sync.WaitGroup
	lagDone.Go(func() { c.watchLag(lagCtx) })
	defer lagDone.Wait()
	defer stopLag()

	// A refusal (credentials, ACLs) is retried slowly, the wait doubling
	// up to a minute, each with an error line: kafka-go's group waits for
	// this loop before it tries again, so no connection storm.
	denials := backoff.NewExponentialBackOff()
	denials.InitialInterval = time.Second
	denials.MaxInterval = time.Minute
	denials.MaxElapsedTime = 0
	for {
		// The assignment stays as it is while Next waits for the next
		// generation: kafka-go has no revoke callback to say otherwise.
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafkago.ErrGroupClosed) {
				return nil
			}
			need := "Read on group " + c.cfg.GroupID
			if errors.Is(err, kafkago.TopicAuthorizationFailed) {
				need = "Read on topic " + c.cfg.Topic
			}
			err = explain(err, need)
			if !errors.Is(err, ErrDenied) {
				c.cfg.Logger.Warn("consumer group generation failed; rejoining", "err", err)
				continue
			}
			err = fmt.Errorf("joining consumer group %s on topic %s: %w", c.cfg.GroupID, c.cfg.Topic, err)
			c.denied.Store(&err)
			wait := denials.NextBackOff()
			c.cfg.Logger.Error("kafka refused the consumer; trying again later", "err", err, "in", wait.Round(time.Second))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
			continue
		}
		denials.Reset()
		c.denied.Store(nil)
		assigned := gen.Assignments[c.cfg.Topic]
		parts := make([]int, len(assigned))
		for i, a := range assigned {
			parts[i] = a.ID
		}
		slices.Sort(parts)
		c.cfg.Logger.Info("partitions assigned", "generation", gen.ID, "partitions", parts)
		c.assign(int(gen.ID), parts)
		for _, a := range assigned {
			gen.Start(func(genCtx context.Context) {
				// The generation's context does not end with ours: join them.
				pctx, cancel := context.WithCancel(ctx)
				defer cancel()
				stop := context.AfterFunc(genCtx, cancel)
				defer stop()
				if err := c.consumePartition(pctx, gen, a.ID, a.Offset); err != nil && pctx.Err() == nil {
					c.cfg.Logger.Error("partition stopped", "partition", a.ID, "err", err)
				}
			})
		}
	}
}

// consumePartition reads one partition from offset until ctx ends or the
// partition is lost.
func (c *Consumer) consumePartition(ctx context.Context, gen *kafkago.Generation, partition int, offset int64) error {
	// Times are durations since clock: time.Since reads one clock (the
	// monotonic one), time.Now two.
	clock := time.Now()
	prog := &progress{partition: partition, clock: clock}
	prog.lagState.init(offset)
	c.metrics.progress.add(prog)
	defer c.metrics.progress.remove(prog)

	// Opening claims and restores the partition's state from storage: a
	// failure there is retried like an event's (and reported as a stall),
	// not left as a partition no one reads.
	var handler PartitionHandler
	from := int64(-1)
	prog.begin(offset, time.Since(clock))
	err := c.retry(ctx, "opening partition", prog, func() error {
		var err error
		handler, from, err = c.proc.Partition(ctx, partition)
		return err
	})
	c.done(prog)
	if err != nil {
		return fmt.Errorf("opening partition %d: %w", partition, err)
	}
	if from >= 0 {
		if from != offset {
			// The previous owner stored a checkpoint and died before
			// committing it: commit it now, or a partition with nothing
			// new to read would show a lag that never closes.
			if err := gen.CommitOffsets(map[string]map[int]int64{c.cfg.Topic: {partition: from}}); err != nil {
				c.cfg.Logger.Debug("committing offset", "partition", partition, "offset", from, "err", err)
			}
		}
		offset = from
		prog.lagState.position.Store(offset)
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:   c.cfg.Cluster.Brokers,
		Dialer:    c.cfg.Cluster.dialer(),
		Topic:     c.cfg.Topic,
		Partition: partition,
		MinBytes:  1,
		MaxBytes:  8 << 20,
		MaxWait:   c.cfg.MaxWait,
	})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		return fmt.Errorf("seeking partition %d to %d: %w", partition, offset, err)
	}

	// next is one past the last event handled; saved the last checkpointed.
	// torn is set when an event was left half-handled (its state changed,
	// its effects not yet durable): a checkpoint then would record an
	// effect that never happened, so the next owner must start from the
	// previous one instead.
	next, saved := offset, offset
	torn := false
	lastSave := time.Since(clock)
	requester, _ := handler.(CheckpointRequester)
	checkpoint := func(ctx context.Context, final bool) error {
		lastSave = time.Since(clock)
		due := requester != nil && requester.CheckpointDue()
		if !due && (next < 0 || next == saved) {
			return nil
		}
		prog.begin(next, lastSave)
		defer c.done(prog)
		durable := saved
		err := c.retry(ctx, "checkpointing", prog, func() error {
			d, err := handler.Checkpoint(ctx, next, final)
			if errors.Is(err, ErrNotOwner) {
				return backoff.Permanent(err)
			}
			durable = d
			return err
		})
		if err != nil {
			return err
		}
		if durable == saved || durable < 0 {
			return nil // still writing, or saved for an erasure before any event was read
		}
		saved = durable
		// Commit too, so that standard lag tools see progress; the
		// checkpoint, not this commit, is where a restart resumes.
		if err := gen.CommitOffsets(map[string]map[int]int64{c.cfg.Topic: {partition: saved}}); err != nil {
			c.cfg.Logger.Debug("committing offset", "partition", partition, "offset", saved, "err", err)
		}
		return nil
	}
	defer func() {
		if torn {
			return
		}
		// Losing the partition (rebalance, shutdown): save what was done, so
		// the next owner resumes from here rather than from the last tick.
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := checkpoint(fctx, true); err != nil {
			c.cfg.Logger.Warn("final checkpoint", "partition", partition, "err", err)
		}
	}()

	// The partition's series, looked up once: a lookup hashes the labels.
	consumed := c.metrics.consumed.WithLabelValues(strconv.Itoa(partition))

	// Every event is decoded into ev, with the partition's decoder and its
	// table of recent strings.
	dec := schema.NewDecoder(c.cfg.MaxEventBytes)
	var ev schema.Event

	// A fetch waits until CheckpointInterval after the last message (or
	// idle checkpoint), quietSince: the partition is idle then and
	// checkpoints. One deadline context serves the fetches until it
	// fires, rather than a new one (and its timer) a message; cancelling a
	// fetch loses nothing, kafka-go keeps what it has read for the next.
	quietSince := time.Since(clock)
	fetch := deadlineContext{parent: ctx}
	defer fetch.end()
	for {
		msg, err := r.FetchMessage(fetch.until(clock.Add(quietSince + c.cfg.CheckpointInterval)))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, context.DeadlineExceeded) {
				fetch.end()
				if time.Since(clock)-quietSince < c.cfg.CheckpointInterval {
					continue // messages came since the deadline was set
				}
				// Idle: a good moment to save what the last events did.
				if err := checkpoint(ctx, false); err != nil {
					return err
				}
				quietSince = time.Since(clock)
				continue
			}
			return fmt.Errorf("reading partition %d: %w", partition, explain(err, "Read on topic "+c.cfg.Topic))
		}
		consumed.Inc()
		// The message counts as lag until it is done, however long its
		// retries take.
		prog.position.Store(msg.Offset)
		prog.raiseEnd(msg.HighWaterMark)
		start := time.Since(clock)
		prog.begin(msg.Offset, start)
		err = c.decode(dec, &msg, &ev)
		if err == nil && c.cfg.MaxEventSkew > 0 {
			err = ev.CheckClock(c.cfg.Now(), c.cfg.MaxEventSkew)
		}
		if err != nil {
			if err := c.deadLetter(ctx, msg, rejectReason(err), err, prog); err != nil {
				return err
			}
		} else {
			err := c.handle(ctx, handler, &ev, prog)
			switch {
			case errors.Is(err, ErrPermanent):
				// The handler has given up on this event (and is ready for
				// the next): keep it, with why, and go on.
				if err := c.deadLetter(ctx, msg, schema.ReasonProcessingFailed, err, prog); err != nil {
					// The handler's state may count the event: a checkpoint
					// now would skip it without its dead letter.
					torn = true
					return err
				}
			case err != nil:
				torn = true
				return err
			default:
				c.metrics.processing.Observe((time.Since(clock) - start).Seconds())
			}
		}
		now := time.Since(clock)
		c.done(prog)
		next = msg.Offset + 1
		prog.position.Store(next)
		quietSince = now
		if now-lastSave >= c.cfg.CheckpointInterval {
			if err := checkpoint(ctx, false); err != nil {
				return err
			}
			quietSince = time.Since(clock)
		}
	}
}

// deadlineContext is a context with a deadline that is made anew only
// after end.
type deadlineContext struct {
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
}

// until returns the context, made with deadline if there is none since the
// last end.
func (d *deadlineContext) until(deadline time.Time) context.Context {
	if d.ctx == nil {
		d.ctx, d.cancel = context.WithDeadline(d.parent, deadline)
	}
	return d.ctx
}

// end releases the context.
func (d *deadlineContext) end() {
	if d.cancel != nil {
		d.cancel()
		d.ctx, d.cancel = nil, nil
	}
}

// retry runs op until it succeeds, fails permanently (backoff.Permanent)
// or ctx ends, backing off exponentially with jitter up to 5 s: a failing
// dependency pauses the partition instead of losing its events. Each
// failure is logged with the partition and offset of p and noted in p;
// once the work has taken longer than the stall threshold, the first
// failure after is logged as an error.
func (c *Consumer) retry(ctx context.Context, what string, p *progress, op func() error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 0
	return backoff.RetryNotify(op, backoff.WithContext(b, ctx), func(err error, wait time.Duration) {
		msg := err.Error()
		p.err.Store(&msg)
		stalled := p.stalledFor(time.Since(p.clock))
		attrs := []any{"partition", p.partition, "offset", p.offset.Load(), "err", err, "stalled_for", stalled.Round(time.Millisecond), "in", wait}
		if stalled >= c.cfg.StallThreshold && !p.reported {
			p.reported = true
			c.cfg.Logger.Error("partition stalled: "+what+" keeps failing at the same offset; retrying", attrs...)
			return
		}
		c.cfg.Logger.Warn(what+" failed; retrying", attrs...)
	})
}

func (c *Consumer) handle(ctx context.Context, h PartitionHandler, ev *schema.Event, p *progress) error {
	// The first attempt goes without the backoff's allocations; a failure
	// is the first attempt of the retries, as if it had been made there.
	err := h.Handle(ctx, ev)
	if err == nil || errors.Is(err, ErrPermanent) {
		return err
	}
	return c.retry(ctx, "processing event", p, func() error {
		if first := err; first != nil {
			err = nil
			return first
		}
		err := h.Handle(ctx, ev)
		if errors.Is(err, ErrPermanent) {
			return backoff.Permanent(err)
		}
		return err
	})
}

// decode decodes msg into ev with the mapping of its format: the one its
// headers name, else the events topic's. The envelope is decoded by dec,
// the partition's schema.Decoder, as it always was; a message without
// headers costs no more than that.
func (c *Consumer) decode(dec *schema.Decoder, msg *kafkago.Message, ev *schema.Event) error {
	m := c.cfg.Source.Mapping()
	if len(msg.Headers) > 0 {
		var err error
		if m, err = c.cfg.Source.For(messageFormat(msg.Headers)); err != nil {
			*ev = schema.Event{}
			return &schema.EventError{Reason: schema.ReasonBadField, Field: HeaderFormat, Detail: err.Error()}
		}
	}
	if m.Envelope() {
		return dec.Decode(msg.Value, ev)
	}
	var headers []formats.Header
	if m.Format() == formats.CloudEvents {
		headers = make([]formats.Header, len(msg.Headers))
		for i, h := range msg.Headers {
			headers[i] = formats.Header(h)
		}
	}
	var err error
	*ev, err = m.Convert(formats.Message{Value: msg.Value, Headers: headers}, c.cfg.MaxEventBytes)
	return err
}

// messageFormat is the format a message's headers name: HeaderFormat's
// value, else cloudevents for a binary CloudEvent, else "" (its topic's).
func messageFormat(headers []kafkago.Header) string {
	format := ""
	for _, h := range headers {
		switch h.Key {
		case HeaderFormat:
			// The known names as constants: a conversion in a switch
			// does not allocate.
			switch string(h.Value) {
			case formats.Dowser:
				return formats.Dowser
			case formats.Segment:
				return formats.Segment
			case formats.Snowplow:
				return formats.Snowplow
			case formats.CloudEvents:
				return formats.CloudEvents
			}
			return string(h.Value)
		case "ce_specversion":
			format = formats.CloudEvents
		}
	}
	return format
}

// rejectReason is the dead-letter reason of a decoding error.
func rejectReason(err error) string {
	var ee *schema.EventError
	if errors.As(err, &ee) {
		return ee.Reason
	}
	return schema.ReasonNotJSON
}

func (c *Consumer) deadLetter(ctx context.Context, msg kafkago.Message, reason string, cause error, p *progress) error {
	c.metrics.rejected.WithLabelValues(reason).Inc()
	// The message's own details are personal data; log only where it was,
	// and for a processing failure our own error, which names the cause.
	if reason == schema.ReasonProcessingFailed {
		c.cfg.Logger.Error("event failed for good; sent to dead-letter topic", "partition", msg.Partition, "offset", msg.Offset, "reason", reason, "err", cause)
	} else {
		c.cfg.Logger.Warn("event rejected to dead-letter topic", "partition", msg.Partition, "offset", msg.Offset, "reason", reason)
	}
	out := kafkago.Message{
		Key:   msg.Key,
		Value: msg.Value,
		Headers: append(append([]kafkago.Header(nil), msg.Headers...),
			kafkago.Header{Key: HeaderReason, Value: []byte(reason)},
			kafkago.Header{Key: HeaderError, Value: []byte(cause.Error())},
			kafkago.Header{Key: HeaderTopic, Value: []byte(msg.Topic)},
			kafkago.Header{Key: HeaderPartition, Value: []byte(strconv.Itoa(msg.Partition))},
			kafkago.Header{Key: HeaderOffset, Value: []byte(strconv.FormatInt(msg.Offset, 10))},
		),
	}
	return c.writeDeadLetter(ctx, out, p)
}

// writeDeadLetter writes m to the dead-letter topic, retrying transient
// failures. A copy Kafka refuses for what it is (too large for the writer
// or the broker, an invalid record) would be refused for ever: it is cut
// down by shrink and written again, so that the partition goes on.
func (c *Consumer) writeDeadLetter(ctx context.Context, m kafkago.Message, p *progress) error {
	for {
		err := c.retry(ctx, "writing to dead-letter topic", p, func() error {
			err := c.dlq.w.WriteMessages(ctx, m)
			if refused(err) {
				return backoff.Permanent(err)
			}
			return c.cfg.Cluster.explain(ctx, err, "Write on topic "+c.cfg.DeadLetterTopic)
		})
		if err == nil || !refused(err) {
			return err
		}
		if !shrink(&m, c.cfg.MaxEventBytes) {
			// Nothing left to cut: wait like for any other failure, as a
			// visible stall, rather than lose the message.
			return c.retry(ctx, "writing to dead-letter topic", p, func() error {
				return c.cfg.Cluster.explain(ctx, c.dlq.w.WriteMessages(ctx, m), "Write on topic "+c.cfg.DeadLetterTopic)
			})
		}
		c.cfg.Logger.Warn("dead-letter copy refused; writing it cut down", "partition", p.partition, "offset", p.offset.Load(),
			"value_bytes", len(m.Value), "headers", len(m.Headers), "err", err)
	}
}

// refused reports whether Kafka refused a record for what it is, which
// sending it again cannot change: MESSAGE_TOO_LARGE (10, also what the
// kafka-go writer says of a message above its BatchBytes),
// RECORD_LIST_TOO_LARGE (18), INVALID_RECORD (87).
func refused(err error) bool {
	var werrs kafkago.WriteErrors
	if errors.As(err, &werrs) {
		return slices.ContainsFunc(werrs, func(e error) bool { return e != nil && refused(e) })
	}
	return errors.Is(err, kafkago.MessageSizeTooLarge) || errors.Is(err, kafkago.RecordListTooLarge) || errors.Is(err, kafkago.InvalidRecord)
}

// shrink cuts a dead-letter copy down one step: the value first, to at
// most limit (the largest event that is not too large itself) and then by
// half, marked with HeaderTruncated and the original size; once the value
// is empty, the producer's own headers go. It reports false when only the
// key and Dowser's headers are left.
func shrink(m *kafkago.Message, limit int) bool {
	if len(m.Value) > 0 {
		if !slices.ContainsFunc(m.Headers, func(h kafkago.Header) bool { return h.Key == HeaderTruncated }) {
			m.Headers = append(m.Headers, kafkago.Header{Key: HeaderTruncated, Value: []byte(strconv.Itoa(len(m.Value)))})
		}
		n := len(m.Value) / 2
		if len(m.Value) > limit {
			n = limit
		}
		m.Value = m.Value[:n:n]
		return true
	}
	ours := func(h kafkago.Header) bool {
		switch h.Key {
		case HeaderReason, HeaderError, HeaderTopic, HeaderPartition, HeaderOffset, HeaderTruncated:
			return true
		}
		return false
	}
	if !slices.ContainsFunc(m.Headers, func(h kafkago.Header) bool { return !ours(h) }) {
		return false
	}
	m.Headers = slices.DeleteFunc(slices.Clone(m.Headers), func(h kafkago.Header) bool { return !ours(h) })
	return true
}
