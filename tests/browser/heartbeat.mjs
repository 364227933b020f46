// Browser test of the live connection's heartbeat (web/live.js,
// web/connection.js): alice's page reaches the server through a TCP proxy
// of this script. The proxy stops forwarding without closing anything (a
// network that drops silently): her badge must say "Connection lost" within
// the heartbeat's deadline, the tables be marked possibly stale, and "Retry
// now" be offered and start an attempt at once. Meanwhile bob creates a
// bucket through the API; once the proxy forwards again her page is Live
// and shows it. Same setup as run.mjs (helpers in lib.mjs):
//
//   BUCKETDESK_BIN=bin/bucketdesk node tests/browser/heartbeat.mjs
//   BUCKETDESK_URL=http://127.0.0.1:8080 BUCKETDESK_DEMO_PASSWORD=… node tests/browser/heartbeat.mjs
//
// Screenshots (1400 px and 375 px wide) go to test-output/browser/heartbeat/.
// Exits non-zero on failure. Never downloads a browser.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import { browserTest, launch, login, openProject, PROJECT, WAIT, waitConn, watch } from './lib.mjs';

const { log, screenshot, main } = browserTest({ name: 'heartbeat', dir: 'heartbeat' });

// The page's heartbeat, shortened for the test through the knob of
// web/live.js (localStorage "bucketdesk.heartbeat"; it may only shorten).
const HEARTBEAT = { pingMs: 1000, timeoutMs: 1500, connectTimeoutMs: 2500 };
// A silent loss must show within one ping period and the pong deadline,
// plus a little for the page to paint.
const DETECT_MS = HEARTBEAT.pingMs + HEARTBEAT.timeoutMs + 1000;

// ----------------------------------------------------------------- proxy

/**
 * proxy forwards 127.0.0.1:<port> to target. stall() stops forwarding in
 * both directions without closing a socket (the bytes wait in the kernel's
 * buffers, as on a network that dropped) and holds new connections unanswered;
 * resume() forwards again, the held bytes and connections included.
 */
async function proxy(target) {
  const { hostname, port: targetPort } = new URL(target);
  const pairs = new Set();
  const held = [];
  let stalled = false;
  const link = (a, b) => {
    a.pipe(b);
    b.pipe(a);
  };
  const forward = (client) => {
    const upstream = net.connect(Number(targetPort), hostname);
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    link(client, upstream);
  };
  const server = net.createServer((client) => {
    if (stalled) {
      client.pause();
      client.on('error', () => {});
      held.push(client);
    } else {
      forward(client);
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    stall() {
      stalled = true;
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    resume() {
      stalled = false;
      for (const { client, upstream } of pairs) link(client, upstream);
      for (const c of held.splice(0)) forward(c);
    },
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      for (const c of held.splice(0)) c.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

// api calls the server directly (not through the proxy) as user.
async function apiAs(base, user, password) {
  const res = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: user, password }) });
  assert.equal(res.status, 200, `login ${user}`);
  const { token } = await res.json();
  return async (method, path, body) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: body && JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
}

// --------------------------------------------------------------- scenario

async function scenario({ base, password }) {
  const px = await proxy(base);
  const browser = await launch();
  const problems = [];
  try {
    const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await ctx.addInitScript((hb) => localStorage.setItem('bucketdesk.heartbeat', JSON.stringify(hb)), HEARTBEAT);
    const alice = await ctx.newPage();
    watch(alice, 'alice', problems);
    const pings = [];
    alice.on('websocket', (ws) => ws.on('framesent', (f) => {
      if (/"type":"ping"/.test(String(f.payload))) pings.push(Date.now());
    }));
    const tickets = [];
    alice.on('request', (r) => {
      if (r.url().endsWith('/api/ws-ticket')) tickets.push(Date.now());
    });

    log(`1. alice opens project ${PROJECT} through the proxy (${px.base}); her page pings the server`);
    await login(alice, px.base, 'alice', password);
    await openProject(alice);
    const since = Date.now();
    await new Promise((r) => setTimeout(r, HEARTBEAT.pingMs * 2.5));
    assert.ok(pings.filter((t) => t >= since).length >= 2, `pings sent every ${HEARTBEAT.pingMs} ms (got ${pings.length})`);
    await waitConn(alice, 'Live');
    assert.equal(await alice.locator('#stale-note').isVisible(), false, 'no stale notice while live');
    await screenshot(alice, 'live');

    log('2. the network drops silently: the proxy stops forwarding, closing nothing');
    const connectsBefore = await alice.evaluate(() => window.__bucketdesk.connects);
    const lostAt = Date.now();
    px.stall();
    await alice.waitForFunction(() => document.querySelector('#conn .conn-text')?.textContent === 'Connection lost', null, { timeout: WAIT, polling: 100 });
    const detected = Date.now() - lostAt;
    log(`  "Connection lost" after ${detected} ms (deadline ${DETECT_MS} ms)`);
    assert.ok(detected <= DETECT_MS, `loss detected in ${detected} ms, want ≤ ${DETECT_MS} ms`);
    const note = alice.locator('#stale-note');
    await note.waitFor({ timeout: WAIT });
    assert.match(await note.textContent(), /may be out of date/);
    assert.ok(await alice.locator('.tables').evaluate((el) => el.classList.contains('stale')), 'tables marked stale');
    const retry = alice.getByRole('button', { name: 'Retry now' });
    assert.ok(await retry.isVisible(), '"Retry now" shown');
    await screenshot(alice, 'connection-lost');

    const bucket = `hb-${crypto.randomBytes(3).toString('hex')}`;
    log(`3. while alice is cut off, bob creates bucket ${bucket} through the API`);
    const bob = await apiAs(base, 'bob', password);
    const created = await bob('POST', `/api/projects/${PROJECT}/buckets`, { name: bucket, encryption: { type: 'SSE-S3' } });
    assert.ok(created.status === 202 || created.status === 201, `create: ${created.status} ${JSON.stringify(created.body)}`);

    log('4. reconnect attempts fail and back off; the badge stays "Connection lost"');
    await new Promise((r) => setTimeout(r, HEARTBEAT.connectTimeoutMs + 1500));
    assert.equal(await alice.locator('#conn .conn-text').textContent(), 'Connection lost');
    assert.match(await alice.locator('#conn').getAttribute('title'), /retrying in \d+ s|connecting now/);
    assert.equal(await alice.locator(`#buckets tbody tr[data-name="${bucket}"]`).count(), 0, 'the cut-off page cannot know the new bucket');

    log('5. at 375 px the notice and "Retry now" are on screen');
    await alice.setViewportSize({ width: 375, height: 800 });
    assert.ok(await retry.isVisible(), '"Retry now" shown at 375 px');
    const box = await retry.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 375, `"Retry now" within 375 px: ${JSON.stringify(box)}`);
    await screenshot(alice, 'connection-lost-375');

    log('6. "Retry now" starts an attempt at once');
    const before = tickets.length;
    const clickedAt = Date.now();
    await retry.click();
    const deadline = Date.now() + 1000;
    while (tickets.length === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(tickets.length > before, 'a ticket requested right after "Retry now"');
    log(`  ticket requested ${tickets[before] - clickedAt} ms after the click`);

    log('7. the network comes back: Live again, the tables resynced from the lists');
    px.resume();
    // The attempt "Retry now" started was held by the proxy and now goes
    // through; should it have timed out meanwhile, retry at once rather than
    // after the backoff.
    if (await retry.isVisible()) await retry.click({ timeout: 1000 }).catch(() => {});
    await waitConn(alice, 'Live');
    await alice.locator(`#buckets tbody tr[data-name="${bucket}"]`).waitFor({ timeout: WAIT });
    await alice.waitForFunction(() => !document.querySelector('.tables')?.classList.contains('stale'), null, { timeout: WAIT });
    assert.equal(await note.isVisible(), false, 'the stale notice is gone');
    assert.ok(await alice.evaluate(() => window.__bucketdesk.connects) > connectsBefore, 'a new connection');
    await screenshot(alice, 'resynced-375');
    await alice.setViewportSize({ width: 1400, height: 900 });
    await screenshot(alice, 'resynced');

    assert.deepEqual(problems, [], 'no script errors');
  } finally {
    await browser.close();
    await px.close();
  }
}

await main(scenario);
