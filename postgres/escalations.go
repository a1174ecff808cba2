package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dowserhq/dowser"
)

// Escalations stores users' calendars (working hours, absences) and the
// follow-up of alerts: where each alert with a rep stands, and every
// escalation step taken. A step delivers the alert to its new recipients
// like a new alert: a delivery (the panel, through the outbox and the
// alerts topic) and a channel delivery per enabled channel, in the
// transaction that records the step.
type Escalations struct{ pool *pgxpool.Pool }

// Calendar returns the user's calendar: the zero calendar (round the
// clock, UTC, never away) when they set none; dowser.ErrNotFound when
// there is no such user.
func (s *Escalations) Calendar(ctx context.Context, userID string) (dowser.Calendar, error) {
	c := dowser.Calendar{UserID: userID}
	var days []int16
	var start, end int
	err := s.pool.QueryRow(ctx, `
		SELECT coalesce(c.time_zone, 'UTC'), coalesce(c.work_days, '{}'), coalesce(c.work_start, 0), coalesce(c.work_end, 1440), c.away_from, c.away_until
		FROM users u LEFT JOIN user_calendars c ON c.user_id = u.id WHERE u.id = $1 AND u.deleted_at IS NULL`, userID).
		Scan(&c.TimeZone, &days, &start, &end, &c.AwayFrom, &c.AwayUntil)
	if err != nil {
		return c, notFound(err, "user "+userID)
	}
	return c, c.SetStored(days, start, end)
}

// PutCalendar replaces the calendar of c.UserID; dowser.ErrNotFound when
// there is no such user. c must be valid.
func (s *Escalations) PutCalendar(ctx context.Context, c dowser.Calendar) error {
	start, end := c.WorkMinutes()
	tz := c.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO user_calendars (user_id, time_zone, work_days, work_start, work_end, away_from, away_until)
		SELECT id, $2, $3, $4, $5, $6, $7 FROM users WHERE id = $1 AND deleted_at IS NULL
		ON CONFLICT (user_id) DO UPDATE SET time_zone = $2, work_days = $3, work_start = $4, work_end = $5,
			away_from = $6, away_until = $7, updated_at = now()`,
		c.UserID, tz, c.ISOWorkDays(), start, end, c.AwayFrom, c.AwayUntil)
	if err != nil {
		return fmt.Errorf("saving the calendar of %s: %w", c.UserID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("user %s: %w", c.UserID, dowser.ErrNotFound)
	}
	return nil
}

// awaySQL is true for a user_calendars row c whose absence covers $at.
const awaySQL = `(c.away_until IS NOT NULL AND @at < c.away_until AND (c.away_from IS NULL OR @at >= c.away_from))`

// Away returns, sorted, those of the users who are out of office at at.
func (s *Escalations) Away(ctx context.Context, userIDs []string, at time.Time) ([]string, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT c.user_id FROM user_calendars c WHERE c.user_id = ANY(@ids) AND `+awaySQL+` ORDER BY c.user_id`,
		pgx.NamedArgs{"ids": userIDs, "at": at})
	if err != nil {
		return nil, markPermanent(fmt.Errorf("finding users out of office: %w", err))
	}
	away, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, markPermanent(fmt.Errorf("reading users out of office: %w", err))
	}
	return away, nil
}

// EscalationSteps returns the steps taken in the alert's follow-up, in
// order; none (not an error) for an alert that never escalated or does
// not exist.
func (s *Escalations) EscalationSteps(ctx context.Context, alertID string) ([]dowser.EscalationStep, error) {
	rows, err := s.pool.Query(ctx, `SELECT alert_id, step, kind, to_users, reason, at FROM escalation_steps WHERE alert_id = $1 ORDER BY step`, alertID)
	if err != nil {
		return nil, fmt.Errorf("listing the escalation steps of %s: %w", alertID, err)
	}
	out := []dowser.EscalationStep{}
	var st dowser.EscalationStep
	_, err = pgx.ForEachRow(rows, []any{&st.AlertID, &st.Step, &st.Kind, &st.To, &st.Reason, &st.At}, func() error {
		out = append(out, st)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the escalation steps of %s: %w", alertID, err)
	}
	return out, nil
}

// Escalate takes up to limit pending escalations due at now (another
// instance's are skipped: each row stays locked until its decision is
// committed), asks plan what to do with each, and does it: stop the
// follow-up, take a step, reschedule. The cheap decisions of the batch
// commit together; each step then has a transaction of its own, which
// claims its row again, asks plan again, and delivers the alert to the
// step's recipients (users out of office at now are passed over) and
// records the step, so that the users' rows a delivery locks are held no
// longer than one step. A step that found nobody leaves the next one due
// at once. Each step thus happens once, whichever instance takes it and
// however often one crashes.
//
// A follow-up that can never be carried out (its rep's calendar cannot be
// read; its rows are refused for what they hold, SQLSTATE class 22 or 23)
// is stopped with "set aside: " and the reason, and returned among the set
// aside; the others go on. A row whose step fails otherwise is retried a
// minute later; its error is returned with the steps taken.
func (s *Escalations) Escalate(ctx context.Context, now time.Time, limit int, plan func(dowser.PendingEscalation) dowser.EscalationPlan) ([]dowser.EscalationStep, []dowser.EscalationSetAside, error) {
	var steps []dowser.EscalationStep
	var errs []error
	var due []string
	var aside []dowser.EscalationSetAside
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		pending, broken, err := claimEscalations(ctx, tx, now, limit, "")
		if err != nil {
			return err
		}
		for _, b := range broken {
			if err := setEscalationAside(ctx, tx, now, b); err != nil {
				return err
			}
			aside = append(aside, b)
		}
		for _, p := range pending {
			pl := plan(p)
			if pl.Stop == "" && pl.Step > 0 {
				due = append(due, p.AlertID)
				continue
			}
			// A savepoint per row, so that one row refused for good does
			// not undo the batch's other decisions.
			err := pgx.BeginFunc(ctx, tx, func(row pgx.Tx) error {
				_, err := s.decide(ctx, row, now, p, pl)
				return err
			})
			if err == nil {
				continue
			}
			if !isPermanent(err) {
				return fmt.Errorf("escalating alert %s: %w", p.AlertID, err)
			}
			b := dowser.EscalationSetAside{AlertID: p.AlertID, Reason: err.Error()}
			if err := setEscalationAside(ctx, tx, now, b); err != nil {
				return err
			}
			aside = append(aside, b)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	for _, id := range due {
		var st *dowser.EscalationStep
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			pending, _, err := claimEscalations(ctx, tx, now, 1, id)
			if err != nil || len(pending) == 0 {
				return err // taken meanwhile by another escalator
			}
			st, err = s.decide(ctx, tx, now, pending[0], plan(pending[0]))
			return err
		})
		switch {
		case err != nil && isPermanent(err) && ctx.Err() == nil:
			b := dowser.EscalationSetAside{AlertID: id, Reason: err.Error()}
			if err := setEscalationAside(ctx, s.pool, now, b); err != nil {
				errs = append(errs, err)
				continue
			}
			aside = append(aside, b)
		case err != nil:
			errs = append(errs, fmt.Errorf("escalating alert %s: %w", id, err))
			if ctx.Err() == nil {
				if _, err := s.pool.Exec(ctx, `UPDATE alert_escalations SET next_at = $2 WHERE alert_id = $1 AND done_at IS NULL`, id, now.Add(time.Minute)); err != nil {
					errs = append(errs, fmt.Errorf("putting off alert %s: %w", id, err))
				}
			}
		case st != nil:
			steps = append(steps, *st)
		}
	}
	return steps, aside, errors.Join(errs...)
}

// setEscalationAside stops the follow-up of b.AlertID for b.Reason.
func setEscalationAside(ctx context.Context, db querier, now time.Time, b dowser.EscalationSetAside) error {
	_, err := db.Exec(ctx, `UPDATE alert_escalations SET done_at = $2, stop_reason = 'set aside: ' || $3 WHERE alert_id = $1 AND done_at IS NULL`,
		b.AlertID, now, b.Reason)
	if err != nil {
		return fmt.Errorf("setting aside the follow-up of alert %s: %w", b.AlertID, err)
	}
	return nil
}

// claimEscalations locks up to limit follow-ups due at now that no other
// transaction holds, with their reps' calendars; only alertID's when set.
// Those whose calendar cannot be read come apart, as broken.
func claimEscalations(ctx context.Context, tx pgx.Tx, now time.Time, limit int, alertID string) (pending []dowser.PendingEscalation, broken []dowser.EscalationSetAside, err error) {
	rows, err := tx.Query(ctx, `
		SELECT e.alert_id, e.rep_id, e.priority, e.created_at, e.next_step, e.next_at,
			EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_id = e.alert_id AND (d.acked_at IS NOT NULL OR d.verdict IS NOT NULL)),
			coalesce(c.time_zone, 'UTC'), coalesce(c.work_days, '{}'), coalesce(c.work_start, 0), coalesce(c.work_end, 1440), c.away_from, c.away_until
		FROM alert_escalations e LEFT JOIN user_calendars c ON c.user_id = e.rep_id
		WHERE e.done_at IS NULL AND (e.next_at IS NULL OR e.next_at <= $1) AND ($3 = '' OR e.alert_id = $3)
		ORDER BY e.next_at NULLS FIRST LIMIT $2
		FOR UPDATE OF e SKIP LOCKED`, now, limit, alertID)
	if err != nil {
		return nil, nil, fmt.Errorf("claiming due escalations: %w", err)
	}
	var p dowser.PendingEscalation
	var days []int16
	var start, end int
	_, err = pgx.ForEachRow(rows, []any{&p.AlertID, &p.RepID, &p.Priority, &p.CreatedAt, &p.NextStep, &p.NextAt, &p.Acked,
		&p.Calendar.TimeZone, &days, &start, &end, &p.Calendar.AwayFrom, &p.Calendar.AwayUntil}, func() error {
		p.Calendar.UserID = p.RepID
		if err := p.Calendar.SetStored(days, start, end); err != nil {
			broken = append(broken, dowser.EscalationSetAside{AlertID: p.AlertID, Reason: err.Error()})
		} else {
			pending = append(pending, p)
		}
		p = dowser.PendingEscalation{}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading due escalations: %w", err)
	}
	return pending, broken, nil
}

// decide carries out pl for p in tx; it returns the step taken, if any.
func (s *Escalations) decide(ctx context.Context, tx pgx.Tx, now time.Time, p dowser.PendingEscalation, pl dowser.EscalationPlan) (*dowser.EscalationStep, error) {
	switch {
	case pl.Stop != "":
		_, err := tx.Exec(ctx, `UPDATE alert_escalations SET done_at = $2, stop_reason = $3 WHERE alert_id = $1`, p.AlertID, now, pl.Stop)
		return nil, err
	case pl.Step == 0:
		_, err := tx.Exec(ctx, `UPDATE alert_escalations SET next_at = $2 WHERE alert_id = $1`, p.AlertID, pl.NextAt)
		return nil, err
	case pl.Step < 1 || pl.Step > len(dowser.EscalationSteps()):
		return nil, fmt.Errorf("no escalation step %d", pl.Step)
	}
	st := dowser.EscalationStep{AlertID: p.AlertID, Step: pl.Step, Kind: dowser.EscalationSteps()[pl.Step-1], Reason: pl.Reason, At: now, Priority: p.Priority}
	var err error
	if st.To, err = s.stepRecipients(ctx, tx, now, p, st.Kind); err != nil {
		return nil, err
	}
	if len(st.To) == 0 {
		switch st.Kind {
		case dowser.EscalateToManagers:
			st.Reason += "; no manager follows " + p.RepID + " (or every one is away)"
		default:
			st.Reason += "; no other rep of the account's territory rules is available"
		}
	}
	tag, err := tx.Exec(ctx, `INSERT INTO escalation_steps (alert_id, step, kind, to_users, reason, at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT DO NOTHING`, st.AlertID, st.Step, st.Kind, st.To, st.Reason, st.At)
	if err != nil {
		return nil, fmt.Errorf("recording step %d: %w", st.Step, err)
	}
	if tag.RowsAffected() == 0 {
		// Taken already (the follow-up row was reset by hand?): never twice.
		_, err := tx.Exec(ctx, `UPDATE alert_escalations SET next_step = $2 + 1, next_at = $3 WHERE alert_id = $1`, p.AlertID, st.Step, now)
		return nil, err
	}
	// The alert's document carries its steps, so that every reader (the
	// panel's card, GET /v1/alerts, the channels) sees them.
	_, err = tx.Exec(ctx, `UPDATE alerts SET body = jsonb_set(body, '{escalations}', coalesce(body->'escalations', '[]'::jsonb) ||
		jsonb_build_array(jsonb_build_object('step', $2::int, 'kind', $3::text, 'to', to_jsonb($4::text[]), 'reason', $5::text, 'at', $6::timestamptz)))
		WHERE id = $1`, st.AlertID, st.Step, st.Kind, st.To, st.Reason, st.At)
	if err != nil {
		return nil, fmt.Errorf("adding step %d to the alert: %w", st.Step, err)
	}
	if len(st.To) > 0 {
		if _, err := tx.Exec(ctx, escalateDeliverSQL, st.AlertID, st.To, st.Step, p.Priority); err != nil {
			return nil, fmt.Errorf("delivering step %d: %w", st.Step, err)
		}
	}
	next := &pl.NextAt
	switch {
	case pl.NextAt.IsZero():
		next = nil
	case len(st.To) == 0:
		next = &now // nobody at this step: the next one now
	}
	if next == nil {
		_, err = tx.Exec(ctx, `UPDATE alert_escalations SET next_step = $2 + 1, done_at = $3, stop_reason = 'every step taken' WHERE alert_id = $1`, p.AlertID, st.Step, now)
	} else {
		_, err = tx.Exec(ctx, `UPDATE alert_escalations SET next_step = $2 + 1, next_at = $3 WHERE alert_id = $1`, p.AlertID, st.Step, *next)
	}
	if err != nil {
		return nil, fmt.Errorf("scheduling the step after %d: %w", st.Step, err)
	}
	return &st, nil
}

// stepRecipients returns, sorted, who a step of kind takes the alert to:
// the active managers following the rep, or the rep of the first
// territory rule, by priority then id, that the alert's account (or its
// person's account) matches and whose rep is another active user; users
// out of office at now are passed over.
func (s *Escalations) stepRecipients(ctx context.Context, tx pgx.Tx, now time.Time, p dowser.PendingEscalation, kind string) ([]string, error) {
	var sql string
	switch kind {
	case dowser.EscalateToManagers:
		sql = `SELECT DISTINCT m.manager_id FROM manager_subscriptions m
			JOIN users u ON u.id = m.manager_id AND u.role = 'manager' AND NOT u.disabled AND u.deleted_at IS NULL
			LEFT JOIN user_calendars c ON c.user_id = m.manager_id
			WHERE m.rep_id = @rep AND NOT coalesce(` + awaySQL + `, false)
			ORDER BY m.manager_id`
	default:
		sql = `WITH acct AS (
				SELECT a.region, a.industry, a.size FROM alerts al
				LEFT JOIN contacts ct ON ct.id = al.customer_id AND al.customer_id <> ''
				JOIN accounts a ON a.id = coalesce(nullif(al.account_id, ''), ct.account_id)
				WHERE al.id = @alert
			)
			SELECT r.rep_id FROM territory_rules r
			JOIN users u ON u.id = r.rep_id AND u.role IN ('rep', 'manager') AND NOT u.disabled AND u.deleted_at IS NULL
			LEFT JOIN user_calendars c ON c.user_id = r.rep_id
			LEFT JOIN acct ON true
			WHERE r.rep_id <> @rep AND NOT coalesce(` + awaySQL + `, false)
				AND (r.region = '' OR lower(r.region) = lower(coalesce(acct.region, '')))
				AND (r.industry = '' OR lower(r.industry) = lower(coalesce(acct.industry, '')))
				AND (r.size = '' OR lower(r.size) = lower(coalesce(acct.size, '')))
			ORDER BY r.priority, r.id LIMIT 1`
	}
	rows, err := tx.Query(ctx, sql, pgx.NamedArgs{"rep": p.RepID, "alert": p.AlertID, "at": now})
	if err != nil {
		return nil, fmt.Errorf("finding the recipients of the %s step: %w", kind, err)
	}
	to, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading the recipients of the %s step: %w", kind, err)
	}
	if to == nil {
		to = []string{}
	}
	return to, nil
}

// escalateDeliverSQL delivers alert $1 to users $2 for step $3 (of an
// alert of priority $4) as SaveAlert delivers a new alert: each user's
// next sequence (rows locked in id order, like SaveAlert's), their
// delivery (one already there, such as a manager's, moves to the new
// sequence, so that their panel shows it again), a channel delivery per
// enabled channel (e-mail only when urgent) and an outbox row for the
// alerts topic.
const escalateDeliverSQL = `
WITH locked AS (
	SELECT u.id FROM users u WHERE u.id = ANY($2::text[]) ORDER BY u.id FOR UPDATE
), numbered AS (
	UPDATE users u SET last_seq = u.last_seq + 1 FROM locked WHERE u.id = locked.id
	RETURNING u.id, u.last_seq
), delivered AS (
	INSERT INTO deliveries (user_id, seq, alert_id)
	SELECT numbered.id, numbered.last_seq, $1 FROM numbered
	ON CONFLICT (user_id, alert_id) DO UPDATE SET seq = EXCLUDED.seq
	RETURNING user_id, seq
), channeled AS (
	INSERT INTO channel_deliveries (alert_id, user_id, channel_id, escalation_step)
	SELECT $1, c.user_id, c.id, $3 FROM delivered
	JOIN channels c ON c.user_id = delivered.user_id AND c.enabled AND (c.kind <> 'email' OR $4 = 'urgent')
	ON CONFLICT DO NOTHING
)
INSERT INTO outbox (alert_id, recipients, seqs)
SELECT $1, ARRAY(SELECT user_id FROM delivered ORDER BY user_id), ARRAY(SELECT seq FROM delivered ORDER BY user_id)`

// CanSeeAlert reports whether the alert exists and userID may read its
// follow-up: it was addressed to them, or to a user they follow (a
// manager). userID "" (an admin) may read any alert's.
func (s *Escalations) CanSeeAlert(ctx context.Context, alertID, userID string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `
		SELECT CASE WHEN $2 = '' THEN EXISTS (SELECT 1 FROM alerts WHERE id = $1)
			ELSE EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_id = $1
				AND (d.user_id = $2 OR d.user_id IN (SELECT rep_id FROM manager_subscriptions WHERE manager_id = $2))) END`,
		alertID, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("checking who may read alert %s: %w", alertID, err)
	}
	return ok, nil
}
