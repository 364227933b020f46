// The local binary's sandbox objects: a dialog that shows what a bucket
// holds in the simulated AWS, adds objects and empties the bucket, so that
// a manager trying bucketdesk sees that only an empty bucket is deleted.
// The dialog exists only when /api/me says sandbox; AWS has no such routes.

import { api, ApiError } from './api.js';
import { openDialog } from './dialog.js';
import { dateTime, fill, h } from './dom.js';

let uid = 0;

/** countText is "3 object versions and 1 delete marker", "empty". */
export function countText(c) {
  if (!c) return '';
  if (c.more) return `more than ${c.versions + c.delete_markers} object versions and delete markers`;
  const v = `${c.versions} object version${c.versions === 1 ? '' : 's'}`;
  const m = `${c.delete_markers} delete marker${c.delete_markers === 1 ? '' : 's'}`;
  if (!c.versions && !c.delete_markers) return 'nothing: it is empty';
  if (!c.delete_markers) return v;
  if (!c.versions) return m;
  return `${v} and ${m}`;
}

/** openObjectsDialog shows and changes what bucket resource holds in the sandbox. */
export function openObjectsDialog(ctx, resource) {
  const name = resource.name;
  const status = h('p', { class: 'objects-count', role: 'status', 'aria-live': 'polite' }, 'Loading…');
  const banner = h('div', { class: 'banner', role: 'alert', tabindex: '-1', hidden: true });
  const list = h('tbody', {});
  const keyId = `object-key-${++uid}`;
  const key = h('input', { type: 'text', id: keyId, name: 'key', class: 'mono', value: `reports/${new Date().toISOString().slice(0, 10)}.csv`, maxlength: '1024', autocomplete: 'off' });
  const add = h('button', { type: 'submit', class: 'secondary' }, 'Add object');
  const empty = h('button', { type: 'button', class: 'danger-outline' }, 'Empty bucket');
  const close = h('button', { type: 'button', class: 'primary' }, 'Done');
  const body = h('div', { class: 'form' },
    h('p', { class: 'muted' }, 'The sandbox keeps each object version and delete marker (not their content), as S3 does. S3 deletes only an empty bucket.'),
    status, banner,
    h('div', { class: 'table-wrap objects-wrap', tabindex: '0', role: 'region', 'aria-label': `Objects in bucket ${name}` }, h('table', { class: 'data objects' },
      h('caption', { class: 'visually-hidden' }, `Object versions and delete markers in bucket ${name}`),
      h('thead', {}, h('tr', {}, ['Key', 'Version', 'Kind', 'Written'].map((t) => h('th', { scope: 'col' }, t)))),
      list)),
    h('form', { class: 'inline-form', novalidate: true, onsubmit: (e) => { e.preventDefault(); act(add, () => api.putObject(ctx.project.id, name, key.value)); } },
      h('label', { for: keyId }, 'Object key'), key, add),
    h('div', { class: 'form-actions' }, empty, close));
  const dlg = openDialog({ title: `Objects in bucket ${name}`, description: 'Sandbox only: the local binary\'s simulated AWS.', body, wide: true, initialFocus: () => key });
  close.addEventListener('click', () => dlg.close());
  empty.addEventListener('click', () => act(empty, () => api.emptyBucket(ctx.project.id, name)));

  async function act(button, send) {
    banner.hidden = true;
    button.disabled = true;
    try {
      await send();
      await load();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      say(err);
    } finally {
      button.disabled = false;
    }
  }

  function say(err) {
    fill(banner, h('strong', {}, `${err.problem?.title || 'Error'}. `), err.problem?.detail || '');
    banner.className = 'banner banner-error';
    banner.hidden = false;
  }

  async function load() {
    try {
      const res = await api.objects(ctx.project.id, name);
      status.textContent = `Bucket ${name} holds ${countText(res.count)}.`;
      status.dataset.versions = String(res.count.versions);
      status.dataset.deleteMarkers = String(res.count.delete_markers);
      fill(list, (res.items || []).length ? res.items.map((v) => h('tr', {},
        h('td', { class: 'mono' }, v.key),
        h('td', { class: 'mono small' }, v.version_id + (v.is_latest ? ' (latest)' : '')),
        h('td', {}, v.delete_marker ? 'Delete marker' : `${v.size} bytes`),
        h('td', { class: 'nowrap' }, dateTime(v.last_modified))))
        : h('tr', { class: 'empty' }, h('td', { colspan: '4' }, 'No objects.')));
      empty.disabled = !res.items?.length;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      status.textContent = '';
      say(err);
    }
  }
  load();
  return dlg;
}
