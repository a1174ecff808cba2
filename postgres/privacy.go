package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dowserhq/dowser"
)

// Privacy stores what privacy asks of Dowser: do-not-track entries,
// erasures with their audit, identity links, the retention purge of
// alerts, the tombstones of erased alerts on the alerts topic and the key
// that keys the audit's hashes.
type Privacy struct {
	pool *pgxpool.Pool
	// privacyKey keys erasure audit hashes; nil uses the database's (see
	// PrivacyKey).
	privacyKey []byte
}

// SetDoNotTrack marks (on) or unmarks a customer or an account as not to be
// tracked.
func (s *Privacy) SetDoNotTrack(ctx context.Context, kind, id string, on bool, by string) error {
	var err error
	if on {
		_, err = s.pool.Exec(ctx, `INSERT INTO do_not_track (kind, id, created_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, kind, id, by)
	} else {
		_, err = s.pool.Exec(ctx, `DELETE FROM do_not_track WHERE kind = $1 AND id = $2`, kind, id)
	}
	if err != nil {
		// Not the id: the message ends up in logs.
		return fmt.Errorf("setting do-not-track of a %s: %w", kind, err)
	}
	return nil
}

// DoNotTrack returns every do-not-track entry, as kind -> set of ids.
func (s *Privacy) DoNotTrack(ctx context.Context) (map[string]map[string]bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, id FROM do_not_track`)
	if err != nil {
		return nil, fmt.Errorf("reading do-not-track: %w", err)
	}
	out := map[string]map[string]bool{dowser.DNTCustomer: {}, dowser.DNTAccount: {}}
	var kind, id string
	_, err = pgx.ForEachRow(rows, []any{&kind, &id}, func() error {
		out[kind][id] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading do-not-track: %w", err)
	}
	return out, nil
}

// PurgeAlertsBefore deletes the alerts created before cutoff, with their
// evidence, deliveries and outbox rows, at most limit at a time so that a
// large purge never holds long locks; it returns how many it deleted.
func (s *Privacy) PurgeAlertsBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE created_at < $1 ORDER BY created_at LIMIT $2)`, cutoff, limit)
	if err != nil {
		return 0, fmt.Errorf("purging alerts before %s: %w", cutoff.Format(time.RFC3339), err)
	}
	return tag.RowsAffected(), nil
}

// EraseCustomer deletes everything stored about a person, through every
// anonymous id linked to them (see RecordIdentityLink): the alerts about
// them or with one of their events in the evidence (with that evidence,
// the deliveries and outbox rows), their journey, their contact row and their identity
// links (identity_links, and the resolution stage's graph and remembered
// anonymous events); do-not-track is left as it is. It queues a tombstone for the
// alerts topic per deleted alert and the erasure for the detectors,
// records an audit entry holding only a keyed hash of the id, and returns
// the erasure's sequence and the number of alerts deleted.
func (s *Privacy) EraseCustomer(ctx context.Context, customerID, by string) (seq int64, alerts int64, err error) {
	key := s.privacyKey
	if key == nil {
		if key, err = s.PrivacyKey(ctx); err != nil {
			return 0, 0, fmt.Errorf("erasing a customer: %w", err)
		}
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The resolution stage's graph names linked ids too (and records
		// them in identity_links, unless an erasure raced it).
		rows, err := tx.Query(ctx, `
			SELECT anonymous_id FROM identity_links WHERE customer_id = $1
			UNION SELECT anonymous_id FROM identity_graph WHERE customer_id = $1
			ORDER BY anonymous_id`, customerID)
		if err != nil {
			return err
		}
		linked, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		ids := append([]string{customerID}, linked...)
		if alerts, err = eraseAlertsOf(ctx, tx, ids); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM contacts WHERE id = ANY($1)`, ids); err != nil {
			return err
		}
		if err := eraseJourneyOf(ctx, tx, ids); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM identity_links WHERE customer_id = $1`, customerID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM identity_graph WHERE customer_id = $1 OR anonymous_id = ANY($2)`, customerID, ids); err != nil {
			return err
		}
		// Events remembered under the person's anonymous ids (or under
		// the customer id itself, sent as an anonymous id by a tracker).
		if _, err := tx.Exec(ctx, `DELETE FROM identity_pending WHERE anonymous_id = ANY($1)`, ids); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO erasures (customer_id, linked_ids) VALUES ($1, $2) RETURNING seq`, customerID, linked).Scan(&seq); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO erasure_audit (seq, subject_sha256, subject_hash_scheme, requested_by, alerts_deleted) VALUES ($1, $2, $3, $4, $5)`,
			seq, dowser.KeyedHash(key, customerID), dowser.AuditHashHMAC, by, alerts)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("erasing a customer: %w", err)
	}
	return seq, alerts, nil
}

// eraseAlertsOf deletes the alerts of the people ids name, or holding one
// of their events as evidence, and queues their tombstones; it returns
// how many it deleted.
func eraseAlertsOf(ctx context.Context, q querier, ids []string) (int64, error) {
	rows, err := q.Query(ctx, `
		DELETE FROM alerts WHERE customer_id = ANY($1)
			OR id IN (SELECT alert_id FROM alert_evidence WHERE customer_id = ANY($1))
		RETURNING id`, ids)
	if err != nil {
		return 0, err
	}
	deleted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, err
	}
	if _, err := q.Exec(ctx, `INSERT INTO alert_tombstones (alert_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING`, deleted); err != nil {
		return 0, err
	}
	return int64(len(deleted)), nil
}

// EraseAnonymousIDs deletes the alerts of anonymous ids found linked to an
// erased person after the erasure (by a detector, from links it learnt
// before they were recorded here), with their evidence, deliveries and
// outbox rows, and queues their tombstones; it returns how many it
// deleted.
func (s *Privacy) EraseAnonymousIDs(ctx context.Context, ids []string) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
		if n, err = eraseAlertsOf(ctx, tx, ids); err != nil {
			return err
		}
		return eraseJourneyOf(ctx, tx, ids)
	})
	if err != nil {
		return 0, fmt.Errorf("erasing %d linked anonymous ids: %w", len(ids), err)
	}
	return n, nil
}

// MaxLinkedIDBytes is the longest id RecordIdentityLink records: a
// btree index entry holds at most about 2.7 kB.
const MaxLinkedIDBytes = 1024

// RecordIdentityLink records that anonymousID is customerID, so that
// erasing the customer reaches what was stored under the anonymous id.
// Recording a known link again only refreshes when it was last seen. An id
// with a NUL, invalid UTF-8 or longer than MaxLinkedIDBytes is refused
// with dowser.ErrUnstorableID.
func (s *Privacy) RecordIdentityLink(ctx context.Context, customerID, anonymousID string) error {
	for _, id := range []string{customerID, anonymousID} {
		// Checked here rather than left to fail: an event that PostgreSQL
		// refuses for ever would stop its partition.
		if len(id) > MaxLinkedIDBytes || strings.ContainsRune(id, 0) || !utf8.ValidString(id) {
			return fmt.Errorf("recording an identity link of a %d-byte id: %w", len(id), dowser.ErrUnstorableID)
		}
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO identity_links (customer_id, anonymous_id) VALUES ($1, $2)
		ON CONFLICT (customer_id, anonymous_id) DO UPDATE SET last_seen_at = now()`, customerID, anonymousID)
	if err != nil {
		// No ids in the message: it ends up in logs.
		return fmt.Errorf("recording an identity link: %w", err)
	}
	return nil
}

// PurgeIdentityLinksBefore deletes the identity links last seen before
// cutoff, at most limit at a time, with the resolution stage's graph rows
// of the same links made before cutoff (the detector records a link it
// sees again, so a visitor still active keeps it); it returns how many
// links it deleted.
func (s *Privacy) PurgeIdentityLinksBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `
		WITH gone AS (
			DELETE FROM identity_links WHERE (customer_id, anonymous_id) IN (
				SELECT customer_id, anonymous_id FROM identity_links WHERE last_seen_at < $1 ORDER BY last_seen_at LIMIT $2)
			RETURNING customer_id, anonymous_id
		), graph AS (
			DELETE FROM identity_graph g USING gone
			WHERE g.anonymous_id = gone.anonymous_id AND g.customer_id = gone.customer_id AND g.linked_at < $1
		)
		SELECT count(*) FROM gone`, cutoff, limit).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("purging identity links before %s: %w", cutoff.Format(time.RFC3339), err)
	}
	return n, nil
}

// PublishTombstones hands publish the ids of the oldest erased alerts
// whose tombstone is not yet on the alerts topic, at most limit, and
// forgets them once it succeeds. Rows another instance is publishing are
// skipped. It returns how many were published.
func (s *Privacy) PublishTombstones(ctx context.Context, limit int, publish func(context.Context, []string) error) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT alert_id FROM alert_tombstones ORDER BY created_at, alert_id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(ids) == 0 {
			return err
		}
		if err := publish(ctx, ids); err != nil {
			return err
		}
		n = len(ids)
		_, err = tx.Exec(ctx, `DELETE FROM alert_tombstones WHERE alert_id = ANY($1)`, ids)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("publishing alert tombstones: %w", err)
	}
	return n, nil
}

// AlertsGone returns those of ids that name no stored alert: erased (or
// purged) since they were read.
func (s *Privacy) AlertsGone(ctx context.Context, ids []string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT i FROM unnest($1::text[]) AS i WHERE NOT EXISTS (SELECT 1 FROM alerts a WHERE a.id = i)`, ids)
	if err != nil {
		return nil, fmt.Errorf("checking for erased alerts: %w", err)
	}
	gone, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("checking for erased alerts: %w", err)
	}
	return gone, nil
}

// MinPrivacyKeyBytes is the shortest privacy key accepted.
const MinPrivacyKeyBytes = 32

// PrivacyKey returns the server secret kept in the database, shared by
// every instance: made at random by the first call on a new database.
func (s *Privacy) PrivacyKey(ctx context.Context) ([]byte, error) {
	fresh := make([]byte, MinPrivacyKeyBytes)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("making a privacy key: %w", err)
	}
	// Two instances starting at once both insert; one wins. The loser's
	// statement waited for the winner's commit but reads with the snapshot
	// it started with, which lacks the row: it reads again in a statement
	// of its own, which sees it.
	var key []byte
	err := s.pool.QueryRow(ctx, `
		WITH ins AS (INSERT INTO privacy_key (key) VALUES ($1) ON CONFLICT DO NOTHING RETURNING key)
		SELECT key FROM ins UNION ALL SELECT key FROM privacy_key LIMIT 1`, fresh).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		err = s.pool.QueryRow(ctx, `SELECT key FROM privacy_key`).Scan(&key)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the privacy key: %w", err)
	}
	return key, nil
}

// WithKey returns a Privacy on the same pool that keys erasure audit
// hashes with key instead of the key kept in the database.
func (s *Privacy) WithKey(key []byte) *Privacy {
	c := *s
	c.privacyKey = append([]byte(nil), key...)
	return &c
}

// ErasuresAfter returns the queued erasures with a sequence above seq, in
// order.
func (s *Privacy) ErasuresAfter(ctx context.Context, seq int64) ([]dowser.Erasure, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, customer_id, linked_ids FROM erasures WHERE seq > $1 ORDER BY seq`, seq)
	if err != nil {
		return nil, fmt.Errorf("reading erasures: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dowser.Erasure])
	if err != nil {
		return nil, fmt.Errorf("reading erasures: %w", err)
	}
	return out, nil
}

// ForgetAppliedErasures deletes the queued erasures that every checkpoint
// has applied, so the ids leave the database; their audit entries stay.
func (s *Privacy) ForgetAppliedErasures(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM erasures WHERE seq <= (SELECT coalesce(min(erasure_seq), 0) FROM checkpoints)`)
	if err != nil {
		return fmt.Errorf("forgetting applied erasures: %w", err)
	}
	return nil
}

// ErasureAudit lists every erasure, newest first.
func (s *Privacy) ErasureAudit(ctx context.Context) ([]dowser.ErasureAuditEntry, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT a.seq, a.subject_sha256, a.subject_hash_scheme, a.requested_by, a.requested_at, a.alerts_deleted, e.seq IS NOT NULL
		FROM erasure_audit a LEFT JOIN erasures e ON e.seq = a.seq ORDER BY a.seq DESC`)
	if err != nil {
		return nil, fmt.Errorf("reading erasure audit: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dowser.ErasureAuditEntry])
	if err != nil {
		return nil, fmt.Errorf("reading erasure audit: %w", err)
	}
	return out, nil
}
