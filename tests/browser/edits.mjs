// Browser test of "a manager's edits are never lost" (web/formedits.js,
// web/merge.js, web/drafts.js, web/session.js):
//
//   A. alice and bob edit the same bucket: bob saves first; alice's open
//      form says so live, field by field; her save gets a 412 and shows what
//      changed (old → new) with her values kept; "Re-apply my changes"
//      takes bob's version as the base and keeps the fields she changed;
//      she saves, and bob's change stays where she did not touch it.
//      The same for a user (grants and access keys); a new version whose
//      fields did not change (an operation ending) becomes the base by itself.
//   B. a short session (--token-ttl 16s, a second server): the warning
//      "Your session ends in m:ss" shows in the open form and in a second
//      tab; "Stay signed in" signs in again in a dialog over the page; the
//      form keeps its values, the other tab follows, the connection stays.
//      With a refresh token (as on AWS, Cognito stood in for), the page
//      renews by itself before the end, without a dialog.
//   C. the session ends: a save gets a 401, the sign-in dialog comes over
//      the page, and once signed in the save is sent again; then a form
//      with unsaved changes when the session ends, a full page reload and
//      a sign-in (bob changed the bucket meanwhile): the page reopens the
//      form with the draft restored, laid on bob's version;
//      signing in as another user in the dialog starts a fresh page.
//   D. two tabs of one browser share signing in and signing out.
//
//   BUCKETDESK_BIN=bin/bucketdesk node tests/browser/edits.mjs
//
// Screenshots go to test-output/browser/edits/. Exits non-zero on failure.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import {
  afterLogin, browserTest, failureShots, launch, login, openProject, pageAPI, PROJECT, startServer, WAIT, waitConn, watch,
} from './lib.mjs';

const SHORT_TTL = 16; // seconds: the warning comes a quarter before, at 4 s
const { OUT, log, screenshot, main } = browserTest({ name: 'edits', dir: 'edits', serveArgs: ['--sandbox-delay', '150ms'] });

const viewport = { width: 1300, height: 900 };

async function createBucket(page, spec) {
  const r = await pageAPI(page, 'POST', `/api/projects/${PROJECT}/buckets`, spec);
  assert.equal(r.status, 202, r.body);
}

async function getBucket(page, name) {
  const r = await pageAPI(page, 'GET', `/api/projects/${PROJECT}/buckets/${name}`);
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body);
}

/** specWhen polls the bucket's spec until ok(spec), and returns it. */
async function specWhen(page, name, ok) {
  const deadline = Date.now() + WAIT * 2;
  for (;;) {
    const spec = (await getBucket(page, name)).spec.bucket;
    if (ok(spec)) return spec;
    if (Date.now() > deadline) assert.fail(`bucket ${name}: spec ${JSON.stringify(spec)}`);
    await page.waitForTimeout(200);
  }
}

/** settled waits until the bucket's row is ready and not locked. */
async function settled(page, name) {
  await page.waitForFunction((n) => {
    const tr = document.querySelector(`#buckets tbody tr[data-name="${n}"]`);
    return tr && tr.dataset.phase === 'ready' && !tr.dataset.locked;
  }, name, { timeout: WAIT * 2 });
}

async function openEdit(page, name) {
  await page.locator(`#buckets tbody tr[data-name="${name}"]`).getByRole('button', { name: `Edit bucket ${name}` }).click();
  const dlg = page.getByRole('dialog', { name: `Edit bucket ${name}` });
  await dlg.waitFor({ timeout: WAIT });
  return dlg;
}

/** tagValues reads the tag rows of a bucket form as {key: value}. */
function tagValues(dlg) {
  return dlg.locator('tr').evaluateAll((rows) => Object.fromEntries(rows.filter((r) => r.querySelector('.tag-key'))
    .map((r) => [r.querySelector('.tag-key').value, r.querySelector('.tag-value').value])));
}

async function addTag(dlg, key, value) {
  await dlg.getByRole('button', { name: 'Add tag' }).click();
  const n = await dlg.locator('.tag-key').count();
  await dlg.getByLabel(`Tag ${n} key`).fill(key);
  await dlg.getByLabel(`Tag ${n} value`).fill(value);
}

/** setTag sets the value of the form's tag key. */
async function setTag(dlg, key, value) {
  const i = await dlg.locator('.tag-key').evaluateAll((els, k) => els.findIndex((e) => e.value === k), key);
  assert.ok(i >= 0, `tag ${key} in the form`);
  await dlg.getByLabel(`Tag ${i + 1} value`).fill(value);
}

const stored = (page) => page.evaluate(() => JSON.parse(localStorage.getItem('bucketdesk.session') || 'null'));
const drafts = (page) => page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('bucketdesk.draft:')));

/** signInDialog fills the sign-in dialog over the page (its title given) and signs in. */
async function signInDialog(page, title, user, password) {
  const dlg = page.getByRole('dialog', { name: title });
  await dlg.waitFor({ timeout: WAIT });
  await dlg.getByLabel('User name').fill(user);
  await dlg.getByLabel('Password').fill(password);
  await dlg.getByRole('button', { name: 'Sign in' }).click();
  return dlg;
}

// ----------------------------------------------------------- A. the 412

async function conflict(browser, base, password, problems) {
  const alice = await (await browser.newContext({ viewport })).newPage();
  const bob = await (await browser.newContext({ viewport })).newPage();
  watch(alice, 'alice', problems);
  watch(bob, 'bob', problems);
  const bucket = `edits-${crypto.randomBytes(3).toString('hex')}`;

  log(`A1. alice and bob open project demo; alice creates bucket ${bucket} tagged team=geo`);
  await login(alice, base, 'alice', password);
  await openProject(alice);
  await login(bob, base, 'bob', password);
  await openProject(bob);
  await createBucket(alice, { name: bucket, encryption: { type: 'SSE-S3' }, tags: { team: 'geo', cost: 'a1' } });
  await settled(alice, bucket);
  await settled(bob, bucket);

  log('A2. alice opens the edit form: expiry 30 days, a new tag owner=alice, tag cost → a2');
  const form = await openEdit(alice, bucket);
  await form.getByLabel('Expire objects after (days)').fill('30');
  await addTag(form, 'owner', 'alice');
  await setTag(form, 'cost', 'a2');
  await screenshot(alice, 'alice-editing');

  log('A3. meanwhile bob turns versioning on and sets team=maps, cost=b1, and saves');
  const bobForm = await openEdit(bob, bucket);
  await bobForm.getByLabel('Keep every version of each object (versioning)').check();
  await setTag(bobForm, 'team', 'maps');
  await setTag(bobForm, 'cost', 'b1');
  await bobForm.getByRole('button', { name: 'Save changes' }).click();
  await bobForm.waitFor({ state: 'detached', timeout: WAIT });
  await settled(bob, bucket);

  log('A4. alice\'s open form says so before she saves, field by field');
  const live = form.locator('.live-notice');
  await alice.waitForFunction(() => /bob changed this bucket since you opened this form/.test(document.querySelector('dialog .live-notice')?.textContent || ''), null, { timeout: WAIT });
  const liveText = await live.textContent();
  assert.match(liveText, /Versioning off → on/);
  assert.match(liveText, /Tag team geo → maps/);
  await screenshot(alice, 'alice-sees-live-change');

  log('A5. alice saves: 412; the form keeps her values and lists the server\'s changes');
  const answer = alice.waitForResponse((r) => r.url().endsWith(`/buckets/${bucket}`) && r.request().method() === 'PUT');
  await form.getByRole('button', { name: 'Save changes' }).click();
  assert.equal((await answer).status(), 412);
  const box = form.locator('.conflict');
  await box.waitFor({ timeout: WAIT });
  assert.match(await box.textContent(), /Not saved: this bucket changed on the server while you were editing/);
  const rows = await box.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((c) => c.textContent)));
  assert.deepEqual(rows.map((r) => r.slice(0, 3)).sort(), [['Tag cost', 'a1', 'b1'], ['Tag team', 'geo', 'maps'], ['Versioning', 'off', 'on']]);
  assert.match(rows.find((r) => r[0] === 'Tag cost')[3], /You changed it too/);
  assert.equal(await form.getByLabel('Expire objects after (days)').inputValue(), '30', 'her values stay');
  assert.deepEqual(await tagValues(form), { cost: 'a2', team: 'geo', owner: 'alice' });
  await screenshot(alice, 'alice-412-changes');

  log('A6. "Re-apply my changes": bob\'s version as the base, her fields kept');
  await box.getByRole('button', { name: 'Re-apply my changes to the new version' }).click();
  const done = form.locator('.reapplied');
  await done.waitFor({ timeout: WAIT });
  assert.match(await done.textContent(), /Kept yours: .*Expire objects after/);
  assert.equal(await form.getByLabel('Keep every version of each object (versioning)').isChecked(), true, 'bob\'s versioning');
  assert.deepEqual(await tagValues(form), { cost: 'a2', owner: 'alice', team: 'maps' });
  assert.equal(await form.getByLabel('Expire objects after (days)').inputValue(), '30');
  await screenshot(alice, 'alice-reapplied');

  log('A7. she saves again: accepted; bob\'s change stays where she did not touch it');
  await form.getByRole('button', { name: 'Save changes' }).click();
  await form.waitFor({ state: 'detached', timeout: WAIT });
  const spec = await specWhen(alice, bucket, (b) => b.expiry_days === 30);
  await settled(alice, bucket);
  assert.equal(spec.versioning, true);
  assert.equal(spec.expiry_days, 30);
  assert.deepEqual(spec.tags, { cost: 'a2', owner: 'alice', team: 'maps' });
  assert.deepEqual(await drafts(alice), [], 'the draft is gone once saved');
  await screenshot(alice, 'alice-saved');

  log('A8. the same for a user: alice sets 2 access keys; bob changes the grant\'s prefix meanwhile');
  const user = (await alice.locator('#users tbody tr[data-name]').first().getAttribute('data-name'));
  await alice.locator(`#users tbody tr[data-name="${user}"]`).getByRole('button', { name: `Edit user ${user}` }).click();
  const uform = alice.getByRole('dialog', { name: `Edit user ${user}` });
  await uform.getByLabel('Access keys').selectOption('2');
  const before = JSON.parse((await pageAPI(bob, 'GET', `/api/projects/${PROJECT}/users/${user}`)).body);
  const changed = { ...before.spec.user, grants: before.spec.user.grants.map((g) => ({ ...g, prefix: 'from-bob/' })) };
  const put = await bob.evaluate(async ({ url, spec, version }) => {
    const res = await fetch(url, {
      method: 'PUT', body: JSON.stringify(spec),
      headers: { Authorization: `Bearer ${JSON.parse(localStorage.getItem('bucketdesk.session')).token}`, 'Content-Type': 'application/json', 'If-Match': `"${version}"` },
    });
    return res.status;
  }, { url: `/api/projects/${PROJECT}/users/${user}`, spec: changed, version: before.version });
  assert.equal(put, 202);
  await alice.waitForFunction(() => /since you opened this form/.test(document.querySelector('dialog .live-notice')?.textContent || ''), null, { timeout: WAIT * 2 });
  await uform.locator('.live-notice').getByRole('button', { name: 'Review the changes' }).click();
  const ubox = uform.locator('.conflict');
  await ubox.waitFor({ timeout: WAIT });
  const urows = await ubox.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => tr.children[0].textContent));
  assert.deepEqual(urows, ['Bucket access']);
  await ubox.getByRole('button', { name: 'Re-apply my changes to the new version' }).click();
  await uform.locator('.reapplied').waitFor({ timeout: WAIT });
  assert.equal(await uform.getByLabel('Access keys').inputValue(), '2');
  assert.equal(await uform.getByLabel('Grant 1 key prefix').inputValue(), 'from-bob/');
  await screenshot(alice, 'alice-user-reapplied');
  await alice.waitForFunction((n) => {
    const tr = document.querySelector(`#users tbody tr[data-name="${n}"]`);
    return tr && !tr.dataset.locked;
  }, user, { timeout: WAIT * 2 });
  await uform.getByRole('button', { name: 'Save changes' }).click();
  await uform.waitFor({ state: 'detached', timeout: WAIT });
  const deadline = Date.now() + WAIT * 2;
  let saved;
  do {
    saved = JSON.parse((await pageAPI(alice, 'GET', `/api/projects/${PROJECT}/users/${user}`)).body).spec.user;
    if (saved.access_keys === 2) break;
    await alice.waitForTimeout(200);
  } while (Date.now() < deadline);
  assert.equal(saved.access_keys, 2);
  assert.deepEqual(saved.grants.map((g) => g.prefix), changed.grants.map(() => 'from-bob/'), 'bob\'s grants kept');
  await alice.context().close();
  await bob.context().close();
}

// ------------------------------------------- B and C. a short session

async function shortSession(browser, problems) {
  const server = await startServer({
    name: 'edits-ttl', logPath: path.join(OUT, 'short-ttl-server.log'), log,
    serveArgs: ['--sandbox-delay', '150ms', '--token-ttl', `${SHORT_TTL}s`],
  });
  try {
    const base = server.base;
    const pw = server.password;
    const ctx = await browser.newContext({ viewport });
    const page = await ctx.newPage();
    watch(page, 'alice tab 1', problems);
    const bucket = `ttl-${crypto.randomBytes(3).toString('hex')}`;

    log(`B1. alice signs in (--token-ttl ${SHORT_TTL}s), a second tab follows; she edits bucket ${bucket}`);
    await login(page, base, 'alice', pw, afterLogin.projectOpen);
    const login1 = await stored(page);
    assert.equal(login1.ttl, SHORT_TTL * 1000);
    const tab2 = await ctx.newPage();
    watch(tab2, 'alice tab 2', problems);
    await tab2.goto(`${base}/`);
    await afterLogin.projectList(tab2);
    await createBucket(page, { name: bucket, encryption: { type: 'SSE-S3' } });
    await settled(page, bucket);
    let form = await openEdit(page, bucket);
    await form.getByLabel('Expire objects after (days)').fill('45');

    log('B2. the warning shows in the open form (and in tab 2) before the end');
    const warning = form.locator('#session-banner');
    await warning.waitFor({ timeout: WAIT });
    assert.match(await warning.textContent(), /Your session ends in 0:0\d\./);
    await tab2.locator('#session-banner').waitFor({ timeout: WAIT });
    await screenshot(page, 'session-warning-in-form');
    await screenshot(tab2, 'session-warning-tab2');

    log('B3. "Stay signed in": the sign-in dialog over the page; the form keeps its values');
    await warning.getByRole('button', { name: 'Stay signed in' }).click();
    const stay = page.getByRole('dialog', { name: 'Stay signed in' });
    await stay.waitFor({ timeout: WAIT });
    assert.equal(await stay.getByLabel('User name').inputValue(), 'alice');
    await screenshot(page, 'stay-signed-in-dialog');
    await signInDialog(page, 'Stay signed in', 'alice', pw);
    await stay.waitFor({ state: 'detached', timeout: WAIT });
    const renewed = await stored(page);
    assert.notEqual(renewed.token, login1.token, 'a new token');
    assert.ok(renewed.expires_at > login1.expires_at, 'a later end');
    assert.equal(await warning.count(), 0, 'the warning is gone');
    assert.ok(await form.isVisible(), 'the form is still open');
    assert.equal(await form.getByLabel('Expire objects after (days)').inputValue(), '45');
    await tab2.locator('#session-banner').waitFor({ state: 'detached', timeout: WAIT });
    assert.equal((await stored(tab2)).token, renewed.token, 'tab 2 shares the renewed session');
    await waitConn(page, 'Live');
    await screenshot(page, 'renewed-form-kept');

    log('C1. the session ends; Save gets a 401: the sign-in dialog, then the save is sent again');
    await page.waitForFunction(() => /Your session has ended/.test(document.querySelector('#session-banner')?.textContent || ''), null, { timeout: WAIT * 2 });
    await screenshot(page, 'session-ended-banner');
    const put401 = page.waitForResponse((r) => r.url().endsWith(`/buckets/${bucket}`) && r.request().method() === 'PUT');
    await form.getByRole('button', { name: 'Save changes' }).click();
    assert.equal((await put401).status(), 401);
    const ended = page.getByRole('dialog', { name: 'Your session has ended' });
    await ended.waitFor({ timeout: WAIT });
    assert.ok(await form.isVisible(), 'the form stays under the dialog');
    await screenshot(page, 'sign-in-dialog-after-401');
    const retried = page.waitForResponse((r) => r.url().endsWith(`/buckets/${bucket}`) && r.request().method() === 'PUT' && r.status() === 202);
    await signInDialog(page, 'Your session has ended', 'alice', pw);
    await retried;
    await form.waitFor({ state: 'detached', timeout: WAIT });
    await specWhen(page, bucket, (b) => b.expiry_days === 45);
    await settled(page, bucket);
    await waitConn(page, 'Live');
    await screenshot(page, 'saved-after-sign-in');

    log('C2. a form with unsaved changes when the session ends; a full reload; signing in restores the draft');
    form = await openEdit(page, bucket);
    await addTag(form, 'stage', 'draft');
    await page.waitForFunction(() => /Your session has ended/.test(document.querySelector('#session-banner')?.textContent || ''), null, { timeout: WAIT * 2 });
    const keys = await drafts(page);
    assert.equal(keys.length, 1, `one draft: ${keys}`);
    const raw = await page.evaluate((k) => localStorage.getItem(k), keys[0]);
    assert.ok(!/password|secret|passphrase|token/i.test(raw), `no secrets in the draft: ${raw}`);
    await page.reload();
    await page.getByLabel('Password').waitFor({ timeout: WAIT });
    assert.match(await page.locator('#login-message').textContent(), /Your session has ended/);
    await screenshot(page, 'reloaded-sign-in');
    // Meanwhile bob turns versioning on: the draft is laid on his version.
    const bobLogin = await (await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'bob', password: pw }) })).json();
    const bobHeaders = { Authorization: `Bearer ${bobLogin.token}`, 'Content-Type': 'application/json' };
    const url = `${base}/api/projects/${PROJECT}/buckets/${bucket}`;
    const cur = await (await fetch(url, { headers: bobHeaders })).json();
    const bobPut = await fetch(url, { method: 'PUT', headers: { ...bobHeaders, 'If-Match': `"${cur.version}"` }, body: JSON.stringify({ ...cur.spec.bucket, versioning: true }) });
    assert.equal(bobPut.status, 202, await bobPut.text());
    // A resource's spec changes when its operation succeeds.
    for (const deadline = Date.now() + WAIT * 2; ;) {
      const now = await (await fetch(url, { headers: bobHeaders })).json();
      if (now.spec.bucket.versioning && !now.lock) break;
      assert.ok(Date.now() < deadline, `bob's update did not end: ${JSON.stringify(now)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    await page.getByLabel('User name').fill('alice');
    await page.getByLabel('Password').fill(pw);
    await page.getByRole('button', { name: 'Sign in' }).click();
    form = page.getByRole('dialog', { name: `Edit bucket ${bucket}` });
    await form.waitFor({ timeout: WAIT });
    const restored = form.locator('.draft-note');
    await restored.waitFor({ timeout: WAIT });
    assert.match(await restored.textContent(), /Restored your unsaved changes from \d{2}:\d{2}/);
    assert.match(await restored.textContent(), /The bucket changed on the server since \(version \d+ → \d+\): your changes are laid on its latest version/);
    assert.ok(await restored.getByRole('button', { name: 'Discard' }).isVisible());
    assert.deepEqual(await tagValues(form), { stage: 'draft' });
    assert.equal(await form.getByLabel('Expire objects after (days)').inputValue(), '45');
    assert.equal(await form.getByLabel('Keep every version of each object (versioning)').isChecked(), true, 'bob\'s versioning');
    await screenshot(page, 'draft-restored');
    await settled(page, bucket);
    await form.getByRole('button', { name: 'Save changes' }).click();
    await form.waitFor({ state: 'detached', timeout: WAIT });
    const both = await specWhen(page, bucket, (b) => b.tags?.stage === 'draft');
    assert.equal(both.versioning, true, 'bob\'s change kept');
    await settled(page, bucket);
    assert.deepEqual(await drafts(page), [], 'saved: no draft left');

    log('C3. signing in as another user in the dialog starts a fresh page');
    form = await openEdit(page, bucket);
    await form.getByLabel('Expire objects after (days)').fill('60');
    await form.locator('#session-banner').getByRole('button', { name: 'Stay signed in' }).click({ timeout: WAIT * 2 });
    await signInDialog(page, 'Stay signed in', 'bob', pw);
    await page.waitForFunction(() => location.hash === '#/projects' && !document.querySelector('dialog[open]'), null, { timeout: WAIT });
    await afterLogin.projectList(page);
    assert.match(await page.locator('#user-box').textContent(), /Signed in as bob/);
    await tab2.waitForFunction(() => /Signed in as bob/.test(document.querySelector('#user-box')?.textContent || ''), null, { timeout: WAIT });
    await screenshot(page, 'other-user-fresh-page');
    await ctx.close();

    await renewByRefresh(browser, base, pw, problems);
  } finally {
    await server.stop();
  }
}

// B4. Renewal with a refresh token, as on AWS: the sign-in answer carries
// "refresh" (here, added to the local answer), and before the end the page
// trades it at refresh.url (a stand-in for Cognito's InitiateAuth, which
// answers with a token of the local server) without a dialog.
async function renewByRefresh(browser, base, pw, problems) {
  log('B4. with a refresh token (as on AWS) the page renews by itself, no dialog');
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  watch(page, 'alice refresh', problems);
  const standIn = `${base}/cognito-stand-in/`;
  await page.route('**/auth/login', async (route) => {
    const res = await route.fetch();
    const body = await res.json();
    body.refresh = { url: standIn, client_id: 'client-1', token: 'refresh-1' };
    await route.fulfill({ response: res, json: body });
  });
  const asked = [];
  await page.route(`${standIn}**`, async (route) => {
    const req = route.request();
    asked.push({ target: req.headers()['x-amz-target'], type: req.headers()['content-type'], body: req.postDataJSON() });
    // Cognito's answer, with an ID token the local server accepts.
    const login = await (await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: pw }) })).json();
    await route.fulfill({ status: 200, contentType: 'application/x-amz-json-1.1',
      body: JSON.stringify({ AuthenticationResult: { IdToken: login.token, AccessToken: 'unused', ExpiresIn: login.expires_in, TokenType: 'Bearer' }, ChallengeParameters: {} }) });
  });
  await login(page, base, 'alice', pw, afterLogin.projectOpen);
  const first = await stored(page);
  assert.equal(first.refresh?.token, 'refresh-1');
  await page.waitForFunction((t) => JSON.parse(localStorage.getItem('bucketdesk.session') || '{}').token !== t, first.token, { timeout: WAIT * 2 });
  const renewed = await stored(page);
  assert.ok(renewed.expires_at > first.expires_at, 'a later end');
  assert.equal(renewed.refresh?.token, 'refresh-1', 'the refresh token is kept');
  assert.deepEqual(asked[0], {
    target: 'AWSCognitoIdentityProviderService.InitiateAuth', type: 'application/x-amz-json-1.1',
    body: { AuthFlow: 'REFRESH_TOKEN_AUTH', ClientId: 'client-1', AuthParameters: { REFRESH_TOKEN: 'refresh-1' } },
  });
  assert.equal(await page.getByRole('dialog').count(), 0, 'no sign-in dialog');
  assert.equal(await page.locator('#session-banner').count(), 0, 'no banner');
  const r = await pageAPI(page, 'GET', '/api/me');
  assert.equal(r.status, 200, 'the renewed token works');
  await waitConn(page, 'Live');
  await screenshot(page, 'renewed-by-refresh-token');
  await ctx.close();
}

// ------------------------------------------------------------- D. tabs

async function tabs(browser, base, password, problems) {
  const ctx = await browser.newContext({ viewport });
  const one = await ctx.newPage();
  watch(one, 'tab 1', problems);
  log('D1. alice signs in in tab 1; a fresh tab 2 opens signed in');
  await login(one, base, 'alice', password);
  const two = await ctx.newPage();
  watch(two, 'tab 2', problems);
  await two.goto(`${base}/#/projects/${PROJECT}`);
  await two.locator('#buckets tbody tr[data-name]').first().waitFor({ timeout: WAIT });
  assert.match(await two.locator('#user-box').textContent(), /Signed in as alice/);
  await screenshot(two, 'tab2-signed-in');

  log('D2. signing out in tab 2 signs tab 1 out');
  await two.getByRole('button', { name: 'Sign out' }).click();
  await one.getByLabel('Password').waitFor({ timeout: WAIT });
  assert.match(await one.locator('#login-message').textContent(), /signed out in another tab/);
  await screenshot(one, 'tab1-signed-out');

  log('D3. signing in in tab 1 signs tab 2 in, back on its project');
  await one.getByLabel('User name').fill('alice');
  await one.getByLabel('Password').fill(password);
  await one.getByRole('button', { name: 'Sign in' }).click();
  await two.locator('#buckets tbody tr[data-name]').first().waitFor({ timeout: WAIT });
  assert.equal(await two.evaluate(() => location.hash), `#/projects/${PROJECT}`);
  await waitConn(two, 'Live');
  await screenshot(two, 'tab2-signed-in-again');
  await ctx.close();
}

async function scenario({ base, password }) {
  const browser = await launch();
  const problems = [];
  try {
    await conflict(browser, base, password, problems);
    await tabs(browser, base, password, problems);
    await shortSession(browser, problems);
    assert.deepEqual(problems, [], 'no script errors in the pages');
  } catch (err) {
    await failureShots(browser, OUT, ['a', 'b', 'c']);
    if (problems.length) console.error(problems.join('\n'));
    throw err;
  } finally {
    await browser.close();
  }
}

await main(scenario);
