// What keeps a manager's edits in the bucket and user forms: the draft
// kept as they type (web/drafts.js) and restored when the form opens again,
// and, when the resource changed on the server meanwhile (a 412 on save, or
// seen live), the changes field by field with "Re-apply my changes", which
// takes the server's new version as the base and keeps the fields the
// manager changed (web/merge.js).

import { api } from './api.js';
import { clearDraft, loadDraft, markClosed, saveDraft } from './drafts.js';
import { h } from './dom.js';
import { diffSpecs, mergeSpecs, normalizeSpec, showValue } from './merge.js';

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

// A draft's time: 10:42 (local time), and the day when not today.
const hm = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hour12: false });
const dayHm = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false });
function when(t) {
  const d = new Date(t);
  return d.toDateString() === new Date().toDateString() ? hm.format(d) : dayHm.format(d);
}

/**
 * formEdits wires drafts and conflicts into a bucket or user form.
 * opts: ctx, kind, resource (null for a create form), form, slot (the
 * element the notes go in), collect() → the form's spec, load(spec),
 * focusFirst(), noDraft (the form opens with values of its own).
 * It returns {version, onConflict, describeNewer, saved, closed}.
 */
export function formEdits({ ctx, kind, resource, form, slot, collect, load, focusFirst, noDraft }) {
  const id = { user: ctx.me, project: ctx.project.id, form: kind, resource: resource?.name || '' };
  const st = {
    version: resource?.version ?? 0,
    // The server's spec the form was opened on (or last re-applied to).
    base: resource ? normalizeSpec(kind, resource.spec?.[kind]) : null,
  };
  const pristine = collect(); // what an untouched form sends
  let closed = false;

  const unchanged = (values) => diffSpecs(kind, st.base || pristine, values).length === 0;

  function keep() {
    if (closed) return;
    const values = collect();
    if (unchanged(values)) clearDraft(id);
    else saveDraft(id, { kind, base: st.base, baseVersion: st.version, values });
  }
  form.addEventListener('input', keep);
  form.addEventListener('change', keep);
  // Adding and removing rows are clicks; the row is gone after the handler.
  form.addEventListener('click', (e) => {
    if (e.target.closest('button[type=button]')) setTimeout(keep);
  });
  const onHide = () => keep();
  window.addEventListener('pagehide', onHide);

  function note(kindOf, ...content) {
    const el = h('div', { class: `banner banner-${kindOf} edits-note`, role: kindOf === 'warn' ? 'alert' : 'status', tabindex: '-1' }, ...content);
    slot.replaceChildren(el);
    return el;
  }

  // ------------------------------------------------------ draft restored

  const draft = noDraft ? null : loadDraft(id);
  if (draft && draft.kind === kind && draft.values) {
    let merged = null;
    if (resource && draft.baseVersion !== resource.version) {
      merged = mergeSpecs(kind, draft.base, draft.values, st.base);
      load(merged.spec);
    } else {
      load(draft.values);
    }
    if (unchanged(collect())) {
      clearDraft(id);
      load(resource ? resource.spec?.[kind] : null);
    } else {
      const discard = h('button', { type: 'button', class: 'secondary small', dataset: { action: 'discard-draft' } }, 'Discard');
      const el = note('info', h('p', {}, h('strong', {}, `Restored your unsaved changes from ${when(draft.savedAt)}. `),
        merged ? `The ${kind} changed on the server since (version ${draft.baseVersion} → ${resource.version}): your changes are laid on its latest version${merged.conflicts.length ? `; ${conflictText(merged.conflicts)}` : ''}. ` : '',
        'Review them, then save.'), discard);
      el.classList.add('draft-note');
      discard.addEventListener('click', () => {
        clearDraft(id);
        load(resource ? resource.spec?.[kind] : null);
        slot.replaceChildren();
        focusFirst();
      });
      saveDraft(id, { kind, base: st.base, baseVersion: st.version, values: collect() });
    }
  }

  // ------------------------------------------------------------- conflicts

  // showChanges tells what changed on the server (fresh, a Resource) since
  // the form's base, and offers to re-apply the manager's changes to it.
  function showChanges(fresh, onSave) {
    const theirs = normalizeSpec(kind, fresh.spec?.[kind]);
    const changes = diffSpecs(kind, st.base, theirs);
    const mine = new Set(diffSpecs(kind, st.base, collect()).map((c) => JSON.stringify(c.path)));
    const who = fresh.lock?.by || fresh.changed_by;
    const apply = h('button', { type: 'button', class: 'primary small', dataset: { action: 'reapply' } }, 'Re-apply my changes to the new version');
    const rows = changes.map((c) => h('tr', { dataset: { field: c.label } },
      h('th', { scope: 'row' }, c.label),
      h('td', { class: 'diff-old' }, showValue(c.path, c.from)),
      h('td', { class: 'diff-new' }, showValue(c.path, c.to)),
      h('td', {}, mine.has(JSON.stringify(c.path)) ? 'You changed it too: yours is kept' : '')));
    const el = note('warn',
      h('p', {}, h('strong', {}, onSave ? 'Not saved: ' : '', `this ${kind} changed on the server while you were editing`),
        who && who !== ctx.me ? ` (by ${who})` : '', `, version ${st.version} → ${fresh.version}. Your values are still in the form.`),
      changes.length
        ? h('table', { class: 'diff-table' }, h('caption', {}, 'Changed on the server since you opened the form'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'When you opened it'), h('th', { scope: 'col' }, 'Now'), h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Yours')))),
          h('tbody', {}, rows))
        : h('p', {}, 'No field you can edit here changed (its status or keys did).'),
      h('p', {}, `Re-apply takes version ${fresh.version} as the base and keeps the ${plural(mine.size, 'field', 'fields')} you changed; every other field takes the server's value. Then review and save again.`),
      h('div', { class: 'form-actions' }, apply));
    el.classList.add('conflict');
    apply.addEventListener('click', () => {
      const m = mergeSpecs(kind, st.base, collect(), theirs);
      load(m.spec);
      st.version = fresh.version;
      st.base = theirs;
      keep();
      const done = note('info', h('p', {}, h('strong', {}, `Your changes are laid on version ${fresh.version}. `),
        m.mine.length ? `Kept yours: ${m.mine.map((c) => c.label).join(', ')}. ` : 'You had changed nothing. ',
        m.conflicts.length ? `${conflictText(m.conflicts, true)}. ` : '',
        'Review, then save again.'));
      done.classList.add('reapplied');
      done.focus();
      watch?.refresh();
    });
    if (onSave) el.focus();
  }

  // rebase takes r's version as the base when no field of its spec
  // differs from the base (a status change): true if so.
  let autoRetries = 0;
  form.addEventListener('input', () => {
    autoRetries = 0;
  });
  function rebase(r) {
    const theirs = normalizeSpec(kind, r.spec?.[kind]);
    if (diffSpecs(kind, st.base, theirs).length) return false;
    st.version = Math.max(st.version, r.version);
    keep();
    return true;
  }

  let watch = null;
  return {
    get version() {
      return st.version;
    },
    /** setWatch gives the live watch to refresh after a re-apply. */
    setWatch(w) {
      watch = w;
    },
    /**
     * onConflict handles a 412 on save: reads the server's version and
     * shows what changed; resolves true when the save should simply go
     * again (no field changed, the new version is the base).
     */
    async onConflict() {
      const fresh = await api.get(ctx.project.id, kind, resource.name).catch(() => null);
      if (!fresh) {
        note('warn', h('p', {}, h('strong', {}, `This ${kind} changed while you were editing, `), 'and its new version cannot be read now. Your values are still in the form; try saving again.'));
        return false;
      }
      // Only its status changed (an operation ending): nothing of the
      // manager's can be lost, so the save goes again on the new version.
      if (rebase(fresh) && autoRetries++ < 2) return true;
      showChanges(fresh, true);
      return false;
    },
    /**
     * describeNewer is the live notice of a resource r newer than the
     * form's base: what changed, and a button to review it; null (and r's
     * version is the base from now on) when no field changed.
     */
    describeNewer(r) {
      if (rebase(r)) return null;
      const theirs = normalizeSpec(kind, r.spec?.[kind]);
      const changes = diffSpecs(kind, st.base, theirs);
      const review = h('button', { type: 'button', class: 'secondary small', dataset: { action: 'review-changes' } }, 'Review the changes');
      review.addEventListener('click', () => showChanges(r, false));
      const who = r.changed_by && r.changed_by !== ctx.me ? ` ${r.changed_by} changed` : ' It changed';
      return [h('span', {}, `${who} this ${kind} since you opened this form${changes.length ? ': ' : '.'}`,
        changes.slice(0, 4).map((c, i) => [i ? '; ' : '', `${c.label} ${showValue(c.path, c.from)} → ${showValue(c.path, c.to)}`]),
        changes.length > 4 ? `; and ${changes.length - 4} more` : '', changes.length ? '. ' : ' ',
        'Saving asks you to re-apply your changes first. '), review];
    },
    /** clearNotes removes the notes (when saving again). */
    clearNotes() {
      slot.replaceChildren();
    },
    /** saved forgets the draft: the change was accepted. */
    saved() {
      closed = true;
      clearDraft(id);
      window.removeEventListener('pagehide', onHide);
    },
    /**
     * closed ends the form: a draft stays (marked open, for the page to
     * reopen) when the page closed it (quiet: sign-out, session ended
     * elsewhere), else it is discarded.
     */
    closed(quiet) {
      if (closed) return;
      window.removeEventListener('pagehide', onHide);
      if (quiet) keep();
      else clearDraft(id);
      closed = true;
    },
    /** keepClosed keeps the draft but not as an open form. */
    keepClosed() {
      markClosed(id);
    },
  };
}

function conflictText(conflicts, first = false) {
  return `${first ? 'Also' : 'also'} changed on the server, yours kept: ${conflicts.map((c) => `${c.label} (server: ${showValue(c.path, c.theirs)})`).join(', ')}`;
}
