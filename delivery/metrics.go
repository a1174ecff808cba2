package delivery

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dowserhq/dowser"
)

// metrics are the dispatcher's, labelled by channel kind.
type metrics struct {
	sent, retried, failed, paused *prometheus.CounterVec
	latency                       *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	kind := []string{"kind"}
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dowser_channel_deliveries_sent_total",
			Help: "Channel deliveries the receiver accepted, by channel kind."}, kind),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dowser_channel_delivery_retries_total",
			Help: "Failed attempts of channel deliveries that will be tried again, by channel kind."}, kind),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dowser_channel_deliveries_failed_total",
			Help: "Channel deliveries given up: refused for good or out of attempts, by channel kind."}, kind),
		paused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dowser_channels_paused_total",
			Help: "Channels paused because their deliveries kept failing, by channel kind."}, kind),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dowser_channel_delivery_latency_seconds",
			Help:    "Time from an alert's storing to its channel delivery's acceptance, retries included, by channel kind.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}}, kind),
	}
	// Every kind shows from the start, at zero, so rates and alert rules
	// need no series to appear first.
	for _, k := range dowser.ChannelKinds() {
		m.sent.WithLabelValues(string(k))
		m.retried.WithLabelValues(string(k))
		m.failed.WithLabelValues(string(k))
		m.paused.WithLabelValues(string(k))
		m.latency.WithLabelValues(string(k))
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.sent, m.retried, m.failed, m.paused, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering delivery metrics: %w", err)
		}
	}
	return m, nil
}
