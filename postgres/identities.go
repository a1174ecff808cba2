package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Identities is the identity graph of the resolution stage: the customer
// (with account and lifecycle) each anonymous id is linked to, and the
// events of anonymous ids not linked yet. Every change to one anonymous
// id's rows happens under a transaction-scoped advisory lock on that id, so
// that an event remembered by one partition and a link learnt by another
// never miss each other.
type Identities struct {
	pool *pgxpool.Pool
}

// identityLockClass is the first key of the two-key advisory locks on
// anonymous ids; the two-key space is apart from goose's one-key lock.
const identityLockClass = 1146

func lockAnonymous(ctx context.Context, tx pgx.Tx, anon string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, identityLockClass, anon)
	return err
}

// RememberAnonymous resolves a batch of anonymous events, the i-th
// being event i of anons[i] with eventIDs[i] and times[i]: for each it
// returns the customer, account and lifecycle its anonymous id is linked
// to, or, when it is linked to none, remembers the event and returns
// customer "". Remembering an event id its anonymous id already has
// changes nothing, so a replay is harmless. It is one round trip: the
// statements go as one batch, which PostgreSQL runs as one implicit
// transaction, holding the anonymous ids' locks (taken in one order, so
// that two batches never wait for each other) to its end.
func (s *Identities) RememberAnonymous(ctx context.Context, anons, eventIDs []string, times []time.Time, events [][]byte) (customers, accounts, lifecycles []string, err error) {
	n := len(anons)
	if len(eventIDs) != n || len(times) != n || len(events) != n {
		return nil, nil, nil, fmt.Errorf("resolving anonymous events: %d ids, %d event ids, %d times, %d events", n, len(eventIDs), len(times), len(events))
	}
	customers, accounts, lifecycles = make([]string, n), make([]string, n), make([]string, n)
	if n == 0 {
		return customers, accounts, lifecycles, nil
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT count(pg_advisory_xact_lock($1, h)) FROM (SELECT DISTINCT hashtext(a) AS h FROM unnest($2::text[]) a ORDER BY 1) l`, identityLockClass, anons)
	b.Queue(`
		INSERT INTO identity_pending (anonymous_id, event_id, event_time, event)
		SELECT e.a, e.id, e.t, e.ev FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bytea[]) WITH ORDINALITY AS e(a, id, t, ev, i)
		WHERE NOT EXISTS (SELECT 1 FROM identity_graph g WHERE g.anonymous_id = e.a)
		ORDER BY e.i
		ON CONFLICT DO NOTHING`, anons, eventIDs, times, events)
	b.Queue(`SELECT anonymous_id, customer_id, account_id, lifecycle FROM identity_graph WHERE anonymous_id = ANY($1)`, anons)
	br := s.pool.SendBatch(ctx, b)
	_, err = br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			links := map[string][3]string{}
			var anon string
			var l [3]string
			_, err = pgx.ForEachRow(rows, []any{&anon, &l[0], &l[1], &l[2]}, func() error {
				links[anon] = l
				return nil
			})
			for i, a := range anons {
				l := links[a]
				customers[i], accounts[i], lifecycles[i] = l[0], l[1], l[2]
			}
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// No ids in the message: it ends up in logs.
		return nil, nil, nil, fmt.Errorf("resolving %d anonymous events: %w", n, err)
	}
	return customers, accounts, lifecycles, nil
}

// LinkAnonymous links anon to customer. When anon was linked to no
// customer, or to another one, it first hands emit the events remembered
// for anon at or after since, oldest first (none for a re-link: they went
// to the first customer), and writes the link and forgets those events
// only once emit succeeded, all in one transaction: a failure or a crash
// before the commit leaves everything to be done again. An account or
// lifecycle given updates a link to the same customer without emitting.
// The link is recorded in identity_links too, for erasure. It reports
// whether the customer changed.
func (s *Identities) LinkAnonymous(ctx context.Context, anon, customer, account, lifecycle string, since time.Time, emit func(events [][]byte) error) (changed bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		changed = false
		if err := lockAnonymous(ctx, tx, anon); err != nil {
			return err
		}
		var old string
		err := tx.QueryRow(ctx, `SELECT customer_id FROM identity_graph WHERE anonymous_id = $1`, anon).Scan(&old)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err == nil && old == customer {
			_, err := tx.Exec(ctx, `
				UPDATE identity_graph SET account_id = COALESCE(NULLIF($2, ''), account_id), lifecycle = COALESCE(NULLIF($3, ''), lifecycle)
				WHERE anonymous_id = $1 AND (($2 <> '' AND account_id <> $2) OR ($3 <> '' AND lifecycle <> $3))`, anon, account, lifecycle)
			return err
		}
		changed = true
		rows, err := tx.Query(ctx, `SELECT event FROM identity_pending WHERE anonymous_id = $1 AND event_time >= $2 ORDER BY seq`, anon, since)
		if err != nil {
			return err
		}
		events, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return err
		}
		if err := emit(events); err != nil {
			return &emitError{err}
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO identity_graph (anonymous_id, customer_id, account_id, lifecycle) VALUES ($1, $2, $3, $4)
			ON CONFLICT (anonymous_id) DO UPDATE SET customer_id = $2, account_id = $3, lifecycle = $4, linked_at = now()`,
			anon, customer, account, lifecycle); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM identity_pending WHERE anonymous_id = $1`, anon); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO identity_links (customer_id, anonymous_id) VALUES ($1, $2)
			ON CONFLICT (customer_id, anonymous_id) DO UPDATE SET last_seen_at = now()`, customer, anon)
		return err
	})
	if ee := (*emitError)(nil); errors.As(err, &ee) {
		return false, ee.err // the caller's own error, as it was
	}
	if err != nil {
		return false, fmt.Errorf("linking an anonymous id: %w", err)
	}
	return changed, nil
}

// emitError carries the error of LinkAnonymous's emit out of its
// transaction unwrapped.
type emitError struct{ err error }

func (e *emitError) Error() string { return e.err.Error() }
func (e *emitError) Unwrap() error { return e.err }

// PurgeRememberedBefore forgets remembered anonymous events dated before
// cutoff, at most limit at a time; it returns how many it deleted.
func (s *Identities) PurgeRememberedBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM identity_pending WHERE (anonymous_id, event_id) IN (
			SELECT anonymous_id, event_id FROM identity_pending WHERE event_time < $1 ORDER BY event_time LIMIT $2)`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("purging remembered anonymous events before %s: %w", cutoff.Format(time.RFC3339), err)
	}
	return tag.RowsAffected(), nil
}
