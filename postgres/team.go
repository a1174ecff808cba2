package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser"
)

// Team reads what the reps the manager follows did with the alerts
// delivered to them since since: counts and median times per rep, by name.
// A manager who follows nobody has an empty team.
func (s *Alerts) Team(ctx context.Context, managerID string, since time.Time) (dowser.Team, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT u.id, u.name, count(d.alert_id), count(d.acked_at), count(d.verdict),
			count(d.alert_id) FILTER (WHERE d.acked_at IS NULL),
			-- percentile_cont skips the NULLs of what was not done yet.
			percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.acked_at - d.created_at)),
			percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM d.verdict_at - d.created_at))
		FROM manager_subscriptions m JOIN users u ON u.id = m.rep_id AND u.deleted_at IS NULL
		LEFT JOIN deliveries d ON d.user_id = u.id AND d.created_at >= $2
		WHERE m.manager_id = $1
		GROUP BY u.id, u.name ORDER BY u.name, u.id`, managerID, since)
	if err != nil {
		return dowser.Team{}, fmt.Errorf("reading the team of %q: %w", managerID, err)
	}
	reps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (dowser.TeamRep, error) {
		var r dowser.TeamRep
		err := row.Scan(&r.ID, &r.Name, &r.Alerts, &r.Acked, &r.Verdicts, &r.Unacted, &r.MedianAckSeconds, &r.MedianVerdictSeconds)
		return r, err
	})
	if err != nil {
		return dowser.Team{}, fmt.Errorf("reading the team of %q: %w", managerID, err)
	}
	if reps == nil {
		reps = []dowser.TeamRep{}
	}
	return dowser.Team{Manager: managerID, Since: since.UTC(), Reps: reps}, nil
}

// TeamAlerts returns a page of the alerts delivered to the reps the
// manager follows since q.Since: those not acknowledged yet, newest
// delivery first, or those acknowledged, latest acknowledgement first.
func (s *Alerts) TeamAlerts(ctx context.Context, q dowser.TeamQuery) (dowser.TeamPage, error) {
	if q.Limit <= 0 {
		return dowser.TeamPage{}, fmt.Errorf("listing team alerts: limit %d is not positive", q.Limit)
	}
	var at, cond string
	switch q.State {
	case dowser.TeamUnacted:
		at, cond = "d.created_at", "d.acked_at IS NULL"
	case dowser.TeamActed:
		at, cond = "d.acked_at", "d.acked_at IS NOT NULL"
	default:
		return dowser.TeamPage{}, fmt.Errorf("listing team alerts: %q is not unacted or acted", q.State)
	}
	var afterAt *time.Time
	var afterUser string
	var afterSeq int64
	if q.After != nil {
		afterAt, afterUser, afterSeq = &q.After.At, q.After.UserID, q.After.Seq
	}
	rows, err := s.pool.Query(ctx, `
		SELECT d.user_id, u.name, d.seq, d.created_at, d.acked_at, coalesce(d.verdict, ''), coalesce(d.reason, ''),
			d.value::float8, d.verdict_at, CASE WHEN d.snoozed_until > now() THEN d.snoozed_until END,
			`+namedBody+`, `+at+`
		FROM manager_subscriptions m JOIN users u ON u.id = m.rep_id AND u.deleted_at IS NULL
		JOIN deliveries d ON d.user_id = m.rep_id
		JOIN alerts a ON a.id = d.alert_id
		WHERE m.manager_id = $1 AND d.created_at >= $2 AND `+cond+`
			AND ($3::timestamptz IS NULL OR (`+at+`, d.user_id, d.seq) < ($3, $4, $5))
		ORDER BY `+at+` DESC, d.user_id DESC, d.seq DESC LIMIT $6`,
		q.ManagerID, q.Since, afterAt, afterUser, afterSeq, q.Limit+1)
	if err != nil {
		return dowser.TeamPage{}, fmt.Errorf("listing team alerts of %q: %w", q.ManagerID, err)
	}
	defer rows.Close()
	page := dowser.TeamPage{Alerts: []dowser.TeamAlert{}}
	for rows.Next() {
		var ta dowser.TeamAlert
		if err := rows.Scan(&ta.Rep, &ta.RepName, &ta.Cursor.Seq, &ta.DeliveredAt, &ta.AckedAt, &ta.Verdict, &ta.Reason,
			&ta.Value, &ta.VerdictAt, &ta.SnoozedUntil, &ta.Alert, &ta.Cursor.At); err != nil {
			return dowser.TeamPage{}, fmt.Errorf("reading team alert: %w", err)
		}
		ta.Cursor.UserID = ta.Rep
		ta.AckSeconds = secondsBetween(ta.DeliveredAt, ta.AckedAt)
		ta.VerdictSeconds = secondsBetween(ta.DeliveredAt, ta.VerdictAt)
		page.Alerts = append(page.Alerts, ta)
	}
	if err := rows.Err(); err != nil {
		return dowser.TeamPage{}, fmt.Errorf("listing team alerts of %q: %w", q.ManagerID, err)
	}
	if len(page.Alerts) > q.Limit {
		page.Alerts = page.Alerts[:q.Limit]
		next := page.Alerts[q.Limit-1].Cursor
		page.Next = &next
	}
	return page, nil
}

func secondsBetween(from time.Time, to *time.Time) *float64 {
	if to == nil {
		return nil
	}
	s := to.Sub(from).Seconds()
	return &s
}

// Followable lists the reps the manager may follow, by name, and whether
// they do: every active rep, and the reps they follow whatever their state.
func (s *Alerts) Followable(ctx context.Context, managerID string) ([]dowser.Followable, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT u.id, u.name, m.rep_id IS NOT NULL
		FROM users u LEFT JOIN manager_subscriptions m ON m.rep_id = u.id AND m.manager_id = $1
		WHERE u.role = 'rep' AND u.deleted_at IS NULL AND (NOT u.disabled OR m.rep_id IS NOT NULL)
		ORDER BY u.name, u.id`, managerID)
	if err != nil {
		return nil, fmt.Errorf("listing the reps %q may follow: %w", managerID, err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (dowser.Followable, error) {
		var f dowser.Followable
		err := row.Scan(&f.ID, &f.Name, &f.Followed)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the reps %q may follow: %w", managerID, err)
	}
	if list == nil {
		list = []dowser.Followable{}
	}
	return list, nil
}

// Followers returns, by id, the active managers who follow the user.
func (s *Alerts) Followers(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT m.manager_id FROM manager_subscriptions m JOIN users u ON u.id = m.manager_id
		WHERE m.rep_id = $1 AND u.role = 'manager' AND NOT u.disabled AND u.deleted_at IS NULL ORDER BY m.manager_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("finding the followers of %q: %w", userID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading the followers of %q: %w", userID, err)
	}
	return ids, nil
}

// UnackedCount counts the user's alerts neither acknowledged nor snoozed
// now: the state "new" of GET /v1/alerts, under no other filter.
func (s *Alerts) UnackedCount(ctx context.Context, userID string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries d WHERE d.user_id = $1 AND d.acked_at IS NULL AND `+notSnoozed, userID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting the unacknowledged alerts of %q: %w", userID, err)
	}
	return n, nil
}

// StoredVerdict returns the user's verdict on an alert addressed to them,
// with its reason, note and value; a zero Verdict when they gave none. It
// returns dowser.ErrNotFound when the alert was not addressed to the user.
func (s *Alerts) StoredVerdict(ctx context.Context, userID, alertID string) (dowser.Verdict, error) {
	var v dowser.Verdict
	err := s.pool.QueryRow(ctx, `SELECT coalesce(verdict, ''), coalesce(reason, ''), note, value::float8
		FROM deliveries WHERE user_id = $1 AND alert_id = $2`, userID, alertID).Scan(&v.Verdict, &v.Reason, &v.Note, &v.Value)
	if err != nil {
		return dowser.Verdict{}, notFound(err, "alert "+alertID+" for "+userID)
	}
	return v, nil
}
