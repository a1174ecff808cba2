package dowser

import (
	"context"
	"errors"
)

// Checkpoint is where a partition's detector resumes: the offset of the
// first event its saved state does not reflect (negative when nothing has
// been saved yet), and the engine's header. The rest of the state is kept
// as rows, one per subject, read with the checkpoint's ID.
type Checkpoint struct {
	// ID names the partition's checkpoint; its state rows hang off it.
	ID         int64
	NextOffset int64
	// ErasureSeq is the last erasure request the state has applied.
	ErasureSeq int64
	// Meta is the engine's header; empty before the first save.
	Meta []byte
	// Owner is the claim the checkpoint is under.
	Owner string
	// Saves counts the saves of the state: unchanged, so is the state.
	Saves int64
	// Legacy is a whole-state snapshot saved by a build before
	// incremental checkpoints; empty once rewritten as rows.
	Legacy []byte
}

// StateRow is one changed row of a partition's state, keyed by subject
// (such as "customer:c-1") or by a part of the engine (such as
// "#recent/3"); a nil Data deletes the row, an empty non-nil one keeps it
// with no data.
type StateRow struct {
	Key  string
	Data []byte
}

// CheckpointDelta is what changed since a partition's previous checkpoint:
// saved in order, each on top of the last, the rows always describe the
// state at NextOffset. Rows may come in any order, and name a key at most
// once.
type CheckpointDelta struct {
	NextOffset int64
	ErasureSeq int64
	Meta       []byte
	Rows       []StateRow
	// Reset deletes every stored row before Rows are written: the state
	// was rebuilt rather than restored from them.
	Reset bool
}

// Bytes is the size of the delta's keys and data, its meta included.
func (d *CheckpointDelta) Bytes() int64 {
	n := int64(len(d.Meta))
	for _, r := range d.Rows {
		n += int64(len(r.Key) + len(r.Data))
	}
	return n
}

// ErrNotOwner is returned when saving the checkpoint of a partition that
// another owner has claimed since.
var ErrNotOwner = errors.New("partition claimed by another owner")

type hurryKey struct{}

// WithHurry returns ctx carrying hurry, closed once someone waits for the
// call made with it (a partition's final checkpoint on revoke or
// shutdown): a store that paces background work done for the call (a
// compaction, see --compaction-duty) stops pausing then.
func WithHurry(ctx context.Context, hurry <-chan struct{}) context.Context {
	return context.WithValue(ctx, hurryKey{}, hurry)
}

// Hurry is the channel WithHurry put in ctx; nil, which never closes, when
// there is none.
func Hurry(ctx context.Context) <-chan struct{} {
	h, _ := ctx.Value(hurryKey{}).(<-chan struct{})
	return h
}
