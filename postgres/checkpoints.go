package postgres

import (
	"context"
	"fmt"

	"github.com/dowserhq/dowser"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Checkpoints stores each partition's detector state and the offset it
// reflects, claimed by one consumer at a time.
type Checkpoints struct{ pool *pgxpool.Pool }

// ClaimCheckpoint makes owner the only one allowed to save the partition's
// checkpoint from now on, and returns the checkpoint to resume from.
func (s *Checkpoints) ClaimCheckpoint(ctx context.Context, group, topic string, partition int, owner string) (dowser.Checkpoint, error) {
	var cp dowser.Checkpoint
	err := s.pool.QueryRow(ctx, `
		INSERT INTO checkpoints (group_id, topic, partition, next_offset, state, owner) VALUES ($1, $2, $3, -1, '', $4)
		ON CONFLICT (group_id, topic, partition) DO UPDATE SET owner = $4
		RETURNING next_offset, state, erasure_seq`, group, topic, partition, owner).Scan(&cp.NextOffset, &cp.State, &cp.ErasureSeq)
	if err != nil {
		return cp, fmt.Errorf("claiming checkpoint of %s/%d: %w", topic, partition, err)
	}
	return cp, nil
}

// SaveCheckpoint replaces the partition's checkpoint with cp, in one
// statement, provided owner still holds the claim; otherwise it returns
// dowser.ErrNotOwner and changes nothing.
func (s *Checkpoints) SaveCheckpoint(ctx context.Context, group, topic string, partition int, owner string, cp dowser.Checkpoint) error {
	tag, err := s.pool.Exec(ctx, `
		UPDATE checkpoints SET next_offset = $5, state = $6, erasure_seq = $7, updated_at = now()
		WHERE group_id = $1 AND topic = $2 AND partition = $3 AND owner = $4`,
		group, topic, partition, owner, cp.NextOffset, cp.State, cp.ErasureSeq)
	if err != nil {
		return fmt.Errorf("saving checkpoint of %s/%d: %w", topic, partition, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("checkpoint of %s/%d: %w", topic, partition, dowser.ErrNotOwner)
	}
	return nil
}

// CheckpointStates returns the saved state of every partition of the
// group's topic, without claiming anything: for audits and tests.
func (s *Checkpoints) CheckpointStates(ctx context.Context, group, topic string) (map[int]dowser.Checkpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT partition, next_offset, state, erasure_seq FROM checkpoints WHERE group_id = $1 AND topic = $2`, group, topic)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	out := map[int]dowser.Checkpoint{}
	var p int
	var cp dowser.Checkpoint
	_, err = pgx.ForEachRow(rows, []any{&p, &cp.NextOffset, &cp.State, &cp.ErasureSeq}, func() error {
		out[p] = dowser.Checkpoint{NextOffset: cp.NextOffset, State: append([]byte(nil), cp.State...), ErasureSeq: cp.ErasureSeq}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	return out, nil
}
