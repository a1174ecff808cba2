package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// Alerts stores alerts with their evidence, one delivery per recipient
// (what they saw, acknowledged and said of it), the outbox that carries
// them to the alerts topic, and the precision read of what recipients
// did with a signal's alerts.
type Alerts struct{ pool *pgxpool.Pool }

// SaveAlert stores an alert, its evidence, one delivery per recipient and
// its outbox row in one transaction. An alert whose id is already stored is
// left as it was and yields nothing, so a replayed event can never notify
// anyone twice.
func (s *Alerts) SaveAlert(ctx context.Context, a *schema.Alert, recipients []string) (dowser.SavedAlert, error) {
	body, err := json.Marshal(a)
	if err != nil {
		return dowser.SavedAlert{}, fmt.Errorf("encoding alert %s: %w", a.ID, err)
	}
	// Lock users in a fixed order so that two partitions delivering to the
	// same people cannot deadlock.
	recipients = append([]string(nil), recipients...)
	sort.Strings(recipients)
	recipients = slices.Compact(recipients)
	n := len(a.Evidence)
	evIDs, evTypes, evCustomers, evContent, evURLs := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	evTimes := make([]time.Time, n)
	for i, ev := range a.Evidence {
		evIDs[i], evTypes[i], evTimes[i], evCustomers[i], evContent[i], evURLs[i] = ev.EventID, ev.Type, ev.Time, ev.CustomerID, ev.ContentID, ev.URL
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return dowser.SavedAlert{}, fmt.Errorf("saving alert %s: %w", a.ID, err)
	}
	defer conn.Release()
	out, err := saveAlert(ctx, conn.Conn(), a, body,
		a.ID, a.SignalID, a.SignalVersion, a.Subject, a.CustomerID, a.AccountID, a.Priority, a.EventID, a.Time, body,
		evIDs, evTypes, evTimes, evCustomers, evContent, evURLs, recipients)
	if err != nil {
		rollback(conn.Conn())
		return dowser.SavedAlert{}, markPermanent(fmt.Errorf("saving alert %s: %w", a.ID, err))
	}
	return out, nil
}

// saveAlert runs saveAlertSQL and writes the outbox row in one
// transaction, so that a message reaches the alerts topic if and only if
// its alert is stored. It costs two round trips, not four: BEGIN is sent
// with the statement, and COMMIT with the outbox row. On an error the
// transaction may be left open; the caller rolls it back.
func saveAlert(ctx context.Context, conn *pgx.Conn, a *schema.Alert, body []byte, args ...any) (dowser.SavedAlert, error) {
	out := dowser.SavedAlert{AlertID: a.ID}
	var b pgx.Batch
	b.Queue("BEGIN")
	b.Queue(saveAlertSQL, args...)
	stored := false
	err := func() error {
		br := conn.SendBatch(ctx, &b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		var user *string
		var seq *int64
		_, err = pgx.ForEachRow(rows, []any{&user, &seq}, func() error {
			stored = true
			if user != nil && seq != nil {
				out.Deliveries = append(out.Deliveries, schema.Delivery{UserID: *user, Seq: *seq, AlertID: a.ID, Alert: body, EventTime: a.Time})
			}
			return nil
		})
		if err != nil {
			return err
		}
		return br.Close()
	}()
	if err != nil {
		return dowser.SavedAlert{}, err
	}
	var commit pgx.Batch
	if stored {
		m := schema.NewAlertMessage(a.ID, a.Time, body, out.Deliveries)
		if out.Message, err = m.Encode(); err != nil {
			return dowser.SavedAlert{}, err
		}
		commit.Queue(`INSERT INTO outbox (alert_id, payload) VALUES ($1, $2) RETURNING id`, a.ID, out.Message).QueryRow(func(row pgx.Row) error {
			return row.Scan(&out.OutboxID)
		})
	}
	commit.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		// COMMIT of a failed transaction rolls it back, without an error.
		if tag.String() != "COMMIT" {
			return pgx.ErrTxCommitRollback
		}
		return nil
	})
	if err := conn.SendBatch(ctx, &commit).Close(); err != nil {
		return dowser.SavedAlert{}, err
	}
	return out, nil
}

// rollback ends the transaction a failed saveAlert left open, so that the
// connection goes back to the pool; when it cannot, the pool closes the
// connection instead.
func rollback(conn *pgx.Conn) {
	if conn.IsClosed() || conn.PgConn().IsBusy() || conn.PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = conn.Exec(ctx, "ROLLBACK")
}

// saveAlertSQL returns one row when the alert was stored (none when its
// id was stored already): a delivery per row, by user id, or one row of
// nulls when nobody received it.
const saveAlertSQL = `
WITH alert AS (
	INSERT INTO alerts (id, signal_id, signal_version, subject, customer_id, account_id, priority, event_id, event_time, body)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING
	RETURNING id
), evidence AS (
	INSERT INTO alert_evidence (alert_id, position, event_id, event_type, event_time, customer_id, content_id, url)
	SELECT alert.id, e.ord - 1, e.event_id, e.event_type, e.event_time, e.customer_id, e.content_id, e.url
	FROM alert, unnest($11::text[], $12::text[], $13::timestamptz[], $14::text[], $15::text[], $16::text[])
		WITH ORDINALITY AS e (event_id, event_type, event_time, customer_id, content_id, url, ord)
), locked AS (
	SELECT u.id FROM users u WHERE u.id = ANY($17::text[]) AND EXISTS (SELECT 1 FROM alert)
	ORDER BY u.id FOR UPDATE
), numbered AS (
	UPDATE users u SET last_seq = u.last_seq + 1 FROM locked WHERE u.id = locked.id
	RETURNING u.id, u.last_seq
), delivered AS (
	INSERT INTO deliveries (user_id, seq, alert_id)
	SELECT numbered.id, numbered.last_seq, alert.id FROM numbered, alert
	RETURNING user_id, seq
)
SELECT delivered.user_id, delivered.seq
FROM alert LEFT JOIN delivered ON true
ORDER BY delivered.user_id`

// MarkPublished records that the outbox rows reached the alerts topic.
func (s *Alerts) MarkPublished(ctx context.Context, ids ...int64) error {
	if _, err := s.pool.Exec(ctx, `UPDATE outbox SET published_at = now() WHERE id = ANY($1) AND published_at IS NULL`, ids); err != nil {
		return fmt.Errorf("marking outbox rows published: %w", err)
	}
	return nil
}

// PublishPending hands publish the oldest unpublished outbox rows created
// before olderThan ago, at most limit, and marks them published when it
// succeeds. Rows another instance is publishing are skipped, so two relays
// rarely send the same row (and when they do, deliveries are idempotent by
// sequence). It returns how many rows were published.
func (s *Alerts) PublishPending(ctx context.Context, olderThan time.Duration, limit int, publish func(context.Context, []dowser.OutboxMessage) error) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT id, alert_id, payload FROM outbox
			WHERE published_at IS NULL AND created_at < now() - $1::interval
			ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, olderThan.String(), limit)
		if err != nil {
			return err
		}
		msgs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dowser.OutboxMessage])
		if err != nil || len(msgs) == 0 {
			return err
		}
		if err := publish(ctx, msgs); err != nil {
			return err
		}
		ids := make([]int64, len(msgs))
		for i, m := range msgs {
			ids[i] = m.ID
		}
		n = len(msgs)
		_, err = tx.Exec(ctx, `UPDATE outbox SET published_at = now() WHERE id = ANY($1)`, ids)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("publishing pending alerts: %w", err)
	}
	return n, nil
}

// DeliveriesAfter returns up to limit of the user's deliveries with a
// sequence above after, in sequence order.
func (s *Alerts) DeliveriesAfter(ctx context.Context, userID string, after int64, limit int) ([]schema.Delivery, error) {
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
func (s *Alerts) LastSeq(ctx context.Context, userID string) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT last_seq FROM users WHERE id = $1`, userID).Scan(&seq); err != nil {
		return 0, notFound(err, "user "+userID)
	}
	return seq, nil
}

// Seen records that the user's panel showed an alert addressed to them;
// the first time counts. It returns dowser.ErrNotFound when the alert was not
// addressed to the user.
func (s *Alerts) Seen(ctx context.Context, userID, alertID string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE deliveries SET seen_at = coalesce(seen_at, now()) WHERE user_id = $1 AND alert_id = $2`, userID, alertID)
	if err != nil {
		return fmt.Errorf("marking %s seen: %w", alertID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("alert %s for %s: %w", alertID, userID, dowser.ErrNotFound)
	}
	return nil
}

// Ack records that the user acknowledged (and so saw) an alert addressed
// to them. It returns dowser.ErrNotFound when the alert was not addressed to the
// user.
func (s *Alerts) Ack(ctx context.Context, userID, alertID string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE deliveries SET acked_at = coalesce(acked_at, now()), seen_at = coalesce(seen_at, now()) WHERE user_id = $1 AND alert_id = $2`, userID, alertID)
	if err != nil {
		return fmt.Errorf("acknowledging %s: %w", alertID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("alert %s for %s: %w", alertID, userID, dowser.ErrNotFound)
	}
	return nil
}

// Feedback records the user's verdict (and an optional note) on an alert addressed to them; it
// also acknowledges it. It returns dowser.ErrNotFound when the alert was not
// addressed to the user.
func (s *Alerts) Feedback(ctx context.Context, userID, alertID, verdict, note string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE deliveries SET verdict = $3, note = $4, acked_at = coalesce(acked_at, now()), seen_at = coalesce(seen_at, now())
		WHERE user_id = $1 AND alert_id = $2`,
		userID, alertID, verdict, note)
	if err != nil {
		return fmt.Errorf("saving feedback on %s: %w", alertID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("alert %s for %s: %w", alertID, userID, dowser.ErrNotFound)
	}
	return nil
}

// ListAlerts returns the newest alerts addressed to userID, newest first, or
// every alert when userID is empty (admins).
func (s *Alerts) ListAlerts(ctx context.Context, userID string, limit int) ([]dowser.ListedAlert, error) {
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
	out := []dowser.ListedAlert{}
	for rows.Next() {
		var la dowser.ListedAlert
		if err := rows.Scan(&la.Seq, &la.Acked, &la.Verdict, &la.Alert); err != nil {
			return nil, fmt.Errorf("reading alert: %w", err)
		}
		out = append(out, la)
	}
	return out, rows.Err()
}
