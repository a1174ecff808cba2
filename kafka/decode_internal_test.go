package kafka

import (
	"testing"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser/schema"
)

const benchEnvelope = `{"id":"evt-8c1f5e2a9b3d4c70","type":"page_view","time":"2026-11-02T09:00:12.3456Z","source":"demo-traffic","customer":{"id":"c-northwind-3","email":"maria.garcia@northwind.example","account_id":"northwind"},"content_id":"pricing-page","properties":{"title":"Pricing","url":"https://dowser.example/p07/pricing"}}`

// BenchmarkDecodeEnvelope measures the consumer's decode step on an
// envelope without headers (the topic's format: Decoder direct) and with a
// dowser-format header (as POST /v1/events produces), against the bare
// schema.Decoder: the format lookup must cost the hot path next to
// nothing.
func BenchmarkDecodeEnvelope(b *testing.B) {
	c := &Consumer{cfg: Config{Cluster: Cluster{Brokers: []string{"x"}}, Topic: "t"}}
	if err := c.cfg.setDefaults(); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name    string
		headers []kafkago.Header
		bare    bool
	}{
		{name: "bare decoder", bare: true},
		{name: "consumer, no headers"},
		{name: "consumer, format header", headers: []kafkago.Header{{Key: HeaderFormat, Value: []byte("dowser")}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dec := schema.NewDecoder(0)
			msg := kafkago.Message{Value: []byte(benchEnvelope), Headers: bc.headers}
			var ev schema.Event
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if bc.bare {
					err = dec.Decode(msg.Value, &ev)
				} else {
					err = c.decode(dec, &msg, &ev)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
