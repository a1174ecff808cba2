// Package web holds Dowser's browser front end: the live alert panel that
// sales reps keep open all day, and the marketers' signals console
// (docs/console.md).
//
// The pages are plain HTML, CSS and vanilla JavaScript (ES modules) with no
// build step and no external resources (no CDN, no web fonts), so they work
// on an offline network. Both pages sign in through one module, session.js:
// the sign-in form's field and button, the signed-in user and Sign out in the
// header, the session calls and the fetch helper every request goes through;
// dom.js holds the element helpers they share. The files live in the static
// directory and are embedded into the binary; [Files] exposes them for
// serving. It imports no other Dowser package.
//
// The page talks to the server through a small contract:
//
//   - POST /v1/session {"token":"…"} signs in and sets an HttpOnly session
//     cookie; GET /v1/session returns the signed-in user (401 when there is
//     none); DELETE /v1/session signs out. Every fetch sends the header
//     X-Dowser-CSRF: 1.
//   - GET /v1/stream is a same-origin websocket authenticated by the cookie.
//     The server greets with {"op":"hello","user":…,"last_seq":N} and pushes
//     {"op":"alert","seq":N,"alert":{…}} frames; the page sends
//     {"op":"resume","after":N} on every (re)connect with the highest seq it
//     knows (after the first hello: its last_seq), {"op":"ack","id":…} and
//     {"op":"feedback","id":…,"verdict":"useful|not_useful|won"}.
//   - GET /v1/alerts?mine=true with the filters lists the history up to the
//     first hello's last_seq a page at a time (next/cursor), so the stream
//     never replays it; PUT and DELETE /v1/alerts/{id}/snooze snooze and
//     wake; GET /v1/signals names the signal filter's choices; GET /v1/crm
//     gives the CRM link templates for live alerts.
//   - The panel's header counts every unacknowledged alert of the user with
//     GET /v1/alerts/unacked, read again as alerts arrive and are
//     acknowledged. {"op":"verdict","id":…,"user":…,"verdict":…,"reason":…}
//     frames tell a verdict given on another panel, or by a rep the manager
//     follows, with its reason (labels from GET /v1/feedback-reasons); the
//     card's reason picker saves one with PUT /v1/alerts/{id}/verdict.
//   - team.js is a manager's team view (#team): GET /v1/team and GET, PUT
//     and DELETE /v1/managers/{id}/subscriptions.
//   - channels.js is the user's channels view (#channels): GET and POST
//     /v1/channels, PUT (which lifts a pause) and DELETE /v1/channels/{id},
//     GET /v1/channels/{id}/deliveries?status=failed. It shows a URL target
//     by scheme and host only: a chat webhook's URL is a credential. A win's
//     value is saved with PUT /v1/alerts/{id}/verdict {"value"}.
//
// The panel's URL may say ?page_size=N (1-200, default 50).
//
// The panel installs as an app (pwa.js): it links manifest.webmanifest and
// registers sw.js, a service worker that caches the shell (never /v1/),
// shows alert notifications through it, and plays a sound per priority as
// chosen in #sound (localStorage, dowser.panel.sound.v1).
//
// Stable hooks for browser tests: #token, #login (rendered by session.js into
// #login-form), #alerts (each card is li.alert with data-id and data-seq;
// .account-name, .rep-name, button.ack, button.fb[data-verdict], .snooze >
// summary, button[data-action="snooze"][data-for], button.wake,
// button.journey-btn), the journey drawer #journey (a dialog; its items
// li.j-item with data-event, .j-person, .j-title, .j-content, .j-talk;
// #journey-close, #journey-more), #unacked
// (data-count), #load-more, the filters #f-account, #f-signal, #f-state,
// #f-from, #f-to, #f-clear, #notify, #sound (input[name=sound] per
// priority, #sound-state), and #conn (data-state is connected, connecting
// or offline). The team view: #team-link, #follows with #follow-list
// input[value=<rep id>], #team-reps tr[data-rep] (.unacted-count with
// data-count, .median-ack), #team-summary (data-count), #tab-unacted,
// #tab-acted, #team-alerts li.team-alert[data-id] (.ack-time,
// .team-verdict), #team-back; on a card, .reason-select, .own-reason and
// .team-reason[data-user][data-reason]. The won value on a card:
// form.won-value-form with input.won-value, button.won-value-save,
// .won-value-error, and .own-value[data-value] once saved. The channels
// view: #channels-link (data-alarm is paused, failed or empty) with
// #channels-mark, #channels-back, #channel-list li.channel[data-id]
// [data-kind] (.ch-target, .ch-enabled[data-enabled], .ch-sent, .ch-pending,
// .ch-failed with data-count, .ch-pause-reason, button.ch-resume,
// button.ch-delete, details.ch-failures > summary with li.ch-failure:
// .ch-last-error, .ch-last-status, .ch-attempts[data-count], .ch-when), and
// the form #channel-form: #ch-kind, #ch-target, #ch-secret, #ch-times,
// #ch-zone, #ch-add, errors #ch-err-<field> (kind, target, secret,
// digest_times, time_zone) and #ch-form-error.
package web
