// Modal dialogs on the native <dialog> element: showModal makes the rest
// of the page inert and Escape closes; we add focus on open and focus
// return to the opener on close.

import { h } from './dom.js';

let seq = 0;
const open = new Set(); // close functions of the open dialogs

/** closeAllDialogs closes every open dialog without moving focus (on sign-out). */
export function closeAllDialogs() {
  for (const close of [...open]) close(undefined, true);
}

/**
 * openDialog shows a modal dialog. opts: title, body (nodes), wide,
 * onClose(value, quiet) (quiet: closed by the page, as on sign-out), canClose(). Returns {el, close, forceClose, id}. The dialog is
 * removed from the document when closed, and focus goes back to the
 * element that had it. canClose, when given, is asked before the × button,
 * Escape or close() closes the dialog, and keeps it open by returning
 * false; forceClose and closing all dialogs (sign-out) do not ask.
 */
export function openDialog({ title, description, body, wide, onClose, initialFocus, canClose }) {
  const id = `dlg-${++seq}`;
  const opener = document.activeElement;
  const closeButton = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close dialog', title: 'Close' }, '×');
  const el = h('dialog', {
    class: ['dialog', wide && 'dialog-wide'],
    'aria-labelledby': `${id}-title`,
    'aria-describedby': description ? `${id}-desc` : null,
  },
  h('div', { class: 'dialog-head' }, h('h2', { id: `${id}-title` }, title), closeButton),
  description ? h('p', { id: `${id}-desc`, class: 'dialog-desc' }, description) : null,
  h('div', { class: 'dialog-body' }, body));
  let closed = false;
  const close = (value, quiet, force) => {
    if (closed) return;
    if (!force && !quiet && canClose && !canClose()) {
      // Chromium closes a dialog on a second Escape without a user
      // activation in between, whatever cancel does: open it again.
      if (!el.open) el.showModal();
      return;
    }
    closed = true;
    open.delete(close);
    if (el.open) el.close();
    el.remove();
    onClose?.(value, Boolean(quiet));
    if (quiet) return;
    // The opener may have been rebuilt by a live update meanwhile: find its
    // successor by data-focus-id; if that is disabled now, its table row.
    let back = opener && opener.isConnected ? opener : null;
    if (!back && opener?.dataset?.focusId) back = document.querySelector(`[data-focus-id="${CSS.escape(opener.dataset.focusId)}"]`);
    if (back?.disabled) {
      back = back.closest('tr');
      if (back) back.tabIndex = -1;
    }
    (back || document.querySelector('main h1'))?.focus();
  };
  closeButton.addEventListener('click', () => close());
  el.addEventListener('cancel', (e) => {
    e.preventDefault();
    close();
  });
  el.addEventListener('close', () => close());
  open.add(close);
  document.body.append(el);
  el.showModal();
  const first = initialFocus?.() || el.querySelector('[autofocus]') ||
    el.querySelector('.dialog-body input:not([disabled]):not([type=hidden]), .dialog-body select:not([disabled]), .dialog-body textarea:not([disabled]), .dialog-body button:not([disabled])');
  (first || closeButton).focus();
  return { el, close, forceClose: (value) => close(value, false, true), id };
}
