// Package resolve is the identity-resolution stage before detection. It
// consumes the source topics (a kafka.Processor each, [Resolver.Source]),
// keeps the identity graph in a Store (anonymous id to customer, account
// and lifecycle, and the events of anonymous ids not linked yet), and passes
// every event on to the resolved topic keyed by its resolved subject: a
// linked anonymous visitor's events as the customer's, and, when a link
// is learnt, the visitor's earlier events again, as the customer's, before
// the linking event. The detector consumes the resolved topic, so that
// what a visitor did before logging in reaches the partition of the
// customer and the account whatever partition it was first keyed to.
//
// Without a Store it only re-keys: every event goes on as it came, keyed
// by its subject, so that several source topics reach the detector as one.
//
// A partition's offset is committed only once everything it produced is
// acknowledged, and the graph is written so that a replay changes
// nothing; what a replay produces again carries the same event ids,
// which the detector's de-duplication drops (see docs/architecture.md,
// "Identity resolution").
//
// It imports only: detector, kafka, schema.
package resolve
