package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// Alerts stores alerts with their evidence, one delivery per recipient
// (what they saw, acknowledged and said of it), the outbox that carries
// them to the alerts topic, and the precision read of what recipients
// did with a signal's alerts.
type Alerts struct{ pool *pgxpool.Pool }

// SaveAlert stores an alert, its evidence, one delivery per recipient, one
// channel delivery per enabled channel of each recipient (e-mail channels
// only for urgent alerts) and its outbox row in one transaction. An alert whose id is already stored is
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
	// One statement, so one round trip and its own transaction: the
	// alert, its evidence, each recipient's next sequence (the users'
	// rows locked in id order, and held no longer than the statement)
	// and delivery, and the outbox row; nothing but the alert's insert
	// when its id is stored already.
	rows, err := s.pool.Query(ctx, saveAlertSQL,
		a.ID, a.SignalID, a.SignalVersion, a.Subject, a.CustomerID, a.AccountID, a.Priority, a.EventID, a.Time, body,
		evIDs, evTypes, evTimes, evCustomers, evContent, evURLs, recipients, a.Rep)
	if err != nil {
		return dowser.SavedAlert{}, markPermanent(fmt.Errorf("saving alert %s: %w", a.ID, err))
	}
	out := dowser.SavedAlert{AlertID: a.ID, EventTime: a.Time, Alert: body}
	var user *string
	var seq *int64
	var accountName, repName string
	_, err = pgx.ForEachRow(rows, []any{&out.OutboxID, &user, &seq, &accountName, &repName}, func() error {
		if user != nil && seq != nil {
			out.Deliveries = append(out.Deliveries, schema.Delivery{UserID: *user, Seq: *seq, AlertID: a.ID, EventTime: a.Time})
		}
		return nil
	})
	if err == nil && (accountName != "" || repName != "") {
		// The document as stored, names and all, in the same encoding.
		named := *a
		named.AccountName, named.RepName = accountName, repName
		out.Alert, err = json.Marshal(&named)
	}
	for i := range out.Deliveries {
		out.Deliveries[i].Alert = out.Alert
	}
	if err != nil {
		return dowser.SavedAlert{}, markPermanent(fmt.Errorf("saving alert %s: %w", a.ID, err))
	}
	return out, nil
}

// saveAlertSQL returns one row when the alert was stored (none when its
// id was stored already): the outbox row's id with a delivery per row,
// by user id, or with nulls when nobody received it, and the names the
// directory has for the alert's account and its rep ($18), which the
// stored alert carries so that every reader sees names beside the ids.
// The outbox row keeps the recipients and their sequences, from which the
// alerts-topic message is encoded when the row is published. The alert's
// account moves into the stage of its signal, if any (signalMoveCTEs).
const saveAlertSQL = `
WITH alert AS (
	INSERT INTO alerts (id, signal_id, signal_version, subject, customer_id, account_id, priority, event_id, event_time, body)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb || jsonb_strip_nulls(jsonb_build_object(
		'account_name', (SELECT nullif(name, '') FROM accounts WHERE id = $6 AND $6 <> ''),
		'rep_name', (SELECT nullif(name, '') FROM users WHERE id = $18 AND $18 <> ''))))
	ON CONFLICT (id) DO NOTHING
	RETURNING id, coalesce(body->>'account_name', '') AS account_name, coalesce(body->>'rep_name', '') AS rep_name
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
), channeled AS (
	-- The channel outbox: one delivery per enabled channel of each
	-- recipient (e-mail only for urgent alerts), sent by the dispatchers
	-- (package delivery).
	INSERT INTO channel_deliveries (alert_id, user_id, channel_id)
	SELECT alert.id, c.user_id, c.id FROM alert, delivered
	JOIN channels c ON c.user_id = delivered.user_id AND c.enabled AND (c.kind <> 'email' OR $7 = 'urgent') AND c.kind <> 'crm'
), crm_queued AS (
	-- A crm channel writes every alert, whoever receives it.
	INSERT INTO channel_deliveries (alert_id, user_id, channel_id)
	SELECT alert.id, c.user_id, c.id FROM alert JOIN channels c ON c.kind = 'crm' AND c.enabled
), outboxed AS (
	INSERT INTO outbox (alert_id, recipients, seqs)
	SELECT alert.id,
		ARRAY(SELECT user_id FROM delivered ORDER BY user_id),
		ARRAY(SELECT seq FROM delivered ORDER BY user_id)
	FROM alert
	RETURNING id
)` + signalMoveCTEs + `
SELECT outboxed.id, delivered.user_id, delivered.seq, alert.account_name, alert.rep_name
FROM outboxed CROSS JOIN alert LEFT JOIN delivered ON true
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
			WITH pending AS (
				SELECT id, alert_id, payload, recipients, seqs FROM outbox
				WHERE published_at IS NULL AND created_at < now() - $1::interval
				ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
			)
			SELECT p.id, p.alert_id, a.body, p.payload, coalesce(p.recipients, '{}'), coalesce(p.seqs, '{}')
			FROM pending p JOIN alerts a ON a.id = p.alert_id ORDER BY p.id`, olderThan.String(), limit)
		if err != nil {
			return err
		}
		var msgs []dowser.OutboxMessage
		var m dowser.OutboxMessage
		var users []string
		var seqs []int64
		_, err = pgx.ForEachRow(rows, []any{&m.ID, &m.AlertID, &m.Alert, &m.Payload, &users, &seqs}, func() error {
			if len(users) != len(seqs) {
				return fmt.Errorf("outbox row %d: %d recipients but %d sequences", m.ID, len(users), len(seqs))
			}
			m.Deliveries = make([]schema.Delivery, len(users))
			for i := range users {
				m.Deliveries[i] = schema.Delivery{UserID: users[i], Seq: seqs[i], AlertID: m.AlertID}
			}
			msgs = append(msgs, m)
			m = dowser.OutboxMessage{}
			return nil
		})
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
// to them, on the stream connection named from ("" otherwise), and
// announces it to every instance (ListenVerdicts) when it was not
// acknowledged before. It returns dowser.ErrNotFound when the alert was
// not addressed to the user.
func (s *Alerts) Ack(ctx context.Context, userID, alertID, from string) error {
	var found int
	if err := s.pool.QueryRow(ctx, ackSQL("$3", "true"), userID, alertID, from).Scan(&found); err != nil {
		return fmt.Errorf("acknowledging %s: %w", alertID, err)
	}
	if found == 0 {
		return fmt.Errorf("alert %s for %s: %w", alertID, userID, dowser.ErrNotFound)
	}
	return nil
}

// ackSQL acknowledges the delivery of alert $2 to user $1 when cond holds,
// announcing it as made by from (ackNews) only when it was not
// acknowledged yet: a row already acknowledged is left as it is, since an
// acknowledgement marks it seen too. A concurrent acknowledgement waits for
// the first and finds the row acknowledged, so each is announced once. It
// answers 1 when the delivery exists (and cond holds), else 0; greatest
// reads both counts, so the news is always made.
func ackSQL(from, cond string) string {
	return `WITH acked AS (
		UPDATE deliveries SET acked_at = now(), seen_at = coalesce(seen_at, now())
		WHERE user_id = $1 AND alert_id = $2 AND acked_at IS NULL AND ` + cond + `
		RETURNING alert_id, user_id
	), ` + ackNews(from) + `
	SELECT greatest((SELECT count(*) FROM news),
		(SELECT count(*) FROM deliveries WHERE user_id = $1 AND alert_id = $2 AND ` + cond + `))::int`
}

// Feedback records the user's verdict (and an optional note) on an alert addressed to them; it
// also acknowledges it, and announces it to every instance (ListenVerdicts)
// as given by from, the name of the stream connection that gave it. It
// returns dowser.ErrNotFound when the alert was not addressed to the user.
func (s *Alerts) Feedback(ctx context.Context, userID, alertID, verdict, note, from string) error {
	// A verdict repeated without its reason (the panel's buttons) keeps the
	// reason and value given with it before.
	var judged int
	err := s.pool.QueryRow(ctx, `WITH judged AS (
		UPDATE deliveries SET verdict = $3, note = $4, verdict_at = now(),
			reason = CASE WHEN verdict = $3 THEN reason END, value = CASE WHEN verdict = $3 THEN value END,
			acked_at = coalesce(acked_at, now()), seen_at = coalesce(seen_at, now())
		WHERE user_id = $1 AND alert_id = $2
		RETURNING `+judgedColumns+`
	), `+verdictToCRM+`, `+verdictNews("$5")+`
	SELECT count(*) FROM news`,
		userID, alertID, verdict, note, from).Scan(&judged)
	if err != nil {
		return fmt.Errorf("saving feedback on %s: %w", alertID, err)
	}
	if judged == 0 {
		return fmt.Errorf("alert %s for %s: %w", alertID, userID, dowser.ErrNotFound)
	}
	return nil
}

// ListAlerts returns the newest alerts addressed to userID, newest first, or
// every alert when userID is empty (admins); snoozed alerts are left out.
func (s *Alerts) ListAlerts(ctx context.Context, userID string, limit int) ([]dowser.ListedAlert, error) {
	page, err := s.FindAlerts(ctx, dowser.AlertQuery{UserID: userID, Limit: limit})
	return page.Alerts, err
}

// FindAlerts returns a page of the alerts q selects, newest first: a
// recipient's by sequence, every alert (q.UserID "") by creation time and
// id. Each alert carries its account's name from the directory when it was
// stored without one.
func (s *Alerts) FindAlerts(ctx context.Context, q dowser.AlertQuery) (dowser.AlertPage, error) {
	if q.Limit <= 0 {
		return dowser.AlertPage{}, fmt.Errorf("listing alerts: limit %d is not positive", q.Limit)
	}
	var from, to *time.Time
	if !q.From.IsZero() {
		from = &q.From
	}
	if !q.To.IsZero() {
		to = &q.To
	}
	priorities := q.Priorities
	if priorities == nil {
		priorities = []string{}
	}
	args := []any{q.AccountID, q.SignalID, priorities, from, to, q.Limit + 1}
	var sql string
	if q.UserID == "" {
		if q.State != "" {
			return dowser.AlertPage{}, fmt.Errorf("listing every alert: state %q needs a recipient", q.State)
		}
		var afterT *time.Time
		afterID := ""
		if q.After != nil {
			afterT, afterID = &q.After.Created, q.After.ID
		}
		args = append(args, afterT, afterID, q.AccountSearch)
		sql = `SELECT 0::bigint, false, '', '', '', NULL::float8, NULL::timestamptz, ` + namedBody + `, a.created_at, a.id, a.account_id, a.customer_id
			FROM alerts a WHERE ` + alertFilters + `
			AND ($7::timestamptz IS NULL OR (a.created_at, a.id) < ($7, $8))
			ORDER BY a.created_at DESC, a.id DESC LIMIT $6`
	} else {
		var state string
		switch q.State {
		case "":
			state = notSnoozed
		case dowser.AlertNew:
			state = notSnoozed + ` AND d.acked_at IS NULL`
		case dowser.AlertAcked:
			state = notSnoozed + ` AND d.acked_at IS NOT NULL`
		case dowser.AlertJudged:
			state = notSnoozed + ` AND d.verdict IS NOT NULL`
		case dowser.AlertSnoozed:
			state = `d.snoozed_until > now()`
		default:
			return dowser.AlertPage{}, fmt.Errorf("listing alerts: %q is not a state", q.State)
		}
		var afterSeq *int64
		if q.After != nil {
			afterSeq = &q.After.Seq
		}
		args = append(args, afterSeq, q.UserID, q.AccountSearch)
		sql = `SELECT d.seq, d.acked_at IS NOT NULL, coalesce(d.verdict, ''), coalesce(d.reason, ''),
				coalesce(d.note, ''), d.value::float8, CASE WHEN d.snoozed_until > now() THEN d.snoozed_until END, ` + namedBody + `, a.created_at, a.id, a.account_id, a.customer_id
			FROM deliveries d JOIN alerts a ON a.id = d.alert_id
			WHERE d.user_id = $8 AND ` + alertFilters + ` AND ` + state + `
			AND ($7::bigint IS NULL OR d.seq < $7)
			ORDER BY d.seq DESC LIMIT $6`
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return dowser.AlertPage{}, fmt.Errorf("listing alerts: %w", err)
	}
	defer rows.Close()
	page := dowser.AlertPage{Alerts: []dowser.ListedAlert{}}
	for rows.Next() {
		var la dowser.ListedAlert
		if err := rows.Scan(&la.Seq, &la.Acked, &la.Verdict, &la.Reason, &la.Note, &la.Value, &la.SnoozedUntil, &la.Alert, &la.Cursor.Created, &la.Cursor.ID, &la.AccountID, &la.CustomerID); err != nil {
			return dowser.AlertPage{}, fmt.Errorf("reading alert: %w", err)
		}
		la.Cursor.Seq = la.Seq
		page.Alerts = append(page.Alerts, la)
	}
	if err := rows.Err(); err != nil {
		return dowser.AlertPage{}, fmt.Errorf("listing alerts: %w", err)
	}
	if len(page.Alerts) > q.Limit {
		page.Alerts = page.Alerts[:q.Limit]
		next := page.Alerts[q.Limit-1].Cursor
		page.Next = &next
	}
	return page, nil
}

// The parts of FindAlerts' queries: the filters ($1 account, $2 signal,
// $3 priorities, $4 from, $5 to, $9 account search: by id, the directory's
// name or the name stored with the alert, with strpos so that % and _ are
// plain characters), a delivery not snoozed now, and the
// alert's body with its account's name when it was stored without one
// (alerts stored before names were).
const (
	alertFilters = `($1 = '' OR a.account_id = $1) AND ($2 = '' OR a.signal_id = $2)
		AND (cardinality($3::text[]) = 0 OR a.priority = ANY($3))
		AND ($4::timestamptz IS NULL OR a.event_time >= $4) AND ($5::timestamptz IS NULL OR a.event_time < $5)
		AND ($9 = '' OR strpos(lower(a.account_id), lower($9)) > 0
			OR strpos(lower(coalesce(a.body->>'account_name', '')), lower($9)) > 0
			OR EXISTS (SELECT 1 FROM accounts ac WHERE ac.id = a.account_id AND strpos(lower(ac.name), lower($9)) > 0))`
	notSnoozed = `(d.snoozed_until IS NULL OR d.snoozed_until <= now())`
	namedBody  = `jsonb_strip_nulls(jsonb_build_object('account_name',
		(SELECT nullif(name, '') FROM accounts WHERE id = a.account_id AND a.account_id <> ''))) || a.body`
)

// Snooze hides an alert addressed to the user from their listing until
// until; the zero time wakes it at once. It returns dowser.ErrNotFound
// when the alert was not addressed to the user.
func (s *Alerts) Snooze(ctx context.Context, userID, alertID string, until time.Time) error {
	var at *time.Time
	if !until.IsZero() {
		at = &until
	}
	tag, err := s.pool.Exec(ctx, `UPDATE deliveries SET snoozed_until = $3, seen_at = coalesce(seen_at, now()) WHERE user_id = $1 AND alert_id = $2`, userID, alertID, at)
	if err != nil {
		return fmt.Errorf("snoozing %s: %w", alertID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("alert %s for %s: %w", alertID, userID, dowser.ErrNotFound)
	}
	return nil
}
