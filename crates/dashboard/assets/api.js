// The REST admin API and the dashboard session, from the page.
//
// The browser holds an HttpOnly session cookie (the page cannot read it) and, in this module's
// memory only, the CSRF token every write must carry. Neither the admin secret nor the token is
// ever written to storage: after a reload, GET session gives the token back while the cookie
// lives.

/** An error answer of the API: `status` and the server's `message`. */
export class ApiError extends Error {
  constructor(status, message, retryAfter, sessionEnded = status === 401) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.retryAfter = retryAfter;
    /** The session is over: the sign-in page is already showing, nothing else to say. */
    this.sessionEnded = sessionEnded;
  }
}

let csrfToken = null;
let sessionInfo = null;
const endedListeners = [];

/** Called when the API answers 401: the session expired or was signed out elsewhere. */
export function onSessionEnded(listener) {
  endedListeners.push(listener);
}

export function session() {
  return sessionInfo;
}

function keep(info) {
  csrfToken = info ? info.csrf_token : null;
  sessionInfo = info ? { expiresAt: info.expires_at, gatewayUrl: info.gateway_url || null } : null;
}

// The page is /dashboard/: the API is at ../api/ and the session at ./session, relative to it.
const SESSION_URL = 'session';
const API_BASE = '../api/';

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && typeof body.Message === 'string' && body.Message) message = body.Message;
    else if (body && typeof body.message === 'string' && body.message) message = body.message;
    else if (body && typeof body.error_description === 'string') message = body.error_description;
  } catch {
    // Not JSON: the status line says enough.
  }
  return new ApiError(response.status, message, response.headers.get('retry-after'));
}

async function send(method, url, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  try {
    return await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, `The control plane did not answer (${e.message}).`);
  }
}

/** Signs in with the admin secret; the secret goes no further than this request. */
export async function signIn(secret) {
  const response = await send('POST', SESSION_URL, { secret });
  if (!response.ok) throw await errorOf(response);
  const info = await response.json();
  keep(info);
  return info;
}

/** The current session, or null when the cookie is missing or expired. */
export async function resume() {
  const response = await send('GET', SESSION_URL);
  if (response.status === 401) {
    keep(null);
    return null;
  }
  if (!response.ok) throw await errorOf(response);
  const info = await response.json();
  keep(info);
  return info;
}

export async function signOut() {
  const response = await send('DELETE', SESSION_URL);
  keep(null);
  if (!response.ok && response.status !== 401) throw await errorOf(response);
}

/** Encodes one path segment. */
export function seg(value) {
  return encodeURIComponent(String(value));
}

/** An admin API call: the parsed JSON answer (null when empty). Throws ApiError. */
export async function call(method, path, body) {
  const response = await send(method, API_BASE + path, body);
  if (response.status === 401) {
    const error = await errorOf(response);
    // A 401 may be the call's own answer (revoke_all with a wrong client secret): the
    // session has ended only if the control plane says so.
    let live = null;
    try {
      live = await resume();
    } catch {
      live = null;
    }
    if (live) throw new ApiError(error.status, error.message, error.retryAfter, false);
    keep(null);
    for (const listener of endedListeners) listener(error);
    throw error;
  }
  if (!response.ok) throw await errorOf(response);
  const text = await response.text();
  const result = text ? JSON.parse(text) : null;
  const revision = response.headers.get('gatehouse-revision');
  if (revision && result && typeof result === 'object') {
    Object.defineProperty(result, 'revision', { value: revision, enumerable: false });
  }
  return result;
}

/** The "Try it" panel's request, which the control plane sends to the gateway: the gateway's
 * answer as `{request, status, content_type, body}`. */
export async function tryIt(body) {
  const response = await send('POST', 'try', body);
  if (response.status === 401) {
    const error = await errorOf(response);
    keep(null);
    for (const listener of endedListeners) listener(error);
    throw error;
  }
  if (!response.ok) throw await errorOf(response);
  return response.json();
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body === undefined ? {} : body);
export const put = (path, body) => call('PUT', path, body === undefined ? {} : body);
export const del = (path) => call('DELETE', path);

// Typed helpers over the routes the pages use (shapes in docs/openapi.json).

export async function listApis() {
  const answer = await get('apis');
  return (answer && answer.apis) || [];
}

export async function listPolicies() {
  const answer = await get('portal/policies');
  return (answer && answer.Data) || [];
}

/** Every client of one API: without ?p= the listing is complete (`pages` counts pages of 10). */
export async function listClients(apiId) {
  const answer = await get(`apis/oauth/${seg(apiId)}`);
  return (answer && answer.apps) || [];
}

/** Clients of every OAuth API, each with its API: [{api, client}]. */
export async function listAllClients(apis) {
  const oauthApis = (apis || (await listApis())).filter((a) => a.oauth);
  const lists = await Promise.all(oauthApis.map(async (api) => {
    const clients = await listClients(api.api_id);
    return clients.map((client) => ({ api, client }));
  }));
  return lists.flat();
}

export async function listUsers() {
  const answer = await get('users');
  return (answer && answer.users) || [];
}

export async function listGateways() {
  const answer = await get('gateways');
  return { gateways: (answer && answer.gateways) || [], revision: answer && answer.revision };
}
