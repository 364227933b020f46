// Renewing a session on AWS without the password: Cognito's refresh token
// (kept from the sign-in, POST /auth/login) traded for a new ID token with
// InitiateAuth and the REFRESH_TOKEN_AUTH flow, the public app client's
// way (no client secret). Signing out revokes the refresh token
// (RevokeToken), so that a copy of it left behind cannot renew the
// session. Locally there is no refresh token; the session renews by
// signing in again (web/session.js).

/** RENEW_TIMEOUT_MS bounds one renewal request. */
export const RENEW_TIMEOUT_MS = 15000;

/**
 * cognitoRequest is a request of Cognito's user pools API (JSON 1.1
 * protocol) to url: operation named by target, with body. It sends no
 * cookies and is never cached.
 */
function cognitoRequest(url, target, body, extra = {}) {
  return {
    url,
    init: {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': `AWSCognitoIdentityProviderService.${target}`,
      },
      body: JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
      ...extra,
    },
  };
}

/**
 * renewRequest is the request that trades refresh = {url, client_id,
 * token} for new tokens: Cognito's InitiateAuth.
 */
export function renewRequest(refresh) {
  return cognitoRequest(refresh.url, 'InitiateAuth',
    { AuthFlow: 'REFRESH_TOKEN_AUTH', ClientId: refresh.client_id, AuthParameters: { REFRESH_TOKEN: refresh.token } });
}

/**
 * revokeRequest is the request that revokes refresh = {url, client_id,
 * token}: Cognito's RevokeToken. keepalive lets it finish while the page
 * signs out or unloads.
 */
export function revokeRequest(refresh) {
  return cognitoRequest(refresh.url, 'RevokeToken', { ClientId: refresh.client_id, Token: refresh.token }, { keepalive: true });
}

/**
 * revokeRefreshToken asks Cognito to revoke a refresh token (and the access
 * tokens issued with it). It resolves true when Cognito did, false when it
 * could not be asked or refused; it never rejects, since signing out must
 * not wait on it. An ID token already issued stays valid until it expires
 * (at most an hour): the console forgets it.
 */
export async function revokeRefreshToken(refresh, fetchFn = globalThis.fetch) {
  if (!refresh?.url || !refresh.client_id || !refresh.token) return false;
  const { url, init } = revokeRequest(refresh);
  try {
    const res = await fetchFn(url, { ...init, signal: AbortSignal.timeout(RENEW_TIMEOUT_MS) });
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * renewWithRefreshToken asks Cognito for a new ID token. It resolves with
 * {token, expiresIn (s), refresh} (refresh with Cognito's new refresh token
 * when it rotates them, else the same) or rejects with an Error whose
 * message says why (a refresh token that expired or was revoked is
 * Cognito's NotAuthorizedException).
 */
export async function renewWithRefreshToken(refresh, fetchFn = globalThis.fetch) {
  if (!refresh?.url || !refresh.client_id || !refresh.token) throw new Error('no refresh token');
  const { url, init } = renewRequest(refresh);
  let res;
  let body = null;
  try {
    res = await fetchFn(url, { ...init, signal: AbortSignal.timeout(RENEW_TIMEOUT_MS) });
    body = await res.json().catch(() => null);
  } catch {
    throw new Error('Cognito cannot be reached');
  }
  const result = body?.AuthenticationResult;
  if (!res.ok || !result?.IdToken) {
    const type = String(body?.__type || '').split('#').pop();
    throw new Error(`${type || `HTTP ${res.status}`}${body?.message ? `: ${body.message}` : ''}`);
  }
  return {
    token: result.IdToken,
    expiresIn: Number(result.ExpiresIn) || 0,
    refresh: { ...refresh, token: result.RefreshToken || refresh.token },
  };
}
