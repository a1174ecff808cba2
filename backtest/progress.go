package backtest

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress draws a one-line progress bar, redrawn in place, for a terminal.
type Progress struct {
	w     io.Writer
	total int64
	bytes bool
	read  func() (done, events int64)

	stopOnce sync.Once
	stop     chan struct{}
	stopped  chan struct{}
}

// StartProgress redraws a progress bar on w five times a second until Stop.
// read returns how far the work is, done out of total (input bytes when
// inBytes, else records; total 0 when unknown), and the events handled. Use
// it only when w is a terminal: it writes carriage returns and ANSI
// erase-line codes.
func StartProgress(w io.Writer, total int64, inBytes bool, read func() (done, events int64)) *Progress {
	p := &Progress{w: w, total: total, bytes: inBytes, read: read, stop: make(chan struct{}), stopped: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(p.stopped)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				fmt.Fprint(w, "\r\x1b[K")
				return
			case <-t.C:
				done, events := read()
				fmt.Fprint(w, "\r"+renderProgress(done, p.total, events, time.Since(start), p.bytes)+"\x1b[K")
			}
		}
	}()
	return p
}

// Stop erases the bar and returns once it is gone. It may be called more
// than once.
func (p *Progress) Stop() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.stopped
}

// renderProgress is one state of the bar, for example
//
//	42% [##########..............] 121.5/290.0 MB  412,345 events  210,112 events/s  ETA 2s
func renderProgress(done, total, events int64, elapsed time.Duration, inBytes bool) string {
	var b strings.Builder
	if total > 0 {
		frac := min(float64(done)/float64(total), 1)
		const width = 24
		fill := int(frac * width)
		fmt.Fprintf(&b, "%3.0f%% [%s%s] ", frac*100, strings.Repeat("#", fill), strings.Repeat(".", width-fill))
	}
	if inBytes {
		if total > 0 {
			fmt.Fprintf(&b, "%.1f/%.1f MB  ", float64(done)/1e6, float64(total)/1e6)
		} else {
			fmt.Fprintf(&b, "%.1f MB  ", float64(done)/1e6)
		}
		fmt.Fprintf(&b, "%s events", group(events))
	} else {
		fmt.Fprintf(&b, "%s", group(done))
		if total > 0 {
			fmt.Fprintf(&b, "/%s", group(total))
		}
		b.WriteString(" events")
	}
	secs := elapsed.Seconds()
	if secs > 0 {
		fmt.Fprintf(&b, "  %s events/s", group(int64(float64(events)/secs)))
	}
	if total > 0 && done > 0 && done < total {
		eta := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
		fmt.Fprintf(&b, "  ETA %s", eta.Round(time.Second))
	}
	return b.String()
}
