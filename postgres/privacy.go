package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Kinds of do-not-track entries.
const (
	DNTCustomer = "customer"
	DNTAccount  = "account"
)

// SetDoNotTrack marks (on) or unmarks a customer or an account as not to be
// tracked.
func (s *Store) SetDoNotTrack(ctx context.Context, kind, id string, on bool, by string) error {
	var err error
	if on {
		_, err = s.pool.Exec(ctx, `INSERT INTO do_not_track (kind, id, created_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, kind, id, by)
	} else {
		_, err = s.pool.Exec(ctx, `DELETE FROM do_not_track WHERE kind = $1 AND id = $2`, kind, id)
	}
	if err != nil {
		return fmt.Errorf("setting do-not-track of %s %q: %w", kind, id, err)
	}
	return nil
}

// DoNotTrack returns every do-not-track entry, as kind -> set of ids.
func (s *Store) DoNotTrack(ctx context.Context) (map[string]map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, id FROM do_not_track`)
	if err != nil {
		return nil, fmt.Errorf("reading do-not-track: %w", err)
	}
	out := map[string]map[string]bool{DNTCustomer: {}, DNTAccount: {}}
	var kind, id string
	_, err = pgx.ForEachRow(rows, []any{&kind, &id}, func() error {
		out[kind][id] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading do-not-track: %w", err)
	}
	return out, nil
}

// PurgeAlertsBefore deletes the alerts created before cutoff, with their
// evidence, deliveries and outbox rows, at most limit at a time so that a
// large purge never holds long locks; it returns how many it deleted.
func (s *Store) PurgeAlertsBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE created_at < $1 ORDER BY created_at LIMIT $2)`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("purging alerts before %s: %w", cutoff.Format(time.RFC3339), err)
	}
	return tag.RowsAffected(), nil
}

// Erasure is one right-to-erasure request still being applied by the
// detectors.
type Erasure struct {
	Seq        int64
	CustomerID string
}

// EraseCustomer deletes everything stored about a person: the alerts about
// them or with one of their events in the evidence (with that evidence,
// the deliveries and outbox rows), and do-not-track is left as it is. It
// queues the erasure for the detectors, records an audit entry without the
// id, and returns the erasure's sequence and the number of alerts deleted.
func (s *Store) EraseCustomer(ctx context.Context, customerID, by string) (seq int64, alerts int64, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			DELETE FROM alerts WHERE customer_id = $1
				OR id IN (SELECT alert_id FROM alert_evidence WHERE customer_id = $1)`, customerID)
		if err != nil {
			return err
		}
		alerts = tag.RowsAffected()
		if err := tx.QueryRow(ctx, `INSERT INTO erasures (customer_id) VALUES ($1) RETURNING seq`, customerID).Scan(&seq); err != nil {
			return err
		}
		sum := sha256.Sum256([]byte(customerID))
		_, err = tx.Exec(ctx, `INSERT INTO erasure_audit (seq, subject_sha256, requested_by, alerts_deleted) VALUES ($1, $2, $3, $4)`,
			seq, hex.EncodeToString(sum[:]), by, alerts)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("erasing a customer: %w", err)
	}
	return seq, alerts, nil
}

// ErasuresAfter returns the queued erasures with a sequence above seq, in
// order.
func (s *Store) ErasuresAfter(ctx context.Context, seq int64) ([]Erasure, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, customer_id FROM erasures WHERE seq > $1 ORDER BY seq`, seq)
	if err != nil {
		return nil, fmt.Errorf("reading erasures: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Erasure])
	if err != nil {
		return nil, fmt.Errorf("reading erasures: %w", err)
	}
	return out, nil
}

// ForgetAppliedErasures deletes the queued erasures that every checkpoint
// has applied, so the ids leave the database; their audit entries stay.
func (s *Store) ForgetAppliedErasures(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM erasures WHERE seq <= (SELECT coalesce(min(erasure_seq), 0) FROM checkpoints)`)
	if err != nil {
		return fmt.Errorf("forgetting applied erasures: %w", err)
	}
	return nil
}

// ErasureAuditEntry records one erasure without the person's id.
type ErasureAuditEntry struct {
	Seq           int64     `json:"erasure"`
	SubjectSHA256 string    `json:"subject_sha256"`
	RequestedBy   string    `json:"requested_by"`
	RequestedAt   time.Time `json:"requested_at"`
	AlertsDeleted int       `json:"alerts_deleted"`
	// Pending is true while some detector checkpoint has not applied it.
	Pending bool `json:"pending"`
}

// ErasureAudit lists every erasure, newest first.
func (s *Store) ErasureAudit(ctx context.Context) ([]ErasureAuditEntry, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT a.seq, a.subject_sha256, a.requested_by, a.requested_at, a.alerts_deleted, e.seq IS NOT NULL
		FROM erasure_audit a LEFT JOIN erasures e ON e.seq = a.seq ORDER BY a.seq DESC`)
	if err != nil {
		return nil, fmt.Errorf("reading erasure audit: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ErasureAuditEntry])
	if err != nil {
		return nil, fmt.Errorf("reading erasure audit: %w", err)
	}
	return out, nil
}

// CheckpointStates returns the saved state of every partition of the
// group's topic, without claiming anything: for audits and tests.
func (s *Store) CheckpointStates(ctx context.Context, group, topic string) (map[int]Checkpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT partition, next_offset, state, erasure_seq FROM checkpoints WHERE group_id = $1 AND topic = $2`, group, topic)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	out := map[int]Checkpoint{}
	var p int
	var cp Checkpoint
	_, err = pgx.ForEachRow(rows, []any{&p, &cp.NextOffset, &cp.State, &cp.ErasureSeq}, func() error {
		out[p] = Checkpoint{NextOffset: cp.NextOffset, State: append([]byte(nil), cp.State...), ErasureSeq: cp.ErasureSeq}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	return out, nil
}
