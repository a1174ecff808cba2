package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/dowserhq/dowser/demo"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/schema"
)

// epoch is the event time of the first generated event; the traffic
// then runs at eventRate events a second of event time.
var epoch = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

const eventRate = 5000

// newTraffic is the demo's traffic generator with a fixed seed, its
// research filed under productLines product lines.
func newTraffic() *demo.Traffic { return demo.NewTraffic(2026, productLines) }

func eventTime(i int) time.Time {
	return epoch.Add(time.Duration(i) * time.Second / eventRate)
}

// produce produces n demo events and returns their total size.
func produce(ctx context.Context, cl kafka.Cluster, topic string, n int) (int64, error) {
	const chunk = 2000
	p := kafka.NewProducer(cl, topic)
	defer p.Close()
	chunks := make(chan []kafka.Message, 8)
	g, gctx := errgroup.WithContext(ctx)
	var total int64
	g.Go(func() error {
		defer close(chunks)
		t := newTraffic()
		batch := make([]kafka.Message, 0, chunk)
		for i := range n {
			ev := t.Next(eventTime(i))
			b, err := json.Marshal(&ev)
			if err != nil {
				return err
			}
			total += int64(len(b))
			batch = append(batch, kafka.Message{Key: []byte(kafka.EventKey(&ev)), Value: b})
			if len(batch) == chunk || i == n-1 {
				select {
				case chunks <- batch:
				case <-gctx.Done():
					return gctx.Err()
				}
				batch = make([]kafka.Message, 0, chunk)
			}
		}
		return nil
	})
	for range 8 {
		g.Go(func() error {
			for b := range chunks {
				if err := p.Produce(gctx, b...); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	return total, err
}

// processor is an kafka.Processor running one detector engine a
// partition, as the service does, without PostgreSQL: alerts are counted
// and dropped, checkpoints do nothing.
type processor struct {
	signals []*detector.Signal
	target  int64
	started atomic.Int64 // unix nanoseconds of the first assignment
	handled atomic.Int64
	alerts  atomic.Int64
	done    chan struct{}
	doneAt  time.Time
}

func (p *processor) Partition(ctx context.Context, partition int) (kafka.PartitionHandler, int64, error) {
	p.started.CompareAndSwap(0, time.Now().UnixNano())
	return &partitionHandler{p: p, engine: detector.New(p.signals)}, 0, nil
}

type partitionHandler struct {
	p      *processor
	engine *detector.Engine
}

func (h *partitionHandler) Handle(ctx context.Context, ev *schema.Event) error {
	demo.FillLifecycle(ev)
	if a := h.engine.Evaluate(ev); len(a) > 0 {
		h.p.alerts.Add(int64(len(a)))
	}
	if h.p.handled.Add(1) == h.p.target {
		h.p.doneAt = time.Now()
		close(h.p.done)
	}
	return nil
}

func (h *partitionHandler) Checkpoint(ctx context.Context, nextOffset int64, final bool) (int64, error) {
	return nextOffset, nil
}

// runPipeline runs the consumer over the topic from its start until it
// has handled n events and returns the events a second from the first
// partition assigned to the last event evaluated.
func runPipeline(ctx context.Context, cl kafka.Cluster, topic string, n int, sigs []*detector.Signal) (float64, int64, error) {
	proc := &processor{signals: sigs, target: int64(n), done: make(chan struct{})}
	c, err := kafka.NewConsumer(kafka.Config{
		Cluster: cl, Topic: topic, GroupID: topic + ".bench",
		CheckpointInterval: 2 * time.Second,
	}, proc, kafka.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		return 0, 0, err
	}
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- c.Run(cctx) }()
	defer func() { cancel(); <-errc }()
	select {
	case <-proc.done:
	case err := <-errc:
		return 0, 0, fmt.Errorf("consumer stopped after %d of %d events: %v", proc.handled.Load(), n, err)
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	took := proc.doneAt.Sub(time.Unix(0, proc.started.Load()))
	return float64(n) / took.Seconds(), proc.alerts.Load(), nil
}

func send[T any](ctx context.Context, ch chan<- T, v T) error {
	select {
	case ch <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func message(ev *schema.Event) kafka.Message {
	b, _ := json.Marshal(ev)
	return kafka.Message{Key: []byte(kafka.EventKey(ev)), Value: b}
}
