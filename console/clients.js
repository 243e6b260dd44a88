// /console/clients: the clients table with search, filters, paging,
// selection for bulk delete, and export (CSV, JSON, XLSX, PDF).

import { api, request } from './api.js';
import { append, badge, clear, confirmDialog, download, fmtTime, h, messageBox } from './dom.js';

const REGISTRATION = { preregistered: 'admin', dynamic: 'dynamic', cimd: 'metadata document', default: 'default' };
const GRANT_LABEL = {
  authorization_code: 'code',
  refresh_token: 'refresh',
  client_credentials: 'client credentials',
  'urn:ietf:params:oauth:grant-type:device_code': 'device',
};
const PAGE = 25;

export const grantLabel = (g) => GRANT_LABEL[g] || g;
export const registrationLabel = (r) => REGISTRATION[r] || r;
export const clientType = (c) => (c.token_endpoint_auth_method === 'none' ? 'public' : 'confidential');

function select(id, label, options, value) {
  return [
    h('label', { for: id }, label),
    h('select', { id, name: id },
      options.map(([v, text]) => h('option', { value: v, selected: v === value ? true : null }, text))),
  ];
}

export function clientsPage(main, ctx) {
  const filters = { q: '', status: '', grant_type: '', registration_type: '', scope: '', team: '' };
  const cursors = [''];
  const selected = new Set();
  const message = messageBox('list-message');
  const tbody = h('tbody');
  const pager = h('div', { class: 'pager' });
  const deleteButton = ctx.canWrite
    ? h('button', { type: 'button', class: 'danger', id: 'bulk-delete', disabled: true, onclick: bulkDelete }, 'Delete selected')
    : null;
  const selectAll = ctx.canWrite
    ? h('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'Select every client on this page' })
    : null;
  let rows = [];

  clear(main);
  if (ctx.flash) {
    message.show(ctx.flash, 'note');
    ctx.flash = '';
  }

  const search = h('input', { type: 'search', id: 'f-q', name: 'q', placeholder: 'Name or client id', autocomplete: 'off' });
  const scope = h('input', { type: 'text', id: 'f-scope', name: 'scope', autocomplete: 'off' });
  const team = h('input', { type: 'text', id: 'f-team', name: 'team', autocomplete: 'off' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter clients' },
    h('div', { class: 'field grow' }, h('label', { for: 'f-q' }, 'Search'), search),
    h('div', { class: 'field' }, select('f-status', 'Status', [['', 'Any'], ['active', 'Active'], ['paused', 'Paused']], '')),
    h('div', { class: 'field' }, select('f-grant', 'Grant type',
      [['', 'Any'], ...Object.entries(GRANT_LABEL)], '')),
    h('div', { class: 'field' }, select('f-registration', 'Registered by',
      [['', 'Any'], ['preregistered', 'Admin'], ['dynamic', 'Dynamic'], ['cimd', 'Metadata document'], ['default', 'Default']], '')),
    h('div', { class: 'field' }, h('label', { for: 'f-scope' }, 'Scope'), scope),
    h('div', { class: 'field' }, h('label', { for: 'f-team' }, 'Team'), team),
    h('div', { class: 'field end' }, h('button', { type: 'submit' }, 'Apply')));
  let typing = null;
  search.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => form.requestSubmit(), 300);
  });
  // Selects apply at once; the search box applies as you type (its
  // change event on blur would otherwise start the pages over).
  form.addEventListener('change', (e) => { if (e.target !== search) form.requestSubmit(); });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    filters.q = search.value.trim();
    filters.status = form.querySelector('#f-status').value;
    filters.registration_type = form.querySelector('#f-registration').value;
    filters.grant_type = form.querySelector('#f-grant').value;
    filters.scope = scope.value.trim();
    filters.team = team.value.trim();
    cursors.length = 1;
    load();
  });

  const query = (extra) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries({ ...filters, ...extra })) if (v) params.set(k, v);
    return params.toString();
  };

  const exportButtons = ['csv', 'json', 'xlsx', 'pdf'].map((format) => h('button', {
    type: 'button',
    class: 'secondary',
    id: `export-${format}`,
    onclick: async () => {
      try {
        const response = await request('GET', `/api/admin/oauth-clients/export?${query({ format })}`);
        download(await response.blob(), `oauth-clients.${format}`);
      } catch (e) {
        message.show(`Export failed: ${e.message}`);
      }
    },
  }, format.toUpperCase()));

  append(main, [
    h('div', { class: 'page-head' },
      h('h1', {}, 'Clients'),
      ctx.canWrite ? h('a', { class: 'button', href: '/console/clients/new', 'data-nav': '', id: 'new-client' }, 'New client') : null),
    form,
    h('div', { class: 'toolbar' },
      h('div', { class: 'group', role: 'group', 'aria-label': 'Export the filtered list' }, h('span', { class: 'muted' }, 'Export'), exportButtons),
      deleteButton),
    message,
    h('div', { class: 'table-wrap' },
      h('table', { class: 'clients', id: 'clients-table' },
        h('caption', { class: 'sr-only' }, 'OAuth clients'),
        h('thead', {}, h('tr', {},
          ctx.canWrite ? h('th', { scope: 'col' }, selectAll) : null,
          ['Name', 'Client id', 'Type', 'Registered by', 'Grant types', 'Status', 'Active tokens', 'Created', 'Last activity']
            .map((t) => h('th', { scope: 'col' }, t)))),
        tbody)),
    pager,
  ]);

  if (selectAll) {
    selectAll.addEventListener('change', () => {
      for (const c of rows) {
        if (selectAll.checked) selected.add(c.client_id);
        else selected.delete(c.client_id);
      }
      for (const box of tbody.querySelectorAll('input[type=checkbox]')) box.checked = selectAll.checked;
      syncSelection();
    });
  }

  function syncSelection() {
    if (!deleteButton) return;
    deleteButton.disabled = selected.size === 0;
    deleteButton.textContent = selected.size ? `Delete selected (${selected.size})` : 'Delete selected';
  }

  async function bulkDelete() {
    const ids = [...selected];
    if (ids.length > 500) {
      message.show('At most 500 clients can be deleted at once.');
      return;
    }
    const ok = await confirmDialog({
      title: `Delete ${ids.length} client${ids.length === 1 ? '' : 's'}?`,
      text: `${ids.join(', ')} will be deleted and their tokens revoked. All are deleted or none.`,
      confirmLabel: 'Delete',
      danger: true,
    });
    if (!ok) return;
    try {
      const { data } = await api('POST', '/api/admin/oauth-clients/bulk-delete', { body: { client_ids: ids } });
      selected.clear();
      message.show(`Deleted ${data.deleted} client${data.deleted === 1 ? '' : 's'}.`, 'note');
      cursors.length = 1;
      await load(true);
    } catch (e) {
      message.show(`Nothing was deleted: ${e.message}`);
    }
  }

  function row(c) {
    const check = ctx.canWrite
      ? h('td', {}, h('input', {
        type: 'checkbox',
        'aria-label': `Select ${c.client_name}`,
        'data-client-id': c.client_id,
        checked: selected.has(c.client_id),
        onchange: (e) => {
          if (e.target.checked) selected.add(c.client_id);
          else selected.delete(c.client_id);
          syncSelection();
        },
      }))
      : null;
    const last = h('td', { class: 'last-used nowrap' }, '—');
    const tr = h('tr', { 'data-client-id': c.client_id },
      check,
      h('td', {}, h('a', { href: `/console/clients/${encodeURIComponent(c.client_id)}`, 'data-nav': '' }, c.client_name),
        c.registration_type === 'default' ? [' ', badge('default', 'default')] : null),
      h('td', {}, h('code', {}, c.client_id)),
      h('td', {}, clientType(c)),
      h('td', {}, registrationLabel(c.registration_type)),
      h('td', {}, c.grant_types.map((g) => badge(grantLabel(g), 'grant'))),
      h('td', {}, badge(c.status, c.status)),
      h('td', { class: 'num' }, String(c.active_token_count)),
      h('td', { class: 'nowrap' }, fmtTime(c.created_at)),
      last);
    if (ctx.canAudit) {
      api('GET', `/api/audit/clients/${encodeURIComponent(c.client_id)}`)
        .then(({ data }) => { last.textContent = fmtTime(data.last_activity); })
        .catch(() => { last.textContent = '?'; });
    }
    return tr;
  }

  let loads = 0;
  async function load(keepMessage) {
    if (!keepMessage && !ctx.flash) message.show('');
    const cursor = cursors[cursors.length - 1];
    const mine = ++loads;
    try {
      const { data } = await api('GET', `/api/admin/oauth-clients?${query({ limit: PAGE, cursor })}`);
      // A later load (newer filters or page) wins over a slower earlier one.
      if (mine !== loads) return;
      rows = data.items;
      clear(tbody);
      if (!rows.length) {
        append(tbody, h('tr', {}, h('td', { colspan: 10, class: 'empty' }, 'No client matches.')));
      }
      append(tbody, rows.map(row));
      if (selectAll) selectAll.checked = rows.length > 0 && rows.every((c) => selected.has(c.client_id));
      syncSelection();
      clear(pager);
      append(pager, [
        h('button', {
          type: 'button', class: 'secondary', disabled: cursors.length === 1,
          onclick: () => { cursors.pop(); load(); },
        }, 'Previous'),
        h('span', { class: 'muted' }, `Page ${cursors.length}`),
        h('button', {
          type: 'button', class: 'secondary', id: 'next-page', disabled: !data.next_cursor,
          onclick: () => { cursors.push(data.next_cursor); load(); },
        }, 'Next'),
      ]);
    } catch (e) {
      message.show(`The clients could not be listed: ${e.message}`);
    }
  }
  load(true);
}
