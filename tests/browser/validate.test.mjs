// The cases of internal/core/spec_test.go, run against web/validate.js:
// the browser must refuse what the server refuses, with the same field.
// (web/validate_test.go also compares every message with core's, when node
// is installed.)
//
//   node --test tests/browser/validate.test.mjs

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bucketNameProblems, canonicalPrefix, KMSKeyARNMessage, checkUserReferences, goQuote, prefixHint, rotateKeyProblem, SFTPUserNameMessage, sshKeyProblem,
  userNameProblems, validateBucket, validateUser,
} from '../../web/validate.js';
import { versioningLabel } from '../../web/resources.js';

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
  // Four runs of digits are an IP address's form, whatever their values.
  for (const n of ['01.2.3.4', '999.999.999.999']) {
    assert.deepEqual(bucketNameProblems(n), ['must not be formatted as an IP address']);
  }
  assert.deepEqual(bucketNameProblems('1.2.3.4.5'), []);
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
    ['kms alias', (b) => { b.encryption.kms_key_arn = 'arn:aws:kms:eu-west-1:123456789012:alias/data'; }, 'encryption.kms_key_arn'],
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

test('bucket KMS key must be a key ARN, not an alias or a bare id', () => {
  const withKey = (arn) => validateBucket({ name: 'data.example', encryption: { type: 'SSE-KMS', kms_key_arn: arn } });
  for (const arn of [
    'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    'arn:aws:kms:eu-west-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab',
    'arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  ]) {
    assert.deepEqual(withKey(arn), [], arn);
  }
  for (const arn of [
    '', 'arn:aws:kms:eu-west-1:123456789012:alias/data', 'arn:aws:kms:eu-west-1:123456789012:alias/team/data_key-1',
    'alias/data', 'alias/aws/s3', '1234abcd-12ab-34cd-56ef-1234567890ab', 'arn:aws:kms:eu-west-1:123456789012:key/a/b',
  ]) {
    assert.deepEqual(withKey(arn), [{ field: 'encryption.kms_key_arn', message: KMSKeyARNMessage }], arn);
  }
  assert.match(KMSKeyARNMessage, /arn:aws:kms:REGION:ACCOUNT:key\/ID\); an alias cannot be used because/);
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
    ['sftp name with +', (u) => { u.name = 'acme+partner@example.com'; }, 'name'],
    ['sftp name too short', (u) => { u.name = 'ab'; }, 'name'],
    ['sftp name starting with @', (u) => { u.name = '@acme'; }, 'name'],
    ['non-Latin-1 prefix', (u) => { u.grants = [{ bucket: 'data.example', access: 'read', prefix: '日本/' }]; }, 'grants[0].prefix'],
    ['same folder twice', (u) => { u.grants = [{ bucket: 'data.example', access: 'read', prefix: 'in' }, { bucket: 'data.example', access: 'write', prefix: 'in/' }]; }, 'grants[1]'],
  ];
  for (const [what, mod, field] of cases) {
    const u = ok();
    mod(u);
    assert.ok(fields(validateUser(u)).includes(field), `${what}: ${JSON.stringify(validateUser(u))}`);
  }
});

// core.TestSFTPUserNameRule: Transfer Family's names are narrower than IAM's.
test('SFTP user names', () => {
  const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q partner@example';
  const user = (name, sftp) => ({ name, grants: [{ bucket: 'data.example', access: 'read' }], sftp: sftp ? { enabled: true, ssh_keys: [key] } : {} });
  for (const n of ['acme', 'acme.partner@example.com', 'svc_etl-1', 'abc', '_x1', '9to5', 'x'.repeat(64)]) {
    assert.deepEqual(validateUser(user(n, true)), [], n);
  }
  for (const n of ['acme+partner@example.com', 'ab', 'a', '-acme', '.acme', '@acme', 'a=b', 'x+y']) {
    assert.deepEqual(validateUser(user(n, true)), [{ field: 'name', message: SFTPUserNameMessage }], n);
    assert.deepEqual(validateUser(user(n, false)), [], `${n} without SFTP`);
  }
  assert.equal(SFTPUserNameMessage, 'SFTP user names must be 3–100 characters of letters, digits, _, @, . and -, not starting with -, . or @');
});

// core.TestPrefixPolicyCharacters, with core's exact messages.
test('prefix characters an IAM policy allows', () => {
  const prefixProblem = (p) => validateUser({ name: 'etl', grants: [{ bucket: 'data.example', access: 'read', prefix: p }] })
    .filter((x) => x.field === 'grants[0].prefix').map((x) => x.message);
  for (const p of ['in/', 'a b&c<d>é/', 'ÿ/', 'tab\there/', '~!@#%^()[]/']) {
    assert.deepEqual(prefixProblem(p), [], p);
  }
  const msg = (q, hex) => `may contain only characters an IAM policy allows (ASCII and Latin-1, U+0020 to U+00FF); ${q} (U+${hex}) is outside that range`;
  assert.deepEqual(prefixProblem('日本/'), [msg('"日"', '65E5')]);
  assert.deepEqual(prefixProblem('reports–2024/'), [msg('"–"', '2013')]);
  assert.deepEqual(prefixProblem('emoji😀/'), [msg('"😀"', '1F600')]);
  assert.deepEqual(prefixProblem('x\x01/'), [msg('"\\x01"', '0001')]);
  assert.deepEqual(prefixProblem('Ā/'), [msg('"Ā"', '0100')]);
});

// A prefix is a folder: "reports" is "reports/" (core.CanonicalPrefix).
test('a prefix is a folder', () => {
  for (const [p, want] of [['', ''], ['reports', 'reports/'], ['reports/', 'reports/'], ['a/b', 'a/b/']]) {
    assert.equal(canonicalPrefix(p), want, p);
  }
  assert.equal(prefixHint('reports/'), '');
  assert.equal(prefixHint(''), '');
  assert.equal(prefixHint('reports'), '"reports" means the folder "reports/": keys such as "reports-2024/…" or "reports.csv" are not included');
  const long = (p) => validateUser({ name: 'etl', grants: [{ bucket: 'b1x', access: 'read', prefix: p }] });
  assert.deepEqual(long('p'.repeat(511)), []);
  assert.deepEqual(long('p'.repeat(511) + '/'), []);
  assert.deepEqual(long('p'.repeat(512)), [{ field: 'grants[0].prefix', message: 'must be at most 512 bytes, counting the / that ends the folder' }]);
  const dup = validateUser({ name: 'etl', grants: [{ bucket: 'b1x', access: 'read', prefix: 'in' }, { bucket: 'b1x', access: 'write', prefix: 'in/' }] });
  assert.deepEqual(dup, [{ field: 'grants[1]', message: 'repeats grants[0] for the same bucket and folder' }]);
});

// core.TestSSHKeyRules, as far as the browser can check: the shape and the
// type inside the blob. The server parses the key and is the authority; the
// last cases are refused there only.
test('SSH public keys', () => {
  const ed = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q partner@example';
  const rsa2048 = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDRJIxdlBoADrUVUt9eC1/FVlvDWXz6fpBrDUBVuKBZ6BntCvz2iq5Xmk/xU0qtUD1gkpmHOzXKnfYFmiFsXki/TDh7GwRJk3ZxZbEOEnzZzvr5CEoP13uL2+BHO2ah62O5tejb0jEIv/8ImEMEYVlDxrEryUxf9A8uwcaKnD0y8eKvbjbIPlgp5XuQXQjFOLgVVEajzLcpv4IMUtgjNVBpqUMYSu9ZrF0hh1xYdxH0tyjiUucW08P2CF5dsIVADg/1VNBAqFD8/9nX9vWZPF3LygaTU2IbOYAr0kT30Tudthp0aWx8jWO5M3veuXAyW9tyondnun1IjBWZ8K18DVcB ci@acme';
  const ecdsa = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBH0iGEToNQYKEqmnZHICPAQhaJiFXHwM+PS9wkK+oXIKshbb3L1mdeOeb7W3eIsXghpDFkSBxo5iQX7LxftK0cU= ec';
  const b64 = ed.split(' ')[1];
  for (const k of [ed, rsa2048, ecdsa, `  ${ed}\n`, ed.replace(' partner@example', ''), `${ed} with spaces in the comment`,
    ed.replace('partner@example', 'c'.repeat(100))]) {
    assert.equal(sshKeyProblem(k), '', k);
  }
  const shape = 'must be an OpenSSH public key (ssh-rsa, ssh-ed25519 or ecdsa-sha2-nistp256/384/521, then the base64 key)';
  const cases = [
    [`ssh-rsa ${b64}`, 'the base64 key is not a ssh-rsa key'],
    [`ecdsa-sha2-nistp384 ${ecdsa.split(' ')[1]}`, 'the base64 key is not a ecdsa-sha2-nistp384 key'],
    [`ssh-ed25519 ${rsa2048.split(' ')[1]}`, 'the base64 key is not a ssh-ed25519 key'],
    ['ecdsa-sha2-nistp256 AAAA', 'the base64 key is not a ecdsa-sha2-nistp256 key'],
    ['ssh-ed25519 AAAA=', 'the key is not valid base64'],
    [`ssh-ed25519 ${b64}A`, 'the key is not valid base64'],
    ['ssh-rsa AAAA== c', 'the key is not valid base64'],
    ['ssh-ed25519 AAB=', 'the key is not valid base64'], // non-zero trailing bits, as Go's Strict()
    ['ssh-ed25519 AQ==', 'the base64 key is not a ssh-ed25519 key'],
    [`${ed}\n${ed}`, 'must be exactly one key on one line'],
    [`${ed}\r\nx`, 'must be exactly one key on one line'],
    [`${ed}\x07`, 'must not contain control characters'],
    [`ssh-ed25519\t${b64}`, 'must not contain control characters'],
    [`command="/bin/sh" ${ed}`, 'must not start with options (such as from=… or command=…); give only the key type, the base64 key and an optional comment'],
    [`restrict ${ed}`, 'must not start with options (such as from=… or command=…); give only the key type, the base64 key and an optional comment'],
    ['ssh-dss AAAAB3NzaC1kc3M=', shape],
    [`sk-ssh-ed25519@openssh.com ${b64}`, shape],
    ['ssh-ed25519', shape],
    [`ssh-ed25519  ${b64}`, shape],
    ['', shape],
    [ed + 'c'.repeat(100), 'the comment after the key must be at most 100 characters, got 115'],
  ];
  for (const [k, want] of cases) {
    assert.equal(sshKeyProblem(k), want, JSON.stringify(k));
  }
  // Refused by the server only (x/crypto/ssh parses the key): a truncated
  // blob of the right type, an RSA key under 2048 bits.
  assert.equal(sshKeyProblem(`ssh-ed25519 ${b64.slice(0, -4)}`), '');
  assert.equal(sshKeyProblem('ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC3 ci@acme'), '');
  // validateUser reports the key's problem under its index.
  assert.deepEqual(validateUser({ name: 'etl', grants: [{ bucket: 'data.example', access: 'read' }], sftp: { enabled: true, ssh_keys: [ed, 'ssh-rsa AAAA== c'] } }),
    [{ field: 'sftp.ssh_keys[1]', message: 'the key is not valid base64' }]);
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

// The bucket table's versioning column: a bucket that was versioned and
// has versioning off is suspended (the server sets versioning_suspended).
test('versioning label', () => {
  assert.equal(versioningLabel({ versioning: true }), 'On');
  assert.equal(versioningLabel({ versioning: true, versioning_suspended: true }), 'On');
  assert.equal(versioningLabel({ versioning: false, versioning_suspended: true }), 'Suspended');
  assert.equal(versioningLabel({ versioning: false }), 'Off');
  assert.equal(versioningLabel({}), 'Off');
  assert.equal(versioningLabel(undefined), 'Off');
});
