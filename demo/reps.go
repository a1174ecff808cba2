package demo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/postgres"
)

// handsOffRep is the demo rep the simulated reps leave alone: a person who
// logs in as her (demo-rep-ana-token) finds her alerts as the pipeline
// delivered them and does the clicking.
const handsOffRep = "rep-ana"

// How the simulated reps pace themselves: each alert waits a delay of its
// own between repMinDelay and repMinDelay+repDelaySpread (so that the team
// view's times to acknowledge spread), and alerts stored longer ago than
// repHorizon are left as they are (a demo restarted after a day does not
// answer yesterday's backlog in one go).
const (
	repMinDelay    = 5 * time.Second
	repDelaySpread = 36 // whole seconds: delays of 5 s to 40 s
	repHorizon     = 15 * time.Minute
	repPageSize    = 200
	repEvery       = 3 * time.Second
)

// RepAlerts is what the simulated reps read and write: the alerts
// addressed to a rep and the same actions the API records for a person
// (postgres's Alerts).
type RepAlerts interface {
	FindAlerts(ctx context.Context, q dowser.AlertQuery) (dowser.AlertPage, error)
	ListFeedbackReasons(ctx context.Context, withRetired bool) ([]dowser.FeedbackReason, error)
	Ack(ctx context.Context, userID, alertID, from string) error
	GiveVerdict(ctx context.Context, userID, alertID string, v dowser.Verdict) error
	DecideHandoff(ctx context.Context, userID, alertID string, h dowser.Handoff) (moved bool, err error)
}

// RepsConfig configures [RunReps] and [ActOnce].
type RepsConfig struct {
	// Alerts is where the reps' alerts are read and their actions stored.
	Alerts RepAlerts
	// Now is the clock that decides when an alert is due; time.Now when nil.
	Now func() time.Time
	// Every is the time between two rounds; 3 s when zero.
	Every time.Duration
	// OnRound, when not nil, is called after each round of RunReps with
	// how many alerts it acted on, and the round's error.
	OnRound func(acted int, err error)
	// Logger gets a failed round's error; nothing is logged when nil.
	Logger *slog.Logger
}

// RepsOf returns the configuration that acts in store. The verdicts it
// gives reach open panels as any other does (notify.VerdictNews).
func RepsOf(store *postgres.Store, log *slog.Logger) RepsConfig {
	return RepsConfig{Alerts: store.Alerts, Logger: log}
}

// ActingReps are the demo reps the simulated reps act for: every demo rep
// but Ana Ruiz (rep-ana), whom a person logging in uses.
func ActingReps() []string {
	var out []string
	for _, u := range users {
		if u.Role == dowser.RoleRep && u.ID != handsOffRep {
			out = append(out, u.ID)
		}
	}
	return out
}

// RunReps plays the demo reps other than Ana until ctx ends: every few
// seconds it acts on their alerts that are due ([ActOnce]). A failed round
// is logged and the next one tries again; the demo's own data must not
// stop the demo. It returns nil when ctx ends.
func RunReps(ctx context.Context, cfg RepsConfig) error {
	every := cfg.Every
	if every <= 0 {
		every = repEvery
	}
	log := cfg.logger()
	t := time.NewTicker(every)
	defer t.Stop()
	judged := map[string]bool{}
	for {
		n, err := actOnce(ctx, cfg, judged)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			log.Warn("demo reps: a round failed", "err", err)
		} else if n > 0 {
			log.Debug("demo reps acted", "alerts", n)
		}
		if cfg.OnRound != nil {
			cfg.OnRound(n, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ActOnce acts once on every due alert of the acting reps: an alert not
// acknowledged yet, stored within the last 15 minutes, whose delay has
// passed. What is done with an alert is decided by a hash of the rep and
// the alert id, so that every run decides alike: most are acknowledged,
// many get a verdict with a reason from the marketers' list (a few are
// won, with a value), many handoffs are accepted or rejected, and some
// alerts are left for the team view's "nobody acted yet". An alert acted
// on is acknowledged, so it is never acted on twice. It returns how many
// alerts it acted on.
func ActOnce(ctx context.Context, cfg RepsConfig) (int, error) {
	return actOnce(ctx, cfg, nil)
}

// actOnce is ActOnce; with judged (RunReps's), the first alert each rep
// acts on in a run gets a verdict whatever its hash says, so that a
// demo shows one within a minute even when its first alerts are few.
func actOnce(ctx context.Context, cfg RepsConfig, judged map[string]bool) (int, error) {
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	reasons, err := cfg.Alerts.ListFeedbackReasons(ctx, false)
	if err != nil {
		return 0, fmt.Errorf("demo reps: %w", err)
	}
	acted := 0
	var errs []error
	for _, rep := range ActingReps() {
		n, err := cfg.actFor(ctx, rep, now(), reasons, judged)
		acted += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return acted, errors.Join(errs...)
}

// actFor acts on rep's due alerts, page by page, newest delivery first,
// until a page ends with an alert older than the horizon.
func (cfg RepsConfig) actFor(ctx context.Context, rep string, now time.Time, reasons []dowser.FeedbackReason, judged map[string]bool) (int, error) {
	q := dowser.AlertQuery{UserID: rep, State: dowser.AlertNew, Limit: repPageSize}
	acted := 0
	for {
		page, err := cfg.Alerts.FindAlerts(ctx, q)
		if err != nil {
			return acted, fmt.Errorf("demo rep %s: %w", rep, err)
		}
		for _, la := range page.Alerts {
			// The alert's creation is its delivery's, but for an alert
			// delivered again later (rerouted): that one is skipped,
			// not taken for the end of the recent ones.
			created := la.Cursor.Created
			if now.Sub(created) > repHorizon {
				continue
			}
			p := planFor(rep, la.Cursor.ID, la.AccountID != "", reasons)
			if judged != nil && !judged[rep] && p.verdict == nil {
				p.leave, p.verdict = false, &dowser.Verdict{Verdict: dowser.VerdictUseful}
			}
			if p.leave || now.Before(created.Add(p.delay)) {
				continue
			}
			if err := cfg.act(ctx, rep, la.Cursor.ID, p); err != nil {
				if errors.Is(err, dowser.ErrNotFound) {
					continue // erased since it was listed
				}
				return acted, err
			}
			acted++
			if judged != nil && p.verdict != nil {
				judged[rep] = true
			}
		}
		if page.Next == nil || now.Sub(page.Alerts[len(page.Alerts)-1].Cursor.Created) > repHorizon {
			return acted, nil
		}
		q.After = page.Next
	}
}

// act does what p says with one alert, the handoff first and the
// acknowledgement (or the verdict, which acknowledges) last: a round
// interrupted between them finds the alert again and repeats the same
// decisions, which replace themselves.
func (cfg RepsConfig) act(ctx context.Context, rep, alertID string, p plan) error {
	if p.handoff != nil {
		if _, err := cfg.Alerts.DecideHandoff(ctx, rep, alertID, *p.handoff); err != nil {
			return fmt.Errorf("demo rep %s: %w", rep, err)
		}
	}
	if p.verdict == nil {
		if err := cfg.Alerts.Ack(ctx, rep, alertID, ""); err != nil {
			return fmt.Errorf("demo rep %s: %w", rep, err)
		}
		return nil
	}
	if err := cfg.Alerts.GiveVerdict(ctx, rep, alertID, *p.verdict); err != nil {
		return fmt.Errorf("demo rep %s: %w", rep, err)
	}
	return nil
}

func (cfg RepsConfig) logger() *slog.Logger {
	if cfg.Logger != nil {
		return cfg.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// plan is what a simulated rep does with one alert.
type plan struct {
	// leave: the alert is left unacted.
	leave bool
	delay time.Duration
	// verdict is nil for an acknowledgement alone.
	verdict *dowser.Verdict
	handoff *dowser.Handoff
}

// Notes the simulated reps write, picked by hash.
var (
	notUsefulNotes = []string{"", "Spoke to them last week already.", "Not the buyer; passed it on.", "Budget frozen until next year."}
	wonNotes       = []string{"Called the same day; they signed.", "Demo booked from the call, closed this month.", "Renewal upsell after the call."}
	rejectNotes    = []string{"", "Too early; back to marketing.", "Not our segment."}
)

// planFor decides, from a hash of the rep and the alert id alone, what is
// done with the alert: left unacted (15 %), acknowledged only (25 %),
// useful (25 %), not useful with a reason (23 %) or won with a value and
// often a reason (12 %); and for an alert with an account, its handoff
// decided in 60 % of the acted ones, seven in ten accepted. reasons are
// the reasons offered; each verdict and rejection takes one whose kinds
// fit it, so that a win is never "wrong person", and without any,
// verdicts go without and handoffs are accepted.
func planFor(rep, alertID string, hasAccount bool, reasons []dowser.FeedbackReason) plan {
	h := fnv.New64a()
	h.Write([]byte(rep))
	h.Write([]byte{0})
	h.Write([]byte(alertID))
	x := h.Sum64()
	// Independent-enough draws from the one hash.
	draw := func(n uint64) uint64 {
		r := x % n
		x = x/n ^ x<<29 // mix remaining bits in for the next draw
		return r
	}
	p := plan{delay: repMinDelay + time.Duration(draw(repDelaySpread))*time.Second}
	slot := draw(100)
	if slot < 15 {
		return plan{leave: true, delay: p.delay}
	}
	// The ids of the reasons offered that fit kind, in the marketers'
	// order, so that the same list gives the same draws.
	fitting := func(kind string) []string {
		var out []string
		for _, r := range reasons {
			if r.Fits(kind) {
				out = append(out, r.ID)
			}
		}
		return out
	}
	reason := "" // a not useful verdict's
	if fit := fitting(dowser.VerdictNotUseful); len(fit) > 0 {
		reason = fit[draw(uint64(len(fit)))]
	}
	switch {
	case slot < 40:
	case slot < 65:
		p.verdict = &dowser.Verdict{Verdict: dowser.VerdictUseful}
	case slot < 88:
		p.verdict = &dowser.Verdict{Verdict: dowser.VerdictNotUseful, Reason: reason, Note: notUsefulNotes[draw(uint64(len(notUsefulNotes)))]}
	default:
		value := float64(5000 + 2500*draw(20))
		won := ""
		if fit := append(fitting(dowser.VerdictWon), ""); len(fit) > 1 {
			won = fit[draw(uint64(len(fit)))]
		}
		p.verdict = &dowser.Verdict{Verdict: dowser.VerdictWon, Reason: won, Value: &value, Note: wonNotes[draw(uint64(len(wonNotes)))]}
	}
	if hasAccount && draw(100) < 60 {
		if fit := fitting(dowser.HandoffReject); draw(100) < 70 || len(fit) == 0 {
			p.handoff = &dowser.Handoff{Decision: dowser.HandoffAccept}
		} else {
			why := fit[draw(uint64(len(fit)))]
			p.handoff = &dowser.Handoff{Decision: dowser.HandoffReject, Reason: why, Note: rejectNotes[draw(uint64(len(rejectNotes)))]}
		}
	}
	return p
}
