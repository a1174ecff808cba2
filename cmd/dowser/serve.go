package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/dowserhq/dowser/api"
	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/ingest"
	"github.com/dowserhq/dowser/notify"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/schema"
	"github.com/dowserhq/dowser/web"
)

// serveConfig is the configuration of `dowser serve` (and demo).
type serveConfig struct {
	HTTPAddr          string
	DatabaseURL       string
	KafkaBrokers      string
	EmbeddedKafkaAddr string
	EmbeddedKafkaDir  string
	EventsTopic       string
	AlertsTopic       string
	GroupID           string
	Partitions        int
	Replication       int
	AdminToken        string
	AllowedOrigins    string
	MaxEventBytes     int
	SignalsPoll       time.Duration
	CheckpointEvery   time.Duration
	Retention         time.Duration
	Log               logConfig

	// Demo seeds demo data and runs the traffic generator.
	Demo     bool
	DemoRate float64
}

func (c *serveConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http", "127.0.0.1:8080", "HTTP listen address (API, websocket, web panel, metrics)")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL (also read from DATABASE_URL)")
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "", "comma-separated Kafka bootstrap brokers; empty starts the embedded broker")
	fs.StringVar(&c.EmbeddedKafkaAddr, "embedded-kafka-addr", "127.0.0.1:9092", "listen address of the embedded Kafka broker")
	fs.StringVar(&c.EmbeddedKafkaDir, "embedded-kafka-dir", "", "folder where the embedded broker persists its data; empty keeps it in memory")
	fs.StringVar(&c.EventsTopic, "events-topic", "dowser.events", "Kafka topic of customer-behaviour events; bad events go to <topic>.dlq")
	fs.StringVar(&c.AlertsTopic, "alerts-topic", "dowser.alerts", "Kafka topic every instance reads to push alerts detected anywhere to its own websockets")
	fs.StringVar(&c.GroupID, "group-id", "dowser", "Kafka consumer group shared by all instances")
	fs.IntVar(&c.Partitions, "partitions", 6, "partition count of topics Dowser creates")
	fs.IntVar(&c.Replication, "replication", 1, "replication factor of topics Dowser creates")
	fs.StringVar(&c.AdminToken, "admin-token", "", "create or update the user \"admin\" with this login token at start-up")
	fs.StringVar(&c.AllowedOrigins, "allowed-origins", "", "comma-separated extra browser origins allowed to open the websocket")
	fs.IntVar(&c.MaxEventBytes, "max-event-bytes", 64<<10, "largest accepted event; larger ones are dead-lettered")
	fs.DurationVar(&c.CheckpointEvery, "checkpoint-interval", 2*time.Second, "how often each partition's detector state is saved to PostgreSQL with its offset; a restart replays at most this much")
	fs.DurationVar(&c.Retention, "retention", 0, "delete alerts (and their evidence and deliveries) older than this, e.g. 8760h; 0 keeps them forever")
	fs.DurationVar(&c.SignalsPoll, "signals-poll", time.Second, "how often to check PostgreSQL for signal changes")
	c.Log.register(fs)
}

func runServe(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string, demo bool) error {
	name := "serve"
	if demo {
		name = "demo"
	}
	fs := newFlagSet(name)
	var cfg serveConfig
	cfg.register(fs)
	cfg.Demo = demo
	if demo {
		fs.Float64Var(&cfg.DemoRate, "demo-rate", 20, "synthetic events per second produced by the demo traffic generator")
	}
	if err := parseFlags(fs, args, stderr, getenv, map[string]string{"database-url": "DATABASE_URL"}); err != nil {
		return err
	}
	log, err := cfg.Log.logger(stderr)
	if err != nil {
		return err
	}
	app, err := newApp(cfg, log, stderr)
	if err != nil {
		return err
	}
	err = app.Run(ctx)
	select {
	case <-app.Ready():
	default:
		if err != nil && ctx.Err() != nil {
			// Stopped while starting: the step it interrupted fails, in
			// whatever words its library has; a stop all the same.
			log.Info("stopped while starting", "interrupted", err)
			return nil
		}
	}
	return err
}

// App is one running Dowser service: everything `dowser serve` starts.
type App struct {
	cfg   serveConfig
	log   *slog.Logger
	out   io.Writer // where the demo banner goes
	ready chan struct{}

	// Set before ready is closed.
	httpAddr string
	brokers  []string
	signals  *signalSet
	privacy  *privacy
	consumer *ingest.Consumer
	store    *postgres.Store
}

func newApp(cfg serveConfig, log *slog.Logger, out io.Writer) (*App, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("no database: set --database-url, DOWSER_DATABASE_URL or DATABASE_URL")
	}
	if cfg.EventsTopic == "" || cfg.AlertsTopic == "" || cfg.EventsTopic == cfg.AlertsTopic {
		return nil, fmt.Errorf("--events-topic %q and --alerts-topic %q must be set and differ", cfg.EventsTopic, cfg.AlertsTopic)
	}
	if cfg.Partitions < 1 {
		return nil, fmt.Errorf("--partitions: %d must be at least 1", cfg.Partitions)
	}
	return &App{cfg: cfg, log: log, out: out, ready: make(chan struct{})}, nil
}

// Ready is closed once the app serves HTTP and consumes events.
func (a *App) Ready() <-chan struct{} { return a.ready }

// HTTPAddr is the address the HTTP server listens on; valid after Ready.
func (a *App) HTTPAddr() string { return a.httpAddr }

// Brokers are the Kafka bootstrap brokers in use; valid after Ready.
func (a *App) Brokers() []string { return a.brokers }

// retryForever runs op with capped exponential backoff and jitter until it
// succeeds or ctx ends.
func retryForever(ctx context.Context, log *slog.Logger, what string, op func() error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 5 * time.Second
	b.MaxElapsedTime = 0
	return backoff.RetryNotify(op, backoff.WithContext(b, ctx), func(err error, wait time.Duration) {
		log.Warn(what+" failed; retrying", "err", err, "in", wait)
	})
}

// Run starts every part, serves until ctx ends, then shuts down in order:
// stop taking connections and events, close the sockets, close storage and
// the embedded broker.
func (a *App) Run(ctx context.Context) error {
	log := a.log
	var store *postgres.Store
	if err := retryForever(ctx, log, "connecting to postgres", func() (err error) {
		store, err = postgres.Open(ctx, a.cfg.DatabaseURL)
		return err
	}); err != nil {
		return err
	}
	defer store.Close()
	a.store = store
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	if a.cfg.AdminToken != "" {
		if err := store.PutUser(ctx, postgres.User{ID: "admin", Name: "Administrator", Role: postgres.RoleAdmin}, a.cfg.AdminToken); err != nil {
			return err
		}
	}

	brokers := splitList(a.cfg.KafkaBrokers)
	if len(brokers) == 0 {
		b, err := broker.Start(broker.Config{Addr: a.cfg.EmbeddedKafkaAddr, Dir: a.cfg.EmbeddedKafkaDir, Partitions: a.cfg.Partitions, Logger: log})
		if err != nil {
			return err
		}
		defer b.Close()
		brokers = b.Brokers()
	}
	a.brokers = brokers
	if err := retryForever(ctx, log, "creating topics", func() error {
		return ingest.EnsureTopics(ctx, brokers, a.cfg.Partitions, a.cfg.Replication, a.cfg.EventsTopic, ingest.DLQTopic(a.cfg.EventsTopic), a.cfg.AlertsTopic)
	}); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registerPoolStats(reg, store)

	signals := newSignalSet(store, a.cfg.SignalsPoll, log)
	a.signals = signals
	if a.cfg.Demo {
		if err := seedDemo(ctx, store, log); err != nil {
			return err
		}
	}
	if err := signals.load(ctx); err != nil {
		return err
	}

	hub := notify.NewHub(notify.HubConfig{AllowedOrigins: splitList(a.cfg.AllowedOrigins), Logger: log}, store, hubActions{store}, reg)
	alerts := ingest.NewProducer(brokers, a.cfg.AlertsTopic)
	defer alerts.Close()
	priv := newPrivacy(store, a.cfg.SignalsPoll, a.cfg.Retention, log, reg)
	a.privacy = priv
	if err := priv.load(ctx); err != nil {
		return err
	}
	pipe := newPipeline(priv, a.cfg.GroupID, a.cfg.EventsTopic, store, notify.NewRouter(routingDirectory{store}, hub), hub, signals, alerts, log, reg)
	var tail *ingest.Tailer
	if err := retryForever(ctx, log, "reading the end of the alerts topic", func() (err error) {
		tail, err = ingest.NewTailer(ctx, brokers, a.cfg.AlertsTopic, log)
		return err
	}); err != nil {
		return err
	}
	consumer, err := ingest.NewConsumer(ingest.Config{
		Brokers:            brokers,
		Topic:              a.cfg.EventsTopic,
		GroupID:            a.cfg.GroupID,
		MaxEventBytes:      a.cfg.MaxEventBytes,
		CheckpointInterval: a.cfg.CheckpointEvery,
		Logger:             log,
	}, pipe, ingest.NewMetrics(reg))
	if err != nil {
		return err
	}
	a.consumer = consumer

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		problems := a.readiness(r.Context(), store, brokers)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if len(problems) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]any{"status": "not ready", "problems": problems})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "ready", "partitions": consumer.Assignment().Partitions})
	})
	events := ingest.NewProducer(brokers, a.cfg.EventsTopic)
	defer events.Close()
	mux.Handle("/", api.New(api.Config{
		Assets:  web.Files(),
		Events:  eventProducer{events},
		Preview: previewer{brokers: brokers, topic: a.cfg.EventsTopic, store: store},
		Logger:  log,
	}, store, hub))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(hub.Close)
	ln, err := net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", a.cfg.HTTPAddr, err)
	}
	a.httpAddr = ln.Addr().String()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return consumer.Run(gctx) })
	g.Go(func() error { return signals.Run(gctx) })
	g.Go(func() error { return priv.Run(gctx) })
	g.Go(func() error { return tail.Run(gctx, pipe.fanOut) })
	g.Go(func() error { return pipe.publishLoop(gctx) })
	g.Go(func() error { return pipe.relayOutbox(gctx, time.Second) })
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	if a.cfg.Demo {
		g.Go(func() error { return runTraffic(gctx, brokers, a.cfg.EventsTopic, a.cfg.DemoRate, log) })
		printDemoBanner(a.out, a.httpAddr)
	}
	log.Info("dowser serving", "http", a.httpAddr, "brokers", brokers, "events_topic", a.cfg.EventsTopic, "version", version)
	close(a.ready)
	return g.Wait()
}

// readiness lists what keeps this instance from doing its job: PostgreSQL
// or Kafka unreachable, or not yet a member of the consumer group. An
// instance that joined but owns no partitions (more instances than
// partitions) is ready: it still serves websockets.
func (a *App) readiness(ctx context.Context, store *postgres.Store, brokers []string) []string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var problems []string
	if err := store.Ping(ctx); err != nil {
		problems = append(problems, "postgres: "+err.Error())
	}
	if err := ingest.Ping(ctx, brokers); err != nil {
		problems = append(problems, "kafka: "+err.Error())
	}
	if a.consumer.Assignment().Generation == 0 {
		problems = append(problems, "kafka: not yet a member of consumer group "+a.cfg.GroupID)
	}
	return problems
}

// registerPoolStats exposes the PostgreSQL pool's gauges.
func registerPoolStats(reg prometheus.Registerer, store *postgres.Store) {
	for _, g := range []struct {
		name, help string
		pick       func(acquired, idle, total int32) int32
	}{
		{"dowser_postgres_pool_acquired_conns", "PostgreSQL connections in use.", func(a, _, _ int32) int32 { return a }},
		{"dowser_postgres_pool_idle_conns", "PostgreSQL connections idle in the pool.", func(_, i, _ int32) int32 { return i }},
		{"dowser_postgres_pool_total_conns", "PostgreSQL connections in the pool.", func(_, _, t int32) int32 { return t }},
	} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: g.name, Help: g.help}, func() float64 {
			return float64(g.pick(store.PoolStats()))
		}))
	}
}

// eventProducer produces events posted over HTTP, keyed like any other.
type eventProducer struct{ p *ingest.Producer }

func (e eventProducer) ProduceEvents(ctx context.Context, events []schema.Event, raw [][]byte) error {
	msgs := make([]ingest.Message, len(events))
	for i := range events {
		msgs[i] = ingest.Message{Key: []byte(ingest.EventKey(&events[i])), Value: raw[i]}
	}
	return e.p.Produce(ctx, msgs...)
}

// hubActions adapts the store's not-found error to the hub's.
type hubActions struct{ store *postgres.Store }

func (h hubActions) Seen(ctx context.Context, userID, alertID string) error {
	return notAddressed(h.store.Seen(ctx, userID, alertID))
}

func (h hubActions) Ack(ctx context.Context, userID, alertID string) error {
	return notAddressed(h.store.Ack(ctx, userID, alertID))
}

func (h hubActions) Feedback(ctx context.Context, userID, alertID, verdict, note string) error {
	return notAddressed(h.store.Feedback(ctx, userID, alertID, verdict, note))
}

func notAddressed(err error) error {
	if errors.Is(err, postgres.ErrNotFound) {
		return fmt.Errorf("%w: %w", notify.ErrNotAddressed, err)
	}
	return err
}
