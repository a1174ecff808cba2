package pipeline

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/detector"
)

// warmKeep is how long a state restored ahead of its assignment waits to
// be taken before it is dropped (the partition went to another instance).
const warmKeep = 2 * time.Minute

// restored is a partition's engine rebuilt from a checkpoint.
type restored struct {
	cp     dowser.Checkpoint
	snap   *signalSnapshot
	engine *detector.Engine
	rows   int
	reset  bool
	took   time.Duration
}

// warming is a restore started before the partition was assigned; done
// closes when r (nil on failure) is set.
type warming struct {
	done chan struct{}
	r    *restored
}

// warmStates holds the restores Warm started, by partition.
type warmStates struct {
	mu sync.Mutex
	m  map[int]*warming
}

// take removes the partition's warm restore, waiting for it to finish,
// and returns it; nil when there is none or ctx ended first.
func (ws *warmStates) take(ctx context.Context, partition int) *restored {
	ws.mu.Lock()
	w := ws.m[partition]
	delete(ws.m, partition)
	ws.mu.Unlock()
	if w == nil {
		return nil
	}
	select {
	case <-w.done:
		return w.r
	case <-ctx.Done():
		return nil
	}
}

// Warm restores, in the background, the state of every partition this
// instance (Config.Instance) held when it last stopped. A group hands the
// partitions of a crashed member out only once its session has timed out;
// a restarted instance spends that wait restoring, so that alerting
// resumes as soon as the partitions are assigned. The claim decides: a
// state saved again since it was read (by another owner) is restored again,
// and one not taken within warmKeep is dropped.
func (p *Pipeline) Warm(ctx context.Context) {
	if p.cfg.Instance == "" {
		return
	}
	cps, err := p.cfg.Checkpoints.CheckpointStates(ctx, p.cfg.Group, p.cfg.Topic)
	if err != nil {
		p.log.Warn("warm restart: listing checkpoints; partitions restore when assigned", "err", err)
		return
	}
	mine := p.cfg.Instance + "/"
	for partition, cp := range cps {
		if !strings.HasPrefix(cp.Owner, mine) || len(cp.Legacy) > 0 || cp.NextOffset < 0 {
			continue
		}
		w := &warming{done: make(chan struct{})}
		p.warm.mu.Lock()
		p.warm.m[partition] = w
		p.warm.mu.Unlock()
		go func() {
			defer close(w.done)
			r, err := p.restore(ctx, partition, cp)
			if err != nil {
				p.log.Warn("warm restart: restoring ahead of the assignment failed; it restores when assigned", "partition", partition, "err", err)
				return
			}
			w.r = r
			p.log.Info("warm restart: state restored ahead of the assignment", "partition", partition, "state_rows", r.rows, "restore", r.took.Round(time.Millisecond))
			time.AfterFunc(warmKeep, func() {
				p.warm.mu.Lock()
				defer p.warm.mu.Unlock()
				if p.warm.m[partition] == w {
					delete(p.warm.m, partition)
					p.log.Info("warm restart: partition not assigned here; its state is dropped", "partition", partition)
				}
			})
		}()
	}
}
