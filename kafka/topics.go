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
// as they are. It needs the ACL Create on each topic (or on the cluster);
// a principal without it runs with [CheckTopics] instead.
func EnsureTopics(ctx context.Context, cl Cluster, partitions, replication int, topics ...string) error {
	client, done := cl.client(10 * time.Second)
	defer done()
	req := &kafkago.CreateTopicsRequest{}
	for _, t := range topics {
		req.Topics = append(req.Topics, kafkago.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: replication})
	}
	resp, err := client.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("creating topics %v: %w", topics, cl.explain(ctx, err, fmt.Sprintf("Create on topics %v", topics)))
	}
	for _, t := range topics {
		if err := resp.Errors[t]; err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %s: %w", t, cl.explain(ctx, err, "Create on topic "+t))
		}
	}
	return nil
}

// CheckTopics fails unless every named topic exists and Dowser's principal
// may see it (the ACL Describe, which Read and Write imply). The error of a
// missing topic wraps [ErrMissingTopic] and names it; a denied one wraps
// [ErrDenied].
func CheckTopics(ctx context.Context, cl Cluster, topics ...string) error {
	client, done := cl.client(10 * time.Second)
	defer done()
	meta, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("reading metadata of topics %v: %w", topics, cl.explain(ctx, err, fmt.Sprintf("Describe on topics %v", topics)))
	}
	found := map[string]error{}
	for _, t := range meta.Topics {
		found[t.Name] = t.Error
	}
	for _, t := range topics {
		err, ok := found[t]
		switch {
		case !ok || errors.Is(err, kafkago.UnknownTopicOrPartition):
			return fmt.Errorf("kafka topic %s does not exist and Dowser does not create topics: create it (docs/operations.md lists them): %w", t, ErrMissingTopic)
		case err != nil:
			return fmt.Errorf("topic %s: %w", t, cl.explain(ctx, err, "Describe on topic "+t))
		}
	}
	return nil
}

// Ping checks that one of the brokers answers a metadata request.
func Ping(ctx context.Context, cl Cluster) error {
	client, done := cl.client(2 * time.Second)
	defer done()
	if _, err := client.Metadata(ctx, &kafkago.MetadataRequest{}); err != nil {
		return fmt.Errorf("reaching brokers %v: %w", cl.Brokers, cl.explain(ctx, err, "Describe on the cluster"))
	}
	return nil
}

// Producer writes events to a topic, keyed by account (else customer) so
// that one account's events stay in one partition, in order.
type Producer struct {
	w  *kafkago.Writer
	tr *kafkago.Transport
	cl Cluster
}

// NewProducer returns a producer tuned for latency: it sends as soon as it
// has a message instead of waiting for kafka-go's one-second batch timeout.
func NewProducer(cl Cluster, topic string) *Producer {
	tr := cl.transport()
	return &Producer{tr: tr, cl: cl, w: &kafkago.Writer{
		Addr:         kafkago.TCP(cl.Brokers...),
		Topic:        topic,
		Balancer:     &kafkago.Hash{},
		BatchTimeout: 2 * time.Millisecond,
		RequiredAcks: kafkago.RequireAll,
		Transport:    tr,
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
		return fmt.Errorf("producing to %s: %w", p.w.Topic, p.cl.explain(ctx, err, "Write on topic "+p.w.Topic))
	}
	return nil
}

// Close flushes and closes the producer.
func (p *Producer) Close() error {
	err := p.w.Close()
	p.tr.CloseIdleConnections()
	return err
}
