// Package pipeline is the service's event path: for every partition of the
// events topic it drops the events of people who asked not to be tracked,
// records identity links, applies erasures, fills the account's lifecycle,
// evaluates the detector, routes the alerts, stores them, delivers them to
// this instance's sockets, hands them to the alerts topic, and checkpoints
// the detector state with its offset. Its background loops keep the
// enabled signals and the privacy lists fresh and purge old alerts.
//
// It imports only: dowser, detector, kafka, notify, schema.
package pipeline
