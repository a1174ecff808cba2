package postgres

import "github.com/prometheus/client_golang/prometheus"

// Collectors are gauges of the connection pool (connections in use, idle,
// and in all), read from PoolStats at each scrape, for the caller to
// register.
func (s *DB) Collectors() []prometheus.Collector {
	var out []prometheus.Collector
	for _, g := range []struct {
		name, help string
		pick       func(acquired, idle, total int32) int32
	}{
		{"dowser_postgres_pool_acquired_conns", "PostgreSQL connections in use.", func(a, _, _ int32) int32 { return a }},
		{"dowser_postgres_pool_idle_conns", "PostgreSQL connections idle in the pool.", func(_, i, _ int32) int32 { return i }},
		{"dowser_postgres_pool_total_conns", "PostgreSQL connections in the pool.", func(_, _, t int32) int32 { return t }},
	} {
		out = append(out, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: g.name, Help: g.help}, func() float64 {
			return float64(g.pick(s.PoolStats()))
		}))
	}
	return out
}
