package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser/schema"
)

// SaveAlert stores an alert, its evidence and one delivery per recipient in
// one transaction. An alert whose id is already stored is left as it was and
// yields no deliveries, so a replayed event can never notify anyone twice.
func (s *Store) SaveAlert(ctx context.Context, a *schema.Alert, recipients []string) ([]schema.Delivery, error) {
	body, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encoding alert %s: %w", a.ID, err)
	}
	// Lock users in a fixed order so that two partitions delivering to the
	// same people cannot deadlock.
	recipients = append([]string(nil), recipients...)
	sort.Strings(recipients)
	var out []schema.Delivery
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = out[:0]
		tag, err := tx.Exec(ctx, `
			INSERT INTO alerts (id, signal_id, signal_version, subject, customer_id, account_id, priority, event_id, event_time, body)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING`,
			a.ID, a.SignalID, a.SignalVersion, a.Subject, a.CustomerID, a.AccountID, a.Priority, a.EventID, a.Time, body)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		batch := &pgx.Batch{}
		for i, ev := range a.Evidence {
			batch.Queue(`INSERT INTO alert_evidence (alert_id, position, event_id, event_type, event_time, customer_id, content_id, url)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, a.ID, i, ev.EventID, ev.Type, ev.Time, ev.CustomerID, ev.ContentID, ev.URL)
		}
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("storing evidence: %w", err)
		}
		for _, user := range recipients {
			var seq int64
			err := tx.QueryRow(ctx, `UPDATE users SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq`, user).Scan(&seq)
			if err == pgx.ErrNoRows {
				continue // a recipient that no longer exists receives nothing
			}
			if err != nil {
				return fmt.Errorf("numbering delivery to %q: %w", user, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO deliveries (user_id, seq, alert_id) VALUES ($1, $2, $3)`, user, seq, a.ID); err != nil {
				return fmt.Errorf("storing delivery to %q: %w", user, err)
			}
			out = append(out, schema.Delivery{UserID: user, Seq: seq, AlertID: a.ID, Alert: body})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("saving alert %s: %w", a.ID, err)
	}
	return out, nil
}

// DeliveriesAfter returns up to limit of the user's deliveries with a
// sequence above after, in sequence order.
func (s *Store) DeliveriesAfter(ctx context.Context, userID string, after int64, limit int) ([]schema.Delivery, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT d.seq, d.alert_id, a.body, d.acked_at IS NOT NULL, coalesce(d.verdict, '') FROM deliveries d JOIN alerts a ON a.id = d.alert_id
		WHERE d.user_id = $1 AND d.seq > $2 ORDER BY d.seq LIMIT $3`, userID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("reading deliveries of %q: %w", userID, err)
	}
	defer rows.Close()
	var out []schema.Delivery
	for rows.Next() {
		d := schema.Delivery{UserID: userID}
		if err := rows.Scan(&d.Seq, &d.AlertID, &d.Alert, &d.Acked, &d.Verdict); err != nil {
			return nil, fmt.Errorf("reading delivery: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// LastSeq returns the highest sequence handed out to the user.
func (s *Store) LastSeq(ctx context.Context, userID string) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT last_seq FROM users WHERE id = $1`, userID).Scan(&seq); err != nil {
		return 0, notFound(err, "user "+userID)
	}
	return seq, nil
}

// Ack records that the user acknowledged an alert addressed to them. It
// returns ErrNotFound when the alert was not addressed to the user.
func (s *Store) Ack(ctx context.Context, userID, alertID string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE deliveries SET acked_at = coalesce(acked_at, now()) WHERE user_id = $1 AND alert_id = $2`, userID, alertID)
	if err != nil {
		return fmt.Errorf("acknowledging %s: %w", alertID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("alert %s for %s: %w", alertID, userID, ErrNotFound)
	}
	return nil
}

// Feedback records the user's verdict (and an optional note) on an alert addressed to them; it
// also acknowledges it. It returns ErrNotFound when the alert was not
// addressed to the user.
func (s *Store) Feedback(ctx context.Context, userID, alertID, verdict, note string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE deliveries SET verdict = $3, note = $4, acked_at = coalesce(acked_at, now()) WHERE user_id = $1 AND alert_id = $2`,
		userID, alertID, verdict, note)
	if err != nil {
		return fmt.Errorf("saving feedback on %s: %w", alertID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("alert %s for %s: %w", alertID, userID, ErrNotFound)
	}
	return nil
}

// ListedAlert is an alert as listed over REST, with the viewer's delivery
// state when it was addressed to them.
type ListedAlert struct {
	Seq     int64           `json:"seq,omitempty"`
	Acked   bool            `json:"acked"`
	Verdict string          `json:"verdict,omitempty"`
	Alert   json.RawMessage `json:"alert"`
}

// ListAlerts returns the newest alerts addressed to userID, newest first, or
// every alert when userID is empty (admins).
func (s *Store) ListAlerts(ctx context.Context, userID string, limit int) ([]ListedAlert, error) {
	var rows pgx.Rows
	var err error
	if userID == "" {
		rows, err = s.pool.Query(ctx, `SELECT 0::bigint, false, '', body FROM alerts ORDER BY created_at DESC, id LIMIT $1`, limit)
	} else {
		rows, err = s.pool.Query(ctx, `
			SELECT d.seq, d.acked_at IS NOT NULL, coalesce(d.verdict, ''), a.body
			FROM deliveries d JOIN alerts a ON a.id = d.alert_id
			WHERE d.user_id = $1 ORDER BY d.seq DESC LIMIT $2`, userID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("listing alerts: %w", err)
	}
	defer rows.Close()
	out := []ListedAlert{}
	for rows.Next() {
		var la ListedAlert
		if err := rows.Scan(&la.Seq, &la.Acked, &la.Verdict, &la.Alert); err != nil {
			return nil, fmt.Errorf("reading alert: %w", err)
		}
		out = append(out, la)
	}
	return out, rows.Err()
}
