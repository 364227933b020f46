// An actions menu: a button that opens a list of actions (the ARIA menu
// button pattern). The button opens it with a click, Enter, Space or
// ArrowDown (focus on the first item) or ArrowUp (on the last); in the menu
// the arrows, Home and End move, a letter jumps to the next item starting
// with it, Enter or Space runs the item, Escape closes it and focus goes
// back to the button, Tab closes it and moves on. An item that cannot be
// used now stays in the list, focusable, marked aria-disabled, with the
// reason shown under its label and as its description.
//
// A live update that rebuilds the row while its menu is open (a resource
// being created changes with each stack event) opens the new menu in its
// place, on the same item.
//
// The menu is a popover, so that it sits above everything and no
// scrolling wrapper (a narrow table) clips it; it is placed under (or
// above) its button, inside the window.

import { h } from './dom.js';

let seq = 0;
/** openMenu is the menu open now: { focusId, button, action (its focused item), close }. */
let openMenu = null;

/**
 * actionMenu returns the menu button and its menu, in one inline-flex wrapper.
 *
 *   label    the button's text ("Actions", "More")
 *   context  added to the label for screen readers only (" for bucket x")
 *   focusId  the button's data-focus-id, kept across re-renders (dom.js keepFocus)
 *   items    [{ label, context, action, onSelect, reason: { text } | null, danger }]
 *            (null entries are skipped); action becomes the item's data-action
 */
export function actionMenu({ label, context = '', focusId, items }) {
  const id = `menu-${++seq}`;
  const button = h('button', {
    type: 'button', class: 'secondary small menu-button', id: `${id}-button`,
    'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': id,
    dataset: { focusId, menuButton: '' },
  }, label, h('span', { class: 'visually-hidden' }, context), h('span', { class: 'menu-caret', 'aria-hidden': 'true' }));
  // The items are made when the menu first opens: a long table makes many menus.
  let entries = [];
  const makeItems = () => items.filter(Boolean).map((item, i) => {
    const whyId = item.reason ? `${id}-why-${i}` : null;
    const el = h('button', {
      type: 'button', role: 'menuitem', tabindex: '-1',
      class: ['menu-item', item.danger && 'menu-item-danger'],
      'aria-disabled': item.reason ? 'true' : null,
      'aria-describedby': whyId,
      // A re-render while the menu is open brings focus back to the button.
      dataset: { action: item.action, focusId },
    },
    h('span', { class: 'menu-label' }, item.label, item.context ? h('span', { class: 'visually-hidden' }, item.context) : null),
    item.reason ? h('span', { class: 'menu-why', id: whyId, 'aria-hidden': 'true' }, item.reason.text) : null);
    el.addEventListener('click', () => {
      if (item.reason) return; // stays open: the reason is on screen
      close(true);
      item.onSelect();
    });
    return el;
  });
  const menu = h('div', { class: 'menu', id, role: 'menu', popover: 'manual', 'aria-labelledby': button.id });

  const isOpen = () => button.getAttribute('aria-expanded') === 'true';
  const self = { focusId, button, action: null, close: (f) => close(f) };

  function place() {
    const b = button.getBoundingClientRect();
    const m = menu.getBoundingClientRect();
    const vw = document.documentElement.clientWidth;
    const vh = window.innerHeight;
    let top = b.bottom + 4;
    if (top + m.height > vh - 8 && b.top - 4 - m.height >= 8) top = b.top - 4 - m.height;
    const left = Math.max(8, Math.min(b.right - m.width, vw - m.width - 8));
    menu.style.setProperty('top', `${Math.round(top)}px`);
    menu.style.setProperty('left', `${Math.round(left)}px`);
  }

  function open(focusLast) {
    if (!isOpen()) {
      if (!entries.length) {
        entries = makeItems();
        menu.append(...entries);
      }
      menu.showPopover();
      button.setAttribute('aria-expanded', 'true');
      place();
      document.addEventListener('pointerdown', onOutside, true);
      window.addEventListener('scroll', place, true);
      window.addEventListener('resize', place);
      if (openMenu && openMenu !== self) openMenu.close(false);
      openMenu = self;
    }
    const at = typeof focusLast === 'string' ? entries.find((x) => x.dataset.action === focusLast) : null;
    (at || (focusLast === true ? entries.at(-1) : entries[0]))?.focus();
  }

  function close(focusButton) {
    if (!isOpen()) return;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', onOutside, true);
    window.removeEventListener('scroll', place, true);
    window.removeEventListener('resize', place);
    if (openMenu === self) openMenu = null;
    if (menu.isConnected && menu.matches(':popover-open')) menu.hidePopover();
    if (focusButton && button.isConnected) button.focus();
  }

  function onOutside(e) {
    if (!menu.isConnected) close(false);
    else if (!menu.contains(e.target) && !button.contains(e.target)) close(false);
  }

  button.addEventListener('click', () => (isOpen() ? close(true) : open(false)));
  button.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      open(e.key === 'ArrowUp');
    }
  });
  menu.addEventListener('keydown', (e) => {
    const i = entries.indexOf(document.activeElement);
    let next = null;
    if (e.key === 'ArrowDown') next = entries[(i + 1) % entries.length];
    else if (e.key === 'ArrowUp') next = entries[(i - 1 + entries.length) % entries.length];
    else if (e.key === 'Home' || e.key === 'PageUp') next = entries[0];
    else if (e.key === 'End' || e.key === 'PageDown') next = entries.at(-1);
    else if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      close(true);
      return;
    } else if (e.key === 'Tab') {
      close(false);
      return;
    } else if (e.key.length === 1 && /\S/.test(e.key) && !e.ctrlKey && !e.metaKey && !e.altKey) {
      const k = e.key.toLowerCase();
      const order = [...entries.slice(i + 1), ...entries.slice(0, i + 1)];
      next = order.find((x) => x.querySelector('.menu-label').textContent.trim().toLowerCase().startsWith(k)) || null;
      if (!next) return;
    } else {
      return;
    }
    e.preventDefault();
    next?.focus();
  });
  menu.addEventListener('focusin', (e) => {
    self.action = e.target.dataset?.action || null;
  });
  menu.addEventListener('focusout', (e) => {
    if (isOpen() && e.relatedTarget && !menu.contains(e.relatedTarget) && e.relatedTarget !== button) close(false);
  });

  // This menu replaces one that was open (its row was rebuilt): once the
  // old one is out of the document, open this one on the same item.
  const replaced = focusId && openMenu?.focusId === focusId ? openMenu : null;
  if (replaced) {
    queueMicrotask(() => {
      if (openMenu !== replaced || replaced.button.isConnected || !button.isConnected) return;
      replaced.close(false);
      open(replaced.action || false);
    });
  }

  return h('div', { class: 'menu-wrap' }, button, menu);
}
