package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser"
)

// ListFeedbackReasons returns the reasons reps can give with a verdict,
// by position then id; retired ones only when withRetired.
func (s *Alerts) ListFeedbackReasons(ctx context.Context, withRetired bool) ([]dowser.FeedbackReason, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, label, position, retired, kinds FROM feedback_reasons
		WHERE $1 OR NOT retired ORDER BY position, id`, withRetired)
	if err != nil {
		return nil, fmt.Errorf("listing feedback reasons: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dowser.FeedbackReason])
	if err != nil {
		return nil, fmt.Errorf("reading feedback reasons: %w", err)
	}
	if out == nil {
		out = []dowser.FeedbackReason{}
	}
	return out, nil
}

// PutFeedbackReason creates or replaces a reason (retiring or restoring
// it as r.Retired says) and returns it as stored: without kinds (nil) a
// reason keeps the ones it had, and a new one fits every kind; kinds
// given are stored in the order of dowser.ReasonKinds. r must be valid
// (r.Validate).
func (s *Alerts) PutFeedbackReason(ctx context.Context, r dowser.FeedbackReason) (dowser.FeedbackReason, error) {
	err := s.pool.QueryRow(ctx, `
		WITH k AS (
			SELECT CASE WHEN $5::text[] IS NULL THEN NULL
				ELSE ARRAY(SELECT x FROM unnest($6::text[]) WITH ORDINALITY AS o(x, n) WHERE x = ANY($5) ORDER BY n) END AS kinds
		)
		INSERT INTO feedback_reasons (id, label, position, retired, kinds)
		SELECT $1, $2, $3, $4, coalesce(k.kinds, $6) FROM k
		ON CONFLICT (id) DO UPDATE SET label = $2, position = $3, retired = $4,
			kinds = coalesce((SELECT kinds FROM k), feedback_reasons.kinds), updated_at = now()
		RETURNING kinds`,
		r.ID, r.Label, r.Position, r.Retired, r.Kinds, dowser.ReasonKinds()).Scan(&r.Kinds)
	if err != nil {
		return r, fmt.Errorf("saving feedback reason %q: %w", r.ID, err)
	}
	return r, nil
}

// RetireFeedbackReason stops offering a reason; the verdicts that gave it
// keep it. It returns dowser.ErrNotFound for an unknown reason.
func (s *Alerts) RetireFeedbackReason(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE feedback_reasons SET retired = true, updated_at = now() WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("retiring feedback reason %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("feedback reason %q: %w", id, dowser.ErrNotFound)
	}
	return nil
}

// GiveVerdict records the user's verdict, with its reason, note and value,
// on an alert addressed to them, and acknowledges it; a later verdict
// replaces it. Every instance hears of it (ListenVerdicts). It returns dowser.ErrNotFound when the alert was not
// addressed to the user, an error wrapping dowser.ErrUnknownReason when the
// reason is retired or unknown, and one wrapping dowser.ErrReasonMisfit
// when the reason's kinds do not include the verdict (but for the verdict
// and reason stored already, saved again with a note or value: verdicts
// given before the reason's kinds changed keep their reason). v must be
// valid (v.Validate).
func (s *Alerts) GiveVerdict(ctx context.Context, userID, alertID string, v dowser.Verdict) error {
	var reason *string
	if v.Reason != "" {
		reason = &v.Reason
	}
	var judged int
	err := s.pool.QueryRow(ctx, `WITH judged AS (
		UPDATE deliveries SET verdict = $3, reason = $4, note = $5, value = $6, verdict_at = now(),
			acked_at = coalesce(acked_at, now()), seen_at = coalesce(seen_at, now())
		WHERE user_id = $1 AND alert_id = $2
			AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM feedback_reasons r WHERE r.id = $4 AND NOT r.retired
				AND ($3::text = ANY(r.kinds) OR (deliveries.verdict = $3 AND deliveries.reason = $4))))
		RETURNING `+judgedColumns+`
	), `+verdictToCRM+`, `+verdictNews("NULL")+`
	SELECT count(*) FROM news`,
		userID, alertID, v.Verdict, reason, v.Note, v.Value).Scan(&judged)
	if err != nil {
		return fmt.Errorf("saving the verdict on %s: %w", alertID, err)
	}
	if judged > 0 {
		return nil
	}
	if reason != nil {
		if err := refuseReason(ctx, s.pool, v.Reason, v.Verdict); err != nil {
			return err
		}
	}
	return fmt.Errorf("alert %s for %s: %w", alertID, userID, dowser.ErrNotFound)
}

// refuseReason returns why the reason id may not be given with kind: an
// error wrapping dowser.ErrUnknownReason for a retired or unknown reason,
// or dowser.ErrReasonMisfit for one whose kinds do not include kind; nil
// when it may. kind "" asks only whether the reason is active.
func refuseReason(ctx context.Context, q querier, id, kind string) error {
	r := dowser.FeedbackReason{ID: id}
	err := q.QueryRow(ctx, `SELECT kinds FROM feedback_reasons WHERE id = $1 AND NOT retired`, id).Scan(&r.Kinds)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("reason %q %w", id, dowser.ErrUnknownReason)
	case err != nil:
		return fmt.Errorf("checking feedback reason %q: %w", id, err)
	case kind != "" && !r.Fits(kind):
		return r.Misfit(kind)
	}
	return nil
}

// outcomeColumns are the dowser.Outcomes of the deliveries d of alerts a,
// after their alert count.
const outcomeColumns = `
	count(d.alert_id),
	count(*) FILTER (WHERE d.acked_at IS NOT NULL OR d.verdict IS NOT NULL),
	count(*) FILTER (WHERE d.verdict = 'useful'),
	count(*) FILTER (WHERE d.verdict = 'not_useful'),
	count(*) FILTER (WHERE d.verdict = 'won'),
	coalesce(sum(d.value) FILTER (WHERE d.verdict = 'won'), 0)::float8`

// FeedbackReport reads what the verdicts say over the last weeks weeks
// (the current week and the weeks-1 before it, counted by when the alerts
// fired): per signal, per content item and per reason. Each signal's
// impact covers 4 and 12 weeks whatever weeks is, with 12 weekly buckets.
func (s *Alerts) FeedbackReport(ctx context.Context, now time.Time, weeks int) (dowser.FeedbackReport, error) {
	if weeks < 1 {
		return dowser.FeedbackReport{}, fmt.Errorf("feedback report over %d weeks: want at least 1", weeks)
	}
	thisWeek := dowser.WeekStart(now)
	since := thisWeek.AddDate(0, 0, -7*(weeks-1))
	since12 := thisWeek.AddDate(0, 0, -7*11)
	since4 := thisWeek.AddDate(0, 0, -7*3)
	rep := dowser.FeedbackReport{Weeks: weeks, Since: since}
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var err error
		if rep.Signals, err = signalImpacts(ctx, tx, since12, since4); err != nil {
			return err
		}
		if rep.Content, err = contentOutcomes(ctx, tx, since); err != nil {
			return err
		}
		rep.Reasons, err = reasonCounts(ctx, tx, since)
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("reading the feedback report: %w", err)
	}
	return rep, nil
}

func signalImpacts(ctx context.Context, tx pgx.Tx, since12, since4 time.Time) ([]dowser.SignalImpact, error) {
	rows, err := tx.Query(ctx, `
		WITH a AS (
			SELECT id, signal_id, date_trunc('week', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS week
			FROM alerts WHERE created_at >= $1
		), ids AS (
			SELECT id AS signal_id FROM signals WHERE NOT deleted UNION SELECT DISTINCT signal_id FROM a
		)
		SELECT ids.signal_id, a.week, count(DISTINCT a.id),`+outcomeColumns+`
		FROM ids LEFT JOIN a USING (signal_id) LEFT JOIN deliveries d ON d.alert_id = a.id
		GROUP BY ids.signal_id, a.week ORDER BY ids.signal_id, a.week`, since12)
	if err != nil {
		return nil, err
	}
	var out []dowser.SignalImpact
	var id string
	var week *time.Time
	var o dowser.Outcomes
	_, err = pgx.ForEachRow(rows, []any{&id, &week, &o.Alerts, &o.Delivered, &o.Acted, &o.Useful, &o.NotUseful, &o.Won, &o.Value}, func() error {
		if len(out) == 0 || out[len(out)-1].SignalID != id {
			si := dowser.SignalImpact{SignalID: id, Weekly: make([]dowser.WeekOutcomes, 12), Reasons: []dowser.ReasonCount{}}
			for i := range si.Weekly {
				si.Weekly[i].Week = since12.AddDate(0, 0, 7*i)
			}
			out = append(out, si)
		}
		if week == nil {
			return nil // a signal without alerts
		}
		si := &out[len(out)-1]
		if i := int(week.Sub(since12).Hours()+1) / (24 * 7); i >= 0 && i < len(si.Weekly) {
			si.Weekly[i].Outcomes = o
		}
		add(&si.Weeks12, o)
		if !week.Before(since4) {
			add(&si.Weeks4, o)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	reasons, err := tx.Query(ctx, `
		SELECT a.signal_id, d.reason, r.label,
			count(*) FILTER (WHERE d.verdict = 'not_useful'), count(*) FILTER (WHERE d.verdict = 'won')
		FROM deliveries d JOIN alerts a ON a.id = d.alert_id JOIN feedback_reasons r ON r.id = d.reason
		WHERE a.created_at >= $1 GROUP BY a.signal_id, d.reason, r.label, r.position ORDER BY a.signal_id, r.position, d.reason`, since12)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*dowser.SignalImpact, len(out))
	for i := range out {
		byID[out[i].SignalID] = &out[i]
	}
	var rc dowser.ReasonCount
	_, err = pgx.ForEachRow(reasons, []any{&id, &rc.Reason, &rc.Label, &rc.NotUseful, &rc.Won}, func() error {
		if si := byID[id]; si != nil {
			si.Reasons = append(si.Reasons, rc)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Suggestion = out[i].Suggest()
	}
	if out == nil {
		out = []dowser.SignalImpact{}
	}
	return out, nil
}

func add(sum *dowser.Outcomes, o dowser.Outcomes) {
	sum.Alerts += o.Alerts
	sum.Delivered += o.Delivered
	sum.Acted += o.Acted
	sum.Useful += o.Useful
	sum.NotUseful += o.NotUseful
	sum.Won += o.Won
	sum.Value += o.Value
}

// maxReportContent bounds the content items a report lists, most alerted
// first.
const maxReportContent = 200

func contentOutcomes(ctx context.Context, tx pgx.Tx, since time.Time) ([]dowser.ContentOutcomes, error) {
	rows, err := tx.Query(ctx, `
		WITH ac AS (
			SELECT DISTINCT e.alert_id, e.content_id FROM alert_evidence e JOIN alerts a ON a.id = e.alert_id
			WHERE e.content_id <> '' AND a.created_at >= $1
		)
		SELECT ac.content_id, coalesce(c.title, ''), count(DISTINCT ac.alert_id),`+outcomeColumns+`
		FROM ac LEFT JOIN deliveries d ON d.alert_id = ac.alert_id LEFT JOIN content c ON c.id = ac.content_id
		GROUP BY ac.content_id, c.title ORDER BY 3 DESC, 1 LIMIT $2`, since, maxReportContent)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (dowser.ContentOutcomes, error) {
		var c dowser.ContentOutcomes
		err := row.Scan(&c.ContentID, &c.Title, &c.Alerts, &c.Delivered, &c.Acted, &c.Useful, &c.NotUseful, &c.Won, &c.Value)
		return c, err
	})
	if out == nil {
		out = []dowser.ContentOutcomes{}
	}
	return out, err
}

// reasonCounts counts the reasons given since then, every active reason
// listed even when unused.
func reasonCounts(ctx context.Context, tx pgx.Tx, since time.Time) ([]dowser.ReasonCount, error) {
	rows, err := tx.Query(ctx, `
		WITH given AS (
			SELECT d.reason, d.verdict FROM deliveries d JOIN alerts a ON a.id = d.alert_id
			WHERE d.reason IS NOT NULL AND a.created_at >= $1
		)
		SELECT r.id, r.label, count(g.reason) FILTER (WHERE g.verdict = 'not_useful'), count(g.reason) FILTER (WHERE g.verdict = 'won')
		FROM feedback_reasons r LEFT JOIN given g ON g.reason = r.id
		GROUP BY r.id, r.label, r.position, r.retired
		HAVING NOT r.retired OR count(g.reason) > 0
		ORDER BY r.position, r.id`, since)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dowser.ReasonCount])
	if out == nil {
		out = []dowser.ReasonCount{}
	}
	return out, err
}

// ExportFeedback hands row every alert fired since then, oldest first, one
// row per delivery (an alert nobody received gets one row with an empty
// recipient), as dowser.ExportColumns say. Times are RFC 3339 in UTC; absent
// values are empty. The rows name accounts and users, not people.
func (s *Alerts) ExportFeedback(ctx context.Context, since time.Time, row func([]string) error) error {
	rows, err := s.pool.Query(ctx, `
		SELECT a.id, a.created_at, a.signal_id, a.signal_version, a.priority, a.account_id,
			coalesce(d.user_id, ''), d.seen_at, d.acked_at, coalesce(d.verdict, ''), coalesce(d.reason, ''),
			d.value::text, coalesce(d.note, ''), d.verdict_at
		FROM alerts a LEFT JOIN deliveries d ON d.alert_id = a.id
		WHERE a.created_at >= $1 ORDER BY a.created_at, a.id, d.user_id`, since)
	if err != nil {
		return fmt.Errorf("exporting alerts: %w", err)
	}
	defer rows.Close()
	var (
		id, signal, priority, account, user, verdict, reason, note string
		version                                                    int
		fired                                                      time.Time
		seen, acked, verdictAt                                     *time.Time
		value                                                      *string
	)
	rec := make([]string, len(dowser.ExportColumns))
	stamp := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for rows.Next() {
		if err := rows.Scan(&id, &fired, &signal, &version, &priority, &account, &user, &seen, &acked, &verdict, &reason, &value, &note, &verdictAt); err != nil {
			return fmt.Errorf("reading an exported alert: %w", err)
		}
		rec[0], rec[1], rec[2], rec[3], rec[4], rec[5] = id, stamp(&fired), signal, strconv.Itoa(version), priority, account
		rec[6], rec[7], rec[8], rec[9], rec[10] = user, stamp(seen), stamp(acked), verdict, reason
		rec[11] = ""
		if value != nil {
			rec[11] = *value
		}
		rec[12], rec[13] = note, stamp(verdictAt)
		if err := row(rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("exporting alerts: %w", err)
	}
	return nil
}
