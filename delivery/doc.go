// Package delivery sends alerts to users' channels beyond the panel
// (webhooks, Slack, Teams, e-mail, and CRM write-back through an admin's
// request templates, [CRMCall]) like a message queue: each delivery is a row of
// the channel outbox, written with its alert; a [Dispatcher] claims due
// rows (several instances share them), sends each with its stable delivery
// id, and records the outcome. A failed attempt is retried with capped
// exponential backoff and jitter; a refusal no retry can change (a 4xx
// other than 408 and 429), or the last attempt, marks the delivery failed;
// a channel whose deliveries keep failing is paused until its owner
// changes it.
//
// Webhook requests are signed with HMAC-SHA256 over the timestamp and the
// body ([Sign], [Verify]).
//
// A [Digester] writes e-mail digests (the non-urgent alerts since the last
// one) to the same outbox at the times each channel's user picked, once
// across instances; chat messages and mails carry one-click links made by
// a [Linker].
//
// An [Escalator] takes the follow-up steps of alerts nobody acknowledged
// in time (to the rep's managers, then the next territory rep), counting
// time in the rep's working hours ([Plan]); the store delivers each step
// like an alert, once.
//
// It takes its storage as small interfaces, [Store] and
// [EscalationStore].
//
// It imports only: dowser, loop, schema.
package delivery
