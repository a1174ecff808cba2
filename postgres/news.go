package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser"
)

// The news of verdicts across instances: every statement that records a
// verdict also announces it, in the same statement, on the notification
// channel verdictChannel; PostgreSQL delivers the announcement when the
// transaction commits, to every instance listening (ListenVerdicts), and
// never for a verdict rolled back.

// verdictChannel is the notification channel of verdict news.
const verdictChannel = "dowser_verdicts"

// verdictNews is the CTE "news" that announces the verdicts in "judged"
// (judgedColumns), with from as the SQL of the giving connection's name
// ("$5", or "NULL"). The statement must read "news" (SELECT count(*) FROM
// news) for the announcements to be made. The payload carries what the
// panels' verdict frame does and no note: well under PostgreSQL's 8000
// bytes, as ids are at most dowser.MaxIDLen.
func verdictNews(from string) string {
	return `news AS (
	SELECT pg_notify('` + verdictChannel + `', json_build_object('alert_id', j.alert_id, 'user_id', j.user_id,
		'verdict', j.verdict, 'reason', j.reason, 'value', j.value, 'from', nullif(` + from + `::text, ''))::text)
	FROM judged j
)`
}

// ackNews is the CTE "news" that announces the acknowledgements in
// "acked" (alert_id, user_id), made on the connection named by from, as
// verdictNews does: the same channel, with "kind" saying it is no verdict.
// "acked" must hold only the deliveries the statement acknowledged first,
// so that an acknowledgement repeated is not announced again.
func ackNews(from string) string {
	return `news AS (
	SELECT pg_notify('` + verdictChannel + `', json_build_object('kind', 'ack', 'alert_id', a.alert_id, 'user_id', a.user_id,
		'from', nullif(` + from + `::text, ''))::text)
	FROM acked a
)`
}

// verdictPayload is an announcement of verdictNews or ackNews as read
// back; Kind is "ack" for ackNews, empty for a verdict.
type verdictPayload struct {
	Kind    string   `json:"kind"`
	AlertID string   `json:"alert_id"`
	UserID  string   `json:"user_id"`
	Verdict string   `json:"verdict"`
	Reason  *string  `json:"reason"`
	Value   *float64 `json:"value"`
	From    *string  `json:"from"`
}

// ListenApplicationName names the listening connection in
// pg_stat_activity, so that operators (and tests) can find it.
const ListenApplicationName = "dowser verdict news"

// ListenVerdicts opens a connection of its own (LISTEN needs one held for
// as long as it listens, outside the pool) and hands every verdict (and
// first acknowledgement, Acked) any instance stores from then on to news, in commit order, on the calling
// goroutine; listening is called once the connection listens. It returns
// nil when ctx ends, and an error when the connection cannot be opened or
// is lost: verdicts stored until it listens again are not handed over.
func (s *Alerts) ListenVerdicts(ctx context.Context, listening func(), news func(dowser.VerdictGiven)) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = ListenApplicationName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("connecting to listen for verdicts: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+verdictChannel); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("listening for verdicts: %w", err)
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("waiting for verdicts: %w", err)
		}
		var p verdictPayload
		if err := json.Unmarshal([]byte(n.Payload), &p); err != nil || p.AlertID == "" || p.UserID == "" {
			// Only verdictNews and ackNews write on the channel; a payload
			// that does not read is no news to tell.
			continue
		}
		v := dowser.VerdictGiven{AlertID: p.AlertID, UserID: p.UserID, Acked: p.Kind == "ack", Verdict: p.Verdict, Value: p.Value}
		if p.Reason != nil {
			v.Reason = *p.Reason
		}
		if p.From != nil {
			v.From = *p.From
		}
		news(v)
	}
}
