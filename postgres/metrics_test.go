package postgres_test

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCollectorsGaugeThePool(t *testing.T) {
	s := open(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(s.Collectors()...)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
		if f.GetName() == "dowser_postgres_pool_acquired_conns" && f.GetMetric()[0].GetGauge().GetValue() != 0 {
			t.Errorf("%d connections in use by nothing", int(f.GetMetric()[0].GetGauge().GetValue()))
		}
	}
	want := []string{"dowser_postgres_pool_acquired_conns", "dowser_postgres_pool_idle_conns", "dowser_postgres_pool_total_conns"}
	if !slices.Equal(names, want) {
		t.Errorf("gathered %v, want %v", names, want)
	}
}
