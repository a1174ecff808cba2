// Signing in and out, shared by the alert panel (app.js) and the signals
// console (console.js): both pages use the one session cookie of
// /v1/session, so they sign in, keep and lose the session the same way.
//
// The module owns the markup it drives, so that the two pages do not repeat
// it: the token field and Sign in button of #login-form (the page writes the
// form's heading), and the signed-in user and Sign out button at the end of
// the header's #session. Contract: web/doc.go.

import { $, h, svgIcon, str, capitalize } from './dom.js';

const SESSION_PATH = '/v1/session';
const SESSION_ENDED = 'Your session has ended. Sign in again.';
const SIGN_OUT_ICON = ['M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4', 'M16 17l5-5-5-5', 'M21 12H9'];

/** isMarketing says whether a role may use the signals console. */
export const isMarketing = (role) => role === 'marketer' || role === 'admin';

/** SessionEnded is thrown by Session.request when the server answered 401. */
export class SessionEnded extends Error {}

/**
 * showView shows the page's element #view-<name> and hides its other
 * #view-* elements; the header's session tools show only once someone is
 * signed in, that is outside the 'loading' and 'login' views.
 */
export function showView(name) {
  for (const view of document.querySelectorAll('[id^="view-"]')) view.hidden = view.id !== `view-${name}`;
  $('session').hidden = name === 'loading' || name === 'login';
  document.body.dataset.view = name;
}

// request calls the API with the session cookie and the CSRF header that
// cookie-authenticated writes need, and answers {status, ok, body}: body is
// the decoded JSON object, or {} when there is none.
async function request(method, path, { json, text } = {}) {
  const init = {
    method,
    credentials: 'same-origin',
    cache: 'no-store',
    headers: { 'X-Dowser-CSRF': '1', Accept: 'application/json' },
  };
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (text !== undefined) {
    init.headers['Content-Type'] = 'application/yaml';
    init.body = text;
  }
  const res = await fetch(path, init);
  let body = {};
  try {
    const t = await res.text();
    body = t ? JSON.parse(t) : {};
  } catch {
    body = {};
  }
  if (!body || typeof body !== 'object') body = {};
  return { status: res.status, ok: res.ok, body };
}

function validUser(u) {
  return u && typeof u === 'object' && typeof u.id === 'string' && u.id !== '';
}

function initials(name) {
  return name
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((w) => w[0].toUpperCase())
    .join('');
}

/**
 * Session runs a page's sign-in. The page describes itself with
 *
 *   signInTitle         the document title while signed out;
 *   onStart(user, focus) show the page for a user who just signed in (focus:
 *                       through the form, so focus may move into the page);
 *   onUser(user)        optional: the user was (re)loaded;
 *   onEnd()             optional: forget the user's data, stop what runs;
 *   confirmSignOut()    optional: false keeps the user signed in.
 *
 * user is {id, name, role} while someone is signed in, otherwise null.
 */
export class Session {
  user = null;
  #page;
  #ui;

  constructor(page) {
    this.#page = page;
    this.#ui = {
      token: h('input', {
        id: 'token', name: 'token', type: 'password', autocomplete: 'off', autocapitalize: 'off',
        spellcheck: 'false', required: true, 'aria-describedby': 'token-hint login-error',
      }),
      error: h('p', { id: 'login-error', class: 'field-error', role: 'alert' }),
      login: h('button', { id: 'login', type: 'submit', class: 'primary-button' }, 'Sign in'),
      initials: h('span', { id: 'user-initials', class: 'avatar', 'aria-hidden': 'true' }),
      name: h('span', { id: 'user-name', class: 'user-name' }),
      role: h('span', { id: 'user-role', class: 'user-role' }),
      logout: h('button', { id: 'logout', type: 'button', class: 'tool-button' }, svgIcon(SIGN_OUT_ICON), h('span', null, 'Sign out')),
    };
    const ui = this.#ui;
    const form = $('login-form');
    form.append(
      h('div', { class: 'field' },
        h('label', { for: 'token' }, 'Access token'),
        ui.token,
        h('p', { id: 'token-hint', class: 'hint' }, 'Paste the personal token your administrator gave you.'),
        ui.error),
      ui.login,
    );
    $('session').append(
      h('div', { class: 'user', 'aria-label': 'Signed in user' }, ui.initials, h('span', { class: 'user-text' }, ui.name, ui.role)),
      ui.logout,
    );

    form.addEventListener('submit', (ev) => this.#onSubmit(ev));
    ui.token.addEventListener('input', () => {
      if (ui.error.textContent) this.#setError('');
    });
    ui.logout.addEventListener('click', () => this.#signOut());
  }

  /** boot asks the server who is signed in and starts the page or shows the form. */
  async boot() {
    let res;
    try {
      res = await request('GET', SESSION_PATH);
    } catch {
      this.#showLogin("Can't reach Dowser right now. Check your connection, then sign in.");
      return;
    }
    if (res.ok && validUser(res.body.user)) {
      this.#start(res.body.user, false);
      return;
    }
    this.#showLogin();
  }

  /**
   * request calls the API like the sign-in does. A 401 while signed in means
   * the session ended elsewhere (signed out, token rotated): it ends the
   * session here too and throws SessionEnded.
   */
  async request(method, path, opts) {
    const res = await request(method, path, opts);
    if (res.status === 401 && this.user) {
      this.end(SESSION_ENDED);
      throw new SessionEnded();
    }
    return res;
  }

  /**
   * refresh reloads the signed-in user, as another tab may have signed in as
   * someone else. On network trouble the old user stays.
   */
  async refresh() {
    try {
      const res = await this.request('GET', SESSION_PATH);
      if (res.ok && validUser(res.body.user)) this.#setUser(res.body.user);
    } catch {
      /* keep the old header until the next reconnect */
    }
  }

  /** end forgets the user and shows the sign-in form with message. */
  end(message) {
    this.#forget();
    this.#showLogin(message);
  }

  #forget() {
    this.user = null;
    if (this.#page.onEnd) this.#page.onEnd();
  }

  #setUser(user) {
    const ui = this.#ui;
    this.user = { id: user.id, name: str(user.name) || user.id, role: str(user.role) };
    ui.name.textContent = this.user.name;
    ui.role.textContent = capitalize(this.user.role);
    ui.role.hidden = !this.user.role;
    ui.initials.textContent = initials(this.user.name) || '?';
    if (this.#page.onUser) this.#page.onUser(this.user);
  }

  #start(user, focus) {
    this.#setUser(user);
    this.#page.onStart(this.user, focus);
  }

  #showLogin(message) {
    showView('login');
    this.#setError(message || '');
    this.#setBusy(false);
    document.title = this.#page.signInTitle;
    this.#ui.token.focus();
  }

  #setError(msg) {
    const { token, error } = this.#ui;
    error.textContent = msg;
    if (msg) token.setAttribute('aria-invalid', 'true');
    else token.removeAttribute('aria-invalid');
  }

  #setBusy(busy) {
    this.#ui.login.disabled = busy;
    this.#ui.login.textContent = busy ? 'Signing in…' : 'Sign in';
  }

  async #onSubmit(ev) {
    ev.preventDefault();
    const { token } = this.#ui;
    const value = token.value.trim();
    if (!value) {
      this.#setError('Enter your access token.');
      token.focus();
      return;
    }
    this.#setError('');
    this.#setBusy(true);
    let res;
    try {
      res = await request('POST', SESSION_PATH, { json: { token: value } });
    } catch {
      this.#setBusy(false);
      this.#setError("Can't reach Dowser. Check your connection and try again.");
      return;
    }
    this.#setBusy(false);
    if (res.ok && validUser(res.body.user)) {
      token.value = '';
      this.#start(res.body.user, true);
      return;
    }
    if (res.status === 401 || res.status === 403) {
      const why = str(res.body.error).trim();
      this.#setError(why ? `That token wasn't accepted: ${why}.`.replace(/\.\.$/, '.') : "That token wasn't accepted. Check it and try again.");
    } else {
      this.#setError(`Sign-in failed (HTTP ${res.status}). Try again in a moment.`);
    }
    token.select();
    token.focus();
  }

  async #signOut() {
    if (this.#page.confirmSignOut && !this.#page.confirmSignOut()) return;
    // Stop first: signing out closes the user's websockets, and the page
    // must not take that for a dropped connection.
    this.#forget();
    try {
      await request('DELETE', SESSION_PATH);
    } catch {
      /* the cookie stays if the server is unreachable; the form is shown anyway */
    }
    this.#showLogin();
  }
}
