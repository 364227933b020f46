// Browser test of progress for everyone (web/progress.js): alice creates a
// bucket; while it runs, bob clicks "Show progress" on its row and sees the
// operation's events so far (read once from GET /api/operations/{id}), then
// the rest live, without duplicates, ending with the success — the same
// events as alice's panel.
//
//   BUCKETDESK_BIN=bin/bucketdesk node tests/browser/progress.mjs
//
// Screenshots go to test-output/browser/progress/. Exits non-zero on failure.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { browserTest, launch, login, openProject, WAIT, watch, failureShots } from './lib.mjs';

const { OUT, log, screenshot, main } = browserTest({ name: 'progress', dir: 'progress', serveArgs: ['--sandbox-delay', '1500ms'] });

// panelEvents lists "logical id status" of the events of the panel of the
// operation on bucket name, in the order shown.
function panelEvents(page, name) {
  return page.$$eval('.op-panel', (ps, name) => {
    const p = ps.find((x) => x.querySelector('h3')?.textContent.endsWith(` ${name}`));
    if (!p) return null;
    return [...p.querySelectorAll('.op-events li[data-status]')].map((li) =>
      `${li.querySelector('.ev-lid').textContent} ${li.dataset.status}`);
  }, name);
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
    const bucket = `progress-${crypto.randomBytes(3).toString('hex')}`;

    log('1. alice and bob open project demo');
    await login(alice, base, 'alice', password);
    await openProject(alice);
    await login(bob, base, 'bob', password);
    await openProject(bob);

    log(`2. alice creates bucket ${bucket} and waits for a few events`);
    await alice.getByRole('button', { name: 'New bucket' }).click();
    const form = alice.getByRole('dialog', { name: 'New bucket' });
    await form.getByLabel('Bucket name').fill(bucket);
    await form.getByRole('button', { name: 'Create bucket' }).click();
    await form.waitFor({ state: 'detached', timeout: WAIT });
    await alice.waitForFunction((name) => {
      const p = [...document.querySelectorAll('.op-panel')].find((x) => x.querySelector('h3')?.textContent.endsWith(` ${name}`));
      return p && p.querySelectorAll('.op-events li[data-status]').length >= 2;
    }, bucket, { timeout: WAIT });

    log('3. bob clicks Show progress on the row while it runs and sees the events so far');
    const row = bob.locator(`#buckets tbody tr[data-name="${bucket}"]`);
    await row.getByRole('button', { name: /Show progress/ }).click({ timeout: WAIT });
    const aliceSoFar = await panelEvents(alice, bucket);
    log(`   alice so far: ${aliceSoFar}`);
    await bob.waitForFunction(([name, n]) => {
      const p = [...document.querySelectorAll('.op-panel')].find((x) => x.querySelector('h3')?.textContent.endsWith(` ${name}`));
      return p && p.querySelectorAll('.op-events li[data-status]').length >= n;
    }, [bucket, aliceSoFar.length], { timeout: WAIT });
    const bobSoFar = await panelEvents(bob, bucket);
    assert.ok(!(await bob.locator('.op-panel.is-succeeded').count()), 'bob looked while the operation ran');
    assert.ok(bobSoFar.includes('Stack CREATE_IN_PROGRESS'), `bob sees the stack's CREATE_IN_PROGRESS: ${bobSoFar}`);
    assert.ok(bobSoFar.some((e) => !e.startsWith('Stack ')), `bob sees the resources' events: ${bobSoFar}`);
    assert.deepEqual(bobSoFar.slice(0, aliceSoFar.length), aliceSoFar, 'bob sees what alice had seen, in order');
    await screenshot(bob, 'bob-progress-so-far');

    log('4. both see the rest live, ending with the success, with the same events');
    for (const p of [alice, bob]) await p.locator('.op-panel.is-succeeded').waitFor({ timeout: 60000 });
    const a = await panelEvents(alice, bucket);
    const b = await panelEvents(bob, bucket);
    assert.ok(b.length > bobSoFar.length, 'more events came live');
    assert.equal(b.length, a.length, `the same event count: alice ${a} bob ${b}`);
    assert.deepEqual(b, a, 'the same events in the same order');
    const ids = await bob.$$eval('.op-panel .op-events li[data-event-id]', (ls) => ls.map((l) => l.dataset.eventId));
    assert.equal(new Set(ids).size, ids.length, `no duplicate event ids: ${ids}`);
    assert.equal(b.at(-1), 'Stack CREATE_COMPLETE');
    await screenshot(alice, 'alice-progress-done');
    await screenshot(bob, 'bob-progress-done');

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
