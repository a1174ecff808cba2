// Package schema holds Dowser's contracts: the event envelope upstream systems
// produce, the alert the detector emits, and the embedded SQL migrations.
//
// It does no I/O of its own. The fast JSON scanning behind [Decoder] is its
// own, in schema/internal/jsonscan.
//
// It imports only: schema/internal/jsonscan.
package schema
