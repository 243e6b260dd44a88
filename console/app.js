// The console's entry: signs in (or finishes signing in), learns who the
// user is and what the token allows, draws the header and routes
// /console/... paths to their views.

import { accessToken, completeSignIn, hasScope, signIn, signOut, signedIn } from './auth.js';
import { append, clear, h } from './dom.js';
import { clientsPage } from './clients.js';
import { createPage } from './client_form.js';
import { detailPage } from './client_detail.js';
import { sessionsPage } from './sessions.js';
import { usersPage } from './users.js';
import { auditPage } from './audit.js';

const main = document.getElementById('main');
const top = document.getElementById('top');

export const ctx = {
  me: { sub: '', username: '' },
  canRead: false,
  canWrite: false,
  canRevoke: false,
  canAudit: false,
  canUsers: false,
  canUsersWrite: false,
  flash: '',
  // Run when the view changes (a page's live feed, say).
  cleanup: [],
  navigate,
};

export function navigate(path, replace) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  route();
}

function fail(title, text, retry) {
  clear(main);
  append(main, [
    h('h1', {}, title),
    h('p', { class: 'message error', role: 'alert' }, text),
    retry ? h('div', { class: 'actions' }, h('button', { type: 'button', onclick: retry }, 'Sign in again')) : null,
  ]);
}

function header() {
  clear(top);
  const role = ctx.canWrite ? 'admin' : ctx.canRead ? 'read-only' : 'no access';
  const link = (path, text) => h('a', {
    href: path,
    'data-nav': '',
    'aria-current': location.pathname.startsWith(path) ? 'page' : null,
  }, text);
  append(top, h('div', { class: 'bar' },
    h('a', { class: 'brand', href: '/console/clients', 'data-nav': '' }, 'authlog'),
    ctx.canRead ? h('nav', { 'aria-label': 'Console' },
      link('/console/clients', 'Clients'),
      link('/console/sessions', 'Sessions'),
      ctx.canUsers ? link('/console/users', 'Users') : null,
      ctx.canAudit ? link('/console/audit', 'Audit') : null) : null,
    h('div', { class: 'who' },
      h('span', { id: 'whoami' }, ctx.me.username || ctx.me.sub),
      h('span', { class: 'badge', id: 'role-badge' }, role),
      h('button', { type: 'button', class: 'secondary', id: 'sign-out', onclick: doSignOut }, 'Sign out'))));
}

async function doSignOut() {
  try {
    await signOut();
  } catch (e) {
    fail('Sign-out incomplete', `The refresh token could not be revoked: ${e.message}`);
    return;
  }
  clear(top);
  clear(main);
  history.replaceState(null, '', '/console/signed-out');
  append(main, [
    h('h1', { id: 'signed-out' }, 'Signed out'),
    h('p', {}, 'The console\u2019s tokens are revoked. Your authlog session may still be open; ',
      h('a', { href: '/oauth/logout' }, 'end it'), ' to sign out everywhere.'),
    h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => signIn('/console/clients') }, 'Sign in')),
  ]);
}

function noAccess() {
  clear(main);
  append(main, [
    h('h1', { id: 'no-access' }, 'No access'),
    h('p', {}, 'You are signed in as ', h('strong', {}, ctx.me.username || ctx.me.sub),
      ', a member. The console is for admins and auditors; ask an admin to give you one of those roles.'),
  ]);
}

function notFound() {
  clear(main);
  append(main, [h('h1', {}, 'Not found'), h('p', {}, 'There is no console page here. '), h('a', { href: '/console/clients', 'data-nav': '' }, 'Go to the clients')]);
}

export function route() {
  for (const stop of ctx.cleanup.splice(0)) stop();
  header();
  const path = location.pathname.replace(/\/+$/, '');
  if (!ctx.canRead) return noAccess();
  if (path === '/console' || path === '/console/callback') return navigate('/console/clients', true);
  if (path === '/console/clients') return clientsPage(main, ctx);
  if (path === '/console/clients/new') return createPage(main, ctx);
  if (path === '/console/sessions') return sessionsPage(main, ctx);
  if (path === '/console/users' && ctx.canUsers) return usersPage(main, ctx);
  if (path === '/console/audit' && ctx.canAudit) return auditPage(main, ctx);
  const detail = path.match(/^\/console\/clients\/([^/]+)$/);
  if (detail) return detailPage(main, ctx, decodeURIComponent(detail[1]));
  return notFound();
}

async function whoAmI() {
  ctx.canRead = hasScope('clients:read');
  ctx.canWrite = hasScope('clients:write');
  ctx.canRevoke = hasScope('tokens:revoke');
  ctx.canAudit = hasScope('audit:read');
  ctx.canUsers = hasScope('users:read');
  ctx.canUsersWrite = hasScope('users:write');
  const response = await fetch('/oauth/userinfo', {
    headers: { Authorization: `Bearer ${accessToken()}` },
    cache: 'no-store',
  });
  if (!response.ok) throw new Error(`userinfo answered ${response.status}`);
  const info = await response.json();
  ctx.me = { sub: info.sub, username: info.preferred_username || info.sub };
}

async function start() {
  const url = new URL(location.href);
  if (url.pathname === '/console/callback') {
    try {
      const back = await completeSignIn(url.searchParams);
      history.replaceState(null, '', back && back.startsWith('/console') && back !== '/console/callback' ? back : '/console/clients');
    } catch (e) {
      fail('Sign-in failed', e.message, () => signIn('/console/clients'));
      return;
    }
  } else if (url.pathname === '/console/signed-out' && !signedIn()) {
    await signIn('/console/clients');
    return;
  } else if (!signedIn()) {
    await signIn(url.pathname + url.search);
    return;
  }
  try {
    await whoAmI();
  } catch (e) {
    fail('Sign-in failed', e.message, () => signIn('/console/clients'));
    return;
  }
  route();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-nav]');
  if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', route);
start().catch((e) => fail('The console failed to start', e.message));
