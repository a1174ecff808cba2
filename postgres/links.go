package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser"
)

// linkSQL is what each one-click action does to the user's delivery of the
// alert ($1 user, $2 alert, $3 the snooze's end), as the panel's own
// actions do; each answers how many deliveries it changed, and a verdict
// or a first acknowledgement is announced to every instance
// (ListenVerdicts).
var linkSQL = map[dowser.LinkAction]string{
	// Announced when it acknowledges first (ackSQL); answers 1 when the
	// delivery exists.
	dowser.LinkAck: ackSQL("NULL", "$3::timestamptz IS NULL"),
	dowser.LinkSnooze: `WITH done AS (UPDATE deliveries SET snoozed_until = $3, seen_at = coalesce(seen_at, now())
		WHERE user_id = $1 AND alert_id = $2 RETURNING 1)
		SELECT count(*) FROM done`,
	// A verdict given again keeps the reason and value given with it.
	dowser.LinkUseful: `WITH judged AS (UPDATE deliveries SET verdict = 'useful', verdict_at = now(),
			reason = CASE WHEN verdict = 'useful' THEN reason END, value = CASE WHEN verdict = 'useful' THEN value END,
			acked_at = coalesce(acked_at, now()), seen_at = coalesce(seen_at, now())
		WHERE user_id = $1 AND alert_id = $2 AND $3::timestamptz IS NULL RETURNING ` + judgedColumns + `
	), ` + verdictToCRM + `, ` + verdictNews("NULL") + `
	SELECT count(*) FROM news`,
	dowser.LinkNotUseful: `WITH judged AS (UPDATE deliveries SET verdict = 'not_useful', verdict_at = now(),
			reason = CASE WHEN verdict = 'not_useful' THEN reason END, value = NULL,
			acked_at = coalesce(acked_at, now()), seen_at = coalesce(seen_at, now())
		WHERE user_id = $1 AND alert_id = $2 AND $3::timestamptz IS NULL RETURNING ` + judgedColumns + `
	), ` + verdictToCRM + `, ` + verdictNews("NULL") + `
	SELECT count(*) FROM news`,
}

// LinkUsed reports whether the link with nonce was used already.
func (s *Alerts) LinkUsed(ctx context.Context, nonce string) (bool, error) {
	var used bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM link_uses WHERE nonce = $1)`, nonce).Scan(&used); err != nil {
		return false, fmt.Errorf("looking up a link: %w", err)
	}
	return used, nil
}

// UseLink does what a checked one-click link says, once: the link's nonce
// is recorded in the transaction that acts, so a second use (or two at
// once) finds it and gets dowser.ErrLinkUsed, and a failed action records
// nothing. It returns dowser.ErrNotFound when the alert was not addressed
// to the user, or the user is disabled or gone.
func (s *Alerts) UseLink(ctx context.Context, l dowser.Link, now time.Time) error {
	q, ok := linkSQL[l.Action]
	if !ok {
		return fmt.Errorf("link action %q: %w", l.Action, dowser.ErrLinkForged)
	}
	var until *time.Time
	if l.Action == dowser.LinkSnooze {
		u := now.Add(dowser.LinkSnoozeFor)
		until = &u
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO link_uses (nonce, user_id, alert_id, action, expires_at)
			SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM users WHERE id = $2 AND NOT disabled)
			ON CONFLICT (nonce) DO NOTHING`, l.Nonce, l.UserID, l.AlertID, string(l.Action), l.Expires)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var used bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM link_uses WHERE nonce = $1)`, l.Nonce).Scan(&used); err != nil {
				return err
			}
			if used {
				return dowser.ErrLinkUsed
			}
			return fmt.Errorf("user %s: %w", l.UserID, dowser.ErrNotFound)
		}
		var changed int
		if err := tx.QueryRow(ctx, q, l.UserID, l.AlertID, until).Scan(&changed); err != nil {
			return err
		}
		if changed == 0 {
			return fmt.Errorf("alert %s for %s: %w", l.AlertID, l.UserID, dowser.ErrNotFound)
		}
		// Links past their expiry are refused before their nonce is
		// looked up: their rows can go, a few at a time.
		_, err = tx.Exec(ctx, `DELETE FROM link_uses WHERE nonce IN (
			SELECT nonce FROM link_uses WHERE expires_at < $1 LIMIT 100 FOR UPDATE SKIP LOCKED)`, now)
		return err
	})
	if errors.Is(err, dowser.ErrLinkUsed) || errors.Is(err, dowser.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("using a %s link on %s: %w", l.Action, l.AlertID, err)
	}
	return nil
}
