package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/api"
	"github.com/dowserhq/dowser/broadcast"
	"github.com/dowserhq/dowser/broker"
	"github.com/dowserhq/dowser/delivery"
	"github.com/dowserhq/dowser/demo"
	"github.com/dowserhq/dowser/envflag"
	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/journey"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/loop"
	"github.com/dowserhq/dowser/notify"
	"github.com/dowserhq/dowser/pipeline"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/preview"
	"github.com/dowserhq/dowser/resolve"
	"github.com/dowserhq/dowser/web"
)

// The store serves the team view and tells the hub who follows a rep: both
// are found by type assertion, so a drifting signature would fail silently
// (#15).
var (
	_ api.Team             = (*postgres.Alerts)(nil)
	_ notify.Team          = (*postgres.Alerts)(nil)
	_ notify.VerdictSource = (*postgres.Alerts)(nil)
)

// App is one running Dowser service: everything `dowser serve` starts.
type App struct {
	cfg serveConfig
	// source is how the events topic is read; sources are every source
	// topic's, the events topic's first.
	source  *formats.Source
	sources []*formats.Source
	log     *slog.Logger
	out     io.Writer // where the demo banner goes
	ready   chan struct{}

	// Set before ready is closed.
	httpAddr string
	brokers  []string
	cluster  kafka.Cluster
	pipe     *pipeline.Pipeline
	consumer *kafka.Consumer
	store    *postgres.Store
}

func newApp(cfg serveConfig, log *slog.Logger, out io.Writer) (*App, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("no database: set --database-url, DOWSER_DATABASE_URL or DATABASE_URL")
	}
	if cfg.EventsTopic == "" || cfg.AlertsTopic == "" || cfg.EventsTopic == cfg.AlertsTopic {
		return nil, fmt.Errorf("--events-topic %q and --alerts-topic %q must be set and differ", cfg.EventsTopic, cfg.AlertsTopic)
	}
	if err := (api.CRMLinks{AccountURL: cfg.CRMAccountURL, ContactURL: cfg.CRMContactURL}).Validate(); err != nil {
		return nil, err
	}
	if _, err := dowser.ParseIdentityFields(cfg.ContactIdentity); err != nil {
		return nil, fmt.Errorf("--contact-identity: %w", err)
	}
	var sourcesFile []byte
	if cfg.SourcesFile != "" {
		b, err := os.ReadFile(cfg.SourcesFile)
		if err != nil {
			return nil, fmt.Errorf("--sources-file: %w", err)
		}
		sourcesFile = b
	}
	sources, err := formats.Sources(cfg.Sources, cfg.SourcesFile, sourcesFile, cfg.EventsTopic)
	if err != nil {
		return nil, err
	}
	if cfg.CompactionDuty == 0 {
		cfg.CompactionDuty = postgres.DefaultCompactionDuty
	}
	if !(cfg.CompactionDuty > 0 && cfg.CompactionDuty <= 1) {
		return nil, fmt.Errorf("--compaction-duty: %v must be above 0 and at most 1", cfg.CompactionDuty)
	}
	// Checked before connecting to anything; files are read again at Run.
	if _, err := cfg.Kafka.Settings(); err != nil {
		return nil, err
	}
	for _, s := range sources[1:] {
		if s.Topic() == kafka.DLQTopic(cfg.EventsTopic) || s.Topic() == kafka.ResolvedTopic(cfg.EventsTopic) || s.Topic() == cfg.AlertsTopic {
			return nil, fmt.Errorf("source topic %q is one of Dowser's own topics", s.Topic())
		}
	}
	if cfg.JourneyDuty == 0 {
		cfg.JourneyDuty = journey.DefaultDuty
	}
	if !(cfg.JourneyDuty > 0 && cfg.JourneyDuty <= 1) {
		return nil, fmt.Errorf("--journey-duty: %v must be above 0 and at most 1", cfg.JourneyDuty)
	}
	if cfg.JourneyDays < 0 {
		return nil, fmt.Errorf("--journey-days: %d must be 0 (off) or more", cfg.JourneyDays)
	}
	if cfg.Partitions < 1 {
		return nil, fmt.Errorf("--partitions: %d must be at least 1", cfg.Partitions)
	}
	// Checked before connecting to anything; the file is read at Run.
	if cfg.PrivacyKey != "" && cfg.PrivacyKeyFile != "" {
		return nil, errors.New("--privacy-key and --privacy-key-file are both set; set one")
	}
	if err := postgres.CheckPrivacyKey([]byte(cfg.PrivacyKey)); cfg.PrivacyKey != "" && err != nil {
		return nil, fmt.Errorf("--privacy-key: %w", err)
	}
	if cfg.AlertsRetention != 0 && cfg.AlertsRetention < time.Minute {
		return nil, fmt.Errorf("--alerts-retention: %v is under a minute", cfg.AlertsRetention)
	}
	if cfg.AdminToken != "" {
		if err := dowser.CheckToken(cfg.AdminToken); err != nil {
			return nil, fmt.Errorf("--admin-token: %w", err)
		}
	}
	if cfg.SecureCookies == "" {
		cfg.SecureCookies = string(api.CookiesSecureAuto)
	}
	if _, err := api.ParseCookieSecurity(cfg.SecureCookies); err != nil {
		return nil, fmt.Errorf("--secure-cookies: %w", err)
	}
	if _, err := api.ParseTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	if cfg.MaxConnsPerAddr < 0 || cfg.AuthFailuresPerMinute < 0 {
		return nil, fmt.Errorf("--max-conns-per-addr %d and --auth-failures-per-minute %d must not be negative", cfg.MaxConnsPerAddr, cfg.AuthFailuresPerMinute)
	}
	if cfg.RevocationPoll <= 0 {
		cfg.RevocationPoll = time.Second
	}
	// Zero (a serveConfig built in code) means the default.
	if cfg.MaxPreviews < 0 || cfg.MaxPreviewEvents < 0 || cfg.PreviewTimeout < 0 {
		return nil, fmt.Errorf("--max-previews %d, --max-preview-events %d and --preview-timeout %v must be more than 0", cfg.MaxPreviews, cfg.MaxPreviewEvents, cfg.PreviewTimeout)
	}
	if cfg.MaxEnabledSignals < 0 {
		return nil, fmt.Errorf("--max-enabled-signals: %d must be more than 0", cfg.MaxEnabledSignals)
	}
	if cfg.MaxEnabledSignals == 0 {
		cfg.MaxEnabledSignals = defaultMaxEnabledSignals
	}
	if cfg.DeliveryTimeout < 0 || cfg.DeliveryAttempts < 0 || cfg.DeliveryBackoff < 0 || cfg.DeliveryBackoffMax < 0 || cfg.DeliveryPauseAfter < 0 {
		return nil, fmt.Errorf("--delivery-timeout %v, --delivery-attempts %d, --delivery-backoff %v, --delivery-backoff-max %v and --delivery-pause-after %d must not be negative",
			cfg.DeliveryTimeout, cfg.DeliveryAttempts, cfg.DeliveryBackoff, cfg.DeliveryBackoffMax, cfg.DeliveryPauseAfter)
	}
	if _, err := delivery.ParseNets(cfg.DeliveryBlockedNets); err != nil {
		return nil, fmt.Errorf("--delivery-blocked-nets: %w", err)
	}
	if _, err := delivery.ParseFollowUp(cfg.FollowUp); err != nil {
		return nil, fmt.Errorf("--follow-up: %w", err)
	}
	if cfg.FollowUpPoll < 0 {
		return nil, fmt.Errorf("--follow-up-poll: %v must not be negative", cfg.FollowUpPoll)
	}
	if cfg.PublicURL != "" {
		if u, err := url.Parse(cfg.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--public-url: %q is not an absolute http or https URL", cfg.PublicURL)
		}
	}
	if cfg.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(cfg.SMTPAddr); err != nil {
			return nil, fmt.Errorf("--smtp-addr: %q is not host:port", cfg.SMTPAddr)
		}
		if a, err := mail.ParseAddress(cfg.SMTPFrom); err != nil || a.Address != cfg.SMTPFrom {
			return nil, fmt.Errorf("--smtp-from: %q is not an address such as dowser@example.com (required with --smtp-addr)", cfg.SMTPFrom)
		}
	}
	if err := checkLinkFlags(&cfg); err != nil {
		return nil, err
	}
	if cfg.MaxPreviews == 0 {
		cfg.MaxPreviews = api.DefaultMaxPreviews
	}
	if cfg.MaxPreviewEvents == 0 {
		cfg.MaxPreviewEvents = defaultMaxPreviewEvents
	}
	if cfg.PreviewTimeout == 0 {
		cfg.PreviewTimeout = defaultPreviewTimeout
	}
	return &App{cfg: cfg, source: sources[0], sources: sources, log: log, out: out, ready: make(chan struct{})}, nil
}

// Ready is closed once the app serves HTTP and consumes events.
func (a *App) Ready() <-chan struct{} { return a.ready }

// HTTPAddr is the address the HTTP server listens on; valid after Ready.
func (a *App) HTTPAddr() string { return a.httpAddr }

// Brokers are the Kafka bootstrap brokers in use; valid after Ready.
func (a *App) Brokers() []string { return a.brokers }

// retryForever runs op until it succeeds, fails with dowser.ErrPermanent
// or a refusal of Kafka that stays until someone acts, or ctx ends.
func retryForever(ctx context.Context, log *slog.Logger, what string, op func() error) error {
	return loop.Retry(ctx, log, what, func(err error) bool {
		// A refused credential or ACL, or a topic Dowser may not create,
		// stays so until someone acts: fail with the reason at once.
		return errors.Is(err, dowser.ErrPermanent) || errors.Is(err, kafka.ErrDenied) || errors.Is(err, kafka.ErrMissingTopic)
	}, op)
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
	store.Signals.LimitEnabledSignals(a.cfg.MaxEnabledSignals)
	if err := store.Checkpoints.SetCompactionDuty(a.cfg.CompactionDuty); err != nil {
		return err
	}
	a.store = store
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	key, err := resolvePrivacyKey(ctx, a.cfg.PrivacyKey, a.cfg.PrivacyKeyFile, store)
	if err != nil {
		return err
	}
	store = store.WithPrivacyKey(key)
	a.store = store
	if a.cfg.AdminToken != "" {
		if err := store.People.PutUser(ctx, dowser.User{ID: "admin", Name: "Administrator", Role: dowser.RoleAdmin}, a.cfg.AdminToken); err != nil {
			return err
		}
	}

	brokers := envflag.SplitList(a.cfg.KafkaBrokers)
	var cl kafka.Cluster
	if len(brokers) == 0 {
		b, err := broker.Start(broker.Config{Addr: a.cfg.EmbeddedKafkaAddr, Dir: a.cfg.EmbeddedKafkaDir, Partitions: a.cfg.Partitions, Logger: log})
		if err != nil {
			return err
		}
		defer b.Close()
		brokers = b.Brokers()
		cl = kafka.Cluster{Brokers: brokers} // plaintext, on this machine
		if a.cfg.Kafka.Security.Enabled() {
			log.Warn("the Kafka TLS and SASL flags are ignored: the embedded broker speaks plaintext; set --kafka-brokers to use them")
		}
	} else if cl, err = a.cfg.Kafka.Cluster(ctx, brokers, log); err != nil {
		return err
	}
	a.brokers, a.cluster = brokers, cl
	topics := []string{a.cfg.EventsTopic, kafka.DLQTopic(a.cfg.EventsTopic)}
	if a.reKeys() {
		topics = append(topics, kafka.ResolvedTopic(a.cfg.EventsTopic))
	}
	// The other source topics are created too when missing, as the events
	// topic is, so that their consumers can join.
	for _, s := range a.sources[1:] {
		topics = append(topics, s.Topic())
	}
	if a.cfg.KafkaNoCreateTopics {
		err = retryForever(ctx, log, "checking topics", func() error {
			return kafka.CheckTopics(ctx, cl, append(topics, a.cfg.AlertsTopic)...)
		})
	} else {
		err = retryForever(ctx, log, "creating topics", func() error {
			return kafka.EnsureTopics(ctx, cl, a.cfg.Partitions, a.cfg.Replication, topics...)
		})
	}
	if err != nil {
		return err
	}
	alertsTopic := broadcast.Config{
		Kafka: cl, Topic: a.cfg.AlertsTopic,
		Partitions: a.cfg.Partitions, Replication: a.cfg.Replication, Retention: a.cfg.AlertsRetention,
		RelayEvery: time.Second, TombstonesEvery: a.cfg.SignalsPoll,
		Outbox: store.Alerts, Erasures: store.Privacy, Logger: log,
	}
	if err := retryForever(ctx, log, "creating the alerts topic", func() error {
		if a.cfg.KafkaNoCreateTopics {
			return nil // checked above
		}
		return broadcast.EnsureTopic(ctx, alertsTopic)
	}); err != nil {
		return err
	}

	reg := api.NewRegistry()
	reg.MustRegister(store.Collectors()...)
	reg.MustRegister(store.Checkpoints.Collector())

	if a.cfg.Demo {
		if err := demo.Seed(ctx, demo.StoresOf(store), log); err != nil {
			return err
		}
	}

	identity, _ := dowser.ParseIdentityFields(a.cfg.ContactIdentity) // checked by newApp
	hub := notify.NewHub(notify.HubConfig{AllowedOrigins: envflag.SplitList(a.cfg.AllowedOrigins), Identity: identity, People: store.Directory, Logger: log},
		store.Alerts, store.Alerts, reg)
	revoked, err := notify.NewRevocationWatcher(ctx, store.People, hub, a.cfg.RevocationPoll, log)
	if err != nil {
		return err
	}
	alertsTopic.Hub = hub
	verdicts, err := notify.NewVerdictNews(notify.VerdictNewsConfig{Source: store.Alerts, Hub: hub, Logger: log.With("part", "verdict-news"), Registerer: reg})
	if err != nil {
		return err
	}
	presence, err := notify.NewClusterPresence(notify.ClusterPresenceConfig{
		Store: store.Presence, Local: hub, Instance: a.cfg.Instance, Lease: a.cfg.PresenceLease, Refresh: a.cfg.PresenceRefresh,
		Logger: log.With("part", "presence"), Registerer: reg,
	})
	if err != nil {
		return fmt.Errorf("--presence-lease, --presence-refresh: %w", err)
	}
	var alerts *broadcast.Broadcaster
	if err := retryForever(ctx, log, "reading the end of the alerts topic", func() (err error) {
		alerts, err = broadcast.New(ctx, alertsTopic)
		return err
	}); err != nil {
		return err
	}
	defer alerts.Close()
	// The topic the detector reads: the events topic, or with identity
	// resolution or several source topics the stage's re-keyed copy of
	// them, in Dowser's envelope.
	detectTopic, detectSource := a.cfg.EventsTopic, a.source
	detectMaxBytes, detectSkew := a.cfg.MaxEventBytes, a.cfg.MaxEventSkew
	if a.reKeys() {
		detectTopic, detectSource = kafka.ResolvedTopic(a.cfg.EventsTopic), nil
		// Checked by the stage already; re-encoding (and a customer id
		// added) may grow an event a little.
		detectMaxBytes, detectSkew = 2*a.cfg.MaxEventBytes, 0
	}
	// The buyer's journey: written off the event path, in batches.
	var journal *journey.Writer
	var journalIn pipeline.Journey
	if a.cfg.JourneyDays > 0 {
		journal, err = journey.New(journey.Config{Store: store.Journey, Days: a.cfg.JourneyDays, Duty: a.cfg.JourneyDuty, Logger: log.With("part", "journey"), Registerer: reg})
		if err != nil {
			return err
		}
		journalIn = journal
	}
	pipe, err := pipeline.New(pipeline.Config{
		Group: a.cfg.GroupID, Topic: detectTopic,
		Checkpoints: store.Checkpoints, Alerts: store.Alerts, Accounts: store.Directory, Privacy: store.Privacy, Signals: store.Signals,
		Router: notify.NewRouter(store.Directory, presence).SkipAway(store.Escalations, a.cfg.followUpClock), Hub: hub, Broadcast: alerts, Journey: journalIn,
		CheckpointInterval: a.cfg.CheckpointEvery, ColdAfter: a.cfg.ColdAfter, Lateness: lateness(a.cfg.Lateness), Instance: a.cfg.Instance,
		SignalsPoll: a.cfg.SignalsPoll, MaxEnabledSignals: a.cfg.MaxEnabledSignals, Retention: a.cfg.Retention,
		PrivacyKey: key, KeepURLParams: envflag.SplitList(a.cfg.EvidenceURLParams),
		Logger: log, Registerer: reg,
	})
	if err != nil {
		return err
	}
	a.pipe = pipe
	if err := pipe.Load(ctx); err != nil {
		return err
	}
	consumer, err := kafka.NewConsumer(kafka.Config{
		Cluster:            cl,
		Topic:              detectTopic,
		DeadLetterTopic:    kafka.DLQTopic(a.cfg.EventsTopic),
		Source:             detectSource,
		GroupID:            a.cfg.GroupID,
		MaxEventBytes:      detectMaxBytes,
		MaxEventSkew:       detectSkew,
		StallThreshold:     a.cfg.StallThreshold,
		CheckpointInterval: a.cfg.CheckpointEvery,
		Logger:             log,
	}, pipe, kafka.NewMetrics(reg))
	if err != nil {
		return err
	}
	a.consumer = consumer
	var resolver *resolve.Resolver
	var resolving []*kafka.Consumer
	if a.reKeys() {
		out := kafka.NewBatchProducer(cl, detectTopic)
		defer out.Close()
		rc := resolve.Config{
			Out: out, DoNotTrack: pipe.DoNotTrack,
			Logger: log.With("stage", "resolve"), Registerer: reg,
		}
		// Without resolution the stage only re-keys the sources' events.
		if a.cfg.ResolveIdentities {
			rc.Store = store.Identities
			rc.Horizon = func() time.Duration {
				signals, _ := pipe.Signals()
				return resolve.Horizon(signals)
			}
		}
		resolver, err = resolve.New(rc)
		if err != nil {
			return err
		}
		for _, src := range a.sources {
			c, err := kafka.NewConsumer(kafka.Config{
				Cluster:            cl,
				Topic:              src.Topic(),
				DeadLetterTopic:    kafka.DLQTopic(a.cfg.EventsTopic),
				Source:             src,
				GroupID:            a.resolveGroup(src.Topic()),
				MaxEventBytes:      a.cfg.MaxEventBytes,
				MaxEventSkew:       a.cfg.MaxEventSkew,
				StallThreshold:     a.cfg.StallThreshold,
				CheckpointInterval: a.cfg.CheckpointEvery,
				Logger:             log.With("stage", "resolve", "source_topic", src.Topic()),
				// The stage's consumer metrics are the detector's,
				// prefixed, one series a source topic.
			}, resolver.Source(src.Topic()), kafka.NewMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"source_topic": src.Topic()},
				prometheus.WrapRegistererWithPrefix("resolve_", reg))))
			if err != nil {
				return err
			}
			resolving = append(resolving, c)
		}
	}

	signer, err := linkSigner(&a.cfg)
	if err != nil {
		return err
	}
	var linkChecker api.LinkChecker
	var linker delivery.Linker
	if signer != nil {
		linkChecker, linker = signer, signer
	}
	var client *http.Client
	if blocked, _ := delivery.ParseNets(a.cfg.DeliveryBlockedNets); len(blocked) > 0 { // checked by newApp
		client = delivery.GuardedClient(blocked)
	}
	var journeyReader delivery.JourneyReader // nil with --journey-days 0: messages carry no journey
	if a.cfg.JourneyDays > 0 {
		journeyReader = store.Journey
	}
	dispatcher, err := delivery.New(delivery.Config{
		Client: client,
		Store:  store.Channels, Timeout: a.cfg.DeliveryTimeout, MaxAttempts: a.cfg.DeliveryAttempts,
		InitialInterval: a.cfg.DeliveryBackoff, MaxInterval: a.cfg.DeliveryBackoffMax, PauseAfter: a.cfg.DeliveryPauseAfter,
		PanelURL: a.cfg.PublicURL, Logger: log.With("part", "delivery"), Registerer: reg,
		SMTP:  delivery.SMTP{Addr: a.cfg.SMTPAddr, From: a.cfg.SMTPFrom, Username: a.cfg.SMTPUsername, Password: a.cfg.SMTPPassword},
		Links: linker, Journey: journeyReader, JourneyWindow: time.Duration(min(a.cfg.JourneyDays, 7)) * 24 * time.Hour,
	})
	if err != nil {
		return err
	}
	digester, err := delivery.NewDigester(delivery.DigestConfig{Store: store.Channels, Now: a.cfg.digestNow, Poll: a.cfg.digestPoll, Logger: log.With("part", "digest"), Registerer: reg})
	if err != nil {
		return err
	}

	followUp, _ := delivery.ParseFollowUp(a.cfg.FollowUp) // checked by newApp
	escalator, err := delivery.NewEscalator(delivery.EscalatorConfig{
		Store: store.Escalations, FollowUp: followUp, Now: a.cfg.followUpClock, Poll: a.cfg.FollowUpPoll,
		Logger: log.With("part", "escalation"), Registerer: reg,
	})
	if err != nil {
		return err
	}

	ready := api.Readiness{
		Checks: []api.ReadyCheck{
			{Name: "postgres", Check: store.Ping},
			{Name: "kafka", Check: func(ctx context.Context) error { return kafka.Ping(ctx, cl) }},
			{Name: "kafka", Check: consumer.Joined},
		},
		Stalled:    consumer.StalledReport,
		Partitions: func() []int { return consumer.Assignment().Partitions },
		// Listed, not unready: the event path and the sockets work
		// without them.
		FailingLoops: func() []string {
			var out []string
			for _, l := range []interface{ Failing() string }{dispatcher, escalator, digester, presence} {
				if f := l.Failing(); f != "" {
					out = append(out, f)
				}
			}
			return out
		},
	}
	if resolving != nil {
		for _, c := range resolving {
			ready.Checks = append(ready.Checks, api.ReadyCheck{Name: "kafka", Check: c.Joined})
		}
		ready.Stalled = func() []string {
			out := consumer.StalledReport()
			for i, c := range resolving {
				prefix := "resolve "
				if i > 0 {
					prefix += a.sources[i].Topic() + " "
				}
				for _, s := range c.StalledReport() {
					out = append(out, prefix+s)
				}
			}
			return out
		}
	}
	events := kafka.NewProducer(cl, a.cfg.EventsTopic)
	defer events.Close()
	var detectMapping *formats.Mapping // the envelope, or the events topic's
	if detectSource != nil {
		detectMapping = detectSource.Mapping()
	}
	proxies, _ := api.ParseTrustedProxies(a.cfg.TrustedProxies) // checked in newApp
	failures := a.cfg.AuthFailuresPerMinute
	if failures == 0 {
		failures = -1 // off
	}
	app := api.New(api.Config{
		Links:  linkChecker,
		Assets: web.Files(),
		Events: events,
		Source: a.source,
		// Over HTTP as over Kafka: a far-future event is refused.
		MaxEventSkew: a.cfg.MaxEventSkew,
		// Previews read what the detector reads: with the stage, every
		// source's events, re-keyed, in the envelope.
		Preview: preview.Signal{Kafka: cl, Topic: detectTopic, Mapping: detectMapping, Store: store.Directory,
			MaxEvents: a.cfg.MaxPreviewEvents, Timeout: a.cfg.PreviewTimeout, Started: a.cfg.previewStarted, Names: store.Directory},
		MaxPreviews:           a.cfg.MaxPreviews,
		Logger:                log,
		SecureCookies:         api.CookieSecurity(a.cfg.SecureCookies),
		TrustedProxies:        proxies,
		AuthFailuresPerMinute: failures,
		Reroute:               preview.Content{Directory: store.Directory, Alerts: store.Alerts},
		CRM:                   api.CRMLinks{AccountURL: a.cfg.CRMAccountURL, ContactURL: a.cfg.CRMContactURL},
		Identity:              identity,
		JourneyDays:           a.cfg.JourneyDays,
	}, api.Stores{People: store.People, Directory: store.Directory, Signals: store.Signals, Alerts: store.Alerts, Privacy: store.Privacy, Channels: store.Channels,
		Escalations: store.Escalations, Journey: store.Journey}, hub)
	edge, err := api.Listen(api.EdgeConfig{
		Addr: a.cfg.HTTPAddr, ReadHeaderTimeout: a.cfg.ReadHeaderTimeout, ReadTimeout: a.cfg.ReadTimeout, IdleTimeout: a.cfg.IdleTimeout,
		MaxConnsPerAddr: a.cfg.MaxConnsPerAddr, TrustedProxies: proxies, Logger: log,
	}, app, reg, ready)
	if err != nil {
		return err
	}
	edge.OnShutdown(hub.Close)
	a.httpAddr = edge.Addr()

	g, gctx := errgroup.WithContext(ctx)
	pipe.Warm(gctx)
	g.Go(func() error { return consumer.Run(gctx) })
	for _, c := range resolving {
		g.Go(func() error { return c.Run(gctx) })
	}
	if resolver != nil {
		g.Go(func() error { return resolver.Run(gctx) })
	}
	g.Go(func() error { return pipe.Run(gctx) })
	if journal != nil {
		g.Go(func() error { return journal.Run(gctx) })
	}
	g.Go(func() error { return revoked.Run(gctx) })
	g.Go(func() error { return presence.Run(gctx) })
	g.Go(func() error { return verdicts.Run(gctx) })
	g.Go(func() error { return dispatcher.Run(gctx) })
	g.Go(func() error { return digester.Run(gctx) })
	g.Go(func() error { return escalator.Run(gctx) })
	g.Go(func() error { return edge.Serve(gctx) })
	if a.cfg.Demo {
		g.Go(func() error { return demo.RunTraffic(gctx, cl, a.cfg.EventsTopic, a.cfg.DemoRate, log) })
		if !a.cfg.demoRepsOff {
			g.Go(func() error { return demo.RunReps(gctx, demo.RepsOf(store, log.With("part", "demo-reps"))) })
		}
		demo.PrintBanner(a.out, a.httpAddr)
	}
	log.Info("dowser serving", "resolve_identities", a.cfg.ResolveIdentities, "source_topics", len(a.sources), "http", a.httpAddr, "brokers", brokers, "kafka_security", a.cfg.Kafka.Security, "events_topic", a.cfg.EventsTopic, "events_format", a.source.Mapping().Format(), "version", version)
	close(a.ready)
	return g.Wait()
}

// lateness is --lateness as pipeline.Config takes it: 0 turns the
// fallback off there, while the pipeline reads 0 as its default.
func lateness(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// reKeys reports whether the resolution stage runs: to resolve
// identities, or to bring several source topics onto one.
func (a *App) reKeys() bool { return a.cfg.ResolveIdentities || len(a.sources) > 1 }

// resolveGroup is the consumer group in which the resolution stage reads
// a source topic: <group>.resolve for the events topic, and
// <group>.resolve.<topic> for another.
func (a *App) resolveGroup(topic string) string {
	if topic == a.cfg.EventsTopic {
		return resolveGroup(a.cfg.GroupID)
	}
	return resolveGroup(a.cfg.GroupID) + "." + topic
}

// resolveGroup is the consumer group of the identity-resolution stage.
func resolveGroup(group string) string { return group + ".resolve" }
