package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser"
)

// precisionQuery computes dowser.Precision for every signal that is not deleted
// or that has alerts, or only for signal $1 when $1 is not empty.
const precisionQuery = `
	WITH ids AS (
		SELECT id AS signal_id FROM signals WHERE ($1 = '' AND NOT deleted) OR id = $1
		UNION
		SELECT DISTINCT signal_id FROM alerts WHERE $1 = '' OR signal_id = $1
	), fired AS (
		SELECT signal_id, count(*) AS alerts FROM alerts WHERE $1 = '' OR signal_id = $1 GROUP BY signal_id
	), delivered AS (
		SELECT a.signal_id,
			count(*) AS delivered,
			count(d.acked_at) AS acked,
			count(*) FILTER (WHERE d.verdict = 'useful') AS useful,
			count(*) FILTER (WHERE d.verdict = 'not_useful') AS not_useful,
			count(*) FILTER (WHERE d.verdict = 'won') AS won,
			-- percentile_cont skips the NULLs of unacknowledged deliveries.
			percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.acked_at - d.created_at)) AS median_ack
		FROM deliveries d JOIN alerts a ON a.id = d.alert_id
		WHERE $1 = '' OR a.signal_id = $1
		GROUP BY a.signal_id
	)
	SELECT ids.signal_id, coalesce(f.alerts, 0), coalesce(d.delivered, 0), coalesce(d.acked, 0),
		coalesce(d.useful, 0), coalesce(d.not_useful, 0), coalesce(d.won, 0), d.median_ack
	FROM ids LEFT JOIN fired f USING (signal_id) LEFT JOIN delivered d USING (signal_id)
	ORDER BY ids.signal_id`

// SignalPrecision returns the precision of one signal, deleted or not, or
// dowser.ErrNotFound when no such signal was ever saved and no alert names it.
func (s *Alerts) SignalPrecision(ctx context.Context, signalID string) (dowser.Precision, error) {
	if signalID == "" {
		return dowser.Precision{}, fmt.Errorf("signal %q: %w", signalID, dowser.ErrNotFound)
	}
	rows, err := s.pool.Query(ctx, precisionQuery, signalID)
	if err != nil {
		return dowser.Precision{}, fmt.Errorf("computing precision of %q: %w", signalID, err)
	}
	p, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[dowser.Precision])
	if err != nil {
		return p, notFound(err, "signal "+signalID)
	}
	return p, nil
}

// ListPrecision returns the precision of every signal not deleted and of
// every signal, deleted or not, that has alerts, by signal id.
func (s *Alerts) ListPrecision(ctx context.Context) ([]dowser.Precision, error) {
	rows, err := s.pool.Query(ctx, precisionQuery, "")
	if err != nil {
		return nil, fmt.Errorf("computing precision: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dowser.Precision])
	if err != nil {
		return nil, fmt.Errorf("reading precision: %w", err)
	}
	if out == nil {
		out = []dowser.Precision{}
	}
	return out, nil
}
