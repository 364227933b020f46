// Browser test of the History view (web/history.js): bob watches project
// demo's history while alice creates a bucket, and sees her change appear
// live, accepted then succeeded; then the bucket's own history, a filter
// and a CSV export. Same setup as run.mjs (helpers in lib.mjs):
//
//   BUCKETDESK_BIN=bin/bucketdesk node tests/browser/history.mjs
//   BUCKETDESK_URL=http://127.0.0.1:8080 BUCKETDESK_DEMO_PASSWORD=… node tests/browser/history.mjs
//
// Screenshots go to test-output/browser/history/. Exits non-zero on
// failure. Never downloads a browser.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { browserTest, launch, login, openProject, rowAction, WAIT, watch, failureShots } from './lib.mjs';

const { OUT, log, screenshot, main } = browserTest({ name: 'history', dir: 'history', serveArgs: ['--sandbox-delay', '400ms'] });

// ----------------------------------------------------------------- helpers

// historyRow is a row of the open History dialog.
function historyRow(page, sel) {
  return page.locator(`#history tbody tr${sel}`);
}

// --------------------------------------------------------------- scenario

async function scenario({ base, password }) {
  const browser = await launch();
  const problems = [];
  try {
    const viewport = { width: 1400, height: 900 };
    const alice = await (await browser.newContext({ viewport })).newPage();
    const bob = await (await browser.newContext({ viewport, acceptDownloads: true })).newPage();
    watch(alice, 'alice', problems);
    watch(bob, 'bob', problems);
    const bucket = `history-${crypto.randomBytes(3).toString('hex')}`;

    log('1. alice and bob open project demo; bob opens its History');
    await login(alice, base, 'alice', password);
    await openProject(alice);
    await login(bob, base, 'bob', password);
    await openProject(bob);
    await bob.locator('#project-history').click();
    const dlg = bob.getByRole('dialog', { name: 'Project history' });
    await dlg.waitFor({ timeout: WAIT });
    await bob.waitForFunction(() => /record|No records/.test(document.querySelector('.history-status')?.textContent || ''), null, { timeout: WAIT });
    await screenshot(bob, 'bob-history-before');

    log(`2. alice creates bucket ${bucket}; bob sees it appear in History live, accepted then succeeded`);
    await alice.getByRole('button', { name: 'New bucket' }).click();
    const form = alice.getByRole('dialog', { name: 'New bucket' });
    await form.getByLabel('Bucket name').fill(bucket);
    await form.getByRole('button', { name: 'Create bucket' }).click();
    await form.waitFor({ state: 'detached', timeout: WAIT });
    const accepted = historyRow(bob, `[data-name="${bucket}"][data-outcome="accepted"]`);
    await accepted.waitFor({ timeout: WAIT });
    assert.equal(await accepted.getAttribute('data-actor'), 'alice');
    assert.equal(await accepted.getAttribute('data-action'), 'create');
    assert.match(await accepted.textContent(), /127\.0\.0\.1/, 'the accepted record shows the source address');
    await screenshot(bob, 'bob-history-accepted-live');
    const succeeded = historyRow(bob, `[data-name="${bucket}"][data-outcome="succeeded"]`);
    await succeeded.waitFor({ timeout: WAIT });
    // Newest first: the end above the acceptance.
    const order = await bob.$$eval(`#history tbody tr[data-name="${bucket}"]`, (rs) => rs.map((r) => r.dataset.outcome));
    assert.deepEqual(order, ['succeeded', 'accepted']);
    await screenshot(bob, 'bob-history-succeeded-live');

    log('3. a filter by who: bob did nothing');
    await dlg.getByLabel('Who').fill('bob');
    await dlg.getByRole('button', { name: 'Filter' }).click();
    await bob.waitForFunction(() => document.querySelector('.history-status')?.textContent === 'No records.', null, { timeout: WAIT });
    await dlg.getByRole('button', { name: 'Close dialog' }).click();

    log('4. the bucket\'s own History, and its CSV export');
    await rowAction(bob.locator(`#buckets tbody tr[data-name="${bucket}"]`), 'history');
    const own = bob.getByRole('dialog', { name: `History of bucket ${bucket}` });
    await own.waitFor({ timeout: WAIT });
    await historyRow(bob, '[data-outcome="succeeded"]').waitFor({ timeout: WAIT });
    assert.equal(await historyRow(bob, '[data-id]').count(), 2, 'the bucket has two records');
    await screenshot(bob, 'bob-bucket-history');
    const [download] = await Promise.all([bob.waitForEvent('download', { timeout: WAIT }), own.getByRole('button', { name: 'Export CSV' }).click()]);
    assert.equal(download.suggestedFilename(), 'audit-demo.csv');
    const csv = fs.readFileSync(await download.path(), 'utf8');
    const lines = csv.trim().split('\n');
    assert.equal(lines.length, 3, `a header and two rows: ${csv}`);
    assert.match(lines[0], /^id,at,project,actor,action/);
    assert.ok(lines.slice(1).every((l) => l.includes(`,alice,create,bucket,${bucket},`)), csv);

    assert.deepEqual(problems, [], 'no script errors in the pages');
  } catch (err) {
    await failureShots(browser, OUT);
    if (problems.length) console.error(problems.join('\n'));
    throw err;
  } finally {
    await browser.close();
  }
}

await main(scenario);
