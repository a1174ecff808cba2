// Package dowser is Dowser's domain: the people who use it (users and
// their roles), the records they maintain (accounts with their lifecycle,
// content, contacts, territory rules) and the rules every value of those
// records follows. Each record type has a Validate method; the REST API,
// the importer, the store and routing all use these types and rules, so
// that a value is accepted or refused the same way everywhere.
//
// It also holds what the stores hand back to the rest of Dowser, so that
// only the wiring imports the storage: signals as stored with their
// versions and history, alerts as listed, their precision and the outbox
// that carries them to the alerts topic, erasures and their audit,
// detector checkpoints, and the sentinels the stores return (ErrNotFound,
// ErrPermanent, ErrNotOwner, ...).
//
// It imports only: schema.
package dowser
