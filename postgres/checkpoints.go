package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
)

// Checkpoints stores each partition's detector state and the offset it
// reflects, claimed by one consumer at a time. The state is kept as rows,
// one per subject, and each save writes only the rows that changed.
type Checkpoints struct{ pool *pgxpool.Pool }

// ClaimCheckpoint makes owner the only one allowed to save the partition's
// checkpoint from now on, and returns the checkpoint to resume from: its
// offset and meta, and a legacy whole-state snapshot if an older build
// saved it that way. Its rows are read with LoadCheckpointRows(cp.ID).
//
// A save of the previous owner that commits before the claim is in what
// the claim returns (and in the rows); none commits after it.
func (s *Checkpoints) ClaimCheckpoint(ctx context.Context, group, topic string, partition int, owner string) (dowser.Checkpoint, error) {
	var cp dowser.Checkpoint
	var state []byte
	err := s.pool.QueryRow(ctx, `
		INSERT INTO checkpoints (group_id, topic, partition, next_offset, state, owner) VALUES ($1, $2, $3, -1, '', $4)
		ON CONFLICT (group_id, topic, partition) DO UPDATE SET owner = $4
		RETURNING id, next_offset, erasure_seq, meta, state`, group, topic, partition, owner).Scan(&cp.ID, &cp.NextOffset, &cp.ErasureSeq, &cp.Meta, &state)
	if err != nil {
		return dowser.Checkpoint{}, markPermanent(fmt.Errorf("claiming checkpoint of %s/%d: %w", topic, partition, err))
	}
	if len(state) > 0 {
		cp.Legacy = state
	}
	return cp, nil
}

// LoadCheckpointRows calls fn with every state row of checkpoint id, in no
// particular order, and stops at fn's first error, which it returns
// wrapped. data is valid only during the call: fn must copy what it keeps.
//
// A plain SELECT read in pgx's wire buffer: a binary COPY parsed by hand
// cost the same CPU on both sides (BenchmarkLoadCheckpointRows).
func (s *Checkpoints) LoadCheckpointRows(ctx context.Context, checkpointID int64, fn func(key string, data []byte) error) error {
	if err := s.loadRows(ctx, checkpointID, fn); err != nil {
		return markPermanent(fmt.Errorf("loading rows of checkpoint %d: %w", checkpointID, err))
	}
	return nil
}

func (s *Checkpoints) loadRows(ctx context.Context, checkpointID int64, fn func(key string, data []byte) error) error {
	rows, err := s.pool.Query(ctx, `SELECT key, data FROM checkpoint_rows WHERE checkpoint_id = $1`, checkpointID)
	if err != nil {
		return err
	}
	defer rows.Close()
	var data []byte
	for rows.Next() {
		v := rows.RawValues()
		// The raw value is data as stored only in the binary format, which
		// pgx asks for unless configured for the simple protocol.
		if rows.FieldDescriptions()[1].Format == pgx.BinaryFormatCode {
			data = v[1]
		} else if err := rows.Scan(nil, &data); err != nil {
			return err
		}
		if err := fn(string(v[0]), data); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Bounds of one statement of a save: a large delta is cut into statements
// of at most this many rows or bytes, all sent in one round trip, so that
// no single array parameter grows with the state.
const (
	saveChunkRows  = 8192
	saveChunkBytes = 4 << 20
)

// SaveCheckpointDelta applies d on top of the partition's checkpoint in one
// transaction: the rows with nil Data are deleted, the others written, and
// the meta, offset and erasure sequence replaced; the legacy snapshot, if
// any, is cleared. It does so only while owner holds the claim; otherwise
// it returns an error wrapping dowser.ErrNotOwner and changes nothing.
//
// Deltas must be saved in order, each on top of the previous one; the
// order of d.Rows does not matter. A key should appear at most once in a
// delta; if it appears more, its last occurrence wins. Saving the same
// delta again (after an unknown commit outcome, say) changes nothing more.
func (s *Checkpoints) SaveCheckpointDelta(ctx context.Context, group, topic string, partition int, owner string, d *dowser.CheckpointDelta) error {
	if err := s.saveDelta(ctx, group, topic, partition, owner, d); err != nil {
		return markPermanent(fmt.Errorf("saving checkpoint of %s/%d: %w", topic, partition, err))
	}
	return nil
}

func (s *Checkpoints) saveDelta(ctx context.Context, group, topic string, partition int, owner string, d *dowser.CheckpointDelta) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// The row lock orders this save against a claim: a claim waits for it
	// to commit (and then returns what it wrote), or this save waits for
	// the claim and finds another owner.
	var id int64
	var holder string
	err = tx.QueryRow(ctx, `SELECT id, owner FROM checkpoints WHERE group_id = $1 AND topic = $2 AND partition = $3 FOR UPDATE`,
		group, topic, partition).Scan(&id, &holder)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && holder != owner) {
		return dowser.ErrNotOwner
	}
	if err != nil {
		return err
	}

	var b pgx.Batch
	if d.Reset {
		b.Queue(`DELETE FROM checkpoint_rows WHERE checkpoint_id = $1`, id)
	}
	queueRows(&b, id, lastOccurrences(d.Rows))
	b.Queue(`UPDATE checkpoints SET next_offset = $2, erasure_seq = $3, meta = $4, state = '', updated_at = now() WHERE id = $1`,
		id, d.NextOffset, d.ErasureSeq, nonNil(d.Meta))
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// queueRows queues the statements deleting and upserting rows, each within
// the chunk bounds.
func queueRows(b *pgx.Batch, id int64, rows []dowser.StateRow) {
	var (
		delKeys []string
		upKeys  []string
		upData  [][]byte
		upBytes int
	)
	flushDeletes := func() {
		if len(delKeys) > 0 {
			b.Queue(`DELETE FROM checkpoint_rows WHERE checkpoint_id = $1 AND key = ANY($2::text[])`, id, delKeys)
			delKeys = nil
		}
	}
	flushUpserts := func() {
		if len(upKeys) > 0 {
			// An unchanged row is not rewritten: a retried delta leaves no
			// dead versions behind.
			b.Queue(`
				INSERT INTO checkpoint_rows (checkpoint_id, key, data)
				SELECT $1, k, v FROM unnest($2::text[], $3::bytea[]) AS u(k, v)
				ON CONFLICT (checkpoint_id, key) DO UPDATE SET data = EXCLUDED.data
				WHERE checkpoint_rows.data IS DISTINCT FROM EXCLUDED.data`, id, upKeys, upData)
			upKeys, upData, upBytes = nil, nil, 0
		}
	}
	for _, r := range rows {
		if r.Data == nil {
			delKeys = append(delKeys, r.Key)
			if len(delKeys) == saveChunkRows {
				flushDeletes()
			}
			continue
		}
		upKeys = append(upKeys, r.Key)
		upData = append(upData, r.Data)
		upBytes += len(r.Key) + len(r.Data)
		if len(upKeys) == saveChunkRows || upBytes >= saveChunkBytes {
			flushUpserts()
		}
	}
	flushDeletes()
	flushUpserts()
}

// lastOccurrences returns rows with only the last occurrence of each key,
// in their order; rows itself when no key repeats (the documented case),
// since one statement may not upsert the same key twice.
func lastOccurrences(rows []dowser.StateRow) []dowser.StateRow {
	seen := make(map[string]int, len(rows))
	dup := false
	for i, r := range rows {
		if _, ok := seen[r.Key]; ok {
			dup = true
		}
		seen[r.Key] = i
	}
	if !dup {
		return rows
	}
	out := make([]dowser.StateRow, 0, len(seen))
	for i, r := range rows {
		if seen[r.Key] == i {
			out = append(out, r)
		}
	}
	return out
}

// nonNil is b, or an empty slice for nil: meta is NOT NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// CheckpointStates returns the checkpoint of every partition of the
// group's topic, without claiming anything and without their rows: for
// audits and tests.
func (s *Checkpoints) CheckpointStates(ctx context.Context, group, topic string) (map[int]dowser.Checkpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT partition, id, next_offset, erasure_seq, meta, state FROM checkpoints WHERE group_id = $1 AND topic = $2`, group, topic)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	out := map[int]dowser.Checkpoint{}
	var p int
	var cp dowser.Checkpoint
	var meta, state []byte
	_, err = pgx.ForEachRow(rows, []any{&p, &cp.ID, &cp.NextOffset, &cp.ErasureSeq, &meta, &state}, func() error {
		c := cp
		c.Meta = append([]byte{}, meta...)
		if len(state) > 0 {
			c.Legacy = append([]byte(nil), state...)
		}
		out[p] = c
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	return out, nil
}

// collectTimeout bounds the queries of one scrape.
const collectTimeout = 2 * time.Second

// Collector gauges the checkpoint tables at each scrape, for the caller to
// register: dowser_checkpoint_table_bytes, their size on disk (indexes and
// TOAST included), and dowser_checkpoint_rows, the estimated live state
// rows. Both are cheap catalog reads; a scrape that cannot read them within
// collectTimeout reports neither.
func (s *Checkpoints) Collector() prometheus.Collector {
	return &checkpointCollector{
		pool:  s.pool,
		bytes: prometheus.NewDesc("dowser_checkpoint_table_bytes", "Size on disk of the checkpoint tables, indexes and TOAST included.", nil, nil),
		rows:  prometheus.NewDesc("dowser_checkpoint_rows", "Estimated live rows of the checkpoints' state (from the statistics, not counted).", nil, nil),
	}
}

type checkpointCollector struct {
	pool        *pgxpool.Pool
	bytes, rows *prometheus.Desc
}

func (c *checkpointCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bytes
	ch <- c.rows
}

func (c *checkpointCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	var size, live int64
	err := c.pool.QueryRow(ctx, `
		SELECT pg_total_relation_size('checkpoints') + pg_total_relation_size('checkpoint_rows'),
		       coalesce((SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = 'checkpoint_rows'::regclass), 0)`).Scan(&size, &live)
	if err != nil {
		// An error metric would fail the whole scrape; missing gauges are
		// enough to notice.
		return
	}
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(size))
	ch <- prometheus.MustNewConstMetric(c.rows, prometheus.GaugeValue, float64(live))
}
