package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dowserhq/dowser"
)

// Signals stores signal definitions, every version of them and who
// changed what, and bounds how many are enabled.
type Signals struct {
	pool *pgxpool.Pool
	// maxEnabled bounds the enabled signals; <= 0: no bound.
	maxEnabled atomic.Int64
}

// LimitEnabledSignals makes saving or enabling a signal fail with a
// *dowser.SignalLimitError when n signals (others than it) are enabled already;
// n <= 0 (the default) sets no limit. Call it before the store is shared.
func (s *Signals) LimitEnabledSignals(n int) { s.maxEnabled.Store(int64(n)) }

// enabledSignalsLock is the transaction-level advisory lock that
// serialises the count of enabled signals with the change it allows.
const enabledSignalsLock = 0x646f7773 // "dows"

// checkEnabledLimit fails with a *dowser.SignalLimitError when enabling id would
// exceed the limit; it holds the lock until tx ends.
func (s *Signals) checkEnabledLimit(ctx context.Context, tx pgx.Tx, id string) error {
	limit := s.maxEnabled.Load()
	if limit <= 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, enabledSignalsLock); err != nil {
		return err
	}
	var others int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM signals WHERE enabled AND NOT deleted AND id <> $1`, id).Scan(&others); err != nil {
		return err
	}
	if others >= limit {
		return &dowser.SignalLimitError{ID: id, Limit: int(limit)}
	}
	return nil
}

// SaveSignal stores document (the normalised JSON definition) and source (the
// text as submitted) as a new immutable version of signal id, makes it the
// current version, and returns its number. A deleted signal comes back to
// life with the next version. Saving it enabled may fail with a
// *dowser.SignalLimitError.
func (s *Signals) SaveSignal(ctx context.Context, id string, document json.RawMessage, source, by string, enabled bool) (int, error) {
	var version int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The row lock on signals serialises concurrent saves of one id.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM signals WHERE id = $1 FOR UPDATE`, id); err != nil {
			return err
		}
		if enabled {
			// After the row lock, as changeSignal: one order, no deadlock.
			if err := s.checkEnabledLimit(ctx, tx, id); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) + 1 FROM signal_versions WHERE id = $1`, id).Scan(&version); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO signal_versions (id, version, document, source, created_by) VALUES ($1, $2, $3, $4, $5)`,
			id, version, document, source, by); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO signals (id, version, enabled) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET version = $2, enabled = $3, deleted = false, updated_at = clock_timestamp()`,
			id, version, enabled); err != nil {
			return err
		}
		return recordChange(ctx, tx, id, version, "saved", by)
	})
	if err != nil {
		return 0, fmt.Errorf("saving signal %q: %w", id, err)
	}
	return version, nil
}

const selectSignal = `
	SELECT s.id, s.version, s.enabled, v.document, v.source, v.created_by, s.updated_at
	FROM signals s JOIN signal_versions v ON v.id = s.id AND v.version = s.version`

func scanSignal(row pgx.Row) (dowser.StoredSignal, error) {
	var sig dowser.StoredSignal
	err := row.Scan(&sig.ID, &sig.Version, &sig.Enabled, &sig.Document, &sig.Source, &sig.UpdatedBy, &sig.UpdatedAt)
	return sig, err
}

// GetSignal returns the current version of a signal that is not deleted,
// or dowser.ErrNotFound.
func (s *Signals) GetSignal(ctx context.Context, id string) (dowser.StoredSignal, error) {
	sig, err := scanSignal(s.pool.QueryRow(ctx, selectSignal+` WHERE s.id = $1 AND NOT s.deleted`, id))
	if err != nil {
		return sig, notFound(err, "signal "+id)
	}
	return sig, nil
}

func recordChange(ctx context.Context, q querier, id string, version int, action, by string) error {
	_, err := q.Exec(ctx, `INSERT INTO signal_changes (signal_id, version, action, changed_by) VALUES ($1, $2, $3, $4)`, id, version, action, by)
	return err
}

// DeleteSignal removes a signal from the active set; its versions stay for
// the alerts that name them. It returns dowser.ErrNotFound for an unknown id.
func (s *Signals) DeleteSignal(ctx context.Context, id, by string) error {
	return s.changeSignal(ctx, id, by, "deleted", `deleted = true`)
}

// SetSignalEnabled enables or disables the current version of a signal.
// Doing what is already so is not an error, and is not recorded.
// Enabling may fail with a *dowser.SignalLimitError.
func (s *Signals) SetSignalEnabled(ctx context.Context, id string, enabled bool, by string) error {
	action, set := "disabled", `enabled = false`
	if enabled {
		action, set = "enabled", `enabled = true`
	}
	return s.changeSignal(ctx, id, by, action, set)
}

// changeSignal applies set to a live signal and records the change.
func (s *Signals) changeSignal(ctx context.Context, id, by, action, set string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var version int
		var enabled bool
		err := tx.QueryRow(ctx, `SELECT version, enabled FROM signals WHERE id = $1 AND NOT deleted FOR UPDATE`, id).Scan(&version, &enabled)
		if err != nil {
			return notFound(err, "signal "+id)
		}
		if (action == "enabled" && enabled) || (action == "disabled" && !enabled) {
			return nil
		}
		if action == "enabled" {
			if err := s.checkEnabledLimit(ctx, tx, id); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE signals SET `+set+`, updated_at = clock_timestamp() WHERE id = $1`, id); err != nil {
			return err
		}
		return recordChange(ctx, tx, id, version, action, by)
	})
	if err != nil {
		return fmt.Errorf("%s signal %q: %w", strings.TrimSuffix(action, "d"), id, err)
	}
	return nil
}

// SignalHistory returns every change to a signal, oldest first, or
// dowser.ErrNotFound when it never existed.
func (s *Signals) SignalHistory(ctx context.Context, id string) ([]dowser.SignalChange, error) {
	rows, err := s.pool.Query(ctx, `SELECT version, action, changed_by, changed_at FROM signal_changes WHERE signal_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("reading history of signal %q: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dowser.SignalChange])
	if err != nil {
		return nil, fmt.Errorf("reading history of signal %q: %w", id, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("signal %s: %w", id, dowser.ErrNotFound)
	}
	return out, nil
}

// GetSignalVersion returns one saved version, or dowser.ErrNotFound.
func (s *Signals) GetSignalVersion(ctx context.Context, id string, version int) (dowser.SignalVersion, error) {
	var v dowser.SignalVersion
	err := s.pool.QueryRow(ctx, `SELECT id, version, document, source, created_by, created_at FROM signal_versions WHERE id = $1 AND version = $2`, id, version).
		Scan(&v.ID, &v.Version, &v.Document, &v.Source, &v.CreatedBy, &v.CreatedAt)
	if err != nil {
		return v, notFound(err, fmt.Sprintf("signal %s version %d", id, version))
	}
	return v, nil
}

// ListSignals returns the current version of every signal not deleted,
// enabled or not, by id.
func (s *Signals) ListSignals(ctx context.Context) ([]dowser.StoredSignal, error) {
	rows, err := s.pool.Query(ctx, selectSignal+` WHERE NOT s.deleted ORDER BY s.id`)
	if err != nil {
		return nil, fmt.Errorf("listing signals: %w", err)
	}
	defer rows.Close()
	var out []dowser.StoredSignal
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
func (s *Signals) SignalsRevision(ctx context.Context) (string, error) {
	var rev string
	err := s.pool.QueryRow(ctx, `SELECT count(*)::text || '@' || coalesce(max(updated_at)::text, '') FROM signals`).Scan(&rev)
	if err != nil {
		return "", fmt.Errorf("reading signals revision: %w", err)
	}
	return rev, nil
}
