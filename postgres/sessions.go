package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/dowserhq/dowser/schema"
)

// Revocation is schema's: the contract between this store and the
// instances that watch it.
type Revocation = schema.Revocation

// revokeUser ends every session of the user and records the revocation.
func revokeUser(ctx context.Context, q querier, userID string) error {
	if _, err := q.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("ending sessions of %q: %w", userID, err)
	}
	return recordRevocation(ctx, q, userID)
}

// recordRevocation appends a revocation; q must be a transaction. The
// table lock, held to the commit, makes sequence order commit order, so a
// reader that has seen seq N never later finds a new row below N.
// Revocations are rare: serialising them costs nothing.
func recordRevocation(ctx context.Context, q querier, userID string) error {
	if _, err := q.Exec(ctx, `LOCK TABLE session_revocations IN EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("locking revocations: %w", err)
	}
	if _, err := q.Exec(ctx, `INSERT INTO session_revocations (user_id) VALUES ($1)`, userID); err != nil {
		return fmt.Errorf("recording revocation of %q: %w", userID, err)
	}
	return nil
}

// LastRevocation returns the highest revocation sequence, 0 for none.
func (s *Store) LastRevocation(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM session_revocations`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("reading last revocation: %w", err)
	}
	return seq, nil
}

// RevocationsAfter returns up to limit revocations above seq, in order.
func (s *Store) RevocationsAfter(ctx context.Context, seq int64, limit int) ([]Revocation, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, user_id FROM session_revocations WHERE seq > $1 ORDER BY seq LIMIT $2`, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("reading revocations: %w", err)
	}
	defer rows.Close()
	var out []Revocation
	for rows.Next() {
		var r Revocation
		if err := rows.Scan(&r.Seq, &r.UserID); err != nil {
			return nil, fmt.Errorf("reading revocations: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading revocations: %w", err)
	}
	return out, nil
}

// PruneRevocations deletes revocations older than age, which every
// instance polling them has long read, and expired sessions.
func (s *Store) PruneRevocations(ctx context.Context, age time.Duration) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM session_revocations WHERE revoked_at < now() - $1::interval`, age.String()); err != nil {
		return fmt.Errorf("pruning revocations: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at < now()`); err != nil {
		return fmt.Errorf("pruning expired sessions: %w", err)
	}
	return nil
}
