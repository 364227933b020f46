// Unit tests of web/live.js's heartbeat settings: node --test tests/browser/live.test.mjs

import assert from 'node:assert/strict';
import test from 'node:test';
import { HEARTBEAT, heartbeatSettings } from '../../web/live.js';

function withStorage(value, fn) {
  globalThis.localStorage = { getItem: (k) => (k === 'bucketdesk.heartbeat' ? value : null) };
  try {
    return fn();
  } finally {
    delete globalThis.localStorage;
  }
}

test('production heartbeat: a ping at most every 10 s, a silent loss found within 20 s', () => {
  assert.ok(HEARTBEAT.pingMs <= 10000);
  assert.ok(HEARTBEAT.pingMs + HEARTBEAT.timeoutMs <= 20000);
  assert.deepEqual(withStorage(null, heartbeatSettings), { ...HEARTBEAT });
});

test('overrides only shorten', () => {
  const s = withStorage(JSON.stringify({ pingMs: 1000, timeoutMs: 60000, connectTimeoutMs: -1 }), heartbeatSettings);
  assert.deepEqual(s, { pingMs: 1000, timeoutMs: HEARTBEAT.timeoutMs, connectTimeoutMs: HEARTBEAT.connectTimeoutMs });
  assert.deepEqual(withStorage('not json', heartbeatSettings), { ...HEARTBEAT });
});
