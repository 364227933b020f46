// Small DOM helpers: element creation without innerHTML (nothing a server
// or a user typed is ever parsed as markup), and time formatting.

/**
 * h creates an element. attrs: class, text, html is not supported on
 * purpose; on<Event> adds a listener; dataset; aria-* and other attributes
 * are set as attributes; boolean attributes (disabled, checked, hidden,
 * required…) are set when true. Children may be strings, nodes, arrays,
 * null or false.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') {
      el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    } else if (k === 'text') {
      el.textContent = v;
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'value') {
      el.value = v;
    } else if (k === 'checked' || k === 'selected') {
      el[k] = Boolean(v);
    } else if (v === true) {
      el.setAttribute(k, '');
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** replaceChildren with the h() conventions for children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
});

/** clock formats a timestamp as 10:42:05 (local time). */
export function clock(t) {
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? '' : timeFmt.format(d);
}

/** dateTime formats a timestamp with its date. */
export function dateTime(t) {
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? '' : dateTimeFmt.format(d);
}

/** domId turns any string into a safe, stable id fragment. */
export function domId(...parts) {
  return parts.map((p) => String(p).replace(/[^A-Za-z0-9_-]/g, (c) => '_' + c.codePointAt(0).toString(16))).join('--');
}

/**
 * keepFocus runs render and, when the focused element carried a
 * data-focus-id, focuses the element with the same id afterwards, so that
 * live updates that rebuild a table do not throw the keyboard user out.
 */
export function keepFocus(render) {
  const active = document.activeElement;
  const id = active?.dataset?.focusId;
  render();
  if (!id || document.activeElement === active && active.isConnected) return;
  let next = document.querySelector(`[data-focus-id="${CSS.escape(id)}"]`);
  if (!next) return;
  // A control that became disabled cannot hold focus; keep the user in
  // the same row rather than at the top of the page.
  if (next.disabled) next = next.closest('tr');
  if (!next) return;
  if (next.tagName === 'TR') next.tabIndex = -1;
  next.focus({ preventScroll: true });
}

/** copyText copies text to the clipboard, also where the async API is missing. */
export async function copyText(text, fallbackInput) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (fallbackInput) {
      fallbackInput.select();
      try {
        return document.execCommand('copy');
      } catch {
        return false;
      }
    }
    return false;
  }
}
