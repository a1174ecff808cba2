// Handoff to sales, on the alert panel's cards: a rep accepts the account
// an alert hands over, or rejects it with a reason (docs/stages.md).
//
// Kept apart from app.js, which only places the block on each card: the
// block handles its own clicks and calls PUT /v1/alerts/{id}/handoff, and
// shows a decision made earlier: the cards built in one go ask
// GET /v1/handoffs once for all of them. The reasons are the feedback
// reasons the marketers keep (GET /v1/feedback-reasons), read once per
// page; the picker offers those whose kinds include "reject".

import { h, str } from './dom.js';
import { SessionEnded } from './session.js';

let reasonsPromise = null;

function loadReasons(session) {
  if (!reasonsPromise) {
    reasonsPromise = session
      .request('GET', '/v1/feedback-reasons')
      .then((res) => (res.ok && Array.isArray(res.body.reasons) ? res.body.reasons.filter((r) => r && !r.retired) : []))
      .catch(() => {
        reasonsPromise = null; // try again with the next picker opened
        return [];
      });
  }
  return reasonsPromise;
}

// The cards waiting to learn of an earlier decision: [{id, show}], asked
// for together on the next turn of the event loop.
let waiting = [];

function lookUp(session, id, show) {
  waiting.push({ id, show });
  if (waiting.length === 1) setTimeout(() => askDecisions(session), 0);
}

async function askDecisions(session) {
  const all = waiting;
  waiting = [];
  for (let i = 0; i < all.length; i += 200) {
    const batch = all.slice(i, i + 200);
    let res;
    try {
      res = await session.request('GET', `/v1/handoffs?${batch.map((b) => `alert=${encodeURIComponent(b.id)}`).join('&')}`);
    } catch {
      return; // the buttons still work; the earlier decision is not shown
    }
    if (!res.ok || !Array.isArray(res.body.handoffs)) return;
    const byID = new Map(res.body.handoffs.filter((d) => d && typeof d.alert_id === 'string').map((d) => [d.alert_id, d]));
    for (const b of batch) {
      const d = byID.get(b.id);
      if (d) b.show(d);
    }
  }
}

let blockCounter = 0;

/**
 * handoffBlock returns the handoff controls for the alert with the id:
 * "Accept handoff", and "Reject…" opening a reason picker. session is the
 * page's Session; announce(text) tells screen readers what happened.
 */
export function handoffBlock(alertID, session, announce) {
  const n = ++blockCounter;
  const status = h('span', { class: 'handoff-status', role: 'status' });
  const accept = h('button', { type: 'button', class: 'handoff-accept', 'data-handoff': 'accept' }, 'Accept handoff');
  const reasonID = `handoff-reason-${n}`;
  const reason = h('select', { id: reasonID, class: 'handoff-reason', required: true }, h('option', { value: '' }, 'Choose a reason…'));
  const confirm = h('button', { type: 'button', class: 'handoff-confirm', 'data-handoff': 'reject' }, 'Reject');
  const picker = h('div', { class: 'handoff-picker', role: 'group', 'aria-label': 'Reason to reject' },
    h('label', { for: reasonID }, 'Why?'), reason, confirm);
  const reject = h('details', { class: 'handoff-reject' }, h('summary', null, 'Reject…'), picker);
  const box = h('div', { class: 'handoff', role: 'group', 'aria-label': 'Handoff to sales', 'data-alert': alertID },
    h('span', { class: 'handoff-label' }, 'Sales-ready?'), accept, reject, status);

  reject.addEventListener('toggle', async () => {
    if (!reject.open || reason.options.length > 1) return;
    const list = await loadReasons(session);
    // Only the reasons that fit a rejection (all, from a server without kinds).
    for (const r of list.filter((x) => !Array.isArray(x.kinds) || x.kinds.includes('reject'))) {
      reason.append(h('option', { value: str(r.id) }, str(r.label) || str(r.id)));
    }
    reason.focus();
  });

  const decide = async (decision) => {
    const body = { decision };
    if (decision === 'reject') {
      if (!reason.value) {
        status.textContent = 'Choose a reason to reject.';
        reason.focus();
        return;
      }
      body.reason = reason.value;
    }
    box.classList.add('is-pending');
    accept.disabled = confirm.disabled = true;
    let res;
    try {
      res = await session.request('PUT', `/v1/alerts/${encodeURIComponent(alertID)}/handoff`, { json: body });
    } catch (err) {
      if (!(err instanceof SessionEnded)) status.textContent = "Couldn't reach Dowser; try again.";
      box.classList.remove('is-pending');
      accept.disabled = confirm.disabled = false;
      return;
    }
    box.classList.remove('is-pending');
    accept.disabled = confirm.disabled = false;
    if (!res.ok) {
      status.textContent = str(res.body && res.body.error) || `Couldn't save the handoff (HTTP ${res.status}).`;
      return;
    }
    box.dataset.decision = decision;
    reject.open = false;
    const label = decision === 'accept'
      ? (res.body.moved ? 'Accepted: the account is sales-accepted.' : 'Accepted.')
      : `Rejected: ${reason.selectedOptions[0] ? reason.selectedOptions[0].textContent : body.reason}.`;
    status.textContent = label;
    accept.setAttribute('aria-pressed', String(decision === 'accept'));
    if (announce) announce(label);
  };
  lookUp(session, alertID, async (d) => {
    if (box.dataset.decision) return; // decided on this page meanwhile
    const decision = str(d.decision);
    if (decision !== 'accept' && decision !== 'reject') return;
    box.dataset.decision = decision;
    accept.setAttribute('aria-pressed', String(decision === 'accept'));
    if (decision === 'accept') {
      status.textContent = 'Accepted.';
      return;
    }
    const list = await loadReasons(session);
    const r = list.find((x) => x.id === d.reason);
    status.textContent = `Rejected: ${r ? str(r.label) : str(d.reason)}.`;
  });
  box.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-handoff]');
    if (btn && box.contains(btn)) decide(btn.dataset.handoff);
  });
  return box;
}
