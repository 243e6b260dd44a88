// Signing in to the console as the public client authlog-console:
// authorization code + PKCE S256 through authlog's login and consent pages.
// The tokens live in this module's memory only; sessionStorage holds the
// PKCE verifier, state and return path during the redirect and nothing else.

const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;

export const issuer = meta('authlog-issuer').replace(/\/$/, '');
export const clientId = meta('authlog-client-id');
const redirectUri = `${issuer}/console/callback`;
const SCOPES = 'clients:read clients:write tokens:revoke audit:read users:read users:write profile email';
const PENDING = 'authlog.console.pkce';

let session = null;
let refreshing = null;

function b64url(bytes) {
  let text = '';
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomText(n) {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

// Goes to the authorization endpoint; the browser leaves the page.
export async function signIn(returnTo) {
  const verifier = randomText(32);
  const state = randomText(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, returnTo }));
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const params = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    scope: SCOPES,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  location.assign(`/oauth/authorize?${params}`);
}

async function tokenRequest(form) {
  const response = await fetch('/oauth/token', {
    method: 'POST',
    cache: 'no-store',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
    body: new URLSearchParams({ client_id: clientId, ...form }),
  });
  let body = {};
  try {
    body = await response.json();
  } catch (e) {
    body = {};
  }
  if (!response.ok) {
    throw new Error(body.error_description || body.error || `the token endpoint answered ${response.status}`);
  }
  return body;
}

function accept(tokens) {
  if (session && session.timer) clearTimeout(session.timer);
  const lifetime = Number(tokens.expires_in) || 300;
  session = {
    access: tokens.access_token,
    refresh: tokens.refresh_token || (session && session.refresh),
    scopes: new Set((tokens.scope || '').split(' ').filter(Boolean)),
    timer: setTimeout(() => { refresh(); }, Math.max(10, lifetime * 0.8) * 1000),
  };
}

// Back from the authorization endpoint: checks state and iss, redeems the
// code. Returns the path the sign-in started from.
export async function completeSignIn(params) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  if (params.get('error')) {
    throw new Error(params.get('error_description') || params.get('error'));
  }
  if (!pending || params.get('state') !== pending.state) {
    throw new Error('this sign-in was not started here (state mismatch)');
  }
  if (params.get('iss') && params.get('iss').replace(/\/$/, '') !== issuer) {
    throw new Error('the answer came from another issuer');
  }
  accept(await tokenRequest({
    grant_type: 'authorization_code',
    code: params.get('code') || '',
    redirect_uri: redirectUri,
    code_verifier: pending.verifier,
  }));
  return pending.returnTo;
}

// Refreshes the tokens (one refresh at a time: a refresh token is used once).
export function refresh() {
  if (!session || !session.refresh) return Promise.resolve(false);
  if (!refreshing) {
    const token = session.refresh;
    refreshing = tokenRequest({ grant_type: 'refresh_token', refresh_token: token })
      .then((tokens) => { accept(tokens); return true; })
      .catch(() => { session = null; return false; })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

// Revokes the refresh token (and with it its grant) and forgets the tokens.
export async function signOut() {
  const current = session;
  session = null;
  if (!current) return;
  clearTimeout(current.timer);
  if (current.refresh) {
    const response = await fetch('/oauth/revoke', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: clientId, token: current.refresh, token_type_hint: 'refresh_token' }),
    });
    if (!response.ok) throw new Error(`revocation answered ${response.status}`);
  }
}

export const signedIn = () => session !== null;
export const accessToken = () => (session ? session.access : '');
export const hasScope = (scope) => !!session && session.scopes.has(scope);

// Tokens that leave memory are revoked: leaving or reloading the page
// would otherwise orphan a live refresh token. A page restored from the
// back/forward cache signs in afresh.
window.addEventListener('pagehide', () => {
  if (!session || !session.refresh) return;
  clearTimeout(session.timer);
  navigator.sendBeacon('/oauth/revoke', new URLSearchParams({ client_id: clientId, token: session.refresh, token_type_hint: 'refresh_token' }));
  session = null;
});
window.addEventListener('pageshow', (e) => {
  if (e.persisted && !session) location.reload();
});
