package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns the registry /metrics serves, with the Go runtime's
// and the process's collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(
		// The live heap after the last GC (go_gc_heap_live_bytes): what the
		// detector state really holds, to compare the RSS with.
		collectors.WithGoCollectorRuntimeMetrics(collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)}),
	), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// EdgeConfig is the HTTP edge of the service: where it listens, how long
// a client may take to send a request, and how many connections one
// client address may hold.
type EdgeConfig struct {
	Addr              string
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
	// MaxConnsPerAddr caps the open connections of one client address
	// (trusted proxies excepted); 0: no cap.
	MaxConnsPerAddr int
	TrustedProxies  []netip.Prefix
	Logger          *slog.Logger
}

// Edge is the service's listening socket and HTTP server: the API at /,
// /metrics and /readyz.
type Edge struct {
	ln  net.Listener
	srv *http.Server
}

// Listen opens cfg.Addr and serves, once Serve runs, app at / with the
// metrics of reg at /metrics and ready at /readyz. Connections refused for
// the per-address cap are counted in reg.
func Listen(cfg EdgeConfig, app http.Handler, reg *prometheus.Registry, ready Readiness) (*Edge, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("GET /readyz", ready)
	mux.Handle("/", app)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	if cfg.MaxConnsPerAddr > 0 {
		refused := prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dowser_http_connections_refused_total",
			Help: "Connections closed on accept because their client address already had --max-conns-per-addr open.",
		})
		reg.MustRegister(refused)
		ln = LimitConnsPerAddr(ln, cfg.MaxConnsPerAddr, cfg.TrustedProxies, refused.Inc)
	}
	// The timeouts bound how long a client may take to send a request; a
	// websocket, once upgraded, keeps the hub's own deadlines instead.
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return &Edge{ln: ln, srv: srv}, nil
}

// Addr is the address the edge listens on.
func (e *Edge) Addr() string { return e.ln.Addr().String() }

// OnShutdown registers f to run when the server shuts down.
func (e *Edge) OnShutdown(f func()) { e.srv.RegisterOnShutdown(f) }

// Serve serves until ctx ends, then shuts the server down, giving requests
// in flight 5 s.
func (e *Edge) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- e.srv.Serve(e.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := e.srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("serving http: %w", serr)
	}
	return err
}
