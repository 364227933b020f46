// The REST client of docs/api.md: the bearer token, JSON bodies,
// If-Match, and RFC 9457 problems turned into ApiError.

const TOKEN_KEY = 'bucketdesk.token';
const USER_KEY = 'bucketdesk.user';

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

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  },
  get user() {
    return sessionStorage.getItem(USER_KEY) || '';
  },
  set(token, user) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, user);
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
  },
};

let onUnauthorized = () => {};

/** setUnauthorizedHandler sets what happens when the server answers 401 to a signed-in request. */
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
  const auth = opts.auth !== false;
  if (auth && session.token) headers.Authorization = `Bearer ${session.token}`;
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
    if (res.status === 401 && auth) onUnauthorized(err);
    throw err;
  }
  return data;
}

export const api = {
  login: (username, password) => request('POST', '/auth/login', { body: { username, password }, auth: false }),
  me: () => request('GET', '/api/me'),
  projects: () => request('GET', '/api/projects'),
  project: (p) => request('GET', `/api/projects/${enc(p)}`),
  list: (p, kind) => request('GET', `/api/projects/${enc(p)}/${kind}s`),
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
