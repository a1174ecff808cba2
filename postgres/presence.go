package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Presence records which users have an alert stream open on which
// instance, so that every instance can tell who is connected anywhere.
// Each instance renews its rows before they expire; the rows of an
// instance that died expire on their own.
type Presence struct{ pool *pgxpool.Pool }

// BeatPresence records that users, and only they, are connected to
// instance until lease from now, and returns the users connected to other
// instances whose rows have not expired. It renews a row only when less
// than half its lease is left, so that a beat every lease/3 rewrites each
// row about every other beat rather than every time; and it deletes rows
// expired anywhere, so a dead instance's rows do not pile up.
func (s *Presence) BeatPresence(ctx context.Context, instance string, users []string, lease time.Duration) ([]string, error) {
	if users == nil {
		users = []string{}
	}
	rows, err := s.pool.Query(ctx, `
		WITH renewed AS (
			INSERT INTO presence (instance, user_id, expires_at)
			SELECT $1, u, now() + $3::interval FROM unnest($2::text[]) AS u
			ON CONFLICT (instance, user_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
				WHERE presence.expires_at < now() + $3::interval / 2
		), gone AS (
			-- Not this instance's expired rows of users still here: the
			-- insert renews those, and one statement must not change a
			-- row twice.
			DELETE FROM presence WHERE (instance = $1 AND user_id <> ALL ($2::text[])) OR (instance <> $1 AND expires_at <= now())
		)
		SELECT DISTINCT user_id FROM presence WHERE instance <> $1 AND expires_at > now()`,
		instance, users, lease.String())
	if err != nil {
		return nil, fmt.Errorf("renewing the presence of %s: %w", instance, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("reading presence: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("renewing the presence of %s: %w", instance, err)
	}
	return out, nil
}

// LeavePresence deletes the instance's rows: it is shutting down, and its
// users reconnect elsewhere.
func (s *Presence) LeavePresence(ctx context.Context, instance string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM presence WHERE instance = $1`, instance); err != nil {
		return fmt.Errorf("removing the presence of %s: %w", instance, err)
	}
	return nil
}
