package broadcast

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/schema"
)

// Config is what a Broadcaster needs: where the alerts topic is, how it is
// created, and its collaborators.
type Config struct {
	// Kafka is the cluster of the alerts topic.
	Kafka kafka.Cluster
	// Topic is the alerts topic (--alerts-topic).
	Topic string
	// Partitions, Replication and Retention apply when EnsureTopic creates
	// the topic; Retention 0 means 24 hours.
	Partitions  int
	Replication int
	Retention   time.Duration
	// RelayEvery is how often the outbox relay looks for rows left behind
	// (1 s when 0); TombstonesEvery how often erased alerts' tombstones
	// are written (1 s when 0).
	RelayEvery      time.Duration
	TombstonesEvery time.Duration
	Outbox          Outbox
	Erasures        Erasures
	Hub             Hub
	Logger          *slog.Logger
}

// Outbox is the alert messages stored with their alerts: *postgres.Alerts.
type Outbox interface {
	MarkPublished(ctx context.Context, ids ...int64) error
	PublishPending(ctx context.Context, olderThan time.Duration, limit int, publish func(context.Context, []dowser.OutboxMessage) error) (int, error)
}

// Erasures tells which alerts were erased, and hands out their tombstones:
// *postgres.Privacy.
type Erasures interface {
	AlertsGone(ctx context.Context, ids []string) ([]string, error)
	PublishTombstones(ctx context.Context, limit int, publish func(context.Context, []string) error) (int, error)
}

// Hub pushes deliveries to the sockets of this instance: *notify.Hub.
type Hub interface {
	Deliver(ds ...schema.Delivery)
}

// Broadcaster publishes stored alerts on the alerts topic and delivers
// what the topic carries, from any instance, to this instance's hub.
type Broadcaster struct {
	cfg      Config
	log      *slog.Logger
	producer *kafka.Producer
	tail     *kafka.Tailer
	// toPublish carries stored alerts from the partitions to publishLoop.
	toPublish chan dowser.SavedAlert
}

// publishQueue bounds the stored alerts waiting for publishLoop; beyond
// it, the outbox relay publishes them.
const publishQueue = 4096

// New resolves where the alerts topic ends now, so that every message
// written after New returns reaches this instance's hub once Run runs.
func New(ctx context.Context, cfg Config) (*Broadcaster, error) {
	if cfg.Outbox == nil || cfg.Erasures == nil || cfg.Hub == nil || cfg.Logger == nil {
		return nil, errors.New("broadcast: Outbox, Erasures, Hub and Logger must be set")
	}
	if cfg.RelayEvery <= 0 {
		cfg.RelayEvery = time.Second
	}
	if cfg.TombstonesEvery <= 0 {
		cfg.TombstonesEvery = time.Second
	}
	tail, err := kafka.NewTailer(ctx, cfg.Kafka, cfg.Topic, cfg.Logger)
	if err != nil {
		return nil, err
	}
	return &Broadcaster{
		cfg: cfg, log: cfg.Logger, tail: tail,
		producer:  kafka.NewProducer(cfg.Kafka, cfg.Topic),
		toPublish: make(chan dowser.SavedAlert, publishQueue),
	}, nil
}

// Run publishes, relays and fans out until ctx ends; then it publishes
// what is still queued, for a few seconds at most. Only a failure to read
// the topic ends it early.
func (b *Broadcaster) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return b.tail.Run(ctx, b.fanOut) })
	g.Go(func() error { return b.publishLoop(ctx) })
	g.Go(func() error { return b.relayOutbox(ctx) })
	g.Go(func() error { return b.relayTombstones(ctx) })
	return g.Wait()
}

// Close closes the producer; call it after Run has returned.
func (b *Broadcaster) Close() error { return b.producer.Close() }
