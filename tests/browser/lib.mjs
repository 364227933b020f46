// Helpers shared by the browser tests (run.mjs, details.mjs, history.mjs,
// links.mjs, admin.mjs): Debian's Chromium driven by playwright-core, never
// a browser download, against a bucketdesk server that is either
//
//   BUCKETDESK_BIN=bin/bucketdesk …   started here on a free port with a
//       fresh data directory and a random demo password, stopped at the end;
//   BUCKETDESK_URL=http://127.0.0.1:8080 BUCKETDESK_DEMO_PASSWORD=… …
//       a running server.
//
// A script calls browserTest() once, at its top, for its output directory,
// log, screenshots and server, and ends with `await main(scenario)`.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '../..');
/** BROWSER_OUT is test-output/browser, where every script's output goes. */
export const BROWSER_OUT = path.join(REPO, 'test-output', 'browser');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const WAIT = 20000; // ms for any one condition
export const PROJECT = 'demo';

/** launch starts Debian's Chromium. */
export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

// ------------------------------------------------------------------ server

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * waitReady waits until base/readyz answers 200, or child (if any) exits;
 * logPath is named in the error when it does.
 */
export async function waitReady(base, child, ms, logPath) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`bucketdesk exited with ${child.exitCode} before it was ready; see ${logPath}`);
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

/**
 * startServer starts $BUCKETDESK_BIN serve on a free port, with a temporary
 * data directory named after name, a random BUCKETDESK_DEMO_PASSWORD, its
 * output in logPath and serveArgs added to its flags; or, without
 * BUCKETDESK_BIN, uses BUCKETDESK_URL and BUCKETDESK_DEMO_PASSWORD. It
 * returns { base, password, stop }.
 */
export async function startServer({ name, logPath, serveArgs = [], log = console.log }) {
  if (!process.env.BUCKETDESK_BIN) {
    const base = (process.env.BUCKETDESK_URL || '').replace(/\/$/, '');
    const password = process.env.BUCKETDESK_DEMO_PASSWORD || '';
    if (!base || !password) {
      throw new Error('set BUCKETDESK_BIN (a bucketdesk binary to start), or BUCKETDESK_URL and BUCKETDESK_DEMO_PASSWORD');
    }
    await waitReady(base, null, 10000, logPath);
    return { base, password, stop: async () => {} };
  }
  const bin = path.resolve(process.env.BUCKETDESK_BIN);
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `bucketdesk-${name}-`));
  const password = crypto.randomBytes(18).toString('base64url');
  const logFile = fs.openSync(logPath, 'w');
  const child = spawn(bin, ['serve', '--addr', `127.0.0.1:${port}`, '--data-dir', dataDir, ...serveArgs], {
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
    await waitReady(base, child, 30000, logPath);
  } catch (err) {
    await stop();
    throw err;
  }
  return { base, password, stop };
}

// ------------------------------------------------------------------- pages

/** watch records a page's script errors in problems, as who. */
export function watch(page, who, problems) {
  page.on('pageerror', (e) => problems.push(`${who}: page error: ${e.stack || e.message}`));
  page.on('console', (m) => {
    // A 4xx the UI handles (409, 412…) is logged by Chromium as a failed
    // resource load; only script errors count.
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problems.push(`${who}: console error: ${m.text()}`);
  });
}

export async function waitConn(page, text) {
  await page.waitForFunction((t) => document.querySelector('#conn .conn-text')?.textContent === t, text, { timeout: WAIT, polling: 'raf' });
}

/** openProject opens project demo from the projects page and waits for its buckets, live. */
export async function openProject(page) {
  await page.locator(`a[href="#/projects/${PROJECT}"]`).click();
  await page.locator('#buckets tbody tr[data-name]').first().waitFor({ timeout: WAIT });
  await waitConn(page, 'Live');
}

/** afterLogin holds what login may wait for once signed in. */
export const afterLogin = {
  /** the link to project demo on the projects page */
  projectLink: async (page) => {
    await page.locator(`a[href="#/projects/${PROJECT}"]`).waitFor({ timeout: WAIT });
  },
  /** project demo opened from there, its connection live */
  projectOpen: async (page) => {
    await page.locator(`a[href="#/projects/${PROJECT}"]`).click({ timeout: WAIT });
    await page.waitForFunction(() => document.querySelector('#conn .conn-text')?.textContent === 'Live', null, { timeout: WAIT });
  },
  /** the projects page, its list loaded (a user may be a member of no project) */
  projectList: async (page) => {
    await page.getByRole('heading', { name: 'Your projects' }).waitFor({ timeout: WAIT });
    await page.locator('.project-list:not([aria-busy])').waitFor({ timeout: WAIT });
  },
};

/** login signs user in on base's login page, then awaits after(page). */
export async function login(page, base, user, password, after = afterLogin.projectLink) {
  await page.goto(`${base}/`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await after(page);
}

// -------------------------------------------------------------- the script

/**
 * browserTest sets up one script's output and returns its helpers.
 *
 *   name       the server's data directory is bucketdesk-<name>-…
 *   dir        sub-directory of test-output/browser for the output ('' for itself)
 *   prefix     of every file written there: screenshots <prefix>NN-<step>.png,
 *              the server's output <prefix>server.log, failures <prefix>failure….png
 *   clean      'dir': empty the output directory first; 'prefix': remove only
 *              its files starting with prefix; 'none': leave it as it is
 *   serveArgs  flags added to `bucketdesk serve`, e.g. ['--sandbox-delay', '400ms']
 *   tag        put in front of every log line's time
 *
 * It returns { OUT, log, screenshot, startServer, main }: main(scenario)
 * starts the server, awaits scenario({ base, password }), reports PASS or
 * FAIL, stops the server and exits non-zero on failure.
 */
export function browserTest({ name, dir = '', prefix = '', clean = 'dir', serveArgs = [], tag = '' }) {
  const OUT = path.join(BROWSER_OUT, dir);
  if (clean === 'dir') fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  if (clean === 'prefix' && prefix) {
    for (const f of fs.readdirSync(OUT)) if (f.startsWith(prefix)) fs.rmSync(path.join(OUT, f), { recursive: true, force: true });
  }
  const serverLog = `${prefix}server.log`;
  const start = () => startServer({ name, logPath: path.join(OUT, serverLog), serveArgs, log });

  const t0 = Date.now();
  function log(...a) {
    console.log(`[${tag ? `${tag} ` : ''}${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`, ...a);
  }

  let shot = 0;
  /** screenshot saves page, full, as OUT/<prefix>NN-<step>.png, NN counting this script's screenshots. */
  async function screenshot(page, step) {
    const file = `${prefix}${String(++shot).padStart(2, '0')}-${step}.png`;
    await page.screenshot({ path: path.join(OUT, file), fullPage: true });
    log(`  screenshot ${path.join(dir, file)}`);
  }

  async function main(scenario) {
    let server;
    let code = 0;
    try {
      server = await start();
      await scenario(server);
      log(`PASS — screenshots in ${path.relative(process.cwd(), OUT) || OUT}${prefix ? `/${prefix}*.png` : ''}`);
    } catch (err) {
      console.error(err);
      log(`FAIL — screenshots and ${serverLog} in ${OUT}`);
      code = 1;
    } finally {
      await server?.stop().catch((e) => console.error('stopping the server:', e));
    }
    process.exit(code);
  }

  return { OUT, log, screenshot, startServer: start, main };
}

/** pageAPI calls the REST API with the page's own session. */
export function pageAPI(page, method, urlPath, body) {
  return page.evaluate(async ({ method, urlPath, body }) => {
    const res = await fetch(urlPath, {
      method,
      headers: { Authorization: `Bearer ${JSON.parse(localStorage.getItem('bucketdesk.session') || '{}').token}`, 'Content-Type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: await res.text() };
  }, { method, urlPath, body });
}

/**
 * failureShots saves a full-page screenshot of every open page, named by
 * names[context index] (or the index), after a scenario failed.
 */
export async function failureShots(browser, out, names = ['alice', 'bob']) {
  for (const [i, ctx] of browser.contexts().entries()) {
    for (const p of ctx.pages()) await p.screenshot({ path: path.join(out, `failure-${names[i] ?? i}.png`), fullPage: true }).catch(() => {});
  }
}

// ----------------------------------------------------------- accessibility

const AXE = path.join(here, 'node_modules', 'axe-core', 'axe.min.js');
/** IMPACTS are axe's impact levels, worst first. */
export const IMPACTS = ['critical', 'serious', 'moderate', 'minor'];

/**
 * checkA11y runs axe-core (WCAG 2.0 A and AA, 2.1 AA) on page as it is now
 * and returns { label, counts: { critical, serious, moderate, minor },
 * violations, failing }: failing lists the serious and critical ones, each
 * as "rule-id (impact): help — target, …". A modal dialog makes the rest of
 * the page inert, so axe then checks only the dialog, as a user meets it.
 * axe is evaluated through the DevTools protocol (page.evaluate), which
 * the page's Content-Security-Policy, rightly, does not let a <script>
 * element do.
 */
export async function checkA11y(page, label) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(fs.readFileSync(AXE, 'utf8'));
  }
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    resultTypes: ['violations'],
  }));
  const counts = Object.fromEntries(IMPACTS.map((i) => [i, 0]));
  const violations = result.violations.map((v) => {
    counts[v.impact] = (counts[v.impact] || 0) + v.nodes.length;
    const targets = v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(', ');
    return { id: v.id, impact: v.impact, text: `${v.id} (${v.impact}): ${v.help} — ${targets}${v.nodes.length > 5 ? ', …' : ''}` };
  });
  const failing = violations.filter((v) => v.impact === 'critical' || v.impact === 'serious').map((v) => v.text);
  return { label, counts, violations, failing };
}

/**
 * rowAction runs action (a data-action: edit, history, share…) of a table
 * row: its button when it shows one, otherwise the item of the row's
 * actions menu, which it opens first.
 */
export async function rowAction(row, action) {
  const button = row.locator(`button[data-action="${action}"]:not([role=menuitem])`);
  if (await button.count() && await button.first().isVisible()) {
    await button.first().click();
    return;
  }
  const menu = row.locator('button[data-menu-button]');
  if (await menu.getAttribute('aria-expanded') !== 'true') await menu.click();
  await row.locator(`[role=menuitem][data-action="${action}"]`).click();
}
