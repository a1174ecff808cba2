package backtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/formats"
	"github.com/dowserhq/dowser/schema"
)

// Account is what a backtest knows of an account: its sales owner, for
// [Summary.ByRep], and its lifecycle, which fills in the lifecycle of its
// events that carry none (as the live service does from PostgreSQL).
type Account struct {
	Owner     string
	Lifecycle string
}

// Config configures a [Runner].
type Config struct {
	// Signals are evaluated, normally from [LoadSignals].
	Signals []*detector.Signal
	// Accounts, when not nil, gives account owners and lifecycles; the
	// summary then counts alerts per rep.
	Accounts map[string]Account
	// Workers is how many goroutines decode events; <= 0 means GOMAXPROCS.
	Workers int
	// MaxEventBytes bounds one event, as on the events topic; <= 0 means
	// schema.MaxEventBytes.
	MaxEventBytes int
	// Mapping, when not nil, reads each record in its format (a source
	// topic's, with its field mapping), as the live consumer reads a
	// message without a format header; nil reads Dowser's envelope.
	Mapping *formats.Mapping
	// OnAlert, when set, is called with every alert in order, with the
	// owner of its account ("" when unknown). It is called from the
	// goroutine that called the Run method; an error stops the run, which
	// returns it. The alert is only valid during the call.
	OnAlert func(a *schema.Alert, rep string) error
}

// NoOwner is the rep of alerts whose account has no known owner in
// [Summary.ByRep].
const NoOwner = "(no owner)"

// Runner evaluates signals over recorded events, exactly as the live
// service would have: one [detector.Engine] per partition, fed that
// partition's events in order. Decoding, the costly part, runs on
// [Config.Workers] goroutines; evaluation runs in order on the goroutine
// that calls a Run method.
//
// A Runner's Run methods must not be called concurrently. Calling them one
// after the other continues with the same engines, as if the inputs were
// one; [Runner.Finish] ends the input.
type Runner struct {
	cfg     Config
	engines map[int]*detector.Engine
	// newest is the newest event time each partition evaluated.
	newest  map[int]time.Time
	summary Summary

	// Progress, read concurrently by Progress.
	bytes, records atomic.Int64
	alerts         atomic.Int64

	bufs sync.Pool // *[]byte of chunkBytes capacity
}

// NewRunner returns a runner of cfg.
func NewRunner(cfg Config) *Runner {
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.MaxEventBytes <= 0 {
		cfg.MaxEventBytes = schema.MaxEventBytes
	}
	r := &Runner{cfg: cfg, engines: map[int]*detector.Engine{}, newest: map[int]time.Time{}}
	r.summary.init(cfg.Signals, cfg.Accounts != nil)
	return r
}

// Summary returns what the runs so far found. It must not be called while
// a Run method runs.
func (r *Runner) Summary() *Summary { return &r.summary }

// Progress returns the input bytes and the records (lines or messages,
// valid or not) evaluated so far, and the alerts fired. It is safe to call
// while a Run method runs, from any goroutine.
func (r *Runner) Progress() (bytes, records, alerts int64) {
	return r.bytes.Load(), r.records.Load(), r.alerts.Load()
}

const (
	// chunkBytes is the input handed to a decoding worker at once: large
	// enough to amortize the hand-offs, small enough to keep every worker
	// busy and memory low.
	chunkBytes = 256 << 10
	// chunkRecords bounds the records of one chunk of Kafka messages.
	chunkRecords = 1024
)

// chunk is a run of consecutive records of one partition, decoded by a
// worker and then evaluated in order.
type chunk struct {
	partition int
	// JSONL input: whole lines, the first numbered firstLine.
	data      []byte
	buf       *[]byte // data's pooled buffer
	firstLine int64
	// Kafka input: one value per message, with its offset.
	values  [][]byte
	offsets []int64
	// size is the input bytes the chunk stands for.
	size int64
	// records counts lines (blank ones excepted) or messages.
	records int64
	// tooLong are lines that were too long to keep, found while reading.
	tooLong []InvalidRecord

	// Filled by the worker, then done is closed.
	events  []schema.Event
	invalid []InvalidRecord
	done    chan struct{}
}

// RunJSONL evaluates the events of rd, one JSON event per line, as one
// partition. Blank lines are skipped; a line that is not a valid event is
// counted in the summary with its line number and reason, and skipped. It
// returns when rd is exhausted, on a read error, or when ctx ends.
func (r *Runner) RunJSONL(ctx context.Context, rd io.Reader) error {
	return r.pipeline(ctx, func(ctx context.Context, send func(*chunk) error) error {
		br := bufio.NewReaderSize(rd, max(1<<20, r.cfg.MaxEventBytes+2))
		line := int64(0) // lines read so far
		c := r.newLineChunk(1)
		flush := func() error {
			if len(*c.buf) == 0 && len(c.tooLong) == 0 {
				return nil
			}
			c.data = *c.buf
			if err := send(c); err != nil {
				return err
			}
			c = r.newLineChunk(line + 1)
			return nil
		}
		defer func() { r.putBuf(c.buf) }()
		for {
			b, err := br.ReadSlice('\n')
			switch {
			case errors.Is(err, bufio.ErrBufferFull):
				// Longer than any valid event: skip it, and count it in a
				// chunk of its own so that line numbers stay right.
				if err := flush(); err != nil {
					return err
				}
				line++
				n := int64(len(b))
				for errors.Is(err, bufio.ErrBufferFull) {
					b, err = br.ReadSlice('\n')
					n += int64(len(b))
				}
				c.size = n
				c.records = 1
				if bytes.HasSuffix(b, []byte{'\n'}) {
					n--
				}
				c.tooLong = []InvalidRecord{{Line: line, Err: &schema.EventError{
					Reason: schema.ReasonTooLarge,
					Detail: fmt.Sprintf("%d bytes exceeds the limit of %d", n, r.cfg.MaxEventBytes),
				}}}
				if err := flush(); err != nil {
					return err
				}
			case len(b) > 0:
				line++
				*c.buf = append(*c.buf, b...)
				c.size += int64(len(b))
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("reading events: %w", err)
			}
			if len(*c.buf) >= chunkBytes || err != nil {
				if err := flush(); err != nil {
					return err
				}
			}
			if err != nil {
				return nil
			}
		}
	})
}

func (r *Runner) newLineChunk(firstLine int64) *chunk {
	b, _ := r.bufs.Get().(*[]byte)
	if b == nil {
		s := make([]byte, 0, chunkBytes+4<<10)
		b = &s
	}
	*b = (*b)[:0]
	return &chunk{firstLine: firstLine, buf: b}
}

func (r *Runner) putBuf(b *[]byte) {
	if b != nil && cap(*b) <= 2*chunkBytes {
		r.bufs.Put(b)
	}
}

// RunRecords evaluates the messages that read emits, each the value of a
// Kafka message with its partition and offset. read must call emit from
// its own goroutine, one message at a time, in offset order within each
// partition; emit keeps value until it is decoded, so the caller must not
// reuse it. Each partition gets its own engine, as in the live service. An
// error from read, or ctx ending, stops the run.
func (r *Runner) RunRecords(ctx context.Context, read func(emit func(partition int, offset int64, value []byte) error) error) error {
	return r.pipeline(ctx, func(ctx context.Context, send func(*chunk) error) error {
		var c *chunk
		emit := func(partition int, offset int64, value []byte) error {
			if c != nil && (c.partition != partition || len(c.values) >= chunkRecords || c.size >= chunkBytes) {
				if err := send(c); err != nil {
					return err
				}
				c = nil
			}
			if c == nil {
				c = &chunk{partition: partition, values: make([][]byte, 0, chunkRecords), offsets: make([]int64, 0, chunkRecords)}
			}
			c.values = append(c.values, value)
			c.offsets = append(c.offsets, offset)
			c.size += int64(len(value))
			c.records++
			return ctx.Err()
		}
		if err := read(emit); err != nil {
			return err
		}
		if c != nil {
			return send(c)
		}
		return nil
	})
}

// pipeline runs produce on its own goroutine, decodes the chunks it sends
// on the workers, and evaluates them here, in the order sent.
func (r *Runner) pipeline(ctx context.Context, produce func(ctx context.Context, send func(*chunk) error) error) error {
	// stop ends the producer and the workers when evaluation fails.
	stopCtx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(stopCtx)
	work := make(chan *chunk, r.cfg.Workers)
	// order bounds the chunks in flight: those queued, being decoded, or
	// decoded and waiting for the chunks before them.
	order := make(chan *chunk, 4*r.cfg.Workers)
	send := func(c *chunk) error {
		c.done = make(chan struct{})
		// A chunk goes to a worker before it is queued for evaluation, so
		// that every queued chunk is eventually decoded.
		select {
		case work <- c:
		case <-gctx.Done():
			return gctx.Err()
		}
		select {
		case order <- c:
			return nil
		case <-gctx.Done():
			return gctx.Err()
		}
	}
	g.Go(func() error {
		defer close(order)
		defer close(work)
		return produce(gctx, send)
	})
	for range r.cfg.Workers {
		g.Go(func() error {
			for c := range work {
				r.decode(c)
				close(c.done)
			}
			return nil
		})
	}

	var evalErr error
	for c := range order {
		<-c.done
		if evalErr == nil {
			if evalErr = ctx.Err(); evalErr == nil {
				evalErr = r.evaluate(c)
			}
			if evalErr != nil {
				// Stop the producer; the loop drains what is queued.
				stop()
			}
		}
		r.putBuf(c.buf)
	}
	err := g.Wait()
	if evalErr != nil {
		return evalErr
	}
	return err
}

// decode parses every record of c; it runs on a worker.
func (r *Runner) decode(c *chunk) {
	limit := r.cfg.MaxEventBytes
	if c.values != nil {
		c.events = make([]schema.Event, 0, len(c.values))
		for i, v := range c.values {
			r.parse(c, v, limit, InvalidRecord{Partition: c.partition, Offset: c.offsets[i]})
		}
		c.values = nil
		return
	}
	c.events = make([]schema.Event, 0, len(c.data)/256+1)
	line := c.firstLine
	for data := c.data; len(data) > 0; line++ {
		b := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			b, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		b = bytes.TrimRight(b, "\r")
		if isBlank(b) {
			continue
		}
		c.records++
		r.parse(c, b, limit, InvalidRecord{Line: line})
	}
	c.data = nil
}

func (r *Runner) parse(c *chunk, b []byte, limit int, where InvalidRecord) {
	var ev schema.Event
	var err error
	if r.cfg.Mapping != nil {
		ev, err = r.cfg.Mapping.Convert(formats.Message{Value: b}, limit)
	} else {
		ev, err = schema.ParseEvent(b, limit)
	}
	if err != nil {
		where.Err = err
		c.invalid = append(c.invalid, where)
		return
	}
	// The live service fills an unknown lifecycle from the account; a map
	// lookup cannot fail.
	_ = dowser.FillLifecycle(&ev.Customer, func(accountID string) (string, error) {
		return r.cfg.Accounts[accountID].Lifecycle, nil
	})
	c.events = append(c.events, ev)
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// evaluate runs c's events through its partition's engine, in order.
func (r *Runner) evaluate(c *chunk) error {
	engine := r.engines[c.partition]
	if engine == nil {
		engine = detector.New(r.cfg.Signals)
		r.engines[c.partition] = engine
	}
	s := &r.summary
	s.Partitions = len(r.engines)
	// Too-long lines were found while reading, so they come first: their
	// order among the chunk's other invalid lines only affects the samples.
	s.addInvalid(c.tooLong)
	s.addInvalid(c.invalid)
	newest := r.newest[c.partition]
	for i := range c.events {
		ev := &c.events[i]
		s.addEvent(ev)
		if ev.Time.After(newest) {
			newest = ev.Time
		}
		stops := engine.WhereStops()
		alerts := engine.Evaluate(ev)
		s.WhereStopped += int64(engine.WhereStops() - stops)
		if err := r.emit(alerts); err != nil {
			return err
		}
	}
	r.newest[c.partition] = newest
	s.Records += c.records
	r.bytes.Add(c.size)
	r.records.Add(c.records)
	return nil
}

// emit counts alerts in the summary and hands them to OnAlert.
func (r *Runner) emit(alerts []schema.Alert) error {
	for j := range alerts {
		a := &alerts[j]
		rep := r.cfg.Accounts[a.AccountID].Owner
		r.summary.addAlert(a, rep)
		r.alerts.Add(1)
		if r.cfg.OnAlert != nil {
			if err := r.cfg.OnAlert(a, rep); err != nil {
				return err
			}
		}
	}
	return nil
}

// Finish ends the input: each partition is taken to have gone quiet at
// the time of its newest event, as the live service's idle partitions
// do once the wall clock is the allowed lateness past it, so its event
// time W moves to that time (see [detector.Engine.Advance]). Silences
// whose wait ended by then without the expected event fire now, in
// partition order; those whose wait ends after the newest event are left
// pending and fire nothing, since the input cannot say what came next.
// Call it once, after the last Run method.
func (r *Runner) Finish() error {
	for _, p := range slices.Sorted(maps.Keys(r.engines)) {
		if t, ok := r.newest[p]; ok {
			if err := r.emit(r.engines[p].Advance(t)); err != nil {
				return err
			}
		}
	}
	return nil
}
