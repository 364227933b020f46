// The History view: a project's audit trail (docs/api.md, "Audit trail"),
// or one resource's, newest first, in a dialog opened from the project page
// or from a row. It loads pages from GET /api/projects/{p}/audit and takes
// new records live from the WebSocket's "audit" messages (onAuditMessage),
// so that what another manager does appears as it happens.

import { ApiError, request, session } from './api.js';
import { openDialog } from './dialog.js';
import { dateTime, fill, h } from './dom.js';

const PAGE = 50;

// The open history views; each takes the records that match its filter.
const views = new Set();

const actionLabels = {
  create: 'Create', update: 'Update', delete: 'Delete', 'rotate-key': 'Rotate key', reveal: 'Reveal secret',
  'link-create': 'Create share link', 'link-open': 'Open share link', 'link-reveal': 'Reveal through share link',
  'link-revoke': 'Revoke share link', 'link-expire': 'Share link expired',
  login: 'Sign in', 'login-failed': 'Failed sign-in',
  'project-register': 'Register project', 'project-update': 'Update project', 'project-retire': 'Retire project', members: 'Change members',
  'user-add': 'Add login', 'user-password': 'Change login password', 'user-disable': 'Disable login', 'user-enable': 'Enable login',
};

const outcomeLabels = { accepted: 'Accepted', refused: 'Refused', succeeded: 'Succeeded', failed: 'Failed' };

/** onAuditMessage hands a live "audit" message to the open history views. */
export function onAuditMessage(msg) {
  if (!msg?.audit) return;
  for (const v of views) v.add(msg.audit);
}

/** resyncHistory reloads the open history views (after a reconnect, records may have been missed). */
export function resyncHistory() {
  for (const v of views) v.reload();
}

function query(filter, extra = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...filter, ...extra })) if (v) q.set(k, v);
  return q.toString();
}

function auditPath(project) {
  return `/api/projects/${encodeURIComponent(project)}/audit`;
}

/**
 * openHistoryDialog shows the trail of ctx.project, or of one resource
 * when resource ({kind, name}) is given.
 */
export function openHistoryDialog(ctx, resource) {
  const project = ctx.project.id;
  const fixed = resource ? { kind: resource.kind, name: resource.name } : {};
  let filter = { ...fixed };
  let next = '';
  let loading = null;
  const seen = new Set();

  const status = h('p', { class: 'history-status muted', role: 'status', 'aria-live': 'polite' }, 'Loading…');
  const banner = h('div', { class: 'banner', role: 'alert', hidden: true });
  const rows = h('tbody', {});
  const more = h('button', { type: 'button', class: 'secondary small', hidden: true }, 'Load older records');
  const actor = h('input', { type: 'text', id: 'history-actor', name: 'actor', autocomplete: 'off', spellcheck: 'false', placeholder: 'anyone' });
  const action = h('select', { id: 'history-action', name: 'action' },
    h('option', { value: '' }, 'Any action'),
    Object.entries(actionLabels).map(([v, label]) => h('option', { value: v }, label)));
  const apply = h('button', { type: 'submit', class: 'secondary small' }, 'Filter');
  const csv = h('button', { type: 'button', class: 'secondary small', dataset: { format: 'csv' } }, 'Export CSV');
  const jsonl = h('button', { type: 'button', class: 'secondary small', dataset: { format: 'jsonl' } }, 'Export JSON lines');
  const form = h('form', { class: 'inline-form history-filters', novalidate: true },
    h('label', { for: 'history-actor' }, 'Who'), actor,
    h('label', { for: 'history-action' }, 'Action'), action, apply);
  const subject = resource ? `${resource.kind} ${resource.name}` : `project ${project}`;
  const body = h('div', { class: 'form history' },
    form, status, banner,
    // The records scroll in their own box: it takes focus so that the keyboard can scroll it.
    h('div', { class: 'table-wrap history-wrap', tabindex: '0', role: 'region', 'aria-label': `History of ${subject}` }, h('table', { class: 'data history-table', id: 'history' },
      h('caption', { class: 'visually-hidden' }, `History of ${subject}, newest first; new records appear live`),
      h('thead', {}, h('tr', {}, ['Time', 'Who', 'Action', 'Resource', 'Outcome', 'Reason', 'Source'].map((t) => h('th', { scope: 'col' }, t)))),
      rows)),
    h('div', { class: 'form-actions' }, more, csv, jsonl));

  const view = {
    add(rec) {
      if (rec.project !== project || seen.has(rec.id) || !matches(rec)) return;
      seen.add(rec.id);
      rows.querySelector('tr.empty')?.remove();
      rows.prepend(row(rec, true));
      count();
    },
    reload: () => load(true),
  };
  views.add(view);
  const dlg = openDialog({
    title: resource ? `History of ${resource.kind} ${resource.name}` : 'Project history',
    description: 'Who did what, when and from where. Records are never changed or deleted.',
    body, wide: true, onClose: () => views.delete(view),
  });
  dlg.el.classList.add('history-dialog');

  function matches(rec) {
    return (!filter.actor || rec.actor === filter.actor) && (!filter.action || rec.action === filter.action) &&
      (!filter.kind || rec.kind === filter.kind) && (!filter.name || rec.name === filter.name);
  }

  function count() {
    const n = rows.querySelectorAll('tr[data-id]').length;
    status.textContent = n ? `${n} record${n === 1 ? '' : 's'}${next ? ' (older ones on request)' : ''}.` : 'No records.';
  }

  async function load(reset) {
    if (loading) await loading;
    loading = (async () => {
      banner.hidden = true;
      try {
        const res = await request('GET', `${auditPath(project)}?${query(filter, { limit: PAGE, cursor: reset ? '' : next })}`);
        if (reset) {
          seen.clear();
          fill(rows);
        }
        for (const rec of res.items || []) {
          if (seen.has(rec.id)) continue;
          seen.add(rec.id);
          rows.append(row(rec, false));
        }
        if (!rows.querySelector('tr[data-id]')) fill(rows, h('tr', { class: 'empty' }, h('td', { colspan: '7' }, 'Nothing recorded yet.')));
        next = res.next || '';
        more.hidden = !next;
        count();
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        if (err.status === 401) return;
        status.textContent = '';
        fill(banner, h('strong', {}, `${err.problem?.title || 'Error'}. `), err.problem?.detail || err.message);
        banner.className = 'banner banner-error';
        banner.hidden = false;
      }
    })();
    try {
      await loading;
    } finally {
      loading = null;
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    filter = { ...fixed, actor: actor.value.trim(), action: action.value };
    load(true);
  });
  more.addEventListener('click', () => load(false));
  for (const b of [csv, jsonl]) b.addEventListener('click', () => download(b));

  async function download(button) {
    const format = button.dataset.format;
    button.disabled = true;
    banner.hidden = true;
    try {
      // A download needs the bearer token, which a plain link cannot send.
      const res = await fetch(`${auditPath(project)}?${query(filter, { format })}`, {
        headers: { Authorization: `Bearer ${session.token}` }, cache: 'no-store', credentials: 'omit',
      });
      if (!res.ok) throw new Error(`the export failed (HTTP ${res.status})`);
      const blob = await res.blob();
      const name = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '')?.[1] || `audit.${format}`;
      const a = h('a', { href: URL.createObjectURL(blob), download: name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (err) {
      fill(banner, err.message);
      banner.className = 'banner banner-error';
      banner.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  load(true);
  return dlg;
}

/** row is one record as a table row; fresh rows (live) are marked for a moment. */
function row(rec, fresh) {
  const outcome = rec.outcome || '';
  const detail = Object.entries(rec.detail || {}).map(([k, v]) => `${k} ${v}`).join(', ');
  return h('tr', { class: fresh ? 'is-new' : null, dataset: { id: rec.id, action: rec.action, outcome, actor: rec.actor, name: rec.name || '' } },
    h('td', { class: 'nowrap' }, h('time', { datetime: rec.at }, dateTime(rec.at))),
    h('td', { class: 'mono' }, rec.actor),
    h('td', {}, actionLabels[rec.action] || rec.action, detail ? h('span', { class: 'sub muted' }, detail) : null),
    h('td', {}, rec.kind ? h('span', {}, `${rec.kind} `, h('span', { class: 'mono' }, rec.name)) : h('span', { class: 'muted' }, '—'),
      rec.operation_id ? h('span', { class: 'sub mono muted', title: 'Operation id' }, rec.operation_id) : null),
    h('td', {}, h('span', { class: ['outcome', `outcome-${outcome}`] }, outcomeLabels[outcome] || outcome)),
    h('td', { class: 'reason' }, rec.reason || ''),
    h('td', {}, rec.source_ip ? h('span', { class: 'mono', title: rec.user_agent || '' }, rec.source_ip) : h('span', { class: 'muted' }, '—'),
      rec.user_agent ? h('span', { class: 'sub muted ua' }, rec.user_agent) : null));
}
