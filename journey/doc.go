// Package journey keeps the buyer's journey: every event the event path
// accepts becomes a small row (dowser.JourneyItem) that a Writer copies
// to storage in batches, off the event path. Record never blocks: when
// storage falls behind, the bounded buffer fills and rows are dropped,
// counted in dowser_journey_dropped_total; alerts are not affected. The
// Writer also keeps the storage's daily partitions: ahead of time, and
// dropped once older than the retention.
//
// It imports only: dowser, schema.
package journey
