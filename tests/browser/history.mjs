// Browser test of the History view (web/history.js): bob watches project
// demo's history while alice creates a bucket, and sees her change appear
// live, accepted then succeeded; then the bucket's own history, a filter
// and a CSV export. Same setup as run.mjs (whose minimal helpers are
// copied here):
//
//   BUCKETDESK_BIN=bin/bucketdesk node tests/browser/history.mjs
//   BUCKETDESK_URL=http://127.0.0.1:8080 BUCKETDESK_DEMO_PASSWORD=… node tests/browser/history.mjs
//
// Screenshots go to test-output/browser/history/. Exits non-zero on
// failure. Never downloads a browser.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const OUT = path.join(repo, 'test-output', 'browser', 'history');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const WAIT = 20000; // ms for any one condition
const PROJECT = 'demo';

fs.rmSync(OUT, { recursive: true, force: true });
fs.mkdirSync(OUT, { recursive: true });

const t0 = Date.now();
function log(...a) {
  console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`, ...a);
}

// ------------------------------------------------------------------ server

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(base, child, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`bucketdesk exited with ${child.exitCode} before it was ready; see ${OUT}/server.log`);
    try {
      const res = await fetch(`${base}/readyz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${base}/readyz did not answer 200 within ${ms} ms`);
}

async function startServer() {
  if (!process.env.BUCKETDESK_BIN) {
    const base = (process.env.BUCKETDESK_URL || '').replace(/\/$/, '');
    const password = process.env.BUCKETDESK_DEMO_PASSWORD || '';
    if (!base || !password) {
      throw new Error('set BUCKETDESK_BIN (a bucketdesk binary to start), or BUCKETDESK_URL and BUCKETDESK_DEMO_PASSWORD');
    }
    await waitReady(base, null, 10000);
    return { base, password, stop: async () => {} };
  }
  const bin = path.resolve(process.env.BUCKETDESK_BIN);
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bucketdesk-history-'));
  const password = crypto.randomBytes(18).toString('base64url');
  const logFile = fs.openSync(path.join(OUT, 'server.log'), 'w');
  const child = spawn(bin, ['serve', '--addr', `127.0.0.1:${port}`, '--data-dir', dataDir, '--sandbox-delay', '400ms'], {
    env: { ...process.env, BUCKETDESK_DEMO_PASSWORD: password },
    stdio: ['ignore', logFile, logFile],
  });
  const base = `http://127.0.0.1:${port}`;
  log(`started ${bin} (pid ${child.pid}) on ${base}, data in ${dataDir}`);
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    fs.closeSync(logFile);
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await waitReady(base, child, 30000);
  } catch (err) {
    await stop();
    throw err;
  }
  return { base, password, stop };
}

// ----------------------------------------------------------------- helpers

let shot = 0;
async function screenshot(page, name) {
  const file = `${String(++shot).padStart(2, '0')}-${name}.png`;
  await page.screenshot({ path: path.join(OUT, file), fullPage: true });
  log(`  screenshot ${file}`);
}

function watch(page, who, problems) {
  page.on('pageerror', (e) => problems.push(`${who}: page error: ${e.stack || e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`${who}: console error: ${m.text()}`);
  });
}

async function login(page, base, user, password) {
  await page.goto(`${base}/`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator(`a[href="#/projects/${PROJECT}"]`).waitFor({ timeout: WAIT });
}

async function openProject(page) {
  await page.locator(`a[href="#/projects/${PROJECT}"]`).click();
  await page.locator('#buckets tbody tr[data-name]').first().waitFor({ timeout: WAIT });
  await page.waitForFunction(() => document.querySelector('#conn .conn-text')?.textContent === 'Live', null, { timeout: WAIT, polling: 'raf' });
}

// historyRow is a row of the open History dialog.
function historyRow(page, sel) {
  return page.locator(`#history tbody tr${sel}`);
}

// --------------------------------------------------------------- scenario

async function scenario({ base, password }) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
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
    await bob.locator(`#buckets tbody tr[data-name="${bucket}"] button[data-action="history"]`).click();
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
    for (const [i, ctx] of browser.contexts().entries()) {
      for (const p of ctx.pages()) await p.screenshot({ path: path.join(OUT, `failure-${i === 0 ? 'alice' : 'bob'}.png`), fullPage: true }).catch(() => {});
    }
    if (problems.length) console.error(problems.join('\n'));
    throw err;
  } finally {
    await browser.close();
  }
}

let server;
let code = 0;
try {
  server = await startServer();
  await scenario(server);
  log(`PASS — screenshots in ${path.relative(process.cwd(), OUT) || OUT}`);
} catch (err) {
  console.error(err);
  log(`FAIL — screenshots and server.log in ${OUT}`);
  code = 1;
} finally {
  await server?.stop().catch((e) => console.error('stopping the server:', e));
}
process.exit(code);
