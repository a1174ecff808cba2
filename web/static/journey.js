// The buyer's journey drawer of the alert panel (issue #15).
//
// From an alert card, openJourney shows what the account's people (or one
// person, for an alert without an account) consumed in the last days: items
// by day, each with its time, person, title, content id and the content's
// talking point (with the content's newest item), newest first, a page at a
// time. Data comes from
// GET /v1/accounts/{id}/timeline or /v1/customers/{id}/timeline. People are
// shown as on the cards (docs/privacy.md): by name and title where the
// server sends a `person` (--contact-identity and their consent), else by
// their customer id, with the link to their CRM record when the server
// gives one.
//
// Everything rendered from server data goes through textContent /
// createElement; never innerHTML.

import { $, h, svgIcon, str } from './dom.js';

const TYPE_LABEL = {
  page_view: 'Viewed',
  webinar_signup: 'Signed up for webinar',
  webinar_attended: 'Attended webinar',
  support_email: 'Wrote to support',
  form_submit: 'Submitted form',
  identify: 'Identified',
};

const TYPE_ICON = {
  page_view: ['M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z', 'M14 3v5h5', 'M9 13h6M9 17h4'],
  webinar_signup: ['M5 5h14a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2z', 'M16 3v4M8 3v4M3 10h18', 'M12 13v5M9.5 15.5h5'],
  webinar_attended: ['M3 7a2 2 0 0 1 2-2h9a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2z', 'M16 10l5-3v10l-5-3'],
  support_email: ['M4 5h16a1 1 0 0 1 1 1v12a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1z', 'M3 7l9 6 9-6'],
  form_submit: ['M5 3h14a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z', 'M8 12l3 3 5-6'],
  identify: ['M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M4 21a8 8 0 0 1 16 0'],
  event: ['M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8z'],
};

const PAGE = 100;
const timeFmt = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric' });

// One drawer for the page; a newer opening drops older answers.
const drawer = {
  gen: 0,
  path: '',
  next: null,
  request: null,
  lastDay: '',
  people: new Set(),
  talked: new Set(), // content ids whose talking point is shown
  count: 0,
  opener: null,
};

function els() {
  return {
    dialog: $('journey'),
    title: $('journey-title'),
    sub: $('journey-sub'),
    list: $('journey-list'),
    status: $('journey-status'),
    more: $('journey-more'),
    close: $('journey-close'),
  };
}

let wired = false;

function wire() {
  if (wired) return;
  wired = true;
  const e = els();
  e.close.addEventListener('click', () => e.dialog.close());
  e.more.addEventListener('click', () => loadPage(drawer.gen));
  // A click on the backdrop (outside the panel) closes it too.
  e.dialog.addEventListener('click', (ev) => {
    if (ev.target === e.dialog) e.dialog.close();
  });
  e.dialog.addEventListener('close', () => {
    // The event comes a task after the dialog closed: it may be open
    // again by then, loading a newer answer that must not be dropped.
    if (e.dialog.open) return;
    drawer.gen++;
    if (drawer.opener && drawer.opener.isConnected) drawer.opener.focus();
  });
}

/**
 * openJourney opens the drawer on an account's journey (accountId set) or a
 * person's. request is the session's (method, path) → {status, ok, body};
 * opener gets focus back when the drawer closes.
 */
export function openJourney({ request, accountId, accountName, customerId, opener }) {
  wire();
  const e = els();
  drawer.gen++;
  drawer.request = request;
  drawer.next = null;
  drawer.lastDay = '';
  drawer.people = new Set();
  drawer.talked = new Set();
  drawer.count = 0;
  drawer.opener = opener || null;
  drawer.path = accountId
    ? `/v1/accounts/${encodeURIComponent(accountId)}/timeline`
    : `/v1/customers/${encodeURIComponent(customerId)}/timeline`;
  e.title.textContent = accountId ? `${accountName || accountId}: buyer's journey` : `${customerId}: buyer's journey`;
  e.title.title = accountId ? `Account id: ${accountId}` : 'Customer id';
  e.sub.textContent = '';
  e.list.replaceChildren();
  e.more.hidden = true;
  setStatus('Loading the journey…');
  if (!e.dialog.open) e.dialog.showModal();
  e.close.focus();
  loadPage(drawer.gen);
}

function setStatus(text) {
  const s = els().status;
  s.textContent = text;
  s.hidden = !text;
}

async function loadPage(gen) {
  const e = els();
  e.more.disabled = true;
  let res;
  try {
    const cursor = drawer.next ? `cursor=${encodeURIComponent(drawer.next)}&` : '';
    res = await drawer.request('GET', `${drawer.path}?${cursor}limit=${PAGE}`);
  } catch {
    res = { ok: false, status: 0, body: {} };
  }
  if (gen !== drawer.gen) return;
  e.more.disabled = false;
  if (!res.ok) {
    const why = str(res.body.error) || (res.status ? `the server answered ${res.status}` : 'the server cannot be reached');
    setStatus(`The journey could not be loaded: ${why}.`);
    return;
  }
  const items = Array.isArray(res.body.items) ? res.body.items.filter((it) => it && typeof it === 'object') : [];
  drawer.next = typeof res.body.next === 'string' && res.body.next ? res.body.next : null;
  for (const it of items) appendItem(e.list, it);
  drawer.count += items.length;
  const days = Number(res.body.days) || 0;
  const people = drawer.people.size;
  e.sub.textContent = `${drawer.count}${drawer.next ? '+' : ''} ${drawer.count === 1 ? 'item' : 'items'} · ${people} ${people === 1 ? 'person' : 'people'} · last ${days} ${days === 1 ? 'day' : 'days'}`;
  setStatus(drawer.count ? '' : `Nothing consumed in the last ${days} days.`);
  e.more.hidden = !drawer.next;
}

function dayKey(d) {
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

function dayLabel(d) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(d) === dayKey(today)) return 'Today';
  if (dayKey(d) === dayKey(yesterday)) return 'Yesterday';
  return dayFmt.format(d);
}

function appendItem(list, it) {
  const t = new Date(str(it.time));
  const valid = !Number.isNaN(t.getTime());
  const key = valid ? dayKey(t) : '';
  if (key !== drawer.lastDay) {
    drawer.lastDay = key;
    list.append(h('li', { class: 'j-day' }, h('h3', null, valid ? dayLabel(t) : 'Unknown day')));
  }
  const type = str(it.type) || 'event';
  const who = str(it.customer_id);
  const anon = str(it.anonymous_id);
  drawer.people.add(who || `~${anon}`);
  const title = str(it.title) || str(it.content_title) || str(it.url_path) || str(it.content_id) || type;

  const body = h('div', { class: 'j-body' });
  body.append(
    h('p', { class: 'j-line' }, h('span', { class: 'j-type' }, TYPE_LABEL[type] || type.replaceAll('_', ' ')), ' ', h('span', { class: 'j-title' }, type === 'support_email' ? `“${title}”` : title)),
  );
  const facts = h('p', { class: 'j-facts' });
  const p = it.person && typeof it.person === 'object' && str(it.person.id) === who ? it.person : {};
  const named = str(p.name) || str(p.title);
  const person = who
    ? h('span', { class: named ? 'j-person is-named' : 'j-person', title: named ? `Customer id: ${who}` : 'Customer id' },
      named ? [str(p.name), str(p.title)].filter(Boolean).join(' · ') : who)
    : h('span', { class: 'j-person is-anon', title: `Anonymous id: ${anon}` }, 'Anonymous visitor');
  facts.append(person);
  const crm = it.links && typeof it.links === 'object' ? str(it.links.crm_contact) : '';
  if (crm && /^https?:\/\//i.test(crm)) {
    facts.append(' ', h('a', { class: 'j-crm', href: crm, target: '_blank', rel: 'noopener noreferrer', title: `Open ${who} in CRM` }, 'Who is this?'));
  }
  if (str(it.content_id)) facts.append(h('span', { class: 'j-content', title: str(it.content_title) ? `Content: ${str(it.content_title)}` : 'Content id' }, str(it.content_id)));
  const path = str(it.url_path);
  if (path && path !== title) facts.append(h('span', { class: 'j-path' }, path));
  body.append(facts);
  // A content item's talking point shows with its newest item only: the
  // same hint under every page of a committee's reading is noise.
  const tp = str(it.talking_point).trim();
  const cid = str(it.content_id);
  if (tp && !drawer.talked.has(cid)) {
    drawer.talked.add(cid);
    body.append(h('p', { class: 'j-talk' }, h('span', { class: 'j-talk-label' }, 'Talking point'), tp));
  }
  const when = h('time', { class: 'j-time', datetime: str(it.time) }, valid ? timeFmt.format(t) : '');
  list.append(
    h('li', { class: 'j-item', 'data-type': type, 'data-event': str(it.event_id) },
      h('span', { class: 'j-icon', 'aria-hidden': 'true' }, svgIcon(TYPE_ICON[type] || TYPE_ICON.event)),
      body,
      when),
  );
}
