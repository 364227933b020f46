// Unit tests of web/api.js under node: a request that gets no answer ends
// with a clear ApiError instead of hanging; a list read again names the
// one it holds (If-None-Match) and keeps it on a 304.
import assert from 'node:assert/strict';
import { test } from 'node:test';

globalThis.localStorage = { getItem: () => null, setItem() {}, removeItem() {} };
const { ApiError, api, request } = await import('../../web/api.js');

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

test('a list read again asks with If-None-Match and keeps what it has on a 304', async () => {
  const realFetch = globalThis.fetch;
  const seen = [];
  let current = { etag: 'W/"a1"', body: '{"items":[{"name":"one","version":1}]}' };
  globalThis.fetch = async (url, init) => {
    const inm = init.headers['If-None-Match'];
    seen.push(inm || '');
    if (inm === current.etag) return new Response(null, { status: 304, headers: { ETag: current.etag } });
    return new Response(current.body, { status: 200, headers: { 'Content-Type': 'application/json', ETag: current.etag } });
  };
  try {
    const first = await api.list('demo', 'bucket');
    assert.deepEqual(first, { items: [{ name: 'one', version: 1 }] });
    const again = await api.list('demo', 'bucket');
    assert.equal(again, first, 'the 304 gives back the list held');
    current = { etag: 'W/"b2"', body: '{"items":[{"name":"one","version":2}]}' };
    const changed = await api.list('demo', 'bucket');
    assert.deepEqual(changed, { items: [{ name: 'one', version: 2 }] });
    assert.deepEqual(seen, ['', 'W/"a1"', 'W/"a1"']);
    await api.list('demo', 'user');
    assert.equal(seen.at(-1), '', 'each list has its own tag');
  } finally {
    globalThis.fetch = realFetch;
  }
});
