// Package postgres is Dowser's PostgreSQL storage, one store per
// aggregate over one shared pool ([DB]): [People] (users, sessions,
// revocations, managers' subscriptions), [Directory] (accounts, content,
// contacts, territory rules, the routing reads and bulk import), [Signals]
// (versioned signal definitions), [Alerts] (alerts with their evidence,
// the per-recipient deliveries that make the websocket stream resumable,
// the outbox, precision), [Channels] (users' channels and the channel
// outbox SaveAlert fills), [Checkpoints] and [Privacy]. Consumers declare
// the small interface they need; each store satisfies it directly.
//
// Callers pass the domain's values (package dowser) in and get them back.
//
// It is the only package that imports github.com/jackc/pgx, and the only
// package that imports github.com/pressly/goose (the migrations).
//
// The reads and the saves of the event path (SaveAlert, AccountProfile,
// the routing reads and the checkpoints) mark the errors the same data will meet on every
// retry (SQLSTATE class 22 and 23) as dowser.ErrPermanent, so that the
// pipeline drops what cannot be stored instead of stalling on it.
//
// It imports only: dowser, schema.
package postgres
