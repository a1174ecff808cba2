package dowser

import "errors"

// Checkpoint is a partition's saved detector state and the offset of the
// first event it does not reflect; NextOffset is negative when nothing has
// been saved yet.
type Checkpoint struct {
	NextOffset int64
	State      []byte
	// ErasureSeq is the last erasure request State has applied.
	ErasureSeq int64
}

// ErrNotOwner is returned when saving the checkpoint of a partition that
// another owner has claimed since.
var ErrNotOwner = errors.New("partition claimed by another owner")
