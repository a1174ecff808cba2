package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// AccountOwners returns every account's owner and lifecycle, by account
// id: what a backtest needs to count alerts per rep and to fill in the
// lifecycle of events that carry none, as the live service does.
func (s *Store) AccountOwners(ctx context.Context) (map[string][2]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, coalesce(owner_id, ''), lifecycle FROM accounts`)
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	out := map[string][2]string{}
	var id, owner, lifecycle string
	_, err = pgx.ForEachRow(rows, []any{&id, &owner, &lifecycle}, func() error {
		out[id] = [2]string{owner, lifecycle}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	return out, nil
}
