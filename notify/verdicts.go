package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
)

// VerdictSource hands over the verdicts stored by every instance, as
// they are committed: *postgres.Alerts, over PostgreSQL's LISTEN/NOTIFY.
type VerdictSource interface {
	// ListenVerdicts calls listening once it listens, then news for every
	// verdict (and first acknowledgement, Acked) stored from then on, until ctx ends (nil) or it stops
	// listening (an error); verdicts stored meanwhile are not handed over.
	ListenVerdicts(ctx context.Context, listening func(), news func(dowser.VerdictGiven)) error
}

// VerdictNewsConfig configures a VerdictNews. Zero values take the
// defaults named.
type VerdictNewsConfig struct {
	Source VerdictSource
	// Hub is this instance's hub, which tells each verdict.
	Hub *Hub
	// Retry is the wait before listening again after a failure, doubled
	// (with jitter, so that instances cut off together do not come back
	// together) after each failure in a row up to MaxRetry: 500 ms, 30 s.
	Retry, MaxRetry time.Duration
	Logger          *slog.Logger
	Registerer      prometheus.Registerer
}

// VerdictNews carries every verdict (and every first acknowledgement),
// given on whichever instance, to the panels on this instance that should
// hear of it (Hub.TellVerdict): it is the only teller of verdicts and
// acknowledgements, so each panel hears each once. While
// it does not listen (the database unreachable, the connection lost) the
// verdicts given are not told here; the panels see them at their next
// listing.
type VerdictNews struct {
	cfg       VerdictNewsConfig
	on        atomic.Bool
	listening prometheus.Gauge
	failures  prometheus.Counter
}

// tellTimeout bounds the reading of a verdict's followers: the next
// verdicts wait behind it.
const tellTimeout = 5 * time.Second

// NewVerdictNews returns the news of verdicts from cfg.Source to cfg.Hub,
// its metrics registered with cfg.Registerer (when set).
func NewVerdictNews(cfg VerdictNewsConfig) (*VerdictNews, error) {
	if cfg.Source == nil || cfg.Hub == nil {
		return nil, errors.New("verdict news: no source or no hub")
	}
	if cfg.Retry <= 0 {
		cfg.Retry = 500 * time.Millisecond
	}
	if cfg.MaxRetry <= 0 {
		cfg.MaxRetry = 30 * time.Second
	}
	cfg.MaxRetry = max(cfg.MaxRetry, cfg.Retry)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &VerdictNews{cfg: cfg,
		listening: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dowser_verdict_news_listening",
			Help: "1 while this instance listens for the verdicts given on every instance, 0 while its panels miss them until their next listing."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "dowser_verdict_news_failures_total",
			Help: "Times this instance could not listen for verdict news, or stopped listening (the connection to PostgreSQL lost); it listens again after a backoff."}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{n.listening, n.failures} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("registering verdict news metrics: %w", err)
			}
		}
	}
	return n, nil
}

// Listening reports whether verdict news reaches this instance now.
func (n *VerdictNews) Listening() bool { return n.on.Load() }

// Run listens until ctx ends, and tells the hub every verdict heard. Each
// failure to listen is counted and logged, and listening is tried again
// after the backoff; the first success after failures is logged too.
func (n *VerdictNews) Run(ctx context.Context) error {
	wait := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(n.cfg.Retry),
		backoff.WithMaxInterval(n.cfg.MaxRetry),
		backoff.WithMaxElapsedTime(0),
	)
	var failed int
	var since time.Time
	log := n.cfg.Logger
	for {
		err := n.cfg.Source.ListenVerdicts(ctx, func() {
			n.on.Store(true)
			n.listening.Set(1)
			wait.Reset()
			if failed > 0 {
				log.Info("listening for verdict news again", "failed_tries", failed, "deaf_for", time.Since(since).Round(time.Millisecond))
			}
			failed = 0
		}, func(v dowser.VerdictGiven) {
			tctx, cancel := context.WithTimeout(ctx, tellTimeout)
			defer cancel()
			n.cfg.Hub.TellVerdict(tctx, v)
		})
		n.on.Store(false)
		n.listening.Set(0)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("the source stopped without an error")
		}
		n.failures.Inc()
		if failed++; failed == 1 {
			since = time.Now()
		}
		next := wait.NextBackOff()
		log.Warn("listening for verdict news failed; panels here see verdicts given meanwhile at their next listing",
			"err", err, "failed_tries_in_row", failed, "next_try_in", next.Round(time.Millisecond))
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
