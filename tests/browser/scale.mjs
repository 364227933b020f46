// Browser test of a large project's tables (web/table.js, web/bulk.js):
// pages, a filter by name and tag with counts of what it hides, a status
// choice, sorting by a column, rendering that touches only the row a
// change is about, and bulk actions (set tags, delete) that become one
// operation per resource in the progress panel, with the server's
// refusals listed beside the rest.
//
//   BUCKETDESK_BIN=bin/bucketdesk node tests/browser/scale.mjs
//
// The project is seeded through the API (SCALE_BUCKETS buckets, default
// 130, and SCALE_USERS users, default 60); set both to 1000 to try the
// console at the size it is built for.
// Screenshots go to test-output/browser/scale/. Exits non-zero on failure.

import assert from 'node:assert/strict';
import path from 'node:path';
import { afterLogin, browserTest, launch, login as signIn, PROJECT, WAIT, watch } from './lib.mjs';

const BUCKETS = Number(process.env.SCALE_BUCKETS || 130);
const USERS = Number(process.env.SCALE_USERS || 60);
const RED = 13; // buckets tagged team=red

const { OUT, log, screenshot, main } = browserTest({ name: 'scale', dir: 'scale', serveArgs: ['--sandbox-delay', '20ms', '--cloud-rate', '500', '--sandbox-rate', '0', '--workers', '16'] });

const login = (page, base, user, password) => signIn(page, base, user, password, afterLogin.projectOpen);

/** client is a small REST client with its own session, for seeding. */
async function client(base, user, password) {
  const res = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: user, password }) });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  const { token } = JSON.parse(text);
  return async (method, path, body, ifMatch) => {
    const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' };
    if (ifMatch !== undefined) headers['If-Match'] = `"${ifMatch}"`;
    const r = await fetch(`${base}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
}

async function pool(items, n, fn) {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await fn(items[i++]);
  }));
}

const bucketName = (i) => `scale-b${String(i).padStart(4, '0')}`;
const userName = (i) => `scale-u${String(i).padStart(4, '0')}`;

/** summary returns a table's summary line and its counts. */
async function summary(page, id) {
  return page.evaluate((id) => {
    const s = document.getElementById(`${id}-summary`);
    return { text: s.textContent, shown: Number(s.dataset.shown), hidden: Number(s.dataset.hidden), rows: document.querySelectorAll(`#${id} tbody tr[data-name]`).length };
  }, id);
}

/** waitSummary waits until a table's counts are want ({shown, hidden}, either may be left out). */
async function waitSummary(page, id, want, what) {
  await page.waitForFunction(([id, want]) => {
    const s = document.getElementById(`${id}-summary`);
    if (!s) return false;
    return (want.shown === undefined || Number(s.dataset.shown) === want.shown) && (want.hidden === undefined || Number(s.dataset.hidden) === want.hidden);
  }, [id, want], { timeout: WAIT * 2 }).catch(async (e) => {
    throw new Error(`${what}: ${JSON.stringify(await summary(page, id))}: ${e.message}`);
  });
}

async function scenario({ base, password }) {
  const call = await client(base, 'alice', password);
  log(`1. seed ${BUCKETS} buckets (${RED} tagged team=red, one that fails) and ${USERS} users`);
  const t0 = Date.now();
  const buckets = Array.from({ length: BUCKETS }, (_, i) => i);
  await pool(buckets, 16, async (i) => {
    const tags = { n: String(i) };
    const step = Math.floor(BUCKETS / RED);
    if (i % step === 0 && i / step < RED) tags.team = 'red';
    if (i === BUCKETS - 1) tags['sandbox-fail'] = 'create';
    const r = await call('POST', `/api/projects/${PROJECT}/buckets`, { name: bucketName(i), encryption: { type: 'SSE-S3' }, expiry_days: 1 + (i % 90), tags });
    assert.equal(r.status, 202, JSON.stringify(r.body));
  });
  await pool(Array.from({ length: USERS }, (_, i) => i), 16, async (i) => {
    const r = await call('POST', `/api/projects/${PROJECT}/users`, { name: userName(i), access_keys: 0, grants: i === 0 ? [{ bucket: bucketName(1), access: 'read' }] : [] });
    assert.equal(r.status, 202, JSON.stringify(r.body));
  });
  // Wait until every stack has settled (the server's list is the judge).
  for (;;) {
    const [b, u] = await Promise.all([call('GET', `/api/projects/${PROJECT}/buckets`), call('GET', `/api/projects/${PROJECT}/users`)]);
    const busy = [...b.body.items, ...u.body.items].filter((r) => r.lock).length;
    if (busy === 0 && b.body.items.length >= BUCKETS && u.body.items.length >= USERS) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  const all = (await call('GET', `/api/projects/${PROJECT}/buckets`)).body.items;
  const totalBuckets = all.length;
  const totalUsers = (await call('GET', `/api/projects/${PROJECT}/users`)).body.items.length;
  log(`  seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s: the project has ${totalBuckets} buckets and ${totalUsers} users`);

  const browser = await launch();
  const problems = [];
  try {
    const ctxA = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const ctxB = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const alice = await ctxA.newPage();
    const bob = await ctxB.newPage();
    watch(alice, 'alice', problems);
    watch(bob, 'bob', problems);
    await Promise.all([login(alice, base, 'alice', password), login(bob, base, 'bob', password)]);

    log('2. the tables show one page each, with the totals');
    await waitSummary(alice, 'buckets', { shown: totalBuckets }, 'all buckets listed');
    let s = await summary(alice, 'buckets');
    assert.equal(s.rows, 25, 'one page of 25 rows');
    assert.equal(s.text, `Showing 1–25 of ${totalBuckets}`);
    assert.match(await alice.locator('#buckets-title .count').textContent(), new RegExp(`\\(${totalBuckets}\\)`));
    assert.match(await alice.locator('#users-title .count').textContent(), new RegExp(`\\(${totalUsers}\\)`));
    const pages = Math.ceil(totalBuckets / 25);
    assert.equal(await alice.locator('.resource-table:has(#buckets) .page-label').textContent(), `Page 1 of ${pages}`);
    await screenshot(alice, 'first-page');

    log('3. the next page');
    await alice.getByRole('button', { name: 'Next page of buckets' }).click();
    s = await summary(alice, 'buckets');
    assert.equal(s.text, `Showing 26–50 of ${totalBuckets}`);
    const firstOnPage2 = await alice.locator('#buckets tbody tr[data-name]').first().getAttribute('data-name');
    const sortedNames = all.map((r) => r.name).sort();
    assert.equal(firstOnPage2, sortedNames[25], 'page 2 starts with the 26th name');
    await screenshot(alice, 'second-page');
    await alice.getByLabel('Show').first().selectOption('100');
    s = await summary(alice, 'buckets');
    assert.equal(s.rows, Math.min(100, totalBuckets));
    assert.equal(s.text, `Showing 1–${Math.min(100, totalBuckets)} of ${totalBuckets}`, 'the page holding the first row shown');
    await alice.getByLabel('Show').first().selectOption('25');

    log('4. filter by tag: what the filter hides is counted');
    await alice.getByLabel('Filter', { exact: true }).first().fill('team=red');
    await waitSummary(alice, 'buckets', { shown: RED }, 'only the red buckets');
    s = await summary(alice, 'buckets');
    assert.equal(s.hidden, totalBuckets - RED);
    assert.equal(s.text, `Showing 1–${RED} of ${RED} · ${totalBuckets - RED} hidden by the filter`);
    assert.equal(await alice.locator('.resource-table:has(#buckets) .pager').isHidden(), true, 'one page: no pager');
    await screenshot(alice, 'filtered-by-tag');

    log('5. filter by name, then by status');
    await alice.getByLabel('Filter', { exact: true }).first().fill('b0007');
    await waitSummary(alice, 'buckets', { shown: 1 }, 'one name');
    await alice.getByLabel('Filter', { exact: true }).first().fill('');
    await alice.getByLabel('Status').first().selectOption('failed');
    await alice.locator(`#buckets tbody tr[data-name="${bucketName(BUCKETS - 1)}"]`).waitFor({ timeout: WAIT });
    assert.equal(await alice.locator(`#buckets tbody tr[data-name="${bucketName(BUCKETS - 1)}"]`).getAttribute('data-phase'), 'failed');
    await screenshot(alice, 'filtered-by-status');
    await alice.getByLabel('Status').first().selectOption('');
    await waitSummary(alice, 'buckets', { shown: totalBuckets }, 'the filter cleared');

    log('6. sort by expiry, longest first');
    const expiryHeader = alice.locator('#buckets thead button[data-sort]', { hasText: 'Expiry' });
    await expiryHeader.click();
    await expiryHeader.click();
    assert.equal(await alice.locator('#buckets thead th', { hasText: 'Expiry' }).getAttribute('aria-sort'), 'descending');
    const days = await alice.$$eval('#buckets tbody tr[data-name]', (trs) => trs.map((tr) => tr.children[5].textContent));
    assert.equal(days[0], '90 days', `longest expiry first: ${days.slice(0, 3)}`);
    const nums = days.map((d) => (d === 'Never' ? Infinity : Number.parseInt(d, 10)));
    assert.ok(nums.every((n, i) => i === 0 || nums[i - 1] >= n || nums[i - 1] === Infinity), `descending: ${days.slice(0, 8)}`);
    await screenshot(alice, 'sorted-by-expiry');
    await alice.locator('#buckets thead button[data-sort]', { hasText: 'Name' }).click();

    log('7. a change touches its own row only: the other rows keep their elements');
    const target = sortedNames[2];
    await bob.evaluate(() => {
      for (const tr of document.querySelectorAll('#buckets tbody tr[data-name]')) tr.__kept = true;
      // Every row the table takes out of the page or puts into it (a row moved counts as both).
      window.__rowMoves = [];
      new MutationObserver((records) => {
        for (const r of records) for (const n of [...r.removedNodes, ...r.addedNodes]) window.__rowMoves.push(n.dataset?.name);
      }).observe(document.querySelector('#buckets tbody'), { childList: true });
    });
    const cur = all.find((r) => r.name === target);
    const r = await call('PUT', `/api/projects/${PROJECT}/buckets/${target}`, { ...cur.spec.bucket, tags: { ...cur.spec.bucket.tags, touched: 'yes' } }, cur.version);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await bob.waitForFunction((n) => {
      const tr = document.querySelector(`#buckets tbody tr[data-name="${n}"]`);
      return tr && tr.dataset.phase === 'ready' && !tr.dataset.locked && tr.textContent.includes('touched');
    }, target, { timeout: WAIT * 2 });
    const kept = await bob.$$eval('#buckets tbody tr[data-name]', (trs) => trs.map((tr) => [tr.dataset.name, Boolean(tr.__kept)]));
    const rebuilt = kept.filter(([, k]) => !k).map(([n]) => n);
    assert.deepEqual(rebuilt, [target], 'only the changed row was rebuilt');
    const moved = [...new Set(await bob.evaluate(() => window.__rowMoves))];
    assert.deepEqual(moved, [target], 'no other row was moved in the page');
    await screenshot(bob, 'one-row-changed');

    log('8. bulk: alice selects three buckets and sets a tag on them; three operations');
    const granted = bucketName(1);
    const onPage = await alice.$$eval('#buckets tbody tr[data-name]', (trs) => trs.map((tr) => tr.dataset.name));
    const picks = onPage.filter((n) => n.startsWith('scale-b') && n !== granted && n !== target).slice(0, 3);
    assert.equal(picks.length, 3, `three seeded buckets on the first page: ${onPage}`);
    for (const n of picks) await alice.getByRole('checkbox', { name: `Select bucket ${n}` }).check();
    const bar = alice.locator('.resource-table:has(#buckets) .bulk-bar');
    assert.equal(await bar.locator('.bulk-count').textContent(), '3 buckets selected');
    await screenshot(alice, 'three-selected');
    await bar.getByRole('button', { name: 'Set tags…' }).click();
    let dlg = alice.getByRole('dialog', { name: 'Set tags on 3 buckets' });
    await dlg.getByLabel('Tag key', { exact: true }).fill('aws:nope');
    await dlg.getByLabel('Tag value', { exact: true }).fill('x');
    await dlg.getByRole('button', { name: 'Apply to 3 buckets' }).click();
    await dlg.getByText('Nothing was changed').waitFor({ timeout: WAIT });
    await screenshot(alice, 'bulk-tags-refused-before-sending');
    await dlg.getByLabel('Tag key', { exact: true }).fill('cost-center');
    await dlg.getByLabel('Tag value', { exact: true }).fill('4711');
    await dlg.getByRole('button', { name: 'Apply to 3 buckets' }).click();
    await dlg.waitFor({ state: 'detached', timeout: WAIT });
    for (const n of picks) await alice.locator('.op-panel', { hasText: `Updating bucket ${n}` }).first().waitFor({ timeout: WAIT });
    await bob.waitForFunction((names) => names.every((n) => {
      const tr = document.querySelector(`#buckets tbody tr[data-name="${n}"]`);
      return tr && !tr.dataset.locked && tr.textContent.includes('4711');
    }), picks, { timeout: WAIT * 2 });
    assert.equal(await bar.isHidden(), true, 'the started ones left the selection');
    await screenshot(alice, 'bulk-tags-done');
    // The console as a manager sees it (the README's picture): one screen, not the whole page.
    await alice.evaluate(() => window.scrollTo(0, 0));
    await alice.screenshot({ path: path.join(OUT, 'console-1440x900.png') });
    await screenshot(bob, 'bob-sees-bulk-tags');

    log('9. bulk delete: a granted bucket is refused with the reason, the others are deleted');
    const doomed = picks.slice(0, 2);
    for (const n of [granted, ...doomed]) await alice.getByRole('checkbox', { name: `Select bucket ${n}` }).check();
    await bar.getByRole('button', { name: 'Delete…' }).click();
    dlg = alice.getByRole('dialog', { name: 'Delete 3 buckets?' });
    await dlg.locator('.grantees-list li', { hasText: granted }).waitFor({ timeout: WAIT });
    await screenshot(alice, 'bulk-delete-confirm');
    await dlg.getByRole('button', { name: 'Delete 3 buckets' }).click();
    await dlg.getByRole('button', { name: 'Close', exact: true }).waitFor({ timeout: WAIT });
    assert.equal(await dlg.locator(`.bulk-list li[data-name="${granted}"]`).getAttribute('data-state'), 'refused');
    assert.match(await dlg.locator(`.bulk-list li[data-name="${granted}"]`).textContent(), /refused: .*scale-u0000/);
    for (const n of doomed) assert.equal(await dlg.locator(`.bulk-list li[data-name="${n}"]`).getAttribute('data-state'), 'started');
    await screenshot(alice, 'bulk-delete-results');
    await dlg.getByRole('button', { name: 'Close', exact: true }).click();
    await dlg.waitFor({ state: 'detached', timeout: WAIT });
    assert.equal(await bar.locator('.bulk-count').textContent(), '1 bucket selected', 'the refused one stays selected');
    await bob.waitForFunction((names) => names.every((n) => !document.querySelector(`#buckets tbody tr[data-name="${n}"]`)), doomed, { timeout: WAIT * 2 });
    await waitSummary(bob, 'buckets', { shown: totalBuckets - 2 }, 'two buckets fewer');
    await screenshot(bob, 'bob-sees-bulk-delete');

    log('10. bulk delete of users from the users table');
    const gone = [userName(USERS - 1), userName(USERS - 2)];
    await alice.getByLabel('Filter', { exact: true }).nth(1).fill(`scale-u${String(USERS - 2).padStart(4, '0').slice(0, 3)}`);
    for (const n of gone) await alice.getByRole('checkbox', { name: `Select user ${n}` }).check();
    await alice.locator('.resource-table:has(#users) .bulk-bar').getByRole('button', { name: 'Delete…' }).click();
    dlg = alice.getByRole('dialog', { name: 'Delete 2 users?' });
    await dlg.getByRole('button', { name: 'Delete 2 users' }).click();
    await dlg.waitFor({ state: 'detached', timeout: WAIT });
    await alice.waitForFunction((names) => names.every((n) => !document.querySelector(`#users tbody tr[data-name="${n}"]`)), gone, { timeout: WAIT * 2 });
    await screenshot(alice, 'bulk-delete-users');

    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
}

await main(scenario);
