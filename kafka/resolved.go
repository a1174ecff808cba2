package kafka

import (
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// NewBatchProducer returns a producer for a caller that hands it whole
// batches and waits for each (the identity-resolution stage): kafka-go
// holds a partial batch until its timeout even when the caller waits, so
// the timeout here is 100 µs rather than NewProducer's 2 ms, and a batch
// holds up to 1,000 messages a partition.
func NewBatchProducer(cl Cluster, topic string) *Producer {
	tr := cl.transport()
	return &Producer{tr: tr, cl: cl, w: &kafkago.Writer{
		Addr:         kafkago.TCP(cl.Brokers...),
		Transport:    tr,
		Topic:        topic,
		Balancer:     &kafkago.Hash{},
		BatchTimeout: 100 * time.Microsecond,
		BatchSize:    1000,
		RequiredAcks: kafkago.RequireAll,
	}}
}
