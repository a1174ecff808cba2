// Dowser signals console: marketers define, tune and preview signals.
//
// Plain ES module, no dependencies, no build step. Everything rendered from
// server data goes through textContent / createElement; never innerHTML.
//
// Contract (docs/console.md): the panel's session (POST/GET/DELETE
// /v1/session through session.js, as in the panel; every request with
// X-Dowser-CSRF: 1), the signal endpoints of
// docs/api.md, GET /v1/precision for the reps' verdicts (optional: a 404
// shows "precision not available"), GET /v1/feedback/report and
// /v1/feedback-reasons for what the verdicts add up to (optional: hidden
// when absent), GET /v1/content for the content search, and POST
// /v1/signals/preview (optional: without it the page shows the equivalent
// CLI command). Counts refresh every REFRESH_MS while the page is visible.

import { $, h, str, capitalize } from './dom.js';
import { Session, SessionEnded, showView, isMarketing } from './session.js';
import { readForm, writeForm, emptyMatch } from './signalform.js';
import { Stages } from './stages.js'; // stages: the stage editor and handoff figures (docs/stages.md)

const PRIORITIES = ['urgent', 'high', 'medium', 'low'];
const PRIORITY_LABEL = { urgent: 'Urgent', high: 'High', medium: 'Medium', low: 'Low' };
const ACTION_LABEL = { saved: 'Saved', enabled: 'Enabled', disabled: 'Disabled', deleted: 'Deleted' };
const LINE_PX = 20; // the editor's line height; console.css says the same
const CODE_PAD_PX = 10; // the editor's top padding; console.css says the same
const DIFF_MAX_CELLS = 4_000_000;
// How often the counts (alerts, verdicts) are read again: alerts arrive
// while a marketer watches.
const REFRESH_MS = 10_000;

const STARTER = `id: new-signal
name: New signal
owner: OWNER
audience: prospect      # prospect | customer | any
scope: account          # customer | account
priority: medium        # low | medium | high | urgent
when:
  threshold:            # or sequence, score, silence, change
    match: {type: page_view, url: "*/pricing*"}
    count: 3
    within: 7d
cooldown: 72h           # quiet time per subject after an alert
message: "{{.Account}}: pricing viewed {{.Count}} times in 7 days"
`;

// ---------------------------------------------------------------- DOM refs

const ui = {
  deniedTitle: $('denied-title'),
  deniedText: $('denied-text'),

  table: $('signals'),
  tbody: $('signals').tBodies[0],
  signalCount: $('signal-count'),
  signalsState: $('signals-state'),
  precisionNote: $('precision-note'),
  newSignal: $('new-signal'),

  editorHeading: $('editor-heading'),
  editorMeta: $('editor-meta'),
  editorStats: $('editor-stats'),
  enabled: $('enabled'),
  enabledLabel: $('enabled-label'),
  editor: $('editor'),
  gutter: $('gutter'),
  marks: $('marks'),
  problemsBox: $('problems-box'),
  problemsSummary: $('problems-summary'),
  problems: $('problems'),
  save: $('save'),
  revert: $('revert'),
  saveStatus: $('save-status'),

  previewSince: $('preview-since'),
  preview: $('preview'),
  previewResult: $('preview-result'),

  history: $('history'),
  historyState: $('history-state'),

  dialog: $('version-dialog'),
  versionTitle: $('version-title'),
  versionMeta: $('version-meta'),
  versionSource: $('version-source'),
  versionShowSource: $('version-show-source'),
  versionShowDiff: $('version-show-diff'),
  versionRestore: $('version-restore'),
  versionClose: $('version-close'),

  contentForm: $('content-form'),
  contentId: $('content-id'),
  contentStatus: $('content-status'),
  contentFields: $('content-fields'),
  contentTitle: $('content-title'),
  contentURL: $('content-url'),
  contentOwner: $('content-owner'),
  contentTalk: $('content-talk'), // the talking point reps see in the buyer's journey
  contentSave: $('content-save'),
  contentImpact: $('content-impact'),
  contentSearch: $('content-search'),
  contentResults: $('content-results'),

  modeYAML: $('mode-yaml'),
  modeForm: $('mode-form'),
  formNote: $('form-note'),
  formDeclined: $('form-declined'),
  signalForm: $('signal-form'),
  signalFormBody: $('signal-form-body'),

  impact: $('impact'),
  impactBody: $('impact-body'),
  feedbackWeeks: $('feedback-weeks'),
  exportCSV: $('export-csv'),
  feedbackState: $('feedback-state'),
  feedbackBody: $('feedback-body'),
  reasons: $('reasons'),
  reasonForm: $('reason-form'),
  reasonLabel: $('reason-label'),
  reasonStatus: $('reason-status'),

  live: $('live'),
};

// ---------------------------------------------------------------- state

const state = {
  signals: new Map(), // id -> stored signal (current version)
  precision: null, // Map signal id -> row, or null when not (yet) available
  precisionStatus: 'loading', // loading | ok | missing | error
  report: null, // GET /v1/feedback/report, or null when not available
  impact: new Map(), // signal id -> its impact in the report
  reportWeeks: 12,
  reasons: [], // every feedback reason, retired ones too
  // The signal in the editor: id is null for a new, unsaved signal.
  current: null, // {id, stored, baseline}
  problems: [], // [{path, reason}]
  problemLines: [], // per problem: {line, exact} or null
  busy: false,
  history: [],
  versions: new Map(), // `${id}@${n}` -> version
  dialogVersion: null, // {id, version, source, prev}
  gutterLines: 0,
};

// ---------------------------------------------------------------- helpers

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

const absoluteFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const numberFmt = new Intl.NumberFormat();
const moneyFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

function relativeTime(ms, now = Date.now()) {
  if (!Number.isFinite(ms)) return 'unknown time';
  const s = Math.round((now - ms) / 1000);
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const hr = Math.round(m / 60);
  if (hr < 24) return `${hr} hr ago`;
  const d = Math.round(hr / 24);
  if (d === 1) return 'yesterday';
  if (d < 30) return `${d} days ago`;
  return absoluteFmt.format(ms);
}

function timeEl(raw) {
  const ms = Date.parse(str(raw));
  const el = h('time', null, relativeTime(ms));
  if (Number.isFinite(ms)) {
    el.dateTime = new Date(ms).toISOString();
    el.title = absoluteFmt.format(ms);
  }
  return el;
}

function duration(seconds) {
  if (!(seconds >= 0)) return '';
  if (seconds < 1) return 'under 1 s';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  if (seconds < 36 * 3600) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

function announce(text) {
  ui.live.textContent = '';
  setTimeout(() => {
    ui.live.textContent = text;
  }, 50);
}

// ---------------------------------------------------------------- HTTP

const sigPath = (id, rest = '') => `/v1/signals/${encodeURIComponent(id)}${rest}`;

function errorText(res, what) {
  const why = str(res.body.error).trim();
  if (res.status === 403) return `${what}: only marketers and administrators may do this.`;
  return why ? `${what}: ${why}` : `${what} (HTTP ${res.status}).`;
}

function netError(err, what) {
  if (err instanceof SessionEnded) return null;
  return `${what}: can't reach Dowser. Check your connection and try again.`;
}

// ---------------------------------------------------------------- session

const session = new Session({
  signInTitle: 'Sign in · Dowser signals',
  onStart: startSession,
  onEnd: endSession,
  confirmSignOut: confirmDiscard,
});

function boot() {
  wireEvents();
  session.boot();
}

function startSession(user, focus) {
  if (!isMarketing(user.role)) {
    showView('denied');
    document.title = 'Marketers only · Dowser';
    ui.deniedText.textContent = `The signals console is for marketers and administrators; you are signed in as ${user.name} (${user.role || 'no role'}). Your alerts are in the alert panel.`;
    ui.deniedTitle.focus();
    return;
  }
  showView('console');
  document.title = 'Signals · Dowser';
  resetEditor();
  loadAll().then(() => {
    loadStages();
    const id = hashSignal();
    if (id && state.signals.has(id)) openSignal(id, false);
  });
  if (focus) ui.newSignal.focus();
}

function endSession() {
  state.signals.clear();
  state.versions.clear();
  state.current = null;
  setDirty(false);
  if (ui.dialog.open) ui.dialog.close();
}

// ---------------------------------------------------------------- stages (stages.js)

const stages = new Stages(session);

// loadStages hands the saved signals, by name, to the stage editor.
function loadStages() {
  const signals = [...state.signals.values()].map((s) => ({ id: s.id, name: str(s.document && s.document.name) }));
  stages.load(signals, state.reportWeeks).catch(() => {});
}

// ---------------------------------------------------------------- signals list and precision

async function loadAll() {
  await Promise.all([loadSignals(), loadPrecision(), loadReport(), loadReasons()]);
  renderList();
  renderStats();
  renderFeedback();
  renderReasons();
}

// refreshCounts reads the counts again and redraws them, keeping the
// focus where it was: the list is rebuilt, the editor is not touched.
async function refreshCounts() {
  if (document.visibilityState !== 'visible' || !session.user || !isMarketing(session.user.role)) return;
  if (document.body.dataset.view !== 'console') return;
  const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest('#signals tr[data-id]');
  const focusedID = focused ? focused.dataset.id : null;
  try {
    await Promise.all([loadPrecision(), loadReport()]);
  } catch {
    return; // shown on the next action
  }
  renderList();
  renderStats();
  renderFeedback();
  if (focusedID) {
    const btn = ui.tbody.querySelector(`tr[data-id="${CSS.escape(focusedID)}"] button.row-open`);
    if (btn) btn.focus();
  }
}

async function loadReport() {
  try {
    const res = await session.request('GET', `/v1/feedback/report?weeks=${state.reportWeeks}`);
    if (res.ok && res.body && Array.isArray(res.body.signals)) {
      state.report = res.body;
      state.impact = new Map(res.body.signals.filter((si) => si && typeof si.signal_id === 'string').map((si) => [si.signal_id, si]));
    } else {
      state.report = null;
      state.impact = new Map();
    }
  } catch (err) {
    if (err instanceof SessionEnded) return;
    state.report = null;
  }
}

async function loadReasons() {
  try {
    const res = await session.request('GET', '/v1/feedback-reasons?retired=true');
    state.reasons = res.ok && Array.isArray(res.body.reasons) ? res.body.reasons : [];
  } catch (err) {
    if (err instanceof SessionEnded) return;
    state.reasons = [];
  }
}

async function loadSignals() {
  ui.table.setAttribute('aria-busy', 'true');
  try {
    const res = await session.request('GET', '/v1/signals');
    if (!res.ok) {
      ui.signalsState.textContent = errorText(res, "Couldn't load the signals");
      ui.signalsState.hidden = false;
      return;
    }
    state.signals.clear();
    for (const s of Array.isArray(res.body.signals) ? res.body.signals : []) {
      if (s && typeof s.id === 'string') state.signals.set(s.id, s);
    }
  } catch (err) {
    const msg = netError(err, "Couldn't load the signals");
    if (msg) ui.signalsState.textContent = msg;
  } finally {
    ui.table.setAttribute('aria-busy', 'false');
  }
}

async function loadPrecision() {
  try {
    const res = await session.request('GET', '/v1/precision');
    if (res.ok && Array.isArray(res.body.precision)) {
      state.precision = new Map();
      for (const p of res.body.precision) {
        if (p && typeof p.signal_id === 'string') state.precision.set(p.signal_id, p);
      }
      state.precisionStatus = 'ok';
    } else {
      state.precision = null;
      state.precisionStatus = res.status === 404 || res.status === 405 ? 'missing' : 'error';
    }
  } catch (err) {
    if (err instanceof SessionEnded) return;
    state.precision = null;
    state.precisionStatus = 'error';
  }
}

// usefulRate is (useful + won) / (useful + not_useful + won), or null
// without verdicts.
function usefulRate(p) {
  if (!p) return null;
  const good = num(p.useful) + num(p.won);
  const judged = good + num(p.not_useful);
  return judged > 0 ? { rate: good / judged, judged, good } : null;
}

function renderList() {
  const rows = [...state.signals.values()].sort((a, b) => a.id.localeCompare(b.id));
  const frag = document.createDocumentFragment();
  for (const s of rows) frag.append(signalRow(s));
  ui.tbody.replaceChildren(frag);
  ui.signalCount.textContent = rows.length ? String(rows.length) : '';
  ui.signalsState.hidden = rows.length > 0;
  if (!rows.length) ui.signalsState.textContent = 'No signals yet. Start one with “New signal”.';

  if (state.precisionStatus === 'missing') {
    ui.precisionNote.textContent = 'Precision not available: this server does not report reps’ feedback per signal yet.';
  } else if (state.precisionStatus === 'error') {
    ui.precisionNote.textContent = 'Precision not available right now; try again later.';
  } else {
    ui.precisionNote.textContent = 'Useful: alerts reps marked useful or won, over all their verdicts.';
  }
  markSelectedRow();
}

function signalRow(s) {
  const doc = s.document && typeof s.document === 'object' ? s.document : {};
  const priority = PRIORITIES.includes(doc.priority) ? doc.priority : 'medium';
  const name = str(doc.name);
  const tr = h('tr', { 'data-id': s.id, 'data-enabled': s.enabled ? 'true' : 'false' });

  const open = h('button', { type: 'button', class: 'row-open', 'data-action': 'open' }, s.id);
  const cell = h('th', { scope: 'row', class: 'sig-cell' }, open);
  if (name && name !== s.id) cell.append(h('span', { class: 'sig-name' }, name));
  tr.append(cell);

  tr.append(h('td', null, h('span', { class: `badge badge-${priority}` }, PRIORITY_LABEL[priority])));
  tr.append(h('td', null, h('span', { class: s.enabled ? 'state-pill is-on' : 'state-pill' }, s.enabled ? 'Enabled' : 'Disabled')));
  tr.append(h('td', { class: 'num' }, `v${num(s.version)}`));

  const p = state.precision ? state.precision.get(s.id) : null;
  if (state.precisionStatus !== 'ok') {
    tr.append(h('td', { class: 'num muted', title: 'Precision not available' }, '—'), h('td', { class: 'num muted', title: 'Precision not available' }, '—'));
  } else {
    tr.append(h('td', { class: 'num', 'data-count': String(p ? num(p.alerts) : 0) }, numberFmt.format(p ? num(p.alerts) : 0)));
    const r = usefulRate(p);
    if (!r) {
      tr.append(h('td', { class: 'num muted', title: 'No verdicts from reps yet' }, '—'));
    } else {
      const pct = Math.round(r.rate * 100);
      const td = h('td', { class: 'num', title: `${r.good} of ${r.judged} verdicts useful or won` });
      const meter = h('span', { class: 'meter', 'aria-hidden': 'true' }, h('span', { class: 'meter-fill' }));
      meter.firstChild.style.width = `${pct}%`;
      meter.dataset.level = pct >= 60 ? 'good' : pct >= 30 ? 'fair' : 'poor';
      td.append(meter, h('span', null, `${pct}%`), h('span', { class: 'sr-only' }, ` of ${r.judged} verdicts`));
      tr.append(td);
    }
  }
  return tr;
}

function markSelectedRow() {
  const id = state.current && state.current.id;
  for (const tr of ui.tbody.rows) {
    const on = tr.dataset.id === id;
    tr.classList.toggle('is-selected', on);
    if (on) tr.setAttribute('aria-current', 'true');
    else tr.removeAttribute('aria-current');
  }
}

function renderStats() {
  const id = state.current && state.current.id;
  const p = id && state.precision ? state.precision.get(id) : null;
  if (!id || state.precisionStatus !== 'ok') {
    ui.editorStats.hidden = !id;
    ui.editorStats.replaceChildren(id ? h('span', { class: 'muted' }, 'Precision not available.') : '');
    renderImpact();
    return;
  }
  const parts = [];
  const stat = (label, value) => h('span', { class: 'stat' }, h('strong', null, value), ` ${label}`);
  parts.push(stat(num(p && p.alerts) === 1 ? 'alert' : 'alerts', numberFmt.format(num(p && p.alerts))));
  if (p) {
    parts.push(stat('delivered', numberFmt.format(num(p.delivered))));
    parts.push(stat('acknowledged', numberFmt.format(num(p.acked))));
    if (typeof p.median_ack_seconds === 'number') parts.push(stat('median time to acknowledge', duration(p.median_ack_seconds)));
    parts.push(stat('useful', numberFmt.format(num(p.useful))), stat('not useful', numberFmt.format(num(p.not_useful))), stat('won', numberFmt.format(num(p.won))));
    const r = usefulRate(p);
    if (r) parts.push(stat('useful rate', `${Math.round(r.rate * 100)}%`));
  }
  ui.editorStats.replaceChildren(...parts);
  ui.editorStats.hidden = false;
  renderImpact();
}

// ---------------------------------------------------------------- what signals did for the business

const OUTCOME_COLUMNS = [
  ['alerts', 'Alerts'],
  ['acted', 'Acted on'],
  ['useful', 'Useful'],
  ['won', 'Won'],
  ['value', 'Value'],
];

function outcomeCell(o, key) {
  if (key === 'value') return moneyFmt.format(num(o && o.value));
  return numberFmt.format(num(o && o[key]));
}

// renderImpact shows the open signal's outcomes over 4 and 12 weeks, its
// weeks as bars, the reasons given and the suggestion the server made.
function renderImpact() {
  const id = state.current && state.current.id;
  const si = id ? state.impact.get(id) : null;
  if (!id || !state.report) {
    ui.impact.hidden = true;
    ui.impactBody.replaceChildren();
    return;
  }
  const out = [];
  const table = h('table', { class: 'impact-table', id: 'impact-table' });
  const head = h('tr', null, h('td'));
  for (const [, label] of OUTCOME_COLUMNS) head.append(h('th', { scope: 'col', class: 'num' }, label));
  table.append(h('thead', null, head));
  const body = h('tbody');
  for (const [key, label] of [['weeks_4', 'Last 4 weeks'], ['weeks_12', 'Last 12 weeks']]) {
    const tr = h('tr', { 'data-period': key }, h('th', { scope: 'row' }, label));
    for (const [col] of OUTCOME_COLUMNS) tr.append(h('td', { class: 'num', 'data-col': col }, outcomeCell(si && si[key], col)));
    body.append(tr);
  }
  table.append(body);
  out.push(table);

  const weeks = si && Array.isArray(si.weekly) ? si.weekly : [];
  if (weeks.some((w) => num(w.alerts) > 0)) {
    const most = Math.max(1, ...weeks.map((w) => num(w.alerts)));
    const bars = h('div', { class: 'weeks', role: 'img', 'aria-label': 'Alerts per week over 12 weeks, the useful share filled' });
    for (const w of weeks) {
      const judged = num(w.useful) + num(w.won) + num(w.not_useful);
      const good = num(w.useful) + num(w.won);
      const when = new Date(w.week);
      const label = `Week of ${Number.isNaN(when.getTime()) ? '' : when.toLocaleDateString()}: ${num(w.alerts)} alerts, ${judged ? `${Math.round((good / judged) * 100)}% useful` : 'no verdicts'}`;
      const bar = h('span', { class: 'week', title: label });
      bar.style.height = `${Math.round((num(w.alerts) / most) * 100)}%`;
      const fill = h('span', { class: 'week-good' });
      fill.style.height = judged ? `${Math.round((good / judged) * 100)}%` : '0';
      bar.append(fill);
      bars.append(bar);
    }
    out.push(bars);
  }
  const given = si && Array.isArray(si.reasons) ? si.reasons.filter((r) => num(r.not_useful) + num(r.won) > 0) : [];
  if (given.length) {
    out.push(h('p', { class: 'impact-reasons muted' }, 'Reasons given: ',
      given.map((r) => `${str(r.label) || str(r.reason)} (${num(r.not_useful) ? `${num(r.not_useful)} not useful` : ''}${num(r.not_useful) && num(r.won) ? ', ' : ''}${num(r.won) ? `${num(r.won)} won` : ''})`).join(' · ')));
  }
  if (si && si.suggestion && si.suggestion.text) {
    const box = h('div', { class: 'suggestion', id: 'suggestion', 'data-change': str(si.suggestion.change) },
      h('p', null, h('strong', null, 'Suggestion: '), str(si.suggestion.text)));
    if (si.suggestion.change === 'raise_count') {
      // A refresh of the counts keeps the result of a preview already run.
      const old = $('suggestion-preview');
      const keep = old && old.dataset.signal === id ? old : h('div', { id: 'suggestion-preview', class: 'suggestion-preview', 'aria-live': 'polite', 'data-signal': id });
      box.append(h('button', { type: 'button', class: 'secondary-button', id: 'suggestion-try' }, 'Preview the change'), keep);
    } else {
      box.append(h('p', { class: 'muted' }, 'Add a where condition (on lifecycle, title or account) in the YAML, then run Preview to see what it leaves.'));
    }
    out.push(box);
  } else if (!si || num(si.weeks_12 && si.weeks_12.alerts) === 0) {
    out.push(h('p', { class: 'muted' }, 'No alerts in 12 weeks.'));
  }
  ui.impactBody.replaceChildren(...out);
  ui.impact.hidden = false;
}

// raisedText is the saved definition with its count (a threshold) or
// level (a score) raised by half, at least by one, as the suggestion
// "raise the count" proposes; null with why when the form cannot read it.
function raisedText(text) {
  const r = readForm(text);
  if (r.reason) return { why: `the definition is beyond the form (${r.reason})` };
  const m = r.model;
  const raise = (v) => {
    const n = Number(v);
    return Number.isFinite(n) && n > 0 ? Math.max(n + 1, Math.ceil(n * 1.5)) : null;
  };
  if (m.kind === 'threshold') {
    const to = raise(m.count);
    if (to === null) return { why: 'the count is not a number' };
    const was = m.count;
    m.count = String(to);
    return { text: writeForm(m), what: `count ${to} instead of ${was}` };
  }
  if (m.kind === 'score') {
    const to = raise(m.level);
    if (to === null) return { why: 'the level is not a number' };
    const was = m.level;
    m.level = String(to);
    return { text: writeForm(m), what: `level ${to} instead of ${was}` };
  }
  return { why: 'a sequence has no count: shorten its window or add a step instead' };
}

async function previewCount(text, since) {
  const res = await session.request('POST', `/v1/signals/preview?since=${encodeURIComponent(since)}`, { text });
  if (!res.ok) throw new Error(errorText(res, 'The preview failed'));
  return num(res.body.alerts);
}

// trySuggestion previews the saved definition and the suggested change
// over the same recent events, so the marketer sees what raising the count
// would leave before changing anything.
async function trySuggestion(btn) {
  const cur = state.current;
  const out = $('suggestion-preview');
  if (!cur || !cur.id || !out) return;
  const changed = raisedText(cur.baseline);
  if (!changed.text) {
    out.replaceChildren(h('p', { class: 'muted' }, `No preview: ${changed.why}.`));
    return;
  }
  const since = ui.previewSince.value;
  btn.disabled = true;
  out.replaceChildren(h('p', { class: 'muted' }, `Replaying the last ${sinceLabel(since)} of events, as saved and with the change… (up to a minute each)`));
  let now;
  let then;
  try {
    now = await previewCount(cur.baseline, since);
    then = await previewCount(changed.text, since);
  } catch (err) {
    out.replaceChildren(h('p', { class: 'form-error' }, netError(err, "Couldn't run the preview") || err.message));
    return;
  } finally {
    btn.disabled = false;
  }
  out.dataset.now = String(now);
  out.dataset.then = String(then);
  const use = h('button', { type: 'button', class: 'link-button', id: 'suggestion-use' }, 'Put the change in the editor');
  use.addEventListener('click', () => {
    if (state.current !== cur || !confirmDiscard()) return;
    ui.editor.value = changed.text;
    onEditorInput();
    refreshCode();
    ui.editor.focus();
  });
  out.replaceChildren(h('p', null,
    `Over the last ${sinceLabel(since)}: ${numberFmt.format(now)} ${now === 1 ? 'alert' : 'alerts'} as saved, ${numberFmt.format(then)} with ${changed.what}. `), use);
}

// renderFeedback shows what the verdicts of the chosen period say per
// reason and per content item.
function renderFeedback() {
  const r = state.report;
  if (!r) {
    ui.feedbackState.textContent = 'Feedback is not available on this server.';
    ui.feedbackState.hidden = false;
    ui.feedbackBody.replaceChildren();
    return;
  }
  const out = [];
  const reasons = (Array.isArray(r.reasons) ? r.reasons : []);
  const rt = h('table', { class: 'mini-table', id: 'feedback-reasons' },
    h('caption', null, 'By reason'),
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Reason'), h('th', { scope: 'col', class: 'num' }, 'Not useful'), h('th', { scope: 'col', class: 'num' }, 'Won'))));
  const rb = h('tbody');
  for (const x of reasons) {
    rb.append(h('tr', { 'data-reason': str(x.reason) }, h('th', { scope: 'row' }, str(x.label) || str(x.reason)),
      h('td', { class: 'num' }, numberFmt.format(num(x.not_useful))), h('td', { class: 'num' }, numberFmt.format(num(x.won)))));
  }
  rt.append(rb);
  out.push(rt);

  const content = (Array.isArray(r.content) ? r.content : []).slice(0, 10);
  if (content.length) {
    const ct = h('table', { class: 'mini-table', id: 'feedback-content' },
      h('caption', null, 'By content item in the evidence'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Content'), h('th', { scope: 'col', class: 'num' }, 'Alerts'),
        h('th', { scope: 'col', class: 'num' }, 'Useful'), h('th', { scope: 'col', class: 'num' }, 'Won'), h('th', { scope: 'col', class: 'num' }, 'Value'))));
    const cb = h('tbody');
    for (const c of content) {
      const rate = usefulRate(c);
      cb.append(h('tr', { 'data-content': str(c.content_id) },
        h('th', { scope: 'row', title: str(c.content_id) }, str(c.title) || str(c.content_id)),
        h('td', { class: 'num' }, numberFmt.format(num(c.alerts))),
        h('td', { class: 'num', title: rate ? `${rate.good} of ${rate.judged} verdicts useful or won` : 'No verdicts' }, rate ? `${Math.round(rate.rate * 100)}%` : '—'),
        h('td', { class: 'num' }, numberFmt.format(num(c.won))),
        h('td', { class: 'num' }, moneyFmt.format(num(c.value)))));
    }
    ct.append(cb);
    out.push(ct);
  }
  ui.feedbackState.hidden = true;
  ui.feedbackBody.replaceChildren(...out);
}

// REASON_KINDS are the decisions a reason can fit, with their labels in
// the reason editor; a reason the server gives without kinds fits all.
const REASON_KINDS = [['not_useful', 'Not useful'], ['won', 'Won'], ['reject', 'Rejected handoff']];

function kindsOf(r) {
  return Array.isArray(r.kinds) ? r.kinds.map(str) : REASON_KINDS.map(([k]) => k);
}

function renderReasons() {
  const items = state.reasons.map((r) => {
    const id = str(r.id);
    const label = str(r.label) || id;
    const btn = h('button', { type: 'button', class: 'link-button', 'data-reason': id, 'data-retire': r.retired ? 'false' : 'true' }, r.retired ? 'Restore' : 'Retire');
    const kinds = kindsOf(r);
    const boxes = h('span', { class: 'reason-kinds', role: 'group', 'aria-label': `Verdicts “${label}” fits` },
      ...REASON_KINDS.map(([k, name]) => h('label', { class: 'reason-kind' },
        h('input', { type: 'checkbox', 'data-reason': id, 'data-kind': k, checked: kinds.includes(k) }), ` ${name}`)));
    return h('li', { 'data-reason': id, 'data-kinds': kinds.join(' '), class: r.retired ? 'is-retired' : null },
      h('span', null, label), r.retired ? h('span', { class: 'muted' }, ' (retired)') : '', boxes, ' ', btn);
  });
  ui.reasons.replaceChildren(...items);
}

// reasonID makes a reason's id from its label: "Bad data" -> "bad-data".
function reasonID(label) {
  return label.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
}

async function putReason(r, done) {
  let res;
  try {
    res = await session.request('PUT', `/v1/feedback-reasons/${encodeURIComponent(r.id)}`, { json: { label: r.label, position: r.position, retired: r.retired, kinds: kindsOf(r) } });
  } catch (err) {
    ui.reasonStatus.textContent = netError(err, "Couldn't save the reason") || '';
    return;
  }
  if (!res.ok) {
    ui.reasonStatus.textContent = errorText(res, "Couldn't save the reason");
    return;
  }
  ui.reasonStatus.textContent = done;
  await loadReasons();
  renderReasons();
}

async function addReason(ev) {
  ev.preventDefault();
  const label = ui.reasonLabel.value.trim();
  const id = reasonID(label);
  if (!label || !id) {
    ui.reasonStatus.textContent = 'Enter a reason with letters or digits.';
    ui.reasonLabel.focus();
    return;
  }
  if (state.reasons.some((r) => r.id === id)) {
    ui.reasonStatus.textContent = `There is a reason “${id}” already.`;
    return;
  }
  const position = Math.max(0, ...state.reasons.map((r) => num(r.position))) + 10;
  await putReason({ id, label, position, retired: false }, `Added “${label}”.`);
  if (state.reasons.some((r) => r.id === id)) ui.reasonLabel.value = '';
}

// onReasonKind saves the kinds of a reason as its checkboxes say; the
// last one checked stays, since a reason must fit something.
function onReasonKind(ev) {
  const box = ev.target.closest('input[data-kind]');
  if (!box) return;
  const r = state.reasons.find((x) => x.id === box.dataset.reason);
  if (!r) return;
  const kinds = [...ui.reasons.querySelectorAll('input[data-kind]')]
    .filter((x) => x.dataset.reason === box.dataset.reason && x.checked)
    .map((x) => x.dataset.kind);
  if (kinds.length === 0) {
    box.checked = true;
    ui.reasonStatus.textContent = `“${str(r.label)}” must fit at least one verdict.`;
    return;
  }
  putReason({ ...r, kinds }, `Saved the verdicts “${str(r.label)}” fits.`);
}

function onReasonsClick(ev) {
  const btn = ev.target.closest('button[data-reason]');
  if (!btn) return;
  const r = state.reasons.find((x) => x.id === btn.dataset.reason);
  if (!r) return;
  const retire = btn.dataset.retire === 'true';
  putReason({ ...r, retired: retire }, `${retire ? 'Retired' : 'Restored'} “${str(r.label)}”.`);
}

async function changeWeeks() {
  state.reportWeeks = Number(ui.feedbackWeeks.value) === 4 ? 4 : 12;
  ui.exportCSV.href = `/v1/export/alerts.csv?weeks=${state.reportWeeks}`;
  await loadReport();
  renderFeedback();
  renderImpact();
  stages.setWeeks(state.reportWeeks).catch(() => {});
}

function onListClick(ev) {
  const tr = ev.target.closest('tr[data-id]');
  if (!tr || !ui.tbody.contains(tr)) return;
  if (state.current && state.current.id === tr.dataset.id) return;
  openSignal(tr.dataset.id, true);
}

// Up and down arrows move between the rows' buttons.
function onListKey(ev) {
  if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
  const btns = [...ui.tbody.querySelectorAll('button.row-open')];
  const i = btns.indexOf(document.activeElement);
  if (i < 0) return;
  ev.preventDefault();
  const next = btns[ev.key === 'ArrowDown' ? Math.min(i + 1, btns.length - 1) : Math.max(i - 1, 0)];
  next.focus();
}

// ---------------------------------------------------------------- editor

function hashSignal() {
  const m = location.hash.match(/^#signal=(.+)$/);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return null;
  }
}

function setHash(id) {
  const want = id ? `#signal=${encodeURIComponent(id)}` : '';
  if (location.hash !== want) history.replaceState(null, '', want || location.pathname + location.search);
}

let dirty = false;
function setDirty(d) {
  dirty = d;
  ui.revert.disabled = !d || !state.current;
  if (state.current) {
    ui.editorHeading.dataset.dirty = d ? 'true' : 'false';
  }
}

function confirmDiscard() {
  if (!dirty) return true;
  const name = state.current && state.current.id ? state.current.id : 'the new signal';
  return window.confirm(`Discard your unsaved changes to ${name}?`);
}

function resetEditor() {
  state.current = null;
  ui.editor.value = '';
  ui.editor.disabled = true;
  ui.save.disabled = true;
  ui.preview.disabled = true;
  ui.enabled.disabled = true;
  setEnabledSwitch(false);
  ui.editorHeading.textContent = 'Choose a signal';
  ui.editorMeta.textContent = 'Pick one from the list, or start a new one.';
  ui.editorStats.hidden = true;
  ui.saveStatus.textContent = '';
  ui.previewResult.replaceChildren();
  setProblems([]);
  renderHistory([], 'Open a signal to see its versions.');
  setDirty(false);
  refreshCode();
}

async function openSignal(id, focus) {
  if (!confirmDiscard()) return;
  ui.saveStatus.textContent = '';
  let res;
  try {
    res = await session.request('GET', sigPath(id));
  } catch (err) {
    const msg = netError(err, `Couldn't open ${id}`);
    if (msg) ui.saveStatus.textContent = msg;
    return;
  }
  if (!res.ok) {
    ui.saveStatus.textContent = res.status === 404 ? `${id} no longer exists.` : errorText(res, `Couldn't open ${id}`);
    if (res.status === 404) {
      state.signals.delete(id);
      renderList();
    }
    return;
  }
  const stored = res.body;
  state.signals.set(stored.id, stored);
  const source = str(stored.source) || JSON.stringify(stored.document || {}, null, 2);
  state.current = { id: stored.id, stored, baseline: source };
  ui.editor.value = source;
  ui.editor.disabled = false;
  ui.save.disabled = false;
  ui.preview.disabled = false;
  ui.previewResult.replaceChildren();
  setProblems([]);
  setDirty(false);
  renderEditorHead();
  renderList();
  renderStats();
  refreshCode();
  setHash(stored.id);
  loadHistory(stored.id);
  if (focus) ui.editor.focus();
  ui.editor.setSelectionRange(0, 0);
  ui.editor.scrollTop = 0;
}

function newSignal() {
  if (!confirmDiscard()) return;
  state.current = { id: null, stored: null, baseline: '' };
  const owner = session.user && session.user.role === 'marketer' ? session.user.id : 'mkt-jane';
  ui.editor.value = STARTER.replace('OWNER', owner);
  ui.editor.disabled = false;
  ui.save.disabled = false;
  ui.preview.disabled = false;
  ui.previewResult.replaceChildren();
  ui.saveStatus.textContent = '';
  setProblems([]);
  setDirty(true);
  renderEditorHead();
  renderList();
  renderStats();
  refreshCode();
  setHash(null);
  renderHistory([], 'A new signal has no versions until you save it.');
  ui.editor.focus();
  // Select the placeholder id, the first thing to change.
  const start = ui.editor.value.indexOf('new-signal');
  ui.editor.setSelectionRange(start, start + 'new-signal'.length);
  ui.editor.scrollTop = 0;
}

function renderEditorHead() {
  const cur = state.current;
  if (!cur) return;
  if (!cur.id) {
    ui.editorHeading.textContent = 'New signal';
    ui.editorMeta.textContent = 'Not saved yet. New signals are saved disabled: preview, then switch them on.';
    ui.enabled.disabled = true;
    setEnabledSwitch(false);
    return;
  }
  const s = cur.stored;
  const doc = s.document && typeof s.document === 'object' ? s.document : {};
  ui.editorHeading.textContent = str(doc.name) && doc.name !== s.id ? `${doc.name} (${s.id})` : s.id;
  const meta = [`Version ${num(s.version)}`];
  if (s.updated_by) meta.push(`changed by ${s.updated_by}`);
  ui.editorMeta.replaceChildren(meta.join(', ') + ' ', timeEl(s.updated_at));
  if (doc.owner) ui.editorMeta.append(`. Owner: ${doc.owner}`);
  ui.enabled.disabled = false;
  setEnabledSwitch(!!s.enabled);
}

function setEnabledSwitch(on) {
  ui.enabled.setAttribute('aria-checked', on ? 'true' : 'false');
  ui.enabledLabel.textContent = on ? 'Enabled' : 'Disabled';
}

// idInText finds the document's top-level id, for a new signal's URL.
function idInText(text) {
  const m = text.match(/^id\s*:\s*(?:"([^"]*)"|'([^']*)'|([^\s#]+))/m) || text.match(/"id"\s*:\s*"([^"]*)"/);
  if (!m) return '';
  return (m[1] ?? m[2] ?? m[3] ?? '').trim();
}

async function save() {
  const cur = state.current;
  if (!cur || state.busy) return;
  if (cur.id && !dirty) {
    ui.saveStatus.textContent = 'No changes to save.';
    return;
  }
  const text = ui.editor.value;
  let id = cur.id;
  if (!id) {
    id = idInText(text);
    if (!id) {
      setProblems([{ path: 'id', reason: 'is required' }]);
      return;
    }
    if (state.signals.has(id)) {
      setProblems([{ path: 'id', reason: `a signal "${id}" already exists: open it from the list to change it, or choose another id` }]);
      return;
    }
  }
  const enabled = cur.stored ? !!cur.stored.enabled : false;
  setBusy(true, 'Saving…');
  let res;
  try {
    res = await session.request('PUT', sigPath(id, `?enabled=${enabled}`), { text });
  } catch (err) {
    setBusy(false, netError(err, "Couldn't save") || '');
    return;
  }
  if (res.ok && res.body && res.body.id) {
    const stored = res.body;
    state.signals.set(stored.id, stored);
    state.current = { id: stored.id, stored, baseline: text };
    setProblems([]);
    setDirty(false);
    setBusy(false, `Saved version ${stored.version}${stored.enabled ? '' : ' (disabled)'}.`);
    renderEditorHead();
    renderList();
    renderStats();
    setHash(stored.id);
    loadHistory(stored.id);
    return;
  }
  if (res.status === 422) {
    setBusy(false, 'Not saved: the definition has problems.');
    setProblems(problemsOf(res.body));
    return;
  }
  setBusy(false, errorText(res, 'Not saved'));
}

function setBusy(busy, status) {
  state.busy = busy;
  ui.save.disabled = busy || !state.current;
  ui.save.textContent = busy ? 'Saving…' : 'Save';
  if (status !== undefined) ui.saveStatus.textContent = status;
}

// problemsOf reads a 422 answer: its problems, else its error as
// "path: reason" when it looks like one.
function problemsOf(body) {
  if (Array.isArray(body.problems) && body.problems.length) {
    return body.problems.map((p) => ({ path: str(p && p.path), reason: str(p && p.reason) }));
  }
  const msg = str(body.error) || 'invalid signal';
  const m = msg.match(/^([A-Za-z_][\w.]*(?:\[\d+\])*(?:\.[\w]+(?:\[\d+\])*)*): (.*)$/s);
  return m ? [{ path: m[1], reason: m[2] }] : [{ path: '', reason: msg }];
}

async function toggleEnabled() {
  const cur = state.current;
  if (!cur || !cur.id || !cur.stored) return;
  const want = !cur.stored.enabled;
  ui.enabled.disabled = true;
  let res;
  try {
    res = await session.request('POST', sigPath(cur.id, want ? '/enable' : '/disable'));
  } catch (err) {
    ui.enabled.disabled = false;
    const msg = netError(err, `Couldn't ${want ? 'enable' : 'disable'} ${cur.id}`);
    if (msg) ui.saveStatus.textContent = msg;
    return;
  }
  ui.enabled.disabled = false;
  if (!res.ok) {
    ui.saveStatus.textContent = errorText(res, `Couldn't ${want ? 'enable' : 'disable'} ${cur.id}`);
    return;
  }
  cur.stored = res.body;
  state.signals.set(cur.id, res.body);
  renderEditorHead();
  renderList();
  const note = dirty ? ' Your unsaved changes are not part of it.' : '';
  ui.saveStatus.textContent = `${cur.id} version ${res.body.version} is ${res.body.enabled ? 'enabled: it fires from now on' : 'disabled: it fires no more alerts'}.${note}`;
  loadHistory(cur.id);
}

function revert() {
  if (!state.current || !dirty) return;
  ui.editor.value = state.current.baseline;
  if (!state.current.id) {
    resetEditor();
    return;
  }
  setDirty(false);
  setProblems([]);
  refreshCode();
  ui.saveStatus.textContent = 'Changes discarded.';
  ui.editor.focus();
}

// ---------------------------------------------------------------- problems and their lines

// setProblems lists problems under the editor and marks their lines; after
// says what they stopped ("saved" or "previewed").
function setProblems(problems, after = 'saved') {
  state.problems = problems;
  locateProblems();
  // In line order, as the marketer reads the document; those without a
  // line (a missing field) last, in the server's order.
  const order = problems.map((p, i) => i).sort((a, b) => {
    const la = state.problemLines[a] ? state.problemLines[a].line : Infinity;
    const lb = state.problemLines[b] ? state.problemLines[b].line : Infinity;
    return la === lb ? a - b : la - lb;
  });
  state.problems = order.map((i) => problems[i]);
  state.problemLines = order.map((i) => state.problemLines[i]);
  problems = state.problems;
  const list = ui.problems;
  list.replaceChildren();
  problems.forEach((p, i) => {
    const loc = state.problemLines[i];
    const li = h('li', { 'data-path': p.path });
    if (loc) li.dataset.line = String(loc.line);
    const where = loc ? `${loc.exact ? 'Line' : 'Near line'} ${loc.line}` : p.path ? 'Missing' : 'Document';
    const jump = h('button', { type: 'button', class: 'problem-jump', 'data-index': String(i), disabled: !loc }, where);
    li.append(jump, h('code', { class: 'problem-path' }, p.path || '(document)'), h('span', { class: 'problem-reason' }, p.reason));
    list.append(li);
  });
  ui.problemsBox.hidden = problems.length === 0;
  const tail = after === 'saved' ? 'Nothing was saved.' : `Fix ${problems.length === 1 ? 'it' : 'them'} to preview.`;
  ui.problemsSummary.textContent = problems.length === 0 ? '' : `${problems.length === 1 ? '1 problem' : `${problems.length} problems`}. ${tail}`;
  if (problems.length) ui.editor.setAttribute('aria-invalid', 'true');
  else ui.editor.removeAttribute('aria-invalid');
  refreshCode();
}

function locateProblems() {
  const text = ui.editor.value;
  const lines = scanLines(text);
  state.problemLines = state.problems.map((p) => locate(lines, p));
}

function locate(lines, p) {
  // The server names the line where it knows it better than the path.
  if (Number.isInteger(p.line) && p.line >= 1 && p.line <= lines.length) return { line: p.line, exact: true };
  const found = lineForPath(lines, p.path);
  if (found && found.exact) return found;
  const reason = str(p.reason);
  let m = !p.path && reason.match(/^(?:yaml: )?line (\d+):/);
  if (!m) m = reason.match(/\(line (\d+)\)/);
  if (m) {
    const n = Number(m[1]);
    if (n >= 1 && n <= lines.length) return { line: n, exact: true };
  }
  return found;
}

// scanLines describes each line of a YAML (or indented JSON) text: its
// indentation, whether it is a list item, and the key it starts, if any.
function scanLines(text) {
  return text.split('\n').map((raw) => {
    const line = raw.replace(/\r$/, '');
    const indent = line.match(/^ */)[0].length;
    let rest = line.slice(indent);
    const blank = rest === '' || rest.startsWith('#') || /^(---|\.\.\.)\s*$/.test(rest);
    let dash = false;
    let keyIndent = indent;
    let key = null;
    if (!blank) {
      const d = rest.match(/^-(?: +|$)/);
      if (d) {
        dash = true;
        keyIndent = indent + d[0].length;
        rest = rest.slice(d[0].length);
      }
      const k = rest.match(/^(?:"([^"]*)"|'([^']*)'|([^\s:#{}[\],"'][^:#]*?))\s*:(?:\s|$)/);
      if (k) key = (k[1] ?? k[2] ?? k[3]).trim();
    }
    return { indent, keyIndent, blank, dash, key, text: line };
  });
}

// parsePath splits "when.sequence.steps[1].url" into
// ["when", "sequence", "steps", 1, "url"].
function parsePath(path) {
  const segs = [];
  for (const part of str(path).split('.')) {
    if (!part) continue;
    const m = part.match(/^([^[]*)((?:\[\d+\])*)$/);
    if (!m) {
      segs.push(part);
      continue;
    }
    if (m[1]) segs.push(m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) segs.push(Number(idx[1]));
  }
  return segs;
}

// lineForPath finds the line (1-based) where path's key is, by walking the
// indentation: {line, exact}, exact false when only a parent was found (a
// missing field); null when not even the first key is in the text. A key
// inside a one-line {flow: mapping} or [list] counts as found on that line.
function lineForPath(lines, path) {
  const segs = parsePath(path);
  if (!segs.length) return null;
  let start = 0;
  let end = lines.length;
  let found = -1;
  for (let si = 0; si < segs.length; si++) {
    const seg = segs[si];
    let hit = -1;
    if (typeof seg === 'number') {
      let dashIndent = Infinity;
      for (let i = start; i < end; i++) if (!lines[i].blank && lines[i].dash) dashIndent = Math.min(dashIndent, lines[i].indent);
      let n = -1;
      for (let i = start; i < end && hit < 0; i++) {
        const l = lines[i];
        if (!l.blank && l.dash && l.indent === dashIndent && ++n === seg) hit = i;
      }
      if (hit >= 0) {
        // The item: its own line (which may start a key) and what is indented under it.
        start = hit;
        end = blockEnd(lines, hit, lines[hit].indent, false);
      }
    } else {
      let level = Infinity;
      for (let i = start; i < end; i++) if (!lines[i].blank && lines[i].key !== null) level = Math.min(level, lines[i].keyIndent);
      for (let i = start; i < end && hit < 0; i++) {
        const l = lines[i];
        if (!l.blank && l.key === seg && l.keyIndent === level) hit = i;
      }
      if (hit >= 0) {
        start = hit + 1;
        end = blockEnd(lines, hit, lines[hit].keyIndent, true);
      }
    }
    if (hit < 0) {
      if (found < 0) return null;
      return { line: found + 1, exact: inlineHas(lines[found].text, segs.slice(si)) };
    }
    found = hit;
  }
  return { line: found + 1, exact: true };
}

// inlineHas reports whether a flow value on one line holds the rest of the
// path: {type: x, url: y} has "url"; [a, b] has an item.
function inlineHas(text, rest) {
  const keys = rest.filter((s) => typeof s === 'string');
  if (!keys.length) return /:\s*\[|^\s*-\s*\[/.test(text);
  const last = keys[keys.length - 1].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`[{,\\s]["']?${last}["']?\\s*:`).test(text);
}

// blockEnd is the index after the last line belonging to the entry at line
// i, whose content is at indentation ind. A key's block also takes list
// items at its own indentation (YAML's compact lists).
function blockEnd(lines, i, ind, isKey) {
  let j = i + 1;
  for (; j < lines.length; j++) {
    const l = lines[j];
    if (l.blank) continue;
    if (l.indent > ind) continue;
    if (isKey && l.indent === ind && l.dash) continue;
    break;
  }
  return j;
}

function jumpToLine(line) {
  const text = ui.editor.value;
  let start = 0;
  for (let n = 1; n < line; n++) {
    const next = text.indexOf('\n', start);
    if (next < 0) break;
    start = next + 1;
  }
  let end = text.indexOf('\n', start);
  if (end < 0) end = text.length;
  ui.editor.focus();
  ui.editor.setSelectionRange(start, end);
  const top = CODE_PAD_PX + (line - 1) * LINE_PX;
  const view = ui.editor.clientHeight;
  if (top < ui.editor.scrollTop || top + LINE_PX > ui.editor.scrollTop + view) {
    ui.editor.scrollTop = Math.max(0, top - view / 3);
  }
  syncScroll();
}

// ---------------------------------------------------------------- gutter and marks

function refreshCode() {
  const lineCount = ui.editor.value.split('\n').length;
  const bad = new Map();
  state.problemLines.forEach((loc, i) => {
    if (!loc) return;
    if (!bad.has(loc.line)) bad.set(loc.line, []);
    bad.get(loc.line).push(state.problems[i]);
  });
  const frag = document.createDocumentFragment();
  for (let n = 1; n <= Math.max(lineCount, 1); n++) {
    const el = h('div', { class: bad.has(n) ? 'gutter-line is-problem' : 'gutter-line' }, String(n));
    frag.append(el);
  }
  const inner = h('div', { class: 'gutter-inner' });
  inner.append(frag);
  ui.gutter.replaceChildren(inner);

  const marks = h('div', { class: 'marks-inner' });
  for (const [line, ps] of bad) {
    const bar = h('div', { class: 'mark', title: ps.map((p) => `${p.path}: ${p.reason}`).join('\n') });
    bar.style.top = `${CODE_PAD_PX + (line - 1) * LINE_PX}px`;
    marks.append(bar);
  }
  ui.marks.replaceChildren(marks);
  syncScroll();
  if (form.on) syncFormFromText();
}

// ---------------------------------------------------------------- the form editor

// form holds the form editor's state: the model shown, and the text it
// last wrote, so that its own writes do not rebuild it under the cursor.
const form = { on: false, model: null, written: null };

const AUDIENCES = [['', 'Any (default)'], ['prospect', 'Prospects'], ['customer', 'Customers'], ['any', 'Any']];
const SCOPES = [['', 'Per person (default)'], ['customer', 'Per person'], ['account', 'Per account']];
const FORM_PRIORITIES = [['', 'Medium (default)'], ['low', 'Low'], ['medium', 'Medium'], ['high', 'High'], ['urgent', 'Urgent']];
const KIND_LABEL = { threshold: 'Threshold: an event N times within a window', sequence: 'Sequence: events in order within a window', score: 'Score: points per event, fires at a level' };

function setFormMode(on) {
  form.on = on;
  ui.modeYAML.setAttribute('aria-pressed', on ? 'false' : 'true');
  ui.modeForm.setAttribute('aria-pressed', on ? 'true' : 'false');
  ui.formNote.hidden = !on;
  if (!on) {
    ui.signalForm.hidden = true;
    ui.formDeclined.hidden = true;
    return;
  }
  form.written = null;
  syncFormFromText();
}

// syncFormFromText shows the editor's text in the form, or why it cannot.
function syncFormFromText() {
  if (!state.current) {
    ui.signalForm.hidden = true;
    ui.formDeclined.hidden = true;
    return;
  }
  if (ui.editor.value === form.written) return;
  const r = readForm(ui.editor.value);
  if (r.reason) {
    ui.formDeclined.textContent = `The form cannot show this definition: ${r.reason}. Edit it as YAML; the form comes back when it can.`;
    ui.formDeclined.hidden = false;
    ui.signalForm.disabled = true;
    ui.signalForm.hidden = !form.model;
    return;
  }
  ui.formDeclined.hidden = true;
  ui.signalForm.disabled = ui.editor.disabled;
  form.model = r.model;
  renderForm();
  ui.signalForm.hidden = false;
}

// writeFormToText puts the form's model into the editor, as the YAML the
// next save sends.
function writeFormToText() {
  const text = writeForm(form.model);
  form.written = text;
  ui.editor.value = text;
  onEditorInput();
  refreshCode();
}

function fieldInput(label, path, value, opts = {}) {
  const id = `f-${path.replace(/[^a-z0-9]+/gi, '-')}`;
  const input = opts.options
    ? h('select', { id, 'data-f': path }, opts.options.map(([v, l]) => h('option', { value: v, selected: v === value }, l)))
    : h(opts.area ? 'textarea' : 'input', { id, 'data-f': path, type: opts.area ? null : 'text', autocomplete: 'off', spellcheck: 'false', placeholder: opts.placeholder || null, rows: opts.area ? 2 : null, inputmode: opts.numeric ? 'numeric' : null });
  if (!opts.options) input.value = value;
  return h('div', { class: opts.wide ? 'form-field is-wide' : 'form-field' }, h('label', { for: id }, label), input);
}

function matchFields(prefix, m, extra = []) {
  return [
    fieldInput('Event type', `${prefix}.type`, m.type, { placeholder: 'page_view' }),
    fieldInput('URL pattern', `${prefix}.url`, m.url, { placeholder: '*/pricing*' }),
    fieldInput('Content id', `${prefix}.content_id`, m.content_id, { placeholder: 'pricing-page' }),
    fieldInput('Keywords (comma-separated)', `${prefix}.keywords`, m.keywords, { placeholder: 'cancel, competitor' }),
    ...extra,
  ];
}

function renderForm() {
  const m = form.model;
  const out = [];
  out.push(h('div', { class: 'form-grid' },
    fieldInput('Id', 'id', m.id),
    fieldInput('Name', 'name', m.name),
    fieldInput('Owner', 'owner', m.owner, { placeholder: 'mkt-jane' }),
    fieldInput('Audience', 'audience', m.audience, { options: AUDIENCES }),
    fieldInput('Counted', 'scope', m.scope, { options: SCOPES }),
    fieldInput('Priority', 'priority', m.priority, { options: FORM_PRIORITIES }),
    fieldInput('Fires on', 'kind', m.kind, { options: Object.entries(KIND_LABEL), wide: true }),
  ));
  if (m.kind === 'threshold') {
    out.push(h('div', { class: 'form-group', 'data-kind': 'threshold' },
      h('p', { class: 'form-group-title' }, 'Which events'),
      h('div', { class: 'form-grid' }, ...matchFields('match', m.match),
        fieldInput('How many times', 'count', m.count, { numeric: true, placeholder: '3' }),
        fieldInput('Within', 'within', m.within, { placeholder: '7d' }))));
  } else if (m.kind === 'sequence') {
    const steps = m.steps.map((st, i) => h('div', { class: 'form-group', 'data-step': String(i) },
      h('p', { class: 'form-group-title' }, `Step ${i + 1}`,
        m.steps.length > 2 ? h('button', { type: 'button', class: 'link-button', 'data-remove': `steps.${i}` }, 'Remove') : ''),
      h('div', { class: 'form-grid' }, ...matchFields(`steps.${i}`, st))));
    out.push(...steps,
      m.steps.length < 8 ? h('button', { type: 'button', class: 'secondary-button', 'data-add': 'steps' }, 'Add a step') : '',
      h('div', { class: 'form-grid' }, fieldInput('All steps within', 'within', m.within, { placeholder: '48h' })));
  } else {
    const rules = m.rules.map((r, i) => h('div', { class: 'form-group', 'data-rule': String(i) },
      h('p', { class: 'form-group-title' }, `Rule ${i + 1}`,
        m.rules.length > 1 ? h('button', { type: 'button', class: 'link-button', 'data-remove': `rules.${i}` }, 'Remove') : ''),
      h('div', { class: 'form-grid' }, ...matchFields(`rules.${i}`, r, [fieldInput('Points', `rules.${i}.points`, r.points, { numeric: true, placeholder: '10' })]))));
    out.push(...rules,
      h('button', { type: 'button', class: 'secondary-button', 'data-add': 'rules' }, 'Add a rule'),
      h('div', { class: 'form-grid' },
        fieldInput('Fires at score', 'level', m.level, { numeric: true, placeholder: '10' }),
        fieldInput('Points halve every', 'half_life', m.half_life, { placeholder: '7d' })));
  }
  out.push(h('div', { class: 'form-grid' },
    fieldInput('Quiet after an alert (cooldown)', 'cooldown', m.cooldown, { placeholder: '72h' }),
    fieldInput('Message', 'message', m.message, { area: true, wide: true, placeholder: '{{.Account}}: pricing viewed {{.Count}} times' })));
  ui.signalFormBody.replaceChildren(...out);
}

// setPath sets model[path] for a dotted path such as "steps.1.url" or
// "match.type" (a score rule's match fields sit on the rule).
function setPath(m, path, v) {
  const parts = path.split('.');
  let o = m;
  for (const p of parts.slice(0, -1)) o = o[p];
  o[parts[parts.length - 1]] = v;
}

function onFormInput(ev) {
  const el = ev.target.closest('[data-f]');
  if (!el || !form.model) return;
  const path = el.dataset.f;
  if (path === 'kind') {
    changeKind(el.value);
    renderForm();
  } else {
    setPath(form.model, path, el.value);
  }
  writeFormToText();
}

// changeKind carries what it can over to another kind: the match becomes
// the first step or rule.
function changeKind(kind) {
  const m = form.model;
  const first = m.kind === 'threshold' ? m.match : m.kind === 'sequence' ? m.steps[0] : m.rules[0];
  const base = { ...emptyMatch(), ...(first ? { type: first.type, url: first.url, content_id: first.content_id, keywords: first.keywords } : {}) };
  m.kind = kind;
  if (kind === 'threshold') {
    m.match = base;
    m.count = m.count || '3';
    m.within = m.within || '7d';
  } else if (kind === 'sequence') {
    m.steps = [base, emptyMatch()];
    m.within = m.within || '48h';
  } else {
    m.rules = [{ ...base, points: '10' }];
    m.level = m.level || '10';
    m.half_life = m.half_life || '7d';
  }
}

function onFormClick(ev) {
  const add = ev.target.closest('[data-add]');
  const remove = ev.target.closest('[data-remove]');
  if (!form.model || (!add && !remove)) return;
  if (add) {
    const list = form.model[add.dataset.add];
    list.push(add.dataset.add === 'rules' ? { ...emptyMatch(), points: '5' } : emptyMatch());
  } else {
    const [list, i] = remove.dataset.remove.split('.');
    form.model[list].splice(Number(i), 1);
  }
  renderForm();
  writeFormToText();
}

function syncScroll() {
  const y = ui.editor.scrollTop;
  const g = ui.gutter.firstChild;
  if (g) g.style.transform = `translateY(${-y}px)`;
  const m = ui.marks.firstChild;
  if (m) m.style.transform = `translate(${-ui.editor.scrollLeft}px, ${-y}px)`;
}

let relocateTimer = 0;
function onEditorInput() {
  if (!state.current) return;
  setDirty(ui.editor.value !== state.current.baseline || !state.current.id);
  if (ui.saveStatus.textContent && !state.busy) ui.saveStatus.textContent = '';
  clearTimeout(relocateTimer);
  relocateTimer = setTimeout(() => {
    // Problems stay until the next save; their lines follow the text.
    locateProblems();
    refreshCode();
    for (const li of ui.problems.children) {
      const i = Number(li.querySelector('.problem-jump').dataset.index);
      const loc = state.problemLines[i];
      const btn = li.querySelector('.problem-jump');
      btn.disabled = !loc;
      btn.textContent = loc ? `${loc.exact ? 'Line' : 'Near line'} ${loc.line}` : state.problems[i].path ? 'Missing' : 'Document';
      if (loc) li.dataset.line = String(loc.line);
      else delete li.dataset.line;
    }
  }, 120);
}

// ---------------------------------------------------------------- history and versions

async function loadHistory(id) {
  ui.historyState.textContent = 'Loading history…';
  ui.historyState.hidden = false;
  let res;
  try {
    res = await session.request('GET', sigPath(id, '/history'));
  } catch (err) {
    const msg = netError(err, "Couldn't load the history");
    if (msg) ui.historyState.textContent = msg;
    return;
  }
  if (!state.current || state.current.id !== id) return;
  if (!res.ok) {
    renderHistory([], errorText(res, "Couldn't load the history"));
    return;
  }
  renderHistory(Array.isArray(res.body.changes) ? res.body.changes : [], 'No changes recorded.');
}

function renderHistory(changes, emptyText) {
  state.history = changes;
  const frag = document.createDocumentFragment();
  const current = state.current && state.current.stored ? num(state.current.stored.version) : 0;
  for (const c of [...changes].reverse()) {
    const v = num(c.version);
    const action = str(c.action);
    const li = h('li', { 'data-version': String(v), 'data-action': action });
    const btn = h(
      'button',
      { type: 'button', class: 'history-item', 'data-version': String(v), 'aria-label': `Show version ${v}: ${ACTION_LABEL[action] || action} by ${str(c.changed_by) || 'unknown'}` },
      h('span', { class: v === current ? 'ver is-current' : 'ver' }, `v${v}`),
      h('span', { class: `action action-${action}` }, ACTION_LABEL[action] || capitalize(action)),
      h('span', { class: 'who' }, str(c.changed_by) || 'unknown'),
      timeEl(c.changed_at),
    );
    li.append(btn);
    frag.append(li);
  }
  ui.history.replaceChildren(frag);
  ui.historyState.textContent = emptyText;
  ui.historyState.hidden = changes.length > 0;
}

async function getVersion(id, n) {
  const key = `${id}@${n}`;
  if (state.versions.has(key)) return state.versions.get(key);
  const res = await session.request('GET', sigPath(id, `/versions/${n}`));
  if (!res.ok) throw new Error(errorText(res, `Couldn't load version ${n}`));
  state.versions.set(key, res.body);
  return res.body;
}

let dialogOpener = null;
async function openVersion(n, opener) {
  const cur = state.current;
  if (!cur || !cur.id) return;
  let v;
  let prev = null;
  try {
    v = await getVersion(cur.id, n);
    if (n > 1) prev = await getVersion(cur.id, n - 1).catch(() => null);
  } catch (err) {
    if (err instanceof SessionEnded) return;
    ui.historyState.hidden = false;
    ui.historyState.textContent = err.message.startsWith("Couldn't") ? err.message : `Couldn't load version ${n}: can't reach Dowser.`;
    return;
  }
  state.dialogVersion = { id: cur.id, version: n, source: str(v.source), prev: prev ? str(prev.source) : null };
  ui.versionTitle.textContent = `${cur.id}, version ${n}`;
  ui.versionMeta.replaceChildren(`Saved by ${str(v.created_by) || 'unknown'} `, timeEl(v.created_at));
  ui.versionShowDiff.disabled = prev === null;
  showVersionSource(false);
  dialogOpener = opener || null;
  if (typeof ui.dialog.showModal === 'function') ui.dialog.showModal();
  else ui.dialog.setAttribute('open', '');
  ui.versionSource.focus();
}

function showVersionSource(diff) {
  const d = state.dialogVersion;
  if (!d) return;
  ui.versionShowSource.setAttribute('aria-pressed', diff ? 'false' : 'true');
  ui.versionShowDiff.setAttribute('aria-pressed', diff ? 'true' : 'false');
  if (!diff || d.prev === null) {
    ui.versionSource.replaceChildren(d.source);
    ui.versionSource.setAttribute('aria-label', `Source of version ${d.version}`);
    return;
  }
  const ops = diffLines(d.prev.split('\n'), d.source.split('\n'));
  if (!ops) {
    ui.versionSource.replaceChildren('These versions are too long to compare here.');
    return;
  }
  const frag = document.createDocumentFragment();
  let changed = 0;
  for (const [op, text] of ops) {
    if (op !== ' ') changed++;
    const cls = op === '+' ? 'diff-add' : op === '-' ? 'diff-del' : 'diff-same';
    const label = op === '+' ? 'added: ' : op === '-' ? 'removed: ' : '';
    frag.append(h('span', { class: `diff-line ${cls}` }, label ? h('span', { class: 'sr-only' }, label) : null, `${op} ${text}\n`));
  }
  if (!changed) frag.append(h('span', { class: 'diff-line diff-same' }, '(the text is the same as version ' + (d.version - 1) + ')'));
  ui.versionSource.replaceChildren(frag);
  ui.versionSource.setAttribute('aria-label', `Changes from version ${d.version - 1} to version ${d.version}`);
}

// diffLines is a longest-common-subsequence line diff: [[op, line]] with op
// ' ', '-' or '+'; null when the texts are too long.
function diffLines(a, b) {
  const n = a.length;
  const m = b.length;
  if (n * m > DIFF_MAX_CELLS) return null;
  const w = m + 1;
  const L = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      L[i * w + j] = a[i] === b[j] ? L[(i + 1) * w + j + 1] + 1 : Math.max(L[(i + 1) * w + j], L[i * w + j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push([' ', a[i]]);
      i++;
      j++;
    } else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) out.push(['-', a[i++]]);
    else out.push(['+', b[j++]]);
  }
  while (i < n) out.push(['-', a[i++]]);
  while (j < m) out.push(['+', b[j++]]);
  return out;
}

function closeVersion() {
  if (ui.dialog.open) ui.dialog.close();
}

function restoreVersion() {
  const d = state.dialogVersion;
  if (!d || !state.current || state.current.id !== d.id) return;
  ui.editor.value = d.source;
  closeVersion();
  onEditorInput();
  refreshCode();
  ui.saveStatus.textContent = dirty ? `Version ${d.version} is in the editor. Save to make it the current version.` : `Version ${d.version} is the same as the current text.`;
  ui.editor.focus();
  ui.editor.setSelectionRange(0, 0);
}

// ---------------------------------------------------------------- preview

async function runPreview() {
  const cur = state.current;
  if (!cur) return;
  const since = ui.previewSince.value;
  const text = ui.editor.value;
  ui.preview.disabled = true;
  ui.preview.textContent = 'Running…';
  ui.previewResult.setAttribute('aria-busy', 'true');
  ui.previewResult.replaceChildren(h('p', { class: 'muted' }, `Replaying the last ${sinceLabel(since)} of events through this definition… (up to a minute)`));
  let res;
  try {
    res = await session.request('POST', `/v1/signals/preview?since=${encodeURIComponent(since)}`, { text });
  } catch (err) {
    const msg = netError(err, "Couldn't run the preview");
    ui.previewResult.replaceChildren(msg ? h('p', { class: 'form-error' }, msg) : '');
    return;
  } finally {
    ui.preview.disabled = !state.current;
    ui.preview.textContent = 'Run preview';
    ui.previewResult.setAttribute('aria-busy', 'false');
  }
  if (res.ok) {
    renderPreview(res.body, since);
  } else if (res.status === 404 || res.status === 405 || res.status === 501) {
    previewUnavailable('This server has no preview.', since, text);
  } else if (res.status === 503) {
    previewUnavailable(str(res.body.error) ? `${capitalize(str(res.body.error))}.` : 'This server does not run previews.', since, text);
  } else if (res.status === 422) {
    setProblems(problemsOf(res.body), 'previewed');
    ui.previewResult.replaceChildren(h('p', { class: 'form-error' }, 'The definition has problems; they are listed under the editor.'));
  } else {
    ui.previewResult.replaceChildren(h('p', { class: 'form-error' }, errorText(res, 'The preview failed')));
  }
}

function sinceLabel(since) {
  return { '24h': '24 hours', '7d': '7 days', '30d': '30 days' }[since] || since;
}

function previewUnavailable(why, since, text) {
  const id = (state.current && state.current.id) || idInText(text) || 'signal';
  const file = `${id}.yaml`;
  const cmd = `dowser signals backtest --signals ${file} --from-kafka --since ${since}`;
  const dl = h('button', { type: 'button', class: 'link-button', 'data-action': 'download' }, `Download ${file}`);
  dl.addEventListener('click', () => download(file, text));
  ui.previewResult.replaceChildren(
    h('p', null, `${why} Run the same backtest from a terminal that reaches Kafka:`),
    h('pre', { class: 'cmd' }, h('code', null, cmd)),
    h('p', { class: 'muted' }, dl, ' (the text in the editor)'),
  );
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/yaml' }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function renderPreview(r, since) {
  const alerts = num(r.alerts);
  const events = num(r.events);
  const out = [];
  out.push(
    h(
      'p',
      { class: 'preview-headline' },
      h('strong', null, numberFmt.format(alerts)),
      ` ${alerts === 1 ? 'alert' : 'alerts'} over the last ${sinceLabel(str(r.since) || since)}, from ${numberFmt.format(events)} events`,
      num(r.invalid) ? ` (${numberFmt.format(num(r.invalid))} invalid skipped)` : '',
      '.',
    ),
  );
  // A preview cut short by a server limit says which; its counts are partial.
  if (str(r.stopped)) out.push(h('p', { class: 'form-error' }, `Partial: ${str(r.stopped)}.`));
  if (num(r.where_stopped)) {
    out.push(h('p', { class: 'muted' }, `The where expression was stopped at its cost limit on ${numberFmt.format(num(r.where_stopped))} events; they did not match.`));
  }
  const byPriority = r.by_priority && typeof r.by_priority === 'object' ? r.by_priority : {};
  const byRep = r.by_rep && typeof r.by_rep === 'object' ? r.by_rep : {};
  const byDay = r.by_day && typeof r.by_day === 'object' ? r.by_day : {};

  const days = Object.keys(byDay).sort();
  if (days.length) {
    const max = Math.max(...days.map((d) => num(byDay[d])), 1);
    const chart = h('ol', { class: 'bars', 'aria-label': 'Alerts per day' });
    for (const d of days) {
      const fill = h('span', { class: 'bar-fill' });
      fill.style.width = `${Math.max(2, (num(byDay[d]) / max) * 100)}%`;
      chart.append(h('li', null, h('span', { class: 'bar-label' }, d), h('span', { class: 'bar' }, fill), h('span', { class: 'bar-value' }, numberFmt.format(num(byDay[d])))));
    }
    out.push(h('h3', { class: 'mini-heading' }, 'Per day'), chart);
  }
  const reps = Object.entries(byRep).sort((a, b) => num(b[1]) - num(a[1]));
  if (reps.length) {
    // Reps by name where the directory has one, the id on hover.
    const repNames = r.rep_names && typeof r.rep_names === 'object' ? r.rep_names : {};
    out.push(h('h3', { class: 'mini-heading' }, 'Per rep'), h('p', { class: 'chips' }, reps.map(([rep, n]) => h('span', { class: 'pill', title: rep || null }, `${str(repNames[rep]) || rep || 'nobody'}: ${numberFmt.format(num(n))}`))));
  }
  const prios = PRIORITIES.filter((p) => num(byPriority[p]));
  if (prios.length > 1) {
    out.push(h('p', { class: 'chips' }, prios.map((p) => h('span', { class: `badge badge-${p}` }, `${PRIORITY_LABEL[p]} ${num(byPriority[p])}`))));
  }
  const samples = Array.isArray(r.samples) ? r.samples.slice(0, 5) : [];
  if (samples.length) {
    const ul = h('ul', { class: 'samples' });
    for (const s of samples) {
      const names = { ...(r.account_names && typeof r.account_names === 'object' ? r.account_names : {}) };
      const repName = str(r.rep_names && r.rep_names[s.rep]) || str(s.rep);
      const who = str(names[s.account_id]) || str(s.subject);
      ul.append(h('li', null, h('span', { class: 'sample-msg' }, str(s.message) || str(s.subject)), h('span', { class: 'sample-meta muted', title: str(s.subject) || null }, [who, repName && `to ${repName}`].filter(Boolean).join(' · '), ' ', timeEl(s.time))));
    }
    out.push(h('h3', { class: 'mini-heading' }, alerts > samples.length ? `First ${samples.length}` : 'Alerts'), ul);
  }
  if (!alerts) out.push(h('p', { class: 'muted' }, 'It would have fired nothing. Loosen the match or the count, or try a longer period.'));
  ui.previewResult.replaceChildren(...out);
}

// ---------------------------------------------------------------- content owners

let contentLoaded = null;
async function lookupContent(ev) {
  ev.preventDefault();
  const id = ui.contentId.value.trim();
  if (!id) {
    ui.contentStatus.textContent = 'Enter a content id.';
    ui.contentId.focus();
    return;
  }
  ui.contentStatus.textContent = 'Looking up…';
  resetContentImpact();
  let res;
  try {
    res = await session.request('GET', `/v1/content/${encodeURIComponent(id)}`);
  } catch (err) {
    ui.contentStatus.textContent = netError(err, "Couldn't look it up") || '';
    return;
  }
  if (res.ok) {
    contentLoaded = id;
    ui.contentTitle.value = str(res.body.title);
    ui.contentURL.value = str(res.body.url_prefix);
    ui.contentOwner.value = str(res.body.owner);
    ui.contentTalk.value = str(res.body.talking_point);
    ui.contentFields.hidden = false;
    ui.contentStatus.textContent = res.body.owner ? `${id} is owned by ${res.body.owner}.` : `${id} has no owner: its alerts go to each signal's owner.`;
  } else if (res.status === 404) {
    contentLoaded = id;
    ui.contentTitle.value = '';
    ui.contentURL.value = '';
    ui.contentOwner.value = session.user && session.user.role === 'marketer' ? session.user.id : '';
    ui.contentTalk.value = '';
    ui.contentFields.hidden = false;
    ui.contentStatus.textContent = `There is no content item ${id}. Fill in the fields and save to create it.`;
  } else {
    ui.contentFields.hidden = true;
    ui.contentStatus.textContent = errorText(res, "Couldn't look it up");
  }
}

let searchTimer = 0;
let searchSeq = 0;

// searchContent lists the content items matching the search box, so that
// owners can be found without knowing ids.
async function searchContent() {
  const q = ui.contentSearch.value.trim();
  const seq = ++searchSeq;
  let res;
  try {
    res = await session.request('GET', `/v1/content?limit=20&q=${encodeURIComponent(q)}`);
  } catch (err) {
    if (seq === searchSeq) ui.contentResults.replaceChildren(h('li', { class: 'muted' }, netError(err, "Couldn't search") || ''));
    return;
  }
  if (seq !== searchSeq) return; // a newer search is under way
  if (!res.ok) {
    ui.contentResults.replaceChildren(h('li', { class: 'muted' }, errorText(res, "Couldn't search")));
    return;
  }
  const items = Array.isArray(res.body.content) ? res.body.content : [];
  if (!items.length) {
    ui.contentResults.replaceChildren(h('li', { class: 'muted' }, q ? `No content matches “${q}”.` : 'No content items yet.'));
    return;
  }
  ui.contentResults.replaceChildren(...items.map((c) => h('li', { 'data-id': str(c.id) },
    h('button', { type: 'button', class: 'link-button', 'data-id': str(c.id) }, str(c.id)),
    h('span', { class: 'content-result-title' }, str(c.title)),
    h('span', { class: c.owner ? 'content-result-owner' : 'content-result-owner muted' }, c.owner ? str(c.owner) : 'no owner'))));
}

function onContentSearchInput() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(searchContent, 250);
}

function onContentResultClick(ev) {
  const btn = ev.target.closest('button[data-id]');
  if (!btn) return;
  ui.contentId.value = btn.dataset.id;
  ui.contentForm.requestSubmit();
}

// contentConfirmed is the body the user has seen the reroute preview of
// and confirmed; any edit clears it.
let contentConfirmed = null;

function contentBody() {
  return { title: ui.contentTitle.value.trim(), url_prefix: ui.contentURL.value.trim(), owner: ui.contentOwner.value.trim(), talking_point: ui.contentTalk.value.trim() };
}

function resetContentImpact() {
  contentConfirmed = null;
  ui.contentImpact.hidden = true;
  ui.contentImpact.replaceChildren();
  ui.contentSave.textContent = 'Save content';
}

// showContentImpact lists whose alerts the change would reroute
// (POST /v1/content/{id}/impact), so that nobody reroutes alerts unseen.
function showContentImpact(impact) {
  const gain = (impact.gain || []).join(', ') || 'nobody';
  const lose = (impact.lose || []).join(', ') || 'nobody';
  const list = h('ul', { class: 'impact-list' });
  for (const a of impact.alerts || []) {
    list.append(h('li', { 'data-alert': str(a.id) },
      `${str(a.signal_id)} · ${str(a.account_id) || 'no account'} · ${(a.before || []).join(', ') || 'nobody'} → ${(a.after || []).join(', ') || 'nobody'}`));
  }
  ui.contentImpact.replaceChildren(
    h('p', { class: 'impact-summary' },
      `Saving would reroute ${impact.rerouted} of the last ${impact.alerts_examined} alerts: ${gain} would start receiving them, ${lose} would stop.`),
    list,
  );
  ui.contentImpact.dataset.rerouted = String(impact.rerouted);
  ui.contentImpact.hidden = false;
  ui.contentSave.textContent = 'Save and reroute';
}

async function saveContent() {
  const id = contentLoaded;
  if (!id) return;
  if (ui.contentId.value.trim() !== id) {
    ui.contentStatus.textContent = 'The id changed: look it up first.';
    return;
  }
  const body = contentBody();
  const path = `/v1/content/${encodeURIComponent(id)}`;
  if (JSON.stringify(body) !== contentConfirmed) {
    ui.contentStatus.textContent = 'Checking whose alerts this changes…';
    let res;
    try {
      res = await session.request('POST', `${path}/impact`, { json: body });
    } catch (err) {
      ui.contentStatus.textContent = netError(err, "Couldn't check the change") || '';
      return;
    }
    if (res.ok && res.body.rerouted > 0) {
      showContentImpact(res.body);
      contentConfirmed = JSON.stringify(body);
      ui.contentStatus.textContent = `Not saved yet: review whose alerts move, then choose “Save and reroute”.`;
      return;
    }
    // An older server has no preview (404, 503): save as before.
    if (!res.ok && res.status !== 404 && res.status !== 503) {
      ui.contentStatus.textContent = errorText(res, `Couldn't save ${id}`);
      return;
    }
  }
  ui.contentStatus.textContent = 'Saving…';
  let res;
  try {
    res = await session.request('PUT', path, { json: body });
  } catch (err) {
    ui.contentStatus.textContent = netError(err, "Couldn't save") || '';
    return;
  }
  if (res.ok) resetContentImpact();
  ui.contentStatus.textContent = res.ok ? `Saved ${id}.` : errorText(res, `Couldn't save ${id}`);
}

// ---------------------------------------------------------------- events

function wireEvents() {
  ui.newSignal.addEventListener('click', newSignal);
  ui.tbody.addEventListener('click', onListClick);
  ui.tbody.addEventListener('keydown', onListKey);

  ui.editor.addEventListener('input', onEditorInput);
  ui.editor.addEventListener('scroll', syncScroll);
  ui.save.addEventListener('click', save);
  ui.revert.addEventListener('click', revert);
  ui.enabled.addEventListener('click', toggleEnabled);
  ui.problems.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button.problem-jump');
    if (!btn) return;
    const loc = state.problemLines[Number(btn.dataset.index)];
    if (loc) jumpToLine(loc.line);
  });

  ui.preview.addEventListener('click', runPreview);

  ui.history.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button.history-item');
    if (btn) openVersion(Number(btn.dataset.version), btn);
  });
  ui.versionShowSource.addEventListener('click', () => showVersionSource(false));
  ui.versionShowDiff.addEventListener('click', () => showVersionSource(true));
  ui.versionClose.addEventListener('click', closeVersion);
  ui.versionRestore.addEventListener('click', restoreVersion);
  ui.dialog.addEventListener('close', () => {
    if (dialogOpener && document.contains(dialogOpener)) dialogOpener.focus();
    dialogOpener = null;
  });

  ui.impactBody.addEventListener('click', (ev) => {
    const btn = ev.target.closest('#suggestion-try');
    if (btn) trySuggestion(btn);
  });
  ui.modeYAML.addEventListener('click', () => setFormMode(false));
  ui.modeForm.addEventListener('click', () => setFormMode(true));
  ui.signalFormBody.addEventListener('input', onFormInput);
  ui.signalFormBody.addEventListener('click', onFormClick);
  ui.contentForm.addEventListener('submit', lookupContent);
  ui.contentSearch.addEventListener('input', onContentSearchInput);
  ui.contentResults.addEventListener('click', onContentResultClick);
  ui.feedbackWeeks.addEventListener('change', changeWeeks);
  ui.reasonForm.addEventListener('submit', addReason);
  ui.reasons.addEventListener('click', onReasonsClick);
  ui.reasons.addEventListener('change', onReasonKind);
  setInterval(refreshCounts, REFRESH_MS);
  ui.contentSave.addEventListener('click', saveContent);
  for (const input of [ui.contentTitle, ui.contentURL, ui.contentOwner, ui.contentTalk]) input.addEventListener('input', resetContentImpact);

  document.addEventListener('keydown', (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && !ev.altKey && ev.key.toLowerCase() === 's' && document.body.dataset.view === 'console') {
      ev.preventDefault();
      save();
    }
  });
  window.addEventListener('beforeunload', (ev) => {
    if (dirty) ev.preventDefault();
  });
  window.addEventListener('hashchange', () => {
    const id = hashSignal();
    if (id && session.user && state.signals.has(id) && (!state.current || state.current.id !== id)) openSignal(id, true);
  });
  document.addEventListener('visibilitychange', async () => {
    if (document.visibilityState !== 'visible' || !session.user || !isMarketing(session.user.role)) return;
    try {
      await loadAll();
    } catch {
      /* shown on the next action */
    }
  });
}

boot();
