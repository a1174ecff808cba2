package backtest

import (
	"fmt"
	"io"
	"os"
)

// OpenJSONL opens a JSONL file of events as an Input, its size known for
// the progress bar when it is a regular file; "-" is stdin. The caller
// closes the Closer once the backtest is done.
func OpenJSONL(path string) (Input, io.Closer, error) {
	if path == "-" {
		return Input{JSONL: os.Stdin}, io.NopCloser(nil), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return Input{}, nil, fmt.Errorf("reading events: %w", err)
	}
	in := Input{JSONL: f}
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		in.Size = st.Size()
	}
	return in, f, nil
}
