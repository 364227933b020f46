// A resource's table row: its name (opening the details), status with the
// lock and the latest stack event of its running operation, what its spec
// says, and its actions. The rows depend on the page's state through view:
// { state, formContext }.

import { session } from './api.js';
import { brokenMarker, fixButton, missingBuckets } from './dependants.js';
import { accessBadge, openDetailsDialog, wholeResource } from './details.js';
import { domId, h, keepFocus } from './dom.js';
import { lockText, openBucketForm, openDeleteDialog, openRevealDialog, openRotateDialog, openUserForm } from './forms.js';
import { openHistoryDialog } from './history.js';
import { openLinksDialog } from './links.js';
import { actionMenu } from './menu.js';
import { openObjectsDialog } from './objects.js';
import { rkey, versioningLabel } from './resources.js';
import { rotateKeyProblem } from './validate.js';

let state = null;
let formContext = null;

/** initRows gives the rows the page's state and its form context. */
export function initRows(view) {
  state = view.state;
  formContext = view.formContext;
}

const phaseLabels = { creating: 'Creating', ready: 'Ready', updating: 'Updating', deleting: 'Deleting', failed: 'Failed', deleted: 'Deleted' };

/** deleteFailedHint says what a failed delete means and how to finish it. */
function deleteFailedHint(r) {
  if (r.kind === 'bucket') {
    return 'Not deleted: the bucket still holds data, and keeps its HTTPS-only policy. Empty it (every object version and delete marker), then delete it again.';
  }
  return 'Not deleted: fix the cause above, then delete it again.';
}

function progressText(ev) {
  return `${ev.logical_resource_id}: ${ev.resource_status}`;
}

/**
 * latestEvent is the stack event a row shows: the latest of the operation
 * holding its lock (an event message's, or the one its resource or list
 * row carries).
 */
export function latestEvent(r) {
  const op = r.lock?.operation_id;
  if (!op) return undefined;
  const ev = state.lastEvents.get(rkey(r.kind, r.name));
  if (ev?.client_request_token === op) return ev;
  return r.operation?.id === op ? r.operation.events?.at(-1) : undefined;
}

/**
 * patchProgress brings a row's progress note (its running operation's
 * latest stack event) up to date in place, without rebuilding the row: a
 * stack event changes nothing else a row shows.
 */
export function patchProgress(tr, r) {
  const ev = r.lock && latestEvent(r);
  let note = tr.querySelector('.progress-note');
  if (!ev) {
    note?.remove();
    return;
  }
  if (!note) {
    const lock = tr.querySelector('.lock-note');
    if (!lock) return;
    note = h('p', { class: 'status-note progress-note' });
    lock.after(note);
  }
  const text = progressText(ev);
  if (note.textContent !== text) note.textContent = text;
}

/** statusCell shows the phase (text and colour), a failure, and who holds the lock. */
function statusCell(r) {
  const o = r.observed || {};
  const phase = o.phase || 'creating';
  const warn = phase === 'ready' && o.last_failure;
  const lockId = domId('lock', r.kind, r.name);
  const ev = latestEvent(r);
  return h('td', { class: 'status-cell' },
    h('span', { class: ['phase', `phase-${warn ? 'warn' : phase}`], dataset: { phase } },
      h('span', { class: 'phase-dot', 'aria-hidden': 'true' }), phaseLabels[phase] || phase, warn ? ' — last change failed' : ''),
    warn ? h('p', { class: 'status-note warn-note' }, h('span', { 'aria-hidden': 'true' }, '⚠ '), o.last_failure) : null,
    phase === 'failed' && o.status_reason ? h('p', { class: 'status-note bad-note' }, o.status_reason) : null,
    o.stack_status === 'DELETE_FAILED' ? h('p', { class: 'status-note bad-note delete-failed-note' }, deleteFailedHint(r)) : null,
    r.lock ? h('p', { class: ['lock-note', r.lock.by === session.user ? 'lock-mine' : 'lock-other'], id: lockId },
      h('span', { class: 'lock-icon', 'aria-hidden': 'true' }), capitalize(lockText(r.lock, session.user))) : null,
    r.lock && ev ? h('p', { class: 'status-note progress-note' }, progressText(ev)) : null,
    r.lock && r.operation ? h('button', {
      type: 'button', class: 'link small', dataset: { focusId: `progress:${rkey(r.kind, r.name)}` },
      onclick: () => state.ops?.track(r.operation).el.querySelector('button')?.focus(),
    }, 'Show progress', h('span', { class: 'visually-hidden' }, ` of ${r.kind} ${r.name}`)) : null,
    o.stale ? h('p', { class: 'status-note muted' }, 'May be out of date; refreshing.') : null);
}

function capitalize(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

/**
 * why returns why r cannot be changed now (null when it can): the lock of
 * another change, or a stack that must be deleted first.
 */
function lockedReason(r) {
  if (r.lock) {
    return { text: `Cannot change now: it is ${lockText(r.lock, session.user)}.`, id: domId('lock', r.kind, r.name) };
  }
  return null;
}

function actionButton(label, r, { onClick, reason, focusId, danger }) {
  const reasonId = reason ? (reason.id || null) : null;
  return h('button', {
    type: 'button',
    class: ['small', danger ? 'danger-outline' : 'secondary'],
    disabled: Boolean(reason),
    title: reason?.text || null,
    'aria-describedby': reasonId,
    dataset: { focusId, action: label.toLowerCase() },
    onclick: onClick,
  }, label, h('span', { class: 'visually-hidden' }, ` ${r.kind} ${r.name}`));
}

/**
 * compact: a narrow window (a phone, a tablet upright), where a row's
 * actions are one Actions menu; on a wide one Edit and Delete are buttons
 * and the others are in a More menu. A row's actions are rebuilt when the
 * window crosses the width.
 */
const compact = window.matchMedia('(max-width: 800px)');
compact.addEventListener('change', () => {
  for (const td of document.querySelectorAll('tr[data-kind][data-name] > td.actions')) {
    const tr = td.parentElement;
    const r = state?.store.get(tr.dataset.kind, tr.dataset.name);
    if (r) keepFocus(() => td.replaceWith(rowActions(r)));
  }
});

function rowActions(r) {
  const locked = lockedReason(r);
  const ctx = formContext();
  const key = rkey(r.kind, r.name);
  let editReason = locked;
  let hiddenReason = null;
  if (!editReason && r.observed?.stack_status === 'DELETE_FAILED') {
    const id = domId('why-edit', r.kind, r.name);
    editReason = { text: 'Its delete failed; it can only be deleted again.', id };
    hiddenReason = h('span', { class: 'visually-hidden', id }, editReason.text);
  }
  if (!editReason && r.observed?.stack_status === 'ROLLBACK_COMPLETE') {
    const id = domId('why-edit', r.kind, r.name);
    editReason = { text: `It failed to create (${r.observed.status_reason || 'see the status'}); delete it, then create it again.`, id };
    hiddenReason = h('span', { class: 'visually-hidden', id }, editReason.text);
  }
  const edit = {
    label: 'Edit', reason: editReason, focusId: `edit:${key}`,
    onClick: () => {
      const fresh = state.store.get(r.kind, r.name) || r;
      (r.kind === 'bucket' ? openBucketForm : openUserForm)(ctx, fresh);
    },
  };
  const more = [
    state.sandbox && r.kind === 'bucket' && bucketExists(r) ? {
      label: 'Objects', focusId: `objects:${key}`,
      onClick: () => openObjectsDialog(ctx, r),
    } : null,
    { label: 'History', focusId: `history:${key}`, onClick: () => openHistoryDialog(ctx, r) },
    r.kind === 'user' ? {
      label: 'Share', focusId: `share:${key}`,
      // The dialog shows the SFTP user name, one of the details.
      onClick: async () => openLinksDialog(ctx, (await wholeResource(ctx, r.kind, r.name)) || r),
    } : null,
  ];
  const del = {
    label: 'Delete', reason: locked, danger: true, focusId: `delete:${key}`,
    onClick: () => openDeleteDialog(ctx, state.store.get(r.kind, r.name) || r),
  };
  const item = (a) => a && { label: a.label, context: ` ${r.kind} ${r.name}`, action: a.label.toLowerCase(), reason: a.reason, danger: a.danger, onSelect: a.onClick };
  if (compact.matches) {
    return h('td', { class: 'actions' }, actionMenu({
      label: 'Actions', context: ` for ${r.kind} ${r.name}`, focusId: `actions:${key}`,
      items: [edit, ...more, del].map(item),
    }));
  }
  return h('td', { class: 'actions' }, h('div', { class: 'button-row' },
    actionButton('Edit', r, edit),
    actionButton('Delete', r, del),
    actionMenu({ label: 'More', context: ` actions for ${r.kind} ${r.name}`, focusId: `more:${key}`, items: more.map(item) })),
  hiddenReason);
}

/** bucketExists: the bucket's stack made it, and it is not deleted yet. */
function bucketExists(r) {
  const o = r.observed || {};
  return ['ready', 'updating', 'deleting'].includes(o.phase) || o.stack_status === 'DELETE_FAILED';
}

export function bucketRow(r) {
  const b = r.spec?.bucket || {};
  const tags = Object.entries(b.tags || {});
  return h('tr', { dataset: { name: r.name, kind: 'bucket', version: String(r.version), phase: r.observed?.phase || '', locked: r.lock ? r.lock.by : '', focusId: `row:${rkey('bucket', r.name)}` }, class: r.lock ? 'is-locked' : null },
    h('th', { scope: 'row', class: 'mono name' }, nameButton(r)),
    statusCell(r),
    h('td', {}, versioningLabel(b)),
    h('td', {}, b.encryption?.type === 'SSE-KMS'
      ? h('span', { title: b.encryption.kms_key_arn }, 'SSE-KMS', h('span', { class: 'sub mono' }, shortArn(b.encryption.kms_key_arn)))
      : 'SSE-S3'),
    h('td', { class: 'nowrap' }, b.expiry_days ? `${b.expiry_days} day${b.expiry_days === 1 ? '' : 's'}` : 'Never'),
    h('td', {}, tags.length ? h('ul', { class: 'tags' }, tags.map(([k, v]) => h('li', {}, h('span', { class: 'tag-k' }, k), v ? h('span', { class: 'tag-v' }, v) : null))) : h('span', { class: 'muted' }, 'None')),
    rowActions(r));
}

/** nameButton is a row's name; it opens the resource's details. */
function nameButton(r) {
  return h('button', {
    type: 'button', class: 'link name-link', dataset: { focusId: `details:${rkey(r.kind, r.name)}`, action: 'details' },
    onclick: () => openDetailsDialog(formContext(), state.store.get(r.kind, r.name) || r),
  }, r.name, h('span', { class: 'visually-hidden' }, ` — details of ${r.kind} ${r.name}`));
}

function shortArn(arn) {
  const i = arn?.lastIndexOf(':') ?? -1;
  return i >= 0 ? arn.slice(i + 1) : arn || '';
}

const accessLabels = { read: 'read', write: 'write', readwrite: 'read & write' };

export function userRow(r) {
  const u = r.spec?.user || {};
  const grants = u.grants || [];
  const missing = missingBuckets(state.store, r);
  return h('tr', { dataset: { name: r.name, kind: 'user', version: String(r.version), phase: r.observed?.phase || '', locked: r.lock ? r.lock.by : '', focusId: `row:${rkey('user', r.name)}` }, class: r.lock ? 'is-locked' : null },
    h('th', { scope: 'row', class: 'mono name' }, nameButton(r), accessBadge(u)),
    statusCell(r),
    h('td', {}, grants.length ? h('ul', { class: 'grants' }, grants.map((g) => h('li', { dataset: missing.includes(g.bucket) ? { broken: 'true' } : {} },
      h('span', { class: 'mono' }, g.bucket), g.prefix ? h('span', { class: 'mono muted' }, `/${g.prefix}`) : null,
      ' ', h('span', { class: `access access-${g.access}` }, accessLabels[g.access] || g.access),
      missing.includes(g.bucket) ? [' ', brokenMarker()] : null)))
      : h('span', { class: 'muted' }, 'None'),
    missing.length ? fixButton(r, missing, () => {
      const fresh = state.store.get('user', r.name) || r;
      openUserForm(formContext(), fresh, { dropBuckets: missingBuckets(state.store, fresh) });
    }) : null),
    keysCell(r),
    h('td', {}, u.sftp?.enabled ? `On (${(u.sftp.ssh_keys || []).length} key${(u.sftp.ssh_keys || []).length === 1 ? '' : 's'})` : 'Off'),
    rowActions(r));
}

function keysCell(r) {
  const u = r.spec?.user || {};
  const n = u.access_keys || 0;
  if (n === 0) return h('td', {}, h('span', { class: 'muted' }, 'None'));
  const ctx = formContext();
  const locked = lockedReason(r);
  const items = [];
  for (let k = 1; k <= n; k++) {
    const id = r.observed?.outputs?.[`AccessKey${k}Id`];
    const revealed = id && (r.revealed_keys || []).includes(id);
    const whyId = domId('why-key', r.name, k);
    let revealWhy = locked;
    if (!revealWhy && !id) revealWhy = { text: 'The key is not made yet.', id: whyId };
    if (!revealWhy && revealed) revealWhy = { text: 'Its secret was already revealed once; rotate the key to get a new secret.', id: whyId };
    let rotateWhy = locked;
    const rp = rotateKeyProblem(u, k);
    if (!rotateWhy && rp) rotateWhy = { text: capitalize(rp) + '.', id: domId('why-rotate', r.name, k) };
    items.push(h('li', { class: 'key' },
      h('span', { class: 'key-label' }, `Key ${k}`),
      id ? h('code', { class: 'key-id' }, id) : h('span', { class: 'muted' }, 'being made…'),
      revealed ? h('span', { class: 'pill' }, 'secret revealed') : null,
      h('span', { class: 'button-row' },
        h('button', {
          type: 'button', class: 'secondary small', disabled: Boolean(revealWhy), title: revealWhy?.text || null,
          'aria-describedby': revealWhy?.id || null, dataset: { focusId: `reveal:${r.name}/${k}`, action: 'reveal' },
          onclick: () => openRevealDialog(ctx, state.store.get('user', r.name) || r, k),
        }, 'Reveal secret', h('span', { class: 'visually-hidden' }, ` of key ${k} of user ${r.name}`)),
        h('button', {
          type: 'button', class: 'secondary small', disabled: Boolean(rotateWhy), title: rotateWhy?.text || null,
          'aria-describedby': rotateWhy?.id || null, dataset: { focusId: `rotate:${r.name}/${k}`, action: 'rotate' },
          onclick: () => openRotateDialog(ctx, state.store.get('user', r.name) || r, k),
        }, 'Rotate', h('span', { class: 'visually-hidden' }, ` key ${k} of user ${r.name}`))),
      revealWhy && revealWhy !== locked ? h('span', { class: 'visually-hidden', id: whyId }, revealWhy.text) : null,
      rotateWhy && rotateWhy !== locked ? h('span', { class: 'visually-hidden', id: rotateWhy.id }, rotateWhy.text) : null));
  }
  return h('td', {}, h('ul', { class: 'keys' }, items));
}

