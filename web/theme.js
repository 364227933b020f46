// The colour theme, loaded as a classic script in <head> so that it is set
// before the first paint (no flash of the wrong colours). The choice is
// "system" (the default: prefers-color-scheme), "light" or "dark", made in
// the header's Theme select and remembered in localStorage. The theme in
// use is <html data-theme="light|dark">, which app.css reads, and the
// color-scheme meta tag follows it so that the browser's own controls and
// scroll bars match. Other tabs follow a change through the storage event.
(() => {
  const KEY = 'bucketdesk.theme';
  const CHOICES = ['system', 'light', 'dark'];
  const dark = window.matchMedia('(prefers-color-scheme: dark)');
  const root = document.documentElement;

  function choice() {
    try {
      const v = localStorage.getItem(KEY);
      return CHOICES.includes(v) ? v : 'system';
    } catch {
      return 'system'; // storage refused (privacy settings): follow the system
    }
  }

  function apply() {
    const c = choice();
    const theme = c === 'system' ? (dark.matches ? 'dark' : 'light') : c;
    root.dataset.theme = theme;
    root.dataset.themeChoice = c;
    document.querySelector('meta[name="color-scheme"]')?.setAttribute('content', theme);
    const select = document.getElementById('theme');
    if (select && select.value !== c) select.value = c;
  }

  function choose(c) {
    try {
      if (c === 'system') localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, c);
    } catch {
      // not remembered, but still applied to this page
    }
    apply();
  }

  apply();
  dark.addEventListener('change', apply);
  window.addEventListener('storage', (e) => {
    if (e.key === KEY || e.key === null) apply();
  });
  document.addEventListener('DOMContentLoaded', () => {
    const select = document.getElementById('theme');
    if (!select) return;
    select.value = choice();
    select.addEventListener('change', () => choose(CHOICES.includes(select.value) ? select.value : 'system'));
  });
})();
