// Unit tests of the pure logic behind "a manager's edits are never lost":
// web/merge.js (what changed, re-applying the manager's changes on the
// server's new version), web/drafts.js (no secrets, per user, project,
// form and resource), web/session.js (warning time, what a change of the
// stored session means for a tab) and web/cognito.js (the renewal request,
// against a local stand-in of Cognito).
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';

// A localStorage for drafts.js and api.js.
const mem = new Map();
globalThis.localStorage = {
  getItem: (k) => (mem.has(k) ? mem.get(k) : null),
  setItem: (k, v) => mem.set(k, String(v)),
  removeItem: (k) => mem.delete(k),
  key: (i) => [...mem.keys()][i] ?? null,
  get length() {
    return mem.size;
  },
};

const { diffSpecs, mergeSpecs, normalizeSpec, showValue } = await import('../../web/merge.js');
const { clearDraft, draftKey, loadDraft, openDrafts, saveDraft, withoutSecrets, markClosed, DRAFT_MAX_AGE_MS } = await import('../../web/drafts.js');
const { renewRequest, renewWithRefreshToken } = await import('../../web/cognito.js');

const bucket = (o = {}) => ({ name: 'reports', versioning: false, encryption: { type: 'SSE-S3' }, ...o });

test('a spec read from the server and the form of it compare equal', () => {
  const server = { name: 'reports', versioning: false, versioning_suspended: true, encryption: { type: 'SSE-S3' }, expiry_days: 0, tags: {} };
  assert.deepEqual(diffSpecs('bucket', server, bucket()), []);
  const user = { name: 'partner', grants: [{ bucket: 'reports', access: 'read', prefix: '' }], access_keys: 1, sftp: { enabled: false, ssh_keys: ['ssh-ed25519 AAAA x'] }, access_until: '0001-01-01T00:00:00Z', expired: false };
  assert.deepEqual(normalizeSpec('user', user), { name: 'partner', grants: [{ bucket: 'reports', access: 'read' }], access_keys: 1, sftp: { enabled: false } });
});

test('diffSpecs lists the changed fields, a tag as a field of its own', () => {
  const d = diffSpecs('bucket', bucket({ tags: { team: 'geo', cost: 'a' } }), bucket({ versioning: true, expiry_days: 30, tags: { team: 'geo', cost: 'b', 'cost.center': '7' } }));
  assert.deepEqual(d.map((c) => [c.label, showValue(c.path, c.from), showValue(c.path, c.to)]), [
    ['Versioning', 'off', 'on'],
    ['Tag cost', 'a', 'b'],
    ['Expire objects after (days)', '(none)', '30'],
    ['Tag cost.center', '(none)', '7'],
  ]);
});

test('re-apply keeps the fields the manager changed and takes the server\'s others', () => {
  const base = bucket({ tags: { team: 'geo' } });
  const mine = bucket({ expiry_days: 30, tags: { team: 'geo', owner: 'alice' } }); // alice: expiry, a new tag
  const theirs = bucket({ versioning: true, tags: { team: 'maps' } }); // bob: versioning, team
  const m = mergeSpecs('bucket', base, mine, theirs);
  assert.deepEqual(m.spec, bucket({ versioning: true, expiry_days: 30, tags: { team: 'maps', owner: 'alice' } }));
  assert.deepEqual(m.mine.map((c) => c.label).sort(), ['Expire objects after (days)', 'Tag owner']);
  assert.deepEqual(m.conflicts, []);
});

test('a field both changed keeps the manager\'s value and is reported', () => {
  const m = mergeSpecs('bucket', bucket({ expiry_days: 7 }), bucket({ expiry_days: 30 }), bucket({ expiry_days: 90 }));
  assert.equal(m.spec.expiry_days, 30);
  assert.deepEqual(m.conflicts.map((c) => [c.label, c.mine, c.theirs]), [['Expire objects after (days)', 30, 90]]);
});

test('a tag the manager removed stays removed; one the server removed stays removed', () => {
  const base = bucket({ tags: { a: '1', b: '2' } });
  const m = mergeSpecs('bucket', base, bucket({ tags: { b: '2' } }), bucket({ tags: { a: '1' } }));
  assert.equal(m.spec.tags, undefined);
});

test('a KMS key ARN does not outlive SSE-S3 chosen on the server', () => {
  const base = bucket({ encryption: { type: 'SSE-KMS', kms_key_arn: 'arn:aws:kms:eu-west-1:111122223333:key/a' } });
  const mine = bucket({ encryption: { type: 'SSE-KMS', kms_key_arn: 'arn:aws:kms:eu-west-1:111122223333:key/b' }, versioning: true });
  const theirs = bucket({ encryption: { type: 'SSE-S3' } });
  const m = mergeSpecs('bucket', base, mine, theirs);
  // The manager changed the ARN, so it is kept, with the type that goes with it left to the server: no ARN without KMS.
  assert.equal(m.spec.encryption.type, 'SSE-S3');
  assert.equal(m.spec.encryption.kms_key_arn, undefined);
  assert.equal(m.spec.versioning, true);
});

test('users: grants as a whole, the key serials always the server\'s', () => {
  const base = { name: 'p', grants: [{ bucket: 'a', access: 'read' }], access_keys: 1, sftp: { enabled: false } };
  const mine = { ...base, grants: [{ bucket: 'a', access: 'readwrite' }] };
  const theirs = { ...base, access_keys: 2, key_serials: [2, 1] };
  const m = mergeSpecs('user', base, mine, theirs);
  assert.deepEqual(m.spec, { name: 'p', grants: [{ bucket: 'a', access: 'readwrite' }], access_keys: 2, sftp: { enabled: false }, key_serials: [2, 1] });
  // A stale form's serials never undo a rotation.
  const stale = mergeSpecs('user', { ...base, key_serials: [1] }, { ...mine, key_serials: [0] }, { ...base, key_serials: [3] });
  assert.deepEqual(stale.spec.key_serials, [3]);
});

test('drafts hold no secrets and are kept per user, project, form and resource', () => {
  mem.clear();
  assert.deepEqual(withoutSecrets({ a: 1, secret_access_key: 'x', nested: [{ passphrase: 'p', keep: 2 }], password: 'q', token: 't' }), { a: 1, nested: [{ keep: 2 }] });
  const id = { user: 'alice', project: 'demo', form: 'bucket', resource: 'reports' };
  saveDraft(id, { kind: 'bucket', values: bucket({ versioning: true }), password: 'no' }, true, 1000);
  assert.equal(loadDraft({ ...id, user: 'bob' }, 2000), null);
  assert.equal(loadDraft({ ...id, project: 'other' }, 2000), null);
  assert.equal(loadDraft({ ...id, resource: 'logs' }, 2000), null);
  const d = loadDraft(id, 2000);
  assert.equal(d.values.versioning, true);
  assert.equal(d.password, undefined);
  assert.equal(d.savedAt, 1000);
  assert.ok(!mem.get(draftKey(id)).includes('"no"'));
  assert.deepEqual(openDrafts('alice', 'demo', 2000).map((x) => x.resource), ['reports']);
  markClosed(id, 2000);
  assert.deepEqual(openDrafts('alice', 'demo', 2000), []);
  assert.ok(loadDraft(id, 2000));
  assert.equal(loadDraft(id, 1000 + DRAFT_MAX_AGE_MS), null, 'too old');
  saveDraft(id, { kind: 'bucket', values: {} }, true, 5000);
  clearDraft(id);
  assert.equal(loadDraft(id, 6000), null);
});

test('the session warns 2 minutes before, or a quarter of a short lifetime', async () => {
  globalThis.window = globalThis;
  const { warnBefore, sessionChange } = await import('../../web/session.js');
  assert.equal(warnBefore(3600000), 120000);
  assert.equal(warnBefore(20000), 5000);
  assert.equal(warnBefore(2000), 1000);
  const a = { token: 't1', user: 'alice' };
  assert.equal(sessionChange(a, null), 'signed-out');
  assert.equal(sessionChange(null, a), 'signed-in');
  assert.equal(sessionChange(a, { token: 't2', user: 'alice' }), 'renewed');
  assert.equal(sessionChange(a, { token: 't2', user: 'bob' }), 'user-changed');
  assert.equal(sessionChange(a, a), '');
});

// A stand-in for Cognito's InitiateAuth endpoint: one refresh token is valid.
async function cognitoStandIn() {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      seen.push({ method: req.method, target: req.headers['x-amz-target'], type: req.headers['content-type'], body: JSON.parse(body) });
      const b = JSON.parse(body);
      res.setHeader('Content-Type', 'application/x-amz-json-1.1');
      if (req.headers['x-amz-target'] !== 'AWSCognitoIdentityProviderService.InitiateAuth' || b.AuthFlow !== 'REFRESH_TOKEN_AUTH' || b.ClientId !== 'client-1') {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'InvalidParameterException', message: 'bad request' }));
        return;
      }
      if (b.AuthParameters?.REFRESH_TOKEN !== 'refresh-ok') {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'NotAuthorizedException', message: 'Refresh Token has expired' }));
        return;
      }
      res.end(JSON.stringify({ AuthenticationResult: { IdToken: 'id-2', AccessToken: 'access-2', ExpiresIn: 3600, TokenType: 'Bearer' }, ChallengeParameters: {} }));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/`, seen, close: () => new Promise((r) => server.close(r)) };
}

test('renewal trades the refresh token with Cognito\'s InitiateAuth', async () => {
  const cognito = await cognitoStandIn();
  try {
    const refresh = { url: cognito.url, client_id: 'client-1', token: 'refresh-ok' };
    const r = await renewWithRefreshToken(refresh);
    assert.deepEqual(r, { token: 'id-2', expiresIn: 3600, refresh });
    assert.deepEqual(cognito.seen[0], {
      method: 'POST', target: 'AWSCognitoIdentityProviderService.InitiateAuth', type: 'application/x-amz-json-1.1',
      body: { AuthFlow: 'REFRESH_TOKEN_AUTH', ClientId: 'client-1', AuthParameters: { REFRESH_TOKEN: 'refresh-ok' } },
    });
    await assert.rejects(renewWithRefreshToken({ ...refresh, token: 'revoked' }), /NotAuthorizedException: Refresh Token has expired/);
    await assert.rejects(renewWithRefreshToken({ ...refresh, token: '' }), /no refresh token/);
    assert.equal(renewRequest(refresh).init.credentials, 'omit');
  } finally {
    await cognito.close();
  }
});

test('a 401 waits for signing in again, then the request is sent once more', async () => {
  const { request, session, setUnauthorizedHandler } = await import('../../web/api.js');
  session.set('old', 'alice', 3600);
  const sent = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (_url, init) => {
    sent.push(init.headers.Authorization);
    const ok = init.headers.Authorization === 'Bearer new';
    return new Response(ok ? '{"ok":true}' : '{"title":"Unauthorized"}', { status: ok ? 200 : 401 });
  };
  try {
    let asked = 0;
    setUnauthorizedHandler(async (_err, token) => {
      asked++;
      assert.equal(token, 'old');
      session.set('new', 'alice', 3600);
      return true;
    });
    assert.deepEqual(await request('GET', '/api/me'), { ok: true });
    assert.deepEqual(sent, ['Bearer old', 'Bearer new']);
    assert.equal(asked, 1);
    // Put off: the 401 stands.
    session.set('old', 'alice', 3600);
    setUnauthorizedHandler(async () => false);
    await assert.rejects(request('GET', '/api/me'), (err) => err.status === 401);
  } finally {
    globalThis.fetch = realFetch;
    session.clear();
  }
});

test('signing out revokes the refresh token with Cognito\'s RevokeToken', async () => {
  const { revokeRefreshToken, revokeRequest } = await import('../../web/cognito.js');
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const b = JSON.parse(body);
      seen.push({ target: req.headers['x-amz-target'], type: req.headers['content-type'], body: b });
      res.setHeader('Content-Type', 'application/x-amz-json-1.1');
      if (req.headers['x-amz-target'] !== 'AWSCognitoIdentityProviderService.RevokeToken' || b.ClientId !== 'client-1') {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'InvalidParameterException', message: 'bad request' }));
        return;
      }
      if (b.Token !== 'refresh-ok') {
        res.statusCode = 400;
        res.end(JSON.stringify({ __type: 'UnauthorizedException', message: 'Invalid token' }));
        return;
      }
      res.end('{}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/`;
  try {
    const refresh = { url, client_id: 'client-1', token: 'refresh-ok' };
    assert.equal(await revokeRefreshToken(refresh), true);
    assert.deepEqual(seen[0], {
      target: 'AWSCognitoIdentityProviderService.RevokeToken', type: 'application/x-amz-json-1.1',
      body: { ClientId: 'client-1', Token: 'refresh-ok' },
    });
    // Refused, unreachable or without a token: false, never a rejection.
    assert.equal(await revokeRefreshToken({ ...refresh, token: 'other' }), false);
    assert.equal(await revokeRefreshToken({ ...refresh, url: 'http://127.0.0.1:1/' }), false);
    assert.equal(await revokeRefreshToken({ ...refresh, token: '' }), false);
    assert.equal(seen.length, 2);
    const { init } = revokeRequest(refresh);
    assert.equal(init.credentials, 'omit');
    assert.equal(init.keepalive, true);
  } finally {
    await new Promise((r) => server.close(r));
  }
});
