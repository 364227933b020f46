// The cases of internal/core/spec_test.go, run against web/validate.js:
// the browser must refuse what the server refuses, with the same field.
// (web/validate_test.go also compares every message with core's, when node
// is installed.)
//
//   node --test tests/browser/validate.test.mjs

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bucketNameProblems, checkUserReferences, goQuote, rotateKeyProblem, userNameProblems, validateBucket, validateUser,
} from '../../web/validate.js';

test('bucket name rules', () => {
  for (const n of ['abc', 'my-bucket', 'my.bucket.eu', 'a1b2c3', 'a'.repeat(63), '123']) {
    assert.deepEqual(bucketNameProblems(n), [], n);
  }
  const invalid = {
    ab: 'between 3 and 63',
    ['a'.repeat(64)]: 'between 3 and 63',
    'My-Bucket': 'lowercase letters',
    my_bucket: 'lowercase letters',
    '-bucket': 'begin and end',
    'bucket-': 'begin and end',
    'my..bucket': 'adjacent dots',
    'my.-bucket': 'dot next to a hyphen',
    '192.168.5.4': 'IP address',
    'xn--bucket': 'reserved prefix',
    'sthree-bucket': 'reserved prefix',
    'amzn-s3-demo-bucket': 'reserved prefix',
    'bucket-s3alias': 'reserved suffix',
    'bucket--ol-s3': 'reserved suffix',
    'bucket.mrap': 'reserved suffix',
    'bucket--x-s3': 'reserved suffix',
    'bucket--table-s3': 'reserved suffix',
    '': 'between 3 and 63',
  };
  for (const [n, want] of Object.entries(invalid)) {
    assert.ok(bucketNameProblems(n).join('; ').includes(want), `${JSON.stringify(n)}: ${bucketNameProblems(n)}`);
  }
  // netip.ParseAddr refuses leading zeros, so such a name is no IP address.
  assert.deepEqual(bucketNameProblems('01.2.3.4'), []);
  assert.deepEqual(bucketNameProblems('xn--a'), ['must not start with the reserved prefix "xn--"']);
  // Lengths are UTF-8 bytes, as in Go.
  assert.match(bucketNameProblems('é')[0], /got 2$/);
  assert.ok(!bucketNameProblems('éé').join().includes('between'), 'four bytes are long enough');
});

test('user name rules', () => {
  for (const n of ['alice', 'svc+etl=1.b@c_d-e', 'x'.repeat(64), 'A']) {
    assert.deepEqual(userNameProblems(n), [], n);
  }
  for (const n of ['', 'x'.repeat(65), 'with space', 'slash/', 'star*', 'ünïcode', 'a,b']) {
    assert.ok(userNameProblems(n).length > 0, n);
  }
});

const fields = (problems) => problems.map((p) => p.field);

test('bucket spec', () => {
  const ok = () => ({
    name: 'data.example', versioning: false,
    encryption: { type: 'SSE-KMS', kms_key_arn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab' },
    expiry_days: 30, tags: { team: 'geo' },
  });
  assert.deepEqual(validateBucket(ok()), []);
  const cases = [
    ['bad encryption', (b) => { b.encryption.type = 'none'; }, 'encryption.type'],
    ['kms without key', (b) => { b.encryption.kms_key_arn = ''; }, 'encryption.kms_key_arn'],
    ['s3 with key', (b) => { b.encryption.type = 'SSE-S3'; }, 'encryption.kms_key_arn'],
    ['negative expiry', (b) => { b.expiry_days = -1; }, 'expiry_days'],
    ['aws tag', (b) => { b.tags = { 'aws:x': 'y' }; }, 'tags.aws:x'],
    ['reserved tag', (b) => { b.tags = { 'bucketdesk:project': 'y' }; }, 'tags.bucketdesk:project'],
    ['bad name', (b) => { b.name = 'UP'; }, 'name'],
  ];
  for (const [what, mod, field] of cases) {
    const b = ok();
    mod(b);
    assert.ok(fields(validateBucket(b)).includes(field), `${what}: ${JSON.stringify(validateBucket(b))}`);
  }
  assert.deepEqual(validateBucket({ ...ok(), encryption: { type: 'none' } }).find((p) => p.field === 'encryption.type').message,
    'must be "SSE-S3" or "SSE-KMS", got "none"');
});

test('user spec', () => {
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q partner@example';
  const ok = () => ({ name: 'etl', grants: [{ bucket: 'data.example', access: 'read', prefix: 'in/' }], access_keys: 2, sftp: { enabled: true, ssh_keys: [key] } });
  assert.deepEqual(validateUser(ok()), []);
  const cases = [
    ['three keys', (u) => { u.access_keys = 3; }, 'access_keys'],
    ['bad access', (u) => { u.grants = [{ bucket: 'data.example', access: 'admin' }]; }, 'grants[0].access'],
    ['wildcard prefix', (u) => { u.grants = [{ bucket: 'data.example', access: 'read', prefix: 'a*' }]; }, 'grants[0].prefix'],
    ['leading slash', (u) => { u.grants = [{ bucket: 'data.example', access: 'read', prefix: '/a' }]; }, 'grants[0].prefix'],
    ['dup grant', (u) => { u.grants.push({ ...u.grants[0] }); }, 'grants[1]'],
    ['sftp no key', (u) => { u.sftp.ssh_keys = []; }, 'sftp.ssh_keys'],
    ['sftp no grants', (u) => { u.grants = []; }, 'sftp'],
    ['bad key', (u) => { u.sftp.ssh_keys = ['ssh-dss AAAA']; }, 'sftp.ssh_keys[0]'],
    ['keys while off', (u) => { u.sftp.enabled = false; }, 'sftp.ssh_keys'],
  ];
  for (const [what, mod, field] of cases) {
    const u = ok();
    mod(u);
    assert.ok(fields(validateUser(u)).includes(field), `${what}: ${JSON.stringify(validateUser(u))}`);
  }
});

test('references and key rotation, as the engine checks them', () => {
  const u = { name: 'etl', grants: [{ bucket: 'gone', access: 'read' }], access_keys: 1, sftp: { enabled: true } };
  assert.deepEqual(checkUserReferences(u, { id: 'demo', sftp: false }, new Set(['here'])), [
    { field: 'sftp.enabled', message: 'project demo has no SFTP (Transfer Family) server' },
    { field: 'grants[0].bucket', message: '"gone" is not a bucket of project demo' },
  ]);
  assert.equal(rotateKeyProblem({ access_keys: 1 }, 1), null);
  assert.match(rotateKeyProblem({ access_keys: 2 }, 1), /IAM's maximum/);
  assert.equal(rotateKeyProblem({ access_keys: 0 }, 1), 'the user has 0 access keys; there is no key 1 to rotate');
});

test('goQuote is Go %q', () => {
  assert.equal(goQuote('a"b\\c\n\t'), '"a\\"b\\\\c\\n\\t"');
  assert.equal(goQuote('é'), '"é"');
  assert.equal(goQuote('\u00a0'), '"\\u00a0"');
  assert.equal(goQuote('\x01'), '"\\x01"');
});
