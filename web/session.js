// The session over time: a warning before the token expires ("Your
// session ends in 1:52 — Stay signed in"), renewal (Cognito's refresh
// token on AWS, else signing in again in a dialog over the page, which
// keeps the page and its open forms), the same dialog when a request gets
// a 401 (the request is sent again after signing in), and the tabs of one
// browser sharing the session (localStorage, its storage events).

import { api, ApiError, session, setUnauthorizedHandler } from './api.js';
import { renewWithRefreshToken } from './cognito.js';
import { clockText } from './countdown.js';
import { openDialog } from './dialog.js';
import { fill, h } from './dom.js';

/** WARN_MS is how long before the end a session warns, for lifetimes of 8 minutes and more. */
export const WARN_MS = 120000;

/**
 * warnBefore is how long before the end of a session of lifetime ttlMs the
 * page warns: 2 minutes, or a quarter of a shorter lifetime (at least 1 s).
 */
export function warnBefore(ttlMs) {
  if (!(ttlMs > 0)) return WARN_MS;
  return Math.max(1000, Math.min(WARN_MS, Math.floor(ttlMs / 4)));
}

/** parseSession reads a stored session value (a storage event's old or new value). */
export function parseSession(text) {
  try {
    const v = JSON.parse(text || 'null');
    return v && typeof v === 'object' && v.token ? v : null;
  } catch {
    return null;
  }
}

/**
 * sessionChange says what a change of the stored session means for a tab
 * that showed before: 'signed-out', 'signed-in' (it had no session),
 * 'user-changed' (another user signed in), 'renewed' (the same user, a new
 * token) or '' (nothing to do).
 */
export function sessionChange(before, after) {
  if (!after) return before ? 'signed-out' : '';
  if (!before) return 'signed-in';
  if (before.user !== after.user) return 'user-changed';
  return before.token === after.token ? '' : 'renewed';
}

let hooks = { signedOut() {}, signedIn() {} };
let timer = 0;
let bar = null; // the warning banner
let prompt = null; // the open sign-in dialog: {promise, resolve, dlg}
let renewing = null;
let refreshFailed = ''; // the token whose renewal with the refresh token failed

/**
 * startSession follows the session: hooks.signedOut(message) when it ends
 * in another tab, hooks.signedIn() when another tab signed in or renewed
 * (for a tab that shows the sign-in page); when another user signs in, the
 * page starts afresh.
 */
export function startSession(h) {
  hooks = { ...hooks, ...h };
  setUnauthorizedHandler(onUnauthorized);
  window.addEventListener('storage', (e) => {
    if (e.key !== null && e.key !== session.KEY) return;
    const change = sessionChange(parseSession(e.oldValue), parseSession(e.newValue));
    if (change === 'signed-out') hooks.signedOut('You have signed out in another tab.');
    else if (change === 'user-changed') freshPage();
    else if (change === 'signed-in') hooks.signedIn();
    else if (change === 'renewed') {
      settle(true);
      hooks.signedIn(); // a tab on the sign-in page (its session had ended) follows
    }
    schedule();
  });
  window.addEventListener('bucketdesk-session', () => schedule());
  // After the page shows (the sign-in page has no banner).
  window.addEventListener('hashchange', () => setTimeout(schedule));
}

// freshPage starts the console afresh on the projects page: another user
// must not see the page of the first.
function freshPage() {
  history.replaceState(null, '', `${location.pathname}#/projects`);
  location.reload();
}

// settle ends the sign-in dialog (signed in: true; signed out: false).
function settle(ok) {
  const p = prompt;
  if (!p) return;
  prompt = null;
  p.dlg.forceClose();
  p.resolve(ok);
}

async function onUnauthorized(err, sentToken) {
  if (!session.token) return false; // signed out meanwhile
  if (session.token !== sentToken && !session.expired) return true; // renewed meanwhile (another tab)
  if (session.refresh && await renew()) return true;
  return signInAgain(true);
}

/** renew renews the session with Cognito's refresh token; resolves false when it cannot. */
export function renew() {
  if (renewing) return renewing;
  const refresh = session.refresh;
  if (!refresh) return Promise.resolve(false);
  const user = session.user;
  renewing = renewWithRefreshToken(refresh).then((r) => {
    if (session.user !== user) return false;
    session.set(r.token, user, r.expiresIn, r.refresh);
    return true;
  }, (err) => {
    console.warn(`bucketdesk: the session could not be renewed: ${err.message}`);
    return false;
  }).finally(() => {
    renewing = null;
  });
  return renewing;
}

// ------------------------------------------------------------ the banner

function schedule() {
  clearTimeout(timer);
  timer = 0;
  if (!session.token || !session.expiresAt) {
    hideBar();
    return;
  }
  const now = Date.now();
  const end = session.expiresAt;
  const warnAt = end - warnBefore(session.ttl);
  if (now < warnAt) {
    hideBar();
    timer = setTimeout(schedule, Math.min(warnAt - now, 2 ** 31 - 1));
    return;
  }
  if (session.refresh && refreshFailed !== session.token) {
    if (!renewing) {
      const token = session.token;
      renew().then((ok) => {
        if (ok) return;
        refreshFailed = token; // the banner, the sign-in dialog from now on
        schedule();
      });
    }
    return;
  }
  showBar(end);
  // Each second, also past the end: the banner follows the dialogs.
  timer = setTimeout(schedule, now < end ? ((end - now) % 1000 || 1000) + 20 : 1000);
}

function hideBar() {
  bar?.remove();
  bar = null;
}

// showBar shows the warning (or, past end, that the session ended) at the
// top of the topmost open dialog, or of the page: a modal dialog makes the
// rest of the page inert.
function showBar(end) {
  // Not over the sign-in page, not under the sign-in dialog.
  if (prompt || document.getElementById('login-title')) {
    hideBar();
    return;
  }
  const left = Math.ceil((end - Date.now()) / 1000);
  const over = left <= 0;
  if (!bar) {
    bar = h('div', { id: 'session-banner', class: 'banner banner-warn session-banner', role: 'status' });
    bar._over = null;
  }
  if (bar._over !== over) {
    bar._over = over;
    const button = h('button', { type: 'button', class: over ? 'primary small' : 'secondary small', onclick: () => signInAgain(over) },
      over ? 'Sign in' : 'Stay signed in');
    fill(bar, over
      ? h('p', {}, h('strong', {}, 'Your session has ended. '), 'Sign in again to save your changes; this page and your open forms stay as they are.')
      : h('p', {}, 'Your session ends in ', h('span', { class: 'session-left', 'aria-live': 'off' }, clockText(left)), '.'),
    button);
  } else if (!over) {
    bar.querySelector('.session-left').textContent = clockText(left);
  }
  const host = [...document.querySelectorAll('dialog[open] .dialog-body')].at(-1);
  if (host) {
    if (bar.parentElement !== host) host.prepend(bar);
  } else {
    const main = document.getElementById('main');
    if (bar.nextElementSibling !== main) main.before(bar);
  }
}

// ------------------------------------------------------ signing in again

/**
 * signInAgain opens the sign-in dialog over the page (once; a second call
 * gets the same promise). ended says the session is over (a request waits
 * for it) rather than about to end. It resolves true once signed in again
 * as the same user, false when signed out or put off; another user
 * signing in starts a fresh page.
 */
export function signInAgain(ended = session.expired) {
  if (prompt) return prompt.promise;
  if (session.refresh && !ended) {
    return renew().then((ok) => ok || signInAgain(true));
  }
  hideBar();
  let resolve;
  const promise = new Promise((r) => {
    resolve = r;
  });
  const who = session.user;
  const user = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true, spellcheck: 'false', autocapitalize: 'none', value: who, id: 'reauth-user' });
  const pass = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, id: 'reauth-password' });
  const msg = h('div', { class: 'banner', role: 'alert', tabindex: '-1', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const later = h('button', { type: 'button', class: 'secondary' }, ended ? 'Sign out' : 'Not now');
  const form = h('form', { class: 'form', novalidate: true },
    h('p', {}, ended
      ? 'Sign in again to continue: this page and your open forms stay as they are, and what you were saving is sent once you are signed in.'
      : 'Sign in again to stay signed in: this page and your open forms stay as they are.'),
    msg,
    h('div', { class: 'field' }, h('label', { for: user.id }, 'User name'), user),
    h('div', { class: 'field' }, h('label', { for: pass.id }, 'Password'), pass),
    h('div', { class: 'form-actions' }, later, submit));
  const focusBack = document.activeElement;
  const dlg = openDialog({
    title: ended ? 'Your session has ended' : 'Stay signed in',
    body: form,
    initialFocus: () => (who ? pass : user),
    // Only its buttons close it while a request waits for it.
    canClose: () => !ended,
    onClose: () => {
      if (prompt?.dlg === dlg) {
        prompt = null;
        resolve(false);
      }
      // Back to the form (or page) the dialog came over.
      setTimeout(() => {
        const target = focusBack?.isConnected && !focusBack.closest('#session-banner') ? focusBack
          : [...document.querySelectorAll('dialog[open] .dialog-body')].at(-1)?.querySelector('input:not([disabled]), select, textarea, button') || document.querySelector('main h1');
        target?.focus();
      });
      schedule();
    },
  });
  // While a request waits, the choice is to sign in or to sign out: no ×.
  if (ended) dlg.el.querySelector('.dialog-head .icon-button').hidden = true;
  prompt = { promise, resolve, dlg };
  later.addEventListener('click', () => {
    if (!ended) {
      dlg.forceClose();
      return;
    }
    prompt = null;
    dlg.forceClose();
    resolve(false);
    hooks.signedOut('You have signed out.');
  });
  const say = (kind, text) => {
    msg.className = `banner banner-${kind}`;
    msg.hidden = false;
    fill(msg, text);
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    const name = user.value.trim();
    if (!name || !pass.value) {
      say('error', 'Enter your user name and password.');
      (name ? pass : user).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      const res = await api.login(name, pass.value);
      const signedIn = res.user || name;
      if (who && signedIn !== who) {
        // Another user: the first user's page must not stay.
        session.set(res.token, signedIn, res.expires_in, res.refresh || null);
        freshPage();
        return;
      }
      session.set(res.token, signedIn, res.expires_in, res.refresh || null);
      settle(true);
    } catch (err) {
      submit.disabled = false;
      submit.textContent = 'Sign in';
      pass.value = '';
      pass.focus();
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 429) say('error', `Too many attempts — try again in ${clockText(err.retryAfter || 30)}.`);
      else if (err.status === 401) say('error', 'Wrong user name or password.');
      else say('error', err.problem.detail || err.message);
    }
  });
  return promise;
}

/**
 * ready resolves once the stored session is usable or known to be over: an
 * expired one that can renew (Cognito's refresh token) renews first, so a
 * fresh tab opens signed in.
 */
export async function ready() {
  if (session.token && session.expired && session.refresh) await renew();
  setTimeout(schedule); // once the page (or the sign-in page) shows
}
