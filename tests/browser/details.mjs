// Browser test of the detail views and of access that ends: alice creates
// a bucket and an SFTP user with an end date, sees the remaining time on
// the user's row, opens the details of the bucket and of the user, checks
// the identifiers shown and copies one; after a reload (the page holds list
// rows, docs/api.md) the details are read whole once, and a resync keeps them.
//
//   BUCKETDESK_BIN=bin/bucketdesk node tests/browser/details.mjs
//   BUCKETDESK_URL=http://127.0.0.1:8080 BUCKETDESK_DEMO_PASSWORD=… node tests/browser/details.mjs
//
// Screenshots go to test-output/browser/details-*.png (run.mjs, which
// clears that directory, runs first in make test-browser).

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { afterLogin, browserTest, launch, login, PROJECT, WAIT, watch } from './lib.mjs';

const REGION = 'eu-west-1';
const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq8cq2Y0xPVyOb0aZ0QWPH6cFbO0v9vP3Zc3q1sLk7M partner@host';

const { OUT, log, screenshot, main } = browserTest({
  name: 'details', prefix: 'details-', clean: 'none', serveArgs: ['--sandbox-delay', '200ms'], tag: 'details',
});

function row(page, kind, name) {
  return page.locator(`#${kind}s tbody tr[data-name="${name}"]`);
}

async function waitReady(page, kind, name) {
  await page.waitForFunction(({ kind, name }) => {
    const tr = document.querySelector(`#${kind}s tbody tr[data-name="${name}"]`);
    return tr && tr.dataset.phase === 'ready' && !tr.dataset.locked;
  }, { kind, name }, { timeout: WAIT });
}

/** field returns the value shown for a label of the open details dialog. */
async function shown(dialog, label) {
  const dd = dialog.locator(`dd[data-field="${label}"]`);
  const inputs = dd.locator('input.copy-value');
  if (await inputs.count()) return inputs.evaluateAll((els) => els.map((e) => e.value));
  return [await dd.innerText()];
}

async function scenario({ base, password }) {
  const browser = await launch();
  const problems = [];
  try {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    const page = await ctx.newPage();
    watch(page, 'alice', problems);
    const suffix = crypto.randomBytes(3).toString('hex');
    const bucket = `details-${suffix}`;
    const user = `partner-${suffix}`;

    log('1. alice signs in and opens project demo');
    await login(page, base, 'alice', password, afterLogin.projectOpen);

    log(`2. alice creates bucket ${bucket}`);
    await page.getByRole('button', { name: 'New bucket' }).click();
    let dialog = page.getByRole('dialog', { name: 'New bucket' });
    await dialog.getByLabel('Bucket name').fill(bucket);
    await dialog.getByRole('button', { name: 'Create bucket' }).click();
    await dialog.waitFor({ state: 'detached', timeout: WAIT });
    await waitReady(page, 'bucket', bucket);

    log(`3. alice creates SFTP user ${user} whose access ends in 3 days`);
    await page.getByRole('button', { name: 'New user' }).click();
    dialog = page.getByRole('dialog', { name: 'New user' });
    await dialog.getByLabel('User name').fill(user);
    await dialog.getByRole('button', { name: 'Add grant' }).click();
    await dialog.getByLabel('Grant 1 bucket').selectOption(bucket);
    await dialog.getByLabel('Grant 1 access').selectOption('readwrite');
    await dialog.getByLabel('Grant 1 key prefix').fill('incoming/');
    await dialog.getByLabel(/SFTP access/).check();
    await dialog.getByLabel(/SSH public keys/).fill(SSH_KEY);
    // A date in the past is refused in the browser, with core's words.
    await dialog.getByLabel(/Access ends/).fill('2020-01-01T12:00');
    await dialog.getByRole('button', { name: 'Create user' }).click();
    await dialog.getByText('must be in the future').waitFor({ timeout: WAIT });
    await screenshot(page, 'end-date-in-the-past');
    const end = new Date(Date.now() + 3 * 24 * 3600 * 1000 + 3600 * 1000);
    const p2 = (n) => String(n).padStart(2, '0');
    const local = `${end.getFullYear()}-${p2(end.getMonth() + 1)}-${p2(end.getDate())}T${p2(end.getHours())}:${p2(end.getMinutes())}`;
    await dialog.getByLabel(/Access ends/).fill(local);
    await dialog.getByRole('button', { name: 'Create user' }).click();
    await dialog.waitFor({ state: 'detached', timeout: WAIT });
    await waitReady(page, 'user', user);
    const badge = row(page, 'user', user).locator('[data-access]');
    assert.equal(await badge.getAttribute('data-access'), 'ends');
    assert.equal(await badge.innerText(), 'ends in 3 days');
    await screenshot(page, 'user-row-ends-in-3-days');

    log('4. the details of the bucket');
    await row(page, 'bucket', bucket).getByRole('button', { name: new RegExp(`^${bucket}`) }).click();
    dialog = page.getByRole('dialog', { name: `Bucket ${bucket}` });
    await dialog.waitFor({ timeout: WAIT });
    assert.deepEqual(await shown(dialog, 'ARN'), [`arn:aws:s3:::${bucket}`]);
    assert.deepEqual(await shown(dialog, 'S3 URI'), [`s3://${bucket}`]);
    assert.deepEqual(await shown(dialog, 'Endpoint'), [`https://${bucket}.s3.${REGION}.amazonaws.com`]);
    assert.deepEqual(await shown(dialog, 'Region'), [REGION]);
    assert.deepEqual(await shown(dialog, 'Stack name'), [`bd-${PROJECT}--b-${bucket}`]);
    assert.match((await shown(dialog, 'Stack status'))[0], /CREATE_COMPLETE/);
    assert.match((await shown(dialog, 'Created'))[0], /^alice · /);
    assert.match((await shown(dialog, 'Last changed'))[0], /^alice · /);
    assert.match((await shown(dialog, 'Encryption'))[0], /SSE-S3/);
    assert.equal((await shown(dialog, 'Versioning'))[0], 'Off');
    assert.match((await shown(dialog, 'Lifecycle'))[0], /aborted after 7 days/);
    await dialog.locator('dd[data-field="S3 URI"]').getByRole('button', { name: /Copy/ }).click();
    await dialog.getByText('Copied').waitFor({ timeout: WAIT });
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), `s3://${bucket}`);
    await screenshot(page, 'bucket-details-copied');
    await dialog.getByRole('button', { name: 'Close dialog' }).click();

    log('5. the details of the SFTP user');
    await row(page, 'user', user).getByRole('button', { name: new RegExp(`^${user}`) }).click();
    dialog = page.getByRole('dialog', { name: `User ${user}` });
    await dialog.waitFor({ timeout: WAIT });
    assert.deepEqual(await shown(dialog, 'ARN'), [`arn:aws:iam::123456789012:user/bucketdesk/${user}`]);
    assert.deepEqual(await shown(dialog, 'Stack name'), [`bd-${PROJECT}--u-${user}`]);
    const keyIds = await shown(dialog, 'Access keys');
    assert.equal(keyIds.length, 1);
    assert.match(keyIds[0], /^AKIA[A-Z0-9]{16}$/);
    assert.match(await dialog.locator('.detail-key .sub').innerText(), /^Active · created .* \(\d+ minutes? old\)$/);
    const sftp = await shown(dialog, 'SFTP');
    assert.equal(sftp[0], `s-0123456789abcdef0.server.transfer.${REGION}.amazonaws.com`);
    assert.equal(sftp[1], user);
    assert.deepEqual(sftp.slice(2), [`/${bucket}/incoming`]);
    assert.match((await shown(dialog, 'Access ends'))[0], /ends in 3 days/);
    assert.deepEqual(await shown(dialog, 'Grants'), [`s3://${bucket}/incoming/`]);
    await dialog.locator('dd[data-field="SFTP"]').getByRole('button', { name: 'Copy SFTP host' }).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), sftp[0]);
    await screenshot(page, 'user-details');
    await dialog.getByRole('button', { name: 'Close dialog' }).click();

    log('6. after a reload the page holds list rows only: the details are read whole, once, and a resync keeps them');
    const reads = [];
    page.on('request', (r) => {
      if (r.method() === 'GET' && new URL(r.url()).pathname === `/api/projects/${PROJECT}/users/${user}`) reads.push(r.url());
    });
    await page.reload();
    await waitReady(page, 'user', user);
    assert.equal(await page.evaluate((name) => window.__bucketdesk.state.store.get('user', name).stack_name, user), undefined, 'a list row carries no details');
    await row(page, 'user', user).getByRole('button', { name: new RegExp(`^${user}`) }).click();
    dialog = page.getByRole('dialog', { name: `User ${user}` });
    await dialog.waitFor({ timeout: WAIT });
    assert.deepEqual(await shown(dialog, 'Stack name'), [`bd-${PROJECT}--u-${user}`]);
    assert.deepEqual(await shown(dialog, 'ARN'), [`arn:aws:iam::123456789012:user/bucketdesk/${user}`]);
    assert.match(await dialog.locator('.detail-key .sub').innerText(), /^Active · created /);
    assert.equal((await shown(dialog, 'SFTP'))[1], user);
    assert.equal(reads.length, 1, 'the details were read with one GET');
    await dialog.getByRole('button', { name: 'Close dialog' }).click();
    // The socket drops; the resync reads the lists again (unchanged: 304,
    // the same rows), which must not replace the whole user.
    const relisted = page.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).pathname === `/api/projects/${PROJECT}/users`, { timeout: WAIT });
    await page.evaluate(() => window.__bucketdesk.socket.close());
    assert.equal((await relisted).status(), 304, 'the unchanged list answered 304');
    await page.waitForTimeout(200); // the answer is applied as soon as it is read
    assert.equal(await page.evaluate((name) => window.__bucketdesk.state.store.get('user', name).stack_name, user), `bd-${PROJECT}--u-${user}`, 'the resync kept the whole user');
    await row(page, 'user', user).getByRole('button', { name: new RegExp(`^${user}`) }).click();
    await dialog.waitFor({ timeout: WAIT });
    assert.deepEqual(await shown(dialog, 'Stack name'), [`bd-${PROJECT}--u-${user}`]);
    assert.equal(reads.length, 1, 'no second GET: the store kept the details');

    assert.deepEqual(problems, [], 'no script errors in the page');
  } catch (err) {
    for (const c of browser.contexts()) {
      for (const p of c.pages()) await p.screenshot({ path: path.join(OUT, 'details-failure.png'), fullPage: true }).catch(() => {});
    }
    if (problems.length) console.error(problems.join('\n'));
    throw err;
  } finally {
    await browser.close();
  }
}

await main(scenario);
