// The console's stages: the stage editor (the shared definition of
// sales-ready, saved as a new version, with its history) and the
// acceptance of handoffs per signal and per rep (docs/stages.md).
//
// Kept apart from console.js, which only creates it and says when to load:
// GET/PUT /v1/stages, GET /v1/stages/history, GET /v1/handoffs/report.
// Everything from the server is rendered through textContent.

import { $, h, str } from './dom.js';
import { SessionEnded } from './session.js';

const numberFmt = new Intl.NumberFormat();
const absoluteFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function duration(seconds) {
  if (typeof seconds !== 'number' || !(seconds >= 0)) return '—';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 36 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

// stageID makes a stage's id from its label: "Sales accepted" ->
// "sales-accepted".
function stageID(label) {
  return label.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
}

/** Stages is the console's stage editor and handoff figures. */
export class Stages {
  #session;
  #signals = []; // [{id, name}] of the saved signals
  #model = null; // the model in force
  #draft = []; // [{id, label, signals: []}] being edited
  #accepted = '';
  #weeks = 12;

  constructor(session) {
    this.#session = session;
    this.ui = {
      list: $('stage-list'),
      add: $('stage-add'),
      accepted: $('stage-accepted'),
      save: $('stage-save'),
      status: $('stage-status'),
      meta: $('stage-meta'),
      history: $('stage-history'),
      handoffState: $('handoff-state'),
      handoffBody: $('handoff-body'),
    };
    this.ui.add.addEventListener('click', () => this.#addStage());
    this.ui.save.addEventListener('click', () => this.#save());
    this.ui.list.addEventListener('click', (ev) => this.#onListClick(ev));
    this.ui.list.addEventListener('input', (ev) => this.#onListInput(ev));
    this.ui.list.addEventListener('change', (ev) => this.#onListChange(ev));
    this.ui.accepted.addEventListener('change', () => {
      this.#accepted = this.ui.accepted.value;
    });
  }

  /** load reads the model, its history and the handoff report. signals are the saved signals. */
  async load(signals, weeks) {
    this.#signals = signals;
    if (weeks) this.#weeks = weeks;
    await Promise.all([this.#loadModel(), this.#loadHistory(), this.loadReport()]);
  }

  /** setWeeks reads the handoff report over 4 or 12 weeks. */
  async setWeeks(weeks) {
    this.#weeks = weeks;
    await this.loadReport();
  }

  async #get(path) {
    try {
      return await this.#session.request('GET', path);
    } catch (err) {
      if (err instanceof SessionEnded) throw err;
      return { ok: false, status: 0, body: {} };
    }
  }

  async #loadModel() {
    const res = await this.#get('/v1/stages');
    if (!res.ok || !Array.isArray(res.body.stages)) {
      this.ui.meta.textContent = res.status === 404 ? 'Stages are not available on this server.' : "Couldn't read the stages.";
      return;
    }
    this.#model = res.body;
    this.#draft = res.body.stages.map((s) => ({ id: str(s.id), label: str(s.label), signals: Array.isArray(s.signals) ? s.signals.map(str) : [] }));
    this.#accepted = str(res.body.accepted_stage);
    this.#renderEditor();
  }

  #renderEditor() {
    const m = this.#model;
    this.ui.meta.textContent = m && m.version
      ? `Version ${m.version}, saved by ${str(m.saved_by)} ${absoluteFmt.format(Date.parse(m.saved_at))}.`
      : 'No stages yet: add the first.';
    const used = new Set(this.#draft.flatMap((s) => s.signals));
    const items = this.#draft.map((s, i) => {
      const labelID = `stage-label-${i}`;
      const chips = s.signals.map((sig) => h('span', { class: 'chip', 'data-signal': sig }, this.#signalName(sig),
        h('button', { type: 'button', 'data-act': 'unsignal', 'data-signal': sig, 'aria-label': `Remove ${this.#signalName(sig)} from ${s.label || 'this stage'}` }, '×')));
      const pick = h('select', { class: 'stage-add-signal', 'data-stage': String(i), 'aria-label': `Add a signal that moves accounts into ${s.label || 'this stage'}` },
        h('option', { value: '' }, 'Add a signal…'),
        ...this.#signals.filter((x) => !used.has(x.id)).map((x) => h('option', { value: x.id }, x.name || x.id)));
      return h('li', { class: 'stage-item', 'data-index': String(i), 'data-stage': s.id },
        h('div', { class: 'stage-row' },
          h('span', { class: 'stage-pos', 'aria-hidden': 'true' }, `${i + 1}.`),
          h('label', { for: labelID, class: 'sr-only' }, `Stage ${i + 1} name`),
          h('input', { id: labelID, type: 'text', class: 'stage-label', value: s.label, 'data-index': String(i), maxlength: '256', autocomplete: 'off' }),
          h('span', { class: 'stage-id', title: 'Stage id' }, s.id),
          h('button', { type: 'button', class: 'icon-button', 'data-act': 'up', disabled: i === 0, 'aria-label': `Move ${s.label} earlier` }, '↑'),
          h('button', { type: 'button', class: 'icon-button', 'data-act': 'down', disabled: i === this.#draft.length - 1, 'aria-label': `Move ${s.label} later` }, '↓'),
          h('button', { type: 'button', class: 'icon-button', 'data-act': 'remove', 'aria-label': `Remove stage ${s.label}` }, '×')),
        h('div', { class: 'stage-signals' }, chips.length ? chips : h('span', { class: 'muted' }, 'No signal moves accounts here.'), pick));
    });
    this.ui.list.replaceChildren(...items);
    this.ui.accepted.replaceChildren(h('option', { value: '' }, 'No stage'),
      ...this.#draft.map((s) => h('option', { value: s.id, selected: s.id === this.#accepted }, s.label || s.id)));
  }

  #signalName(id) {
    const s = this.#signals.find((x) => x.id === id);
    return (s && s.name) || id;
  }

  #addStage() {
    let n = this.#draft.length + 1;
    while (this.#draft.some((s) => s.id === `stage-${n}`)) n++;
    this.#draft.push({ id: `stage-${n}`, label: `Stage ${n}`, signals: [], fresh: true });
    this.#renderEditor();
    const input = this.ui.list.querySelector(`input[data-index="${this.#draft.length - 1}"]`);
    if (input) {
      input.focus();
      input.select();
    }
  }

  #onListInput(ev) {
    const input = ev.target.closest('input.stage-label');
    if (!input) return;
    const s = this.#draft[Number(input.dataset.index)];
    if (!s) return;
    s.label = input.value;
    // A new stage takes its id from its name; a saved one keeps its id, so
    // accounts already in it stay there.
    if (s.fresh) {
      const was = s.id;
      s.id = stageID(s.label) || s.id;
      if (this.#accepted === was) this.#accepted = s.id;
      const idEl = input.parentElement.querySelector('.stage-id');
      if (idEl) idEl.textContent = s.id;
    }
  }

  #onListChange(ev) {
    const sel = ev.target.closest('select.stage-add-signal');
    if (sel && sel.value) {
      const s = this.#draft[Number(sel.dataset.stage)];
      if (s) s.signals.push(sel.value);
      this.#renderEditor();
      const again = this.ui.list.querySelector(`select[data-stage="${sel.dataset.stage}"]`);
      if (again) again.focus();
      return;
    }
    if (ev.target.closest('input.stage-label')) this.#renderAcceptedOptions();
  }

  #renderAcceptedOptions() {
    this.ui.accepted.replaceChildren(h('option', { value: '' }, 'No stage'),
      ...this.#draft.map((s) => h('option', { value: s.id, selected: s.id === this.#accepted }, s.label || s.id)));
  }

  #onListClick(ev) {
    const btn = ev.target.closest('button[data-act]');
    if (!btn) return;
    const item = btn.closest('li.stage-item');
    const i = Number(item.dataset.index);
    const d = this.#draft;
    switch (btn.dataset.act) {
      case 'up':
        if (i > 0) [d[i - 1], d[i]] = [d[i], d[i - 1]];
        break;
      case 'down':
        if (i < d.length - 1) [d[i + 1], d[i]] = [d[i], d[i + 1]];
        break;
      case 'remove':
        if (this.#accepted === d[i].id) this.#accepted = '';
        d.splice(i, 1);
        break;
      case 'unsignal':
        d[i].signals = d[i].signals.filter((x) => x !== btn.dataset.signal);
        break;
      default:
        return;
    }
    this.#renderEditor();
  }

  async #save() {
    const body = { stages: this.#draft.map((s) => ({ id: s.id, label: s.label.trim(), signals: s.signals })), accepted_stage: this.#accepted };
    this.ui.save.disabled = true;
    this.ui.status.textContent = 'Saving…';
    let res;
    try {
      res = await this.#session.request('PUT', '/v1/stages', { json: body });
    } catch (err) {
      this.ui.save.disabled = false;
      this.ui.status.textContent = err instanceof SessionEnded ? '' : "Couldn't reach Dowser; try again.";
      return;
    }
    this.ui.save.disabled = false;
    if (!res.ok) {
      const problems = Array.isArray(res.body.problems) ? res.body.problems.map((p) => `${str(p.path)}: ${str(p.reason)}`).join('; ') : '';
      this.ui.status.textContent = res.status === 403
        ? "Only marketers, managers and administrators may change the stages."
        : `Not saved: ${problems || str(res.body.error) || `HTTP ${res.status}`}`;
      return;
    }
    this.ui.status.textContent = `Saved as version ${res.body.version}.`;
    for (const s of this.#draft) delete s.fresh;
    this.#model = res.body;
    this.#renderEditor();
    await this.#loadHistory();
  }

  async #loadHistory() {
    const res = await this.#get('/v1/stages/history');
    const versions = res.ok && Array.isArray(res.body.versions) ? res.body.versions : [];
    const items = versions.map((v) => h('li', { 'data-version': String(v.version) },
      h('strong', null, `Version ${v.version}`), ` by ${str(v.saved_by)}, `,
      h('time', { datetime: str(v.saved_at) }, absoluteFmt.format(Date.parse(v.saved_at))), ': ',
      h('span', { class: 'stage-path' }, (Array.isArray(v.stages) ? v.stages : []).map((s) => str(s.label) || str(s.id)).join(' → ') || 'no stages'),
      v.accepted_stage ? h('span', { class: 'muted' }, ` (accepting moves to ${str(v.accepted_stage)})`) : ''));
    this.ui.history.replaceChildren(...(items.length ? items : [h('li', { class: 'muted' }, 'Not saved yet.')]));
  }

  /** loadReport reads and shows the acceptance of handoffs. */
  async loadReport() {
    const res = await this.#get(`/v1/handoffs/report?weeks=${this.#weeks}`);
    if (!res.ok || !Array.isArray(res.body.signals)) {
      this.ui.handoffState.textContent = 'Handoff figures are not available on this server.';
      this.ui.handoffState.hidden = false;
      this.ui.handoffBody.replaceChildren();
      return;
    }
    const table = (id, caption, first, rows, name) => {
      const tb = h('tbody');
      for (const r of rows) {
        const rate = typeof r.acceptance_rate === 'number' ? `${Math.round(r.acceptance_rate * 100)}%` : '—';
        tb.append(h('tr', { 'data-key': str(r.key) },
          h('th', { scope: 'row', title: str(r.key) }, name(r)),
          h('td', { class: 'num' }, numberFmt.format(r.handed || 0)),
          h('td', { class: 'num' }, numberFmt.format(r.accepted || 0)),
          h('td', { class: 'num' }, numberFmt.format(r.rejected || 0)),
          h('td', { class: 'num', 'data-col': 'rate' }, rate),
          h('td', { class: 'num', 'data-col': 'time' }, duration(r.median_accept_seconds))));
      }
      return h('table', { class: 'mini-table', id },
        h('caption', null, caption),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, first), h('th', { scope: 'col', class: 'num' }, 'Handed'),
          h('th', { scope: 'col', class: 'num' }, 'Accepted'), h('th', { scope: 'col', class: 'num' }, 'Rejected'),
          h('th', { scope: 'col', class: 'num' }, h('abbr', { title: 'Accepted over accepted and rejected' }, 'Rate')),
          h('th', { scope: 'col', class: 'num' }, h('abbr', { title: 'Median time from the alert to its acceptance' }, 'Time')))), tb);
    };
    const signals = res.body.signals;
    const reps = Array.isArray(res.body.reps) ? res.body.reps : [];
    this.ui.handoffState.hidden = signals.length > 0;
    this.ui.handoffState.textContent = 'No alerts handed off in this period.';
    this.ui.handoffBody.replaceChildren(
      table('handoffs-signals', 'Per signal', 'Signal', signals, (r) => this.#signalName(str(r.key))),
      table('handoffs-reps', 'Per rep', 'Rep', reps, (r) => str(r.name) || str(r.key)));
  }
}
