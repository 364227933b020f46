// Browser test of the dependants and secrets dialogs (web/dependants.js,
// web/forms.js): the delete dialog of a bucket lists the users granted on
// it, and the server's refusal stays shown; a grant on a bucket that is
// gone shows as broken on the user's row and its one-click fix saves; the
// reveal dialog stays open on Escape, a backdrop click and × until the
// secret was copied or downloaded (the IAM console's .csv), or the manager
// confirms closing without saving. Same setup as run.mjs (helpers in lib.mjs):
//
//   BUCKETDESK_BIN=bin/bucketdesk node tests/browser/dialogs.mjs
//
// A grant on a bucket that is gone cannot be made through the API (the
// server refuses a grant on a missing bucket and the delete of a granted
// bucket); it arises when a bucket's stack is deleted outside bucketdesk
// and the reconciler marks the bucket deleted. The sandbox has no way to
// delete a stack behind bucketdesk's back, so the test makes the page see
// that state: its bucket list, intercepted, leaves the bucket out. The fix
// is then saved to the real server.
//
// Screenshots go to test-output/browser/dialogs/. Exits non-zero on failure.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { afterLogin, browserTest, launch, login as signIn, pageAPI as api, PROJECT, WAIT, watch } from './lib.mjs';

const { log, screenshot, main } = browserTest({ name: 'dialogs', dir: 'dialogs', serveArgs: ['--sandbox-delay', '200ms'] });

const login = (page, base, user, password) => signIn(page, base, user, password, afterLogin.projectOpen);


async function create(page, kind, spec) {
  const r = await api(page, 'POST', `/api/projects/${PROJECT}/${kind}s`, spec);
  assert.equal(r.status, 202, r.body);
}

/** ready waits for a row of the page to be ready. */
async function ready(page, kind, name) {
  await page.waitForFunction(([k, n]) => document.querySelector(`#${k}s tbody tr[data-name="${n}"]`)?.dataset.phase === 'ready', [kind, name], { timeout: WAIT * 2 });
}

async function scenario({ base, password }) {
  const browser = await launch();
  const problems = [];
  const suffix = crypto.randomBytes(3).toString('hex');
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    const page = await context.newPage();
    watch(page, 'alice', problems);

    log('1. alice makes sure user partner-upload exists, granted on a bucket');
    await login(page, base, 'alice', password);
    let r = await api(page, 'GET', `/api/projects/${PROJECT}/users/partner-upload`);
    if (r.status === 404) {
      const name = `partner-drop-${suffix}`;
      await create(page, 'bucket', { name, encryption: { type: 'SSE-S3' } });
      await create(page, 'user', { name: 'partner-upload', access_keys: 1, grants: [{ bucket: name, access: 'write', prefix: 'incoming/' }] });
      r = await api(page, 'GET', `/api/projects/${PROJECT}/users/partner-upload`);
    }
    assert.equal(r.status, 200, r.body);
    const granted = JSON.parse(r.body).spec.user.grants[0].bucket;
    await ready(page, 'bucket', granted);
    await page.locator('#users tbody tr[data-name="partner-upload"]').waitFor({ timeout: WAIT });

    log(`2. the delete dialog of bucket ${granted} lists partner-upload; the server's refusal stays shown`);
    await page.locator(`#buckets tbody tr[data-name="${granted}"] button[data-action="delete"]`).click();
    const del = page.getByRole('dialog', { name: `Delete bucket ${granted}?` });
    await del.waitFor({ timeout: WAIT });
    await del.locator('.grantees-list li[data-user="partner-upload"]').waitFor({ timeout: WAIT });
    assert.match(await del.locator('.grantees').textContent(), /refuses to delete this bucket until their grants on it are removed/);
    await screenshot(page, 'delete-lists-grantees');
    await del.getByRole('button', { name: 'Delete bucket' }).click();
    const refusal = del.locator('.banner[role=alert]');
    await page.waitForFunction(() => /partner-upload/.test(document.querySelector('dialog .banner[role=alert]')?.textContent || ''), null, { timeout: WAIT });
    assert.match(await refusal.textContent(), /remove the grants first/);
    assert.equal(await del.locator('.grantees-list li').count() >= 1, true, 'the list stays beside the refusal');
    await screenshot(page, 'delete-refused-409');
    await del.getByRole('button', { name: 'Cancel' }).click();
    await del.waitFor({ state: 'detached', timeout: WAIT });

    const gone = `gone-${suffix}`;
    const broken = `broken-${suffix}`;
    log(`3. user ${broken} is granted on bucket ${gone}, which then disappears from the page's bucket list`);
    await create(page, 'bucket', { name: gone, encryption: { type: 'SSE-S3' } });
    await ready(page, 'bucket', gone);
    await create(page, 'user', { name: broken, access_keys: 0, grants: [{ bucket: gone, access: 'read' }, { bucket: granted, access: 'read' }] });
    await ready(page, 'user', broken);
    const brokenRow = page.locator(`#users tbody tr[data-name="${broken}"]`);
    assert.equal(await brokenRow.locator('.broken-grant').count(), 0, 'no marker while the bucket exists');
    // The bucket's stack deleted outside bucketdesk, dropped by the
    // reconciler: the list no longer has it.
    await page.route(`**/api/projects/${PROJECT}/buckets`, async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      // Read the whole list (not a 304 for the list the page holds) and
      // answer it without the bucket, and without the list's ETag.
      const headers = { ...route.request().headers() };
      delete headers['if-none-match'];
      const res = await route.fetch({ headers });
      const body = await res.json();
      body.items = (body.items || []).filter((b) => b.name !== gone);
      await route.fulfill({ status: res.status(), json: body });
    });
    await page.reload();
    await page.locator(`#buckets tbody tr[data-name="${granted}"]`).waitFor({ timeout: WAIT });
    await brokenRow.waitFor({ timeout: WAIT });
    assert.equal(await page.locator(`#buckets tbody tr[data-name="${gone}"]`).count(), 0);
    const marker = brokenRow.locator('li[data-broken] .broken-grant');
    await marker.waitFor({ timeout: WAIT });
    assert.match(await marker.textContent(), /bucket missing/, 'the marker has text, not only colour');
    assert.deepEqual(await brokenRow.locator('li[data-broken] > .mono:first-child').allTextContents(), [gone], 'only the grant on the missing bucket is broken');
    await brokenRow.scrollIntoViewIfNeeded();
    await screenshot(page, 'broken-grant');
    await page.setViewportSize({ width: 375, height: 812 });
    await brokenRow.scrollIntoViewIfNeeded();
    await screenshot(page, 'broken-grant-375px');
    await page.setViewportSize({ width: 1400, height: 900 });

    log('4. the one-click fix opens the edit form without that grant; it saves');
    await brokenRow.getByRole('button', { name: /Remove broken grant/ }).click();
    const edit = page.getByRole('dialog', { name: `Edit user ${broken}` });
    await edit.waitFor({ timeout: WAIT });
    assert.match(await edit.locator('.dropped-grants').textContent(), new RegExp(`Removed the grant on ${gone}`));
    assert.deepEqual(await edit.locator('select.grant-bucket').evaluateAll((s) => s.map((e) => e.value)), [granted]);
    await screenshot(page, 'fix-form');
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await edit.waitFor({ state: 'detached', timeout: WAIT });
    for (const end = Date.now() + WAIT; ; await page.waitForTimeout(250)) {
      r = await api(page, 'GET', `/api/projects/${PROJECT}/users/${broken}`);
      if (JSON.parse(r.body).spec.user.grants.length === 1 || Date.now() > end) break;
    }
    r = await api(page, 'GET', `/api/projects/${PROJECT}/users/${broken}`);
    assert.deepEqual(JSON.parse(r.body).spec.user.grants.map((g) => g.bucket), [granted]);
    await ready(page, 'user', broken);
    await page.waitForFunction((n) => !document.querySelector(`#users tbody tr[data-name="${n}"] .broken-grant`), broken, { timeout: WAIT });
    await screenshot(page, 'fixed');
    await page.unroute(`**/api/projects/${PROJECT}/buckets`);

    const keeper = `reveal-${suffix}`;
    const careless = `careless-${suffix}`;
    log(`5. the reveal dialog of ${keeper}'s key 1 stays open on Escape, a backdrop click and ×, until the .csv is downloaded`);
    await create(page, 'user', { name: keeper, access_keys: 2, grants: [] });
    await create(page, 'user', { name: careless, access_keys: 1, grants: [] });
    await ready(page, 'user', keeper);
    await ready(page, 'user', careless);
    const revealButton = (user, i) => page.locator(`#users tbody tr[data-name="${user}"] button[data-action="reveal"]`).nth(i);
    await revealButton(keeper, 0).click();
    let dlg = page.getByRole('dialog', { name: 'Reveal secret of access key 1' });
    await dlg.getByRole('button', { name: 'Reveal secret' }).click();
    const secretField = dlg.getByLabel('Secret access key');
    await secretField.waitFor({ timeout: WAIT });
    const id = await dlg.getByLabel('Access key id').inputValue();
    const secret = await secretField.inputValue();
    const question = dlg.getByRole('alertdialog', { name: 'Close without saving?' });
    assert.equal(await question.isVisible(), false);
    await page.keyboard.press('Escape');
    await question.waitFor({ timeout: WAIT });
    assert.equal(await dlg.isVisible(), true, 'Escape does not close it');
    await screenshot(page, 'reveal-escape-asks');
    await dlg.getByRole('button', { name: 'Keep it open' }).click();
    await question.waitFor({ state: 'hidden', timeout: WAIT });
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape'); // Chromium's second Escape without activation closes a dialog: it reopens
    await page.waitForTimeout(200);
    assert.equal(await dlg.isVisible(), true, 'a second Escape does not close it either');
    assert.equal(await secretField.inputValue(), secret);
    await dlg.getByRole('button', { name: 'Keep it open' }).click();
    await page.mouse.click(5, 5); // the backdrop
    await page.waitForTimeout(200);
    assert.equal(await dlg.isVisible(), true, 'a backdrop click does not close it');
    await dlg.getByRole('button', { name: 'Close dialog' }).click();
    await question.waitFor({ timeout: WAIT });
    assert.equal(await dlg.isVisible(), true, '× does not close it');
    await dlg.getByRole('button', { name: 'I have stored it — close' }).click();
    assert.equal(await dlg.isVisible(), true, 'nor does the close button, before saving');
    await page.setViewportSize({ width: 375, height: 812 });
    await screenshot(page, 'reveal-asks-375px');
    await page.setViewportSize({ width: 1400, height: 900 });
    await dlg.getByRole('button', { name: 'Keep it open' }).click();
    const [download] = await Promise.all([page.waitForEvent('download'), dlg.getByRole('button', { name: 'Download .csv' }).click()]);
    assert.equal(download.suggestedFilename(), `${keeper}_accessKeys.csv`);
    const csv = fs.readFileSync(await download.path(), 'utf8');
    assert.equal(csv, `Access key ID,Secret access key\r\n${id},${secret}\r\n`);
    await screenshot(page, 'reveal-downloaded');
    await page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'detached', timeout: WAIT });

    log(`6. key 2: copying the secret lets Escape close the dialog`);
    await revealButton(keeper, 1).click();
    dlg = page.getByRole('dialog', { name: 'Reveal secret of access key 2' });
    await dlg.getByRole('button', { name: 'Reveal secret' }).click();
    await dlg.getByLabel('Secret access key').waitFor({ timeout: WAIT });
    const secret2 = await dlg.getByLabel('Secret access key').inputValue();
    await dlg.getByRole('button', { name: 'Copy key id' }).click();
    await page.keyboard.press('Escape');
    await dlg.getByRole('alertdialog', { name: 'Close without saving?' }).waitFor({ timeout: WAIT });
    assert.equal(await dlg.isVisible(), true, 'copying the key id alone does not save the secret');
    await dlg.getByRole('button', { name: 'Keep it open' }).click();
    await dlg.getByRole('button', { name: 'Copy secret' }).click();
    await page.waitForFunction(() => /Secret copied/.test(document.querySelector('dialog .copy-status')?.textContent || ''), null, { timeout: WAIT });
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret2);
    await page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'detached', timeout: WAIT });

    log(`7. ${careless}: closing without saving, once confirmed`);
    await revealButton(careless, 0).click();
    dlg = page.getByRole('dialog', { name: 'Reveal secret of access key 1' });
    await dlg.getByRole('button', { name: 'Reveal secret' }).click();
    await dlg.getByLabel('Secret access key').waitFor({ timeout: WAIT });
    await page.keyboard.press('Escape');
    await dlg.getByRole('button', { name: 'Close without saving' }).click();
    await dlg.waitFor({ state: 'detached', timeout: WAIT });
    assert.equal(await page.locator('dialog').count(), 0);
    await screenshot(page, 'closed-without-saving');

    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
}

main(scenario);
