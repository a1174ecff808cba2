package resolve

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/kafka"
)

// Store is the identity graph: *postgres.Identities. Each method is
// idempotent, so that a replayed event changes nothing.
type Store interface {
	// RememberAnonymous resolves a batch of anonymous events (the i-th of
	// anons[i], with eventIDs[i], times[i], encoded as events[i]): for
	// each, the customer its anonymous id is linked to, with account and
	// lifecycle, or "" when it is linked to none, and then the event is
	// remembered.
	RememberAnonymous(ctx context.Context, anons, eventIDs []string, times []time.Time, events [][]byte) (customers, accounts, lifecycles []string, err error)
	// LinkAnonymous links anon to customer; when that changes anon's
	// customer it first calls emit with anon's remembered events dated at
	// or after since, oldest first, and forgets them only once emit
	// succeeded. It reports whether the customer changed.
	LinkAnonymous(ctx context.Context, anon, customer, account, lifecycle string, since time.Time, emit func(events [][]byte) error) (changed bool, err error)
	// PurgeRememberedBefore forgets remembered events dated before cutoff,
	// at most limit of them; it returns how many.
	PurgeRememberedBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error)
}

// Producer writes messages to the resolved topic, keyed, and returns only
// once the broker acknowledged them: *kafka.Producer.
type Producer interface {
	Produce(ctx context.Context, msgs ...kafka.Message) error
}

var _ Producer = (*kafka.Producer)(nil)

// Config is the stage's collaborators and settings.
type Config struct {
	// Store is the identity graph; nil turns resolution off, and the
	// stage only re-keys: every event passes on as it came, keyed by its
	// subject (several source topics onto one, see Source).
	Store Store
	// Out writes to the resolved topic.
	Out Producer
	// Horizon is how far back, in event time, a new link re-emits a
	// visitor's events and how long they are remembered: the longest
	// horizon of the signals in force (see Horizon). It is read at each
	// link and each purge. Needed only with a Store.
	Horizon func() time.Duration
	// DoNotTrack reports whether the do-not-track list names the id (kind
	// "customer" or "account"); such events are passed on untouched (the
	// detector drops them) and never enter the graph. Nil: none.
	DoNotTrack func(kind, id string) bool
	// MaxPending is how many messages a partition holds before it waits
	// for them to be acknowledged; 2,000 when zero.
	MaxPending int
	// PurgeEvery is how often remembered events past the horizon are
	// deleted; 10 minutes when zero.
	PurgeEvery time.Duration
	// Now is the wall clock of the purge; time.Now when nil.
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// MinHorizon is the least time a visitor's anonymous events are kept for
// a link, even with no signal that looks back that far: a signal enabled
// later still sees the last day of them.
const MinHorizon = 24 * time.Hour

// Horizon is how far back the signals look at most: twice the window of
// a threshold or sequence, twice the half-life of a score (what the
// detector keeps for a subject), and at least MinHorizon.
func Horizon(signals []*detector.Signal) time.Duration {
	h := MinHorizon
	for _, s := range signals {
		var d detector.Duration
		switch w := s.When; {
		case w.Threshold != nil:
			d = 2 * w.Threshold.Within
		case w.Sequence != nil:
			d = 2 * w.Sequence.Within
		case w.Score != nil:
			d = 2 * w.Score.HalfLife
		}
		h = max(h, time.Duration(d))
	}
	return h
}

// Resolver is the stage: a kafka.Processor for the source topic.
type Resolver struct {
	cfg     Config
	metrics *metrics
}

var _ kafka.Processor = (*Resolver)(nil)

// New returns the stage and registers its metrics.
func New(cfg Config) (*Resolver, error) {
	if cfg.Out == nil || cfg.Logger == nil || cfg.Registerer == nil {
		return nil, errors.New("resolve: Out, Logger and Registerer must be set")
	}
	if cfg.Store != nil && cfg.Horizon == nil {
		return nil, errors.New("resolve: a Store needs a Horizon")
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 2000
	}
	if cfg.PurgeEvery <= 0 {
		cfg.PurgeEvery = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := newMetrics()
	cfg.Registerer.MustRegister(m.events, m.reemitted, m.purged)
	return &Resolver{cfg: cfg, metrics: m}, nil
}

// Partition implements kafka.Processor: a partition resumes at the
// group's committed offset, which covers only what was acknowledged.
func (r *Resolver) Partition(ctx context.Context, partition int) (kafka.PartitionHandler, int64, error) {
	return r.partition(ctx, "", partition)
}

func (r *Resolver) partition(ctx context.Context, topic string, partition int) (kafka.PartitionHandler, int64, error) {
	o := &outbox{r: r, topic: topic, partition: partition, wake: make(chan struct{}, 1)}
	h := &handler{r: r, partition: partition, out: o}
	go o.run(ctx)
	return h, -1, nil
}

// Source is the stage as the processor of one source topic, for a
// consumer of its own: the stage reads any number of source topics, each
// in its own consumer group, and passes all their events on to the one
// resolved topic, keyed by subject, so that a subject's events from every
// source reach one detector partition. Each source partition's order is
// kept; events of different sources interleave as they are handled. The
// topic names the source in logs.
func (r *Resolver) Source(topic string) kafka.Processor { return source{r: r, topic: topic} }

type source struct {
	r     *Resolver
	topic string
}

func (s source) Partition(ctx context.Context, partition int) (kafka.PartitionHandler, int64, error) {
	return s.r.partition(ctx, s.topic, partition)
}

// Run deletes remembered anonymous events past the horizon every
// PurgeEvery, until ctx ends; without a Store it only waits for ctx.
func (r *Resolver) Run(ctx context.Context) error {
	if r.cfg.Store == nil {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(r.cfg.PurgeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cutoff := r.cfg.Now().Add(-r.cfg.Horizon())
		for {
			n, err := r.cfg.Store.PurgeRememberedBefore(ctx, cutoff, 10_000)
			if err != nil {
				if ctx.Err() == nil {
					r.cfg.Logger.Warn("purging remembered anonymous events", "err", err)
				}
				break
			}
			r.metrics.purged.Add(float64(n))
			if n < 10_000 {
				break
			}
		}
	}
}

type metrics struct {
	events    *prometheus.CounterVec
	reemitted prometheus.Counter
	purged    prometheus.Counter
}

// Outcomes of an event in dowser_resolve_events_total.
const (
	outcomePassed     = "passed"     // no anonymous id to resolve, not to be tracked, or resolution off
	outcomeRemembered = "remembered" // anonymous, not linked: passed on as itself
	outcomeResolved   = "resolved"   // anonymous, linked: passed on as the customer
	outcomeLinked     = "linked"     // carried a new link: earlier events re-emitted
)

func newMetrics() *metrics {
	return &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dowser_resolve_events_total",
			Help: "Events the identity-resolution stage passed on, by outcome: passed, remembered (anonymous, not linked), resolved (anonymous, linked to a customer), linked (a new link).",
		}, []string{"outcome"}),
		reemitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dowser_resolve_reemitted_total",
			Help: "Earlier anonymous events re-emitted as their customer's when a link was learnt.",
		}),
		purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dowser_resolve_remembered_purged_total",
			Help: "Remembered anonymous events deleted for being older than the longest signal horizon.",
		}),
	}
}
