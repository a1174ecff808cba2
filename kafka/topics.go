package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/dowserhq/dowser/schema"
)

// EnsureTopics creates the named topics with the given partition count and
// replication factor where they do not exist yet; existing topics are left
// as they are.
func EnsureTopics(ctx context.Context, brokers []string, partitions, replication int, topics ...string) error {
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
	req := &kafkago.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafkago.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replication})
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("creating topics %v: %w", topics, err)
	}
	for t, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %s: %w", t, err)
		}
	}
	return nil
}

// Ping checks that one of the brokers answers a metadata request.
func Ping(ctx context.Context, brokers []string) error {
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 2 * time.Second}
	if _, err := client.Metadata(ctx, &kafkago.MetadataRequest{}); err != nil {
		return fmt.Errorf("reaching brokers %v: %w", brokers, err)
	}
	return nil
}

// Producer writes events to a topic, keyed by account (else customer) so
// that one account's events stay in one partition, in order.
type Producer struct {
	w *kafkago.Writer
}

// NewProducer returns a producer tuned for latency: it sends as soon as it
// has a message instead of waiting for kafka-go's one-second batch timeout.
func NewProducer(brokers []string, topic string) *Producer {
	return &Producer{w: &kafkago.Writer{
		Addr:         kafkago.TCP(brokers...),
		Topic:        topic,
		Balancer:     &kafkago.Hash{},
		BatchTimeout: 2 * time.Millisecond,
		RequiredAcks: kafkago.RequireAll,
	}}
}

// EventKey is the partitioning key of an event: its account, else its
// customer.
func EventKey(ev *schema.Event) string {
	if ev.Customer.AccountID != "" {
		return ev.Customer.AccountID
	}
	return ev.Customer.Key()
}

// Message is one raw record to produce.
type Message struct {
	Key, Value []byte
	Headers    []Header
}

// Header is a record header.
type Header struct {
	Key   string
	Value []byte
}

// Produce writes the messages and returns once the broker acknowledged them.
func (p *Producer) Produce(ctx context.Context, msgs ...Message) error {
	out := make([]kafkago.Message, len(msgs))
	for i, m := range msgs {
		out[i] = kafkago.Message{Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			out[i].Headers = append(out[i].Headers, kafkago.Header(h))
		}
	}
	if err := p.w.WriteMessages(ctx, out...); err != nil {
		return fmt.Errorf("producing to %s: %w", p.w.Topic, err)
	}
	return nil
}

// Close flushes and closes the producer.
func (p *Producer) Close() error { return p.w.Close() }
