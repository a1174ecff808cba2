package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// AccountProfile returns the account's lifecycle and name, both "" when
// the account is unknown: what the event path fills into events.
func (s *Directory) AccountProfile(ctx context.Context, accountID string) (lifecycle, name string, err error) {
	err = s.pool.QueryRow(ctx, `SELECT lifecycle, name FROM accounts WHERE id = $1`, accountID).Scan(&lifecycle, &name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", nil
	}
	if err != nil {
		return "", "", markPermanent(fmt.Errorf("reading account %q: %w", accountID, err))
	}
	return lifecycle, name, nil
}

// UserNames returns the names of the users with the given ids, by id;
// ids of no user, or of a user without a name, are left out.
func (s *Directory) UserNames(ctx context.Context, ids []string) (map[string]string, error) {
	return s.names(ctx, `SELECT id, name FROM users WHERE id = ANY($1) AND name <> ''`, "users", ids)
}

// AccountNames returns the names of the accounts with the given ids, by
// id; unknown or unnamed accounts are left out.
func (s *Directory) AccountNames(ctx context.Context, ids []string) (map[string]string, error) {
	return s.names(ctx, `SELECT id, name FROM accounts WHERE id = ANY($1) AND name <> ''`, "accounts", ids)
}

func (s *Directory) names(ctx context.Context, sql, what string, ids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, sql, ids)
	if err != nil {
		return nil, fmt.Errorf("reading the names of %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, fmt.Errorf("reading the names of %s: %w", what, err)
		}
		out[id] = name
	}
	return out, rows.Err()
}
