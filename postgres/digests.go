package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser"
)

// DigestSchedules returns the schedules of the e-mail channels that send
// digests; disabled ones too, whose times pass without a digest so that
// what came while they were off is not sent when they are on again.
func (s *Channels) DigestSchedules(ctx context.Context) ([]dowser.DigestSchedule, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, digest_times, time_zone, coalesce(digest_slot_at, created_at), paused_at IS NOT NULL FROM channels
		WHERE kind = 'email' AND cardinality(digest_times) > 0 ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing digest schedules: %w", err)
	}
	var out []dowser.DigestSchedule
	var d dowser.DigestSchedule
	_, err = pgx.ForEachRow(rows, []any{&d.ChannelID, &d.Times, &d.TimeZone, &d.Last, &d.Paused}, func() error {
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading digest schedules: %w", err)
	}
	return out, nil
}

// CreateDigest handles the digest time slot of channel id, once however
// many instances call it: unless a digest time at or after slot was
// handled already, it collects the channel user's non-urgent alerts
// delivered since the last digest and, when there are any, writes one
// digest and its delivery to the channel outbox, in one transaction with
// the record that slot was handled. It returns how many alerts the digest
// covers (0 when none was written). A failure that the same channel meets
// on every try (its rows refused for what they hold) is also
// dowser.ErrPermanent.
func (s *Channels) CreateDigest(ctx context.Context, id int64, slot time.Time) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var user string
		var last time.Time
		var seq int64
		var enabled bool
		// The row lock orders instances handling the same channel: the
		// second sees the first's slot.
		err := tx.QueryRow(ctx, `SELECT user_id, coalesce(digest_slot_at, created_at), digest_seq, enabled FROM channels
			WHERE id = $1 AND kind = 'email' FOR UPDATE`, id).Scan(&user, &last, &seq, &enabled)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if !slot.After(last) {
			return nil
		}
		// Alerts are numbered per user as they are stored, under a lock
		// of the user: every sequence up to the highest visible here is
		// committed, so the cursor skips none.
		var ids []string
		var upTo *int64
		err = tx.QueryRow(ctx, `SELECT
				coalesce(array_agg(d.alert_id ORDER BY d.seq) FILTER (WHERE a.priority <> 'urgent'), '{}'),
				max(d.seq)
			FROM deliveries d JOIN alerts a ON a.id = d.alert_id
			WHERE d.user_id = $1 AND d.seq > $2`, user, seq).Scan(&ids, &upTo)
		if err != nil {
			return err
		}
		if upTo != nil {
			seq = *upTo
		}
		if _, err := tx.Exec(ctx, `UPDATE channels SET digest_slot_at = $2, digest_seq = $3 WHERE id = $1`, id, slot, seq); err != nil {
			return err
		}
		if len(ids) == 0 || !enabled {
			return nil
		}
		_, err = tx.Exec(ctx, `WITH digest AS (
				INSERT INTO channel_digests (channel_id, user_id, slot_at, alert_ids) VALUES ($1, $2, $3, $4) RETURNING id
			)
			INSERT INTO channel_deliveries (digest_id, user_id, channel_id) SELECT digest.id, $2, $1 FROM digest`,
			id, user, slot, ids)
		n = len(ids)
		return err
	})
	if err != nil {
		return 0, markPermanent(fmt.Errorf("writing the digest of channel %d for %s: %w", id, slot.UTC().Format(time.RFC3339), err))
	}
	return n, nil
}

// PauseChannel pauses channel id with reason, as a channel whose
// deliveries keep failing is paused, unless it is paused already: its
// owner sees why, and changing the channel lifts the pause. It reports
// whether this call paused it.
func (s *Channels) PauseChannel(ctx context.Context, id int64, reason string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE channels SET paused_at = now(), pause_reason = $2 WHERE id = $1 AND paused_at IS NULL`, id, reason)
	if err != nil {
		return false, fmt.Errorf("pausing channel %d: %w", id, err)
	}
	return tag.RowsAffected() == 1, nil
}
