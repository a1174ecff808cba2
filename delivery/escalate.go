package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/loop"
	"github.com/dowserhq/dowser/schema"
)

// EscalationStore is the follow-up of alerts as the [Escalator] uses it.
type EscalationStore interface {
	// Escalate takes up to limit escalations due at now that no other
	// escalator holds, asks plan what to do with each (again, for an alert
	// whose step it then takes) and does it, each decision committed with
	// its effects: a step delivers the alert to its recipients and is
	// recorded once. It returns the steps taken, and the escalations it
	// stopped because they can never be carried out (set aside, with the
	// reason recorded), so that they do not fail every round.
	Escalate(ctx context.Context, now time.Time, limit int, plan func(dowser.PendingEscalation) dowser.EscalationPlan) ([]dowser.EscalationStep, []dowser.EscalationSetAside, error)
}

// DefaultFollowUp is the follow-up time of each priority unless
// configured: an urgent alert escalates after 15 minutes of its rep's
// working time unacknowledged, a high one after 4 hours; medium and low
// ones never.
func DefaultFollowUp() map[string]time.Duration {
	return map[string]time.Duration{schema.PriorityUrgent: 15 * time.Minute, schema.PriorityHigh: 4 * time.Hour}
}

// ParseFollowUp reads follow-up times as "urgent=15m,high=4h": a priority
// and a duration of at least a minute per item; a priority left out never
// escalates. "" is none at all.
func ParseFollowUp(v string) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, d, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not priority=duration, such as urgent=15m", item)
		}
		if !slices.Contains(priorities(), p) {
			return nil, fmt.Errorf("%q: %q is not one of %s", item, p, strings.Join(priorities(), ", "))
		}
		dur, err := time.ParseDuration(d)
		if err != nil || dur < time.Minute {
			return nil, fmt.Errorf("%q: %q is not a duration of at least 1m, such as 15m or 4h", item, d)
		}
		if _, dup := out[p]; dup {
			return nil, fmt.Errorf("priority %s is given twice", p)
		}
		out[p] = dur
	}
	return out, nil
}

// EscalatorConfig configures an Escalator. Zero values take the defaults
// named.
type EscalatorConfig struct {
	Store EscalationStore
	// FollowUp is each priority's follow-up time, counted in the working
	// hours of the rep's calendar; a priority without one never
	// escalates. nil is DefaultFollowUp.
	FollowUp map[string]time.Duration
	// Now is the clock: time.Now. Tests move it by hand.
	Now func() time.Time
	// Poll is how often the escalator looks for due steps: 5 s.
	Poll time.Duration
	// Batch is how many escalations one round takes: 100.
	Batch      int
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Escalator takes the steps of alerts' follow-up rules: an alert that
// nobody acknowledged (nor judged) within its priority's follow-up time,
// counted in its rep's working hours, goes to the managers following the
// rep; when as long again passes unacknowledged, to the next rep of the
// account's territory rules. An acknowledgement or a verdict by anyone
// stops it. Several instances' escalators share the work; each step
// happens once.
type Escalator struct {
	cfg   EscalatorConfig
	steps *prometheus.CounterVec
	loop  *loop.Loop
}

// NewEscalator returns an escalator over cfg.Store, its metrics
// registered with cfg.Registerer (when set).
func NewEscalator(cfg EscalatorConfig) (*Escalator, error) {
	if cfg.Store == nil {
		return nil, errors.New("escalation: no store")
	}
	if cfg.FollowUp == nil {
		cfg.FollowUp = DefaultFollowUp()
	}
	for p, d := range cfg.FollowUp {
		if d <= 0 {
			return nil, fmt.Errorf("escalation: follow-up time of %s is %v; leave the priority out instead", p, d)
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Escalator{cfg: cfg, steps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dowser_escalations_total",
		Help: "Escalation steps taken, by the alert's priority and the step (managers, territory); to = nobody when there was no one to take it to."},
		[]string{"priority", "step", "to"})}
	// Every series shows from the start, at zero, for rates and rules.
	for _, p := range priorities() {
		for _, s := range dowser.EscalationSteps() {
			e.steps.WithLabelValues(p, s, "someone")
			e.steps.WithLabelValues(p, s, "nobody")
		}
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(e.steps); err != nil {
			return nil, fmt.Errorf("registering escalation metrics: %w", err)
		}
	}
	var err error
	e.loop, err = loop.New(loop.Config{Name: "escalations", What: "escalating unacknowledged alerts", Interval: cfg.Poll, Batch: cfg.Batch,
		Logger: cfg.Logger, Registerer: cfg.Registerer})
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Run takes due steps until ctx ends: a round every Poll, at once again
// after a full batch. A round that fails (the store) is logged, counted
// and tried again after a backoff (loop.Loop.Run); an escalation that can
// never be carried out is set aside and does not fail it.
func (e *Escalator) Run(ctx context.Context) error {
	return e.loop.Run(ctx, e.Round)
}

// Failing words the escalator's failed rounds in a row, for /readyz; ""
// while its latest round succeeded.
func (e *Escalator) Failing() string { return e.loop.Failing() }

// Round decides one batch of due escalations at the clock's time and
// returns how many alerts it looked at.
func (e *Escalator) Round(ctx context.Context) (int, error) {
	now := e.cfg.Now()
	// The store may ask again for an alert whose step it takes.
	seen := map[string]bool{}
	steps, aside, err := e.cfg.Store.Escalate(ctx, now, e.cfg.Batch, func(p dowser.PendingEscalation) dowser.EscalationPlan {
		seen[p.AlertID] = true
		return Plan(p, now, e.cfg.FollowUp)
	})
	for _, b := range aside {
		seen[b.AlertID] = true
		e.loop.SetAside("alert", b.AlertID, b.Reason)
	}
	for _, st := range steps {
		to := "someone"
		if len(st.To) == 0 {
			to = "nobody"
		}
		e.steps.WithLabelValues(st.Priority, st.Kind, to).Inc()
		e.cfg.Logger.Info("alert escalated", "alert", st.AlertID, "step", st.Kind, "to", st.To, "reason", st.Reason)
	}
	return len(seen), err
}

// Plan decides what to do at now with a pending escalation under the
// follow-up times: stop it once acknowledged or when its priority has no
// follow-up time; else take the next step when its deadline (the
// follow-up time of working time after the alert, or after the previous
// step) has passed, or wait for it.
func Plan(p dowser.PendingEscalation, now time.Time, followUp map[string]time.Duration) dowser.EscalationPlan {
	last := len(dowser.EscalationSteps())
	d, ok := followUp[p.Priority]
	switch {
	case p.Acked:
		return dowser.EscalationPlan{Stop: "acknowledged"}
	case !ok:
		return dowser.EscalationPlan{Stop: fmt.Sprintf("no follow-up rule for priority %s", p.Priority)}
	case p.NextStep > last:
		return dowser.EscalationPlan{Stop: "every step taken"}
	}
	due := p.NextAt
	if due == nil {
		at := p.Calendar.AddWorking(p.CreatedAt, d)
		due = &at
	}
	if due.After(now) {
		return dowser.EscalationPlan{NextAt: *due}
	}
	pl := dowser.EscalationPlan{Step: p.NextStep,
		Reason: fmt.Sprintf("not acknowledged within %v of %s's working time (priority %s)", d*time.Duration(p.NextStep), p.RepID, p.Priority)}
	if p.NextStep < last {
		pl.NextAt = p.Calendar.AddWorking(now, d)
	}
	return pl
}

// priorities are the alerts' priorities, lowest first.
func priorities() []string {
	return []string{schema.PriorityLow, schema.PriorityMedium, schema.PriorityHigh, schema.PriorityUrgent}
}

// escalationFact is how a chat message or mail states an alert's latest
// escalation step: "to mgr-max at 2026-12-02 10:56 UTC: <reason>".
func escalationFact(e schema.Escalation) string {
	to := strings.Join(e.To, ", ")
	if to == "" {
		to = "nobody"
	}
	return fmt.Sprintf("to %s at %s: %s", to, e.At.UTC().Format("2006-01-02 15:04 UTC"), e.Reason)
}
