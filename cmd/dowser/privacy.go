package main

import (
	"context"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/schema"
)

// privacy enforces what people asked for: events of customers and
// accounts marked do-not-track are dropped before the detector sees them,
// and alerts older than the retention period are purged.
type privacy struct {
	store     *postgres.Store
	every     time.Duration
	retention time.Duration // 0 keeps alerts forever
	log       *slog.Logger
	dnt       atomic.Pointer[map[string]map[string]bool]
	// erasures are the queued erasure requests, oldest first; replaced,
	// never changed, when new ones arrive.
	erasures atomic.Pointer[[]postgres.Erasure]
	dropped  prometheus.Counter
	purged   prometheus.Counter
}

func newPrivacy(store *postgres.Store, every, retention time.Duration, log *slog.Logger, reg prometheus.Registerer) *privacy {
	p := &privacy{
		store: store, every: every, retention: retention, log: log,
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dowser_events_dropped_do_not_track_total",
			Help: "Events dropped unseen because their customer or account is marked do-not-track.",
		}),
		purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dowser_alerts_purged_total",
			Help: "Alerts deleted, with their evidence, for being older than the retention period.",
		}),
	}
	reg.MustRegister(p.dropped, p.purged)
	empty := map[string]map[string]bool{}
	p.dnt.Store(&empty)
	p.erasures.Store(&[]postgres.Erasure{})
	return p
}

// tracked reports whether the event may be evaluated, counting it when not.
func (p *privacy) tracked(ev *schema.Event) bool {
	dnt := *p.dnt.Load()
	c := ev.Customer
	if dnt[postgres.DNTCustomer][c.ID] || dnt[postgres.DNTCustomer][c.AnonymousID] || dnt[postgres.DNTAccount][c.AccountID] {
		p.dropped.Inc()
		return false
	}
	return true
}

func (p *privacy) load(ctx context.Context) error {
	m, err := p.store.DoNotTrack(ctx)
	if err != nil {
		return err
	}
	p.dnt.Store(&m)
	old := *p.erasures.Load()
	var last int64
	if len(old) > 0 {
		last = old[len(old)-1].Seq
	}
	more, err := p.store.ErasuresAfter(ctx, last)
	if err != nil {
		return err
	}
	if len(more) > 0 {
		all := append(append([]postgres.Erasure(nil), old...), more...)
		p.erasures.Store(&all)
		p.log.Info("erasure requests received", "count", len(more))
	}
	return nil
}

// erasuresAfter returns the queued erasures with a sequence above seq.
func (p *privacy) erasuresAfter(seq int64) []postgres.Erasure {
	all := *p.erasures.Load()
	i := sort.Search(len(all), func(i int) bool { return all[i].Seq > seq })
	return all[i:]
}

// purge deletes alerts older than the retention period, in slices.
func (p *privacy) purge(ctx context.Context) {
	if p.retention <= 0 {
		return
	}
	cutoff := time.Now().Add(-p.retention)
	for ctx.Err() == nil {
		n, err := p.store.PurgeAlertsBefore(ctx, cutoff, 1000)
		if err != nil {
			p.log.Warn("purging old alerts", "err", err)
			return
		}
		p.purged.Add(float64(n))
		if n < 1000 {
			return
		}
	}
}

// Run keeps the do-not-track list fresh and purges old alerts until ctx
// ends. Failures are logged and retried at the next tick.
func (p *privacy) Run(ctx context.Context) error {
	t := time.NewTicker(p.every)
	defer t.Stop()
	lastPurge := time.Time{}
	for {
		if time.Since(lastPurge) > time.Hour {
			p.purge(ctx)
			lastPurge = time.Now()
		}
		// Ids of erasures every checkpoint has applied leave the database.
		if err := p.store.ForgetAppliedErasures(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("forgetting applied erasures", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := p.load(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("reloading do-not-track", "err", err)
			}
		}
	}
}
