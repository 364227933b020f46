// What the page says about its live connection: the badge in the header
// (#conn) and, on a project page while the connection is down, a notice over
// the tables that they may be out of date, with a "Retry now" button.

import { fill, h } from './dom.js';

const connText = { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', lost: 'Connection lost', offline: 'Offline' };

/** renderBadge shows status (a Live status) and its detail in the badge el. */
export function renderBadge(el, status, detail = '') {
  el.dataset.status = status;
  el.title = status === 'live' ? 'Changes appear as they happen.' : detail || '';
  fill(el, h('span', { class: 'conn-dot', 'aria-hidden': 'true' }), h('span', { class: 'conn-text' }, connText[status] || status));
}

/**
 * staleNotice returns the notice shown over a project's tables (the element
 * tables) while the connection is down; retry reconnects at once. Its
 * update(status, detail) shows or hides it and marks the tables stale; its
 * fresh() clears the mark once the lists were read again.
 */
export function staleNotice(tables, retry) {
  const text = h('span', { class: 'stale-text' });
  const detailEl = h('span', { class: 'stale-detail muted' });
  const el = h('div', { class: 'stale-note', id: 'stale-note', role: 'alert', hidden: true },
    h('span', { class: 'stale-body' }, text, ' ', detailEl),
    h('button', { type: 'button', class: 'secondary small', id: 'retry-now', onclick: retry }, 'Retry now'));
  return {
    el,
    update(status, detail = '') {
      const down = status === 'lost' || status === 'reconnecting';
      if (down) {
        tables.classList.add('stale');
        tables.setAttribute('aria-describedby', 'stale-note');
        text.textContent = status === 'lost'
          ? 'Connection lost: these tables may be out of date.'
          : 'Reconnecting: these tables may be out of date.';
        detailEl.textContent = detail ? `(${detail})` : '';
      }
      el.hidden = !down;
    },
    fresh() {
      tables.classList.remove('stale');
      tables.removeAttribute('aria-describedby');
    },
  };
}
