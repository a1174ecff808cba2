// Dowser live alert panel.
//
// Plain ES module, no dependencies, no build step. Everything rendered from
// server data goes through textContent / createElement; never innerHTML.
//
// Contract (see web/doc.go): /v1/session for sign-in, through session.js as
// in the signals console; /v1/stream websocket for alerts; GET /v1/alerts
// for history. The first hello's last_seq splits the two: the page lists
// the newest page of history over REST (and older pages on "Load older
// alerts") and resumes the stream after last_seq, so the whole history is
// never replayed. On every later (re)connect the page sends
// {"op":"resume","after":maxSeq} where maxSeq is the highest seq it knows,
// and drops any seq or alert id it has already seen, so nothing is missed
// and nothing is shown twice. Filters are the API's (account, signal,
// priority, dates, state): a change lists again, and live alerts are held
// to the same filters here.

import { registerServiceWorker, showNotification, initSound, playSound } from './pwa.js'; // installable app, OS notifications, sound
import { $, h, svgIcon, str, capitalize } from './dom.js';
import { Session, SessionEnded, showView, isMarketing } from './session.js';
import { TeamView } from './team.js';
import { ChannelsView } from './channels.js'; // the user's channels and their deliveries (#16)
import { handoffBlock } from './handoff.js'; // stages: accept or reject an alert's handoff (docs/stages.md)
import { openJourney } from './journey.js';

const PRIORITIES = ['urgent', 'high', 'medium', 'low'];
const PRIORITY_LABEL = { urgent: 'Urgent', high: 'High', medium: 'Medium', low: 'Low' };
const VERDICTS = [
  ['useful', 'Useful'],
  ['not_useful', 'Not useful'],
  ['won', 'Won'],
];
const EVENT_LABEL = {
  page_view: 'Viewed page',
  webinar_signup: 'Signed up for webinar',
  webinar_attended: 'Attended webinar',
  support_email: 'Emailed support',
  form_submit: 'Submitted form',
  identify: 'Identified',
};

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 30_000;
const HELLO_GRACE_MS = 2_000; // send resume anyway if no hello arrives by then
const REPLAY_SETTLE_MS = 1_500; // without a hello, replay is over after this quiet gap
const REPLAY_STALL_MS = 5_000; // with a hello, give up waiting for last_seq after this gap
const STABLE_MS = 10_000; // a connection that lived this long resets the backoff
const HIGHLIGHT_MS = 8_000;
const ANNOUNCE_BATCH_MS = 700;
const EVIDENCE_PREVIEW = 5;
const REMEMBER_MAX = 5_000;
const PAGE_SIZE = pageSize();
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout's limit
const SNOOZES = [
  ['hour', 'For 1 hour'],
  ['tomorrow', 'Until tomorrow, 9:00'],
  ['week', 'Until Monday, 9:00'],
];
const STATES = ['', 'new', 'acked', 'verdict', 'snoozed'];
const PREFS_KEY = 'dowser.panel.prefs.v1';
const MEMORY_KEY = 'dowser.panel.memory.v1:';

// ---------------------------------------------------------------- DOM refs

const ui = {
  conn: $('conn'),
  connText: $('conn-text'),
  retry: $('retry'),
  notify: $('notify'),
  heading: $('alerts-heading'),
  unacked: $('unacked'),
  filters: $('filters'),
  search: $('search'),
  fAccount: $('f-account'),
  accountOptions: $('account-options'),
  fSignal: $('f-signal'),
  fState: $('f-state'),
  fFrom: $('f-from'),
  fTo: $('f-to'),
  fClear: $('f-clear'),
  loadMore: $('load-more'),
  list: $('alerts'),
  alertsLoading: $('alerts-loading'),
  empty: $('empty'),
  noMatch: $('no-match'),
  showAll: $('show-all'),
  notice: $('notice'),
  noticeText: $('notice-text'),
  noticeClose: $('notice-close'),
  live: $('live'),
};

// ---------------------------------------------------------------- state

const state = {
  memory: {}, // alert id -> {a: 1 (acked), v: verdict}; per user, in localStorage
  prefs: loadPrefs(),

  records: new Map(), // alert id -> record
  seqs: new Set(), // every seq rendered
  order: [], // records, newest first (event time desc, then seq desc)
  maxSeq: 0,

  // Initial replay: alerts up to quietUpTo (from the first hello) are history,
  // rendered without highlight, announcement or notification.
  greeted: false,
  quietUpTo: -1,
  loaded: false,
  settleTimer: 0,

  conn: null, // current connection {ws, gen, greeted, resumed, helloTimer}
  gen: 0,
  attempt: 0,
  everConnected: false,
  reconnectTimer: 0,
  connState: 'offline',

  outbox: new Map(), // 'ack:<id>' | 'fb:<id>' -> frame; resent on reconnect until confirmed

  // History over REST: the listing's generation (a newer one drops older
  // answers), whether the first hello started it, the cursor of the next
  // older page (null on the last), and a page being fetched.
  listGen: 0,
  viaList: false,
  next: null,
  listing: false,
  accounts: new Map(), // account id -> name, from the alerts seen
  crm: { account_url: '', contact_url: '' },

  // Team view and verdict reasons (#15): the reasons by id ({label,
  // kinds}: the verdicts each fits), and the server's count of the user's
  // unacknowledged alerts (null until read), which the header shows
  // whatever pages are loaded.
  reasons: new Map(),
  unackedTotal: null,
};

let cardCounter = 0;

// ---------------------------------------------------------------- helpers

const ICON_PATHS = {
  page_view: ['M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z', 'M14 3v5h5', 'M9 13h6M9 17h4'],
  webinar_signup: ['M5 5h14a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2z', 'M16 3v4M8 3v4M3 10h18', 'M12 13v5M9.5 15.5h5'],
  webinar_attended: ['M3 7a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z', 'M16 10l5-3v10l-5-3'],
  support_email: ['M4 5h16a1 1 0 0 1 1 1v12a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1z', 'M3 7l9 6 9-6'],
  form_submit: ['M5 3h14a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z', 'M8 12l3 3 5-6'],
  identify: ['M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M4 21a8 8 0 0 1 16 0'],
  event: ['M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8z'],
  clock: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M12 7v5l3 2'],
  check: ['M5 12.5l4.5 4.5L19 7.5'],
};

function icon(name, cls = 'icon') {
  return svgIcon(ICON_PATHS[name] || ICON_PATHS.event, cls);
}

function humanizeType(t) {
  return capitalize(str(t).replace(/[_-]+/g, ' ').trim()) || 'Event';
}

function parseTime(s) {
  const t = Date.parse(str(s));
  return Number.isFinite(t) ? t : NaN;
}

// Only http(s) URLs become links; anything else (javascript:, data:) is text.
function safeURL(u) {
  u = str(u).trim();
  if (!u) return null;
  try {
    const url = new URL(u);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : null;
  } catch {
    return null;
  }
}

function prettyURL(url) {
  const path = url.pathname === '/' ? '' : url.pathname;
  return url.host + path + url.search;
}

const absoluteFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const dayYearFmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });

function relativeTime(ms, now = Date.now()) {
  if (!Number.isFinite(ms)) return 'unknown time';
  const s = Math.round((now - ms) / 1000);
  if (s < -90) {
    const m = Math.round(-s / 60);
    return m < 60 ? `in ${m} min` : absoluteFmt.format(ms);
  }
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const hr = Math.round(m / 60);
  if (hr < 24) return `${hr} hr ago`;
  const d = Math.round(hr / 24);
  if (d === 1) return 'yesterday';
  if (d < 7) return `${d} days ago`;
  const sameYear = new Date(ms).getFullYear() === new Date(now).getFullYear();
  return (sameYear ? dayFmt : dayYearFmt).format(ms);
}

function timeEl(ms, raw, cls) {
  const el = h('time', { class: cls });
  if (Number.isFinite(ms)) {
    el.dateTime = new Date(ms).toISOString();
    el.title = absoluteFmt.format(ms);
  } else if (raw) {
    el.title = str(raw);
  }
  el.textContent = relativeTime(ms);
  el._ms = ms;
  return el;
}

function storageGet(key) {
  try {
    return JSON.parse(localStorage.getItem(key) || 'null');
  } catch {
    return null;
  }
}

function storageSet(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    /* storage full or disabled: preferences just won't persist */
  }
}

function loadPrefs() {
  const p = storageGet(PREFS_KEY) || {};
  const priorities = Array.isArray(p.priorities) ? p.priorities.filter((x) => PRIORITIES.includes(x)) : PRIORITIES.slice();
  const q = p.query && typeof p.query === 'object' ? p.query : {};
  const day = (v) => (/^\d{4}-\d{2}-\d{2}$/.test(str(v)) ? str(v) : '');
  const query = {
    account: str(q.account),
    accountQ: q.account ? '' : str(q.accountQ),
    signal: str(q.signal),
    // "Hide acknowledged" of earlier versions is the state "new".
    state: STATES.includes(q.state) ? q.state : p.hideAcked ? 'new' : '',
    from: day(q.from),
    to: day(q.to),
  };
  return { priorities, query, notify: !!p.notify };
}

// pageSize is how many alerts a page lists: ?page_size=N (1-200) on the
// panel's URL, else 50.
function pageSize() {
  const n = Number(new URLSearchParams(location.search).get('page_size'));
  return Number.isInteger(n) && n >= 1 && n <= 200 ? n : 50;
}

function savePrefs() {
  storageSet(PREFS_KEY, state.prefs);
}

// ---------------------------------------------------------------- session

const session = new Session({
  signInTitle: 'Sign in · Dowser',
  onUser: loadUser,
  onStart: startSession,
  onEnd: endSession,
});

// The team view of managers (#15), in team.js.
const team = new TeamView({ session, reasonLabel: (id) => reasonLabel(id) });
// ---- Channels (#16), in channels.js: where alerts go besides the panel.
const channels = new ChannelsView({ session, onOpen: () => team.isOpen && team.close() });
// ---- end channels

function boot() {
  registerServiceWorker(); // pwa.js
  initSound(); // pwa.js
  wireEvents();
  applyPrefsToControls();
  session.boot();
}

function loadUser(user) {
  // Marketers and admins tune signals in the console.
  $('console-link').hidden = !isMarketing(user.role);
  state.memory = storageGet(MEMORY_KEY + user.id) || {};
}

function startSession(user, focusPanel) {
  showView('panel');
  team.start(user);
  channels.start(user); // channels (#16)
  refreshSummary();
  updateNotifyButton();
  if (focusPanel) ui.heading.focus();
  connect();
  queueUnacked();
  loadSignals();
  loadCRM();
  loadReasons();
}

// loadSignals fills the signal filter with the signals' names.
async function loadSignals() {
  let res;
  try {
    res = await session.request('GET', '/v1/signals');
  } catch {
    return;
  }
  if (!res.ok || !Array.isArray(res.body.signals)) return;
  const keep = state.prefs.query.signal;
  const opts = [h('option', { value: '' }, 'Any signal')];
  const seen = new Set();
  for (const sg of res.body.signals) {
    const id = str(sg && sg.id);
    if (!id || seen.has(id)) continue;
    seen.add(id);
    const name = str(sg.document && sg.document.name) || id;
    opts.push(h('option', { value: id, title: id }, name === id ? id : `${name}`));
  }
  if (keep && !seen.has(keep)) opts.push(h('option', { value: keep }, keep));
  ui.fSignal.replaceChildren(...opts);
  ui.fSignal.value = keep;
}

// loadCRM reads the CRM link templates, for the cards of live alerts.
async function loadCRM() {
  try {
    const res = await session.request('GET', '/v1/crm');
    if (res.ok) state.crm = { account_url: str(res.body.account_url), contact_url: str(res.body.contact_url) };
  } catch {
    /* no links */
  }
}

function endSession() {
  team.stop();
  channels.stop(); // channels (#16)
  state.unackedTotal = null;
  stopStream();
  resetAlerts();
  state.accounts.clear();
  state.memory = {};
  state.outbox.clear();
}

// ---------------------------------------------------------------- stream

function streamURL() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/v1/stream`;
}

function connect() {
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = 0;
  if (!session.user) return;
  if (state.conn && state.conn.ws.readyState <= WebSocket.OPEN) return; // already connecting or open
  if (navigator.onLine === false) {
    setConn('offline');
    return;
  }
  setConn('connecting');
  let ws;
  try {
    ws = new WebSocket(streamURL());
  } catch {
    scheduleReconnect();
    return;
  }
  const conn = { ws, gen: ++state.gen, greeted: false, resumed: false, helloTimer: 0, openedAt: 0 };
  state.conn = conn;

  ws.addEventListener('open', () => {
    if (conn !== state.conn) return;
    state.everConnected = true;
    conn.openedAt = Date.now();
    setConn('connected');
    conn.helloTimer = setTimeout(() => sendResume(conn), HELLO_GRACE_MS);
  });
  ws.addEventListener('message', (ev) => {
    if (conn !== state.conn) return;
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (msg && typeof msg === 'object') onFrame(conn, msg);
  });
  ws.addEventListener('close', () => onClose(conn));
}

function send(conn, frame) {
  if (!conn || conn.ws.readyState !== WebSocket.OPEN) return false;
  try {
    conn.ws.send(JSON.stringify(frame));
    return true;
  } catch {
    return false;
  }
}

function sendResume(conn) {
  if (conn !== state.conn || conn.resumed) return;
  clearTimeout(conn.helloTimer);
  if (!send(conn, { op: 'resume', after: state.maxSeq })) return;
  conn.resumed = true;
  if (!state.loaded && !state.viaList) armSettle();
  for (const frame of state.outbox.values()) send(conn, frame);
}

async function onClose(conn) {
  clearTimeout(conn.helloTimer);
  if (conn !== state.conn) return;
  state.conn = null;
  if (!session.user) return;
  if (conn.greeted && Date.now() - conn.openedAt >= STABLE_MS) state.attempt = 0;
  if (!conn.greeted) {
    // The upgrade may have been refused because the session ended.
    try {
      await session.request('GET', '/v1/session');
    } catch (err) {
      if (err instanceof SessionEnded) return;
      /* network trouble: keep retrying */
    }
    if (!session.user || state.conn) return;
  }
  scheduleReconnect();
}

function scheduleReconnect() {
  clearTimeout(state.reconnectTimer);
  if (!session.user) return;
  if (navigator.onLine === false) {
    setConn('offline');
    return; // the 'online' event reconnects
  }
  // Capped exponential backoff with "equal jitter": half fixed, half random.
  const exp = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** state.attempt);
  const delay = exp / 2 + Math.random() * (exp / 2);
  state.attempt++;
  setConn('connecting', Date.now() + delay);
  state.reconnectTimer = setTimeout(connect, delay);
}

function reconnectNow() {
  if (!session.user) return;
  state.attempt = 0;
  if (state.conn && state.conn.ws.readyState <= WebSocket.OPEN) return;
  connect();
}

function stopStream() {
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = 0;
  const conn = state.conn;
  state.conn = null;
  if (conn) {
    clearTimeout(conn.helloTimer);
    try {
      conn.ws.close(1000, 'bye');
    } catch {
      /* already closed */
    }
  }
  state.attempt = 0;
  state.everConnected = false;
  setConn('offline');
}

function setConn(s, retryAt) {
  state.connState = s;
  ui.conn.dataset.state = s;
  let text;
  let title;
  if (s === 'connected') {
    text = 'Connected';
    title = 'Live: new alerts appear here the moment they fire';
  } else if (s === 'connecting') {
    text = state.everConnected ? 'Reconnecting…' : 'Connecting…';
    title = retryAt ? `Connection lost. Next attempt at ${new Date(retryAt).toLocaleTimeString()}` : 'Connecting to Dowser';
  } else {
    text = 'Offline';
    title = navigator.onLine === false ? 'No network connection. Dowser reconnects when it is back.' : 'Not connected';
  }
  if (ui.connText.textContent !== text) ui.connText.textContent = text;
  ui.conn.title = title;
  ui.retry.hidden = !session.user || s === 'connected' || (s === 'connecting' && state.attempt < 3);
}

function onFrame(conn, msg) {
  if (state.connState !== 'connected') setConn('connected');
  switch (msg.op) {
    case 'hello':
      onHello(conn, msg);
      break;
    case 'alert':
      // A replayed alert carries what this user already did with it.
      onAlert(msg.seq, msg.alert && typeof msg.alert === 'object'
        ? { ...msg.alert, acked: msg.acked === true || msg.alert.acked, verdict: msg.verdict ?? msg.alert.verdict, person: msg.person }
        : msg.alert);
      break;
    case 'acked':
      onAcked(str(msg.id));
      break;
    case 'feedback_saved':
      onFeedbackSaved(str(msg.id), str(msg.verdict));
      break;
    case 'verdict':
      onVerdictNews(msg);
      team.onVerdict(msg);
      break;
    case 'acknowledged':
      onAckNews(msg);
      team.onVerdict(msg);
      break;
    case 'error':
      showNotice(`The server reported a problem: ${str(msg.error) || 'unknown error'}`);
      break;
    default:
      break; // unknown ops are ignored so the server can add new ones
  }
}

function onHello(conn, msg) {
  conn.greeted = true;
  const lastSeq = Number.isFinite(msg.last_seq) ? msg.last_seq : null;
  if (msg.user && session.user && str(msg.user) !== session.user.id) {
    // Signed in as someone else in another tab: start over for that user.
    resetAlerts();
    session.refresh();
  } else if (lastSeq !== null && lastSeq < state.maxSeq) {
    // The server's history is behind what we rendered (e.g. it was reset):
    // start over so new alerts are not skipped.
    resetAlerts();
  }
  if (!state.greeted) {
    state.greeted = true;
    if (lastSeq !== null) {
      // History up to last_seq comes over REST, a page at a time; the
      // stream carries what comes after.
      state.quietUpTo = lastSeq;
      state.maxSeq = Math.max(state.maxSeq, lastSeq);
      state.viaList = true;
      relist();
    }
  }
  sendResume(conn);
}

// Ends the "loading" state when the replay stalls: normally it ends when the
// seq announced by hello has arrived, but alerts may have gaps.
function armSettle() {
  clearTimeout(state.settleTimer);
  state.settleTimer = setTimeout(markLoaded, state.quietUpTo >= 0 ? REPLAY_STALL_MS : REPLAY_SETTLE_MS);
}

function markLoaded() {
  clearTimeout(state.settleTimer);
  ui.list.setAttribute('aria-busy', 'false');
  if (state.loaded) return;
  state.loaded = true;
  if (state.quietUpTo < 0) state.quietUpTo = state.maxSeq;
  queueSummary();
}

// ---------------------------------------------------------------- history over REST

// alertsPath is GET /v1/alerts with the filters, for the page after cursor.
function alertsPath(cursor) {
  const q = state.prefs.query;
  const p = new URLSearchParams({ mine: 'true', limit: String(PAGE_SIZE) });
  if (q.account) p.set('account', q.account);
  else if (q.accountQ) p.set('account_q', q.accountQ);
  if (q.signal) p.set('signal', q.signal);
  if (q.state) p.set('state', q.state);
  if (state.prefs.priorities.length < PRIORITIES.length) p.set('priority', state.prefs.priorities.join(','));
  const { from, to } = dayRange();
  if (from) p.set('from', new Date(from).toISOString());
  if (to) p.set('to', new Date(to).toISOString());
  if (cursor) p.set('cursor', cursor);
  return `/v1/alerts?${p}`;
}

// dayRange turns the From and To days into [from, to) in milliseconds: from
// the start of From to the end of To, in the browser's time zone.
function dayRange() {
  const q = state.prefs.query;
  const start = (d) => (d ? new Date(`${d}T00:00:00`).getTime() : NaN);
  const from = start(q.from);
  let to = start(q.to);
  if (Number.isFinite(to)) {
    const d = new Date(to);
    d.setDate(d.getDate() + 1);
    to = d.getTime();
  }
  return { from: Number.isFinite(from) ? from : 0, to: Number.isFinite(to) ? to : 0 };
}

// relist drops the alerts shown and lists the newest page under the
// filters. Live alerts that arrive meanwhile stay: the page merges.
async function relist() {
  const gen = ++state.listGen;
  clearList();
  state.next = null;
  ui.list.setAttribute('aria-busy', 'true');
  await loadPage(gen, null);
  if (gen === state.listGen) markLoaded();
}

// loadOlder lists the next older page.
async function loadOlder() {
  if (state.listing || !state.next) return;
  await loadPage(state.listGen, state.next);
}

async function loadPage(gen, cursor) {
  state.listing = true;
  updateMore();
  try {
    const res = await session.request('GET', alertsPath(cursor));
    if (gen !== state.listGen) return;
    if (!res.ok) {
      showNotice(`Could not list alerts: ${str(res.body.error) || `status ${res.status}`}`);
      return;
    }
    for (const la of Array.isArray(res.body.alerts) ? res.body.alerts : []) {
      if (!la || typeof la !== 'object' || !la.alert || typeof la.alert !== 'object') continue;
      onListed(la);
    }
    state.next = typeof res.body.next === 'string' && res.body.next ? res.body.next : null;
  } catch (err) {
    if (err instanceof SessionEnded) return;
    if (gen === state.listGen) showNotice('Could not list alerts: the server did not answer. Reload to try again.');
  } finally {
    if (gen === state.listGen) {
      state.listing = false;
      updateMore();
      queueSummary();
    }
  }
}

function onListed(la) {
  const a = { ...la.alert, acked: la.acked === true, verdict: la.verdict, reason: la.reason, note: la.note, value: la.value, snoozed_until: la.snoozed_until, links: la.links, person: la.person };
  const seq = Number(la.seq) || 0;
  const id = str(a.id);
  const old = id && state.records.get(id);
  if (old) return; // arrived live meanwhile
  addAlert(seq, a, true);
}

function updateMore() {
  ui.loadMore.hidden = !state.next;
  ui.loadMore.disabled = state.listing;
  ui.loadMore.textContent = state.listing && state.next ? 'Loading…' : 'Load older alerts';
}

function isQuiet(seq) {
  return state.quietUpTo >= 0 ? seq <= state.quietUpTo : !state.loaded;
}

// ---------------------------------------------------------------- alerts

function normPriority(p) {
  p = str(p).toLowerCase();
  return PRIORITIES.includes(p) ? p : 'medium';
}

function onAlert(rawSeq, alert) {
  const seq = Number(rawSeq);
  if (!Number.isFinite(seq) || !alert || typeof alert !== 'object' || typeof alert.id !== 'string' || !alert.id) return;
  if (seq > state.maxSeq) state.maxSeq = seq;
  if (state.viaList && !matches(alert)) return; // the listing under these filters would not show it
  const rec = addAlert(seq, alert, false) || escalated(seq, alert);
  if (!rec) return;
  if (!state.loaded && !state.viaList) {
    if (state.quietUpTo >= 0 && state.maxSeq >= state.quietUpTo) markLoaded();
    else armSettle();
  }
  if (!isQuiet(seq)) {
    arrived(rec);
    if (!rec.acked) bumpUnacked(1);
    team.changed();
    channels.changed(); // its deliveries follow (#16)
  }
}

// addAlert renders an alert not shown yet; null when it is.
function addAlert(seq, alert, listed) {
  if ((seq > 0 && state.seqs.has(seq)) || state.records.has(alert.id)) return null;
  if (seq > 0) state.seqs.add(seq);
  const rec = makeRecord(seq, alert);
  rec.listed = listed;
  state.records.set(rec.id, rec);
  const acc = str(alert.account_id);
  if (acc && !state.accounts.has(acc)) {
    state.accounts.set(acc, str(alert.account_name));
    ui.accountOptions.append(h('option', { value: acc }, str(alert.account_name) || acc));
  }
  rec.el = buildCard(rec);
  insertRecord(rec);
  applyVisibility(rec);
  armSnoozeTimer(rec);
  queueSummary();
  return rec;
}

// escalated updates the card of an alert shown already that comes again
// with more follow-up steps (docs/delivery.md, Follow-up rules): it is the
// escalation reaching this user. null when nothing is new.
function escalated(seq, alert) {
  const rec = state.records.get(alert.id);
  const steps = (a) => (Array.isArray(a.escalations) ? a.escalations.length : 0);
  if (!rec || (seq > 0 && state.seqs.has(seq)) || steps(alert) <= steps(rec.alert)) return null;
  if (seq > 0) state.seqs.add(seq);
  rec.alert = { ...rec.alert, escalations: alert.escalations };
  const old = rec.el;
  rec.times = [];
  rec.fbBtns = [];
  rec.el = buildCard(rec);
  old.replaceWith(rec.el);
  applyVisibility(rec);
  return rec;
}

// escalationText says where an alert's follow-up took it: "mgr-max at
// 10:56; rep-ben at 11:12"; "" for no step.
function escalationText(a) {
  if (!Array.isArray(a.escalations)) return '';
  return a.escalations
    .filter((e) => e && typeof e === 'object')
    .map((e) => {
      const to = Array.isArray(e.to) && e.to.length ? e.to.map(str).join(', ') : `nobody (${str(e.kind)})`;
      const t = parseTime(e.at);
      return Number.isFinite(t) ? `${to} at ${new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}` : to;
    })
    .join('; ');
}

// matches holds an alert to the filters as GET /v1/alerts does.
function matches(a) {
  const q = state.prefs.query;
  if (q.account && str(a.account_id) !== q.account) return false;
  if (q.accountQ && !accountMatches(a, q.accountQ)) return false;
  if (q.signal && str(a.signal_id) !== q.signal) return false;
  if (!state.prefs.priorities.includes(normPriority(a.priority))) return false;
  const { from, to } = dayRange();
  const t = parseTime(a.time);
  if (from && !(t >= from)) return false;
  if (to && !(t < to)) return false;
  return true;
}

function makeRecord(seq, a) {
  const mem = state.memory[a.id] || {};
  const serverVerdict = typeof a.feedback === 'object' && a.feedback ? a.feedback.verdict : a.feedback ?? a.verdict;
  const verdict = VERDICTS.some(([v]) => v === serverVerdict) ? serverVerdict : mem.v || '';
  const received = Date.now();
  const t = parseTime(a.time);
  return {
    id: a.id,
    seq,
    alert: a,
    priority: normPriority(a.priority),
    t: Number.isFinite(t) ? t : received,
    acked: a.acked === true || !!str(a.acked_at) || mem.a === 1 || VERDICTS.some(([v]) => v === serverVerdict),
    ackPending: false,
    snoozedUntil: parseTime(a.snoozed_until) || 0,
    snoozeTimer: 0,
    verdict,
    verdictPending: false,
    reason: verdict ? str(a.reason) : '',
    // A win's opportunity value and the verdict's note: listed with the
    // alert, given here, or (the value) told by the stream (#15).
    value: verdict === 'won' && Number.isFinite(a.value) ? a.value : null,
    note: verdict ? str(a.note) : '',
    others: new Map(), // user id -> {verdict, reason}: followed reps' verdicts
    el: null,
    ackBtn: null,
    fbBtns: [],
    times: [],
  };
}

// newest first: event time desc, then seq desc
function before(a, b) {
  return a.t !== b.t ? a.t > b.t : a.seq > b.seq;
}

function insertRecord(rec) {
  const order = state.order;
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (before(order[mid], rec)) lo = mid + 1;
    else hi = mid;
  }
  order.splice(lo, 0, rec);
  const next = order[lo + 1];
  ui.list.insertBefore(rec.el, next ? next.el : null);
}

// clearList forgets the alerts shown, but not where the stream stands.
function clearList() {
  for (const rec of state.order) clearTimeout(rec.snoozeTimer);
  state.records.clear();
  state.seqs.clear();
  state.order = [];
  pendingArrivals = [];
  ui.list.replaceChildren();
  queueSummary();
}

function resetAlerts() {
  clearList();
  state.listGen++;
  state.viaList = false;
  state.next = null;
  state.listing = false;
  updateMore();
  state.maxSeq = 0;
  state.greeted = false;
  state.quietUpTo = -1;
  state.loaded = false;
  clearTimeout(state.settleTimer);
  pendingArrivals = [];
  ui.list.replaceChildren();
  ui.list.setAttribute('aria-busy', 'true');
  queueSummary();
}

function buildCard(rec) {
  const a = rec.alert;
  const n = ++cardCounter;
  const msgId = `alert-msg-${n}`;
  const li = h('li', {
    class: 'alert',
    'data-id': rec.id,
    'data-seq': String(rec.seq),
    'data-priority': rec.priority,
    'aria-labelledby': msgId,
    tabindex: '-1',
  });

  // Head: priority, signal, time
  const badge = h('span', { class: `badge badge-${rec.priority}` }, capitalize(str(a.priority)) || PRIORITY_LABEL[rec.priority], h('span', { class: 'sr-only' }, ' priority'));
  const signalName = str(a.signal_name) || str(a.signal_id) || 'Signal';
  const sigTitle = [
    a.signal_id ? `${str(a.signal_id)}${a.signal_version ? ` v${str(a.signal_version)}` : ''}` : '',
    a.signal_owner ? `owned by ${str(a.signal_owner)}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const signal = h('span', { class: 'signal', title: sigTitle || null }, h('span', { class: 'sr-only' }, 'Signal: '), signalName);
  const when = timeEl(rec.t, a.time, 'when');
  rec.times.push(when);
  const head = h('div', { class: 'alert-head' }, badge, signal, h('span', { class: 'new-tag', 'aria-hidden': 'true' }, 'New'), when);

  // Message
  const message = h('h2', { class: 'message', id: msgId }, str(a.message) || signalName);

  // Who: names where Dowser knows them, ids on hover; the person by their
  // name, title and e-mail where --contact-identity and their consent
  // allow (the server sends `person` only then), else by their customer
  // id (docs/privacy.md), with a link to the CRM's record when one is
  // configured.
  const meta = h('dl', { class: 'meta' });
  const addMeta = (label, value, cls) => {
    if (!value) return;
    meta.append(h('div', { class: cls || null }, h('dt', null, label), h('dd', null, value)));
  };
  const links = crmLinks(a);
  const accountID = str(a.account_id);
  const accountName = str(a.account_name) || state.accounts.get(accountID) || '';
  if (accountID) {
    const label = accountName || accountID;
    const title = accountName ? `Account id: ${accountID}` : null;
    const safe = safeURL(links.crm_account);
    addMeta('Account', safe ? h('a', { class: 'crm-link account-name', href: safe.href, target: '_blank', rel: 'noopener noreferrer', title: title ? `${title} · open in CRM` : 'Open in CRM' }, label) : h('span', { class: 'account-name', title }, label), 'meta-account');
  }
  const customer = str(a.customer_id);
  if (customer) {
    const safe = safeURL(links.crm_contact);
    addMeta('Customer', h('span', null, ...personParts(customer, a.person), safe ? ' ' : null, safe ? h('a', { class: 'crm-link contact-link', href: safe.href, target: '_blank', rel: 'noopener noreferrer', title: `Open ${customer} in CRM` }, 'Who is this?') : null), 'meta-customer');
  }
  const rep = str(a.rep);
  if (rep) addMeta('Rep', h('span', { class: 'rep-name', title: `User id: ${rep}` }, str(a.rep_name) || rep), 'meta-rep');
  const esc = escalationText(a);
  if (esc) addMeta('Escalated to', h('span', { class: 'escalated' }, esc), 'meta-escalated');
  addMeta('Lifecycle', capitalize(str(a.lifecycle)));
  if (!a.account_id && !a.customer_id) addMeta('Subject', str(a.subject));

  // Evidence
  const evidence = Array.isArray(a.evidence) ? a.evidence.filter((e) => e && typeof e === 'object') : [];
  let evidenceBlock = null;
  if (evidence.length) {
    const items = evidence
      .map((ev, i) => ({ ev, i, t: parseTime(ev.time) }))
      .sort((x, y) => (Number.isFinite(x.t) && Number.isFinite(y.t) && x.t !== y.t ? x.t - y.t : x.i - y.i));
    const ol = h('ol', { class: 'timeline' });
    const hiddenCount = Math.max(0, items.length - EVIDENCE_PREVIEW);
    items.forEach(({ ev, t }, i) => {
      const item = evidenceItem(ev, t, a, rec);
      if (i < hiddenCount) item.hidden = true;
      ol.append(item);
    });
    const total = Number.isFinite(a.count) && a.count > 0 ? a.count : evidence.length;
    const label = h('h3', { class: 'ev-heading' }, `Evidence · ${total} ${total === 1 ? 'event' : 'events'}`);
    evidenceBlock = h('div', { class: 'evidence' }, label);
    if (hiddenCount) {
      evidenceBlock.append(
        h('button', { type: 'button', class: 'link-button more', 'data-action': 'more', 'aria-expanded': 'false' }, `Show ${hiddenCount} earlier ${hiddenCount === 1 ? 'event' : 'events'}`),
      );
    }
    evidenceBlock.append(ol);
  }

  // Actions
  rec.ackBtn = h('button', { type: 'button', class: 'ack', 'data-action': 'ack' }, icon('check', 'icon ack-icon'), h('span', { class: 'ack-label' }, 'Acknowledge'));
  const menu = h('div', { class: 'snooze-menu', role: 'group', 'aria-label': 'Snooze until' });
  for (const [key, label] of SNOOZES) menu.append(h('button', { type: 'button', 'data-action': 'snooze', 'data-for': key }, label));
  rec.snoozeBox = h('details', { class: 'snooze' }, h('summary', { class: 'snooze-btn' }, icon('clock', 'icon'), 'Snooze'), menu);
  rec.snoozeNote = h('span', { class: 'snoozed-note' });
  rec.wakeBtn = h('button', { type: 'button', class: 'link-button wake', 'data-action': 'wake' }, 'Wake now');
  const fb = h('div', { class: 'feedback', role: 'group', 'aria-label': 'Feedback on this alert' }, h('span', { class: 'feedback-label', 'aria-hidden': 'true' }, 'Was it useful?'));
  const seg = h('div', { class: 'segmented' });
  for (const [v, label] of VERDICTS) {
    const b = h('button', { type: 'button', class: 'fb', 'data-action': 'feedback', 'data-verdict': v, 'aria-pressed': 'false' }, label);
    rec.fbBtns.push(b);
    seg.append(b);
  }
  fb.append(seg);
  rec.reasonPick = h('select', { class: 'reason-select', 'aria-label': 'Reason for this verdict', hidden: true });
  rec.reasonPick.addEventListener('change', () => giveReason(rec, rec.reasonPick.value));
  fb.append(rec.reasonPick);
  // ---- The won value (#15): saved with the verdict and its reason.
  rec.valueInput = h('input', { type: 'number', class: 'won-value', min: '0', step: 'any', inputmode: 'decimal', 'aria-label': 'Opportunity value of this win', placeholder: 'Value' });
  rec.valueError = h('span', { class: 'won-value-error field-error', role: 'alert' });
  rec.valueForm = h('form', { class: 'won-value-form', hidden: true, novalidate: true }, rec.valueInput, h('button', { type: 'submit', class: 'secondary-button won-value-save' }, 'Save value'), rec.valueError);
  rec.valueForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    giveValue(rec);
  });
  fb.append(rec.valueForm);
  // ---- end won value
  rec.reasonEl = h('p', { class: 'verdict-reason', hidden: true });
  // The buyer's journey of the account (or the person): journey.js.
  const journeyBtn = accountID || customer ? h('button', { type: 'button', class: 'journey-btn', 'data-action': 'journey', title: `What ${accountName || accountID || customer} consumed lately` }, icon('event'), 'Journey') : null;
  const actions = h('div', { class: 'actions' }, h('div', { class: 'actions-left' }, rec.ackBtn, journeyBtn, rec.snoozeBox, rec.snoozeNote, rec.wakeBtn), fb);

  // Stages: the handoff to sales, a block of its own (handoff.js).
  const handoff = handoffBlock(rec.id, session, announce);
  li.append(h('article', { class: 'alert-body' }, head, message, meta.childElementCount ? meta : null, evidenceBlock, actions, rec.reasonEl, handoff));
  rec.el = li;
  updateCard(rec);
  return li;
}

function evidenceItem(ev, t, alert, rec) {
  const type = str(ev.type) || 'event';
  const li = h('li', { class: 'ev', 'data-type': type });
  const isTrigger = ev.event_id && ev.event_id === alert.event_id;
  if (isTrigger) li.classList.add('is-trigger');

  const body = h('div', { class: 'ev-body' });
  body.append(h('span', { class: 'ev-label' }, EVENT_LABEL[type] || humanizeType(type)));

  const url = safeURL(ev.url);
  const title = str(ev.title).trim();
  const subject = str(ev.subject).trim();
  const contentId = str(ev.content_id).trim();
  const link = (text) => h('a', { href: url.href, target: '_blank', rel: 'noopener noreferrer', class: 'ev-link' }, text);

  let detail = null;
  let sub = null;
  if (type === 'support_email') {
    detail = subject ? h('span', { class: 'ev-text' }, `“${subject}”`) : title ? h('span', { class: 'ev-text' }, title) : null;
  } else if (type === 'webinar_signup' || type === 'webinar_attended') {
    const text = title || contentId;
    detail = text ? (url ? link(text) : h('span', { class: 'ev-text' }, text)) : null;
  } else if (url) {
    detail = link(title || prettyURL(url));
    if (title) sub = h('span', { class: 'ev-url' }, prettyURL(url));
  } else {
    const text = title || subject || str(ev.url).trim() || contentId;
    detail = text ? h('span', { class: 'ev-text' }, text) : null;
  }
  if (detail) body.append(detail);
  const who = str(ev.customer_id);
  if (who && who !== str(alert.customer_id)) body.append(h('span', { class: 'ev-who', title: 'Customer id' }, `by ${who}`));
  if (sub) body.append(sub);
  if (isTrigger) body.append(h('span', { class: 'sr-only' }, ' (triggered this alert)'));

  const tEl = timeEl(t, ev.time, 'ev-time');
  rec.times.push(tEl);
  li.append(h('span', { class: 'ev-icon', 'aria-hidden': 'true' }, icon(ICON_PATHS[type] ? type : 'event')), body, tEl);
  return li;
}

function updateCard(rec) {
  const el = rec.el;
  el.classList.toggle('is-acked', rec.acked);
  const b = rec.ackBtn;
  b.querySelector('.ack-label').textContent = rec.acked ? 'Acknowledged' : 'Acknowledge';
  b.setAttribute('aria-disabled', rec.acked ? 'true' : 'false');
  b.classList.toggle('is-done', rec.acked);
  b.classList.toggle('is-pending', rec.ackPending);
  for (const fb of rec.fbBtns) {
    const on = fb.dataset.verdict === rec.verdict;
    fb.setAttribute('aria-pressed', on ? 'true' : 'false');
    fb.classList.toggle('is-pending', on && rec.verdictPending);
  }
  const snoozed = isSnoozed(rec);
  el.classList.toggle('is-snoozed', snoozed);
  rec.snoozeBox.hidden = snoozed;
  rec.wakeBtn.hidden = !snoozed;
  rec.snoozeNote.hidden = !snoozed;
  rec.snoozeNote.textContent = snoozed ? `Snoozed until ${absoluteFmt.format(rec.snoozedUntil)}` : '';
  updateReason(rec);
}

// personParts render whom an alert is about: their name (the customer id
// on hover), title and a mailto link for what the server sent of them, or
// the customer id alone.
function personParts(customer, person) {
  const p = person && typeof person === 'object' && str(person.id) === customer ? person : {};
  const name = str(p.name), title = str(p.title), email = str(p.email);
  const parts = [name
    ? h('span', { class: 'person-name', title: `Customer id: ${customer}` }, name)
    : h('span', { class: 'customer-id' }, customer)];
  if (title) parts.push(h('span', { class: 'person-title' }, ` · ${title}`));
  if (email) parts.push(' · ', h('a', { class: 'person-email', href: `mailto:${encodeURIComponent(email).replace('%40', '@')}`, title: `E-mail ${name || customer}` }, email));
  return parts;
}

// crmLinks are the alert's links into the CRM: the API's for a listed
// alert, else the templates filled in as the API fills them.
function crmLinks(a) {
  const l = a.links && typeof a.links === 'object' ? a.links : {};
  const fill = (tmpl) =>
    tmpl
      .replaceAll('{{.AccountID}}', encodeURIComponent(str(a.account_id)))
      .replaceAll('{{.CustomerID}}', encodeURIComponent(str(a.customer_id)));
  return {
    crm_account: str(l.crm_account) || (state.crm.account_url && a.account_id ? fill(state.crm.account_url) : ''),
    crm_contact: str(l.crm_contact) || (state.crm.contact_url && a.customer_id ? fill(state.crm.contact_url) : ''),
  };
}

function isSnoozed(rec, now = Date.now()) {
  return rec.snoozedUntil > now;
}

// snoozeUntil answers when a snooze choice ends, from now.
function snoozeUntil(key, now = new Date()) {
  const d = new Date(now);
  switch (key) {
    case 'hour':
      return now.getTime() + 3_600_000;
    case 'tomorrow':
      d.setDate(d.getDate() + 1);
      d.setHours(9, 0, 0, 0);
      return d.getTime();
    default: {
      // next Monday, 9:00
      d.setDate(d.getDate() + (((8 - d.getDay()) % 7) || 7));
      d.setHours(9, 0, 0, 0);
      return d.getTime();
    }
  }
}

async function snooze(rec, until) {
  rec.snoozeBox.open = false;
  const sent = { json: { until: new Date(until).toISOString() } };
  await changeSnooze(rec, until, 'PUT', sent, `Snoozed until ${absoluteFmt.format(until)}`, 'snooze');
}

async function wake(rec) {
  await changeSnooze(rec, 0, 'DELETE', undefined, '', 'wake');
}

// changeSnooze shows the card snoozed until `until` (0: awake) at once,
// asks the server, and puts the card back as it was if the server refuses.
async function changeSnooze(rec, until, method, opts, said, verb) {
  const prev = rec.snoozedUntil;
  const show = (value) => {
    rec.snoozedUntil = value;
    updateCard(rec);
    applyVisibility(rec);
    armSnoozeTimer(rec);
    refreshSummary();
  };
  rec.snoozedUntil = until;
  moveFocusOffIfHidden(rec, !visible(rec));
  show(until);
  if (said) announce(said);
  let res;
  try {
    res = await session.request(method, `/v1/alerts/${encodeURIComponent(rec.id)}/snooze`, opts);
  } catch (err) {
    if (err instanceof SessionEnded) return;
  }
  if (res && res.ok) {
    queueUnacked();
    return;
  }
  show(prev);
  showNotice(`Could not ${verb} the alert: ${str(res && res.body.error) || 'the server did not answer'}`);
}

// armSnoozeTimer brings a snoozed card back when its snooze ends.
function armSnoozeTimer(rec) {
  clearTimeout(rec.snoozeTimer);
  rec.snoozeTimer = 0;
  const wait = rec.snoozedUntil - Date.now();
  if (wait <= 0 || wait > MAX_TIMER_MS) return;
  rec.snoozeTimer = setTimeout(() => {
    if (state.records.get(rec.id) !== rec) return;
    updateCard(rec);
    applyVisibility(rec);
    refreshSummary();
  }, wait + 50);
}

function remember(rec) {
  const entry = {};
  if (rec.acked) entry.a = 1;
  if (rec.verdict) entry.v = rec.verdict;
  delete state.memory[rec.id]; // re-insert at the end: newest last
  state.memory[rec.id] = entry;
  const keys = Object.keys(state.memory);
  for (let i = 0; i < keys.length - REMEMBER_MAX; i++) delete state.memory[keys[i]];
  if (session.user) storageSet(MEMORY_KEY + session.user.id, state.memory);
}

function queueFrame(key, frame) {
  state.outbox.set(key, frame);
  const conn = state.conn;
  if (conn && conn.resumed) send(conn, frame);
}

function acknowledge(rec) {
  if (rec.acked) return;
  if (!isSnoozed(rec)) bumpUnacked(-1);
  rec.acked = true;
  rec.ackPending = true;
  updateCard(rec);
  remember(rec);
  queueFrame(`ack:${rec.id}`, { op: 'ack', id: rec.id });
  refreshSummary();
  hideLaterIfFiltered(rec);
}

function giveFeedback(rec, verdict) {
  if (rec.verdict === verdict && !rec.verdictPending) return;
  // Another verdict drops the reason of the one before, as the server does.
  if (rec.verdict !== verdict) {
    rec.reason = '';
    rec.value = null;
    rec.note = '';
  }
  rec.verdict = verdict;
  rec.verdictPending = true;
  // A verdict acknowledges (the server stores both at once): say so now.
  const acking = !rec.acked;
  if (acking) {
    if (!isSnoozed(rec)) bumpUnacked(-1);
    rec.acked = true;
    rec.ackPending = true;
  }
  updateCard(rec);
  remember(rec);
  queueFrame(`fb:${rec.id}`, { op: 'feedback', id: rec.id, verdict });
  refreshSummary();
  if (acking) hideLaterIfFiltered(rec);
}

// hideLaterIfFiltered lets the rep see what they did before a card the
// filters no longer show leaves.
function hideLaterIfFiltered(rec) {
  if (visible(rec)) return;
  setTimeout(() => {
    moveFocusOffIfHidden(rec, !visible(rec));
    applyVisibility(rec);
    queueSummary();
  }, 900);
}

function onAcked(id) {
  state.outbox.delete(`ack:${id}`);
  const rec = state.records.get(id);
  if (!rec) return;
  rec.acked = true;
  rec.ackPending = false;
  updateCard(rec);
  remember(rec);
  queueSummary();
  queueUnacked();
}

function onFeedbackSaved(id, verdict) {
  const key = `fb:${id}`;
  const pending = state.outbox.get(key);
  if (pending && pending.verdict === verdict) state.outbox.delete(key);
  const rec = state.records.get(id);
  if (!rec || (rec.verdict && rec.verdict !== verdict)) return;
  rec.verdict = verdict;
  rec.verdictPending = false;
  rec.acked = true;
  rec.ackPending = false;
  updateCard(rec);
  remember(rec);
  queueSummary();
  queueUnacked();
}

// ---------------------------------------------------------------- verdict reasons and the true total (#15)

// REASON_KINDS are what a reason fits when the server names none.
const REASON_KINDS = ['not_useful', 'won', 'reject'];

// loadReasons reads the feedback reasons' labels and kinds, for the
// cards, the reason picker and the team view.
async function loadReasons() {
  let res;
  try {
    res = await session.request('GET', '/v1/feedback-reasons');
  } catch {
    return;
  }
  if (!res.ok || !Array.isArray(res.body.reasons)) return;
  state.reasons = new Map(
    res.body.reasons
      .filter((r) => r && r.id)
      .map((r) => [str(r.id), { label: str(r.label) || str(r.id), kinds: Array.isArray(r.kinds) ? r.kinds.map(str) : REASON_KINDS }]),
  );
  for (const rec of state.order) updateReason(rec);
}

function reasonLabel(id) {
  const r = state.reasons.get(id);
  return r ? r.label : id;
}

// updateReason shows the reason of the user's verdict, the picker for
// one (not useful and won carry a reason, from those that fit the
// verdict), and the verdicts the reps this manager follows gave the same
// alert.
function updateReason(rec) {
  const pick = rec.reasonPick;
  const wants = rec.verdict === 'not_useful' || rec.verdict === 'won';
  const offered = wants ? [...state.reasons].filter(([, r]) => r.kinds.includes(rec.verdict)) : [];
  pick.hidden = offered.length === 0;
  const offer = `${rec.verdict}:${offered.map(([id]) => id).join(',')}`;
  if (!pick.hidden && (pick.dataset.offer !== offer || pick.value !== rec.reason)) {
    pick.dataset.offer = offer;
    pick.replaceChildren(h('option', { value: '' }, 'Why?'), ...offered.map(([id, r]) => h('option', { value: id }, r.label)));
    // A reason given before it stopped fitting (or was retired) stays shown.
    if (rec.reason && !offered.some(([id]) => id === rec.reason)) pick.append(h('option', { value: rec.reason }, reasonLabel(rec.reason)));
    pick.value = rec.reason || '';
  }
  const parts = [];
  if (rec.verdict && rec.reason) parts.push(h('span', { class: 'own-reason', 'data-reason': rec.reason }, `Reason: ${reasonLabel(rec.reason)}`));
  // The won value (#15): the field while the verdict is a win, the value once saved.
  rec.valueForm.hidden = rec.verdict !== 'won';
  if (rec.verdict === 'won' && rec.value !== null) parts.push(h('span', { class: 'own-value', 'data-value': String(rec.value) }, `Value: ${rec.value.toLocaleString()}`));
  if (rec.verdict && rec.note) parts.push(h('span', { class: 'own-note' }, `Note: ${rec.note}`));
  for (const [user, o] of rec.others) {
    const who = user === str(rec.alert.rep) ? str(rec.alert.rep_name) || user : user;
    const label = VERDICTS.find(([v]) => v === o.verdict);
    parts.push(
      h(
        'span',
        { class: 'team-reason', 'data-user': user, 'data-reason': o.reason || null },
        `${who}: ${label ? label[1] : o.verdict}${o.reason ? ` · ${reasonLabel(o.reason)}` : ''}`,
      ),
    );
  }
  rec.reasonEl.replaceChildren(...parts);
  rec.reasonEl.hidden = parts.length === 0;
}

// giveReason saves the reason of the user's verdict over REST; the stream
// tells their other panels.
async function giveReason(rec, reason) {
  if (!reason || !rec.verdict || reason === rec.reason) return;
  const prev = rec.reason;
  rec.reason = reason;
  updateReason(rec);
  rec.reasonPick.dataset.pending = 'true'; // until the server has it
  let res;
  try {
    // A verdict saved replaces the one before: a win keeps its value.
    const json = { verdict: rec.verdict, reason };
    if (rec.verdict === 'won' && rec.value !== null) json.value = rec.value;
    if (rec.note) json.note = rec.note;
    res = await session.request('PUT', `/v1/alerts/${encodeURIComponent(rec.id)}/verdict`, { json });
  } catch (err) {
    if (err instanceof SessionEnded) return;
  } finally {
    delete rec.reasonPick.dataset.pending;
  }
  if (res && res.ok) return;
  rec.reason = prev;
  updateReason(rec);
  showNotice(`Could not save the reason: ${str(res && res.body.error) || 'the server did not answer'}`);
}

// giveValue saves a win's opportunity value over REST with its reason
// (the API refuses a value with any other verdict, or below 0). Problems
// show next to the field.
async function giveValue(rec) {
  rec.valueError.textContent = '';
  const raw = rec.valueInput.value.trim();
  const value = raw === '' ? NaN : Number(raw);
  if (rec.verdict !== 'won') return;
  if (!Number.isFinite(value) || value < 0) {
    rec.valueError.textContent = raw === '' || rec.valueInput.validity.badInput ? 'Give the value as a number, such as 24000.' : 'The value must be 0 or more.';
    return;
  }
  const json = { verdict: 'won', value };
  if (rec.reason) json.reason = rec.reason;
  if (rec.note) json.note = rec.note;
  rec.valueForm.dataset.pending = 'true';
  let res;
  try {
    res = await session.request('PUT', `/v1/alerts/${encodeURIComponent(rec.id)}/verdict`, { json });
  } catch (err) {
    if (err instanceof SessionEnded) return;
  } finally {
    delete rec.valueForm.dataset.pending;
  }
  if (res && res.ok) {
    rec.value = value;
    rec.valueInput.value = '';
    updateReason(rec);
    return;
  }
  const problem = res && Array.isArray(res.body.problems) ? res.body.problems.find((p) => p && p.path === 'value') : null;
  rec.valueError.textContent = problem ? `The value ${str(problem.reason)}` : `Could not save the value: ${str(res && res.body.error) || 'the server did not answer'}`;
}

// onAckNews hears of an acknowledgement made elsewhere: by this user on
// another panel (the card shows it as after its own ack), or by a rep this
// manager follows (the team view reloads; the card is this user's own).
function onAckNews(msg) {
  const rec = state.records.get(str(msg.id));
  if (!rec || !session.user || str(msg.user) !== session.user.id || rec.acked) return;
  if (!isSnoozed(rec)) bumpUnacked(-1);
  rec.acked = true;
  rec.ackPending = false;
  updateCard(rec);
  remember(rec);
  queueSummary();
  queueUnacked();
  hideLaterIfFiltered(rec);
}

// onVerdictNews hears of a verdict given elsewhere: by this user on
// another panel, or by a rep this manager follows.
function onVerdictNews(msg) {
  const rec = state.records.get(str(msg.id));
  const verdict = str(msg.verdict);
  if (!rec || !VERDICTS.some(([v]) => v === verdict)) return;
  const user = str(msg.user);
  if (session.user && user === session.user.id) {
    if (!rec.acked && !isSnoozed(rec)) bumpUnacked(-1);
    // The stream tells no note: one kept with the same verdict, dropped
    // with another, as the panel's saves do.
    if (rec.verdict !== verdict) {
      rec.value = null;
      rec.note = '';
    }
    rec.verdict = verdict;
    rec.reason = str(msg.reason);
    if (typeof msg.value === 'number') rec.value = msg.value;
    rec.verdictPending = false;
    rec.acked = true;
    rec.ackPending = false;
    remember(rec);
    queueUnacked();
  } else {
    rec.others.set(user, { verdict, reason: str(msg.reason) });
  }
  updateCard(rec);
  queueSummary();
}

// bumpUnacked moves the header's total at once; the server's count
// follows shortly (queueUnacked) and wins.
function bumpUnacked(d) {
  if (state.unackedTotal !== null) state.unackedTotal = Math.max(0, state.unackedTotal + d);
  queueSummary();
  queueUnacked();
}

let unackedTimer = 0;
let unackedGen = 0;
function queueUnacked() {
  clearTimeout(unackedTimer);
  unackedTimer = setTimeout(loadUnacked, 300);
}

async function loadUnacked() {
  const gen = ++unackedGen;
  let res;
  try {
    res = await session.request('GET', '/v1/alerts/unacked');
  } catch {
    return;
  }
  if (gen !== unackedGen || !res.ok || !Number.isFinite(res.body.unacked) || !session.user) return;
  state.unackedTotal = res.body.unacked;
  queueSummary();
}

// ---------------------------------------------------------------- filters & summary

// visible holds a card to the filters, as the listing would: it leaves
// when an action takes it out of them (acknowledged under "Not
// acknowledged", snoozed under anything but "Snoozed").
function visible(rec) {
  if (!state.prefs.priorities.includes(rec.priority)) return false;
  const snoozed = isSnoozed(rec);
  switch (state.prefs.query.state) {
    case 'snoozed':
      return snoozed;
    case 'new':
      return !snoozed && !rec.acked;
    case 'acked':
      return !snoozed && rec.acked;
    case 'verdict':
      return !snoozed && !!rec.verdict;
    default:
      return !snoozed;
  }
}

function filtersActive() {
  const q = state.prefs.query;
  return !!(q.account || q.accountQ || q.signal || q.state || q.from || q.to) || state.prefs.priorities.length < PRIORITIES.length;
}

function applyVisibility(rec) {
  const show = visible(rec);
  if (rec.el.hidden === show) rec.el.hidden = !show;
}

function applyAllVisibility() {
  for (const rec of state.order) {
    moveFocusOffIfHidden(rec, !visible(rec));
    applyVisibility(rec);
  }
  refreshSummary();
}

// Keep keyboard focus somewhere sensible when the focused card is filtered away.
function moveFocusOffIfHidden(rec, willHide) {
  if (!willHide || !rec.el.contains(document.activeElement)) return;
  const i = state.order.indexOf(rec);
  const next = state.order.slice(i + 1).find(visible) || state.order.slice(0, i).reverse().find(visible);
  if (next) (next.ackBtn.getAttribute('aria-disabled') === 'true' ? next.el : next.ackBtn).focus();
  else ui.heading.focus();
}

let summaryTimer = 0;
function queueSummary() {
  if (!summaryTimer) summaryTimer = setTimeout(refreshSummary, 40);
}

function refreshSummary() {
  clearTimeout(summaryTimer);
  summaryTimer = 0;
  const per = { urgent: 0, high: 0, medium: 0, low: 0 };
  let unacked = 0;
  let shown = 0;
  for (const rec of state.order) {
    per[rec.priority]++;
    if (!rec.acked) unacked++;
    if (!rec.el.hidden) shown++;
  }
  const total = state.order.length;
  for (const p of PRIORITIES) {
    const c = ui.filters.querySelector(`[data-count-for="${p}"]`);
    c.textContent = String(per[p]);
  }
  // The server's count covers every page, not only those loaded (#15).
  if (state.unackedTotal !== null) unacked = state.unackedTotal;
  ui.unacked.dataset.count = String(unacked);
  ui.unacked.textContent = total === 0 && unacked === 0 ? '' : unacked === 0 ? 'All caught up' : `${unacked} unacknowledged`;
  ui.unacked.hidden = total === 0 && unacked === 0;

  const busy = !state.loaded || (state.listing && total === 0);
  ui.alertsLoading.hidden = shown > 0 || !busy;
  ui.empty.hidden = total > 0 || busy || filtersActive();
  ui.noMatch.hidden = shown > 0 || busy || (total === 0 && !filtersActive());
  ui.fClear.hidden = !filtersActive();
  if (session.user && !team.isOpen && !channels.isOpen) document.title = unacked > 0 ? `(${unacked}) Alerts · Dowser` : 'Alerts · Dowser';
}

function applyPrefsToControls() {
  for (const input of ui.filters.querySelectorAll('input[name="priority"]')) {
    input.checked = state.prefs.priorities.includes(input.value);
  }
  const q = state.prefs.query;
  ui.fAccount.value = q.account || q.accountQ;
  if (q.signal && ![...ui.fSignal.options].some((o) => o.value === q.signal)) ui.fSignal.append(h('option', { value: q.signal }, q.signal));
  ui.fSignal.value = q.signal;
  ui.fState.value = q.state;
  ui.fFrom.value = q.from;
  ui.fTo.value = q.to;
}

// accountFromInput reads the account filter: the id of an account the
// panel has seen, by id or by its whole name; anything else is searched
// for by the server (account_q: a part of any account's name or id), so
// an account none of whose alerts is loaded yet is found too.
function accountFromInput() {
  const v = ui.fAccount.value.trim();
  if (!v || state.accounts.has(v)) return { account: v, accountQ: '' };
  const lower = v.toLowerCase();
  for (const [id, name] of state.accounts) if (name && name.toLowerCase() === lower) return { account: id, accountQ: '' };
  return { account: '', accountQ: v };
}

// accountMatches holds a live alert to account_q as the server does: a
// part of its account's id or name, ignoring case.
function accountMatches(a, text) {
  const id = str(a.account_id);
  if (!id) return false;
  const t = text.toLowerCase();
  return [id, str(a.account_name), state.accounts.get(id) || ''].some((s) => s.toLowerCase().includes(t));
}

function onFilterChange() {
  const prevFilters = JSON.stringify([state.prefs.priorities, state.prefs.query]);
  state.prefs.priorities = [...ui.filters.querySelectorAll('input[name="priority"]:checked')].map((i) => i.value);
  state.prefs.query = {
    ...accountFromInput(),
    signal: ui.fSignal.value,
    state: STATES.includes(ui.fState.value) ? ui.fState.value : '',
    from: ui.fFrom.value,
    to: ui.fTo.value,
  };
  savePrefs();
  if (JSON.stringify([state.prefs.priorities, state.prefs.query]) === prevFilters) return;
  applyAllVisibility();
  // The listing decides what the filters show; before the first hello
  // there is none yet, and it will use these filters.
  if (state.viaList) relist();
}

// ---------------------------------------------------------------- arrivals: highlight, announce, notify

let pendingArrivals = [];
let arrivalTimer = 0;

function arrived(rec) {
  rec.el.classList.add('is-new');
  setTimeout(() => rec.el && rec.el.classList.remove('is-new'), HIGHLIGHT_MS);
  pendingArrivals.push(rec);
  clearTimeout(arrivalTimer);
  arrivalTimer = setTimeout(flushArrivals, ANNOUNCE_BATCH_MS);
}

function describe(rec) {
  const a = rec.alert;
  const msg = str(a.message) || str(a.signal_name) || 'New alert';
  return `${PRIORITY_LABEL[rec.priority]} priority: ${msg}`;
}

function flushArrivals() {
  const batch = pendingArrivals.filter((r) => state.records.get(r.id) === r);
  pendingArrivals = [];
  const shown = batch.filter((r) => state.prefs.priorities.includes(r.priority));
  if (shown.length === 1) announce(`New alert. ${describe(shown[0])}`);
  else if (shown.length > 1) {
    const important = shown.filter((r) => r.priority === 'urgent' || r.priority === 'high').length;
    announce(`${shown.length} new alerts${important ? `, ${important} high or urgent` : ''}. Latest: ${describe(shown[shown.length - 1])}`);
  }
  notify(batch.filter((r) => r.priority === 'urgent' || r.priority === 'high'));
  playSound(shown.map((r) => r.priority)); // pwa.js: the sound chosen for the most important
}

function announce(text) {
  ui.live.textContent = '';
  // A fresh text node after clearing makes screen readers announce repeats too.
  setTimeout(() => {
    ui.live.textContent = text;
  }, 50);
}

// ---------------------------------------------------------------- desktop notifications

const notificationsSupported = 'Notification' in window;

function notificationsOn() {
  return notificationsSupported && state.prefs.notify && Notification.permission === 'granted';
}

function updateNotifyButton() {
  ui.notify.hidden = !notificationsSupported;
  if (!notificationsSupported) return;
  const on = notificationsOn();
  ui.notify.setAttribute('aria-pressed', on ? 'true' : 'false');
  ui.notify.querySelector('.toggle-state').textContent = on ? 'On' : 'Off';
  if (Notification.permission === 'denied') {
    ui.notify.title = 'Notifications are blocked for this site in your browser settings';
  }
}

async function toggleNotifications() {
  if (!notificationsSupported) return;
  if (notificationsOn()) {
    state.prefs.notify = false;
  } else {
    let perm = Notification.permission;
    if (perm === 'default') {
      try {
        perm = await Notification.requestPermission();
      } catch {
        perm = 'denied';
      }
    }
    if (perm === 'granted') state.prefs.notify = true;
    else showNotice('Desktop notifications are blocked for this site. Allow them in your browser’s site settings to turn them on.');
  }
  savePrefs();
  updateNotifyButton();
}

function notify(recs) {
  if (!recs.length || !notificationsOn()) return;
  if (document.visibilityState === 'visible' && document.hasFocus()) return; // the page itself shows it
  const make = (title, body, tag, rec) => {
    // pwa.js: through the service worker when there is one (phones).
    showNotification(title, { body, tag, icon: 'icon-192.png', badge: 'icon-192.png', requireInteraction: rec ? rec.priority === 'urgent' : false }, () => {
      if (rec && rec.el && !rec.el.hidden) {
        rec.el.scrollIntoView({ block: 'center' });
        rec.el.focus();
      }
    });
  };
  if (recs.length <= 3) {
    for (const rec of recs) {
      const a = rec.alert;
      make(`${PRIORITY_LABEL[rec.priority]} · ${str(a.signal_name) || 'Dowser alert'}`, str(a.message), `dowser-${rec.id}`, rec);
    }
  } else {
    make(`${recs.length} high-priority alerts`, recs.map((r) => str(r.alert.message)).slice(0, 3).join('\n'), 'dowser-batch', null);
  }
}

// ---------------------------------------------------------------- notice

let noticeTimer = 0;
function showNotice(text) {
  ui.noticeText.textContent = text;
  ui.notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(hideNotice, 12_000);
}

function hideNotice() {
  clearTimeout(noticeTimer);
  ui.notice.hidden = true;
}

// ---------------------------------------------------------------- events

function onListClick(ev) {
  const btn = ev.target.closest('button[data-action]');
  if (!btn || !ui.list.contains(btn)) return;
  const card = btn.closest('li.alert');
  const rec = card && state.records.get(card.dataset.id);
  if (!rec) return;
  switch (btn.dataset.action) {
    case 'ack':
      acknowledge(rec);
      break;
    case 'feedback':
      giveFeedback(rec, btn.dataset.verdict);
      break;
    case 'snooze':
      snooze(rec, snoozeUntil(btn.dataset.for));
      break;
    case 'wake':
      wake(rec);
      break;
    case 'journey': {
      const a = rec.alert;
      const accountId = str(a.account_id);
      openJourney({ request: (m, p) => session.request(m, p), accountId, accountName: str(a.account_name) || state.accounts.get(accountId) || '', customerId: str(a.customer_id), opener: btn });
      break;
    }
    case 'more': {
      const items = btn.parentElement.querySelectorAll('.timeline > li[hidden]');
      items.forEach((li) => (li.hidden = false));
      const first = items[0];
      btn.remove();
      if (first) {
        first.tabIndex = -1;
        first.focus();
      }
      break;
    }
    default:
      break;
  }
}

function tickTimes() {
  const now = Date.now();
  for (const rec of state.order) {
    for (const t of rec.times) {
      const text = relativeTime(t._ms, now);
      if (t.textContent !== text) t.textContent = text;
    }
  }
}

function wireEvents() {
  ui.retry.addEventListener('click', reconnectNow);
  ui.notify.addEventListener('click', toggleNotifications);
  ui.list.addEventListener('click', onListClick);
  ui.filters.addEventListener('change', onFilterChange);
  ui.search.addEventListener('change', onFilterChange);
  ui.search.addEventListener('submit', (ev) => {
    ev.preventDefault();
    onFilterChange();
  });
  const showAll = () => {
    for (const input of ui.filters.querySelectorAll('input[name="priority"]')) input.checked = true;
    for (const el of [ui.fAccount, ui.fSignal, ui.fState, ui.fFrom, ui.fTo]) el.value = '';
    onFilterChange();
    ui.heading.focus();
  };
  ui.showAll.addEventListener('click', showAll);
  ui.fClear.addEventListener('click', showAll);
  ui.loadMore.addEventListener('click', loadOlder);
  ui.noticeClose.addEventListener('click', hideNotice);

  window.addEventListener('online', reconnectNow);
  window.addEventListener('offline', () => {
    if (session.user && state.connState !== 'connected') setConn('offline');
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') {
      tickTimes();
      if (session.user && !state.conn) reconnectNow();
    }
  });
  window.addEventListener('storage', (ev) => {
    if (ev.key === PREFS_KEY) {
      const prevFilters = JSON.stringify([state.prefs.priorities, state.prefs.query]);
      state.prefs = loadPrefs();
      applyPrefsToControls();
      applyAllVisibility();
      updateNotifyButton();
      if (state.viaList && JSON.stringify([state.prefs.priorities, state.prefs.query]) !== prevFilters) relist();
    }
  });
  setInterval(tickTimes, 30_000);
}

boot();
