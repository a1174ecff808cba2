package bench

import (
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"syscall"
	"time"

	"github.com/dowserhq/dowser/demo"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/schema"
)

// events is the engine stage's input: the first events of the bench
// traffic, as the consumer receives them (JSON, lifecycles filled in as
// the service's cache fills them), in one pointer-free buffer so that
// keeping a million of them costs the garbage collector nothing.
type events struct {
	data []byte
	ends []int // data[ends[i-1]:ends[i]] is event i
}

func newEvents(n int) (*events, error) {
	t := newTraffic()
	b := &events{ends: make([]int, 0, n)}
	for i := range n {
		ev := t.Next(eventTime(i))
		demo.FillLifecycle(&ev)
		raw, err := json.Marshal(&ev)
		if err != nil {
			return nil, err
		}
		b.data = append(b.data, raw...)
		b.ends = append(b.ends, len(b.data))
	}
	return b, nil
}

func (b *events) len() int { return len(b.ends) }

func (b *events) raw(i int) []byte {
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.data[start:b.ends[i]]
}

// engineBatch is how many events measureEngine decodes before it
// evaluates them.
const engineBatch = 256

// measureEngine evaluates evs, every one or as many as limit (of CPU time)
// allows, with a fresh engine of sigs on this goroutine, and returns the
// events evaluated per second of the process's CPU time (user and system,
// GC included: nothing else runs in the process meanwhile) and per wall
// second. The CPU figure is what one core does, whatever else the machine
// runs.
//
// The events are decoded (schema.Decoder, as the consumer does), untimed,
// in batches of engineBatch just before they are evaluated, timed:
// the engine gets them fresh from the decoder, as in the service.
// Evaluating half a million events decoded in advance instead measured
// mostly cache misses on the events themselves (their property maps,
// ids and URLs, scattered over the heap), which the service never pays,
// and the garbage collector's marking of them: the same engine ran at
// 1.4 to 2.3 million events a second depending on where the heap had put
// them.
func measureEngine(evs *events, sigs []*detector.Signal, limit time.Duration) (perCPU, perWall float64, err error) {
	runtime.GC()
	e := detector.New(sigs)
	dec := schema.NewDecoder(0)
	batch := make([]schema.Event, engineBatch)
	props := make([]map[string]any, engineBatch)
	for j := range props {
		props[j] = make(map[string]any)
	}
	var cpu, wall time.Duration
	done := 0
	for done < evs.len() && cpu < limit {
		n := min(engineBatch, evs.len()-done)
		for j := range n {
			ev := &batch[j]
			if err := dec.Decode(evs.raw(done+j), ev); err != nil {
				return 0, 0, fmt.Errorf("bench event %d: %w", done+j, err)
			}
			// The decoder's map is reused by its next Decode.
			clear(props[j])
			maps.Copy(props[j], ev.Properties)
			ev.Properties = props[j]
		}
		cpu0, err := processCPU()
		if err != nil {
			return 0, 0, err
		}
		start := time.Now()
		for j := range n {
			e.Evaluate(&batch[j])
		}
		wall += time.Since(start)
		cpu1, err := processCPU()
		if err != nil {
			return 0, 0, err
		}
		cpu += cpu1 - cpu0
		done += n
	}
	runtime.KeepAlive(e)
	return float64(done) / cpu.Seconds(), float64(done) / wall.Seconds(), nil
}

// processCPU returns the CPU time the process has used so far.
func processCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("reading the process's CPU time: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
