package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// logVersion opens every blob of a checkpoint log. After it come entries,
// each a uvarint key length, the key, a uvarint of the data length plus
// one (0: the key was deleted) and the data. Within a blob the first entry
// of a key wins; across blobs the one with the higher seq.
const logVersion = 1

// entrySize is the encoded size of one entry.
func entrySize(keyLen int, data []byte) int {
	n := uvarintLen(uint64(keyLen)) + keyLen + 1
	if data != nil {
		n += uvarintLen(uint64(len(data))+1) - 1 + len(data)
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// pieceWriter encodes entries into blobs of at most max bytes (an entry
// larger than max alone gets a blob of its own) and hands each full blob
// to flush, which then owns it unless reuse is set (flush is done with it
// when it returns, and the writer fills the same buffer again).
type pieceWriter struct {
	max   int
	hint  int // bytes still to come, at most: sizes the next blob
	reuse bool
	buf   []byte
	flush func(blob []byte) error
}

// addEntry appends one entry to w's blob.
func addEntry[K string | []byte](w *pieceWriter, key K, data []byte) error {
	n := entrySize(len(key), data)
	if len(w.buf) > 1 && len(w.buf)+n > w.max {
		if err := w.close(); err != nil {
			return err
		}
	}
	if len(w.buf) == 0 {
		if size := max(1+n, min(w.max, 1+w.hint)); cap(w.buf) < size {
			w.buf = make([]byte, 0, size)
		}
		w.buf = append(w.buf, logVersion)
	}
	w.hint -= n
	w.buf = binary.AppendUvarint(w.buf, uint64(len(key)))
	w.buf = append(w.buf, key...)
	if data == nil {
		w.buf = append(w.buf, 0)
		return nil
	}
	w.buf = binary.AppendUvarint(w.buf, uint64(len(data))+1)
	w.buf = append(w.buf, data...)
	return nil
}

// close flushes the blob being filled, if any.
func (w *pieceWriter) close() error {
	if len(w.buf) == 0 {
		return nil
	}
	b := w.buf
	if w.reuse {
		w.buf = w.buf[:0]
	} else {
		w.buf = nil
	}
	return w.flush(b)
}

// errCorrupt marks a blob that does not parse.
var errCorrupt = errors.New("corrupt checkpoint log")

// parseBlob calls fn with each entry of blob in order: data is nil for a
// deleted key. key and data point into blob.
func parseBlob(blob []byte, fn func(key, data []byte) error) error {
	if len(blob) == 0 || blob[0] != logVersion {
		v := "empty"
		if len(blob) > 0 {
			v = fmt.Sprintf("version %d", blob[0])
		}
		return fmt.Errorf("%w: %s blob, want version %d", errCorrupt, v, logVersion)
	}
	b := blob[1:]
	for len(b) > 0 {
		at := len(blob) - len(b)
		kn, n := binary.Uvarint(b)
		if n <= 0 || kn > uint64(len(b)-n) {
			return fmt.Errorf("%w: entry at byte %d of %d: bad key length", errCorrupt, at, len(blob))
		}
		key := b[n : n+int(kn)]
		b = b[n+int(kn):]
		dn, n := binary.Uvarint(b)
		if n <= 0 || (dn > 0 && dn-1 > uint64(len(b)-n)) {
			return fmt.Errorf("%w: entry at byte %d of %d: bad data length", errCorrupt, at, len(blob))
		}
		b = b[n:]
		var data []byte
		if dn > 0 {
			data = b[: dn-1 : dn-1]
			b = b[dn-1:]
		}
		if err := fn(key, data); err != nil {
			return err
		}
	}
	return nil
}
