// Package kafka is all of Dowser's Kafka traffic, over segmentio/kafka-go:
//
//   - [Consumer] reads the events topic as a member of a consumer group:
//     it decodes each message in its format (package formats) and
//     validates it, sends the bad ones to the dead-letter topic with the
//     reason, hands the good ones, partition by partition and in offset
//     order, to a [Processor], and commits offsets only after the
//     processor has made their effects durable;
//   - [Producer] writes keyed messages (events, the alerts topic);
//   - [Tailer] follows a topic from its end without a consumer group (the
//     alerts topic, on every instance);
//   - [OpenHistory] reads a topic's newest messages (signal previews and
//     backtests), and [DrainTopic] a whole topic (benchmarks);
//   - [EnsureTopics] and [EnsureTopicConfigured] create topics, and
//     [CheckTopics] checks them for a principal that may not.
//
// Every connection goes through a [Cluster]: the brokers, and the TLS and
// SASL settings [Connect] makes of a [Security]. A refused credential,
// certificate or ACL is an error wrapping [ErrDenied] that says what to
// check or grant.
//
// It is the only package that imports github.com/segmentio/kafka-go.
// It imports only: formats, schema.
package kafka
