// bucketdesk's web UI: login, project picker, and a project's buckets and
// users kept live over the WebSocket (docs/api.md). No framework: views are
// rebuilt from state with the helpers of dom.js.

import { showAdmin } from './admin.js';
import { api, ApiError, session } from './api.js';
import { bulkBar } from './bulk.js';
import { renderBadge, staleNotice } from './connection.js';
import { revokeRefreshToken } from './cognito.js';
import { clockText, countdown } from './countdown.js';
import { closeAllDialogs } from './dialog.js';
import { missingBuckets } from './dependants.js';
import { fill, h } from './dom.js';
import { openBucketForm, openUserForm, reopenDrafts } from './forms.js';
import { onAuditMessage, openHistoryDialog, resyncHistory } from './history.js';
import { onLinkMessage } from './links.js';
import { Live } from './live.js';
import { Operations } from './progress.js';
import { ResourceStore, rkey, versioningLabel } from './resources.js';
import { bucketRow, initRows, latestEvent, patchProgress, userRow } from './rows.js';
import { ready, signInAgain, startSession } from './session.js';
import { ResourceTable } from './table.js';

const main = document.getElementById('main');
const pageBanner = document.getElementById('page-banner');
const userBox = document.getElementById('user-box');
const conn = document.getElementById('conn');
const crumbs = document.getElementById('crumbs');

const state = {
  project: null, // the Project shown
  store: new ResourceStore(),
  lastEvents: new Map(), // rkey → latest stack event of the running operation
  loaded: false,
  ops: null,
  live: null,
  stale: null, // the project page's notice that its tables may be out of date (connection.js)
  view: '',
  renderQueued: false,
  returnTo: null, // the page to go back to after signing in again
  sandbox: undefined, // the local binary (api.me().sandbox): buckets have an Objects dialog
  admin: undefined, // the user administers the portal (api.me().admin): the Administration link
};

// A small handle for tests and for debugging in the console.
window.__bucketdesk = {
  get socket() {
    return state.live?.socket || null;
  },
  get status() {
    return state.live?.status || 'offline';
  },
  get connects() {
    return state.live?.connects || 0;
  },
  get live() {
    return state.live;
  },
  state,
};

// --------------------------------------------------------------- plumbing

// A 401 opens the sign-in dialog over the page (session.js); the tabs of
// the browser share the session.
startSession({
  signedOut: (message) => signOut(message),
  signedIn: () => {
    if (state.view !== 'login') return;
    const target = location.hash.startsWith('#/projects') ? location.hash : state.returnTo || '#/projects';
    state.returnTo = null;
    if (location.hash === target) route();
    else location.hash = target;
  },
});

function signOut(message) {
  closeAllDialogs();
  stopLive();
  session.clear();
  state.admin = undefined;
  state.project = null;
  state.store.clear();
  state.ops?.clear();
  state.ops = null;
  // After signing in again, go back where the session ended.
  if (location.hash.startsWith('#/projects/')) state.returnTo = location.hash;
  if (location.hash !== '#/login') history.replaceState(null, '', '#/login');
  showLogin(message);
}

// signOutByHand is the Sign out button: the session ends here and in the
// other tabs, and Cognito revokes its refresh token (on AWS; best effort).
function signOutByHand() {
  const refresh = session.refresh;
  signOut('You have signed out.');
  if (refresh) revokeRefreshToken(refresh);
}

function stopLive() {
  state.live?.stop();
  state.live = null;
  setConn('offline');
}

function banner(kind, ...content) {
  if (!kind) {
    fill(pageBanner);
    pageBanner.hidden = true;
    return;
  }
  fill(pageBanner, h('div', { class: `banner banner-${kind}` }, ...content,
    h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Dismiss message', onclick: () => banner(null) }, '×')));
  pageBanner.hidden = false;
}

function problemText(err) {
  if (err instanceof ApiError) {
    const retry = err.retryAfter ? ` Try again in ${err.retryAfter} s.` : '';
    return (err.problem.detail || err.problem.title || err.message) + retry;
  }
  return err?.message || String(err);
}

function setConn(status, detail = '') {
  conn.hidden = status === 'offline' && !state.project;
  renderBadge(conn, status, detail);
  state.stale?.update(status, detail);
}

function renderUserBox() {
  if (!session.token || state.view === 'login') {
    fill(userBox);
    return;
  }
  fill(userBox,
    state.admin ? h('a', { href: '#/admin', id: 'admin-link' }, 'Administration') : null,
    h('span', { class: 'who' }, 'Signed in as ', h('strong', {}, session.user)),
    h('button', { type: 'button', class: 'secondary small', onclick: signOutByHand }, 'Sign out'));
}

function setCrumbs(project) {
  fill(crumbs, h('a', { href: '#/projects' }, 'Projects'),
    project ? [h('span', { 'aria-hidden': 'true', class: 'sep' }, '/'), h('span', { 'aria-current': 'page' }, project.name || project.id)] : null);
}

// ----------------------------------------------------------------- router

function route() {
  banner(null);
  // A session found over when the page opens means the sign-in page; one
  // that ends later, the sign-in dialog over the page at the next 401.
  if (!session.token || (session.expired && state.view === '')) {
    showLogin(session.token ? 'Your session has ended. Please sign in again.' : undefined);
    return;
  }
  renderUserBox();
  if (state.admin === undefined) {
    state.admin = false;
    api.me().then((me) => {
      state.admin = Boolean(me?.admin);
      if (session.token) renderUserBox();
    }).catch(() => {
      state.admin = undefined;
    });
  }
  if (location.hash === '#/admin') {
    stopLive();
    state.project = null;
    state.view = 'admin';
    conn.hidden = true;
    showAdmin(main, { setCrumbs, problemText, isCurrent: () => state.view === 'admin' });
    return;
  }
  const m = location.hash.match(/^#\/projects\/([^/]+)$/);
  if (m) {
    showProject(decodeURIComponent(m[1]));
  } else {
    showProjects();
  }
}

window.addEventListener('hashchange', route);

// ------------------------------------------------------------------ login

function showLogin(message) {
  state.view = 'login';
  document.title = 'Sign in — bucketdesk';
  renderUserBox();
  fill(crumbs);
  conn.hidden = true;
  const user = h('input', { type: 'text', id: 'login-user', name: 'username', autocomplete: 'username', required: true, spellcheck: 'false', autocapitalize: 'none' });
  const pass = h('input', { type: 'password', id: 'login-password', name: 'password', autocomplete: 'current-password', required: true });
  const msg = h('div', { id: 'login-message', role: 'alert', class: message ? 'banner banner-info' : 'banner', hidden: !message }, message || '');
  const submit = h('button', { type: 'submit', class: 'primary wide' }, 'Sign in');
  const form = h('form', { class: 'login-card', novalidate: true, 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title', tabindex: '-1' }, 'Sign in to bucketdesk'),
    h('p', { class: 'muted' }, 'Secured S3 buckets and managed IAM users for your projects.'),
    msg,
    h('div', { class: 'field' }, h('label', { for: 'login-user' }, 'User name'), user),
    h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Password'), pass),
    submit);
  // While the server refuses attempts (429), the message counts down to
  // when it accepts them again, and the button waits for it, unless
  // another user name is entered: the limit is per user name and address
  // (docs/api.md), so another user may still sign in.
  let stopWait = null;
  let waitingFor = null;
  user.addEventListener('input', () => {
    if (stopWait) submit.disabled = user.value.trim() === waitingFor;
  });
  const waitOut = (seconds) => {
    stopWait?.();
    waitingFor = user.value.trim();
    submit.disabled = true;
    submit.textContent = 'Sign in';
    const left = h('span', { class: 'login-wait', 'aria-live': 'off' }, clockText(seconds));
    msg.className = 'banner banner-error';
    msg.hidden = false;
    fill(msg, h('span', {}, 'Too many attempts — try again in ', left));
    let stop = null;
    stop = countdown(seconds, {
      tick: (s) => {
        if (form.isConnected) left.textContent = clockText(s);
        else stop?.(); // the page moved on
      },
      done: () => {
        stopWait = null;
        waitingFor = null;
        if (!form.isConnected) return;
        submit.disabled = false;
        msg.className = 'banner banner-info';
        fill(msg, 'You can try again now.');
      },
    });
    stopWait = stop;
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (submit.disabled) return;
    stopWait?.();
    stopWait = null;
    waitingFor = null;
    if (!user.value || !pass.value) {
      fill(msg, 'Enter your user name and password.');
      msg.className = 'banner banner-error';
      msg.hidden = false;
      (user.value ? pass : user).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      const res = await api.login(user.value.trim(), pass.value);
      session.set(res.token, res.user || user.value.trim(), res.expires_in, res.refresh || null);
      const target = location.hash.startsWith('#/projects') ? location.hash : state.returnTo || '#/projects';
      state.returnTo = null;
      if (location.hash === target) route();
      else location.hash = target;
    } catch (err) {
      if (err.status === 429) {
        waitOut(err.retryAfter || 30);
        pass.value = '';
        pass.focus();
        return;
      }
      submit.disabled = false;
      submit.textContent = 'Sign in';
      msg.className = 'banner banner-error';
      msg.hidden = false;
      fill(msg, err.status === 401 ? 'Wrong user name or password.' : problemText(err));
      pass.value = '';
      pass.focus();
    }
  });
  fill(main, h('div', { class: 'login-wrap' }, form));
  user.focus();
}

// --------------------------------------------------------------- projects

async function showProjects() {
  stopLive();
  state.project = null;
  state.view = 'projects';
  document.title = 'Projects — bucketdesk';
  setCrumbs(null);
  conn.hidden = true;
  const list = h('div', { class: 'project-list', 'aria-busy': 'true' }, h('p', { class: 'muted' }, 'Loading your projects…'));
  const h1 = h('h1', { tabindex: '-1' }, 'Your projects');
  fill(main, h('div', { class: 'page' }, h1, list));
  let items;
  try {
    items = (await api.projects()).items || [];
  } catch (err) {
    if (err.status === 401) return;
    fill(list, h('p', { class: 'banner banner-error' }, 'Could not load your projects: ', problemText(err)));
    return;
  }
  list.removeAttribute('aria-busy');
  if (items.length === 0) {
    fill(list, h('p', {}, 'You are not a member of any project yet. Ask an administrator to add you.'));
    return;
  }
  fill(list, h('ul', { class: 'cards' }, items.map((p) => h('li', { class: 'card' },
    h('h2', {}, h('a', { href: `#/projects/${encodeURIComponent(p.id)}`, class: 'card-link' }, p.name || p.id)),
    h('dl', { class: 'meta' },
      h('dt', {}, 'Project id'), h('dd', { class: 'mono' }, p.id),
      h('dt', {}, 'AWS account'), h('dd', { class: 'mono' }, p.account_id),
      h('dt', {}, 'Region'), h('dd', { class: 'mono' }, p.region),
      h('dt', {}, 'SFTP'), h('dd', {}, p.sftp ? 'available' : 'not set up'))))));
  if (state.view === 'projects' && !document.activeElement?.closest('main')) h1.focus({ preventScroll: true });
}

// ---------------------------------------------------------------- project

async function showProject(id) {
  const switching = state.project?.id !== id;
  if (switching) {
    stopLive();
    state.store.clear();
    state.lastEvents.clear();
    state.loaded = false;
  }
  state.view = 'project';
  let project;
  try {
    project = await api.project(id);
  } catch (err) {
    if (err.status === 401) return;
    setCrumbs(null);
    const h1 = h('h1', { tabindex: '-1' }, 'Project not found');
    fill(main, h('div', { class: 'page prose' }, h1,
      h('p', {}, err.status === 404 ? `There is no project ${id}, or you are not one of its members.` : problemText(err)),
      h('p', {}, h('a', { href: '#/projects' }, 'Back to your projects'))));
    h1.focus();
    return;
  }
  if (state.sandbox === undefined) state.sandbox = Boolean((await api.me().catch(() => null))?.sandbox);
  state.project = project;
  document.title = `${project.name || project.id} — bucketdesk`;
  setCrumbs(project);
  buildProjectPage(project);
  setConn(state.live?.status || 'connecting');
  await resync();
  if (switching && state.project?.id === id) reopenDrafts(formContext());
  if (!state.live) {
    state.live = new Live({
      ticket: () => api.wsTicket(),
      onMessage,
      onResync: () => resync(),
      onStatus: (s, detail) => setConn(s, detail),
      onAuthLost: async () => {
        if (session.token && await signInAgain(true)) state.live?.start();
      },
    });
    state.live.start();
  }
}

let tables = null; // { bucket, user }: the project page's ResourceTables

const phaseOrder = { failed: 0, creating: 1, updating: 2, deleting: 3, ready: 4, deleted: 5 };

/** statusSort orders rows by what needs attention first, then by lock. */
function statusSort(r) {
  const o = r.observed || {};
  const failing = o.stack_status === 'DELETE_FAILED' || o.last_failure ? 0 : 1;
  return (phaseOrder[o.phase || 'creating'] ?? 9) * 4 + failing * 2 + (r.lock ? 0 : 1);
}

/** latestEventId is the id of the stack event a row shows: a new one is patched into that row only. */
function latestEventId(r) {
  return latestEvent(r)?.event_id || '';
}

/**
 * rowSig is what a row shows, beyond the resource's version: its lock and
 * where the page adds to it. The latest stack event (latestEventId) is
 * patched into the row in place (rows.js patchProgress).
 */
function rowSig(r) {
  return `${r.version}|${r.lock?.operation_id || ''}|${r.observed?.stale ? 1 : 0}|${state.sandbox ? 1 : 0}|${(r.revealed_keys || []).length}`;
}

function makeTables(p) {
  // What both tables share: the bulk bar follows the selection, and a
  // row's latest stack event is patched in place.
  const common = { onSelection: (t) => bulkBars.get(t)?.update(), liveSig: latestEventId, patch: patchProgress };
  const bucket = new ResourceTable(state.store, {
    ...common,
    kind: 'bucket', id: 'buckets', noun: 'buckets',
    caption: `Buckets of project ${p.id}; changes appear live`,
    emptyText: 'No buckets yet. Create one with “New bucket”.',
    row: bucketRow,
    sig: rowSig,
    columns: [
      { label: 'Name', sort: (r) => r.name },
      { label: 'Status', sort: statusSort },
      { label: 'Versioning', sort: (r) => versioningLabel(r.spec?.bucket) },
      { label: 'Encryption', sort: (r) => r.spec?.bucket?.encryption?.type || '' },
      { label: 'Expiry', sort: (r) => r.spec?.bucket?.expiry_days || '' },
      { label: 'Tags', sort: (r) => Object.entries(r.spec?.bucket?.tags || {}).map(([k, v]) => `${k}=${v}`).sort().join(' ') },
    ],
  });
  const user = new ResourceTable(state.store, {
    ...common,
    kind: 'user', id: 'users', noun: 'users',
    caption: `Users of project ${p.id}; changes appear live`,
    emptyText: 'No users yet. Create one with “New user”.',
    row: userRow,
    // A user's row also shows which of its granted buckets are missing,
    // and how long its access lasts (to the minute).
    sig: (r) => `${rowSig(r)}|${missingBuckets(state.store, r).join(',')}|${r.spec?.user?.access_until ? Math.floor(Date.now() / 60000) : ''}`,
    columns: [
      { label: 'Name', sort: (r) => r.name },
      { label: 'Status', sort: statusSort },
      { label: 'Bucket access', sort: (r) => (r.spec?.user?.grants || []).map((g) => g.bucket).sort().join(' ') },
      { label: 'Access keys', sort: (r) => r.spec?.user?.access_keys || 0 },
      { label: 'SFTP', sort: (r) => (r.spec?.user?.sftp?.enabled ? 'On' : 'Off') },
    ],
  });
  const ctx = formContext();
  bulkBars.clear();
  for (const t of [bucket, user]) {
    const bar = bulkBar(ctx, t);
    bulkBars.set(t, bar);
    t.el.insertBefore(bar.el, t.summary);
  }
  return { bucket, user };
}

const bulkBars = new Map(); // ResourceTable → its bulk bar

function buildProjectPage(p) {
  const h1 = h('h1', { tabindex: '-1' }, p.name || p.id);
  const opsBox = h('div', { class: 'ops' });
  state.ops?.clear();
  state.ops = new Operations(opsBox);
  const ctx = formContext();
  tables = makeTables(p);
  tables.bucket.count = h('span', { class: 'count' });
  tables.user.count = h('span', { class: 'count' });
  const tablesBox = h('div', { class: 'tables' });
  state.stale = staleNotice(tablesBox, () => state.live?.retryNow());
  fill(main, h('div', { class: 'page' },
    h('div', { class: 'page-head' },
      h('div', {}, h1, h('p', { class: 'meta-line' },
        h('span', {}, 'Project ', h('code', {}, p.id)), h('span', {}, 'Account ', h('code', {}, p.account_id)),
        h('span', {}, 'Region ', h('code', {}, p.region)))),
      h('div', { class: 'page-actions' },
        h('button', { type: 'button', class: 'secondary', id: 'project-history', onclick: () => openHistoryDialog(ctx, null) }, 'History'),
        h('button', { type: 'button', class: 'primary', id: 'new-bucket', onclick: () => openBucketForm(ctx, null) }, 'New bucket'),
        h('button', { type: 'button', class: 'secondary', id: 'new-user', onclick: () => openUserForm(ctx, null) }, 'New user'))),
    state.stale.el,
    h('div', { class: 'layout' },
      fill(tablesBox,
        h('section', { 'aria-labelledby': 'buckets-title', class: 'panel' },
          h('h2', { id: 'buckets-title' }, 'Buckets ', tables.bucket.count), tables.bucket.el),
        h('section', { 'aria-labelledby': 'users-title', class: 'panel' },
          h('h2', { id: 'users-title' }, 'Users ', tables.user.count), tables.user.el)),
      h('aside', { class: 'panel activity', 'aria-labelledby': 'progress-title' },
        h('h2', { id: 'progress-title' }, 'Progress'), opsBox))));
  renderTables();
  h1.focus({ preventScroll: true });
}

// Open forms watch the resource they edit (see forms.js watchResource).
const watchers = new Set();

function formContext() {
  return {
    watch(fn) {
      watchers.add(fn);
      return () => watchers.delete(fn);
    },
    get project() {
      return state.project;
    },
    store: state.store,
    get ops() {
      return state.ops;
    },
    get me() {
      return session.user;
    },
  };
}

let resyncing = null;

/** resync re-reads the lists: on entering a project and after every (re)connect. */
async function resync() {
  if (resyncing) return resyncing;
  const p = state.project;
  if (!p) return;
  resyncing = (async () => {
    const mark = state.store.mark();
    try {
      const [buckets, users] = await Promise.all([api.list(p.id, 'bucket'), api.list(p.id, 'user')]);
      if (state.project?.id !== p.id) return;
      state.store.replaceKind('bucket', buckets.items || [], mark);
      state.store.replaceKind('user', users.items || [], mark);
      state.loaded = true;
      state.stale?.fresh();
      banner(null);
      scheduleRender();
      state.ops?.refresh();
      resyncHistory();
    } catch (err) {
      if (err.status === 401) return;
      if (err.status === 404 && state.project?.id === p.id) {
        // Removed from the project (or it was retired): the server closed
        // the live connection; show why instead of a stale page.
        stopLive();
        state.project = null;
        showProject(p.id);
        return;
      }
      banner('error', 'Could not load the project: ', problemText(err));
    }
  })();
  try {
    await resyncing;
  } finally {
    resyncing = null;
  }
}

function onMessage(msg) {
  if (!state.project || msg.project !== state.project.id) return;
  const { store, ops } = state;
  switch (msg.type) {
    case 'resource': {
      const r = msg.resource;
      if (!r) return;
      if (r.version === undefined) r.version = msg.version;
      if (store.put(r)) {
        if (!r.lock) state.lastEvents.delete(rkey(r.kind, r.name));
        ops?.onResource(r);
        scheduleRender();
      }
      break;
    }
    case 'resource_deleted':
      if (store.remove(msg.kind, msg.name, msg.version)) {
        state.lastEvents.delete(rkey(msg.kind, msg.name));
        if (msg.resource) ops?.onResource(msg.resource);
        scheduleRender();
      }
      break;
    case 'operation':
      if (msg.operation && store.fresh(msg.kind, msg.name, msg.version, true)) ops?.onOperation(msg.operation);
      break;
    case 'event':
      if (msg.event && store.fresh(msg.kind, msg.name, msg.version, true)) {
        ops?.onEvent(msg.event);
        const r = store.get(msg.kind, msg.name);
        if (r?.lock && r.lock.operation_id === msg.event.client_request_token) {
          state.lastEvents.set(rkey(msg.kind, msg.name), msg.event);
          scheduleRender();
        }
      }
      break;
    case 'audit':
      onAuditMessage(msg);
      break;
    case 'share_link':
      onLinkMessage(msg);
      break;
    default:
  }
}

/**
 * BEHIND_DIALOG_MS is how often the tables behind an open dialog follow
 * live changes: the manager is typing in the dialog, and its keystrokes
 * come first; the dialog's own notices (watchers) and the tables once it
 * closes are up to date at the next frame as usual.
 */
const BEHIND_DIALOG_MS = 250;
let tablesDue = 0; // when the tables behind a dialog render next (performance.now())

function scheduleRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame((now) => {
    state.renderQueued = false;
    for (const fn of watchers) fn();
    if (state.view !== 'project') return;
    if (document.querySelector('dialog[open]')) {
      if (!tablesDue) tablesDue = now + BEHIND_DIALOG_MS;
      if (now < tablesDue) {
        setTimeout(scheduleRender, tablesDue - now);
        return;
      }
    }
    tablesDue = 0;
    renderTables();
  });
}

const countFormat = new Intl.NumberFormat('en-US');

function renderTables() {
  if (!tables) return;
  for (const t of [tables.bucket, tables.user]) {
    if (t.loaded !== state.loaded) {
      t.loaded = state.loaded;
      t.reorder();
    }
    t.render();
    const n = state.loaded ? `(${countFormat.format(t.total)})` : '';
    if (t.count.textContent !== n) t.count.textContent = n;
  }
}

// ------------------------------------------------------------------- boot

initRows({ state, formContext });

ready().then(route);
