// Browser test of every screen and theme: each view of the console (login,
// projects, the project page with a running operation's progress, each
// dialog, the row actions menu, the bulk actions, administration) and the share-link
// recipient's page, at 375, 768 and 1440 px wide, in the light and the
// dark theme. At each it runs axe-core (WCAG 2.0/2.1 A and AA) and fails
// on a serious or critical violation, checks that the page never scrolls
// sideways (nor an open dialog), and saves a screenshot. It also drives the
// actions menu by keyboard and the header's Theme select (remembered,
// applied before the first paint). It ends with a table of the results.
//
//   BUCKETDESK_BIN=bin/bucketdesk node tests/browser/screens.mjs
//
// Screenshots go to test-output/browser/screens/. Exits non-zero on failure.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { afterLogin, browserTest, checkA11y, failureShots, IMPACTS, launch, login, openProject, pageAPI as api, PROJECT, rowAction, WAIT, watch } from './lib.mjs';

const { OUT, log, screenshot, main } = browserTest({ name: 'screens', dir: 'screens', serveArgs: ['--sandbox-delay', '1500ms'] });

const WIDTHS = [375, 768, 1440];
const THEMES = ['light', 'dark'];
const results = [];

/** frames waits for two animation frames: styles and layout are applied. */
const frames = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

/**
 * sweep checks page, showing view, at every width and theme: axe, no
 * sideways scroll of the page or of an open dialog, a screenshot.
 * prepare(width) runs after each resize (e.g. to open a menu again);
 * themed: the page follows the console's theme (data-theme), not only the
 * system's.
 */
async function sweep(page, view, { prepare, themed = true } = {}) {
  for (const width of WIDTHS) {
    for (const theme of THEMES) {
      await page.setViewportSize({ width, height: 900 });
      await page.emulateMedia({ colorScheme: theme, reducedMotion: 'reduce' });
      if (themed) await page.waitForFunction((t) => document.documentElement.dataset.theme === t, theme, { timeout: WAIT });
      await frames(page);
      if (prepare) await prepare(width);
      await frames(page);
      const a = await checkA11y(page, `${view} ${width} ${theme}`);
      const scroll = await page.evaluate(() => {
        const d = document.querySelector('dialog[open]');
        return {
          page: document.documentElement.scrollWidth - window.innerWidth,
          dialog: d ? d.scrollWidth - d.clientWidth : 0,
        };
      });
      await screenshot(page, `${view}-${width}-${theme}`);
      results.push({ view, width, theme, ...a, scroll });
      for (const f of a.failing) log(`   ✗ ${view} ${width} ${theme}: ${f}`);
      if (scroll.page > 0 || scroll.dialog > 0) log(`   ✗ ${view} ${width} ${theme}: scrolls sideways (page ${scroll.page} px, dialog ${scroll.dialog} px)`);
    }
  }
  await page.setViewportSize({ width: 1440, height: 900 });
  await page.emulateMedia({ colorScheme: 'light', reducedMotion: 'reduce' });
}

/**
 * table is the results: a row per view, a column per width and theme, each
 * cell the violations' nodes by impact, critical/serious/moderate/minor,
 * and "scrolls N px" when the page or dialog scrolled sideways.
 */
function table() {
  const cols = WIDTHS.flatMap((w) => THEMES.map((t) => [w, t]));
  const lines = [`| view | ${cols.map(([w, t]) => `${w} ${t}`).join(' | ')} |`, `|---|${cols.map(() => '---').join('|')}|`];
  for (const view of [...new Set(results.map((r) => r.view))]) {
    const cells = cols.map(([w, t]) => {
      const r = results.find((x) => x.view === view && x.width === w && x.theme === t);
      if (!r) return '–';
      const over = Math.max(r.scroll.page, r.scroll.dialog);
      return IMPACTS.map((i) => r.counts[i]).join('/') + (over > 0 ? `, scrolls ${over} px` : '');
    });
    lines.push(`| ${view} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

const axeVersion = (page) => page.evaluate(() => window.axe?.version || '?');
const row = (page, kind, name) => page.locator(`#${kind}s tbody tr[data-name="${name}"]`);
const dialog = (page, name) => page.getByRole('dialog', { name });

async function closeDialog(page) {
  await page.keyboard.press('Escape');
  await page.locator('dialog[open]').waitFor({ state: 'detached', timeout: WAIT });
}

async function scenario({ base, password }) {
  const browser = await launch();
  const problems = [];
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light', reducedMotion: 'reduce' });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    const page = await context.newPage();
    watch(page, 'alice', problems);

    log('1. the login page');
    await page.goto(`${base}/`);
    await page.getByLabel('User name').waitFor({ timeout: WAIT });
    await sweep(page, 'login');

    log('2. the projects page; the Theme select: remembered, applied before the first paint, the meta tag follows');
    await login(page, base, 'alice', password, afterLogin.projectList);
    await sweep(page, 'projects');
    const themeState = () => page.evaluate(() => ({
      theme: document.documentElement.dataset.theme,
      meta: document.querySelector('meta[name="color-scheme"]').content,
      scheme: getComputedStyle(document.documentElement).colorScheme,
      select: document.getElementById('theme').value,
      first: window.__firstFrameTheme,
    }));
    await page.addInitScript(() => {
      requestAnimationFrame(() => { window.__firstFrameTheme = document.documentElement.dataset.theme || 'unset'; });
    });
    await page.getByLabel('Theme').selectOption('dark');
    assert.deepEqual({ ...(await themeState()), first: null }, { theme: 'dark', meta: 'dark', scheme: 'dark', select: 'dark', first: null }, 'Dark under a light system');
    await page.reload();
    await page.getByRole('heading', { name: 'Your projects' }).waitFor({ timeout: WAIT });
    assert.deepEqual(await themeState(), { theme: 'dark', meta: 'dark', scheme: 'dark', select: 'dark', first: 'dark' }, 'Dark is remembered and in place at the first frame');
    await page.emulateMedia({ colorScheme: 'dark', reducedMotion: 'reduce' });
    await page.getByLabel('Theme').selectOption('light');
    await page.reload();
    await page.getByRole('heading', { name: 'Your projects' }).waitFor({ timeout: WAIT });
    assert.deepEqual(await themeState(), { theme: 'light', meta: 'light', scheme: 'light', select: 'light', first: 'light' }, 'Light under a dark system, remembered');
    const other = await context.newPage(); // another tab of the same browser
    watch(other, 'alice tab 2', problems);
    await other.emulateMedia({ colorScheme: 'dark', reducedMotion: 'reduce' });
    await other.goto(`${base}/`);
    await other.getByLabel('Theme').waitFor({ timeout: WAIT });
    assert.equal(await other.evaluate(() => document.documentElement.dataset.theme), 'light');
    await page.getByLabel('Theme').selectOption('system');
    assert.equal((await themeState()).theme, 'dark', 'System follows the system again');
    await other.waitForFunction(() => document.documentElement.dataset.theme === 'dark' && document.getElementById('theme').value === 'system', null, { timeout: WAIT });
    await other.close();
    await page.emulateMedia({ colorScheme: 'light', reducedMotion: 'reduce' });
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'light', null, { timeout: WAIT });
    assert.equal(await page.evaluate(() => localStorage.getItem('bucketdesk.theme')), null, 'System is the default, nothing stored');

    log('3. the project page, once the demo bucket and user are ready, with a bucket that failed to create');
    await openProject(page);
    const failed = `screens-fails-${crypto.randomBytes(3).toString('hex')}`;
    const made = await api(page, 'POST', `/api/projects/${PROJECT}/buckets`, { name: failed, encryption: { type: 'SSE-S3' }, tags: { 'sandbox-fail': 'create' } });
    assert.equal(made.status, 202, made.body);
    await page.waitForFunction((failed) => {
      const u = document.querySelector('#users tbody tr[data-name="partner-upload"]');
      const b = document.querySelector('#buckets tbody tr[data-name^="demo-reports-"]');
      const f = document.querySelector(`#buckets tbody tr[data-name="${failed}"]`);
      return u?.dataset.phase === 'ready' && u.querySelector('.key-id') && b?.dataset.phase === 'ready' && f?.dataset.phase === 'failed' && !f.dataset.locked;
    }, failed, { timeout: WAIT * 3 });
    const bucket = await page.locator('#buckets tbody tr[data-name^="demo-reports-"]').getAttribute('data-name');
    const user = 'partner-upload';
    const link = await api(page, 'POST', `/api/projects/${PROJECT}/users/${user}/links`, { key: 1, expires_in_s: 3600 });
    assert.equal(link.status, 201, link.body);
    const shareURL = JSON.parse(link.body).url;
    await sweep(page, 'project');

    log('3b. rows selected: the bulk bar, and its Delete and Set tags dialogs, for a selection longer than their lists show');
    const many = Array.from({ length: 14 }, (_, i) => `screens-many-${String(i).padStart(2, '0')}-${crypto.randomBytes(2).toString('hex')}`);
    for (const name of many) {
      const r = await api(page, 'POST', `/api/projects/${PROJECT}/buckets`, { name, encryption: { type: 'SSE-S3' } });
      assert.equal(r.status, 202, r.body);
    }
    await page.waitForFunction((n) => document.querySelectorAll('#buckets tbody tr[data-name]').length >= n, many.length + 2, { timeout: WAIT });
    await page.locator('#buckets input.select-all').check();
    await page.locator('.bulk-bar:not([hidden])').waitFor({ timeout: WAIT });
    await sweep(page, 'bulk-bar');
    await page.locator('.bulk-bar:not([hidden]) button[data-bulk=delete]').click();
    await page.locator('dialog[open]').waitFor({ timeout: WAIT });
    await sweep(page, 'bulk-delete');
    await closeDialog(page);
    await page.locator('.bulk-bar:not([hidden]) button[data-bulk=tags]').click();
    await page.locator('dialog[open]').waitFor({ timeout: WAIT });
    await sweep(page, 'bulk-tags');
    await closeDialog(page);
    await page.locator('#buckets input.select-all').uncheck();

    log('4. the row actions menu by keyboard (375 px): open, move, Escape, run an item, focus comes back');
    await page.setViewportSize({ width: 375, height: 900 });
    const actions = row(page, 'bucket', bucket).locator('button[data-menu-button]');
    await actions.waitFor({ timeout: WAIT });
    assert.equal((await actions.textContent()).trim(), `Actions for bucket ${bucket}`);
    assert.equal(await actions.getAttribute('aria-haspopup'), 'menu');
    const menuId = await actions.getAttribute('aria-controls');
    const menu = page.locator(`#${menuId}`);
    const focused = () => page.evaluate(() => document.activeElement?.dataset.action || document.activeElement?.textContent.trim());
    await actions.focus();
    await page.keyboard.press('Enter');
    await menu.waitFor({ state: 'visible', timeout: WAIT });
    assert.equal(await actions.getAttribute('aria-expanded'), 'true');
    assert.equal(await menu.getAttribute('role'), 'menu');
    assert.deepEqual(await menu.locator('[role=menuitem]').evaluateAll((xs) => xs.map((x) => x.dataset.action)), ['edit', 'objects', 'history', 'delete']);
    assert.equal(await focused(), 'edit', 'Enter opens on the first item');
    await page.keyboard.press('ArrowDown');
    assert.equal(await focused(), 'objects');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    assert.equal(await focused(), 'delete', 'the arrows wrap around');
    await page.keyboard.press('Home');
    assert.equal(await focused(), 'edit');
    await page.keyboard.press('h');
    assert.equal(await focused(), 'history', 'a letter jumps to its item');
    await sweep(page, 'actions-menu', {
      prepare: async () => {
        const b = row(page, 'bucket', bucket).locator('button[data-menu-button]');
        if (await b.getAttribute('aria-expanded') !== 'true') await b.click();
        await page.locator(`#${await b.getAttribute('aria-controls')}`).waitFor({ state: 'visible', timeout: WAIT });
      },
    });
    await page.setViewportSize({ width: 375, height: 900 });
    await frames(page);
    const actions2 = row(page, 'bucket', bucket).locator('button[data-menu-button]');
    await actions2.focus();
    await page.keyboard.press('ArrowUp');
    assert.equal(await focused(), 'delete', 'ArrowUp opens on the last item');
    await page.keyboard.press('Escape');
    await page.locator(`#${await actions2.getAttribute('aria-controls')}`).waitFor({ state: 'hidden', timeout: WAIT });
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.menuButton !== undefined), true, 'Escape closes and focus is back on the button');
    assert.equal(await actions2.getAttribute('aria-expanded'), 'false');
    await page.keyboard.press('Space');
    await page.keyboard.press('End');
    await page.keyboard.press('ArrowUp');
    assert.equal(await focused(), 'history');
    await page.keyboard.press('Enter');
    await dialog(page, `History of bucket ${bucket}`).waitFor({ timeout: WAIT });
    await closeDialog(page);
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.menuButton !== undefined), true, 'closing the dialog brings focus back to the menu button');
    // An item that cannot be used now says why, and does nothing.
    const failedRow = row(page, 'bucket', failed);
    await failedRow.locator('button[data-menu-button]').click();
    const editItem = failedRow.locator('[role=menuitem][data-action=edit]');
    assert.equal(await editItem.getAttribute('aria-disabled'), 'true');
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.action), 'edit', 'a disabled item is still focusable');
    const why = await editItem.evaluate((x) => document.getElementById(x.getAttribute('aria-describedby'))?.textContent);
    assert.match(why, /^It failed to create/, 'the disabled item says why');
    assert.equal(await editItem.locator('.menu-why').isVisible(), true, 'the reason is on screen');
    await screenshot(page, 'disabled-item-375');
    await page.keyboard.press('Enter');
    assert.equal(await page.locator('dialog[open]').count(), 0, 'a disabled item does nothing');
    assert.equal(await editItem.isVisible(), true, 'and its menu stays open');
    await page.keyboard.press('Escape');
    await page.setViewportSize({ width: 1440, height: 900 });

    log('5. each dialog');
    await page.getByRole('button', { name: 'New bucket' }).click();
    await dialog(page, 'New bucket').waitFor({ timeout: WAIT });
    await sweep(page, 'new-bucket');
    await closeDialog(page);

    await rowAction(row(page, 'user', user), 'edit');
    await dialog(page, `Edit user ${user}`).waitFor({ timeout: WAIT });
    await sweep(page, 'edit-user');
    await closeDialog(page);

    await row(page, 'bucket', bucket).locator('[data-action=details]').click();
    await page.locator('dialog[open]').waitFor({ timeout: WAIT });
    await sweep(page, 'details');
    await closeDialog(page);

    await rowAction(row(page, 'bucket', bucket), 'history');
    await dialog(page, `History of bucket ${bucket}`).locator('tbody tr').first().waitFor({ timeout: WAIT });
    await sweep(page, 'history');
    await closeDialog(page);

    await rowAction(row(page, 'user', user), 'share');
    await dialog(page, `Share links of ${user}`).locator('#links-table tbody tr[data-link-id]').first().waitFor({ timeout: WAIT });
    await sweep(page, 'share-links');
    await closeDialog(page);

    await rowAction(row(page, 'bucket', bucket), 'delete');
    await page.locator('dialog[open] .grantees-list, dialog[open] button:has-text("Delete bucket")').first().waitFor({ timeout: WAIT });
    await sweep(page, 'delete');
    await closeDialog(page);

    await rowAction(row(page, 'bucket', bucket), 'objects');
    await page.locator('dialog[open]').waitFor({ timeout: WAIT });
    await sweep(page, 'objects');
    await closeDialog(page);

    await row(page, 'user', user).locator('button[data-action=reveal]').first().click();
    const reveal = dialog(page, 'Reveal secret of access key 1');
    await reveal.waitFor({ timeout: WAIT });
    await sweep(page, 'reveal');
    await reveal.getByRole('button', { name: 'Reveal secret' }).click();
    await reveal.getByRole('button', { name: 'Copy secret', exact: true }).waitFor({ timeout: WAIT });
    await sweep(page, 'reveal-shown');
    await reveal.getByRole('button', { name: 'Copy secret', exact: true }).click();
    await reveal.getByText('Secret copied to the clipboard.').waitFor({ timeout: WAIT });
    await closeDialog(page);

    log('6. a running operation: its progress panel and events');
    const fresh = `screens-${crypto.randomBytes(3).toString('hex')}`;
    await page.getByRole('button', { name: 'New bucket' }).click();
    await dialog(page, 'New bucket').getByLabel('Bucket name').fill(fresh);
    await dialog(page, 'New bucket').getByRole('button', { name: 'Create bucket' }).click();
    await dialog(page, 'New bucket').waitFor({ state: 'detached', timeout: WAIT });
    await page.waitForFunction((name) => {
      const p = [...document.querySelectorAll('.op-panel')].find((x) => x.querySelector('h3')?.textContent.endsWith(` ${name}`));
      return p && p.querySelectorAll('.op-events li[data-status]').length >= 2;
    }, fresh, { timeout: WAIT });
    await sweep(page, 'progress');

    log('7. the administration page');
    const admin = await (await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light', reducedMotion: 'reduce' })).newPage();
    watch(admin, 'admin', problems);
    await login(admin, base, 'admin', password, afterLogin.projectList);
    await admin.locator('#admin-link').click();
    await admin.locator('#admin-projects tbody tr').first().waitFor({ timeout: WAIT });
    await sweep(admin, 'admin');

    log('8. the share-link recipient\'s page, before and after revealing');
    const anon = await (await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light', reducedMotion: 'reduce' })).newPage();
    watch(anon, 'recipient', problems);
    await anon.goto(new URL(shareURL, base).href);
    await anon.getByRole('button', { name: 'Reveal the credentials' }).waitFor({ timeout: WAIT });
    await sweep(anon, 'share-page', { themed: false });
    await anon.getByRole('button', { name: 'Reveal the credentials' }).click();
    await anon.locator('#package:not([hidden])').waitFor({ timeout: WAIT });
    await sweep(anon, 'share-page-revealed', { themed: false });

    console.log(`\nScreens: ${results.length} checks; axe-core ${await axeVersion(page)} violations (nodes) by impact, critical/serious/moderate/minor\n\n${table()}\n`);
    const failing = results.flatMap((r) => r.failing.map((f) => `${r.view} ${r.width} ${r.theme}: ${f}`));
    const sideways = results.filter((r) => r.scroll.page > 0 || r.scroll.dialog > 0).map((r) => `${r.view} ${r.width} ${r.theme}`);
    assert.deepEqual(failing, [], 'no serious or critical axe violation');
    assert.deepEqual(sideways, [], 'nothing scrolls sideways');
    assert.deepEqual(problems, [], 'no script errors in the pages');
  } catch (err) {
    if (results.length) console.log(`\n${table()}\n`);
    await failureShots(browser, OUT, ['alice', 'admin', 'recipient']);
    if (problems.length) console.error(problems.join('\n'));
    throw err;
  } finally {
    await browser.close();
  }
}

await main(scenario);
