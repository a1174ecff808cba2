package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/schema"
)

// People stores users, their login tokens and browser sessions, the
// revocations that end them, and managers' subscriptions to reps.
type People struct{ pool *pgxpool.Pool }

// PutUser creates or updates a user. A non-empty token replaces the user's
// login token; an empty one keeps the current token. Replacing the token
// with a different one, or disabling the user, ends the user's sessions
// and records a revocation (see [People.RevocationsAfter]).
func (s *People) PutUser(ctx context.Context, u dowser.User, token string) error {
	var hash []byte
	if token != "" {
		hash = hashToken(token)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			old                  []byte
			wasDisabled, deleted bool
		)
		err := tx.QueryRow(ctx, `SELECT token_hash, disabled, deleted_at IS NOT NULL FROM users WHERE id = $1 FOR UPDATE`, u.ID).
			Scan(&old, &wasDisabled, &deleted)
		exists := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if deleted {
			return dowser.ErrUserDeleted
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO users (id, name, role, token_hash, disabled) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO UPDATE SET name = $2, role = $3, disabled = $5,
				token_hash = coalesce($4, users.token_hash), updated_at = now()`,
			u.ID, u.Name, u.Role, hash, u.Disabled); err != nil {
			return err
		}
		if exists && (hash != nil && !bytes.Equal(hash, old) || u.Disabled && !wasDisabled) {
			return revokeUser(ctx, tx, u.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("saving user %q: %w", u.ID, err)
	}
	return nil
}

// GetUser returns the user with that id, or dowser.ErrNotFound (also for a
// deleted user).
func (s *People) GetUser(ctx context.Context, id string) (dowser.User, error) {
	var u dowser.User
	err := s.pool.QueryRow(ctx, `SELECT id, name, role, disabled FROM users WHERE id = $1 AND deleted_at IS NULL`, id).
		Scan(&u.ID, &u.Name, &u.Role, &u.Disabled)
	if err != nil {
		return u, notFound(err, "user "+id)
	}
	return u, nil
}

// DeleteUser deletes a user's token and sessions and records a revocation;
// the alerts and deliveries addressed to the user stay, and so does the
// user's row with its id, marked deleted. Deleting an unknown or deleted
// user is dowser.ErrNotFound.
func (s *People) DeleteUser(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE users SET deleted_at = now(), disabled = true, token_hash = NULL, updated_at = now()
			WHERE id = $1 AND deleted_at IS NULL`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return dowser.ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM manager_subscriptions WHERE manager_id = $1 OR rep_id = $1`, id); err != nil {
			return err
		}
		return revokeUser(ctx, tx, id)
	})
	if err != nil {
		return fmt.Errorf("deleting user %q: %w", id, err)
	}
	return nil
}

// UserByToken returns the enabled user whose login token this is, or
// dowser.ErrNotFound.
func (s *People) UserByToken(ctx context.Context, token string) (dowser.User, error) {
	var u dowser.User
	err := s.pool.QueryRow(ctx, `SELECT id, name, role FROM users WHERE token_hash = $1 AND NOT disabled AND deleted_at IS NULL`,
		hashToken(token)).Scan(&u.ID, &u.Name, &u.Role)
	if err != nil {
		return u, notFound(err, "token")
	}
	return u, nil
}

// CreateSession starts a browser session for the user and returns its
// secret, valid for ttl. Only the secret's hash is stored.
func (s *People) CreateSession(ctx context.Context, userID string, ttl time.Duration) (string, error) {
	secret := NewToken()
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (id_hash, user_id, expires_at) VALUES ($1, $2, now() + $3::interval)`,
		hashToken(secret), userID, ttl.String())
	if err != nil {
		return "", fmt.Errorf("creating session for %q: %w", userID, err)
	}
	return secret, nil
}

// UserBySession returns the enabled user of an unexpired session, or
// dowser.ErrNotFound.
func (s *People) UserBySession(ctx context.Context, secret string) (dowser.User, error) {
	var u dowser.User
	err := s.pool.QueryRow(ctx, `
		SELECT u.id, u.name, u.role FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id_hash = $1 AND s.expires_at > now() AND NOT u.disabled AND u.deleted_at IS NULL`,
		hashToken(secret)).Scan(&u.ID, &u.Name, &u.Role)
	if err != nil {
		return u, notFound(err, "session")
	}
	return u, nil
}

// DeleteSession ends a session and records a revocation for its user;
// ending an unknown one is not an error.
func (s *People) DeleteSession(ctx context.Context, secret string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var user string
		err := tx.QueryRow(ctx, `DELETE FROM sessions WHERE id_hash = $1 RETURNING user_id`, hashToken(secret)).Scan(&user)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return recordRevocation(ctx, tx, user)
	})
	if err != nil {
		return fmt.Errorf("deleting session: %w", err)
	}
	return nil
}

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
func (s *People) LastRevocation(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM session_revocations`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("reading last revocation: %w", err)
	}
	return seq, nil
}

// RevocationsAfter returns up to limit revocations above seq, in order.
func (s *People) RevocationsAfter(ctx context.Context, seq int64, limit int) ([]Revocation, error) {
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
func (s *People) PruneRevocations(ctx context.Context, age time.Duration) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM session_revocations WHERE revoked_at < now() - $1::interval`, age.String()); err != nil {
		return fmt.Errorf("pruning revocations: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at < now()`); err != nil {
		return fmt.Errorf("pruning expired sessions: %w", err)
	}
	return nil
}

// Subscribe makes the manager receive every alert addressed to the rep
// from now on. Subscribing twice is not an error. The caller checks the
// users' roles; an unknown user is dowser.ErrNotFound.
func (s *People) Subscribe(ctx context.Context, managerID, repID string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO manager_subscriptions (manager_id, rep_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, managerID, repID)
	if err != nil {
		if isForeignKeyViolation(err) {
			return fmt.Errorf("subscribing %s to %s: a user: %w", managerID, repID, dowser.ErrNotFound)
		}
		return fmt.Errorf("subscribing %s to %s: %w", managerID, repID, err)
	}
	return nil
}

// Unsubscribe ends a manager's subscription to a rep; ending one that does
// not exist is not an error.
func (s *People) Unsubscribe(ctx context.Context, managerID, repID string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM manager_subscriptions WHERE manager_id = $1 AND rep_id = $2`, managerID, repID); err != nil {
		return fmt.Errorf("unsubscribing %s from %s: %w", managerID, repID, err)
	}
	return nil
}

// Subscriptions returns the reps the manager subscribes to, by id.
func (s *People) Subscriptions(ctx context.Context, managerID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT rep_id FROM manager_subscriptions WHERE manager_id = $1 ORDER BY rep_id`, managerID)
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions of %q: %w", managerID, err)
	}
	reps, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading subscriptions of %q: %w", managerID, err)
	}
	return reps, nil
}
