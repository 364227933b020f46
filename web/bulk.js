// Bulk actions on the rows a manager selected: delete them, or set and
// remove tags on buckets. Each resource becomes its own operation (its own
// request, If-Match its version), tracked in the progress panel like any
// other; what the server refuses is listed with its reason, and the rest
// goes ahead.

import { api, ApiError } from './api.js';
import { granteesOf } from './dependants.js';
import { openDialog } from './dialog.js';
import { h, fill } from './dom.js';
import { validateBucket } from './validate.js';

/** CONCURRENCY bounds the requests a bulk action has in flight. */
const CONCURRENCY = 4;

/**
 * mergeTags returns tags with set applied and the keys of remove removed
 * (remove wins over set), and whether anything changed.
 */
export function mergeTags(tags, set, remove) {
  const out = { ...(tags || {}) };
  for (const [k, v] of Object.entries(set || {})) out[k] = v;
  for (const k of remove || []) delete out[k];
  const before = tags || {};
  const changed = Object.keys(out).length !== Object.keys(before).length || Object.entries(out).some(([k, v]) => before[k] !== v);
  return { tags: out, changed };
}

/**
 * runAll calls fn(item) for every item, at most CONCURRENCY at a time, and
 * resolves with one result per item, in order: {ok, value} or {ok: false, error}.
 */
export async function runAll(items, fn, limit = CONCURRENCY) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = { ok: true, value: await fn(items[i], i) };
      } catch (error) {
        results[i] = { ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function plural(n, word) {
  return `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;
}

function reason(err) {
  if (err instanceof ApiError) {
    if (err.status === 412) return 'it changed since you selected it; look at it again and retry';
    if (err.status === 409 && err.problem.lock) return `someone else is changing it (${err.problem.lock.by})`;
    return err.problem.detail || err.problem.title || err.message;
  }
  return err?.message || String(err);
}

/**
 * bulkBar is the bar above a table while rows are selected: how many, and
 * the actions. update() follows the table's selection.
 */
export function bulkBar(ctx, table) {
  const kind = table.kind;
  const count = h('strong', { class: 'bulk-count' });
  const tagsButton = kind === 'bucket'
    ? h('button', { type: 'button', class: 'secondary small', dataset: { bulk: 'tags' }, onclick: () => openBulkTags(ctx, table) }, 'Set tags…')
    : null;
  const del = h('button', { type: 'button', class: 'danger-outline small', dataset: { bulk: 'delete' }, onclick: () => openBulkDelete(ctx, table) }, 'Delete…');
  const clear = h('button', { type: 'button', class: 'link small', dataset: { bulk: 'clear' }, onclick: () => table.clearSelection() }, 'Clear selection');
  const el = h('div', { class: 'bulk-bar', role: 'group', 'aria-label': `Actions on the selected ${kind}s`, hidden: true },
    count, h('span', { class: 'button-row' }, tagsButton, del, clear));
  return {
    el,
    update() {
      const n = table.selected.size;
      el.hidden = n === 0;
      count.textContent = `${plural(n, kind)} selected`;
    },
  };
}

/** resultList shows, per resource, what became of it; returns {el, set(name, state, text)}. */
function resultList(resources) {
  const items = new Map();
  // A long list scrolls in its own box: it takes focus so that the keyboard can scroll it.
  const el = h('ul', { class: 'bulk-list', tabindex: '0', 'aria-label': 'Selected resources' }, resources.map((r) => {
    const state = h('span', { class: 'bulk-state' });
    const li = h('li', { dataset: { name: r.name } }, h('span', { class: 'mono' }, r.name), ' ', state);
    items.set(r.name, { li, state });
    return li;
  }));
  return {
    el,
    set(name, state, text) {
      const it = items.get(name);
      if (!it) return;
      it.li.dataset.state = state;
      it.state.textContent = text;
    },
  };
}

/**
 * runBulk sends one request per resource and reports each outcome in the
 * list; accepted operations are tracked in the progress panel, and the
 * started resources leave the selection.
 */
async function runBulk(ctx, table, resources, list, send) {
  let started = 0;
  const refused = [];
  await runAll(resources, async (r) => {
    list.set(r.name, 'sending', 'sending…');
    try {
      const op = await send(r);
      if (op === null) {
        list.set(r.name, 'skipped', 'already so; nothing to change');
        table.selected.delete(r.name);
        return;
      }
      ctx.ops.track(op);
      started++;
      table.selected.delete(r.name);
      list.set(r.name, 'started', 'started');
    } catch (err) {
      refused.push(r.name);
      list.set(r.name, 'refused', `refused: ${reason(err)}`);
    }
  });
  table.render();
  table.opts.onSelection?.(table);
  return { started, refused };
}

/**
 * bulkSubmit sends a bulk action when its form is submitted: prepare()
 * may refuse (false) before anything is sent; run() sends and resolves
 * with {started, refused}. Then the button becomes Close; the dialog
 * closes at once when every resource was started, and otherwise stays,
 * listing what became of each.
 */
function bulkSubmit({ form, dlg, button, cancel, status, noun, total, prepare, run }) {
  let done = false;
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (done) {
      dlg.close();
      return;
    }
    if (prepare && !prepare()) return;
    button.disabled = true;
    cancel.disabled = true;
    status.textContent = 'Sending…';
    const { started, refused } = await run();
    done = true;
    status.textContent = `${plural(started, noun)} started${refused.length ? `; ${refused.length} refused (listed above with the reason)` : ''}.`;
    cancel.hidden = true;
    button.disabled = false;
    button.className = 'primary';
    button.textContent = 'Close';
    if (started === total) dlg.close();
    else button.focus();
  });
}

/** openBulkDelete confirms deleting the selected resources, then deletes each. */
function openBulkDelete(ctx, table) {
  const kind = table.kind;
  const resources = table.selection();
  if (!resources.length) return null;
  const list = resultList(resources);
  const status = h('p', { class: 'bulk-status', role: 'status' });
  const confirm = h('button', { type: 'submit', class: 'danger' }, `Delete ${plural(resources.length, kind)}`);
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  let warn = null;
  if (kind === 'bucket') {
    const granted = resources.filter((r) => granteesOf(ctx.store, r.name).length);
    if (granted.length) {
      warn = h('div', { class: 'banner banner-warn' }, h('p', {},
        h('strong', {}, `${plural(granted.length, 'bucket')} ${granted.length === 1 ? 'is' : 'are'} granted to users: `),
        'bucketdesk refuses to delete ', granted.length === 1 ? 'it' : 'them', ' until those grants are removed; the others are deleted.'),
      h('ul', { class: 'grantees-list' }, granted.map((r) => h('li', { class: 'mono' }, `${r.name} → ${granteesOf(ctx.store, r.name).map((u) => u.name).join(', ')}`))));
    }
  }
  const what = kind === 'bucket'
    ? 'Their CloudFormation stacks are deleted. CloudFormation deletes only empty buckets.'
    : 'Their CloudFormation stacks are deleted, with their access keys and SFTP access.';
  const form = h('form', { class: 'form', novalidate: true },
    h('p', {}, `Delete these ${plural(resources.length, kind)} from project ${ctx.project.id}? ${what} Each delete is its own operation.`),
    warn, list.el, status,
    h('div', { class: 'form-actions' }, cancel, confirm));
  const dlg = openDialog({ title: `Delete ${plural(resources.length, kind)}?`, body: form, wide: true, initialFocus: () => cancel });
  cancel.addEventListener('click', () => dlg.close());
  bulkSubmit({
    form, dlg, button: confirm, cancel, status, noun: 'delete', total: resources.length,
    run: () => runBulk(ctx, table, resources, list,
      (r) => api.remove(ctx.project.id, kind, r.name, (ctx.store.get(kind, r.name) || r).version)),
  });
  return dlg;
}

/** tagRow is one key/value pair of the bulk tags form. */
function tagRow(onRemove) {
  const key = h('input', { type: 'text', class: 'mono', 'aria-label': 'Tag key', spellcheck: 'false', autocomplete: 'off' });
  const val = h('input', { type: 'text', class: 'mono', 'aria-label': 'Tag value', spellcheck: 'false', autocomplete: 'off' });
  const row = h('div', { class: 'tag-row' }, key, val,
    h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Remove this tag', onclick: () => onRemove(row) }, '×'));
  row._tag = { key, val };
  return row;
}

/**
 * openBulkTags sets and removes tags on the selected buckets: every
 * bucket keeps its other tags; one update each, If-Match its version.
 */
function openBulkTags(ctx, table) {
  const resources = table.selection();
  if (!resources.length) return null;
  const rows = h('div', { class: 'tag-rows' });
  const removeRow = (row) => {
    row.remove();
    if (!rows.children.length) rows.append(tagRow(removeRow));
  };
  rows.append(tagRow(removeRow));
  const addRow = h('button', { type: 'button', class: 'secondary small' }, 'Add a tag');
  addRow.addEventListener('click', () => {
    const row = tagRow(removeRow);
    rows.append(row);
    row._tag.key.focus();
  });
  const removeKeys = h('input', { type: 'text', id: `bulk-remove-${table.opts.id}`, class: 'mono', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': `bulk-remove-${table.opts.id}-hint` });
  const problems = h('div', { class: 'banner banner-error', role: 'alert', hidden: true });
  const list = resultList(resources);
  const status = h('p', { class: 'bulk-status', role: 'status' });
  const apply = h('button', { type: 'submit', class: 'primary' }, `Apply to ${plural(resources.length, 'bucket')}`);
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const form = h('form', { class: 'form', novalidate: true },
    h('p', {}, `Set tags on ${plural(resources.length, 'bucket')}; their other tags stay. Each bucket is updated by its own operation.`),
    problems,
    h('fieldset', { class: 'fieldset' }, h('legend', {}, 'Set these tags'), rows, addRow),
    h('div', { class: 'field' }, h('label', { for: removeKeys.id }, 'Remove these tag keys'), removeKeys,
      h('p', { class: 'hint', id: `${removeKeys.id}-hint` }, 'Keys separated by commas; leave empty to remove none.')),
    list.el, status,
    h('div', { class: 'form-actions' }, cancel, apply));
  const dlg = openDialog({ title: `Set tags on ${plural(resources.length, 'bucket')}`, body: form, wide: true, initialFocus: () => rows.querySelector('input') });
  cancel.addEventListener('click', () => dlg.close());

  const collect = () => {
    const set = {};
    const local = [];
    for (const row of rows.children) {
      const { key, val } = row._tag;
      if (key.value === '' && val.value === '') continue;
      if (key.value === '') local.push(`a tag with value "${val.value}" has no key`);
      else if (Object.hasOwn(set, key.value)) local.push(`tag key ${key.value} is given twice`);
      set[key.value] = val.value;
    }
    const remove = removeKeys.value.split(',').map((s) => s.trim()).filter(Boolean);
    if (!Object.keys(set).length && !remove.length) local.push('give at least one tag to set or one key to remove');
    return { set, remove, local };
  };

  let plans = null;
  bulkSubmit({
    form, dlg, button: apply, cancel, status, noun: 'update', total: resources.length,
    // Check every bucket's resulting tags the way the server will, before sending anything.
    prepare: () => {
      const { set, remove, local } = collect();
      const bad = [...local];
      plans = new Map();
      for (const r of resources) {
        const cur = ctx.store.get('bucket', r.name) || r;
        const spec = cur.spec?.bucket || { name: r.name };
        const merged = mergeTags(spec.tags, set, remove);
        const next = { ...spec, tags: merged.tags };
        if (!Object.keys(merged.tags).length) delete next.tags;
        for (const p of validateBucket(next)) {
          if (p.field === 'tags' || p.field.startsWith('tags.')) bad.push(`${r.name}: ${p.field} ${p.message}`);
        }
        plans.set(r.name, { r: cur, next, changed: merged.changed });
      }
      if (bad.length) {
        fill(problems, h('p', {}, h('strong', {}, 'Nothing was changed: ')), h('ul', {}, [...new Set(bad)].slice(0, 20).map((t) => h('li', {}, t))));
        problems.hidden = false;
        return false;
      }
      problems.hidden = true;
      return true;
    },
    run: () => runBulk(ctx, table, resources, list, (r) => {
      const p = plans.get(r.name);
      return p.changed ? api.update(ctx.project.id, 'bucket', r.name, p.next, p.r.version) : null;
    }),
  });
  return dlg;
}
