package backtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/dowserhq/dowser/schema"
)

// Input is the events a [Report] reads: a JSONL stream, or records the
// caller reads from Kafka.
type Input struct {
	// JSONL, when not nil, holds one JSON event a line.
	JSONL io.Reader
	// Records, used when JSONL is nil, emits the value of each record
	// with its partition and offset, as [Runner.RunRecords] takes them.
	Records func(emit func(partition int, offset int64, value []byte) error) error
	// Size is how much there is to read, for the progress bar: bytes of
	// JSONL, else records; 0 when unknown.
	Size int64
}

// ReportConfig configures a [Report].
type ReportConfig struct {
	// Config is the run's signals, accounts and workers; its OnAlert is
	// set by Report when JSONL is.
	Config
	// JSONL writes one alert a line ([AlertRecord]) instead of the
	// summary.
	JSONL bool
	// Progress, when not nil, is a terminal on which a progress bar is
	// drawn while the backtest runs.
	Progress io.Writer
}

// Report runs cfg's signals over in, as `dowser signals backtest` does,
// and writes to out the [Summary] as text or, with cfg.JSONL, one alert a
// line; the invalid events of a JSONL run, which has no summary to list
// them in, go to diag. It returns the summary.
func Report(ctx context.Context, cfg ReportConfig, in Input, out, diag io.Writer) (*Summary, error) {
	bw := bufio.NewWriterSize(out, 64<<10)
	if cfg.JSONL {
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		cfg.OnAlert = func(a *schema.Alert, rep string) error {
			return enc.Encode(NewAlertRecord(a, rep))
		}
	}
	runner := NewRunner(cfg.Config)
	run := func() error { return runner.RunJSONL(ctx, in.JSONL) }
	if in.JSONL == nil {
		run = func() error { return runner.RunRecords(ctx, in.Records) }
	}
	var err error
	run0 := run
	run = func() error {
		if err := run0(); err != nil {
			return err
		}
		return runner.Finish()
	}
	if cfg.Progress != nil {
		inBytes := in.JSONL != nil
		p := StartProgress(cfg.Progress, in.Size, inBytes, func() (int64, int64) {
			b, recs, _ := runner.Progress()
			if inBytes {
				return b, recs
			}
			return recs, recs
		})
		err = run()
		p.Stop()
	} else {
		err = run()
	}
	if err != nil {
		bw.Flush()
		return nil, err
	}
	s := runner.Summary()
	if !cfg.JSONL {
		if err := s.WriteText(bw); err != nil {
			return nil, err
		}
	} else if s.Invalid > 0 {
		fmt.Fprintf(diag, "%s invalid events; the first %d:\n", strconv.FormatInt(s.Invalid, 10), len(s.InvalidSamples))
		for _, r := range s.InvalidSamples {
			fmt.Fprintf(diag, "  %s\n", r)
		}
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("writing output: %w", err)
	}
	return s, nil
}
