package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/loop"
	"github.com/dowserhq/dowser/schema"
)

// DigestStore is what the digest scheduler needs of the channels' storage.
type DigestStore interface {
	// DigestSchedules lists the e-mail channels that send digests, with
	// the last digest time each handled.
	DigestSchedules(ctx context.Context) ([]dowser.DigestSchedule, error)
	// CreateDigest handles the digest time slot of a channel once, across
	// instances: unless a time at or after slot was handled, it writes
	// one digest delivery covering the non-urgent alerts since the last
	// one (none when there are none) and records slot as handled. It
	// returns how many alerts the digest covers.
	// A failure the channel meets on every try is dowser.ErrPermanent.
	CreateDigest(ctx context.Context, channelID int64, slot time.Time) (int, error)
	// PauseChannel pauses a channel, with reason, unless it is paused; it
	// reports whether this call paused it.
	PauseChannel(ctx context.Context, channelID int64, reason string) (bool, error)
}

// DigestConfig configures a Digester. Zero values take the defaults named.
type DigestConfig struct {
	Store DigestStore
	// Now is the clock digest times are read on: time.Now.
	Now func() time.Time
	// Poll is how often the schedules are checked: 20 s.
	Poll       time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Digester writes e-mail digests to the channel outbox when their times
// come; the Dispatcher sends them like any other delivery. Several
// instances may run one: the store handles each time once.
type Digester struct {
	cfg     DigestConfig
	created prometheus.Counter
	alerts  prometheus.Counter
	loop    *loop.Loop
}

// NewDigester returns a digest scheduler over cfg.Store.
func NewDigester(cfg DigestConfig) (*Digester, error) {
	if cfg.Store == nil {
		return nil, errors.New("delivery: no digest store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 20 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Digester{cfg: cfg,
		created: prometheus.NewCounter(prometheus.CounterOpts{Name: "dowser_email_digests_total",
			Help: "E-mail digests written to the channel outbox (each then sent as one delivery)."}),
		alerts: prometheus.NewCounter(prometheus.CounterOpts{Name: "dowser_email_digest_alerts_total",
			Help: "Alerts covered by the e-mail digests written."}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{g.created, g.alerts} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("registering digest metrics: %w", err)
			}
		}
	}
	var err error
	g.loop, err = loop.New(loop.Config{Name: "digests", What: "writing e-mail digests", Interval: cfg.Poll,
		Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, err
	}
	return g, nil
}

// Run writes due digests until ctx ends, a round every Poll. A round that
// fails (the store) is logged, counted and tried again after a backoff
// (loop.Loop.Run); a channel whose digests can never be written is paused
// and does not fail it.
func (g *Digester) Run(ctx context.Context) error {
	return g.loop.Run(ctx, g.Round)
}

// Failing words the digester's failed rounds in a row, for /readyz; ""
// while its latest round succeeded.
func (g *Digester) Failing() string { return g.loop.Failing() }

// Round handles every channel whose latest digest time has come since
// the last it handled; it returns how many digests it wrote. A channel
// whose digests can never be written (its time zone does not parse, its
// rows are refused for good) is paused with the reason, which its owner
// sees, and the round goes on; a paused one is passed over until changed.
func (g *Digester) Round(ctx context.Context) (int, error) {
	schedules, err := g.cfg.Store.DigestSchedules(ctx)
	if err != nil {
		return 0, err
	}
	now := g.cfg.Now()
	var n int
	var errs []error
	for _, s := range schedules {
		loc, err := time.LoadLocation(s.TimeZone)
		if err != nil {
			if !s.Paused {
				errs = append(errs, g.setAside(ctx, s.ChannelID, fmt.Sprintf("its digests cannot be scheduled: time zone %q: %v", s.TimeZone, err)))
			}
			continue
		}
		slot, ok := LatestSlot(s.Times, loc, now)
		if !ok || !slot.After(s.Last) {
			continue
		}
		covered, err := g.cfg.Store.CreateDigest(ctx, s.ChannelID, slot)
		if errors.Is(err, dowser.ErrPermanent) {
			errs = append(errs, g.setAside(ctx, s.ChannelID, "its digest cannot be written: "+err.Error()))
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if covered > 0 {
			n++
			g.created.Inc()
			g.alerts.Add(float64(covered))
		}
	}
	return n, errors.Join(errs...)
}

// setAside pauses channel id for reason and, when that paused it, logs
// and counts it; it returns only a failure to pause.
func (g *Digester) setAside(ctx context.Context, id int64, reason string) error {
	paused, err := g.cfg.Store.PauseChannel(ctx, id, reason)
	if err != nil {
		return err
	}
	if paused {
		g.loop.SetAside("channel", strconv.FormatInt(id, 10), reason)
	}
	return nil
}

// LatestSlot is the latest instant at or before now that is one of times
// ("HH:MM") on a day of loc; false when times has none. Each (day, time)
// is one instant however daylight saving time moves the clocks: a time
// that a change skips (02:30 when clocks jump from 02:00 to 03:00) is
// taken as the instant Go's time.Date gives it, once, and a time that a
// change repeats (02:30 when clocks fall back) is its first occurrence
// only, so a digest is sent once at either.
func LatestSlot(times []string, loc *time.Location, now time.Time) (time.Time, bool) {
	local := now.In(loc)
	var best time.Time
	found := false
	// Yesterday's latest time is the answer before today's first; two
	// days back covers a day of loc that a zone change shortened.
	for back := 0; back <= 2; back++ {
		y, m, d := local.AddDate(0, 0, -back).Date()
		for _, v := range times {
			h, min, err := dowser.ParseDigestTime(v)
			if err != nil {
				continue
			}
			t := firstInstant(y, m, d, h, min, loc)
			if !t.After(now) && (!found || t.After(best)) {
				best, found = t, true
			}
		}
	}
	return best, found
}

// firstInstant is the first instant loc shows as y-m-d h:min; when loc
// skips that wall time, the instant time.Date normalises it to.
func firstInstant(y int, m time.Month, d, h, min int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, h, min, 0, 0, loc)
	// A repeated wall time: the same wall time an hour (or a zone's
	// shift) earlier is the first occurrence.
	for _, shift := range []time.Duration{time.Hour, 30 * time.Minute} {
		if e := t.Add(-shift); e.In(loc).Hour() == h && e.In(loc).Minute() == min && e.In(loc).Day() == d {
			return e
		}
	}
	return t
}

// maxDigestListed bounds the alerts a digest mail lists in full; the rest
// are counted.
const maxDigestListed = 100

// digestMessage is the mail of a digest delivery: its alerts (del.Alert
// holds them as a JSON array), oldest first, each with its facts and
// one-click links.
func (d *Dispatcher) digestMessage(del *dowser.ChannelDelivery, from string, now time.Time) ([]byte, error) {
	var alerts []schema.Alert
	if len(del.Alert) > 0 {
		if err := json.Unmarshal(del.Alert, &alerts); err != nil {
			return nil, fmt.Errorf("decoding the alerts of digest %d: %w", del.DigestID, err)
		}
	}
	if len(alerts) == 0 {
		return nil, fmt.Errorf("digest %d: its alerts were erased before it was sent", del.DigestID)
	}
	var text strings.Builder
	what := strconv.Itoa(len(alerts)) + " alerts"
	if len(alerts) == 1 {
		what = "1 alert"
	}
	text.WriteString("Your Dowser digest: " + what + " since the last one.\n")
	if d.cfg.PanelURL != "" {
		text.WriteString("Open in Dowser: " + d.cfg.PanelURL + "\n")
	}
	for i := range alerts {
		a := &alerts[i]
		if i == maxDigestListed {
			fmt.Fprintf(&text, "\n… and %d more in Dowser.\n", len(alerts)-maxDigestListed)
			break
		}
		text.WriteString("\n" + strings.Repeat("-", 60) + "\n" + title(a) + ": " + a.Message + "\n")
		for _, f := range facts(a)[1:] {
			text.WriteString(f[0] + ": " + f[1] + "\n")
		}
		links, err := d.linksFor(a.ID, del.UserID)
		if err != nil {
			return nil, err
		}
		writeLinks(&text, links)
		text.WriteString("Alert " + a.ID + "\n")
	}
	return mailMessage(del, from, "Dowser digest: "+what, now, text.String())
}
