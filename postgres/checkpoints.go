package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
)

// Checkpoints stores each partition's detector state and the offset it
// reflects, claimed by one consumer at a time. The state is kept as a
// compacted log: each save appends the rows that changed as one blob (or
// a few), and a save that finds as many bytes appended as the last
// compaction left rewrites the log with only each key's newest entry.
type Checkpoints struct {
	pool *pgxpool.Pool
	// compacting is held by the one compaction of this store running at a
	// time; a save that finds it held leaves compacting to a later save.
	compacting atomic.Bool
	// vacuuming is held by the one vacuum of the log this store runs.
	vacuuming atomic.Bool
	// compactMin and pieceMax are compactMinBytes and pieceMaxBytes unless
	// set (by tests).
	compactMin int64
	pieceMax   int
	// duty is the share of its running time a compaction may be busy;
	// see SetCompactionDuty.
	duty  float64
	stats compactionStats
}

// SetCompactionDuty sets the share (0 < duty ≤ 1) of a compaction's wall
// time it spends working: after each blob it reads it pauses until its
// busy time is at most duty of the time since it began. A compaction
// rewrites a partition's whole state (several seconds of one core for
// each million keys, with the server's compression of the blobs it
// writes); at full speed on a small machine it took the cores the events
// need and stretched their latency. Pausing holds the partition's
// checkpoint row longer instead, which only delays that partition's next
// checkpoint: the event path does not wait for checkpoints. The default
// is DefaultCompactionDuty.
func (s *Checkpoints) SetCompactionDuty(duty float64) error {
	if !(duty > 0 && duty <= 1) {
		return fmt.Errorf("compaction duty %v: want a share above 0 and at most 1", duty)
	}
	s.duty = duty
	return nil
}

// DefaultCompactionDuty is the compaction duty of a store whose
// SetCompactionDuty was not called. On 2 cores with 1M subjects, the
// settled e2e p99 of windows with a compaction in them was 30-33 ms at full
// speed, 10-60 ms at 0.5 and 11-20 ms at 0.25 (BENCHMARKS.md).
const DefaultCompactionDuty = 0.25

// compactionStats are what Collector reports of the compactions.
type compactionStats struct {
	runs, skipped, nanos, paused, written atomic.Int64
}

const (
	// compactMinBytes is the fewest appended bytes that trigger a
	// compaction: below it a log is small enough to read as it is.
	compactMinBytes = 1 << 20
	// pieceMaxBytes bounds one blob, so that no single bytea (and no
	// buffer on either side) grows with the state, and so that each step
	// of a compaction, reading a blob or writing one (the server
	// compresses it), is a few milliseconds of a core with the pacer's
	// pauses between them: 16 MiB blobs, deltas of the growth among them,
	// were 30-100 ms at once, and the events' latency showed it.
	pieceMaxBytes = 1 << 20
	// maxSeenHint caps the keys a compaction sizes its set of seen keys
	// for up front, from the live keys the last one left: growing the set
	// rehashes it, sizing it for many more keys than change wastes memory.
	maxSeenHint = 1 << 22
)

func (s *Checkpoints) minCompact() int64 {
	if s.compactMin > 0 {
		return s.compactMin
	}
	return compactMinBytes
}

func (s *Checkpoints) maxPiece() int {
	if s.pieceMax > 0 {
		return s.pieceMax
	}
	return pieceMaxBytes
}

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
		RETURNING id, next_offset, erasure_seq, meta, state, owner, saves`, group, topic, partition, owner).Scan(&cp.ID, &cp.NextOffset, &cp.ErasureSeq, &cp.Meta, &state, &cp.Owner, &cp.Saves)
	if err != nil {
		return dowser.Checkpoint{}, markPermanent(fmt.Errorf("claiming checkpoint of %s/%d: %w", topic, partition, err))
	}
	if len(state) > 0 {
		cp.Legacy = state
	}
	return cp, nil
}

// LoadCheckpointRows calls fn once with every key of checkpoint id and its
// newest data, in no particular order, and stops at fn's first error,
// which it returns wrapped. key may be a fresh string; data is valid only
// during the call: fn must copy what it keeps. A blob of the log that
// does not parse fails the load with an error naming the checkpoint and
// the blob's seq.
//
// The log is read newest blob first, one blob in memory at a time, with
// the set of keys already seen in the blobs appended since the last
// compaction (the compacted blobs hold each key once).
func (s *Checkpoints) LoadCheckpointRows(ctx context.Context, checkpointID int64, fn func(key string, data []byte) error) error {
	if err := s.loadRows(ctx, checkpointID, fn); err != nil {
		return markPermanent(fmt.Errorf("loading rows of checkpoint %d: %w", checkpointID, err))
	}
	return nil
}

func (s *Checkpoints) loadRows(ctx context.Context, checkpointID int64, fn func(key string, data []byte) error) error {
	// One statement, so one snapshot: base_seq matches the blobs read.
	rows, err := s.pool.Query(ctx, `
		SELECT l.seq, l.seq <= c.base_seq, l.data FROM checkpoint_log l JOIN checkpoints c ON c.id = l.checkpoint_id
		WHERE l.checkpoint_id = $1 ORDER BY l.seq DESC`, checkpointID)
	if err != nil {
		return err
	}
	defer rows.Close()
	seen := newKeySet(0)
	var (
		seq  int64
		base bool
		blob []byte
	)
	for rows.Next() {
		if err := scanBlob(rows, &seq, &base, &blob); err != nil {
			return err
		}
		err := parseBlob(blob, func(k, data []byte) error {
			if base {
				// Compacted: the key is nowhere else in the base, and
				// nothing older follows.
				if data == nil || seen.has(k) {
					return nil
				}
			} else if !seen.add(k) || data == nil {
				return nil
			}
			return fn(string(k), data)
		})
		if errors.Is(err, errCorrupt) {
			return fmt.Errorf("log blob seq %d: %w", seq, err)
		}
		if err != nil {
			return err
		}
	}
	return rows.Err()
}

// scanBlob reads a row of (seq, base, data), data in pgx's wire buffer
// when it can: valid until the next row.
func scanBlob(rows pgx.Rows, seq *int64, base *bool, blob *[]byte) error {
	// The raw value is data as stored only in the binary format, which
	// pgx asks for unless configured for the simple protocol.
	if rows.FieldDescriptions()[2].Format == pgx.BinaryFormatCode {
		if err := rows.Scan(seq, base, nil); err != nil {
			return err
		}
		*blob = rows.RawValues()[2]
		return nil
	}
	return rows.Scan(seq, base, blob)
}

// SaveCheckpointDelta applies d on top of the partition's checkpoint in one
// transaction: its rows are appended to the log (nil Data as a delete),
// after deleting the whole log if d.Reset, and the meta, offset and erasure
// sequence replaced; the legacy snapshot, if any, is cleared. It does so
// only while owner holds the claim; otherwise it returns an error wrapping
// dowser.ErrNotOwner and changes nothing.
//
// Deltas must be saved in order, each on top of the previous one; the
// order of d.Rows does not matter. A key should appear at most once in a
// delta; if it appears more, its last occurrence wins. Saving the same
// delta again (after an unknown commit outcome, say) appends the same
// entries again, which changes no key's newest data; the next compaction
// drops the copies.
//
// When the bytes appended since the last compaction reach the size it
// left (and at least 1 MiB), the save compacts the log in the same
// transaction, unless another save of this store is compacting, and after
// committing vacuums the log to reclaim the blobs it deleted.
func (s *Checkpoints) SaveCheckpointDelta(ctx context.Context, group, topic string, partition int, owner string, d *dowser.CheckpointDelta) error {
	if err := s.saveDelta(ctx, group, topic, partition, owner, d); err != nil {
		return markPermanent(fmt.Errorf("saving checkpoint of %s/%d: %w", topic, partition, err))
	}
	return nil
}

// logState is a partition's log bookkeeping, as in its checkpoints row.
type logState struct {
	baseBytes, logBytes, baseSeq, liveKeys int64
}

func (s *Checkpoints) saveDelta(ctx context.Context, group, topic string, partition int, owner string, d *dowser.CheckpointDelta) error {
	// Encoded before the transaction: no lock is held meanwhile.
	blobs, appended, keys := encodeDelta(d.Rows, s.maxPiece())

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// The row lock orders this save against a claim: a claim waits for it
	// to commit (and then returns what it wrote), or this save waits for
	// the claim and finds another owner. It also makes this save the only
	// writer of the partition's log until it commits.
	var id, erased int64
	var holder string
	var st logState
	err = tx.QueryRow(ctx, `
		SELECT id, owner, base_bytes, log_bytes, base_seq, live_keys, erasure_seq FROM checkpoints
		WHERE group_id = $1 AND topic = $2 AND partition = $3 FOR UPDATE`,
		group, topic, partition).Scan(&id, &holder, &st.baseBytes, &st.logBytes, &st.baseSeq, &st.liveKeys, &erased)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && holder != owner) {
		return dowser.ErrNotOwner
	}
	if err != nil {
		return err
	}

	var b pgx.Batch
	if d.Reset {
		// The delta is the whole state: it counts as the base, so that a
		// large rebuilt state is not compacted again at once.
		b.Queue(`DELETE FROM checkpoint_log WHERE checkpoint_id = $1`, id)
		st = logState{baseBytes: appended, liveKeys: keys}
	} else {
		st.logBytes += appended
	}
	// The blob holding the delta's last rows gets the highest seq: each
	// statement sees the previous one's row.
	for i := len(blobs) - 1; i >= 0; i-- {
		b.Queue(`INSERT INTO checkpoint_log (checkpoint_id, seq, data)
			SELECT $1, coalesce(max(seq), 0) + 1, $2 FROM checkpoint_log WHERE checkpoint_id = $1`, id, blobs[i])
	}
	b.Queue(`UPDATE checkpoints SET next_offset = $2, erasure_seq = $3, meta = $4, state = '', updated_at = now(), saves = saves + 1,
		base_bytes = $5, log_bytes = $6, base_seq = $7, live_keys = $8 WHERE id = $1`,
		id, d.NextOffset, d.ErasureSeq, nonNil(d.Meta), st.baseBytes, st.logBytes, st.baseSeq, st.liveKeys)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	compacted := false
	// A delta that applies an erasure compacts at once: the entries it
	// supersedes may hold the erased person's events.
	erasing := d.ErasureSeq > erased && !d.Reset
	if erasing || st.logBytes >= max(st.baseBytes, s.minCompact()) {
		if !s.compacting.CompareAndSwap(false, true) {
			s.stats.skipped.Add(1)
			if erasing {
				return errors.New("an erasure must compact the log, and another compaction is running: retry")
			}
		} else {
			err := s.compact(ctx, tx, id, st)
			s.compacting.Store(false)
			if err != nil {
				return fmt.Errorf("compacting checkpoint %d: %w", id, err)
			}
			compacted = true
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if compacted {
		s.vacuumLog(ctx)
	}
	return nil
}

// vacuumLog reclaims the blobs a compaction just deleted, unless this
// store or another session is vacuuming the log already. Left to
// autovacuum, which looks at most once a minute (autovacuum_naptime), they
// piled up to a minute of writes: 2.8 GB for 50 MB of live state in
// TestCheckpointLogBloat. Best effort: the save has committed, and
// autovacuum remains.
func (s *Checkpoints) vacuumLog(ctx context.Context) {
	if !s.vacuuming.CompareAndSwap(false, true) {
		return
	}
	defer s.vacuuming.Store(false)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return
	}
	defer conn.Release()
	// A manual VACUUM runs unthrottled (vacuum_cost_delay 0), its reads of
	// the dead blobs' pages competing with the events for the server's
	// cores; the delay gives it autovacuum's pace, five times its budget.
	// SET, not SET LOCAL: VACUUM runs outside a transaction; the RESET
	// returns the connection to the pool as it came.
	if _, err := conn.Exec(ctx, `SET vacuum_cost_delay = '2ms'; SET vacuum_cost_limit = 1000`); err != nil {
		return
	}
	_, _ = conn.Exec(ctx, `VACUUM (SKIP_LOCKED) checkpoint_log`)
	if _, err := conn.Exec(ctx, `RESET vacuum_cost_delay; RESET vacuum_cost_limit`); err != nil {
		// Not known to be reset: the pool must not hand it out again.
		_ = conn.Conn().Close(ctx)
	}
}

// encodeDelta encodes rows as log blobs, last row first so that a key's
// last occurrence is its first entry, and returns them, their bytes and
// the rows that are not deletes.
func encodeDelta(rows []dowser.StateRow, maxPiece int) (blobs [][]byte, size, keys int64) {
	total := 0
	for _, r := range rows {
		total += entrySize(len(r.Key), r.Data)
		if r.Data != nil {
			keys++
		}
	}
	w := pieceWriter{max: maxPiece, hint: total, flush: func(b []byte) error {
		blobs = append(blobs, b)
		size += int64(len(b))
		return nil
	}}
	for i := len(rows) - 1; i >= 0; i-- {
		_ = addEntry(&w, rows[i].Key, rows[i].Data) // flush cannot fail
	}
	_ = w.close()
	return blobs, size, keys
}

// compact rewrites the log of checkpoint id, inside the transaction that
// holds its row lock, with only the newest entry of each live key: the
// blobs are read newest first through a cursor, one at a time, and the
// survivors written as new blobs as they fill, after which the old ones
// are deleted. Readers see either the old blobs or the new ones.
func (s *Checkpoints) compact(ctx context.Context, tx pgx.Tx, id int64, st logState) error {
	baseSeq, logSize := st.baseSeq, st.baseBytes+st.logBytes
	start := time.Now()
	var top int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM checkpoint_log WHERE checkpoint_id = $1`, id).Scan(&top); err != nil {
		return err
	}
	// A cursor sees the rows as of its DECLARE: not the blobs this
	// compaction writes (seq > top) after it.
	if _, err := tx.Exec(ctx, `DECLARE compaction NO SCROLL CURSOR FOR
		SELECT seq, seq <= $2, data FROM checkpoint_log WHERE checkpoint_id = $1 AND seq <= $3 ORDER BY seq DESC`, id, baseSeq, top); err != nil {
		return err
	}
	var (
		seen    = newKeySet(int(min(st.liveKeys, maxSeenHint)))
		next    = top
		written int64
		keys    int64
		buf     []byte // the blob read, copied out of the FETCH's result
	)
	pace := newPacer(s.duty)
	pace.start, pace.since, pace.stats = start, start, &s.stats
	w := pieceWriter{max: s.maxPiece(), hint: int(logSize), reuse: true, flush: func(b []byte) error {
		next++
		written += int64(len(b))
		if err := copyBlob(ctx, tx, id, next, b); err != nil {
			return err
		}
		return pace.wait(ctx)
	}}
	for {
		if err := pace.wait(ctx); err != nil {
			return err
		}
		var seq int64
		var base, got bool
		// The connection is busy until the FETCH's result is read: the
		// blob is copied out so that full blobs can be written meanwhile.
		rows, err := tx.Query(ctx, `FETCH 1 FROM compaction`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var raw []byte
			if err := scanBlob(rows, &seq, &base, &raw); err != nil {
				rows.Close()
				return err
			}
			buf = append(buf[:0], raw...)
			got = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if !got {
			break
		}
		err = parseBlob(buf, func(k, data []byte) error {
			if base {
				if data == nil || seen.has(k) {
					return nil
				}
			} else if !seen.add(k) || data == nil {
				return nil
			}
			keys++
			return addEntry(&w, k, data)
		})
		if errors.Is(err, errCorrupt) {
			return fmt.Errorf("log blob seq %d: %w", seq, err)
		}
		if err != nil {
			return err
		}
	}
	if err := w.close(); err != nil {
		return err
	}
	var b pgx.Batch
	b.Queue(`CLOSE compaction`)
	b.Queue(`DELETE FROM checkpoint_log WHERE checkpoint_id = $1 AND seq <= $2`, id, top)
	b.Queue(`UPDATE checkpoints SET base_bytes = $2, log_bytes = 0, base_seq = $3, live_keys = $4 WHERE id = $1`, id, written, next, keys)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	s.stats.runs.Add(1)
	s.stats.written.Add(written)
	pace.done()
	return nil
}

// pacer keeps a compaction busy at most duty of its wall time.
type pacer struct {
	duty         float64
	start, since time.Time // when the compaction began; when this step did
	busy, paused time.Duration
	now          func() time.Time                                 // time.Now unless a test's
	sleep        func(ctx context.Context, d time.Duration) error // sleepCtx unless a test's
	// stats, when set, gets the time as it passes, so that a long
	// compaction shows in the metrics while it runs.
	stats *compactionStats
}

func newPacer(duty float64) *pacer {
	if duty == 0 {
		duty = DefaultCompactionDuty
	}
	p := &pacer{duty: duty, now: time.Now, sleep: sleepCtx}
	p.start = p.now()
	p.since = p.start
	return p
}

// wait ends the step begun at the last call (or at the start) and sleeps,
// unless ctx ends first, until the busy time is within duty of the time
// elapsed.
func (p *pacer) wait(ctx context.Context) error {
	now := p.now()
	step := now.Sub(p.since)
	p.busy += step
	pause := time.Duration(float64(p.busy)/p.duty) - now.Sub(p.start)
	if p.duty >= 1 || pause < time.Millisecond || hurried(ctx) {
		pause = 0
	} else if err := p.sleep(ctx, pause); err != nil {
		return err
	} else if hurried(ctx) {
		pause = min(pause, p.now().Sub(now)) // cut short
	}
	p.paused += pause
	if p.stats != nil {
		p.stats.nanos.Add(int64(step + pause))
		p.stats.paused.Add(int64(pause))
	}
	p.since = p.now()
	return nil
}

// done counts the time since the last step.
func (p *pacer) done() {
	if p.stats != nil {
		p.stats.nanos.Add(int64(p.now().Sub(p.since)))
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-dowser.Hurry(ctx):
	}
	return nil
}

// hurried reports whether someone waits for the call of ctx: a compaction
// then runs unpaced, since pausing only makes the wait longer.
func hurried(ctx context.Context) bool {
	select {
	case <-dowser.Hurry(ctx):
		return true
	default:
		return false
	}
}

// copyBlob inserts one log blob with COPY, which streams it to the server
// in small chunks: as a parameter of an INSERT, pgx copies a blob twice
// into buffers of its size, which a compaction did for every piece it
// wrote, hundreds of megabytes of garbage at a time.
func copyBlob(ctx context.Context, tx pgx.Tx, id, seq int64, blob []byte) error {
	// The binary COPY format: a header, one tuple of three fields (each
	// a length and the value: bigint, bigint, bytea) and the trailer.
	head := make([]byte, 0, 64)
	head = append(head, "PGCOPY\n\xff\r\n\x00"...)
	head = binary.BigEndian.AppendUint32(head, 0) // flags
	head = binary.BigEndian.AppendUint32(head, 0) // header extension
	head = binary.BigEndian.AppendUint16(head, 3)
	for _, v := range []int64{id, seq} {
		head = binary.BigEndian.AppendUint32(head, 8)
		head = binary.BigEndian.AppendUint64(head, uint64(v))
	}
	head = binary.BigEndian.AppendUint32(head, uint32(len(blob)))
	r := io.MultiReader(bytes.NewReader(head), bytes.NewReader(blob), bytes.NewReader([]byte{0xff, 0xff}))
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, r, `COPY checkpoint_log (checkpoint_id, seq, data) FROM STDIN (FORMAT binary)`)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("copying log blob seq %d: %d rows copied", seq, tag.RowsAffected())
	}
	return nil
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
	rows, err := s.pool.Query(ctx, `SELECT partition, id, next_offset, erasure_seq, meta, state, owner, saves FROM checkpoints WHERE group_id = $1 AND topic = $2`, group, topic)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	out := map[int]dowser.Checkpoint{}
	var p int
	var cp dowser.Checkpoint
	var meta, state []byte
	_, err = pgx.ForEachRow(rows, []any{&p, &cp.ID, &cp.NextOffset, &cp.ErasureSeq, &meta, &state, &cp.Owner, &cp.Saves}, func() error {
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

// Collector reports, for the caller to register, at each scrape:
// dowser_checkpoint_table_bytes, the checkpoint tables' size on disk
// (indexes and TOAST included); dowser_checkpoint_log_bytes, the bytes of
// the logs' entries (what compaction bounds: the table over it is
// PostgreSQL's overhead and dead space awaiting vacuum);
// dowser_checkpoint_keys, the live keys as of each partition's last
// compaction (or reset); and counters of this store's compactions. The
// gauges are cheap reads; a scrape that cannot read them within
// collectTimeout reports only the counters.
func (s *Checkpoints) Collector() prometheus.Collector {
	return &checkpointCollector{
		pool:     s.pool,
		stats:    &s.stats,
		bytes:    prometheus.NewDesc("dowser_checkpoint_table_bytes", "Size on disk of the checkpoint tables, indexes and TOAST included.", nil, nil),
		logBytes: prometheus.NewDesc("dowser_checkpoint_log_bytes", "Bytes of the checkpoint logs' entries: the compacted ones and those appended since.", nil, nil),
		keys:     prometheus.NewDesc("dowser_checkpoint_keys", "Live keys of the checkpoints' state as of each partition's last compaction or reset (later deltas not counted).", nil, nil),
		runs:     prometheus.NewDesc("dowser_checkpoint_compactions_total", "Compactions of a checkpoint log by this instance.", nil, nil),
		skipped:  prometheus.NewDesc("dowser_checkpoint_compactions_skipped_total", "Compactions due but left to a later save because another was running.", nil, nil),
		seconds:  prometheus.NewDesc("dowser_checkpoint_compaction_seconds_total", "Time spent compacting checkpoint logs, within their saves, pauses included.", nil, nil),
		paused:   prometheus.NewDesc("dowser_checkpoint_compaction_paused_seconds_total", "Time compactions spent pausing to stay within --compaction-duty.", nil, nil),
		written:  prometheus.NewDesc("dowser_checkpoint_compaction_written_bytes_total", "Bytes of entries that compactions rewrote.", nil, nil),
	}
}

type checkpointCollector struct {
	pool                                                           *pgxpool.Pool
	stats                                                          *compactionStats
	bytes, logBytes, keys, runs, skipped, seconds, paused, written *prometheus.Desc
}

func (c *checkpointCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bytes, c.logBytes, c.keys, c.runs, c.skipped, c.seconds, c.paused, c.written} {
		ch <- d
	}
}

func (c *checkpointCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.runs, prometheus.CounterValue, float64(c.stats.runs.Load()))
	ch <- prometheus.MustNewConstMetric(c.skipped, prometheus.CounterValue, float64(c.stats.skipped.Load()))
	ch <- prometheus.MustNewConstMetric(c.seconds, prometheus.CounterValue, time.Duration(c.stats.nanos.Load()).Seconds())
	ch <- prometheus.MustNewConstMetric(c.paused, prometheus.CounterValue, time.Duration(c.stats.paused.Load()).Seconds())
	ch <- prometheus.MustNewConstMetric(c.written, prometheus.CounterValue, float64(c.stats.written.Load()))
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	var size, logBytes, keys int64
	err := c.pool.QueryRow(ctx, `
		SELECT pg_total_relation_size('checkpoints') + pg_total_relation_size('checkpoint_log'),
		       coalesce(sum(base_bytes + log_bytes), 0)::bigint, coalesce(sum(live_keys), 0)::bigint FROM checkpoints`).Scan(&size, &logBytes, &keys)
	if err != nil {
		// An error metric would fail the whole scrape; missing gauges are
		// enough to notice.
		return
	}
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(size))
	ch <- prometheus.MustNewConstMetric(c.logBytes, prometheus.GaugeValue, float64(logBytes))
	ch <- prometheus.MustNewConstMetric(c.keys, prometheus.GaugeValue, float64(keys))
}
