package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/dowserhq/dowser"
)

// Journey stores the buyer's journey: one small row per accepted event in
// a table partitioned by the event's day (UTC), so that retention drops
// whole partitions. Writers copy rows in batches; an erasure deletes the
// person's rows and, through a lock shared by writers, keeps a batch being
// written from bringing them back.
type Journey struct{ pool *pgxpool.Pool }

// journeyLockClass is the first key of the journey's two-key advisory
// locks: (class, 0) is shared by writers and taken exclusively by an
// erasure; (class, 1) serialises partition maintenance.
const journeyLockClass = 1147

// journeyColumns are the columns WriteJourney copies, in order.
var journeyColumns = []string{"event_time", "event_id", "event_type", "account_id", "customer_id", "anonymous_id", "content_id", "title", "url_path"}

// WriteJourney copies items into the journey, leaving out those of people
// whose erasure is still queued (an erasure that committed while they
// waited to be written must not be undone). Every item's day must have a
// partition (see MaintainJourney). It returns how many it wrote.
func (s *Journey) WriteJourney(ctx context.Context, items []dowser.JourneyItem) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1, 0)`, journeyLockClass); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT customer_id FROM erasures UNION SELECT unnest(linked_ids) FROM erasures`)
		if err != nil {
			return err
		}
		erased, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(erased) > 0 {
			gone := make(map[string]bool, len(erased))
			for _, id := range erased {
				gone[id] = true
			}
			kept := make([]dowser.JourneyItem, 0, len(items))
			for _, it := range items {
				if !gone[it.CustomerID] && !gone[it.AnonymousID] {
					kept = append(kept, it)
				}
			}
			items = kept
		}
		c, err := tx.CopyFrom(ctx, pgx.Identifier{"journey"}, journeyColumns, pgx.CopyFromSlice(len(items), func(i int) ([]any, error) {
			it := &items[i]
			return []any{it.Time, it.EventID, it.Type, it.AccountID, it.CustomerID, it.AnonymousID, it.ContentID, it.Title, it.URLPath}, nil
		}))
		n = int(c)
		return err
	})
	if err != nil {
		// No ids in the message: it ends up in logs.
		return 0, markPermanent(fmt.Errorf("writing %d journey rows: %w", len(items), err))
	}
	return n, nil
}

// JourneyDay is the first instant of t's day in UTC: the lower bound of
// the partition that holds t.
func JourneyDay(t time.Time) time.Time {
	return t.UTC().Truncate(24 * time.Hour)
}

// JourneyAhead is how many days after today MaintainJourney creates
// partitions for: events dated a little ahead (a tracker's clock, the
// day turning) still find theirs.
const JourneyAhead = 2

// MaintainJourney makes sure the journey has a partition for every day
// from days before now's day to JourneyAhead days after it, and drops the
// partitions of earlier days: dropping a partition leaves no dead tuples
// to vacuum. It returns how many partitions it created and dropped. Two
// instances maintaining at once take turns.
func (s *Journey) MaintainJourney(ctx context.Context, now time.Time, days int) (created, dropped int, err error) {
	first := JourneyDay(now).AddDate(0, 0, -days)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		created, dropped = 0, 0
		// Creating or dropping a partition locks the whole table: better
		// to try again at the next round than to queue writers behind a
		// long read.
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '10s'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 1)`, journeyLockClass); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `
			SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'journey'::regclass`)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		have := map[string]bool{}
		for _, name := range names {
			day, err := time.Parse("20060102", strings.TrimPrefix(name, "journey_"))
			if err != nil {
				continue // not one of ours: left alone
			}
			if day.Before(first) {
				if _, err := tx.Exec(ctx, `DROP TABLE `+pgx.Identifier{name}.Sanitize()); err != nil {
					return err
				}
				dropped++
				continue
			}
			have[name] = true
		}
		for d := first; !d.After(JourneyDay(now).AddDate(0, 0, JourneyAhead)); d = d.AddDate(0, 0, 1) {
			name := "journey_" + d.Format("20060102")
			if have[name] {
				continue
			}
			_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s PARTITION OF journey FOR VALUES FROM ('%s') TO ('%s')`,
				pgx.Identifier{name}.Sanitize(), d.Format(time.RFC3339), d.AddDate(0, 0, 1).Format(time.RFC3339)))
			if err != nil {
				return err
			}
			created++
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("maintaining the journey's partitions: %w", err)
	}
	return created, dropped, nil
}

// Timeline returns a page of an account's or a person's journey, newest
// first: a person's includes the rows of the anonymous ids linked to
// them. Items of people or accounts marked do-not-track are left out, and
// an event written twice (replayed after a restart) is listed once. Each
// item carries its content item's title and talking point when its
// content id names one.
func (s *Journey) Timeline(ctx context.Context, q dowser.TimelineQuery) (dowser.TimelinePage, error) {
	who := `j.account_id = $1`
	id := q.AccountID
	if q.CustomerID != "" {
		who = `(j.customer_id = $1 OR j.anonymous_id = $1 OR j.anonymous_id IN (SELECT anonymous_id FROM identity_links WHERE customer_id = $1))`
		id = q.CustomerID
	}
	var afterTime *time.Time
	var afterID string
	if q.After != nil {
		afterTime, afterID = &q.After.Time, q.After.EventID
	}
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT ON (j.event_time, j.event_id)
			j.event_id, j.event_type, j.event_time, j.account_id, j.customer_id, j.anonymous_id, j.content_id, j.title, j.url_path,
			coalesce(c.title, ''), coalesce(c.talking_point, '')
		FROM journey j LEFT JOIN content c ON j.content_id <> '' AND c.id = j.content_id
		WHERE `+who+` AND j.event_time >= $2
			AND ($3::timestamptz IS NULL OR (j.event_time, j.event_id) < ($3, $4))
			AND NOT EXISTS (SELECT 1 FROM do_not_track d WHERE
				(d.kind = 'customer' AND d.id IN (j.customer_id, j.anonymous_id)) OR (d.kind = 'account' AND d.id = j.account_id))
			AND NOT EXISTS (SELECT 1 FROM identity_links l JOIN do_not_track d ON d.kind = 'customer' AND d.id = l.customer_id
				WHERE j.customer_id = '' AND j.anonymous_id <> '' AND l.anonymous_id = j.anonymous_id)
		ORDER BY j.event_time DESC, j.event_id DESC
		LIMIT $5`, id, q.Since, afterTime, afterID, q.Limit+1)
	if err != nil {
		return dowser.TimelinePage{}, fmt.Errorf("reading a journey: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (dowser.JourneyItem, error) {
		var it dowser.JourneyItem
		err := row.Scan(&it.EventID, &it.Type, &it.Time, &it.AccountID, &it.CustomerID, &it.AnonymousID, &it.ContentID, &it.Title, &it.URLPath,
			&it.ContentTitle, &it.TalkingPoint)
		return it, err
	})
	if err != nil {
		return dowser.TimelinePage{}, fmt.Errorf("reading a journey: %w", err)
	}
	page := dowser.TimelinePage{Items: items}
	if len(items) > q.Limit {
		page.Items = items[:q.Limit]
		last := page.Items[q.Limit-1]
		page.Next = &dowser.TimelineCursor{Time: last.Time, EventID: last.EventID}
	}
	if page.Items == nil {
		page.Items = []dowser.JourneyItem{}
	}
	return page, nil
}

// visibleAccounts are the accounts a user may see the journey of, as SQL
// over the user id $1: those they own, and those of alerts delivered to
// them (their own, or as a manager following a rep).
const visibleAccounts = `
	SELECT id FROM accounts WHERE owner_id = $1
	UNION SELECT a.account_id FROM deliveries d JOIN alerts a ON a.id = d.alert_id WHERE d.user_id = $1 AND a.account_id <> ''`

// MaySeeAccount reports whether userID may see the account's journey:
// they own the account, or an alert about it was delivered to them. Admins
// may see every account; that is the caller's to decide.
func (s *Journey) MaySeeAccount(ctx context.Context, userID, accountID string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT $2 IN (`+visibleAccounts+`)`, userID, accountID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("checking who may see account %q: %w", accountID, err)
	}
	return ok, nil
}

// MaySeeCustomer reports whether userID may see a person's journey: they
// own the person's contact, an alert about the person was delivered to
// them, or the person belongs (by their contact or their journey) to an
// account they may see (see MaySeeAccount).
func (s *Journey) MaySeeCustomer(ctx context.Context, userID, customerID string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM contacts WHERE id = $2 AND owner_id = $1)
			OR EXISTS (SELECT 1 FROM deliveries d JOIN alerts a ON a.id = d.alert_id WHERE d.user_id = $1 AND a.customer_id = $2)
			OR EXISTS (
				SELECT 1 FROM (SELECT account_id FROM contacts WHERE id = $2 UNION SELECT account_id FROM journey WHERE customer_id = $2) x
				WHERE x.account_id <> '' AND x.account_id IN (`+visibleAccounts+`))`, userID, customerID).Scan(&ok)
	if err != nil {
		// No id in the message: it ends up in logs.
		return false, fmt.Errorf("checking who may see a person: %w", err)
	}
	return ok, nil
}

// eraseJourneyOf deletes the journey rows of the people ids name (as
// customer or anonymous id), after waiting for the batches being written:
// those that start later leave out people whose erasure is queued (see
// WriteJourney).
func eraseJourneyOf(ctx context.Context, q querier, ids []string) error {
	if _, err := q.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, journeyLockClass); err != nil {
		return err
	}
	_, err := q.Exec(ctx, `DELETE FROM journey WHERE customer_id = ANY($1) OR anonymous_id = ANY($1)`, ids)
	return err
}
