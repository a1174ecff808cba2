// Dowser panel: the team view of a manager (#15).
//
// The reps the manager follows, with their counts and median times
// (GET /v1/team), the alerts nobody acknowledged yet and those
// acknowledged, with who did it and how fast, a page at a time; and the
// reps to follow or unfollow (GET, PUT and DELETE
// /v1/managers/{id}/subscriptions). The panel's stream tells it of the
// reps' verdicts and acknowledgements (onVerdict) and of new alerts
// (changed); the view also refreshes every REFRESH_MS while it is open.
// Everything from the server goes through textContent / createElement.

import { $, h, str, capitalize } from './dom.js';
import { SessionEnded, showView } from './session.js';

const PAGE = 25;
const REFRESH_MS = 15_000;
const CHANGE_DEBOUNCE_MS = 400;
const VERDICT_LABEL = { useful: 'Useful', not_useful: 'Not useful', won: 'Won' };
const PRIORITIES = ['urgent', 'high', 'medium', 'low'];

// duration says a number of seconds as a person would: 40 s, 12 min,
// 3 h 5 min, 2 days.
export function duration(sec) {
  if (!Number.isFinite(sec) || sec < 0) return '—';
  if (sec < 60) return `${Math.round(sec)} s`;
  const min = Math.round(sec / 60);
  if (min < 60) return `${min} min`;
  const hr = Math.floor(min / 60);
  if (hr < 24) return min % 60 ? `${hr} h ${min % 60} min` : `${hr} h`;
  const d = Math.round(hr / 24);
  return d === 1 ? '1 day' : `${d} days`;
}

const whenFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export class TeamView {
  #session;
  #reasonLabel;
  #user = null;
  #open = false;
  #state = 'unacted';
  #next = null;
  #gen = 0;
  #refreshTimer = 0;
  #changeTimer = 0;
  #ui;

  // session is the panel's Session; reasonLabel(id) names a feedback
  // reason.
  constructor({ session, reasonLabel }) {
    this.#session = session;
    this.#reasonLabel = reasonLabel;
    this.#ui = {
      link: $('team-link'),
      heading: $('team-heading'),
      summary: $('team-summary'),
      days: $('team-days'),
      back: $('team-back'),
      follows: $('follows'),
      followList: $('follow-list'),
      empty: $('team-empty'),
      reps: $('team-reps'),
      tabs: [$('tab-unacted'), $('tab-acted')],
      list: $('team-alerts'),
      listEmpty: $('team-alerts-empty'),
      more: $('team-more'),
    };
    const ui = this.#ui;
    ui.link.addEventListener('click', () => (this.#open ? this.close() : this.open()));
    ui.back.addEventListener('click', () => this.close());
    ui.days.addEventListener('change', () => this.#load());
    ui.more.addEventListener('click', () => this.#loadPage(this.#gen, this.#next));
    for (const tab of ui.tabs) {
      tab.addEventListener('click', () => {
        this.#state = tab.dataset.state;
        for (const t of ui.tabs) t.setAttribute('aria-selected', t === tab ? 'true' : 'false');
        this.#load();
      });
    }
    ui.follows.addEventListener('toggle', () => {
      if (ui.follows.open) this.#loadFollows();
    });
    ui.followList.addEventListener('change', (ev) => {
      const box = ev.target.closest('input[type="checkbox"]');
      if (box) this.#follow(box);
    });
  }

  // start offers the view to a manager, and opens it when the page's
  // address asks for it (#team).
  start(user) {
    this.#user = user;
    this.#ui.link.hidden = user.role !== 'manager';
    if (user.role === 'manager' && location.hash === '#team') this.open();
  }

  stop() {
    this.#user = null;
    this.#open = false;
    this.#gen++;
    clearInterval(this.#refreshTimer);
    clearTimeout(this.#changeTimer);
    this.#ui.link.hidden = true;
    this.#ui.list.replaceChildren();
    this.#ui.reps.querySelector('tbody').replaceChildren();
  }

  get isOpen() {
    return this.#open;
  }

  open() {
    if (!this.#user) return;
    this.#open = true;
    showView('team');
    this.#ui.link.setAttribute('aria-pressed', 'true');
    if (location.hash !== '#team') history.replaceState(null, '', '#team');
    document.title = 'Team · Dowser';
    this.#ui.heading.focus();
    this.#load();
    clearInterval(this.#refreshTimer);
    this.#refreshTimer = setInterval(() => this.#load(), REFRESH_MS);
  }

  close() {
    this.#open = false;
    clearInterval(this.#refreshTimer);
    this.#ui.link.setAttribute('aria-pressed', 'false');
    if (location.hash === '#team') history.replaceState(null, '', location.pathname + location.search);
    showView('panel');
    $('alerts-heading').focus();
  }

  // changed refreshes an open view soon: an alert arrived, a rep judged one.
  changed() {
    if (!this.#open) return;
    clearTimeout(this.#changeTimer);
    this.#changeTimer = setTimeout(() => this.#load(), CHANGE_DEBOUNCE_MS);
  }

  // onVerdict hears a verdict or an acknowledgement from the stream: a
  // followed rep's changes what the view shows.
  onVerdict(msg) {
    if (this.#user && str(msg.user) !== this.#user.id) this.changed();
  }

  #path(cursor) {
    const p = new URLSearchParams({ days: this.#ui.days.value, state: this.#state, limit: String(PAGE) });
    if (cursor) p.set('cursor', cursor);
    return `/v1/team?${p}`;
  }

  async #load() {
    const gen = ++this.#gen;
    this.#next = null;
    await this.#loadPage(gen, null);
  }

  async #loadPage(gen, cursor) {
    const ui = this.#ui;
    ui.more.disabled = true;
    let res;
    try {
      res = await this.#session.request('GET', this.#path(cursor));
    } catch (err) {
      if (!(err instanceof SessionEnded)) ui.summary.textContent = 'The server did not answer; the view will try again.';
      return;
    } finally {
      ui.more.disabled = false;
    }
    if (gen !== this.#gen) return;
    if (!res.ok) {
      ui.summary.textContent = `Could not read the team: ${str(res.body.error) || `status ${res.status}`}`;
      return;
    }
    const body = res.body;
    const reps = Array.isArray(body.reps) ? body.reps : [];
    if (!cursor) {
      this.#renderReps(reps);
      ui.list.replaceChildren();
    }
    for (const item of Array.isArray(body.alerts) ? body.alerts : []) {
      if (item && typeof item === 'object' && item.alert && typeof item.alert === 'object') ui.list.append(this.#row(item));
    }
    this.#next = typeof body.next === 'string' && body.next ? body.next : null;
    ui.more.hidden = !this.#next;
    const n = ui.list.childElementCount;
    ui.listEmpty.hidden = n > 0 || reps.length === 0;
    ui.listEmpty.textContent = this.#state === 'unacted' ? 'Every alert of your reps has been acknowledged.' : 'No alert of your reps has been acknowledged in this period.';
  }

  #renderReps(reps) {
    const ui = this.#ui;
    const tbody = ui.reps.querySelector('tbody');
    tbody.replaceChildren();
    let unacted = 0;
    for (const r of reps) {
      unacted += Number(r.unacted) || 0;
      const median = (v) => (v === null || v === undefined ? '—' : duration(Number(v)));
      const cell = (v, cls) => h('td', { class: cls || null }, String(v ?? 0));
      tbody.append(
        h(
          'tr',
          { 'data-rep': str(r.id) },
          h('th', { scope: 'row', class: 'team-rep-name', title: `User id: ${str(r.id)}` }, str(r.name) || str(r.id)),
          cell(r.alerts, 'num'),
          cell(r.acked, 'num'),
          cell(r.verdicts, 'num'),
          h('td', { class: `num unacted-count${Number(r.unacted) > 0 ? ' is-open' : ''}`, 'data-count': String(Number(r.unacted) || 0) }, String(r.unacted ?? 0)),
          h('td', { class: 'num median-ack' }, median(r.median_ack_seconds)),
          h('td', { class: 'num median-verdict' }, median(r.median_verdict_seconds)),
        ),
      );
    }
    ui.reps.hidden = reps.length === 0;
    ui.empty.hidden = reps.length > 0;
    ui.summary.dataset.count = String(unacted);
    ui.summary.textContent = reps.length === 0 ? '' : `${unacted} not acknowledged across ${reps.length} ${reps.length === 1 ? 'rep' : 'reps'}`;
  }

  #row(item) {
    const a = item.alert;
    const p = PRIORITIES.includes(str(a.priority)) ? str(a.priority) : 'medium';
    const li = h('li', { class: 'team-alert', 'data-id': str(a.id), 'data-rep': str(item.rep), 'data-priority': p });
    const delivered = Date.parse(str(item.delivered_at));
    const head = h(
      'div',
      { class: 'team-alert-head' },
      h('span', { class: `badge badge-${p}` }, capitalize(p)),
      h('span', { class: 'team-rep', title: `User id: ${str(item.rep)}` }, str(item.rep_name) || str(item.rep)),
      h('span', { class: 'team-account', title: a.account_id ? `Account id: ${str(a.account_id)}` : null }, str(a.account_name) || str(a.account_id)),
      Number.isFinite(delivered) ? h('time', { class: 'team-when', dateTime: new Date(delivered).toISOString() }, whenFmt.format(delivered)) : null,
    );
    const msg = h('p', { class: 'team-message' }, str(a.message) || str(a.signal_name) || str(a.signal_id));
    const facts = h('p', { class: 'team-facts' });
    if (item.acked_at) {
      facts.append(h('span', { class: 'ack-time' }, `Acknowledged in ${duration(Number(item.ack_seconds))}`));
      if (item.verdict) {
        const reason = item.reason ? ` · ${this.#reasonLabel(str(item.reason))}` : '';
        const value = item.value !== undefined && item.value !== null ? ` · ${Number(item.value).toLocaleString()}` : '';
        facts.append(
          h('span', { class: 'team-verdict', 'data-verdict': str(item.verdict) }, `${VERDICT_LABEL[str(item.verdict)] || str(item.verdict)}${reason}${value}`),
          h('span', { class: 'verdict-time' }, `verdict in ${duration(Number(item.verdict_seconds))}`),
        );
      }
    } else {
      const waiting = Number.isFinite(delivered) ? duration((Date.now() - delivered) / 1000) : '';
      facts.append(h('span', { class: 'waiting' }, waiting ? `Waiting ${waiting}` : 'Not acknowledged'));
      if (item.snoozed_until) facts.append(h('span', { class: 'snoozed' }, `snoozed until ${whenFmt.format(Date.parse(str(item.snoozed_until)))}`));
    }
    // Hook: the steps an escalation took with this alert (who else was
    // told, when) go here once they are recorded.
    li.append(head, msg, facts);
    return li;
  }

  async #loadFollows() {
    const ui = this.#ui;
    if (!this.#user) return;
    let res;
    try {
      res = await this.#session.request('GET', `/v1/managers/${encodeURIComponent(this.#user.id)}/subscriptions`);
    } catch {
      return;
    }
    if (!res.ok) {
      ui.followList.replaceChildren(h('p', { class: 'muted' }, `Could not list the reps: ${str(res.body.error) || `status ${res.status}`}`));
      return;
    }
    const legend = h('legend', { class: 'sr-only' }, 'Reps to follow');
    const items = (Array.isArray(res.body.reps) ? res.body.reps : []).map((r) =>
      h(
        'label',
        { class: 'follow', title: `User id: ${str(r.id)}` },
        h('input', { type: 'checkbox', value: str(r.id), checked: r.followed === true }),
        h('span', null, str(r.name) || str(r.id)),
      ),
    );
    ui.followList.replaceChildren(legend, ...(items.length ? items : [h('p', { class: 'muted' }, 'There are no reps to follow.')]));
  }

  async #follow(box) {
    const path = `/v1/managers/${encodeURIComponent(this.#user.id)}/subscriptions/${encodeURIComponent(box.value)}`;
    const on = box.checked;
    box.disabled = true;
    let res;
    try {
      res = await this.#session.request(on ? 'PUT' : 'DELETE', path);
    } catch {
      res = null;
    }
    box.disabled = false;
    if (!res || !res.ok) {
      box.checked = !on;
      const why = res ? str(res.body.error) || `status ${res.status}` : 'the server did not answer';
      this.#ui.summary.textContent = `Could not ${on ? 'follow' : 'unfollow'} the rep: ${why}`;
      return;
    }
    this.#load();
  }
}
