// /console/sessions: connected apps grouped by client (user, scope, access,
// last used, expiry), with revoke one and revoke all of a client's.

import { api } from './api.js';
import { append, badge, clear, confirmDialog, fmtTime, h, messageBox } from './dom.js';

export function sessionsPage(main, ctx) {
  clear(main);
  const message = messageBox('sessions-message');
  const groups = h('div', { id: 'sessions' });
  append(main, [h('h1', {}, 'Sessions'), h('p', { class: 'muted' }, 'Every active token, grouped by the app it was issued to.'), message, groups]);

  async function revoke(path, method, done) {
    try {
      const { data } = await api(method, path);
      message.show(done(data), 'note');
      load();
    } catch (e) {
      message.show(`Not revoked: ${e.message}`);
    }
  }

  async function load() {
    try {
      const { data } = await api('GET', '/api/admin/sessions');
      clear(groups);
      if (!data.items.length) append(groups, h('p', { class: 'muted' }, 'No active token.'));
      for (const g of data.items) {
        const title = g.client_name || g.client_id;
        append(groups, h('section', { class: 'session-group', 'data-client-id': g.client_id, 'aria-label': title },
          h('div', { class: 'section-head' },
            h('h2', {}, h('a', { href: `/console/clients/${encodeURIComponent(g.client_id)}`, 'data-nav': '' }, title), ' ', badge(`${g.active_tokens} active`)),
            ctx.canRevoke ? h('button', {
              type: 'button', class: 'danger small', 'aria-label': `Revoke every token of ${title}`,
              onclick: async () => {
                if (!await confirmDialog({ title: `Revoke every token of ${title}?`, text: 'Every person and service using it is signed out of it now.', confirmLabel: 'Revoke all', danger: true })) return;
                revoke(`/api/admin/oauth-clients/${encodeURIComponent(g.client_id)}/tokens/revoke-all`, 'POST', (d) => `Revoked ${d.revoked} token${d.revoked === 1 ? '' : 's'} of ${title}.`);
              },
            }, 'Revoke all') : null),
          h('div', { class: 'table-wrap' }, h('table', {},
            h('thead', {}, h('tr', {}, ['User', 'Kind', 'Scope', 'Access', 'Last used', 'Expires'].map((t) => h('th', { scope: 'col' }, t)),
              ctx.canRevoke ? h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Revoke')) : null)),
            h('tbody', {}, g.tokens.map((t) => h('tr', { 'data-token-id': t.token_id },
              h('td', {}, t.username || (t.subject ? t.subject : h('span', { class: 'muted' }, 'the app itself'))),
              h('td', {}, t.kind),
              h('td', {}, t.scope || '—'),
              h('td', {}, t.access === 'full' ? 'full' : 'read-only'),
              h('td', {}, fmtTime(t.last_used_at)),
              h('td', {}, fmtTime(t.expires_at)),
              ctx.canRevoke ? h('td', {}, h('button', {
                type: 'button', class: 'secondary small', 'aria-label': `Revoke token ${t.token_id}`,
                onclick: () => revoke(`/api/admin/tokens/${encodeURIComponent(t.token_id)}`, 'DELETE', () => 'Token revoked.'),
              }, 'Revoke')) : null)))))));
      }
    } catch (e) {
      message.show(`The sessions could not be listed: ${e.message}`);
    }
  }
  load();
}
