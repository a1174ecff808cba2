// Package broadcast owns the alerts topic end to end: it creates the
// topic (compacted, so an erased alert's tombstone removes its message),
// publishes each stored alert's message right after the alert is saved,
// relays the outbox rows and the tombstones left behind, tails the topic
// from its end and fans every message out to the sockets of this
// instance. The message is schema.AlertMessage, encoded here: from the
// saved alert by the publish loop, and by the relay from the outbox row
// (the alert and the deliveries its transaction numbered) that postgres
// writes in the alert's transaction.
//
// It imports only: dowser, kafka, schema.
package broadcast
