package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/dowserhq/dowser"
	"github.com/dowserhq/dowser/deploy"
	"github.com/dowserhq/dowser/detector"
	"github.com/dowserhq/dowser/kafka"
	"github.com/dowserhq/dowser/postgres"
	"github.com/dowserhq/dowser/schema"
)

// probeSignal fires once per account on a probe form submission: the
// end-to-end run produces one probe per account and times its alert.
const probeSignal = `id: bench-latency-probe
name: Bench latency probe
owner: bench-marketer
audience: prospect
scope: account
priority: urgent
when:
  threshold:
    match: {type: form_submit, url: "*/bench-probe*"}
    count: 1
    within: 1h
cooldown: 1h
message: "{{.Account}} probe"
`

// Service is the Dowser service the end-to-end run measures, running in
// this process: `dowser serve`'s App.
type Service interface {
	// Run serves until ctx ends.
	Run(ctx context.Context) error
	// Ready is closed once the service serves HTTP and consumes events,
	// with the signals stored before it started loaded.
	Ready() <-chan struct{}
	// HTTPAddr is where it serves HTTP and websockets; valid after Ready.
	HTTPAddr() string
}

// ServiceConfig is what the end-to-end run needs of its service: a
// database of its own, the bench's brokers, fresh topics and group.
type ServiceConfig struct {
	DatabaseURL  string
	KafkaBrokers []string
	// KafkaSecurity is how to reach KafkaBrokers; zero for the bench's
	// own broker.
	KafkaSecurity kafka.Security
	EventsTopic   string
	AlertsTopic   string
	GroupID       string
	Partitions    int
}

// endToEnd runs the whole service (cfg.NewService, on the given brokers
// and a fresh database made next to cfg.DatabaseURL's) with the default
// pack and the probe signal, connects cfg.E2EClients websocket clients,
// each a rep owning some accounts, produces demo traffic at cfg.E2ERate
// events a second with one probe in 50, and returns the latencies from
// each probe's producer acknowledgement to its alert frame read by its
// owner's client.
func endToEnd(ctx context.Context, cfg Config, cl kafka.Cluster, progress func(string, ...any)) (lat []time.Duration, ws *wsMemory, err error) {
	dbURL, drop, err := postgres.CreateScratchDatabase(ctx, cfg.DatabaseURL, "dowser_bench_")
	if err != nil {
		return nil, nil, err
	}
	defer drop()
	// People, accounts and signals are stored before the service starts,
	// so that it has loaded the signals when it is ready.
	probes := cfg.E2EAlerts + cfg.E2EAlerts/10
	probe, err := seed(ctx, dbURL, probes, cfg.E2EClients)
	if err != nil {
		return nil, nil, err
	}
	stamp := strconv.FormatInt(time.Now().UnixNano(), 36)
	scfg := ServiceConfig{
		DatabaseURL:   dbURL,
		KafkaBrokers:  cl.Brokers,
		KafkaSecurity: cfg.KafkaSecurity,
		EventsTopic:   "dowser.bench-e2e.events." + stamp,
		AlertsTopic:   "dowser.bench-e2e.alerts." + stamp,
		GroupID:       "dowser.bench-e2e." + stamp,
		Partitions:    cfg.Partitions,
	}
	app, err := cfg.NewService(scfg)
	if err != nil {
		return nil, nil, err
	}
	actx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- app.Run(actx) }()
	defer func() {
		cancel()
		if rerr := <-errc; rerr != nil && err == nil {
			err = rerr
		}
	}()
	select {
	case <-app.Ready():
	case err := <-errc:
		errc <- err
		return nil, nil, fmt.Errorf("the service stopped before it was ready: %w", err)
	case <-time.After(60 * time.Second):
		return nil, nil, errors.New("the service was not ready within 60s")
	}

	// Clients, in a process of their own: what they cost in CPU, memory
	// and GC is not the service's.
	var mu sync.Mutex
	acked := map[string]time.Time{}    // account -> probe acknowledged
	received := map[string]time.Time{} // account -> alert frame read
	progress("e2e: connecting %d websocket clients", cfg.E2EClients)
	clients, err := startClients(ctx, "e2e", app.HTTPAddr(), cfg.E2EClients, cfg.E2EClients, probe)
	if err != nil {
		return nil, nil, err
	}
	defer clients.stop()
	if clients.opened < cfg.E2EClients {
		return nil, nil, fmt.Errorf("only %d of %d websocket clients connected: %s", clients.opened, cfg.E2EClients, clients.short)
	}
	go readAlerts(clients.lines, &mu, received)

	// Traffic: rate events a second in 1 ms ticks, one in 50 a probe,
	// produced by 16 producers so that waiting for acknowledgements does
	// not slow the pace.
	progress("e2e: %0.f events/s, %d probes", cfg.E2ERate, probes)
	p := kafka.NewProducer(cl, scfg.EventsTopic)
	defer p.Close()
	err = probeRun(ctx, p, cfg.E2ERate, 50, 0, probes, func(acct string, at time.Time) {
		mu.Lock()
		acked[acct] = at
		mu.Unlock()
	})
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if n >= probes {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for acct, at := range acked {
		if got, ok := received[acct]; ok {
			// Wall clock on both sides: the read time comes from the
			// clients' process.
			lat = append(lat, got.Sub(at.Round(0)))
		}
	}
	if len(lat) < cfg.E2EAlerts {
		return lat, nil, fmt.Errorf("only %d of %d probe alerts reached their clients within 30s", len(lat), probes)
	}
	mu.Unlock()
	defer mu.Lock()
	if cfg.WSConns > 0 {
		// The latency clients are done: their files are needed.
		clients.stop()
		progress("e2e: opening %d idle websocket connections", cfg.WSConns)
		ws, err := measureWSMemory(ctx, app.HTTPAddr(), cfg.WSConns, cfg.E2EClients)
		if err != nil {
			progress("websocket memory: not measured: %v", err)
			return lat, nil, nil
		}
		if ws.short != "" {
			progress("websocket memory: %d connections, not %d: %s", ws.conns, cfg.WSConns, ws.short)
		}
		return lat, ws, nil
	}
	return lat, nil, nil
}

func token(i int) string { return fmt.Sprintf("bench-token-%05d-0123456789", i) }

// packSource is the YAML of the default pack's signal id.
func packSource(id string) string {
	b, _ := fs.ReadFile(deploy.Signals, "signals/"+id+".yaml")
	return string(b)
}

// seed stores, in a migrated database at dbURL, a marketer owning the
// probe signal, reps reps with their tokens, probes accounts owned by
// them in turn, and the default pack with the probe signal, and returns
// the probe signal's id.
func seed(ctx context.Context, dbURL string, probes, reps int) (string, error) {
	store, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return "", err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return "", err
	}
	if err := store.People.PutUser(ctx, dowser.User{ID: "bench-marketer", Name: "Bench marketer", Role: dowser.RoleMarketer}, ""); err != nil {
		return "", err
	}
	for i := range reps {
		id := fmt.Sprintf("bench-rep-%05d", i)
		if err := store.People.PutUser(ctx, dowser.User{ID: id, Name: id, Role: dowser.RoleRep}, token(i)); err != nil {
			return "", err
		}
	}
	for i := range probes {
		a := dowser.Account{ID: fmt.Sprintf("bench-acct-%05d", i), Name: fmt.Sprintf("Bench %d", i),
			OwnerID: fmt.Sprintf("bench-rep-%05d", i%reps), Lifecycle: schema.LifecycleProspect}
		if err := store.Directory.PutAccount(ctx, a); err != nil {
			return "", err
		}
	}
	packFiles, err := fs.Glob(deploy.Signals, "signals/*.yaml")
	if err != nil {
		return "", err
	}
	pack, err := signalSet(len(packFiles))
	if err != nil {
		return "", err
	}
	probe, err := detector.ParseSignal([]byte(probeSignal))
	if err != nil {
		return "", err
	}
	srcs := map[string]string{probe.ID: probeSignal}
	for _, s := range pack {
		srcs[s.ID] = packSource(s.ID)
	}
	for _, s := range append(pack, probe) {
		doc, err := json.Marshal(s)
		if err != nil {
			return "", err
		}
		if _, err := store.Signals.SaveSignal(ctx, s.ID, doc, srcs[s.ID], "bench", true); err != nil {
			return "", err
		}
	}
	return probe.ID, nil
}

// probeRun produces demo traffic to p at rate events a second, one in
// every `every` a probe form submission of account bench-acct-<n> for n
// from first up to (not including) end, until ctx ends or the probes run
// out, and calls acked with each probe's account as it is acknowledged.
func probeRun(ctx context.Context, p *kafka.Producer, rate float64, every, first, end int, acked func(acct string, at time.Time)) error {
	type batch struct {
		msgs  []kafka.Message
		probe string
	}
	batches := make(chan batch, 1024)
	g, gctx := errgroup.WithContext(ctx)
	for range 16 {
		g.Go(func() error {
			for b := range batches {
				if err := p.Produce(gctx, b.msgs...); err != nil {
					return err
				}
				if b.probe != "" {
					acked(b.probe, time.Now())
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(batches)
		t := newTraffic()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		sent, next := 0, first
		for next < end {
			select {
			case <-gctx.Done():
				return nil
			case <-tick.C:
			}
			due := int(time.Since(start).Seconds() * rate)
			var b batch
			for ; sent < due; sent++ {
				ev := t.Next(time.Now())
				// The traffic repeats its ids from run to run: an id seen
				// before in the partition would be dropped as a duplicate.
				ev.ID = fmt.Sprintf("run%d-%s", first, ev.ID)
				if sent%every == every-1 && next < end {
					acct := fmt.Sprintf("bench-acct-%05d", next)
					next++
					ev.Type, ev.ContentID = schema.TypeFormSubmit, ""
					ev.Customer = schema.Customer{ID: "c-" + acct, AccountID: acct}
					ev.Properties = map[string]any{"form": "probe", "url": "https://dowser.example/bench-probe"}
					// A probe goes alone, so that its acknowledgement is its own.
					if err := send(gctx, batches, batch{msgs: []kafka.Message{message(&ev)}, probe: acct}); err != nil {
						return nil
					}
					continue
				}
				b.msgs = append(b.msgs, message(&ev))
			}
			if len(b.msgs) > 0 {
				if send(gctx, batches, b) != nil {
					return nil
				}
			}
		}
		return nil
	})
	err := g.Wait()
	if ctx.Err() != nil {
		return nil // ended by its caller
	}
	return err
}
