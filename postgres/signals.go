package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// StoredSignal is one signal definition as stored: its current version and
// whether it is enabled.
type StoredSignal struct {
	ID        string          `json:"id"`
	Version   int             `json:"version"`
	Enabled   bool            `json:"enabled"`
	Document  json.RawMessage `json:"document"`
	Source    string          `json:"source"`
	UpdatedBy string          `json:"updated_by"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// SaveSignal stores document (the normalised JSON definition) and source (the
// text as submitted) as a new immutable version of signal id, makes it the
// current version, and returns its number. A deleted signal comes back to
// life with the next version.
func (s *Store) SaveSignal(ctx context.Context, id string, document json.RawMessage, source, by string, enabled bool) (int, error) {
	var version int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The row lock on signals serialises concurrent saves of one id.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM signals WHERE id = $1 FOR UPDATE`, id); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) + 1 FROM signal_versions WHERE id = $1`, id).Scan(&version); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO signal_versions (id, version, document, source, created_by) VALUES ($1, $2, $3, $4, $5)`,
			id, version, document, source, by); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO signals (id, version, enabled) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET version = $2, enabled = $3, deleted = false, updated_at = clock_timestamp()`,
			id, version, enabled)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("saving signal %q: %w", id, err)
	}
	return version, nil
}

const selectSignal = `
	SELECT s.id, s.version, s.enabled, v.document, v.source, v.created_by, s.updated_at
	FROM signals s JOIN signal_versions v ON v.id = s.id AND v.version = s.version`

func scanSignal(row pgx.Row) (StoredSignal, error) {
	var sig StoredSignal
	err := row.Scan(&sig.ID, &sig.Version, &sig.Enabled, &sig.Document, &sig.Source, &sig.UpdatedBy, &sig.UpdatedAt)
	return sig, err
}

// GetSignal returns the current version of a signal that is not deleted,
// or ErrNotFound.
func (s *Store) GetSignal(ctx context.Context, id string) (StoredSignal, error) {
	sig, err := scanSignal(s.pool.QueryRow(ctx, selectSignal+` WHERE s.id = $1 AND NOT s.deleted`, id))
	if err != nil {
		return sig, notFound(err, "signal "+id)
	}
	return sig, nil
}

// DeleteSignal removes a signal from the active set; its versions stay for
// the alerts that name them. It returns ErrNotFound for an unknown id.
func (s *Store) DeleteSignal(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE signals SET deleted = true, updated_at = clock_timestamp() WHERE id = $1 AND NOT deleted`, id)
	if err != nil {
		return fmt.Errorf("deleting signal %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("signal %s: %w", id, ErrNotFound)
	}
	return nil
}

// ListSignals returns the current version of every signal not deleted,
// enabled or not, by id.
func (s *Store) ListSignals(ctx context.Context) ([]StoredSignal, error) {
	rows, err := s.pool.Query(ctx, selectSignal+` WHERE NOT s.deleted ORDER BY s.id`)
	if err != nil {
		return nil, fmt.Errorf("listing signals: %w", err)
	}
	defer rows.Close()
	var out []StoredSignal
	for rows.Next() {
		sig, err := scanSignal(rows)
		if err != nil {
			return nil, fmt.Errorf("reading signal: %w", err)
		}
		out = append(out, sig)
	}
	return out, rows.Err()
}

// SignalsRevision returns a value that changes whenever any signal is saved,
// enabled, disabled or deleted, so detectors can poll cheaply for changes.
func (s *Store) SignalsRevision(ctx context.Context) (string, error) {
	var rev string
	err := s.pool.QueryRow(ctx, `SELECT count(*)::text || '@' || coalesce(max(updated_at)::text, '') FROM signals`).Scan(&rev)
	if err != nil {
		return "", fmt.Errorf("reading signals revision: %w", err)
	}
	return rev, nil
}
