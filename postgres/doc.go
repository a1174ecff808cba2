// Package postgres is Dowser's PostgreSQL storage: users and sessions,
// accounts, content, versioned signals, alerts with their evidence, and the
// per-recipient deliveries that make the websocket stream resumable.
//
// It is the only package that imports pgx. It does not import detector,
// ingest, notify or api: callers pass plain values in and get plain values
// back.
package postgres
