package main

import (
	"context"
	"flag"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/dowserhq/dowser/api"
	"github.com/dowserhq/dowser/envflag"
	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/journey"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/postgres"
)

// serveConfig is the configuration of `dowser serve` (and demo).
type serveConfig struct {
	HTTPAddr          string
	DatabaseURL       string
	KafkaBrokers      string
	EmbeddedKafkaAddr string
	EmbeddedKafkaDir  string
	EventsTopic       string
	Sources           formats.SourceList
	SourcesFile       string
	AlertsTopic       string
	GroupID           string
	// CRMAccountURL and CRMContactURL are the templates of the links from
	// an alert to its account's and person's CRM records (api.CRMLinks).
	CRMAccountURL string
	CRMContactURL string
	// ContactIdentity is which of a consenting person's name, title and
	// e-mail reps see (dowser.ParseIdentityFields): "none" by default,
	// every field in the demo.
	ContactIdentity string
	// ResolveIdentities runs the identity-resolution stage before the
	// detector (see docs/architecture.md, "Identity resolution").
	ResolveIdentities bool
	Instance          string
	Partitions        int
	Replication       int
	AdminToken        string
	AllowedOrigins    string
	MaxEventBytes     int
	MaxEventSkew      time.Duration
	StallThreshold    time.Duration
	SignalsPoll       time.Duration
	CheckpointEvery   time.Duration
	ColdAfter         time.Duration
	Lateness          time.Duration
	GCPercent         int
	CompactionDuty    float64
	Retention         time.Duration
	// JourneyDays is how many days of the buyer's journey are kept; 0
	// keeps none (see docs/privacy.md, "The buyer's journey").
	JourneyDays int
	// JourneyDuty is the share of their time the journey's writers spend
	// writing (see journey.Config.Duty).
	JourneyDuty       float64
	MaxEnabledSignals int
	MaxPreviews       int
	MaxPreviewEvents  int64
	PreviewTimeout    time.Duration
	Log               envflag.LogFlags

	// Privacy: see docs/privacy.md.
	PrivacyKey        string
	PrivacyKeyFile    string
	EvidenceURLParams string
	AlertsRetention   time.Duration
	// HTTP edge: timeouts, per-address connection cap, cookies, proxies,
	// login throttling, revocation polling.
	ReadHeaderTimeout     time.Duration
	ReadTimeout           time.Duration
	IdleTimeout           time.Duration
	MaxConnsPerAddr       int
	SecureCookies         string
	TrustedProxies        string
	AuthFailuresPerMinute int
	RevocationPoll        time.Duration
	// Presence across instances (issue #16): see docs/architecture.md.
	PresenceLease   time.Duration
	PresenceRefresh time.Duration
	// Channel deliveries (webhooks, Slack, Teams): see docs/delivery.md.
	DeliveryTimeout    time.Duration
	DeliveryAttempts   int
	DeliveryBackoff    time.Duration
	DeliveryBackoffMax time.Duration
	DeliveryPauseAfter int
	// DeliveryBlockedNets are the networks no delivery may connect to
	// (delivery.ParseNets); "" blocks none.
	DeliveryBlockedNets string
	PublicURL           string
	SMTPAddr            string
	SMTPFrom            string
	SMTPUsername        string
	SMTPPassword        string
	// One-click links and e-mail digests (docs/delivery.md).
	LinkKey             string
	LinkKeyFile         string
	LinkPreviousKey     string
	LinkPreviousKeyFile string
	LinkTTL             time.Duration
	// digestNow and digestPoll, when set (tests), are the clock digest
	// times are read on and how often.
	digestNow  func() time.Time
	digestPoll time.Duration
	// Follow-up rules (escalation): see docs/delivery.md.
	FollowUp     string
	FollowUpPoll time.Duration
	// followUpClock, when set, is the escalator's and the router's clock
	// (tests move it by hand).
	followUpClock func() time.Time
	// demoRepsOff keeps the demo's simulated reps from acting (tests
	// whose cards those would change under the browser).
	demoRepsOff bool
	// previewStarted, when set, is called as each preview starts (tests).
	previewStarted func(ctx context.Context)

	// Kafka is how to reach the brokers (TLS, SASL); KafkaNoCreateTopics
	// is --kafka-create-topics=false.
	Kafka               kafka.Flags
	KafkaNoCreateTopics bool

	// Demo seeds demo data and runs the traffic generator.
	Demo     bool
	DemoRate float64
}

// Defaults of the limits. Every enabled signal costs every event some
// detector time: at 1,000 signals an engine still does 2.5M events per
// CPU-second, 1.5x fewer than at 10 (BENCHMARKS.md); at 20,000 an event
// took 15-23 ms. A million preview events is a few seconds of detector
// time; a minute is what the console waits for.
const (
	defaultMaxEnabledSignals = 1000
	defaultMaxPreviewEvents  = 1_000_000
	defaultPreviewTimeout    = time.Minute
	// defaultJourneyDays is how long the buyer's journey is kept: a
	// month covers a buying committee's research before the first call.
	defaultJourneyDays = 30
)

func (c *serveConfig) register(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http", "127.0.0.1:8080", "HTTP listen address (API, websocket, web panel, metrics)")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL (also read from DATABASE_URL)")
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "", "comma-separated Kafka bootstrap brokers; empty starts the embedded broker")
	c.Kafka.Register(fs)
	fs.Var(createTopicsFlag{&c.KafkaNoCreateTopics}, "kafka-create-topics", "create the topics Dowser uses when they do not exist (needs the ACL Create); false only checks that they exist, for a principal that may not create topics")
	fs.StringVar(&c.EmbeddedKafkaAddr, "embedded-kafka-addr", "127.0.0.1:9092", "listen address of the embedded Kafka broker")
	fs.StringVar(&c.EmbeddedKafkaDir, "embedded-kafka-dir", "", "folder where the embedded broker persists its data; empty keeps it in memory")
	fs.StringVar(&c.EventsTopic, "events-topic", "dowser.events", "Kafka topic of customer-behaviour events; bad events go to <topic>.dlq")
	fs.Var(&c.Sources, "source", "how the events topic's messages are read: format=dowser|segment|snowplow|cloudevents, optionally topic=NAME (the events topic by default; another topic is read as well, re-keyed onto <events-topic>.resolved) and FIELD=PATH overrides, e.g. format=segment,account_id=properties.company (see docs/formats.md); repeatable, or ';'-separated")
	fs.StringVar(&c.SourcesFile, "sources-file", "", "YAML or JSON file listing sources (topic, format, fields), as --source does")
	fs.StringVar(&c.AlertsTopic, "alerts-topic", "dowser.alerts", "Kafka topic every instance reads to push alerts detected anywhere to its own websockets")
	fs.StringVar(&c.GroupID, "group-id", "dowser", "Kafka consumer group shared by all instances")
	fs.StringVar(&c.CRMAccountURL, "crm-account-url", "", "link from an alert to its account's record in the CRM, e.g. 'https://crm.example.com/accounts/{{.AccountID}}'; empty shows no link")
	fs.StringVar(&c.CRMContactURL, "crm-contact-url", "", "link from an alert to its person's record in the CRM, with {{.CustomerID}} (and optionally {{.AccountID}}); empty shows no link")
	fs.StringVar(&c.ContactIdentity, "contact-identity", "none", "which of a contact's name, title and email reps see on alerts and journeys, for contacts whose consent is recorded and who are not do-not-track: none (people shown by customer id only), or a comma-separated list such as name,title,email (see docs/privacy.md)")
	fs.BoolVar(&c.ResolveIdentities, "resolve-identities", false, "resolve identities across partitions before detection: events are re-keyed by the customer an anonymous id is linked to (a graph in PostgreSQL) onto <events-topic>.resolved, which the detector reads, and a visitor's earlier anonymous events are re-emitted as the customer's when they log in; consumer group <group-id>.resolve")
	host, _ := os.Hostname()
	fs.StringVar(&c.Instance, "instance", host, "this instance's name, stable across its restarts (the host name by default): after a crash it restores the partitions it held while the group waits out its old session; empty turns that off")
	fs.IntVar(&c.Partitions, "partitions", 6, "partition count of topics Dowser creates")
	fs.IntVar(&c.Replication, "replication", 1, "replication factor of topics Dowser creates")
	fs.StringVar(&c.AdminToken, "admin-token", "", "create or update the user \"admin\" with this login token at start-up")
	fs.StringVar(&c.AllowedOrigins, "allowed-origins", "", "comma-separated extra browser origins allowed to open the websocket")
	fs.IntVar(&c.MaxEventBytes, "max-event-bytes", 64<<10, "largest accepted event; larger ones are dead-lettered")
	fs.DurationVar(&c.MaxEventSkew, "max-event-skew", time.Hour, "events dated more than this ahead of the wall clock are rejected (dead-lettered as bad_field time, 422 over HTTP); 0 accepts any time")
	fs.DurationVar(&c.StallThreshold, "stall-threshold", 30*time.Second, "a partition retrying one message (or checkpoint) longer than this is reported stalled in the log and /readyz")
	fs.DurationVar(&c.CheckpointEvery, "checkpoint-interval", 2*time.Second, "how often what changed in each partition's detector state is saved to PostgreSQL with its offset, in the background; a restart replays about this much")
	fs.DurationVar(&c.ColdAfter, "cold-after", 10*time.Second, "a subject's detector state that no event touched for this long is kept encoded, a few hundred bytes the garbage collector never scans, until an event needs it again; 0 keeps every state decoded once used")
	fs.DurationVar(&c.Lateness, "lateness", 5*time.Minute, "a partition that receives no event for a checkpoint interval moves its event time on at the wall clock's pace from its newest event, but no later than now less this, so that silences fire without a later event; events that reach a quiet partition later than this are late; 0 turns that off")
	fs.IntVar(&c.GCPercent, "gc-percent", 25, "the Go garbage collector's heap growth between collections, in percent of the live heap (GOGC, which wins when set): lower keeps memory closer to the detector state for more CPU")
	fs.Float64Var(&c.CompactionDuty, "compaction-duty", postgres.DefaultCompactionDuty, "share of its time a checkpoint log's compaction may keep working (0 < share ≤ 1; 0 means the default); it pauses for the rest, so that rewriting a partition's state leaves the events their cores")
	fs.DurationVar(&c.Retention, "retention", 0, "delete alerts (and their evidence and deliveries) older than this, e.g. 8760h; 0 keeps them forever")
	fs.Float64Var(&c.JourneyDuty, "journey-duty", journey.DefaultDuty, "share of its time the buyer's journey writer may spend writing to PostgreSQL (0 < share ≤ 1; 0 means the default); it pauses for the rest, and rows beyond its buffer are dropped and counted, so that a catch-up leaves the events their cores")
	fs.IntVar(&c.JourneyDays, "journey-days", defaultJourneyDays, "days of the buyer's journey kept (what each person and account consumed, for the timeline); 0 keeps none and turns the timeline off")
	fs.DurationVar(&c.SignalsPoll, "signals-poll", time.Second, "how often to check PostgreSQL for signal changes")
	fs.StringVar(&c.PrivacyKey, "privacy-key", "", "server secret (at least 32 bytes) that keys the erasure audit's hash and the pseudonyms of people in logs; every instance needs the same; empty uses --privacy-key-file, else a key generated once and kept in PostgreSQL")
	fs.StringVar(&c.PrivacyKeyFile, "privacy-key-file", "", "file holding the privacy key (surrounding white space ignored), instead of --privacy-key")
	fs.StringVar(&c.EvidenceURLParams, "evidence-url-params", "", "comma-separated query parameters that URLs in alert evidence keep (e.g. utm_campaign,utm_source); every other parameter, the fragment and user info are stripped")
	fs.DurationVar(&c.AlertsRetention, "alerts-retention", 24*time.Hour, "retention.ms of the alerts topic when Dowser creates it (compacted, so erased alerts' tombstones remove them); instances only ever read its newest messages")
	fs.DurationVar(&c.ReadHeaderTimeout, "http-read-header-timeout", 10*time.Second, "time a client has to send a request's headers; a slower one is disconnected")
	fs.DurationVar(&c.ReadTimeout, "http-read-timeout", time.Minute, "time a client has to send a whole request, body included (an open websocket is not bound by it)")
	fs.DurationVar(&c.IdleTimeout, "http-idle-timeout", 2*time.Minute, "how long an idle keep-alive connection is kept open")
	fs.IntVar(&c.MaxConnsPerAddr, "max-conns-per-addr", 64, "open connections (websockets included) allowed from one client address (IPv6: one /64); more are closed at once; trusted proxies are exempt; 0 for no limit")
	fs.StringVar(&c.SecureCookies, "secure-cookies", "auto", "mark the session cookie Secure: auto (when the request came over TLS, or through a trusted proxy sending X-Forwarded-Proto: https), always or never")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed")
	fs.IntVar(&c.AuthFailuresPerMinute, "auth-failures-per-minute", 10, "failed logins or bearer tokens allowed per client address and per token prefix each minute (burst of as many); more answer 429; 0 turns throttling off")
	fs.DurationVar(&c.RevocationPoll, "revocation-poll", time.Second, "how often to check PostgreSQL for ended sessions (logout, rotated token, disabled or deleted user) to close their websockets on this instance")
	fs.DurationVar(&c.PresenceLease, "presence-lease", 30*time.Second, "how long this instance's record of its connected users holds without renewal: a dead instance's users stop counting as connected (for round-robin routing) after it")
	fs.DurationVar(&c.PresenceRefresh, "presence-refresh", 0, "how often this instance renews its record of its connected users and reads the other instances'; 0 for a third of --presence-lease")
	fs.IntVar(&c.MaxEnabledSignals, "max-enabled-signals", defaultMaxEnabledSignals, "signals that may be enabled at once; saving or enabling one more is refused (409)")
	fs.IntVar(&c.MaxPreviews, "max-previews", api.DefaultMaxPreviews, "signal previews run at once by this instance; more are answered 429")
	fs.Int64Var(&c.MaxPreviewEvents, "max-preview-events", defaultMaxPreviewEvents, "events one signal preview reads at most (the newest)")
	fs.DurationVar(&c.PreviewTimeout, "preview-timeout", defaultPreviewTimeout, "time one signal preview runs at most; it answers with what it read by then")
	fs.StringVar(&c.DeliveryBlockedNets, "delivery-blocked-nets", "private", "networks that channel deliveries (webhooks, Slack, Teams, CRM calls) may not connect to, checked on the address dialled: comma-separated CIDR prefixes, \"private\" for loopback, private, link-local and similar ranges, \"none\" for no restriction; while a network is blocked, deliveries do not go through HTTP(S)_PROXY")
	fs.DurationVar(&c.DeliveryTimeout, "delivery-timeout", 10*time.Second, "time one attempt to deliver an alert to a channel (webhook, Slack, Teams) may take, connection to response; slower is a failed attempt")
	fs.IntVar(&c.DeliveryAttempts, "delivery-attempts", 10, "attempts a channel delivery gets before it is marked failed")
	fs.DurationVar(&c.DeliveryBackoff, "delivery-backoff", time.Second, "wait after a channel delivery's first failed attempt; it doubles per attempt, with jitter, up to --delivery-backoff-max")
	fs.DurationVar(&c.DeliveryBackoffMax, "delivery-backoff-max", 10*time.Minute, "longest wait between two attempts of a channel delivery")
	fs.IntVar(&c.DeliveryPauseAfter, "delivery-pause-after", 5, "a channel whose deliveries failed this many times in a row is paused until its owner changes it")
	fs.StringVar(&c.PublicURL, "public-url", "", "the panel's address as users reach it (e.g. https://dowser.example.com/), linked from chat messages; empty sends no link")
	fs.StringVar(&c.SMTPAddr, "smtp-addr", "", "mail server (host:port) e-mail channels are sent through, with STARTTLS when it offers it; empty turns e-mail off")
	fs.StringVar(&c.SMTPFrom, "smtp-from", "", "sender address of alert mails, e.g. dowser@example.com; required with --smtp-addr")
	fs.StringVar(&c.SMTPUsername, "smtp-username", "", "user name for the mail server (AUTH PLAIN, only over TLS or to this host); empty sends without authenticating")
	fs.StringVar(&c.SMTPPassword, "smtp-password", "", "password for the mail server; prefer DOWSER_SMTP_PASSWORD to a command-line flag")
	fs.StringVar(&c.LinkKey, "link-key", "", "server secret (at least 32 bytes) that signs the one-click links (acknowledge, snooze, feedback) in chat messages and mails; every instance needs the same; needs --public-url; empty uses --link-key-file, else sends no links")
	fs.StringVar(&c.LinkKeyFile, "link-key-file", "", "file holding the link key (surrounding white space ignored), instead of --link-key")
	fs.StringVar(&c.LinkPreviousKey, "link-previous-key", "", "the link key before a rotation: links it signed keep working until they expire or it is removed")
	fs.StringVar(&c.LinkPreviousKeyFile, "link-previous-key-file", "", "file holding the previous link key, instead of --link-previous-key")
	fs.DurationVar(&c.LinkTTL, "link-ttl", 7*24*time.Hour, "how long a one-click link works after its message was sent")
	fs.StringVar(&c.FollowUp, "follow-up", "urgent=15m,high=4h", "follow-up rules: per priority, the working time of the rep's calendar after which an unacknowledged alert escalates to the rep's managers, then as long again to the next territory rep; a priority left out never escalates, empty turns escalation off")
	fs.DurationVar(&c.FollowUpPoll, "follow-up-poll", 5*time.Second, "how often to look for unacknowledged alerts due to escalate")
	c.Log.Register(fs)
}

func runServe(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string, demo bool) error {
	name := "serve"
	if demo {
		name = "demo"
	}
	fs := envflag.NewFlagSet(name)
	var cfg serveConfig
	cfg.register(fs)
	cfg.Demo = demo
	if demo {
		// The demo's contacts are seeded with and without consent, so
		// that a visitor sees both.
		cfg.ContactIdentity = "name,title,email"
		fs.Lookup("contact-identity").DefValue = cfg.ContactIdentity
		fs.Float64Var(&cfg.DemoRate, "demo-rate", 20, "synthetic events per second produced by the demo traffic generator")
	}
	if err := envflag.Parse(fs, args, stderr, getenv, map[string]string{"database-url": "DATABASE_URL"}); err != nil {
		return err
	}
	log, err := cfg.Log.Logger(stderr)
	if err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.GCPercent)
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
