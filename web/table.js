// A resource table that stays fast with thousands of rows: a filter (words
// that match a name, a tag or a granted bucket), a status choice, sorting by
// any column, pages, and row selection for bulk actions.
//
// Rendering is proportional to what changed. The table keeps each shown
// row's element with a signature of what it shows; a render rebuilds only
// the rows whose signature changed (a stack event touches its own row), and
// it filters and sorts again only when the set of resources, the filter or
// the sort changed. Rows that did not change keep their elements, and so
// their focus.

import { h, fill, keepFocus } from './dom.js';
import { rkey } from './resources.js';

const PAGE_SIZES = [25, 50, 100, 250];
const DEFAULT_PAGE_SIZE = 25;

/** storedPageSize is the page size last chosen for a table in this browser. */
function storedPageSize(id) {
  let n = 0;
  try {
    n = Number(localStorage.getItem(`bucketdesk.pageSize.${id}`));
  } catch {
    n = 0;
  }
  return PAGE_SIZES.includes(n) ? n : DEFAULT_PAGE_SIZE;
}

/** statusGroups are the status filter's choices; test(r) says whether r is in it. */
export const statusGroups = [
  { value: '', label: 'Any status', test: () => true },
  { value: 'ready', label: 'Ready', test: (r) => phaseOf(r) === 'ready' && !r.lock && !r.observed?.last_failure },
  { value: 'busy', label: 'In progress', test: (r) => Boolean(r.lock) || ['creating', 'updating', 'deleting'].includes(phaseOf(r)) },
  { value: 'failed', label: 'Failed or needs attention', test: (r) => phaseOf(r) === 'failed' || Boolean(r.observed?.last_failure) || r.observed?.stack_status === 'DELETE_FAILED' },
  { value: 'locked', label: 'Being changed by someone', test: (r) => Boolean(r.lock) },
];

function phaseOf(r) {
  return r.observed?.phase || 'creating';
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

function isEmpty(v) {
  return v === '' || v === null || v === undefined;
}

/** compareValues orders numbers numerically and strings as people read them; empty values go last. */
export function compareValues(a, b) {
  if (isEmpty(a) || isEmpty(b)) return isEmpty(a) - isEmpty(b);
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return collator.compare(String(a), String(b));
}

/**
 * matches reports whether r matches every word of query: a word matches
 * the name, a tag (key, value or key=value), or a granted bucket; words
 * are compared case-insensitively as substrings.
 */
export function matches(r, words) {
  if (!words.length) return true;
  const hay = searchText(r);
  return words.every((w) => hay.includes(w));
}

/** words splits a filter into lower-case words. */
export function words(query) {
  return String(query || '').toLowerCase().split(/\s+/).filter(Boolean);
}

const haystacks = new WeakMap();

function searchText(r) {
  let s = haystacks.get(r);
  if (s !== undefined) return s;
  const parts = [r.name];
  for (const [k, v] of Object.entries(r.spec?.bucket?.tags || {})) parts.push(k, v, `${k}=${v}`, `${k}:${v}`);
  for (const g of r.spec?.user?.grants || []) parts.push(g.bucket);
  s = parts.join('\n').toLowerCase();
  haystacks.set(r, s);
  return s;
}

/**
 * ResourceTable shows one kind of the page's ResourceStore.
 * opts: kind, id (the table's id), caption, columns [{label, sort(r) → value}]
 * (the name column first), row(r) → <tr>, sig(r) → string (what the row
 * shows; the row is rebuilt when it changes), liveSig(r) and patch(tr, r)
 * (optional: a part of the row that changes often, updated in place when
 * only it changed), emptyText, noun (plural), onSelection(table) when the
 * selection changes.
 */
export class ResourceTable {
  constructor(store, opts) {
    this.store = store;
    this.opts = opts;
    this.kind = opts.kind;
    this.query = '';
    this.status = '';
    this.sortCol = 0;
    this.sortDir = 1;
    this.page = 0;
    this.pageSize = storedPageSize(opts.id);
    this.loaded = false;
    this.selected = new Set(); // names
    this.order = null; // the filtered, sorted resources; null when it must be computed again
    this.orderRev = -1;
    this.rows = new Map(); // name → { sig, live, tr } of the shown rows
    this.total = 0;

    const noun = opts.noun;
    const ids = (s) => `${opts.id}-${s}`;
    this.filterInput = h('input', {
      type: 'search', id: ids('filter'), class: 'filter-input', placeholder: `Name${opts.kind === 'bucket' ? ', tag' : ', bucket'}…`,
      autocomplete: 'off', spellcheck: 'false', 'aria-controls': opts.id,
    });
    this.statusSelect = h('select', { id: ids('status'), 'aria-controls': opts.id },
      statusGroups.map((g) => h('option', { value: g.value }, g.label)));
    this.pageSizeSelect = h('select', { id: ids('page-size'), 'aria-controls': opts.id },
      PAGE_SIZES.map((n) => h('option', { value: String(n), selected: n === this.pageSize }, `${n} per page`)));
    this.summary = h('p', { class: 'table-summary', id: ids('summary'), role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' });
    this.selectAll = h('input', { type: 'checkbox', class: 'select-all', 'aria-label': `Select all ${noun} on this page` });
    this.headCells = opts.columns.map((c, i) => this.headCell(c, i));
    this.tbody = h('tbody');
    this.table = h('table', { class: 'data', id: opts.id, 'aria-describedby': ids('summary') },
      h('caption', { class: 'visually-hidden' }, opts.caption),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', class: 'select' }, this.selectAll),
        this.headCells,
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
      this.tbody);
    this.prev = h('button', { type: 'button', class: 'secondary small', dataset: { page: 'prev' } }, 'Previous', h('span', { class: 'visually-hidden' }, ` page of ${noun}`));
    this.next = h('button', { type: 'button', class: 'secondary small', dataset: { page: 'next' } }, 'Next', h('span', { class: 'visually-hidden' }, ` page of ${noun}`));
    this.pageLabel = h('span', { class: 'page-label' });
    this.pager = h('nav', { class: 'pager', 'aria-label': `Pages of ${noun}` }, this.prev, this.pageLabel, this.next);
    this.toolbar = h('div', { class: 'table-tools', role: 'search', 'aria-label': `Filter ${noun}` },
      h('div', { class: 'tool' }, h('label', { for: ids('filter') }, 'Filter'), this.filterInput),
      h('div', { class: 'tool' }, h('label', { for: ids('status') }, 'Status'), this.statusSelect),
      h('div', { class: 'tool' }, h('label', { for: ids('page-size') }, 'Show'), this.pageSizeSelect));
    this.el = h('div', { class: 'resource-table' }, this.toolbar, this.summary,
      h('div', { class: 'table-wrap' }, this.table), this.pager);

    let typing = null;
    this.filterInput.addEventListener('input', () => {
      clearTimeout(typing);
      typing = setTimeout(() => this.setFilter(this.filterInput.value), 120);
    });
    this.filterInput.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.filterInput.value) {
        e.preventDefault();
        this.filterInput.value = '';
        this.setFilter('');
      }
    });
    this.statusSelect.addEventListener('change', () => {
      this.status = this.statusSelect.value;
      this.reorder(true);
    });
    this.pageSizeSelect.addEventListener('change', () => {
      const first = this.page * this.pageSize;
      this.pageSize = Number(this.pageSizeSelect.value) || DEFAULT_PAGE_SIZE;
      try {
        localStorage.setItem(`bucketdesk.pageSize.${opts.id}`, String(this.pageSize));
      } catch {
        // Storage may be off; the choice lasts for this page.
      }
      this.page = Math.floor(first / this.pageSize);
      this.render();
    });
    this.prev.addEventListener('click', () => this.goPage(this.page - 1));
    this.next.addEventListener('click', () => this.goPage(this.page + 1));
    this.selectAll.addEventListener('change', () => {
      for (const r of this.pageItems()) {
        if (this.selectAll.checked) this.selected.add(r.name);
        else this.selected.delete(r.name);
      }
      this.render();
      this.opts.onSelection?.(this);
    });
  }

  headCell(col, i) {
    const button = h('button', { type: 'button', class: 'sort', dataset: { sort: String(i) } }, col.label, h('span', { class: 'sort-mark', 'aria-hidden': 'true' }));
    button.addEventListener('click', () => {
      if (this.sortCol === i) this.sortDir = -this.sortDir;
      else {
        this.sortCol = i;
        this.sortDir = 1;
      }
      this.reorder(true);
    });
    return h('th', { scope: 'col', dataset: { col: col.label } }, button);
  }

  setFilter(q) {
    if (q === this.query) return;
    this.query = q;
    this.reorder(true);
  }

  goPage(n) {
    const pages = this.pageCount();
    this.page = Math.max(0, Math.min(n, pages - 1));
    this.render();
  }

  /** reorder makes the next render filter and sort again; now renders at once. */
  reorder(now) {
    this.order = null;
    if (now) {
      this.page = 0;
      this.render();
    }
  }

  /** computeOrder filters and sorts the kind's resources, when anything changed. */
  computeOrder() {
    if (this.order && this.orderRev === this.store.rev) return this.order;
    const all = this.store.list(this.kind);
    this.total = all.length;
    const ws = words(this.query);
    const group = statusGroups.find((g) => g.value === this.status) || statusGroups[0];
    const list = all.filter((r) => group.test(r) && matches(r, ws));
    const col = this.opts.columns[this.sortCol];
    if (this.sortCol !== 0 || this.sortDir !== 1) {
      const key = new Map(list.map((r) => [r, col.sort(r)]));
      const dir = this.sortDir;
      list.sort((a, b) => {
        const ka = key.get(a);
        const kb = key.get(b);
        // Empty values stay last in both directions.
        if (isEmpty(ka) || isEmpty(kb)) return (isEmpty(ka) - isEmpty(kb)) || compareValues(a.name, b.name);
        return dir * compareValues(ka, kb) || compareValues(a.name, b.name);
      });
    }
    // Selected resources that are gone are no longer selected.
    if (this.selected.size) {
      const names = new Set(all.map((r) => r.name));
      for (const n of this.selected) if (!names.has(n)) this.selected.delete(n);
    }
    this.order = list;
    this.orderRev = this.store.rev;
    return list;
  }

  pageCount() {
    return Math.max(1, Math.ceil((this.order?.length || 0) / this.pageSize));
  }

  pageItems() {
    const list = this.computeOrder();
    const pages = Math.max(1, Math.ceil(list.length / this.pageSize));
    if (this.page >= pages) this.page = pages - 1;
    return list.slice(this.page * this.pageSize, (this.page + 1) * this.pageSize);
  }

  /** selection returns the selected resources, as the store has them now. */
  selection() {
    return [...this.selected].map((n) => this.store.get(this.kind, n)).filter(Boolean);
  }

  clearSelection() {
    this.selected.clear();
    this.render();
    this.opts.onSelection?.(this);
  }

  /** render brings the shown page up to date, touching only rows that changed. */
  render() {
    if (!this.tbody.isConnected) return;
    keepFocus(() => this.renderRows());
  }

  renderRows() {
    const { opts } = this;
    if (!this.loaded) {
      fill(this.tbody, emptyRow(opts.columns.length + 2, 'Loading…'));
      this.rows.clear();
      this.summary.textContent = '';
      this.pager.hidden = true;
      return;
    }
    const items = this.pageItems();
    const shown = this.order.length;
    const want = [];
    const keep = new Map();
    for (const r of items) {
      const selected = this.selected.has(r.name);
      const sig = `${opts.sig(r)}|${selected ? 1 : 0}`;
      const live = opts.liveSig ? opts.liveSig(r) : '';
      let row = this.rows.get(r.name);
      if (!row || row.sig !== sig) {
        row = { sig, live, tr: this.buildRow(r, selected) };
      } else if (row.live !== live) {
        // Only what patch updates changed (a stack event): no rebuild.
        opts.patch(row.tr, r);
        row.live = live;
      }
      keep.set(r.name, row);
      want.push(row.tr);
    }
    this.rows = keep;
    if (want.length === 0) {
      const text = this.total === 0 ? opts.emptyText : `No ${opts.noun} match the filter.`;
      fill(this.tbody, emptyRow(opts.columns.length + 2, text));
    } else {
      // Put the rows in place, touching only what differs: a row no longer
      // wanted (or replaced by its rebuilt self) is removed where it stands,
      // so that the rows after it are not moved.
      const wanted = new Set(want);
      let at = this.tbody.firstElementChild;
      for (const tr of want) {
        while (at && at !== tr && !wanted.has(at)) {
          const next = at.nextElementSibling;
          at.remove();
          at = next;
        }
        if (at === tr) {
          at = at.nextElementSibling;
          continue;
        }
        this.tbody.insertBefore(tr, at);
      }
      while (at) {
        const next = at.nextElementSibling;
        at.remove();
        at = next;
      }
    }
    // The header checkbox: all, some or none of this page selected.
    const onPage = items.filter((r) => this.selected.has(r.name)).length;
    this.selectAll.checked = items.length > 0 && onPage === items.length;
    this.selectAll.indeterminate = onPage > 0 && onPage < items.length;
    this.selectAll.disabled = items.length === 0;
    this.headCells.forEach((th, i) => {
      if (i === this.sortCol) th.setAttribute('aria-sort', this.sortDir === 1 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
      th.querySelector('.sort-mark').textContent = i === this.sortCol ? (this.sortDir === 1 ? ' ▲' : ' ▼') : '';
    });
    const pages = Math.max(1, Math.ceil(shown / this.pageSize));
    const from = shown ? this.page * this.pageSize + 1 : 0;
    const to = Math.min(shown, (this.page + 1) * this.pageSize);
    const hidden = this.total - shown;
    const summary = [
      shown ? `Showing ${fmt(from)}–${fmt(to)} of ${fmt(shown)}` : `Showing none of ${fmt(this.total)}`,
      hidden ? `${fmt(hidden)} hidden by the filter` : '',
      this.selected.size ? `${fmt(this.selected.size)} selected` : '',
    ].filter(Boolean).join(' · ');
    if (this.summary.textContent !== summary) this.summary.textContent = summary;
    this.summary.dataset.shown = String(shown);
    this.summary.dataset.hidden = String(hidden);
    this.pager.hidden = pages <= 1;
    this.prev.disabled = this.page === 0;
    this.next.disabled = this.page >= pages - 1;
    const label = `Page ${fmt(this.page + 1)} of ${fmt(pages)}`;
    if (this.pageLabel.textContent !== label) this.pageLabel.textContent = label;
  }

  buildRow(r, selected) {
    const tr = this.opts.row(r);
    const box = h('input', {
      type: 'checkbox', class: 'select-row', checked: selected,
      'aria-label': `Select ${r.kind} ${r.name}`, dataset: { focusId: `select:${rkey(r.kind, r.name)}` },
    });
    box.addEventListener('change', () => {
      if (box.checked) this.selected.add(r.name);
      else this.selected.delete(r.name);
      this.render();
      this.opts.onSelection?.(this);
    });
    tr.prepend(h('td', { class: 'select' }, box));
    if (selected) tr.classList.add('is-selected');
    return tr;
  }
}

const numberFormat = new Intl.NumberFormat('en-US');

function fmt(n) {
  return numberFormat.format(n);
}

function emptyRow(cols, text) {
  return h('tr', { class: 'empty' }, h('td', { colspan: String(cols) }, text));
}
