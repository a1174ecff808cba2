// Package formats converts the messages trackers already produce into
// Dowser's events: Dowser's own envelope, Segment and RudderStack spec
// messages, Snowplow enriched events in the Analytics SDK's JSON form, and
// CloudEvents 1.0 (structured JSON, or binary over Kafka headers).
//
// Each format has a default [Mapping] from its fields to the event's (type,
// id, time, customer and anonymous id, account, content, URL, title...);
// a [SourceConfig] overrides any of them with a field path, per source
// topic. A message that cannot be mapped fails with an [*Error] naming the
// message's field.
//
// It is pure: no I/O, no clock. The envelope is decoded by
// schema.Decoder, unchanged; the other formats by encoding/json.
//
// It imports only: schema.
package formats
