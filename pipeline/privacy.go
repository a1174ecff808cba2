package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// PrivacyStore is what the privacy rules read and change in PostgreSQL:
// *postgres.Privacy.
type PrivacyStore interface {
	DoNotTrack(ctx context.Context) (map[string]map[string]bool, error)
	ErasuresAfter(ctx context.Context, seq int64) ([]dowser.Erasure, error)
	ForgetAppliedErasures(ctx context.Context) error
	EraseAnonymousIDs(ctx context.Context, ids []string) (int64, error)
	RecordIdentityLink(ctx context.Context, customerID, anonymousID string) error
	PurgeAlertsBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error)
	PurgeIdentityLinksBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error)
}

// privacy enforces what people asked for: events of customers and
// accounts marked do-not-track are dropped before the detector sees them,
// alerts older than the retention period are purged, erased people leave
// the detector's state, and logs and evidence carry no more than they
// must. (Erased alerts leave the alerts topic by broadcast's tombstones.)
type privacy struct {
	store     PrivacyStore
	every     time.Duration
	retention time.Duration // 0 keeps alerts forever
	log       *slog.Logger
	// key is the server secret that keys pseudonyms in logs.
	key []byte
	// keepParams are the query parameters evidence URLs keep.
	keepParams map[string]bool
	dnt        atomic.Pointer[map[string]map[string]bool]
	// erasures are the queued erasure requests, oldest first; replaced,
	// never changed, when new ones arrive.
	erasures atomic.Pointer[[]dowser.Erasure]
	dropped  prometheus.Counter
	purged   prometheus.Counter

	// linked remembers the identity links recorded lately, and when, so
	// that an event carrying a known link costs no query.
	linkMu sync.Mutex
	linked map[string]time.Time
}

func newPrivacy(cfg *Config) *privacy {
	p := &privacy{
		store: cfg.Privacy, every: cfg.SignalsPoll, retention: cfg.Retention, log: cfg.Logger,
		key: cfg.PrivacyKey, keepParams: map[string]bool{}, linked: map[string]time.Time{},
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dowser_events_dropped_do_not_track_total",
			Help: "Events dropped unseen because their customer or account is marked do-not-track.",
		}),
		purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dowser_alerts_purged_total",
			Help: "Alerts deleted, with their evidence, for being older than the retention period.",
		}),
	}
	cfg.Registerer.MustRegister(p.dropped, p.purged)
	for _, name := range cfg.KeepURLParams {
		p.keepParams[name] = true
	}
	empty := map[string]map[string]bool{}
	p.dnt.Store(&empty)
	p.erasures.Store(&[]dowser.Erasure{})
	return p
}

// tracked reports whether the event may be evaluated, counting it when not.
func (p *privacy) tracked(ev *schema.Event) bool {
	dnt := *p.dnt.Load()
	c := ev.Customer
	if dnt[dowser.DNTCustomer][c.ID] || dnt[dowser.DNTCustomer][c.AnonymousID] || dnt[dowser.DNTAccount][c.AccountID] {
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
		all := append(append([]dowser.Erasure(nil), old...), more...)
		p.erasures.Store(&all)
		// The erased people's links are gone from the database: should
		// they come back, their links must be recorded afresh.
		p.linkMu.Lock()
		clear(p.linked)
		p.linkMu.Unlock()
		p.log.Info("erasure requests received", "count", len(more))
	}
	return nil
}

// erasuresAfter returns the queued erasures with a sequence above seq.
func (p *privacy) erasuresAfter(seq int64) []dowser.Erasure {
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
			break
		}
	}
	// A link not seen for as long can only lead to alerts purged already.
	for ctx.Err() == nil {
		n, err := p.store.PurgeIdentityLinksBefore(ctx, cutoff, 1000)
		if err != nil {
			p.log.Warn("purging old identity links", "err", err)
			return
		}
		if n < 1000 {
			return
		}
	}
}

// link records the identity link an event carries (a customer id with an
// anonymous id), so that erasing the person reaches what was stored under
// the anonymous id. A link recorded within the hour costs nothing.
func (p *privacy) link(ctx context.Context, ev *schema.Event) error {
	c := ev.Customer
	if c.ID == "" || c.AnonymousID == "" || c.ID == c.AnonymousID {
		return nil
	}
	k := c.AnonymousID + "\x00" + c.ID
	now := time.Now()
	p.linkMu.Lock()
	at, ok := p.linked[k]
	p.linkMu.Unlock()
	if ok && now.Sub(at) < time.Hour {
		return nil
	}
	err := p.store.RecordIdentityLink(ctx, c.ID, c.AnonymousID)
	if errors.Is(err, dowser.ErrUnstorableID) {
		// Retrying cannot help, and the event is worth evaluating; only
		// an erasure of the person will miss this link.
		p.log.Warn("identity link not recorded", "event", ev.ID, "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	p.linkMu.Lock()
	if len(p.linked) >= 100_000 {
		clear(p.linked) // bound memory; a cold cache only costs queries
	}
	p.linked[k] = now
	p.linkMu.Unlock()
	return nil
}

// pseudonym is what logs show instead of a subject ("customer:<id>",
// "account:<id>") or a bare id: the kind, and the first 16 hex digits of
// the id's HMAC-SHA256 under the privacy key. Whoever holds the key and
// an id can find its log lines; nobody else learns the id.
func (p *privacy) pseudonym(subject string) string {
	kind, id, ok := strings.Cut(subject, ":")
	if !ok {
		return "~" + dowser.KeyedHash(p.key, subject)[:16]
	}
	return kind + ":~" + dowser.KeyedHash(p.key, id)[:16]
}

// evidenceURL is the URL an alert's evidence keeps of an event's URL:
// without user info, fragment, or query parameters other than the
// allowed ones (a query string carries e-mail addresses, tokens and
// other personal data more often than anything a rep needs).
func (p *privacy) evidenceURL(raw string) string {
	// Most URLs need no parsing (it costs a microsecond per kept event):
	// without user info or parameters to keep, cutting at the query or
	// fragment is all there is to do.
	if !strings.Contains(raw, "@") && (len(p.keepParams) == 0 || !strings.Contains(raw, "?")) {
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			return raw[:i]
		}
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Unparseable: cut where a query or fragment would start.
		if i := strings.IndexAny(raw, "?#"); i >= 0 {
			return raw[:i]
		}
		return raw
	}
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	u.ForceQuery = false
	if u.RawQuery != "" {
		kept := url.Values{}
		if len(p.keepParams) > 0 {
			q, _ := url.ParseQuery(u.RawQuery) // what parses; the rest goes
			for name, v := range q {
				if p.keepParams[name] {
					kept[name] = v
				}
			}
		}
		u.RawQuery = kept.Encode()
	}
	return u.String()
}

// Run keeps the do-not-track list and the erasure queue fresh and purges
// old alerts until ctx ends. Failures are logged and retried at the next tick.
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
