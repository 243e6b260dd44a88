// The console's calls to authlog's admin and audit APIs: the bearer token
// from memory, one retry after a refresh on 401, and problem+json errors
// turned into ApiProblem (status, title, detail, field).

import { accessToken, refresh, signIn, signedIn } from './auth.js';

export class ApiProblem extends Error {
  constructor(status, body) {
    const detail = (body && (body.detail || body.error_description || body.title)) || `HTTP ${status}`;
    super(detail);
    this.status = status;
    this.title = (body && body.title) || `HTTP ${status}`;
    this.detail = detail;
    this.field = body && body.field;
  }
}

async function problemOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  return new ApiProblem(response.status, body);
}

// Sends a request; returns the Response when ok, throws ApiProblem otherwise.
export async function request(method, path, { body, headers } = {}) {
  const send = () => fetch(path, {
    method,
    cache: 'no-store',
    headers: {
      Authorization: `Bearer ${accessToken()}`,
      Accept: 'application/json',
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      ...(headers || {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  let response;
  try {
    response = await send();
    if (response.status === 401 && await refresh()) response = await send();
  } catch (e) {
    throw new ApiProblem(0, { title: 'Network error', detail: `authlog did not answer: ${e.message}` });
  }
  if (response.status === 401 && !signedIn()) {
    // The refresh token is gone too (expired, revoked): sign in again,
    // coming back to this page.
    signIn(location.pathname + location.search);
  }
  if (!response.ok) throw await problemOf(response);
  return response;
}

// A JSON call: { data, etag }.
export async function api(method, path, options) {
  const response = await request(method, path, options);
  const data = response.status === 204 ? null : await response.json();
  return { data, etag: response.headers.get('ETag') };
}

export const get = (path) => api('GET', path);
