// Package ingest consumes the events topic with segmentio/kafka-go as a
// member of a consumer group: it decodes and validates each message, sends
// the bad ones to the dead-letter topic with the reason, hands the good ones,
// partition by partition and in offset order, to a handler, and commits
// offsets only after the handler has made their effects durable.
//
// It is the only package that imports kafka-go. It does not import detector,
// notify, postgres or api.
package ingest
