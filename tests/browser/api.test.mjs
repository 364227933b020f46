// Unit tests of web/api.js under node: a request that gets no answer ends
// with a clear ApiError instead of hanging.
import assert from 'node:assert/strict';
import { test } from 'node:test';

globalThis.localStorage = { getItem: () => null, setItem() {}, removeItem() {} };
const { ApiError, request } = await import('../../web/api.js');

test('a request without an answer times out with a clear error', async () => {
  const realFetch = globalThis.fetch;
  // A server that never answers: the promise ends only when the signal aborts.
  globalThis.fetch = (_url, init) => new Promise((_resolve, reject) => {
    init.signal.addEventListener('abort', () => reject(init.signal.reason));
  });
  // Node's AbortSignal.timeout does not keep the process alive (browsers
  // have no such notion): hold it open while the request waits.
  const keepAlive = setTimeout(() => {}, 10000);
  try {
    const started = Date.now();
    await assert.rejects(request('GET', '/api/me', { timeoutMs: 50 }), (err) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 0);
      assert.match(err.problem.detail, /did not answer in time/);
      return true;
    });
    assert.ok(Date.now() - started < 5000, 'it ended by the timeout');
  } finally {
    clearTimeout(keepAlive);
    globalThis.fetch = realFetch;
  }
});

test('an answer before the timeout is returned', async () => {
  const realFetch = globalThis.fetch;
  globalThis.fetch = async () => new Response('{"user":"alice"}', { status: 200, headers: { 'Content-Type': 'application/json' } });
  try {
    assert.deepEqual(await request('GET', '/api/me', { timeoutMs: 50 }), { user: 'alice' });
  } finally {
    globalThis.fetch = realFetch;
  }
});
