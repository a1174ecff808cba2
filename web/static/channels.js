// Dowser panel: the rep's own channels (#16).
//
// Where the rep's alerts go besides the panel (GET and POST /v1/channels,
// PUT and DELETE /v1/channels/{id}), with the counts of what was sent,
// what waits and what failed, a paused channel's reason and a button that
// resumes it, and each channel's failed deliveries
// (GET /v1/channels/{id}/deliveries?status=failed). The header's
// #channels-link carries a mark while a channel is paused or a delivery
// failed in the last day, so the rep is told without opening the view.
// Everything from the server goes through textContent / createElement.

import { $, h, str } from './dom.js';
import { SessionEnded, showView } from './session.js';

const MARK_MS = 60_000;
const CHANGE_DEBOUNCE_MS = 3_000;
const DAY_MS = 24 * 60 * 60 * 1000;
const KIND_LABEL = { webhook: 'Webhook', slack: 'Slack', teams: 'Teams', email: 'E-mail', crm: 'CRM' };
// The form's fields, by the name the API's errors give them.
const FIELDS = ['kind', 'target', 'secret', 'digest_times', 'time_zone'];

const whenFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

// shownTarget is what the panel shows of a channel's target: an address in
// full, a URL by scheme and host only. Chat webhook URLs are credentials
// (anyone holding one can post), and a webhook's path may carry a token.
export function shownTarget(kind, target) {
  target = str(target);
  if (kind === 'email') return target;
  try {
    const u = new URL(target);
    return `${u.protocol}//${u.host}${u.pathname.length > 1 || u.search ? '/…' : ''}`;
  } catch {
    return '…';
  }
}

// zones lists the IANA time zones the browser knows, with UTC.
function zones() {
  const all = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  return all.includes('UTC') ? all : ['UTC', ...all];
}

// fieldOf names the form field an API problem is about: "digest_times[1]"
// is the times field.
function fieldOf(path) {
  const base = str(path).replace(/\[\d+\]$/, '').split('.')[0];
  return FIELDS.includes(base) ? base : '';
}

export class ChannelsView {
  #session;
  #onOpen;
  #user = null;
  #open = false;
  #gen = 0;
  #markTimer = 0;
  #changeTimer = 0;
  #channels = new Map(); // id -> the channel as the API gave it
  #ui;

  // session is the panel's Session; onOpen is called as the view opens,
  // for the panel to leave another view.
  constructor({ session, onOpen = () => {} }) {
    this.#session = session;
    this.#onOpen = onOpen;
    this.#ui = {
      view: $('view-channels'),
      link: $('channels-link'),
      mark: $('channels-mark'),
      heading: $('channels-heading'),
      summary: $('channels-summary'),
      back: $('channels-back'),
      list: $('channel-list'),
      empty: $('channels-empty'),
      form: $('channel-form'),
      kind: $('ch-kind'),
      target: $('ch-target'),
      targetLabel: $('ch-target-label'),
      secretRow: $('ch-secret-row'),
      secret: $('ch-secret'),
      digest: $('ch-digest'),
      times: $('ch-times'),
      zone: $('ch-zone'),
      add: $('ch-add'),
      formError: $('ch-form-error'),
    };
    const ui = this.#ui;
    ui.link.addEventListener('click', () => (this.isOpen ? this.close() : this.open()));
    ui.back.addEventListener('click', () => this.close());
    ui.kind.addEventListener('change', () => this.#shapeForm());
    ui.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.#add();
    });
    ui.list.addEventListener('click', (ev) => {
      const btn = ev.target.closest('button[data-action]');
      const li = btn && btn.closest('li.channel');
      if (!li) return;
      const id = li.dataset.id;
      if (btn.dataset.action === 'resume') this.#resume(id, btn);
      else if (btn.dataset.action === 'delete') this.#delete(id, btn);
    });
    ui.list.addEventListener('toggle', (ev) => {
      const box = ev.target;
      if (box.matches && box.matches('details.ch-failures') && box.open) this.#loadFailures(box.closest('li.channel').dataset.id, box);
    }, true);
    const here = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    const list = zones();
    ui.zone.replaceChildren(...(list.includes(here) ? list : [here, ...list]).map((z) => h('option', { value: z }, z)));
    ui.zone.value = here;
    this.#shapeForm();
  }

  // start offers the view to anyone who receives alerts, marks the header
  // when a channel needs the user, and opens the view when the page's
  // address asks for it (#channels).
  start(user) {
    this.#user = user;
    this.#ui.link.hidden = user.role === 'source';
    if (this.#ui.link.hidden) return;
    this.#refreshMark();
    clearInterval(this.#markTimer);
    this.#markTimer = setInterval(() => this.#refreshMark(), MARK_MS);
    if (location.hash === '#channels') this.open();
  }

  stop() {
    this.#user = null;
    this.#open = false;
    this.#gen++;
    clearInterval(this.#markTimer);
    clearTimeout(this.#changeTimer);
    this.#channels.clear();
    this.#ui.link.hidden = true;
    this.#ui.mark.hidden = true;
    this.#ui.list.replaceChildren();
  }

  // isOpen is false once another view took the page.
  get isOpen() {
    return this.#open && !this.#ui.view.hidden;
  }

  open() {
    if (!this.#user) return;
    this.#onOpen();
    this.#open = true;
    showView('channels');
    this.#ui.link.setAttribute('aria-pressed', 'true');
    if (location.hash !== '#channels') history.replaceState(null, '', '#channels');
    document.title = 'Channels · Dowser';
    this.#ui.heading.focus();
    this.#load();
  }

  close() {
    this.#open = false;
    this.#ui.link.setAttribute('aria-pressed', 'false');
    if (location.hash === '#channels') history.replaceState(null, '', location.pathname + location.search);
    showView('panel');
    $('alerts-heading').focus();
  }

  // changed hears that an alert arrived: its deliveries to the channels
  // follow, so the counts and the mark are read again a little later.
  changed() {
    if (!this.#user) return;
    clearTimeout(this.#changeTimer);
    this.#changeTimer = setTimeout(() => (this.isOpen ? this.#load() : this.#refreshMark()), CHANGE_DEBOUNCE_MS);
  }

  async #list() {
    let res;
    try {
      res = await this.#session.request('GET', '/v1/channels');
    } catch (err) {
      if (!(err instanceof SessionEnded)) this.#ui.summary.textContent = 'The server did not answer; try again.';
      return null;
    }
    if (!res.ok) {
      this.#ui.summary.textContent = `Could not read your channels: ${str(res.body.error) || `status ${res.status}`}`;
      return null;
    }
    return (Array.isArray(res.body.channels) ? res.body.channels : []).filter((c) => c && typeof c === 'object');
  }

  async #refreshMark() {
    const gen = this.#gen;
    const list = await this.#list();
    if (list && gen === this.#gen) await this.#mark(list);
  }

  // mark shows on the header whether a channel is paused or one of its
  // deliveries failed in the last day.
  async #mark(list) {
    const gen = this.#gen;
    let state = list.some((c) => c.paused_at) ? 'paused' : '';
    if (!state) {
      const since = Date.now() - DAY_MS;
      for (const c of list.filter((c) => Number(c.failed) > 0)) {
        const ds = await this.#failures(c.id, 1);
        const d = ds && ds[0];
        if (d && Date.parse(str(d.done_at) || str(d.created_at)) >= since) {
          state = 'failed';
          break;
        }
      }
    }
    if (gen !== this.#gen) return;
    const { link, mark } = this.#ui;
    mark.hidden = !state;
    link.dataset.alarm = state;
    mark.textContent = state === 'paused' ? 'A channel is paused' : state === 'failed' ? 'Deliveries failed today' : '';
    link.title = state ? `${mark.textContent}: open Channels to see why` : 'Where your alerts go besides this panel';
  }

  async #failures(id, limit) {
    let res;
    try {
      res = await this.#session.request('GET', `/v1/channels/${encodeURIComponent(id)}/deliveries?status=failed&limit=${limit}`);
    } catch {
      return null;
    }
    return res.ok && Array.isArray(res.body.deliveries) ? res.body.deliveries : null;
  }

  async #load() {
    const gen = ++this.#gen;
    const list = await this.#list();
    if (!list || gen !== this.#gen) return;
    this.#channels = new Map(list.map((c) => [String(c.id), c]));
    const ui = this.#ui;
    ui.list.replaceChildren(...list.map((c) => this.#row(c)));
    ui.empty.hidden = list.length > 0;
    const paused = list.filter((c) => c.paused_at).length;
    ui.summary.textContent = list.length === 0 ? '' : `${list.length} ${list.length === 1 ? 'channel' : 'channels'}${paused ? `, ${paused} paused` : ''}`;
    this.#mark(list);
  }

  #row(c) {
    const kind = str(c.kind);
    const id = String(c.id);
    const count = (name, label) => h('span', { class: `ch-count ch-${name}`, 'data-count': String(Number(c[name]) || 0) }, `${Number(c[name]) || 0} ${label}`);
    const li = h('li', { class: `channel${c.paused_at ? ' is-paused' : ''}`, 'data-id': id, 'data-kind': kind });
    const head = h(
      'div',
      { class: 'ch-head' },
      h('span', { class: 'ch-kind' }, KIND_LABEL[kind] || kind),
      h('span', { class: 'ch-target' }, shownTarget(kind, c.target)),
      h('span', { class: `ch-enabled${c.enabled ? '' : ' is-off'}`, 'data-enabled': c.enabled ? 'true' : 'false' }, c.enabled ? 'Enabled' : 'Disabled'),
      h('button', { type: 'button', class: 'link-button ch-delete', 'data-action': 'delete' }, 'Delete'),
    );
    const counts = h('p', { class: 'ch-counts' }, count('sent', 'sent'), count('pending', 'waiting'), count('failed', 'failed'));
    li.append(head, counts);
    if (kind === 'email' && Array.isArray(c.digest_times) && c.digest_times.length) {
      li.append(h('p', { class: 'ch-digest' }, `Digest at ${c.digest_times.map(str).join(', ')} (${str(c.time_zone)})`));
    }
    if (c.unreadable) {
      li.append(h('p', { class: 'ch-pause-reason', role: 'status' }, `${str(c.unreadable)}. Set them again or delete the channel.`));
    }
    if (c.paused_at) {
      const at = Date.parse(str(c.paused_at));
      li.append(
        h(
          'div',
          { class: 'ch-paused', role: 'status' },
          h('p', { class: 'ch-pause-reason' }, `Paused: ${str(c.pause_reason) || 'deliveries kept failing'}`),
          Number.isFinite(at) ? h('time', { class: 'muted', dateTime: new Date(at).toISOString() }, `since ${whenFmt.format(at)}`) : null,
          h('button', { type: 'button', class: 'secondary-button ch-resume', 'data-action': 'resume' }, 'Resume'),
        ),
      );
    }
    if (Number(c.failed) > 0) {
      li.append(h('details', { class: 'ch-failures' }, h('summary', null, 'Failed deliveries'), h('ol', { class: 'ch-failure-list' })));
    }
    li.append(h('p', { class: 'ch-error field-error', role: 'alert', hidden: true }));
    return li;
  }

  async #loadFailures(id, box) {
    const ol = box.querySelector('ol');
    const ds = await this.#failures(id, 50);
    if (!ds) {
      ol.replaceChildren(h('li', { class: 'muted' }, 'Could not read the failed deliveries.'));
      return;
    }
    ol.replaceChildren(
      ...ds.map((d) => {
        const at = Date.parse(str(d.done_at) || str(d.created_at));
        return h(
          'li',
          { class: 'ch-failure', 'data-id': str(d.id) },
          h('span', { class: 'ch-last-error' }, str(d.last_error) || 'no error recorded'),
          h('span', { class: 'ch-last-status' }, d.last_status ? `HTTP ${Number(d.last_status)}` : 'no answer'),
          h('span', { class: 'ch-attempts', 'data-count': String(Number(d.attempts) || 0) }, `${Number(d.attempts) || 0} ${Number(d.attempts) === 1 ? 'attempt' : 'attempts'}`),
          Number.isFinite(at) ? h('time', { class: 'ch-when', dateTime: new Date(at).toISOString() }, whenFmt.format(at)) : null,
        );
      }),
    );
    if (!ds.length) ol.append(h('li', { class: 'muted' }, 'None.'));
  }

  // resume saves the channel as it is, which lifts its pause (docs: a PUT
  // with its target). Digest times, zone and templates are sent back, or
  // the PUT would drop them; the secret left out is kept.
  async #resume(id, btn) {
    const c = this.#channels.get(id);
    if (!c) return;
    const body = { target: str(c.target), enabled: c.enabled === true };
    if (Array.isArray(c.digest_times) && c.digest_times.length) {
      body.digest_times = c.digest_times;
      body.time_zone = str(c.time_zone);
    }
    if (c.crm) body.crm = c.crm;
    await this.#write(btn, 'PUT', `/v1/channels/${encodeURIComponent(id)}`, body, 'resume the channel');
  }

  async #delete(id, btn) {
    const c = this.#channels.get(id);
    if (!c || !confirm(`Delete the ${KIND_LABEL[str(c.kind)] || str(c.kind)} channel ${shownTarget(str(c.kind), c.target)} and its deliveries?`)) return;
    await this.#write(btn, 'DELETE', `/v1/channels/${encodeURIComponent(id)}`, undefined, 'delete the channel');
  }

  async #write(btn, method, path, json, what) {
    const err = btn.closest('li.channel').querySelector('.ch-error');
    btn.disabled = true;
    let res = null;
    try {
      res = await this.#session.request(method, path, json === undefined ? {} : { json });
    } catch (e) {
      if (e instanceof SessionEnded) return;
    } finally {
      btn.disabled = false;
    }
    if (!res || !res.ok) {
      err.hidden = false;
      err.textContent = `Could not ${what}: ${res ? str(res.body.error) || `status ${res.status}` : 'the server did not answer'}`;
      return;
    }
    this.#load();
  }

  // shapeForm shows the fields the chosen kind takes: a secret for a
  // webhook, digest times and a zone for e-mail.
  #shapeForm() {
    const ui = this.#ui;
    const kind = ui.kind.value;
    ui.secretRow.hidden = kind !== 'webhook';
    ui.digest.hidden = kind !== 'email';
    ui.targetLabel.textContent = kind === 'email' ? 'E-mail address' : kind === 'webhook' ? 'URL' : 'Incoming webhook URL';
    ui.target.type = kind === 'email' ? 'email' : 'url';
    ui.target.placeholder = kind === 'email' ? 'you@example.com' : 'https://…';
  }

  #clearErrors() {
    for (const f of FIELDS) {
      const el = $(`ch-err-${f}`);
      el.hidden = true;
      el.textContent = '';
    }
    this.#ui.formError.hidden = true;
    this.#ui.formError.textContent = '';
  }

  // showError puts each problem next to the field it names; the rest go
  // under the form.
  #showError(field, text) {
    const el = fieldOf(field) ? $(`ch-err-${fieldOf(field)}`) : this.#ui.formError;
    el.hidden = false;
    el.textContent = el.textContent ? `${el.textContent} ${text}` : text;
  }

  async #add() {
    const ui = this.#ui;
    this.#clearErrors();
    const kind = ui.kind.value;
    const body = { kind, target: ui.target.value.trim() };
    if (kind === 'webhook') body.secret = ui.secret.value;
    if (kind === 'email') {
      const times = ui.times.value
        .split(/[\s,]+/)
        .map((t) => t.trim())
        .filter(Boolean);
      if (times.length) {
        body.digest_times = times;
        body.time_zone = ui.zone.value;
      }
    }
    ui.add.disabled = true;
    let res = null;
    try {
      res = await this.#session.request('POST', '/v1/channels', { json: body });
    } catch (e) {
      if (e instanceof SessionEnded) return;
    } finally {
      ui.add.disabled = false;
    }
    if (!res) {
      this.#showError('', 'The server did not answer; the channel was not added.');
      return;
    }
    if (!res.ok) {
      const problems = Array.isArray(res.body.problems) ? res.body.problems : [];
      if (problems.length) {
        for (const p of problems) this.#showError(str(p.path), `${str(p.path)}: ${str(p.reason)}`);
      } else {
        // Refusals without a list still start with the field they name.
        const msg = str(res.body.error) || `status ${res.status}`;
        this.#showError(msg.split(':')[0], msg);
      }
      return;
    }
    ui.target.value = '';
    ui.secret.value = '';
    ui.times.value = '';
    this.#load();
  }
}
