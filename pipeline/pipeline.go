package pipeline

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/notify"
	"github.com/dowserhq/dowser/schema"
)

// Config is the pipeline's collaborators and settings. Every collaborator
// must be set; in the service, the stores are postgres's.
type Config struct {
	// Group and Topic are the consumer group and the events topic: the
	// key of the partitions' checkpoints.
	Group string
	Topic string

	Checkpoints CheckpointStore
	Alerts      AlertStore
	Accounts    AccountStore
	Privacy     PrivacyStore
	Signals     SignalStore
	Router      Router
	// Hub delivers stored alerts to the sockets of this instance at once.
	Hub Hub
	// Broadcast carries stored alerts to every instance (the alerts
	// topic); Run runs it.
	Broadcast Broadcaster
	// Journey, when set, is handed every event the detector evaluates
	// (tracked, not a duplicate): the buyer's journey. Nil keeps none.
	Journey Journey

	// Instance names this instance across its restarts (the host name,
	// say): its claims carry it, and Warm restores the partitions it held.
	// Empty: no warm restarts.
	Instance string
	// CheckpointInterval is how often kafka asks for a checkpoint
	// (--checkpoint-interval): checkpoints more than three behind are
	// reported.
	CheckpointInterval time.Duration
	// ColdAfter is how long a subject no event touches stays decoded
	// before the detector keeps it encoded (--cold-after); 0 keeps it
	// decoded once thawed. See detector.Engine.SetColdAfter.
	ColdAfter time.Duration
	// SignalsPoll is how often the signals and the privacy lists are
	// reloaded (--signals-poll).
	SignalsPoll time.Duration
	// MaxEnabledSignals is --max-enabled-signals, for a warning when more
	// are enabled; 0: none.
	MaxEnabledSignals int
	// Retention is how long alerts are kept (--retention); 0 keeps them.
	Retention time.Duration
	// PrivacyKey keys the pseudonyms of people in logs.
	PrivacyKey []byte
	// KeepURLParams are the query parameters evidence URLs keep; every
	// other one, and fragments and user info, are stripped.
	KeepURLParams []string
	// Lateness is how late, by the wall clock, events may arrive at a
	// quiet partition and still count for silences: a partition that
	// handled no event for a CheckpointInterval moves the detector's event
	// time (detector.Engine.Advance) to its newest event time plus the
	// time it has been quiet, but no later than now − Lateness, so that a
	// silence fires although no later event comes. 0 means
	// DefaultLateness; a negative value turns the fallback off.
	Lateness time.Duration

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// DefaultLateness is Config.Lateness when it is left 0.
const DefaultLateness = 5 * time.Minute

// CheckpointStore keeps each partition's detector state with the offset
// it reflects, as a header and rows: *postgres.Checkpoints.
type CheckpointStore interface {
	ClaimCheckpoint(ctx context.Context, group, topic string, partition int, owner string) (dowser.Checkpoint, error)
	CheckpointStates(ctx context.Context, group, topic string) (map[int]dowser.Checkpoint, error)
	LoadCheckpointRows(ctx context.Context, checkpointID int64, fn func(key string, data []byte) error) error
	DeltaStore
}

// AlertStore stores an alert with its deliveries and outbox row:
// *postgres.Alerts.
type AlertStore interface {
	SaveAlert(ctx context.Context, a *schema.Alert, recipients []string) (dowser.SavedAlert, error)
}

// AccountStore answers an account's lifecycle, for events that carry
// none, and its name, for message templates: *postgres.Directory.
type AccountStore interface {
	// AccountProfile returns "", "" for an unknown account.
	AccountProfile(ctx context.Context, accountID string) (lifecycle, name string, err error)
}

// Router decides who hears of an alert: *notify.Router.
type Router interface {
	Route(ctx context.Context, a *schema.Alert) (notify.Route, error)
}

// Hub pushes deliveries to the sockets of this instance: *notify.Hub.
type Hub interface {
	Deliver(ds ...schema.Delivery)
}

// Broadcaster puts stored alerts on the alerts topic without making the
// partition wait: *broadcast.Broadcaster.
type Broadcaster interface {
	Publish(saved dowser.SavedAlert)
	Run(ctx context.Context) error
}

// Journey keeps the accepted events for the buyer's journey without
// making the partition wait: *journey.Writer.
type Journey interface {
	Record(ev *schema.Event)
}

var (
	_ Router = (*notify.Router)(nil)
	_ Hub    = (*notify.Hub)(nil)
)

// Pipeline connects kafka to the detector, storage and delivery: each
// assigned partition gets its own engine, fed in offset order.
type Pipeline struct {
	cfg     Config
	log     *slog.Logger
	privacy *privacy
	signals *signalSet
	fired   *prometheus.CounterVec
	skipped *prometheus.CounterVec // owners routing passed over
	cp      *checkpointMetrics
	// whereStopped counts where evaluations stopped at a CEL limit.
	whereStopped prometheus.Counter

	lifecycles lifecycleCache
	warm       warmStates
}

var _ kafka.Processor = (*Pipeline)(nil)

// New builds the pipeline and registers its metrics. Call Load before
// the consumer starts and Run beside it.
func New(cfg Config) (*Pipeline, error) {
	if cfg.Checkpoints == nil || cfg.Alerts == nil || cfg.Accounts == nil || cfg.Privacy == nil || cfg.Signals == nil ||
		cfg.Router == nil || cfg.Hub == nil || cfg.Broadcast == nil || cfg.Logger == nil || cfg.Registerer == nil {
		return nil, errors.New("pipeline: every collaborator of Config must be set")
	}
	if cfg.SignalsPoll <= 0 {
		return nil, fmt.Errorf("pipeline: SignalsPoll %v must be more than 0", cfg.SignalsPoll)
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = 2 * time.Second
	}
	if cfg.Lateness == 0 {
		cfg.Lateness = DefaultLateness
	}
	p := &Pipeline{
		cfg: cfg, log: cfg.Logger,
		cp: newCheckpointMetrics(),
		fired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dowser_alerts_fired_total",
			Help: "Alerts stored, by signal and priority.",
		}, []string{"signal", "priority"}),
		whereStopped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dowser_where_stopped_total",
			Help: "Where expressions stopped at their cost or size limit (the event did not match).",
		}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dowser_routing_owner_skipped_total",
			Help: "Stored owners routing passed over because they are no user or their role no longer fits, by step.",
		}, []string{"step"}),
		lifecycles: lifecycleCache{ttl: 30 * time.Second, m: map[string]lifecycleEntry{}},
	}
	cfg.Registerer.MustRegister(p.fired, p.skipped, p.whereStopped)
	cfg.Registerer.MustRegister(p.cp.collectors()...)
	p.warm.m = map[int]*warming{}
	p.signals = newSignalSet(cfg.Signals, cfg.SignalsPoll, cfg.Logger)
	p.signals.maxEnabled = cfg.MaxEnabledSignals
	p.privacy = newPrivacy(&cfg)
	return p, nil
}

// Load reads the enabled signals, the do-not-track list and the erasure
// queue: the first partition must not start without them.
func (p *Pipeline) Load(ctx context.Context) error {
	if err := p.signals.load(ctx); err != nil {
		return err
	}
	return p.privacy.load(ctx)
}

// Run keeps the signals and the privacy lists fresh, purges old alerts and
// runs the broadcaster, until ctx ends.
func (p *Pipeline) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.signals.Run(ctx) })
	g.Go(func() error { return p.privacy.Run(ctx) })
	g.Go(func() error { return p.cfg.Broadcast.Run(ctx) })
	return g.Wait()
}

// Signals returns the signals the partitions' engines evaluate now, and a
// channel closed when they change.
func (p *Pipeline) Signals() ([]*detector.Signal, <-chan struct{}) {
	snap := p.signals.current()
	return snap.signals, snap.next
}

// DoNotTrack reports whether the do-not-track list in force names the
// customer or account id; kind is dowser.DNTCustomer or DNTAccount.
func (p *Pipeline) DoNotTrack(kind, id string) bool {
	return (*p.privacy.dnt.Load())[kind][id]
}

// Partition implements kafka.Processor: it claims the partition's
// checkpoint, so that a previous owner still running can no longer save
// over it, restores the detector state and resumes at the offset that
// state reflects.
func (p *Pipeline) Partition(ctx context.Context, partition int) (kafka.PartitionHandler, int64, error) {
	// A random token, to tell this claim from any other, after the
	// instance's name, to find its partitions again after a restart.
	owner := p.cfg.Instance + "/" + rand.Text()
	cp, err := p.cfg.Checkpoints.ClaimCheckpoint(ctx, p.cfg.Group, p.cfg.Topic, partition, owner)
	if err != nil {
		return nil, 0, err
	}
	// A state restored ahead is current when nothing was saved since it
	// was read: the claim fences off any later save.
	r := p.warm.take(ctx, partition)
	warm := r != nil && r.cp.ID == cp.ID && r.cp.Saves == cp.Saves
	if !warm {
		if r, err = p.restore(ctx, partition, cp); err != nil {
			return nil, 0, err
		}
	}
	p.cp.restore.Observe(r.took.Seconds())
	// After the restore: the evidence an older build kept is cleaned too.
	r.engine.SetEvidenceURL(p.privacy.evidenceURL)
	if p.cfg.ColdAfter > 0 {
		// Checkpoints are taken about every interval while events come.
		r.engine.SetColdAfter(int(max(1, (p.cfg.ColdAfter+p.cfg.CheckpointInterval-1)/p.cfg.CheckpointInterval)))
	}
	w := &partitionWorker{p: p, partition: partition, owner: owner, snap: r.snap, engine: r.engine, erased: cp.ErasureSeq,
		cp: newCheckpointer(ctx, p.cfg.Checkpoints, p, partition, owner, cp.NextOffset),
		// Not quiet yet: a backlog gets a checkpoint interval to arrive
		// before the event time is advanced past it.
		lastEvent: time.Now()}
	if t, ok := r.engine.Watermark(); ok {
		w.newest = t
	}
	if r.reset {
		w.cp.reset = true
		w.cp.changed()
	}
	if w.applyErasures() {
		w.cp.changed()
	}
	p.log.Info("partition opened", "partition", partition, "checkpoint_offset", cp.NextOffset, "state_rows", r.rows,
		"legacy_bytes", len(cp.Legacy), "restore", r.took.Round(time.Millisecond), "warm", warm)
	return w, cp.NextOffset, nil
}

// restore rebuilds the engine of a partition from its checkpoint, with
// the signals in force: the header and every row, or a whole-state
// snapshot an older build saved (rewritten as rows by the first
// checkpoint). A state that cannot be read (from an incompatible build,
// say) costs the windows it held, not the partition: the engine starts
// empty at the checkpoint's offset. Either way reset is set: the first
// checkpoint must replace every stored row. A failure to read is returned.
func (p *Pipeline) restore(ctx context.Context, partition int, cp dowser.Checkpoint) (*restored, error) {
	start := time.Now()
	snap := p.signals.current()
	r := &restored{cp: cp, snap: snap, engine: detector.New(snap.signals)}
	defer func() { r.took = time.Since(start) }()
	if len(cp.Legacy) > 0 {
		r.reset = true
		if err := r.engine.RestoreSnapshot(cp.Legacy); err != nil {
			p.log.Error("checkpoint state unreadable; resuming with empty state", "partition", partition, "offset", cp.NextOffset, "err", err)
			r.engine = detector.New(snap.signals)
		} else {
			p.log.Info("checkpoint of the layout before incremental checkpoints restored; its first checkpoint rewrites it as rows", "partition", partition, "bytes", len(cp.Legacy))
		}
		r.engine.MarkAllChanged()
		return r, nil
	}
	rs, err := r.engine.BeginRestore(cp.Meta)
	if err == nil {
		err = p.cfg.Checkpoints.LoadCheckpointRows(ctx, cp.ID, func(key string, data []byte) error {
			r.rows++
			if err := rs.Add(key, data); err != nil {
				return &unreadable{err}
			}
			return nil
		})
		var bad *unreadable
		if err != nil && !errors.As(err, &bad) {
			return nil, fmt.Errorf("reading the checkpoint of partition %d: %w", partition, err)
		}
		if err == nil {
			err = rs.Finish()
		}
	}
	if err != nil {
		p.log.Error("checkpoint state unreadable; resuming with empty state", "partition", partition, "offset", cp.NextOffset, "err", err)
		r.engine, r.reset = detector.New(snap.signals), true
	}
	return r, nil
}

// unreadable marks a row the engine could not decode, as opposed to a
// failure to read rows at all.
type unreadable struct{ err error }

func (u *unreadable) Error() string { return u.err.Error() }
func (u *unreadable) Unwrap() error { return u.err }
