// The pure parts of the console's resource tables and bulk actions
// (web/table.js, web/bulk.js): the filter's matching, the sort order,
// the status choices, merging tags, and running many requests a few at a
// time.
//
//   node --test tests/browser/table.test.mjs

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeTags, runAll } from '../../web/bulk.js';
import { compareValues, matches, statusGroups, words } from '../../web/table.js';

const bucket = (name, tags, observed = { phase: 'ready' }, lock = null) => ({ kind: 'bucket', name, spec: { bucket: { name, tags } }, observed, lock });
const user = (name, grants) => ({ kind: 'user', name, spec: { user: { name, grants } }, observed: { phase: 'ready' } });

test('the filter matches every word in the name, a tag or a granted bucket', () => {
  const b = bucket('Reports-2026', { team: 'Red', cost: '4711' });
  assert.equal(matches(b, words('')), true);
  assert.equal(matches(b, words('reports')), true, 'case-insensitive');
  assert.equal(matches(b, words('port 2026')), true, 'all words, substrings');
  assert.equal(matches(b, words('team=red')), true, 'key=value');
  assert.equal(matches(b, words('team:red')), true, 'key:value');
  assert.equal(matches(b, words('4711')), true, 'a value');
  assert.equal(matches(b, words('team=blue')), false);
  assert.equal(matches(b, words('reports blue')), false, 'one word missing fails');
  const u = user('partner', [{ bucket: 'drop-zone', access: 'write' }]);
  assert.equal(matches(u, words('drop-zone')), true, 'a granted bucket');
  assert.equal(matches(u, words('write')), false, 'not the access level');
  assert.deepEqual(words('  a   B\tc '), ['a', 'b', 'c']);
});

test('sorting: numbers as numbers, names as people read them, empty last', () => {
  const vals = ['b10', 'b9', '', 'B1', 'a'];
  assert.deepEqual([...vals].sort(compareValues), ['a', 'B1', 'b9', 'b10', '']);
  assert.deepEqual([30, '', 7, 365].sort(compareValues), [7, 30, 365, '']);
  assert.equal(compareValues(undefined, 1) > 0, true);
  assert.equal(compareValues('', ''), 0);
});

test('status choices', () => {
  const by = (v) => statusGroups.find((g) => g.value === v).test;
  const ready = bucket('a', {});
  const locked = bucket('b', {}, { phase: 'ready' }, { by: 'bob', operation_id: 'x' });
  const failed = bucket('c', {}, { phase: 'failed' });
  const warn = bucket('d', {}, { phase: 'ready', last_failure: 'update failed' });
  const delFailed = bucket('e', {}, { phase: 'ready', stack_status: 'DELETE_FAILED' });
  const creating = bucket('f', {}, { phase: 'creating' });
  assert.deepEqual([ready, locked, failed, warn, delFailed, creating].filter(by('')).length, 6);
  assert.deepEqual([ready, locked, failed, warn, creating].filter(by('ready')).map((r) => r.name), ['a']);
  assert.deepEqual([ready, locked, failed, warn, delFailed, creating].filter(by('failed')).map((r) => r.name), ['c', 'd', 'e']);
  assert.deepEqual([ready, locked, failed, warn, creating].filter(by('busy')).map((r) => r.name), ['b', 'f']);
  assert.deepEqual([ready, locked, failed].filter(by('locked')).map((r) => r.name), ['b']);
});

test('mergeTags sets, overwrites and removes, and says whether anything changed', () => {
  assert.deepEqual(mergeTags({ a: '1', b: '2' }, { b: '3', c: '4' }, ['a']), { tags: { b: '3', c: '4' }, changed: true });
  assert.deepEqual(mergeTags({ a: '1' }, { a: '1' }, []), { tags: { a: '1' }, changed: false });
  assert.deepEqual(mergeTags(undefined, {}, ['x']), { tags: {}, changed: false });
  assert.deepEqual(mergeTags({ a: '1' }, { a: '2' }, ['a']), { tags: {}, changed: true }, 'remove wins over set');
  const before = { k: 'v' };
  mergeTags(before, { k: 'w' }, []);
  assert.deepEqual(before, { k: 'v' }, 'the input is not changed');
});

test('runAll keeps order, limits concurrency and reports failures per item', async () => {
  let active = 0;
  let peak = 0;
  const out = await runAll([1, 2, 3, 4, 5, 6, 7], async (n) => {
    active++;
    peak = Math.max(peak, active);
    await new Promise((r) => setTimeout(r, 5 * (8 - n)));
    active--;
    if (n === 3) throw new Error('three refused');
    return n * 10;
  }, 3);
  assert.equal(peak, 3);
  assert.deepEqual(out.map((r) => (r.ok ? r.value : r.error.message)), [10, 20, 'three refused', 40, 50, 60, 70]);
  assert.deepEqual(await runAll([], async () => 1), []);
});
