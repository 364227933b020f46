// Unit tests of web/resources.js's ResourceStore with list rows and whole
// resources: node --test tests/browser/store.test.mjs

import assert from 'node:assert/strict';
import test from 'node:test';
import { isRow, ResourceStore } from '../../web/resources.js';

// row is a list item (docs/api.md): no details.
const row = (name, version, extra = {}) => ({ kind: 'bucket', name, version, spec: { bucket: { name } }, observed: { phase: 'ready' }, ...extra });
// whole is a Resource as a message or a GET carries it.
const whole = (name, version, extra = {}) => ({
  ...row(name, version), project: 'p', stack_name: `bd-p--b-${name}`, observed: { phase: 'ready', stack_id: `arn:stack/${name}`, outputs: { BucketArn: `arn:aws:s3:::${name}` } },
  created_by: 'alice', changed_by: 'bob', ...extra,
});

test('a list row never wipes the details of the same version', () => {
  const s = new ResourceStore();
  assert.equal(s.put(whole('a', 3)), true);
  s.replaceKind('bucket', [row('a', 3)], s.mark());
  const got = s.get('bucket', 'a');
  assert.equal(isRow(got), false);
  assert.equal(got.observed.stack_id, 'arn:stack/a');
  assert.equal(got.changed_by, 'bob');
});

test('a newer list row replaces an older whole resource, and a whole one of its version takes its place', () => {
  const s = new ResourceStore();
  s.put(whole('a', 3));
  const r4 = row('a', 4, { spec: { bucket: { name: 'a', versioning: true } } });
  s.replaceKind('bucket', [r4], s.mark());
  assert.equal(s.get('bucket', 'a'), r4);
  assert.equal(isRow(s.get('bucket', 'a')), true);
  // A message (or a GET) of the same version brings the details.
  const w4 = whole('a', 4);
  assert.equal(s.put(w4), true);
  assert.equal(s.get('bucket', 'a'), w4);
  assert.equal(isRow(s.get('bucket', 'a')), false);
  // ...once: the same version again adds nothing.
  assert.equal(s.put(whole('a', 4)), false);
  assert.equal(s.get('bucket', 'a'), w4);
});

test('versions still order everything: older rows and older messages are dropped', () => {
  const s = new ResourceStore();
  s.replaceKind('bucket', [row('a', 5)], s.mark());
  assert.equal(s.put(whole('a', 4)), false);
  assert.equal(s.get('bucket', 'a').version, 5);
  s.put(whole('a', 6));
  s.replaceKind('bucket', [row('a', 5)], s.mark());
  assert.equal(s.get('bucket', 'a').version, 6);
  assert.equal(isRow(s.get('bucket', 'a')), false);
  // A deletion newer than a row keeps it out.
  s.remove('bucket', 'a', 7);
  s.replaceKind('bucket', [row('a', 6)], s.mark());
  assert.equal(s.get('bucket', 'a'), null);
});

test('a row of the version a deletion left is not a whole resource to keep', () => {
  const s = new ResourceStore();
  s.remove('bucket', 'b', 2);
  s.replaceKind('bucket', [row('b', 2)], s.mark());
  assert.equal(s.get('bucket', 'b').version, 2);
  assert.equal(s.put(whole('b', 2)), true, 'the whole one of that version replaces the row');
});

test('items not listed go unless a message changed them after the read began', () => {
  const s = new ResourceStore();
  s.put(whole('a', 1));
  s.put(whole('b', 1));
  const mark = s.mark();
  s.put(whole('c', 1)); // arrived while the list was read
  s.replaceKind('bucket', [row('a', 1)], mark);
  assert.deepEqual(s.list('bucket').map((r) => r.name), ['a', 'c']);
  assert.equal(isRow(s.get('bucket', 'a')), false);
});

test('a list answered 304 gives the same rows again: the details held stay', () => {
  const s = new ResourceStore();
  s.put(whole('a', 1)); // read whole (a GET or a frame)
  const list = [row('a', 1), row('b', 2)];
  s.replaceKind('bucket', list, s.mark());
  const a = s.get('bucket', 'a');
  assert.equal(isRow(a), false, 'a row of the same version does not replace the whole resource');
  s.replaceKind('bucket', list, s.mark());
  assert.equal(s.get('bucket', 'a'), a, 'the same rows again keep the whole resource');
  assert.equal(isRow(s.get('bucket', 'b')), true);
});
