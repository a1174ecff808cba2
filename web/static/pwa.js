// The panel as an installed app: service worker registration, OS
// notifications through it, and a sound per priority (a setting kept in
// localStorage). Used by app.js; no dependencies, no build step.
//
// Notifications go through the service worker's registration when there is
// one: phones show no notification made with `new Notification`, and an
// installed panel's notifications then open the app.

import { $ } from './dom.js';

const SOUND_KEY = 'dowser.panel.sound.v1';
const PRIORITIES = ['urgent', 'high', 'medium', 'low'];
// Each priority's tone: frequency (Hz) and beeps; urgent is high and
// insistent, low a single soft note.
const TONES = { urgent: [988, 3], high: [880, 2], medium: [660, 1], low: [523, 1] };

const clickHandlers = new Map(); // notification tag -> what a click does

// registerServiceWorker registers sw.js for the panel's directory. A
// browser without service workers (or a page not served over HTTPS or
// from localhost) keeps working as a plain page.
export function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('sw.js', { scope: './' }).catch(() => {
    /* not installable here; the page works as before */
  });
  navigator.serviceWorker.addEventListener('message', (ev) => {
    if (ev.data && ev.data.type === 'notification-click') {
      const onclick = clickHandlers.get(ev.data.tag);
      if (onclick) onclick();
    }
  });
}

// showNotification shows an OS notification, through the service worker
// when it is active, else with the page's Notification; onclick runs in
// the page when it is clicked.
export async function showNotification(title, options, onclick) {
  if (onclick && options.tag) {
    clickHandlers.set(options.tag, onclick);
    if (clickHandlers.size > 100) clickHandlers.delete(clickHandlers.keys().next().value);
  }
  try {
    const reg = 'serviceWorker' in navigator ? await navigator.serviceWorker.getRegistration() : null;
    if (reg && reg.active) {
      await reg.showNotification(title, options);
      return;
    }
  } catch {
    /* fall back to a page notification */
  }
  try {
    const n = new Notification(title, options);
    n.onclick = () => {
      window.focus();
      if (onclick) onclick();
      n.close();
    };
  } catch {
    /* this platform shows notifications only through a service worker */
  }
}

// ---------------------------------------------------------------- sound per priority

function loadSound() {
  try {
    const v = JSON.parse(localStorage.getItem(SOUND_KEY) || 'null');
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

let audio = null; // created on a click: browsers allow sound only after a gesture

// initSound wires the sound settings: a checkbox per priority in #sound,
// checked from localStorage, saved on change. Off by default.
export function initSound() {
  const box = $('sound');
  if (!box) return;
  const apply = () => {
    const on = loadSound();
    for (const input of box.querySelectorAll('input[name="sound"]')) input.checked = !!on[input.value];
    $('sound-state').textContent = PRIORITIES.some((p) => on[p]) ? 'On' : 'Off';
  };
  apply();
  box.addEventListener('change', () => {
    const on = {};
    for (const input of box.querySelectorAll('input[name="sound"]')) on[input.value] = input.checked;
    try {
      localStorage.setItem(SOUND_KEY, JSON.stringify(on));
    } catch {
      /* storage disabled: the setting lasts this visit */
    }
    apply();
    ensureAudio();
  });
  window.addEventListener('storage', (ev) => {
    if (ev.key === SOUND_KEY) apply();
  });
  // Sound needs a gesture first: the first click or key of the visit
  // allows it, whatever it was for.
  const unlock = () => {
    if (PRIORITIES.some((p) => loadSound()[p])) ensureAudio();
  };
  document.addEventListener('pointerdown', unlock, { once: true });
  document.addEventListener('keydown', unlock, { once: true });
}

function ensureAudio() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return null;
  if (!audio) audio = new Ctx();
  if (audio.state === 'suspended') audio.resume().catch(() => {});
  return audio;
}

// playSound plays the tone of the most important of priorities whose sound
// is on, once per batch of arrivals.
export function playSound(priorities) {
  const on = loadSound();
  const p = PRIORITIES.find((x) => on[x] && priorities.includes(x));
  if (!p || !audio) return; // no sound chosen, or no click yet to allow it
  const [freq, beeps] = TONES[p];
  const t0 = audio.currentTime;
  for (let i = 0; i < beeps; i++) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = freq;
    const start = t0 + i * 0.22;
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(0.2, start + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.18);
    osc.connect(gain).connect(audio.destination);
    osc.start(start);
    osc.stop(start + 0.2);
  }
}
