// /console/users: list and search, create, edit roles and teams (If-Match),
// disable.

import { api } from './api.js';
import { append, badge, clear, confirmDialog, fmtTime, h, messageBox } from './dom.js';

const ROLES = ['admin', 'auditor', 'member'];
const teamsOf = (text) => text.split(',').map((t) => t.trim()).filter(Boolean);

function roleBoxes(prefix, selected) {
  return h('fieldset', { class: 'inline-set' }, h('legend', {}, 'Roles'),
    ROLES.map((r) => h('label', { class: 'inline' },
      h('input', { type: 'checkbox', name: 'role', value: r, id: `${prefix}-role-${r}`, checked: selected.includes(r) }), ' ', r)));
}

const checkedRoles = (el) => [...el.querySelectorAll('input[name=role]:checked')].map((i) => i.value);

export function usersPage(main, ctx) {
  clear(main);
  const canWrite = ctx.canWrite && ctx.canUsersWrite;
  const message = messageBox('users-message');
  const tbody = h('tbody');
  const search = h('input', { type: 'search', id: 'u-q', autocomplete: 'off', placeholder: 'Username or name' });
  const role = h('select', { id: 'u-role' }, [['', 'Any'], ...ROLES.map((r) => [r, r])].map(([v, t]) => h('option', { value: v }, t)));
  const filters = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter users' },
    h('div', { class: 'field grow' }, h('label', { for: 'u-q' }, 'Search'), search),
    h('div', { class: 'field' }, h('label', { for: 'u-role' }, 'Role'), role),
    h('div', { class: 'field end' }, h('button', { type: 'submit' }, 'Apply')));
  filters.addEventListener('submit', (e) => { e.preventDefault(); load(); });
  role.addEventListener('change', load);

  let create = null;
  if (canWrite) {
    const form = h('form', { class: 'client-form', id: 'create-user' },
      h('div', { class: 'field' }, h('label', { for: 'nu-username' }, 'Username'), h('input', { type: 'text', id: 'nu-username', required: true, autocomplete: 'off' })),
      h('div', { class: 'field' }, h('label', { for: 'nu-display' }, 'Display name'), h('input', { type: 'text', id: 'nu-display', autocomplete: 'off' })),
      h('div', { class: 'field' }, h('label', { for: 'nu-email' }, 'Email'), h('input', { type: 'text', id: 'nu-email', autocomplete: 'off' })),
      h('div', { class: 'field' }, h('label', { for: 'nu-password' }, 'Initial password'), h('input', { type: 'password', id: 'nu-password', required: true, autocomplete: 'new-password' })),
      roleBoxes('nu', ['member']),
      h('div', { class: 'field' }, h('label', { for: 'nu-teams' }, 'Teams (comma-separated)'), h('input', { type: 'text', id: 'nu-teams', autocomplete: 'off' })),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'nu-save' }, 'Create user')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const value = (id) => form.querySelector(id).value.trim();
      const body = {
        username: value('#nu-username'),
        password: form.querySelector('#nu-password').value,
        roles: checkedRoles(form),
        teams: teamsOf(value('#nu-teams')),
      };
      if (value('#nu-display')) body.display_name = value('#nu-display');
      if (value('#nu-email')) body.email = value('#nu-email');
      try {
        await api('POST', '/api/admin/users', { body });
        message.show(`Created ${body.username}.`, 'note');
        form.reset();
        create.open = false;
        load();
      } catch (err) {
        message.show(`Not created: ${err.message}`);
      }
    });
    create = h('details', { class: 'edit', id: 'new-user' }, h('summary', {}, 'New user'), form);
  }

  append(main, [h('h1', {}, 'Users'), filters, create, message,
    h('div', { class: 'table-wrap' }, h('table', { id: 'users-table' },
      h('thead', {}, h('tr', {}, ['Username', 'Name', 'Roles', 'Teams', 'Status', 'Active tokens', 'Created'].map((t) => h('th', { scope: 'col' }, t)),
        canWrite ? h('th', { scope: 'col' }, 'Actions') : null)),
      tbody))]);

  function editor(u) {
    const teams = h('input', { type: 'text', id: `teams-${u.user_id}`, value: u.teams.join(', '), autocomplete: 'off' });
    const form = h('form', { class: 'user-edit' },
      roleBoxes(`e-${u.user_id}`, u.roles),
      h('label', { for: teams.id }, 'Teams (comma-separated)'), teams,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'small' }, 'Save')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await api('PATCH', `/api/admin/users/${u.user_id}`, { body: { roles: checkedRoles(form), teams: teamsOf(teams.value) }, headers: { 'If-Match': `"${u.version}"` } });
        message.show(`Saved ${u.username}.`, 'note');
        load();
      } catch (err) {
        message.show(err.status === 412 ? `${u.username} was changed by someone else; the list is reloaded, edit again.` : `Not saved: ${err.message}`);
        if (err.status === 412) load();
      }
    });
    return h('details', {}, h('summary', {}, 'Edit'), form);
  }

  async function load() {
    const params = new URLSearchParams();
    if (search.value.trim()) params.set('q', search.value.trim());
    if (role.value) params.set('role', role.value);
    try {
      const { data } = await api('GET', `/api/admin/users?${params}`);
      clear(tbody);
      if (!data.items.length) append(tbody, h('tr', {}, h('td', { colspan: 8, class: 'empty' }, 'No user matches.')));
      for (const u of data.items) {
        append(tbody, h('tr', { 'data-user-id': u.user_id },
          h('td', {}, u.username), h('td', {}, u.display_name),
          h('td', {}, u.roles.map((r) => badge(r))), h('td', {}, u.teams.join(', ') || '—'),
          h('td', {}, u.disabled ? badge('disabled', 'paused') : badge('active', 'active')),
          h('td', { class: 'num' }, String(u.active_token_count)), h('td', {}, fmtTime(u.created_at)),
          canWrite ? h('td', {}, u.disabled ? null : [editor(u), u.user_id === ctx.me.sub ? null : h('button', {
            type: 'button', class: 'danger small', 'aria-label': `Disable ${u.username}`,
            onclick: async () => {
              if (!await confirmDialog({ title: `Disable ${u.username}?`, text: 'They cannot sign in any more, and every token acting for them stops working.', confirmLabel: 'Disable', danger: true })) return;
              try {
                await api('POST', `/api/admin/users/${u.user_id}/disable`);
                message.show(`Disabled ${u.username}.`, 'note');
                load();
              } catch (err) {
                message.show(`Not disabled: ${err.message}`);
              }
            },
          }, 'Disable')]) : null));
      }
    } catch (e) {
      message.show(`The users could not be listed: ${e.message}`);
    }
  }
  load();
}
