// /console/clients/{id}: every setting, the edit form (If-Match; a stale
// edit shows the 412 with "Reload"), rotate secret, pause/resume, delete,
// the active tokens with revoke one/all, the audit timeline and failed
// authentications.

import { api } from './api.js';
import { append, badge, clear, confirmDialog, fmtTime, h, messageBox, secretBox } from './dom.js';
import { clientType, grantLabel, registrationLabel } from './clients.js';
import { clientForm, showProblem } from './client_form.js';
import { actorName } from './actors.js';

function settings(c) {
  const list = (v) => (v && v.length ? v.join(', ') : '—');
  const rows = [
    ['Client id', h('code', { id: 'detail-client-id' }, c.client_id)],
    ['Name', c.client_name],
    ['Description', c.description || '—'],
    ['Type', clientType(c)],
    ['Registered by', registrationLabel(c.registration_type)],
    ['Status', c.status],
    ['Grant types', c.grant_types.map(grantLabel).join(', ') || '—'],
    ['Redirect URIs', list(c.redirect_uris)],
    ['Post-logout redirect URIs', list(c.post_logout_redirect_uris)],
    ['CORS origins', list(c.allowed_cors_origins)],
    ['Scopes', c.scope || '—'],
    ['Access', c.access_preset === 'full' ? 'full' : 'read-only'],
    ['Team selection', c.team_selection],
    ['Team restrictions', list(c.team_restrictions)],
    ['Access-token lifetime', `${c.access_token_ttl_seconds} s`],
    ['Refresh tokens', c.refresh_token_enabled ? `yes, ${Math.round(c.refresh_token_ttl_seconds / 86400 * 10) / 10} days` : 'no'],
    ['Require consent', c.require_consent ? 'yes' : 'no'],
    ['Token endpoint auth', c.token_endpoint_auth_method],
    ['Access-token format', c.access_token_format],
    ['ID-token algorithm', c.id_token_signed_response_alg],
    ['Previous secret valid until', c.previous_secret_expires_at ? fmtTime(c.previous_secret_expires_at) : '—'],
    ['Created', fmtTime(c.created_at)],
    ['Updated', fmtTime(c.updated_at)],
    ['Version', String(c.version)],
  ];
  return h('dl', { class: 'settings', id: 'settings' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export async function detailPage(main, ctx, id) {
  clear(main);
  const path = `/api/admin/oauth-clients/${encodeURIComponent(id)}`;
  const message = messageBox('detail-message');
  let client;
  let etag;
  try {
    ({ data: client, etag } = await api('GET', path));
  } catch (e) {
    append(main, [h('h1', {}, 'Client'), message]);
    message.show(e.status === 404 ? `No client ${id}.` : `The client could not be read: ${e.message}`);
    return;
  }
  const reload = () => detailPage(main, ctx, id);

  const actions = h('div', { class: 'actions', role: 'group', 'aria-label': 'Client actions' });
  if (ctx.canWrite) {
    const active = client.status === 'active';
    append(actions, [
      h('button', {
        type: 'button', role: 'switch', 'aria-checked': String(active), class: `switch ${active ? 'on' : ''}`, id: 'status-toggle',
        onclick: async () => {
          const pausing = client.status === 'active';
          const ok = await confirmDialog({
            title: pausing ? `Pause ${client.client_name}?` : `Resume ${client.client_name}?`,
            text: pausing ? 'Its tokens stop working and it cannot get new ones until it is resumed.' : 'Its unexpired tokens work again.',
            confirmLabel: pausing ? 'Pause' : 'Resume',
            danger: pausing,
          });
          if (!ok) return;
          try {
            await api('POST', `${path}/${pausing ? 'pause' : 'resume'}`);
            reload();
          } catch (e) {
            message.show(`Not ${pausing ? 'paused' : 'resumed'}: ${e.message}`);
          }
        },
      }, h('span', { class: 'knob', 'aria-hidden': 'true' }), active ? 'Active' : 'Paused'),
      client.token_endpoint_auth_method !== 'none' ? h('button', { type: 'button', class: 'secondary', id: 'rotate-secret', onclick: rotate }, 'Rotate secret') : null,
      h('button', { type: 'button', class: 'danger', id: 'delete-client', onclick: remove }, 'Delete'),
    ]);
  }
  const secretSlot = h('div', { id: 'rotated' });

  async function rotate() {
    const grace = h('select', { id: 'grace' },
      [['0', 'No grace: the old secret stops now'], ['3600', '1 hour'], ['86400', '1 day'], ['604800', '7 days'], ['2592000', '30 days']]
        .map(([v, t]) => h('option', { value: v, selected: v === '86400' ? true : null }, t)));
    const ok = await confirmDialog({
      title: `Rotate the secret of ${client.client_name}?`,
      text: 'A new secret is made and shown once. The old one keeps working for the grace period.',
      confirmLabel: 'Rotate',
      danger: true,
      typeToConfirm: client.client_name,
      extra: [h('label', { for: 'grace' }, 'Old secret keeps working for'), grace],
    });
    if (!ok) return;
    try {
      const { data } = await api('POST', `${path}/rotate-secret`, { body: { previous_secret_valid_for_seconds: Number(grace.value) } });
      clear(secretSlot);
      append(secretSlot, [h('h2', {}, 'New secret'), secretBox(data.client_secret, 'new client secret'),
        data.previous_secret_expires_at ? h('p', { class: 'muted' }, `The previous secret works until ${fmtTime(data.previous_secret_expires_at)}.`) : null]);
      message.show('Secret rotated.', 'note');
      secretSlot.scrollIntoView();
      secretSlot.querySelector('#copy-secret').focus();
    } catch (e) {
      message.show(`Not rotated: ${e.message}`);
    }
  }

  async function remove() {
    const ok = await confirmDialog({
      title: `Delete ${client.client_name}?`,
      text: 'The client is deleted and every token it holds is revoked. This cannot be undone.',
      confirmLabel: 'Delete',
      danger: true,
      typeToConfirm: client.client_name,
    });
    if (!ok) return;
    try {
      await api('DELETE', path);
      ctx.flash = `Deleted ${client.client_name} (${client.client_id}).`;
      ctx.navigate('/console/clients');
    } catch (e) {
      message.show(`Not deleted: ${e.message}`);
    }
  }

  // Tokens.
  const tokensBody = h('tbody');
  const tokensMessage = messageBox('tokens-message');
  async function loadTokens() {
    try {
      const { data } = await api('GET', `${path}/tokens?limit=100`);
      clear(tokensBody);
      if (!data.items.length) append(tokensBody, h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No active token.')));
      for (const t of data.items) {
        append(tokensBody, h('tr', { 'data-token-id': t.token_id },
          h('td', {}, h('code', {}, t.token_id)),
          h('td', {}, t.kind || t.token_type || ''),
          h('td', {}, t.scope || (t.scopes || []).join(' ')),
          h('td', {}, fmtTime(t.issued_at)),
          h('td', {}, fmtTime(t.expires_at)),
          ctx.canRevoke ? h('td', {}, h('button', {
            type: 'button', class: 'secondary small', 'aria-label': `Revoke token ${t.token_id}`,
            onclick: async () => {
              try {
                await api('DELETE', `/api/admin/tokens/${encodeURIComponent(t.token_id)}`);
                tokensMessage.show('Token revoked.', 'note');
                loadTokens();
              } catch (e) {
                tokensMessage.show(`Not revoked: ${e.message}`);
              }
            },
          }, 'Revoke')) : null));
      }
    } catch (e) {
      tokensMessage.show(`The tokens could not be listed: ${e.message}`);
    }
  }
  const revokeAll = ctx.canRevoke ? h('button', {
    type: 'button', class: 'danger small', id: 'revoke-all',
    onclick: async () => {
      const ok = await confirmDialog({ title: 'Revoke every token?', text: `Every active token of ${client.client_name} stops working now.`, confirmLabel: 'Revoke all', danger: true });
      if (!ok) return;
      try {
        const { data } = await api('POST', `${path}/tokens/revoke-all`);
        tokensMessage.show(`Revoked ${data.revoked} token${data.revoked === 1 ? '' : 's'}.`, 'note');
        loadTokens();
      } catch (e) {
        tokensMessage.show(`Not revoked: ${e.message}`);
      }
    },
  }, 'Revoke all') : null;

  // Audit timeline and failed authentications.
  const timeline = h('ol', { class: 'timeline', id: 'timeline' });
  const auditMessage = messageBox('audit-message');
  const failures = h('p', { id: 'failures', class: 'muted' });
  async function loadAudit() {
    if (!ctx.canAudit) {
      auditMessage.show('The audit trail needs the audit:read scope.', 'note');
      return;
    }
    try {
      const [{ data: events }, { data: summary }] = await Promise.all([
        api('GET', `/api/audit/events?client_id=${encodeURIComponent(id)}&limit=50`),
        api('GET', `/api/audit/clients/${encodeURIComponent(id)}`),
      ]);
      failures.textContent = `Failed authentications: ${summary.failed_authentications}; failed logins: ${summary.failed_logins}. Tokens issued: ${summary.tokens.issued}, revoked: ${summary.tokens.revoked}.`;
      loadFailures();
      clear(timeline);
      if (!events.items.length) append(timeline, h('li', { class: 'empty' }, 'No event.'));
      for (const ev of events.items) {
        const who = h('span', { class: 'actor' }, ev.actor.principal);
        append(timeline, h('li', { 'data-type': ev.type, 'data-position': ev.position },
          h('time', { datetime: ev.time }, fmtTime(ev.time)), ' ',
          h('strong', { class: 'event-type' }, ev.type), ' by ', who,
          ev.actor.via_client ? h('span', { class: 'muted' }, ` via ${ev.actor.via_client}`) : null));
        actorName(ctx, ev.actor).then((name) => { who.textContent = name; });
      }
    } catch (e) {
      auditMessage.show(`The audit trail could not be read: ${e.message}`);
    }
  }

  // Failed authentications: each refusal, and the periodic summaries.
  const failedList = h('ul', { class: 'timeline', id: 'failed-auth' });
  async function loadFailures() {
    try {
      const types = 'type=ClientAuthenticationFailed&type=AuthenticationFailures&type=LoginFailed';
      const { data } = await api('GET', `/api/audit/events?client_id=${encodeURIComponent(id)}&${types}&limit=20`);
      clear(failedList);
      if (!data.items.length) append(failedList, h('li', { class: 'empty' }, 'No failed authentication recorded.'));
      for (const ev of data.items) {
        const s = ev.summary || {};
        const detail = s.reason || (s.failures !== undefined ? `${s.failures} failure${s.failures === 1 ? '' : 's'}${s.throttled ? `, ${s.throttled} throttled` : ''}` : '');
        append(failedList, h('li', { 'data-type': ev.type },
          h('time', { datetime: ev.time }, fmtTime(ev.time)), ' ', h('strong', {}, ev.type), detail ? ` — ${detail}` : '',
          ev.actor.ip ? h('span', { class: 'muted' }, ` from ${ev.actor.ip}`) : null));
      }
    } catch (e) {
      auditMessage.show(`The failed authentications could not be read: ${e.message}`);
    }
  }

  // Edit.
  const editMessage = messageBox('edit-message');
  const edit = ctx.canWrite ? h('details', { class: 'edit', id: 'edit' },
    h('summary', {}, 'Edit settings'),
    editMessage,
    clientForm(client, async (body) => {
      try {
        const { data } = await api('PATCH', path, { body, headers: { 'If-Match': etag } });
        ctx.flash = '';
        message.show(`Saved (version ${data.version}).`, 'note');
        detailPage(main, ctx, id).then(() => {
          const m = main.querySelector('#detail-message');
          if (m) m.show(`Saved (version ${data.version}).`, 'note');
        });
      } catch (e) {
        if (e.status === 412) {
          const form = main.querySelector('#edit form');
          showProblem(form, form.querySelector('#form-message'), {
            title: 'Changed by someone else',
            detail: 'this client was changed since you opened it (412). Reload to see the current settings, then edit again.',
          }, h('button', { type: 'button', id: 'reload-client', class: 'secondary small', onclick: reload }, 'Reload'));
          return;
        }
        throw e;
      }
    }, 'Save changes')) : null;

  append(main, [
    h('p', {}, h('a', { href: '/console/clients', 'data-nav': '' }, '← Clients')),
    h('div', { class: 'page-head' },
      h('h1', { id: 'client-title' }, client.client_name, ' ',
        badge(client.status, client.status),
        client.registration_type === 'default' ? [' ', badge('default', 'default')] : null),
      actions),
    message,
    secretSlot,
    h('section', { 'aria-labelledby': 'settings-title' }, h('h2', { id: 'settings-title' }, 'Settings'), settings(client)),
    edit,
    h('section', { 'aria-labelledby': 'tokens-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'tokens-title' }, `Active tokens (${client.active_token_count})`), revokeAll),
      tokensMessage,
      h('div', { class: 'table-wrap' }, h('table', { id: 'tokens-table' },
        h('thead', {}, h('tr', {}, ['Token id', 'Kind', 'Scope', 'Issued', 'Expires'].map((t) => h('th', { scope: 'col' }, t)), ctx.canRevoke ? h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Revoke')) : null)),
        tokensBody))),
    h('section', { 'aria-labelledby': 'audit-title' },
      h('h2', { id: 'audit-title' }, 'Audit timeline'), failures, auditMessage, timeline),
    ctx.canAudit ? h('section', { 'aria-labelledby': 'failed-title' },
      h('h2', { id: 'failed-title' }, 'Failed authentications'), failedList) : null,
  ]);
  await Promise.all([loadTokens(), loadAudit()]);
}
