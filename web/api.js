// The REST client of docs/api.md: the bearer token, JSON bodies,
// If-Match, and RFC 9457 problems turned into ApiError.

/** ApiError is a non-2xx answer; problem is its problem+json body (or a stand-in). */
export class ApiError extends Error {
  constructor(status, problem, headers) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.headers = headers;
  }

  /** kind is the last part of the problem type: invalid, locked, precondition… */
  get kind() {
    const t = this.problem.type || '';
    return t.startsWith('urn:bucketdesk:problem:') ? t.slice('urn:bucketdesk:problem:'.length) : '';
  }

  get retryAfter() {
    const v = this.headers?.get('Retry-After');
    return v ? Number(v) : 0;
  }
}

// The session is kept in localStorage, one JSON value, so that every tab
// of the browser shares it: signing in, renewing and signing out in one
// tab applies to all (web/session.js follows the storage events).
const SESSION_KEY = 'bucketdesk.session';

function readSession() {
  try {
    const v = JSON.parse(localStorage.getItem(SESSION_KEY) || 'null');
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {};
  }
}

// changed tells this tab (web/session.js): other tabs learn it from the storage event.
function changed() {
  globalThis.dispatchEvent?.(new Event('bucketdesk-session'));
}

export const session = {
  KEY: SESSION_KEY,
  get token() {
    return readSession().token || '';
  },
  get user() {
    return readSession().user || '';
  },
  /** expiresAt is when the token expires (ms since the epoch), 0 if unknown. */
  get expiresAt() {
    return Number(readSession().expires_at) || 0;
  },
  /** ttl is the lifetime the token was issued with, in ms (0 if unknown). */
  get ttl() {
    return Number(readSession().ttl) || 0;
  },
  /** refresh is {url, client_id, token} where the session renews without a password (Cognito), else null. */
  get refresh() {
    return readSession().refresh || null;
  },
  /** expired says whether the token's lifetime is over. */
  get expired() {
    const at = this.expiresAt;
    return Boolean(at) && Date.now() >= at;
  },
  /**
   * set keeps a new session: expiresIn in seconds (the login answer's
   * expires_in), refresh as for the refresh getter (kept from the current
   * session of the same user when not given).
   */
  set(token, user, expiresIn = 0, refresh = undefined) {
    const prev = readSession();
    const v = { token, user };
    if (expiresIn > 0) {
      v.expires_at = Date.now() + expiresIn * 1000;
      v.ttl = expiresIn * 1000;
    }
    const r = refresh === undefined && prev.user === user ? prev.refresh : refresh;
    if (r) v.refresh = r;
    localStorage.setItem(SESSION_KEY, JSON.stringify(v));
    changed();
  },
  clear() {
    localStorage.removeItem(SESSION_KEY);
    lists.clear();
    changed();
  },
};

let onUnauthorized = async () => false;

/**
 * setUnauthorizedHandler sets what happens when the server answers 401 to a
 * signed-in request: fn(err, token) with the token the request carried; a
 * promise of true (signed in again) has the request sent once more.
 */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

/** quoteETag makes an If-Match value of a version: "7". */
export function quoteETag(version) {
  return `"${version}"`;
}

/**
 * REQUEST_TIMEOUT_MS bounds one API request, answer included: on a network
 * that drops silently a request would otherwise hang for minutes (and a
 * resync behind it with it).
 */
export const REQUEST_TIMEOUT_MS = 30000;

/**
 * request sends one API request and resolves with the JSON body (or null).
 * opts: body (sent as JSON), ifMatch (a version), auth (default true),
 * timeoutMs (default REQUEST_TIMEOUT_MS).
 */
export async function request(method, path, opts = {}) {
  const headers = { Accept: 'application/json, application/problem+json' };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  if (opts.ifMatch !== undefined && opts.ifMatch !== null) headers['If-Match'] = quoteETag(opts.ifMatch);
  if (opts.ifNoneMatch) headers['If-None-Match'] = opts.ifNoneMatch;
  const auth = opts.auth !== false;
  const token = auth ? session.token : '';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  let text;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      cache: 'no-store',
      credentials: 'omit',
      signal: AbortSignal.timeout(opts.timeoutMs ?? REQUEST_TIMEOUT_MS),
    });
    text = await res.text();
  } catch (err) {
    if (err?.name === 'TimeoutError') {
      throw new ApiError(0, { title: 'Network error', detail: 'The server did not answer in time. Check your connection and try again.' });
    }
    throw new ApiError(0, { title: 'Network error', detail: 'The server cannot be reached. Check your connection and try again.' });
  }
  if (res.status === 304 && opts.ifNoneMatch) return NOT_MODIFIED;
  opts.onHeaders?.(res.headers);
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const problem = data && typeof data === 'object' ? data : { title: res.statusText, detail: text.slice(0, 300) };
    const err = new ApiError(res.status, problem, res.headers);
    // A 401 (the session ended): sign in again over the page, then send
    // the request once more; the server refuses before doing anything.
    if (res.status === 401 && auth && !opts.retried && await onUnauthorized(err, token)) {
      return request(method, path, { ...opts, retried: true });
    }
    throw err;
  }
  return data;
}

/** NOT_MODIFIED is what request answers to a 304 for its If-None-Match. */
const NOT_MODIFIED = Symbol('not modified');

// The last list of each project and kind read, with its ETag: a resync
// (every reconnect) asks with If-None-Match, and an unchanged list comes
// back as a 304 without a body.
const lists = new Map(); // path → {etag, data}

async function list(path) {
  const prev = lists.get(path);
  let etag = '';
  const data = await request('GET', path, { ifNoneMatch: prev?.etag, onHeaders: (h) => { etag = h.get('ETag') || ''; } });
  if (data === NOT_MODIFIED) return prev.data;
  if (etag) lists.set(path, { etag, data });
  else lists.delete(path);
  return data;
}

export const api = {
  login: (username, password) => request('POST', '/auth/login', { body: { username, password }, auth: false }),
  me: () => request('GET', '/api/me'),
  projects: () => request('GET', '/api/projects'),
  project: (p) => request('GET', `/api/projects/${enc(p)}`),
  list: (p, kind) => list(`/api/projects/${enc(p)}/${kind}s`),
  get: (p, kind, name) => request('GET', `/api/projects/${enc(p)}/${kind}s/${enc(name)}`),
  create: (p, kind, spec) => request('POST', `/api/projects/${enc(p)}/${kind}s`, { body: spec }),
  update: (p, kind, name, spec, version) => request('PUT', `/api/projects/${enc(p)}/${kind}s/${enc(name)}`, { body: spec, ifMatch: version }),
  remove: (p, kind, name, version) => request('DELETE', `/api/projects/${enc(p)}/${kind}s/${enc(name)}`, { ifMatch: version }),
  rotateKey: (p, name, key, version) => request('POST', `/api/projects/${enc(p)}/users/${enc(name)}/keys`, { body: { key }, ifMatch: version }),
  revealKey: (p, name, key) => request('POST', `/api/projects/${enc(p)}/users/${enc(name)}/keys/${key}/reveal`),
  operations: (p, limit = 20) => request('GET', `/api/projects/${enc(p)}/operations?limit=${limit}`),
  operation: (id) => request('GET', `/api/operations/${enc(id)}`),
  wsTicket: () => request('POST', '/api/ws-ticket'),
  // The local binary's sandbox only (me().sandbox).
  objects: (p, bucket) => request('GET', `/api/projects/${enc(p)}/sandbox/buckets/${enc(bucket)}/objects`),
  putObject: (p, bucket, key) => request('POST', `/api/projects/${enc(p)}/sandbox/buckets/${enc(bucket)}/objects`, { body: { key } }),
  emptyBucket: (p, bucket) => request('DELETE', `/api/projects/${enc(p)}/sandbox/buckets/${enc(bucket)}/objects`),
};

function enc(s) {
  return encodeURIComponent(s);
}
