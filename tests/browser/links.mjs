// Browser test of one-time share links (docs/share-links.md): Debian's
// Chromium driven by playwright-core. alice makes a link for
// partner-upload's access key without seeing the secret; an anonymous
// browser opens it, reveals it and downloads the .csv; alice's dialog
// shows the link opened and used, live.
//
//   BUCKETDESK_BIN=bin/bucketdesk node tests/browser/links.mjs
//   BUCKETDESK_URL=http://127.0.0.1:8080 BUCKETDESK_DEMO_PASSWORD=… node tests/browser/links.mjs
//
// Screenshots go to test-output/browser/links/. Exits non-zero on failure.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { afterLogin, browserTest, launch, login as signIn, pageAPI as api, PROJECT, rowAction, WAIT, watch, failureShots } from './lib.mjs';

const { OUT, log, screenshot, main } = browserTest({ name: 'links', dir: 'links', serveArgs: ['--sandbox-delay', '200ms'] });

/** login signs in and opens project demo, live. */
const login = (page, base, user, password) => signIn(page, base, user, password, afterLogin.projectOpen);


async function scenario({ base, password }) {
  const browser = await launch();
  const problems = [];
  try {
    const viewport = { width: 1400, height: 900 };
    const alice = await (await browser.newContext({ viewport })).newPage();
    watch(alice, 'alice', problems);
    log('1. alice makes sure user partner-upload exists (the demo seeds it; otherwise she creates it)');
    await login(alice, base, 'alice', password);
    let r = await api(alice, 'GET', `/api/projects/${PROJECT}/users/partner-upload`);
    if (r.status === 404) {
      const name = `partner-drop-${crypto.randomBytes(3).toString('hex')}`;
      r = await api(alice, 'POST', `/api/projects/${PROJECT}/buckets`, { name, encryption: { type: 'SSE-S3' } });
      assert.equal(r.status, 202, r.body);
      r = await api(alice, 'POST', `/api/projects/${PROJECT}/users`, {
        name: 'partner-upload', access_keys: 1, grants: [{ bucket: name, access: 'write', prefix: 'incoming/' }],
      });
      assert.equal(r.status, 202, r.body);
      r = await api(alice, 'GET', `/api/projects/${PROJECT}/users/partner-upload`);
    }
    assert.equal(r.status, 200, r.body);
    const grant = JSON.parse(r.body).spec.user.grants[0];
    const userRow = alice.locator('#users tbody tr[data-name="partner-upload"]');
    await alice.waitForFunction(() => document.querySelector('#users tbody tr[data-name="partner-upload"]')?.dataset.phase === 'ready'
      && document.querySelector('#users tbody tr[data-name="partner-upload"] .key-id'), null, { timeout: WAIT * 2 });
    const keyID = (await userRow.locator('.key-id').first().textContent()).trim();

    log('1b. bob opens project demo\'s History');
    const bob = await (await browser.newContext({ viewport })).newPage();
    watch(bob, 'bob', problems);
    await login(bob, base, 'bob', password);
    await bob.locator('#project-history').click();
    await bob.getByRole('dialog', { name: 'Project history' }).waitFor({ timeout: WAIT });

    log('2. alice makes a link without seeing the secret');
    await rowAction(userRow, 'share');
    const dialog = alice.getByRole('dialog', { name: 'Share links of partner-upload' });
    await dialog.waitFor({ timeout: WAIT });
    assert.equal(await dialog.getByLabel('I don’t need to see the secret').isChecked(), true, 'never seeing the secret is the default');
    await dialog.getByLabel('Expires after').selectOption('86400');
    await dialog.getByRole('button', { name: 'Create link' }).click();
    const urlInput = dialog.locator('#link-url');
    await urlInput.waitFor({ timeout: WAIT });
    const url = await urlInput.inputValue();
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/s\/[0-9A-Z]{26}[A-Za-z0-9_-]{43}#[A-Za-z0-9_-]{43}$/);
    const linkRow = dialog.locator('#links-table tbody tr[data-link-id]').first();
    await alice.waitForFunction(() => document.querySelector('#links-table tbody tr[data-link-id]')?.dataset.state === 'created', null, { timeout: WAIT });
    await screenshot(alice, 'alice-link-created');
    // The key is marked revealed: alice cannot see the secret any more (the
    // table behind the dialog follows within a quarter of a second).
    await alice.waitForFunction(() => document.querySelector('#users tbody tr[data-name="partner-upload"] button[data-action=reveal]')?.disabled, null, { timeout: WAIT })
      .catch(() => assert.fail('reveal is refused once the secret is withheld'));

    log('3. an anonymous browser opens the link: the page burns nothing');
    const anonCtx = await browser.newContext({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
    const anon = await anonCtx.newPage();
    watch(anon, 'recipient', problems);
    const requests = [];
    anon.on('request', (q) => requests.push(`${q.method()} ${q.url()} ${q.postData() || ''}`));
    const res = await anon.goto(url);
    assert.equal(res.status(), 200);
    const headers = res.headers();
    assert.equal(headers['cache-control'], 'no-store');
    assert.equal(headers['referrer-policy'], 'no-referrer');
    assert.match(headers['x-robots-tag'], /noindex/);
    assert.match(headers['content-security-policy'], /default-src 'none'; script-src 'self'/);
    await anon.getByRole('button', { name: 'Reveal the credentials' }).waitFor({ timeout: WAIT });
    await screenshot(anon, 'recipient-page-before-reveal');
    await alice.waitForFunction(() => document.querySelector('#links-table tbody tr[data-link-id]')?.dataset.state === 'opened', null, { timeout: WAIT });
    assert.match(await linkRow.locator('.link-state').textContent(), /Opened .* from 127\.0\.0\.1/);
    await screenshot(alice, 'alice-sees-opened-live');

    log('4. the recipient reveals and downloads the .csv');
    await anon.getByRole('button', { name: 'Reveal the credentials' }).click();
    await anon.locator('#package').waitFor({ state: 'visible', timeout: WAIT });
    const shownID = (await anon.locator('#access-key-id').textContent()).trim();
    const secret = (await anon.locator('#secret-access-key').textContent()).trim();
    assert.equal(shownID, keyID);
    assert.ok(secret.length >= 30, 'a secret is shown');
    assert.match(await anon.locator('#example-aws-cli').textContent(), new RegExp(`aws s3 cp \\./report\\.csv s3://${grant.bucket}/${grant.prefix || ''}report\\.csv`));
    assert.match(await anon.locator('#example-rclone').textContent(), /type = s3/);
    assert.equal(new URL(anon.url()).hash, '', 'the key is dropped from the address bar once used');
    const [download] = await Promise.all([anon.waitForEvent('download'), anon.locator('#download-csv').click()]);
    assert.equal(download.suggestedFilename(), 'partner-upload_accessKeys.csv');
    const csv = fs.readFileSync(await download.path(), 'utf8');
    assert.equal(csv, `Access key ID,Secret access key\r\n${keyID},${secret}\r\n`);
    await screenshot(anon, 'recipient-revealed');
    const key = url.split('#')[1];
    assert.ok(requests.length >= 3, 'requests were recorded');
    assert.ok(!requests.some((q) => q.includes(key)), 'the fragment key was never sent');

    log('5. alice sees the link used, live; the secret never reached her page');
    await alice.waitForFunction(() => document.querySelector('#links-table tbody tr[data-link-id]')?.dataset.state === 'revealed', null, { timeout: WAIT });
    assert.ok(!(await alice.content()).includes(secret), "the secret is not in alice's page");
    await screenshot(alice, 'alice-sees-used-live');
    // bob, in History, sees the link made, opened and used, live.
    for (const action of ['link-create', 'link-open', 'link-reveal']) {
      await bob.locator(`#history tbody tr[data-action="${action}"][data-name="partner-upload"]`).first().waitFor({ timeout: WAIT });
    }
    assert.ok(!(await bob.content()).includes(secret), "the secret is not in bob's page");
    await screenshot(bob, 'bob-history-live');

    log('6. the link is gone: 410 with a clear page');
    const late = await (await browser.newContext({ viewport: { width: 1100, height: 700 } })).newPage();
    watch(late, 'late visitor', problems);
    const again = await late.goto(url);
    assert.equal(again.status(), 410);
    await late.getByRole('heading', { name: 'This link is no longer valid' }).waitFor({ timeout: WAIT });
    await screenshot(late, 'second-visitor-link-used-410');

    assert.deepEqual(problems, [], 'no script errors in the pages');
  } catch (err) {
    await failureShots(browser, OUT, []);
    if (problems.length) console.error(problems.join('\n'));
    throw err;
  } finally {
    await browser.close();
  }
}

await main(scenario);
