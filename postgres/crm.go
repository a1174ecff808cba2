package postgres

// The verdict half of CRM write-back: every statement that records a
// verdict also queues, in the same statement, one delivery per enabled crm
// channel with a verdict template. The row carries the verdict as given
// and is unique per (alert, channel, verdict's user, verdict's time), so a
// verdict is queued exactly once, and a later verdict is a delivery of its
// own.

// judgedColumns is what a verdict's UPDATE of deliveries returns for
// verdictToCRM, which reads it as the CTE "judged".
const judgedColumns = `alert_id, user_id, verdict, reason, note, value, verdict_at`

// verdictToCRM is the CTE that queues the crm deliveries of the verdicts in
// "judged".
const verdictToCRM = `crm_verdicts AS (
	INSERT INTO channel_deliveries (alert_id, user_id, channel_id, verdict_user, verdict_at, verdict)
	SELECT j.alert_id, c.user_id, c.id, j.user_id, j.verdict_at,
		jsonb_strip_nulls(jsonb_build_object('user_id', j.user_id, 'verdict', j.verdict, 'reason', j.reason,
			'note', nullif(j.note, ''), 'value', j.value, 'at', j.verdict_at))
	FROM judged j JOIN channels c ON c.kind = 'crm' AND c.enabled AND jsonb_typeof(c.crm -> 'verdict') = 'object'
)`
