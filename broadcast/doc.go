// Package broadcast owns the alerts topic end to end: it creates the
// topic (compacted, so an erased alert's tombstone removes its message),
// publishes each stored alert's message right after the alert is saved,
// relays the outbox rows and the tombstones left behind, tails the topic
// from its end and fans every message out to the sockets of this
// instance. The message itself is schema.AlertMessage, written to the
// outbox by postgres in the alert's transaction.
//
// It imports only: dowser, kafka, schema.
package broadcast
