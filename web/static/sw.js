// Dowser panel's service worker: it makes the panel installable and keeps
// its shell (the page, scripts, styles, icons) available offline. It never
// caches API data: /v1/ requests, the websocket and anything not in SHELL
// go to the network untouched, so alerts are always the server's.
//
// The shell is fetched network-first: a deploy shows at the next load, and
// the cached copy serves only when the network fails. SHELL_CACHE's
// version changes when the list does; activation drops older caches.

const SHELL_CACHE = 'dowser-shell-v2';
const SHELL = [
  './',
  'index.html',
  'app.js',
  'pwa.js',
  'team.js',
  'channels.js',
  'handoff.js',
  'journey.js',
  'session.js',
  'dom.js',
  'style.css',
  'favicon.svg',
  'icon-192.png',
  'icon-512.png',
  'manifest.webmanifest',
];

const scopeURL = new URL(self.registration.scope);
const shellPaths = new Set(SHELL.map((p) => new URL(p, scopeURL).pathname));

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('dowser-shell-') && k !== SHELL_CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== scopeURL.origin || !shellPaths.has(url.pathname)) return; // API data and the rest: network only
  event.respondWith(
    fetch(req)
      .then((resp) => {
        if (resp.ok) {
          const copy = resp.clone();
          event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.put(req, copy)));
        }
        return resp;
      })
      .catch(() => caches.match(req, { ignoreSearch: true }).then((hit) => hit || Response.error())),
  );
});

// A click on an alert's notification brings the panel forward (opening it
// when no window is left) and tells the page which alert was clicked.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const tag = event.notification.tag;
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((wins) => {
      const win = wins.find((w) => new URL(w.url).pathname === scopeURL.pathname) || wins[0];
      if (win) {
        win.postMessage({ type: 'notification-click', tag });
        return win.focus();
      }
      return self.clients.openWindow(scopeURL.href);
    }),
  );
});
