// Browser test of the administration page: the demo administrator
// registers project geo with bob as its member; bob sees it (after a
// reload), alice does not and may not open the page; removing bob closes
// his view of geo live.
//
//   BUCKETDESK_BIN=bin/bucketdesk node tests/browser/admin.mjs
//       starts that binary on a free port with a fresh data directory;
//   BUCKETDESK_URL=http://127.0.0.1:8080 BUCKETDESK_DEMO_PASSWORD=… node tests/browser/admin.mjs
//       uses a running server (where project geo must not exist yet).
//
// Screenshots of every step go to test-output/browser/admin-*.png (next to
// run.mjs's). Exits non-zero on failure. Never downloads a browser. The
// helpers are in lib.mjs.

import assert from 'node:assert/strict';
import path from 'node:path';
import { afterLogin, browserTest, launch, login as signIn, WAIT, watch } from './lib.mjs';

const { OUT, log, screenshot, main } = browserTest({
  name: 'admin', prefix: 'admin-', clean: 'prefix', serveArgs: ['--sandbox-delay', '200ms'],
});

/** login signs in and waits for the projects page (the administrator is a member of none). */
const login = (page, base, user, password) => signIn(page, base, user, password, afterLogin.projectList);

async function projectIds(page) {
  return page.locator('.project-list .card .mono').evaluateAll((els) => els.filter((_, i) => i % 3 === 0).map((e) => e.textContent));
}

async function fillProject(form, v) {
  for (const [label, value] of Object.entries(v)) await form.getByLabel(label, { exact: true }).fill(value);
}

async function scenario({ base, password }) {
  const browser = await launch();
  const problems = [];
  const pages = {};
  try {
    const viewport = { width: 1400, height: 900 };
    for (const who of ['admin', 'alice', 'bob']) {
      pages[who] = await (await browser.newContext({ viewport })).newPage();
      watch(pages[who], who, problems);
    }
    const { admin, alice, bob } = pages;
    admin.on('dialog', (d) => d.accept());

    log('1. the administrator signs in: a member of nothing, with the Administration link');
    await login(admin, base, 'admin', password);
    await admin.locator('#admin-link').waitFor({ timeout: WAIT });
    await screenshot(admin, 'admin-projects');

    log('2. alice and bob sign in: project demo only, no Administration link');
    for (const who of ['alice', 'bob']) {
      await login(pages[who], base, who, password);
      assert.deepEqual(await projectIds(pages[who]), ['demo'], `${who}'s projects`);
      assert.equal(await pages[who].locator('#admin-link').count(), 0, `${who} has no Administration link`);
    }
    await screenshot(bob, 'bob-before');

    log('3. a registration whose role refuses the external id says what is wrong');
    await admin.locator('#admin-link').click();
    await admin.locator('#admin-projects').waitFor({ timeout: WAIT });
    const form = admin.locator('#project-form');
    await fillProject(form, {
      'Project id': 'geo', Name: 'Geodata', 'AWS account id': '123456789012', Region: 'eu-west-1',
      Role: 'bucketdesk', 'External id': 'guessed', Members: 'bob',
    });
    await form.getByRole('button', { name: 'Register project' }).click();
    const message = admin.locator('#admin-message.banner-error');
    await message.waitFor({ timeout: WAIT });
    assert.match(await message.textContent(), /external id "guessed"/);
    assert.match(await message.textContent(), /AccessDenied/);
    await screenshot(admin, 'admin-wrong-external-id');

    log('4. the administrator registers geo in its own account with bob as member');
    await fillProject(form, { 'AWS account id': '333333333333', Role: 'bucketdesk-portal', 'External id': 'geo-ext' });
    await form.getByRole('button', { name: 'Register project' }).click();
    const geoRow = admin.locator('#admin-projects tr[data-project="geo"]');
    await geoRow.waitFor({ timeout: WAIT });
    assert.match(await admin.locator('#admin-message').textContent(), /Registered geo/);
    assert.equal(await geoRow.locator('li[data-member]').count(), 1);
    await screenshot(admin, 'admin-registered-geo');

    log('5. bob sees geo after a reload; alice does not, and may not open the administration page');
    await bob.reload();
    await bob.locator('a[href="#/projects/geo"]').waitFor({ timeout: WAIT });
    assert.deepEqual(await projectIds(bob), ['demo', 'geo']);
    await screenshot(bob, 'bob-sees-geo');
    await alice.reload();
    await alice.locator('.project-list:not([aria-busy])').waitFor({ timeout: WAIT });
    assert.deepEqual(await projectIds(alice), ['demo'], 'alice does not see geo');
    await screenshot(alice, 'alice-does-not-see-geo');
    await alice.goto(`${base}/#/admin`);
    await alice.getByText('Only administrators may see this page.').waitFor({ timeout: WAIT });
    await screenshot(alice, 'alice-refused-admin');

    log('6. bob opens geo; the administrator removes him; his view of geo closes live');
    await bob.locator('a[href="#/projects/geo"]').click();
    await bob.waitForFunction(() => document.querySelector('#conn .conn-text')?.textContent === 'Live', null, { timeout: WAIT });
    await screenshot(bob, 'bob-in-geo');
    await geoRow.getByRole('button', { name: 'Remove bob from geo' }).click();
    await admin.waitForFunction(() => !document.querySelector('#admin-projects tr[data-project="geo"] li[data-member="bob"]'), null, { timeout: WAIT });
    await bob.getByRole('heading', { name: 'Project not found' }).waitFor({ timeout: WAIT });
    await screenshot(bob, 'bob-removed-from-geo');

    log('7. the administrator retires geo');
    await geoRow.getByRole('button', { name: 'Retire geo' }).click();
    await admin.locator('#admin-projects tr[data-project="geo"][data-retired="true"]').waitFor({ timeout: WAIT });
    await screenshot(admin, 'admin-retired-geo');

    assert.deepEqual(problems, [], 'no script errors in the pages');
  } catch (err) {
    for (const [who, p] of Object.entries(pages)) await p.screenshot({ path: path.join(OUT, `admin-failure-${who}.png`), fullPage: true }).catch(() => {});
    if (problems.length) console.error(problems.join('\n'));
    throw err;
  } finally {
    await browser.close();
  }
}

await main(scenario);
