// Browser test of the bucketdesk web UI: Debian's Chromium driven by
// playwright-core, two managers (alice and bob) on project demo.
//
//   BUCKETDESK_BIN=bin/bucketdesk node tests/browser/run.mjs
//       starts that binary on a free port with a fresh data directory and a
//       random demo password, and stops it at the end;
//   BUCKETDESK_URL=http://127.0.0.1:8080 BUCKETDESK_DEMO_PASSWORD=… node tests/browser/run.mjs
//       uses a running server.
//
// Screenshots of every step go to test-output/browser/. Exits non-zero on
// failure. Never downloads a browser.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { browserTest, launch, login, openProject, PROJECT, rowAction, WAIT, waitConn, watch, failureShots } from './lib.mjs';

const { OUT, log, screenshot, main } = browserTest({ name: 'browser', serveArgs: ['--sandbox-delay', '400ms'] });

// ----------------------------------------------------------------- helpers

function row(page, kind, name) {
  return page.locator(`#${kind}s tbody tr[data-name="${name}"]`);
}

// recordRow makes the page remember every state a table row goes through,
// so that a state shorter than a screenshot is still checked.
async function recordRow(page, kind, name) {
  await page.evaluate(({ kind, name }) => {
    const seen = [];
    window.__rowHistory = seen;
    const sample = () => {
      const tr = document.querySelector(`#${kind}s tbody tr[data-name="${CSS.escape(name)}"]`);
      const s = tr ? {
        phase: tr.dataset.phase,
        locked: tr.dataset.locked,
        lock: tr.querySelector('.lock-note')?.textContent || '',
        edit: tr.querySelector('button[data-action=edit]')?.disabled,
        del: tr.querySelector('button[data-action=delete]')?.disabled,
        editTitle: tr.querySelector('button[data-action=edit]')?.title || '',
        editDescribedBy: tr.querySelector('button[data-action=edit]')?.getAttribute('aria-describedby') || '',
      } : { absent: true };
      const last = seen.at(-1);
      if (!last || JSON.stringify(last) !== JSON.stringify(s)) seen.push(s);
    };
    sample();
    new MutationObserver(sample).observe(document.getElementById('main'), { subtree: true, childList: true, attributes: true, characterData: true });
  }, { kind, name });
}

// --------------------------------------------------------------- scenario

/** createTagged creates a bucket with one tag through the New bucket dialog. */
async function createTagged(page, name, key, value) {
  await page.getByRole('button', { name: 'New bucket' }).click();
  const dialog = page.getByRole('dialog', { name: 'New bucket' });
  await dialog.getByLabel('Bucket name').fill(name);
  await dialog.getByRole('button', { name: 'Add tag' }).click();
  await dialog.getByLabel('Tag 1 key').fill(key);
  await dialog.getByLabel('Tag 1 value').fill(value);
  await dialog.getByRole('button', { name: 'Create bucket' }).click();
  await dialog.waitFor({ state: 'detached', timeout: WAIT });
}

// demoSettled waits until the demo project's resources, which the server
// starts creating when it starts, are ready and unlocked: the lists the
// pages read first then stay as they are until the scenario changes them
// (step 5 counts on the users list not changing).
async function demoSettled(base, password) {
  const res = await fetch(`${base}/auth/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'alice', password }),
  });
  assert.equal(res.status, 200, 'alice signs in through the API');
  const { token } = await res.json();
  const deadline = Date.now() + WAIT;
  for (;;) {
    const lists = await Promise.all(['buckets', 'users'].map(async (kind) => {
      const r = await fetch(`${base}/api/projects/${PROJECT}/${kind}`, { headers: { Authorization: `Bearer ${token}` } });
      assert.equal(r.status, 200, `list ${kind}`);
      return (await r.json()).items;
    }));
    if (lists.every((items) => items.length > 0 && items.every((r) => r.observed?.phase === 'ready' && !r.lock))) return;
    if (Date.now() > deadline) throw new Error(`the demo resources did not settle within ${WAIT} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function scenario({ base, password }) {
  const browser = await launch();
  const problems = [];
  try {
    const viewport = { width: 1400, height: 900 };
    const alice = await (await browser.newContext({ viewport })).newPage();
    const bob = await (await browser.newContext({ viewport })).newPage();
    watch(alice, 'alice', problems);
    watch(bob, 'bob', problems);
    const bucket = `browser-${crypto.randomBytes(3).toString('hex')}`;

    await demoSettled(base, password);
    log('1. alice and bob sign in and open project demo');
    await alice.goto(`${base}/`);
    await alice.getByLabel('User name').fill('alice');
    await screenshot(alice, 'alice-login');
    await login(alice, base, 'alice', password);
    await screenshot(alice, 'alice-projects');
    await openProject(alice);
    await login(bob, base, 'bob', password);
    await openProject(bob);
    await screenshot(bob, 'bob-project');
    await bob.evaluate(() => {
      window.__sameDocument = true;
    });

    log('2. a bucket name that breaks the rules is refused in the browser, without a request');
    const posts = [];
    alice.on('request', (r) => {
      if (r.method() === 'POST' && r.url().includes(`/api/projects/${PROJECT}/buckets`)) posts.push(r.url());
    });
    await alice.getByRole('button', { name: 'New bucket' }).click();
    const dialog = alice.getByRole('dialog', { name: 'New bucket' });
    await dialog.getByLabel('Bucket name').fill('Invalid_Name');
    await dialog.getByRole('button', { name: 'Create bucket' }).click();
    const nameError = dialog.locator('.field-error').first();
    await nameError.waitFor({ timeout: WAIT });
    const errorText = await nameError.textContent();
    assert.match(errorText, /may contain only lowercase letters, digits, dots \(\.\) and hyphens \(-\)/);
    assert.match(errorText, /must begin and end with a lowercase letter or a digit/);
    assert.equal(await dialog.getByLabel('Bucket name').getAttribute('aria-invalid'), 'true');
    assert.equal(await alice.evaluate(() => document.activeElement?.name), 'name', 'focus moves to the invalid field');
    await screenshot(alice, 'alice-invalid-name');
    assert.equal(posts.length, 0, 'no request is sent for an invalid bucket');

    log(`3. alice creates bucket ${bucket}; bob sees it appear locked, then ready`);
    await recordRow(bob, 'bucket', bucket);
    await dialog.getByLabel('Bucket name').fill(bucket);
    await dialog.getByRole('button', { name: 'Add tag' }).click();
    await dialog.getByLabel('Tag 1 key').fill('team');
    await dialog.getByLabel('Tag 1 value').fill('browser-test');
    await dialog.getByRole('button', { name: 'Create bucket' }).click();
    await dialog.waitFor({ state: 'detached', timeout: WAIT });
    assert.equal(posts.length, 1, 'one create request');

    // Bob's page: the new row, locked by alice, edit and delete disabled.
    const bobRow = row(bob, 'bucket', bucket);
    await bobRow.waitFor({ timeout: WAIT });
    const lockedNow = await bobRow.getAttribute('data-locked');
    if (lockedNow === 'alice') await screenshot(bob, 'bob-sees-locked');
    await bob.waitForFunction(() => (window.__rowHistory || []).some((s) => s.locked === 'alice'), null, { timeout: WAIT });
    await bob.waitForFunction(() => {
      const h = window.__rowHistory || [];
      const last = h.at(-1);
      return last && last.phase === 'ready' && !last.locked;
    }, null, { timeout: WAIT, polling: 'raf' });
    const history = await bob.evaluate(() => window.__rowHistory);
    const locked = history.filter((s) => s.locked === 'alice');
    assert.ok(locked.length > 0, `bob saw the bucket locked by alice: ${JSON.stringify(history)}`);
    for (const s of locked) {
      assert.match(s.lock, /being created by alice since \d{2}:\d{2}:\d{2}/i, `lock note: ${s.lock}`);
      assert.equal(s.edit, true, 'bob cannot edit while alice creates it');
      assert.equal(s.del, true, 'bob cannot delete while alice creates it');
      assert.match(s.editTitle, /being created by alice/);
      assert.ok(s.editDescribedBy, 'the disabled edit button is described by the lock note');
    }
    const firstLocked = history.findIndex((s) => s.locked === 'alice');
    const ready = history.findIndex((s, i) => i > firstLocked && s.phase === 'ready' && !s.locked);
    assert.ok(ready > firstLocked, 'then ready');
    assert.equal(history[ready].edit, false, 'bob can edit once it is ready');
    assert.equal(history[ready].del, false, 'bob can delete once it is ready');
    assert.equal(await bob.evaluate(() => window.__sameDocument), true, 'without a reload');
    if (lockedNow !== 'alice') log('  (the bucket was ready before the screenshot; its locked state was checked from the recorded history)');
    await screenshot(bob, 'bob-sees-ready');
    assert.equal(await bobRow.getByRole('button', { name: `Edit bucket ${bucket}` }).isEnabled(), true);

    log('4. alice\'s progress panel shows the stack events and the result');
    const panel = alice.locator('.op-panel', { hasText: `Creating bucket ${bucket}` });
    await panel.locator('.op-result .result-good').waitFor({ timeout: WAIT });
    const events = await panel.locator('.op-events li[data-status]').allTextContents();
    assert.ok(events.length >= 2, `stack events shown: ${events.length}`);
    assert.ok(events.some((e) => /CREATE_IN_PROGRESS/.test(e)), 'an in-progress event');
    assert.ok(events.some((e) => /Stack.*CREATE_COMPLETE/.test(e)), 'the stack completed');
    assert.match(await panel.locator('.op-status').textContent(), /Succeeded/);
    assert.match(await panel.locator('.op-result').textContent(), new RegExp(`Bucket ${bucket}: created`));
    await screenshot(alice, 'alice-progress-succeeded');

    log('5. alice\'s socket drops; while she is away bob edits the bucket; she reconnects and resyncs');
    // Hold alice's reconnect (no ticket) long enough for bob's change.
    await alice.route('**/api/ws-ticket', (route) => route.abort());
    const connectsBefore = await alice.evaluate(() => window.__bucketdesk.connects);
    await alice.evaluate(() => window.__bucketdesk.socket.close());
    await waitConn(alice, 'Reconnecting…');
    await screenshot(alice, 'alice-reconnecting');

    await bobRow.getByRole('button', { name: `Edit bucket ${bucket}` }).click();
    const edit = bob.getByRole('dialog', { name: `Edit bucket ${bucket}` });
    await edit.getByLabel('Keep every version of each object (versioning)').check();
    await edit.getByRole('button', { name: 'Save changes' }).click();
    await edit.waitFor({ state: 'detached', timeout: WAIT });
    await bob.locator('.op-panel', { hasText: `Updating bucket ${bucket}` }).locator('.result-good').waitFor({ timeout: WAIT });
    await bob.waitForFunction((name) => {
      const tr = document.querySelector(`#buckets tr[data-name="${name}"]`);
      return tr && !tr.dataset.locked && tr.children[3].textContent === 'On';
    }, bucket, { timeout: WAIT });
    assert.equal(await row(alice, 'bucket', bucket).locator('td').nth(2).textContent(), 'Off', 'alice, offline, has not seen the change');

    // The resync reads the lists again naming the ones the page holds:
    // the users did not change (304, no body), the buckets did (200).
    const relisted = [];
    const onList = (res) => {
      const m = res.url().match(/\/api\/projects\/[^/]+\/(buckets|users)$/);
      if (m) relisted.push(`${m[1]} ${res.status()}`);
    };
    alice.on('response', onList);
    await alice.unroute('**/api/ws-ticket');
    await waitConn(alice, 'Live');
    assert.ok(await alice.evaluate(() => window.__bucketdesk.connects) > connectsBefore, 'a new connection');
    await alice.waitForFunction((name) => {
      const tr = document.querySelector(`#buckets tr[data-name="${name}"]`);
      return tr && tr.children[3].textContent === 'On';
    }, bucket, { timeout: WAIT });
    await screenshot(alice, 'alice-live-again-resynced');
    alice.off('response', onList);
    assert.ok(relisted.includes('users 304'), `the unchanged users list answered 304: ${relisted}`);
    assert.ok(relisted.includes('buckets 200'), `the changed buckets list answered 200: ${relisted}`);

    log('6. bob, with a delete dialog open, confirms while alice changes the bucket: a 409 names her');
    await bobRow.getByRole('button', { name: `Delete bucket ${bucket}` }).click();
    const bobDel = bob.getByRole('dialog', { name: `Delete bucket ${bucket}?` });
    await bobDel.waitFor({ timeout: WAIT });
    await row(alice, 'bucket', bucket).getByRole('button', { name: `Edit bucket ${bucket}` }).click();
    const aliceEdit = alice.getByRole('dialog', { name: `Edit bucket ${bucket}` });
    await aliceEdit.getByLabel('Expire objects after (days)').fill('30');
    // Versioning off on a versioned bucket suspends it, as the hint says.
    const versioningBox = aliceEdit.getByLabel('Keep every version of each object (versioning)');
    assert.match(await aliceEdit.locator(`#${await versioningBox.getAttribute('id')}-hint`).textContent(), /versioned bucket suspends it/);
    await versioningBox.uncheck();
    await aliceEdit.getByRole('button', { name: 'Save changes' }).click();
    await aliceEdit.waitFor({ state: 'detached', timeout: WAIT });
    await bobDel.getByRole('button', { name: 'Delete bucket' }).click();
    const lockedBanner = bobDel.locator('.banner-warn');
    await lockedBanner.waitFor({ timeout: WAIT });
    assert.match(await lockedBanner.textContent(), /being updated by alice since \d{2}:\d{2}:\d{2}/);
    await screenshot(bob, 'bob-delete-refused-locked');
    await bobDel.getByRole('button', { name: 'Cancel' }).click();
    await bobDel.waitFor({ state: 'detached', timeout: WAIT });
    await alice.locator('.op-panel', { hasText: `Updating bucket ${bucket}` }).locator('.result-good').waitFor({ timeout: WAIT });
    await bob.waitForFunction((name) => {
      const tr = document.querySelector(`#buckets tr[data-name="${name}"]`);
      return tr && !tr.dataset.locked && tr.children[5].textContent === '30 days' && tr.children[3].textContent === 'Suspended';
    }, bucket, { timeout: WAIT });

    log('7. alice deletes the bucket; bob sees it being deleted, then gone');
    await recordRow(bob, 'bucket', bucket);
    await row(alice, 'bucket', bucket).getByRole('button', { name: `Delete bucket ${bucket}` }).click();
    const del = alice.getByRole('dialog', { name: `Delete bucket ${bucket}?` });
    await del.getByRole('button', { name: 'Delete bucket' }).click();
    await del.waitFor({ state: 'detached', timeout: WAIT });
    await bob.waitForFunction(() => window.__rowHistory.at(-1)?.absent, null, { timeout: WAIT, polling: 'raf' });
    const delHistory = await bob.evaluate(() => window.__rowHistory);
    assert.ok(delHistory.some((s) => /being deleted by alice/i.test(s.lock || '') && s.edit && s.del), `bob saw it being deleted: ${JSON.stringify(delHistory)}`);
    await alice.locator('.op-panel', { hasText: `Deleting bucket ${bucket}` }).locator('.result-good').waitFor({ timeout: WAIT });
    await screenshot(alice, 'alice-deleted');
    await screenshot(bob, 'bob-sees-deleted');

    const failing = `${bucket}-fails`;
    log(`8. alice creates bucket ${failing} tagged sandbox-fail=create: it fails, and both see why`);
    await createTagged(alice, failing, 'sandbox-fail', 'create');
    const failPanel = alice.locator('.op-panel', { hasText: `Creating bucket ${failing}` });
    await failPanel.locator('.op-result .result-bad').waitFor({ timeout: WAIT });
    assert.match(await failPanel.locator('.op-status').textContent(), /Failed/);
    assert.match(await failPanel.locator('.op-result').textContent(), /Reason: .*on purpose \(tag sandbox-fail=create\)/);
    const failEvents = await failPanel.locator('.op-events li[data-status]').allTextContents();
    assert.ok(failEvents.some((e) => /CREATE_FAILED/.test(e)), `the failed resource is shown: ${failEvents}`);
    assert.ok(failEvents.some((e) => /ROLLBACK_COMPLETE/.test(e)), `the rollback is shown: ${failEvents}`);
    await screenshot(alice, 'alice-create-failed');
    await bob.waitForFunction((name) => {
      const tr = document.querySelector(`#buckets tr[data-name="${name}"]`);
      return tr && tr.dataset.phase === 'failed' && !tr.dataset.locked;
    }, failing, { timeout: WAIT });
    await screenshot(bob, 'bob-sees-failed');

    const racing = `${bucket}-race`;
    log(`9. alice creates bucket ${racing} tagged sandbox-fail=delete: a writer races its delete, which fails; she empties it and deletes it`);
    await createTagged(alice, racing, 'sandbox-fail', 'delete');
    await alice.locator('.op-panel', { hasText: `Creating bucket ${racing}` }).locator('.result-good').waitFor({ timeout: WAIT });
    const raceRow = row(alice, 'bucket', racing);
    await raceRow.getByRole('button', { name: `Delete bucket ${racing}` }).click();
    let raceDel = alice.getByRole('dialog', { name: `Delete bucket ${racing}?` });
    await raceDel.getByRole('button', { name: 'Delete bucket' }).click();
    await raceDel.waitFor({ state: 'detached', timeout: WAIT });
    const racePanel = alice.locator('.op-panel', { hasText: `Deleting bucket ${racing}` });
    await racePanel.locator('.op-result .result-bad').waitFor({ timeout: WAIT });
    assert.match(await racePanel.locator(".op-result").textContent(), /Bucket: .*The bucket you tried to delete is not empty/);
    const raceEvents = await racePanel.locator('.op-events li[data-status]').allTextContents();
    assert.ok(raceEvents.some((e) => /BucketPolicy.*DELETE_SKIPPED/.test(e)), `the HTTPS-only policy is kept: ${raceEvents}`);
    assert.ok(raceEvents.some((e) => /Bucket.*DELETE_FAILED.*BucketNotEmpty/.test(e)), `S3's reason is shown: ${raceEvents}`);
    // Both managers see what the failed delete means and how to finish.
    for (const page of [alice, bob]) {
      const note = row(page, 'bucket', racing).locator('.delete-failed-note');
      await note.waitFor({ timeout: WAIT });
      assert.match(await note.textContent(), /still holds data, and keeps its HTTPS-only policy\. Empty it .*then delete it again/);
      assert.equal(await row(page, 'bucket', racing).getByRole('button', { name: `Edit bucket ${racing}` }).isDisabled(), true, 'a DELETE_FAILED bucket cannot be edited');
    }
    await screenshot(bob, 'bob-sees-delete-failed');
    // Deleting it again while it holds the object is refused, with the count.
    await raceRow.getByRole('button', { name: `Delete bucket ${racing}` }).click();
    raceDel = alice.getByRole('dialog', { name: `Delete bucket ${racing}?` });
    await raceDel.getByRole('button', { name: 'Delete bucket' }).click();
    const notEmpty = raceDel.locator('.banner:not([hidden])');
    await notEmpty.waitFor({ timeout: WAIT });
    assert.match(await notEmpty.textContent(), /is not empty: it holds 1 object version/);
    await screenshot(alice, 'alice-delete-refused-not-empty');
    await raceDel.getByRole('button', { name: 'Cancel' }).click();
    await raceDel.waitFor({ state: 'detached', timeout: WAIT });
    // The sandbox's Objects dialog shows the racing object; alice empties the bucket.
    await rowAction(raceRow, 'objects');
    const objects = alice.getByRole('dialog', { name: `Objects in bucket ${racing}` });
    const count = objects.locator('.objects-count');
    await alice.waitForFunction(() => /holds 1 object version\./.test(document.querySelector('.objects-count')?.textContent || ''), null, { timeout: WAIT });
    assert.match(await objects.locator('table.objects tbody').textContent(), /written-during-delete\.txt/);
    await objects.getByLabel('Object key').fill('extra/report.csv');
    await objects.getByRole('button', { name: 'Add object' }).click();
    await alice.waitForFunction(() => /holds 2 object versions\./.test(document.querySelector('.objects-count')?.textContent || ''), null, { timeout: WAIT });
    await screenshot(alice, 'alice-sandbox-objects');
    await objects.getByRole('button', { name: 'Empty bucket' }).click();
    await alice.waitForFunction(() => /it is empty/.test(document.querySelector('.objects-count')?.textContent || ''), null, { timeout: WAIT });
    assert.match(await count.textContent(), /nothing: it is empty/);
    await objects.getByRole('button', { name: 'Done' }).click();
    await objects.waitFor({ state: 'detached', timeout: WAIT });
    await raceRow.getByRole('button', { name: `Delete bucket ${racing}` }).click();
    raceDel = alice.getByRole('dialog', { name: `Delete bucket ${racing}?` });
    await raceDel.getByRole('button', { name: 'Delete bucket' }).click();
    await raceDel.waitFor({ state: 'detached', timeout: WAIT });
    await bob.waitForFunction((name) => !document.querySelector(`#buckets tr[data-name="${name}"]`), racing, { timeout: WAIT });

    log('10. signing out returns to the login page');
    await bob.getByRole('button', { name: 'Sign out' }).click();
    await bob.getByLabel('User name').waitFor({ timeout: WAIT });
    assert.equal(await bob.evaluate(() => localStorage.getItem('bucketdesk.session')), null);

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
