package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dowserhq/dowser"
)

// Channels stores users' channels (where alerts go besides the panel) and
// the channel outbox: one delivery per (alert, channel), written by
// SaveAlert with the alert, claimed and marked by the dispatchers.
type Channels struct{ pool *pgxpool.Pool }

const channelColumns = `c.id, c.user_id, c.kind, c.target, c.enabled, c.secret, c.previous_secret, c.paused_at, c.pause_reason, c.digest_times, c.time_zone, c.crm`

const channelCounts = `
	(SELECT count(*) FROM channel_deliveries d WHERE d.channel_id = c.id AND d.status = 'pending'),
	(SELECT count(*) FROM channel_deliveries d WHERE d.channel_id = c.id AND d.status = 'sent'),
	(SELECT count(*) FROM channel_deliveries d WHERE d.channel_id = c.id AND d.status = 'failed')`

func channelDest(c *dowser.Channel) []any {
	return []any{&c.ID, &c.UserID, &c.Kind, &c.Target, &c.Enabled, &c.Secret, &c.PreviousSecret, &c.PausedAt, &c.PauseReason, &c.DigestTimes, &c.TimeZone, &c.CRM}
}

// scanChannel reads a channel; CRM templates that do not decode leave the
// channel's Unreadable saying why rather than failing the read, so that
// one bad row does not hide its owner's other channels.
func scanChannel(row pgx.Row, withCounts bool) (dowser.Channel, error) {
	var c dowser.Channel
	var crm []byte
	dest := channelDest(&c)
	dest[len(dest)-1] = &crm
	if withCounts {
		dest = append(dest, &c.Pending, &c.Sent, &c.Failed)
	}
	if err := row.Scan(dest...); err != nil {
		return c, err
	}
	c.Rotating = c.PreviousSecret != ""
	c.CRM, c.Unreadable = decodeCRM(c.ID, crm)
	return c, nil
}

// decodeCRM decodes channel id's stored CRM templates: nil for none, or
// nil and the reason they cannot be read.
func decodeCRM(id int64, crm []byte) (*dowser.CRMTemplate, string) {
	if len(crm) == 0 || string(crm) == "null" {
		return nil, ""
	}
	var t *dowser.CRMTemplate
	if err := json.Unmarshal(crm, &t); err != nil {
		return nil, fmt.Sprintf("the stored CRM templates of channel %d cannot be read: %v", id, err)
	}
	return t, ""
}

// ListChannels returns the user's channels, oldest first, with the counts
// of their deliveries.
func (s *Channels) ListChannels(ctx context.Context, userID string) ([]dowser.Channel, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+channelColumns+`,`+channelCounts+` FROM channels c WHERE c.user_id = $1 ORDER BY c.id`, userID)
	if err != nil {
		return nil, fmt.Errorf("listing channels of %q: %w", userID, err)
	}
	defer rows.Close()
	out := []dowser.Channel{}
	for rows.Next() {
		c, err := scanChannel(rows, true)
		if err != nil {
			return nil, fmt.Errorf("reading channel: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// GetChannel returns the user's channel id; dowser.ErrNotFound when the
// user has no such channel.
func (s *Channels) GetChannel(ctx context.Context, userID string, id int64) (dowser.Channel, error) {
	c, err := scanChannel(s.pool.QueryRow(ctx, `SELECT `+channelColumns+`,`+channelCounts+` FROM channels c WHERE c.user_id = $1 AND c.id = $2`, userID, id), true)
	if err != nil {
		return c, notFound(err, fmt.Sprintf("channel %d of %s", id, userID))
	}
	return c, nil
}

// AddChannel stores a new channel of c.UserID and returns it with its id.
func (s *Channels) AddChannel(ctx context.Context, c dowser.Channel) (dowser.Channel, error) {
	// A digest covers the alerts from now on (digest_seq, digest_slot_at).
	err := s.pool.QueryRow(ctx, `INSERT INTO channels (user_id, kind, target, enabled, secret, digest_times, time_zone, digest_seq, digest_slot_at, crm)
		VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce((SELECT last_seq FROM users WHERE id = $1), 0), now(), $8) RETURNING id`,
		c.UserID, c.Kind, c.Target, c.Enabled, c.Secret, digestTimes(c.DigestTimes), c.TimeZone, c.CRM).Scan(&c.ID)
	if err != nil {
		return c, fmt.Errorf("adding a %s channel for %s: %w", c.Kind, c.UserID, err)
	}
	return c, nil
}

// UpdateChannel replaces the target and enabled flag of the user's
// channel c.ID and lifts a pause: the owner changed it. A new secret
// (c.Secret not empty and not the current one) starts a rotation: the
// current secret becomes the previous one and both sign until
// retirePrevious. It returns dowser.ErrNotFound when the user has no such
// channel.
func (s *Channels) UpdateChannel(ctx context.Context, c dowser.Channel, retirePrevious bool) (dowser.Channel, error) {
	row := s.pool.QueryRow(ctx, `
		UPDATE channels c SET target = $3, enabled = $4,
			previous_secret = CASE WHEN $6 THEN ''
				WHEN $5 <> '' AND $5 <> c.secret THEN c.secret ELSE c.previous_secret END,
			secret = CASE WHEN $5 <> '' THEN $5 ELSE c.secret END,
			paused_at = NULL, pause_reason = '', failures_in_row = 0, updated_at = now(),
			digest_times = $8, time_zone = $9, crm = $10,
			-- Digests turned on cover the alerts from now on; times
			-- changed count from now, so a time just added that passed
			-- earlier today does not send at once.
			digest_seq = CASE WHEN cardinality(c.digest_times) = 0 AND cardinality($8::text[]) > 0
				THEN (SELECT last_seq FROM users WHERE id = c.user_id) ELSE c.digest_seq END,
			digest_slot_at = CASE WHEN c.digest_times <> $8 OR c.time_zone <> $9 THEN now() ELSE c.digest_slot_at END
		WHERE c.user_id = $1 AND c.id = $2 AND c.kind = $7
		RETURNING `+channelColumns+`,`+channelCounts,
		c.UserID, c.ID, c.Target, c.Enabled, c.Secret, retirePrevious, c.Kind, digestTimes(c.DigestTimes), c.TimeZone, c.CRM)
	out, err := scanChannel(row, true)
	if err != nil {
		return out, notFound(err, fmt.Sprintf("%s channel %d of %s", c.Kind, c.ID, c.UserID))
	}
	return out, nil
}

// DeleteChannel removes the user's channel and its deliveries;
// dowser.ErrNotFound when the user has no such channel.
func (s *Channels) DeleteChannel(ctx context.Context, userID string, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM channels WHERE user_id = $1 AND id = $2`, userID, id)
	if err != nil {
		return fmt.Errorf("deleting channel %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("channel %d of %s: %w", id, userID, dowser.ErrNotFound)
	}
	return nil
}

const deliveryColumns = `d.id::text, coalesce(d.alert_id, ''), d.user_id, d.channel_id, d.status, d.attempts, d.next_at, d.last_error, d.last_status, d.created_at, d.done_at, coalesce(d.digest_id, 0), d.verdict_user, d.verdict_at`

func deliveryDest(d *dowser.ChannelDelivery) []any {
	return []any{&d.ID, &d.AlertID, &d.UserID, &d.ChannelID, &d.Status, &d.Attempts, &d.NextAt, &d.LastError, &d.LastStatus, &d.CreatedAt, &d.DoneAt, &d.DigestID, &d.VerdictUser, &d.VerdictAt}
}

// digestTimes is never nil: the column is NOT NULL.
func digestTimes(ts []string) []string {
	if ts == nil {
		return []string{}
	}
	return ts
}

// ChannelDeliveries returns the newest deliveries, at most limit, of the
// user's channel id; status, when set, keeps only those.
func (s *Channels) ChannelDeliveries(ctx context.Context, userID string, id int64, status string, limit int) ([]dowser.ChannelDelivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM channel_deliveries d
		WHERE d.user_id = $1 AND d.channel_id = $2 AND ($3 = '' OR d.status = $3)
		ORDER BY d.created_at DESC, d.id LIMIT $4`, userID, id, status, limit)
	if err != nil {
		return nil, fmt.Errorf("listing deliveries of channel %d: %w", id, err)
	}
	defer rows.Close()
	out := []dowser.ChannelDelivery{}
	for rows.Next() {
		var d dowser.ChannelDelivery
		if err := rows.Scan(deliveryDest(&d)...); err != nil {
			return nil, fmt.Errorf("reading delivery: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// ClaimDeliveries takes up to limit due deliveries of enabled, unpaused
// channels of users not disabled (or deleted), counts an attempt on each and moves it lease into the future,
// so that another dispatcher takes it only if this one has not marked it
// by then (it died). Rows another dispatcher is claiming are skipped. Each
// comes with its channel and its alert's body; a channel whose CRM
// templates do not decode comes without them, its delivery's Unreadable
// saying why, so that one bad channel does not fail every claim.
func (s *Channels) ClaimDeliveries(ctx context.Context, limit int, lease time.Duration) ([]dowser.ChannelDelivery, error) {
	rows, err := s.pool.Query(ctx, `
		WITH due AS (
			SELECT d.id FROM channel_deliveries d JOIN channels c ON c.id = d.channel_id JOIN users u ON u.id = c.user_id
			WHERE d.status = 'pending' AND d.next_at <= now() AND c.enabled AND c.paused_at IS NULL AND NOT u.disabled
			ORDER BY d.next_at LIMIT $1
			FOR UPDATE OF d SKIP LOCKED
		), claimed AS (
			UPDATE channel_deliveries d SET attempts = d.attempts + 1, next_at = now() + $2::interval
			FROM due WHERE d.id = due.id
			RETURNING d.*
		)
		SELECT `+deliveryColumns+`, `+channelColumns+`,
			-- A digest's body is the array of its alerts, in its order.
			coalesce(a.body, (SELECT jsonb_agg(x.body ORDER BY u.ord) FROM channel_digests g
				CROSS JOIN unnest(g.alert_ids) WITH ORDINALITY AS u (id, ord) JOIN alerts x ON x.id = u.id
				WHERE g.id = d.digest_id)), d.verdict
		FROM claimed d JOIN channels c ON c.id = d.channel_id LEFT JOIN alerts a ON a.id = d.alert_id
		ORDER BY d.next_at`, limit, lease.String())
	if err != nil {
		return nil, fmt.Errorf("claiming channel deliveries: %w", err)
	}
	defer rows.Close()
	var out []dowser.ChannelDelivery
	for rows.Next() {
		var d dowser.ChannelDelivery
		c := &d.Channel
		var crm []byte
		dest := append(append(deliveryDest(&d), channelDest(c)...), &d.Alert, &d.Verdict)
		dest[len(dest)-3] = &crm // decoded below, row by row
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("reading claimed delivery: %w", err)
		}
		c.Rotating = c.PreviousSecret != ""
		c.CRM, d.Unreadable = decodeCRM(c.ID, crm)
		c.Unreadable = d.Unreadable
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claiming channel deliveries: %w", err)
	}
	return out, nil
}

// The marks below change a delivery only while it is pending at the
// attempt its dispatcher claimed: a dispatcher whose lease ran out and
// whose row another one claimed again cannot overwrite the newer outcome.

// MarkSent records that the receiver accepted attempt of delivery id, and
// that its channel works again.
func (s *Channels) MarkSent(ctx context.Context, id string, attempt int, status int) error {
	_, err := s.pool.Exec(ctx, `
		WITH sent AS (
			UPDATE channel_deliveries SET status = 'sent', done_at = now(), last_status = $3, last_error = ''
			WHERE id = $1::uuid AND status = 'pending' AND attempts = $2
			RETURNING channel_id
		)
		UPDATE channels SET failures_in_row = 0 FROM sent WHERE channels.id = sent.channel_id AND failures_in_row <> 0`,
		id, attempt, status)
	if err != nil {
		return fmt.Errorf("marking delivery %s sent: %w", id, err)
	}
	return nil
}

// MarkRetry records a failed attempt of delivery id and when the next one
// is due.
func (s *Channels) MarkRetry(ctx context.Context, id string, attempt int, status int, reason string, next time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE channel_deliveries SET next_at = $5, last_status = $3, last_error = $4
		WHERE id = $1::uuid AND status = 'pending' AND attempts = $2`, id, attempt, status, reason, next)
	if err != nil {
		return fmt.Errorf("scheduling a retry of delivery %s: %w", id, err)
	}
	return nil
}

// MarkFailed records that delivery id will not be sent (a permanent
// refusal, or its last attempt failed) and counts it against its channel:
// the pauseAfter-th failed delivery in a row pauses the channel, with
// reason. It reports whether this mark paused the channel.
func (s *Channels) MarkFailed(ctx context.Context, id string, attempt int, status int, reason string, pauseAfter int) (paused bool, err error) {
	err = s.pool.QueryRow(ctx, `
		WITH failed AS (
			UPDATE channel_deliveries SET status = 'failed', done_at = now(), last_status = $3, last_error = $4
			WHERE id = $1::uuid AND status = 'pending' AND attempts = $2
			RETURNING channel_id
		), counted AS (
			UPDATE channels c SET failures_in_row = c.failures_in_row + 1,
				paused_at = CASE WHEN c.paused_at IS NULL AND c.failures_in_row + 1 >= $5 THEN now() ELSE c.paused_at END,
				pause_reason = CASE WHEN c.paused_at IS NULL AND c.failures_in_row + 1 >= $5
					THEN (c.failures_in_row + 1)::text || ' deliveries in a row failed; the last: ' || $4 ELSE c.pause_reason END
			FROM failed WHERE c.id = failed.channel_id
			RETURNING c.paused_at IS NOT NULL AND c.failures_in_row = $5 AS paused
		)
		SELECT coalesce((SELECT paused FROM counted), false)`,
		id, attempt, status, reason, pauseAfter).Scan(&paused)
	if err != nil {
		return false, fmt.Errorf("marking delivery %s failed: %w", id, err)
	}
	return paused, nil
}
