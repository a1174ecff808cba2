package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser/loop"
)

// PresenceStore is where instances record who is connected to them; the
// PostgreSQL Presence store implements it.
type PresenceStore interface {
	// BeatPresence records that users, and only they, are connected to
	// instance until lease from now, and returns the users connected to
	// other instances.
	BeatPresence(ctx context.Context, instance string, users []string, lease time.Duration) ([]string, error)
	// LeavePresence removes the instance's records.
	LeavePresence(ctx context.Context, instance string) error
}

// ClusterPresenceConfig configures a ClusterPresence. Zero values take the
// defaults named.
type ClusterPresenceConfig struct {
	Store PresenceStore
	// Local is this instance's hub.
	Local *Hub
	// Instance names this instance in the records; a random suffix is
	// added per process, so two processes never share rows.
	Instance string
	// Lease is how long a record holds without renewal: how long a dead
	// instance's users still count as connected. 30 s.
	Lease time.Duration
	// Refresh is how often the records are renewed and the other
	// instances' read: Lease/3, which must be less than Lease/2.
	Refresh    time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// ClusterPresence tells whether a user has a stream open on any instance:
// this instance's hub answers at once for its own connections; those of
// the others come from the store, read every Refresh. A user who just
// connected elsewhere thus counts after at most two refreshes, and the
// users of an instance that died stop counting once its records expire,
// after Lease.
type ClusterPresence struct {
	cfg      ClusterPresenceConfig
	instance string
	users    prometheus.GaugeFunc
	failures prometheus.Counter
	loop     *loop.Loop

	mu     sync.Mutex
	others map[string]struct{}
	// readAt is when others was read; after Lease it is stale and
	// ignored, as a dead instance's records would be.
	readAt time.Time
}

var _ Presence = (*ClusterPresence)(nil)

// NewClusterPresence returns a presence over cfg.Store and cfg.Local.
func NewClusterPresence(cfg ClusterPresenceConfig) (*ClusterPresence, error) {
	if cfg.Store == nil || cfg.Local == nil {
		return nil, errors.New("cluster presence: no store or no hub")
	}
	if cfg.Lease == 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = cfg.Lease / 3
	}
	if cfg.Lease < time.Second || cfg.Refresh <= 0 || cfg.Refresh >= cfg.Lease/2 {
		return nil, fmt.Errorf("cluster presence: refresh %v must be positive and under half the lease %v (at least 1s), or records expire between renewals", cfg.Refresh, cfg.Lease)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	p := &ClusterPresence{cfg: cfg, instance: cfg.Instance + "/" + hex.EncodeToString(suffix[:])}
	p.users = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dowser_presence_users",
		Help: "Users with an alert stream open on any instance, as this instance last read them.",
	}, func() float64 { return float64(len(p.connected())) })
	p.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "dowser_presence_refresh_failures_total",
		Help: "Presence renewals that failed (the storage was unreachable).",
	})
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{p.users, p.failures} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("registering presence metrics: %w", err)
			}
		}
	}
	// Failed renewals back off to half the lease at most: once the storage
	// answers again, the records are back before a lease more has passed.
	var err error
	p.loop, err = loop.New(loop.Config{Name: "presence", What: "renewing presence", Interval: cfg.Refresh, MaxInterval: cfg.Lease / 2,
		Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Connected reports whether the user has a stream open on this instance,
// or had one on another at the last refresh.
func (p *ClusterPresence) Connected(userID string) bool {
	if p.cfg.Local.Connected(userID) {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.readAt) > p.cfg.Lease {
		return false
	}
	_, ok := p.others[userID]
	return ok
}

// connected is the set Connected answers from, for the gauge.
func (p *ClusterPresence) connected() map[string]struct{} {
	out := map[string]struct{}{}
	for _, u := range p.cfg.Local.Users() {
		out[u] = struct{}{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.readAt) <= p.cfg.Lease {
		for u := range p.others {
			out[u] = struct{}{}
		}
	}
	return out
}

// Run renews this instance's records every Refresh until ctx ends, then
// removes them: its users reconnect elsewhere. A failed renewal is logged
// and counted, and tried again after a backoff of at most half the lease
// (loop.Loop.Run).
func (p *ClusterPresence) Run(ctx context.Context) error {
	_ = p.loop.Run(ctx, func(ctx context.Context) (int, error) {
		err := p.Refresh(ctx)
		if err != nil && ctx.Err() == nil {
			p.failures.Inc()
		}
		return 0, err
	})
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := p.cfg.Store.LeavePresence(lctx, p.instance); err != nil {
		p.cfg.Logger.Warn("removing presence records; they expire after the lease", "err", err)
	}
	return nil
}

// Failing words the presence renewals failed in a row, for /readyz; ""
// while the latest succeeded.
func (p *ClusterPresence) Failing() string { return p.loop.Failing() }

// Refresh renews this instance's records once and reads the others'.
func (p *ClusterPresence) Refresh(ctx context.Context) error {
	started := time.Now()
	users, err := p.cfg.Store.BeatPresence(ctx, p.instance, p.cfg.Local.Users(), p.cfg.Lease)
	if err != nil {
		return err
	}
	others := make(map[string]struct{}, len(users))
	for _, u := range users {
		others[u] = struct{}{}
	}
	p.mu.Lock()
	p.others, p.readAt = others, started
	p.mu.Unlock()
	return nil
}
