// The client form (create at /console/clients/new, and the edit form of the
// detail page): fields with the server's rules checked as you type, the
// lifetime warnings and the high-risk confirmation inline, and a 422's
// `field` shown next to its control.

import { api } from './api.js';
import { append, clear, h, messageBox, secretBox } from './dom.js';

const DAY = 86400;
const HIGH_RISK_ACCESS_TTL = 3600;
export const GRANTS = [
  ['authorization_code', 'Authorization code', 'A person signs in through the browser (with PKCE).'],
  ['refresh_token', 'Refresh token', 'Renews access without signing in again.'],
  ['client_credentials', 'Client credentials', 'A service acts as itself, with its secret (confidential only).'],
  ['urn:ietf:params:oauth:grant-type:device_code', 'Device code', 'A device without a browser shows a code to enter elsewhere.'],
];

function isLoopback(host) {
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
}

// The server's redirect URI rules (client_policy::validate_redirect_uri).
export function redirectProblem(uri) {
  if (!uri) return 'must not be empty';
  if (uri.includes('*')) return 'wildcards are not allowed';
  if (uri.includes('#')) return 'must not contain a fragment';
  if (/\s/.test(uri)) return 'must not contain whitespace';
  let url;
  try {
    url = new URL(uri);
  } catch (e) {
    return 'not an absolute URI';
  }
  if (url.username || url.password) return 'must not contain user information';
  if (url.protocol === 'https:') return '';
  if (url.protocol === 'http:') return isLoopback(url.hostname) ? '' : 'http is allowed only on localhost, 127.0.0.1 or [::1]; use https';
  return `scheme ${url.protocol.replace(':', '')} is not allowed; use https`;
}

// The server's CORS origin rules (client_policy::validate_origin).
export function originProblem(origin) {
  let url;
  try {
    url = new URL(origin);
  } catch (e) {
    return 'not an origin';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'scheme must be https or http';
  if (url.origin !== origin) return 'must be exactly scheme://host[:port], lower case, with no path or trailing slash';
  return '';
}

// A list of text rows with add/remove, each checked by `problem` as you type.
function listEditor(name, label, values, problem, addLabel) {
  const rows = h('div', { class: 'rows' });
  const wrap = h('fieldset', { class: 'list', id: `field-${name}` }, h('legend', {}, label), rows);
  let n = 0;
  const addRow = (value) => {
    const id = `${name}-${++n}`;
    const input = h('input', { type: 'text', id, value, 'data-list': name, autocomplete: 'off', spellcheck: 'false' });
    const hint = h('span', { class: 'field-error', id: `${id}-error`, 'aria-live': 'polite' });
    input.setAttribute('aria-describedby', hint.id);
    const check = () => {
      const text = input.value.trim() && problem ? problem(input.value.trim()) : '';
      hint.textContent = text;
      input.setAttribute('aria-invalid', text ? 'true' : 'false');
    };
    input.addEventListener('input', check);
    const row = h('div', { class: 'row' },
      h('label', { for: id, class: 'sr-only' }, `${label} ${n}`),
      input,
      h('button', { type: 'button', class: 'secondary small', 'aria-label': `Remove ${label} ${n}`, onclick: () => { row.remove(); } }, 'Remove'),
      hint);
    rows.append(row);
    check();
    return input;
  };
  for (const v of values) addRow(v);
  append(wrap, [
    h('button', { type: 'button', class: 'secondary small', id: `add-${name}`, onclick: () => addRow('').focus() }, addLabel),
    h('span', { class: 'field-error', id: `error-${name}`, 'aria-live': 'polite' }),
  ]);
  wrap.values = () => [...rows.querySelectorAll('input')].map((i) => i.value.trim()).filter(Boolean);
  return wrap;
}

function field(name, label, control, help) {
  return h('div', { class: 'field', id: `field-${name}` },
    h('label', { for: control.id }, label),
    control,
    help ? h('span', { class: 'help' }, help) : null,
    h('span', { class: 'field-error', id: `error-${name}`, 'aria-live': 'polite' }));
}

const radio = (name, value, label, checked) => h('label', { class: 'inline' },
  h('input', { type: 'radio', name, value, checked, id: `${name}-${value}` }), ' ', label);

// Builds the form. `client` is the current client (edit) or null (create).
// `onSubmit(body)` returns a promise; a thrown ApiProblem is shown.
export function clientForm(client, onSubmit, submitLabel) {
  const c = client || {
    client_name: '', description: '', redirect_uris: [], post_logout_redirect_uris: [], allowed_cors_origins: [],
    grant_types: ['authorization_code'], scope: '', access_preset: 'read_only', team_selection: 'single',
    team_restrictions: [], access_token_ttl_seconds: 3600, refresh_token_enabled: false,
    refresh_token_ttl_seconds: 7 * DAY, require_consent: false, confirm_high_risk: false,
    token_endpoint_auth_method: 'client_secret_basic',
  };
  const form = h('form', { class: 'client-form', novalidate: true });
  const message = messageBox('form-message');
  const name = h('input', { type: 'text', id: 'client_name', value: c.client_name, required: true, maxlength: 200, autocomplete: 'off' });
  const description = h('textarea', { id: 'description', rows: 2, maxlength: 2000 });
  description.value = c.description || '';
  const redirects = listEditor('redirect_uris', 'Redirect URIs', c.redirect_uris, redirectProblem, 'Add redirect URI');
  const postLogout = listEditor('post_logout_redirect_uris', 'Post-logout redirect URIs', c.post_logout_redirect_uris, redirectProblem, 'Add post-logout URI');
  const origins = listEditor('allowed_cors_origins', 'CORS origins', c.allowed_cors_origins, originProblem, 'Add origin');
  const teams = listEditor('team_restrictions', 'Teams it may act for (none: any)', c.team_restrictions, (t) => (t.length > 100 ? 'at most 100 characters' : ''), 'Add team');
  const grants = h('fieldset', { id: 'field-grant_types' }, h('legend', {}, 'Grant types'),
    GRANTS.map(([value, label, explain]) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', name: 'grant', value, checked: c.grant_types.includes(value), id: `grant-${label.toLowerCase().replace(/ /g, '-')}` }),
      ' ', h('strong', {}, label), h('span', { class: 'help' }, explain))),
    h('span', { class: 'field-error', id: 'error-grant_types', 'aria-live': 'polite' }));
  const scope = h('input', { type: 'text', id: 'scope', value: c.scope, autocomplete: 'off', spellcheck: 'false' });
  const accessTtl = h('input', { type: 'number', id: 'access_token_ttl_seconds', min: 60, max: 86400, value: c.access_token_ttl_seconds });
  const refreshOn = h('input', { type: 'checkbox', id: 'refresh_token_enabled', checked: c.refresh_token_enabled });
  const refreshDays = h('input', { type: 'number', id: 'refresh_token_ttl_days', min: 1, max: 365, step: 'any', value: c.refresh_token_ttl_seconds / DAY });
  const refreshWarning = h('p', { class: 'warning', id: 'refresh-warning', hidden: true, role: 'status' });
  const consent = h('input', { type: 'checkbox', id: 'require_consent', checked: c.require_consent });
  const highRisk = h('input', { type: 'checkbox', id: 'confirm_high_risk', checked: c.confirm_high_risk });
  const highRiskBox = h('div', { class: 'high-risk', id: 'field-confirm_high_risk', hidden: true },
    h('p', { class: 'warning high' }, h('strong', {}, 'High risk: '), 'full access with access tokens living over an hour.'),
    h('label', { class: 'check' }, highRisk, ' I understand, and confirm this configuration'),
    h('span', { class: 'field-error', id: 'error-confirm_high_risk', 'aria-live': 'polite' }));

  const typeField = client
    ? h('p', { class: 'muted' }, 'Type: ', c.token_endpoint_auth_method === 'none' ? 'public' : 'confidential', ' (cannot change)')
    : h('fieldset', { id: 'field-token_endpoint_auth_method' }, h('legend', {}, 'Client type'),
      radio('client_type', 'confidential', 'Confidential: a server that keeps a secret', true),
      radio('client_type', 'public', 'Public: a browser or mobile app without a secret', false),
      h('span', { class: 'field-error', id: 'error-token_endpoint_auth_method' }));

  const update = () => {
    const days = Number(refreshDays.value);
    refreshWarning.hidden = !refreshOn.checked || !(days > 30);
    refreshWarning.className = days > 90 ? 'warning high' : 'warning';
    refreshWarning.textContent = days > 90
      ? 'Refresh tokens living over 90 days are high risk: a stolen one works for months.'
      : 'Refresh tokens living 30 to 90 days: consider a shorter lifetime.';
    const full = form.querySelector('input[name=access_preset]:checked')?.value === 'full';
    highRiskBox.hidden = !(full && Number(accessTtl.value) > HIGH_RISK_ACCESS_TTL);
  };
  form.addEventListener('input', (e) => {
    // An error from the server is stale once its field changes.
    const container = e.target.closest('[id^=field-]');
    const slot = container && form.querySelector(`#error-${container.id.slice(6)}`);
    if (slot && !e.target.dataset.list) {
      slot.textContent = '';
      e.target.removeAttribute('aria-invalid');
    }
    update();
  });
  form.addEventListener('change', (e) => {
    // The refresh grant and issuing refresh tokens go together.
    if (e.target.name === 'grant' && e.target.value === 'refresh_token') refreshOn.checked = e.target.checked;
    update();
  });

  append(form, [
    message,
    typeField,
    field('client_name', 'Name', name),
    field('description', 'Description', description),
    redirects, postLogout, origins,
    grants,
    field('scope', 'Scopes', scope, 'Space-separated, for example clients:read audit:read'),
    h('fieldset', { id: 'field-access_preset' }, h('legend', {}, 'Access'),
      radio('access_preset', 'read_only', 'Read-only', c.access_preset !== 'full'),
      radio('access_preset', 'full', 'Full', c.access_preset === 'full'),
      h('span', { class: 'field-error', id: 'error-access_preset' })),
    h('fieldset', { id: 'field-team_selection' }, h('legend', {}, 'Team selection at consent'),
      radio('team_selection', 'single', 'One team', c.team_selection !== 'multiple'),
      radio('team_selection', 'multiple', 'Several teams', c.team_selection === 'multiple'),
      h('span', { class: 'field-error', id: 'error-team_selection' })),
    teams,
    field('access_token_ttl_seconds', 'Access-token lifetime (seconds)', accessTtl, '60 to 86400'),
    highRiskBox,
    h('div', { class: 'field', id: 'field-refresh_token_enabled' },
      h('label', { class: 'check' }, refreshOn, ' Issue refresh tokens'),
      h('span', { class: 'field-error', id: 'error-refresh_token_enabled' })),
    field('refresh_token_ttl_seconds', 'Refresh-token lifetime (days)', refreshDays),
    refreshWarning,
    h('div', { class: 'field', id: 'field-require_consent' }, h('label', { class: 'check' }, consent, ' Always ask for consent')),
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'save-client' }, submitLabel)),
  ]);
  update();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const el of form.querySelectorAll('[id^=error-]')) el.textContent = '';
    message.show('');
    const body = {
      client_name: name.value.trim(),
      description: description.value.trim() || null,
      redirect_uris: redirects.values(),
      post_logout_redirect_uris: postLogout.values(),
      allowed_cors_origins: origins.values(),
      grant_types: [...form.querySelectorAll('input[name=grant]:checked')].map((i) => i.value),
      scope: scope.value.trim().split(/\s+/).filter(Boolean).join(' '),
      access_preset: form.querySelector('input[name=access_preset]:checked').value,
      team_selection: form.querySelector('input[name=team_selection]:checked').value,
      team_restrictions: teams.values(),
      access_token_ttl_seconds: Math.round(Number(accessTtl.value)),
      refresh_token_enabled: refreshOn.checked,
      refresh_token_ttl_seconds: Math.round(Number(refreshDays.value) * DAY),
      require_consent: consent.checked,
      confirm_high_risk: !highRiskBox.hidden && highRisk.checked,
    };
    if (!client) {
      const type = form.querySelector('input[name=client_type]:checked').value;
      body.token_endpoint_auth_method = type === 'public' ? 'none' : 'client_secret_basic';
    }
    if (!body.grant_types.includes('refresh_token')) body.refresh_token_enabled = false;
    if (!body.grant_types.includes('authorization_code')) body.response_types = [];
    const submit = form.querySelector('#save-client');
    submit.disabled = true;
    try {
      await onSubmit(body);
    } catch (err) {
      showProblem(form, message, err);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// Shows an API error next to its field when it names one, else on top.
export function showProblem(form, message, err, action) {
  const field = err.field || '';
  const slot = field && form.querySelector(`#error-${CSS.escape(field)}`);
  if (slot) {
    slot.textContent = err.detail;
    const container = form.querySelector(`#field-${CSS.escape(field)}`);
    const control = container && container.querySelector('input, select, textarea');
    if (control) {
      control.setAttribute('aria-invalid', 'true');
      control.focus();
    }
    message.show(`Not saved: ${err.detail}`);
  } else {
    message.show(`${err.title}: ${err.detail}`, 'error', action);
  }
}

export function createPage(main, ctx) {
  clear(main);
  if (!ctx.canWrite) {
    append(main, [h('h1', {}, 'New client'), h('p', { class: 'message error', role: 'alert' }, 'Your access is read-only.')]);
    return;
  }
  const panel = h('section', { class: 'drawer', 'aria-labelledby': 'create-title' });
  append(main, h('div', { class: 'page-head' },
    h('h1', { id: 'create-title' }, 'New client'),
    h('a', { href: '/console/clients', 'data-nav': '', class: 'button secondary' }, 'Cancel')));
  main.append(panel);
  panel.append(clientForm(null, async (body) => {
    const { data } = await api('POST', '/api/admin/oauth-clients', { body });
    clear(panel);
    append(panel, [
      h('h2', { id: 'created' }, `Created ${data.client_name}`),
      h('p', {}, 'Client id: ', h('code', { id: 'created-client-id' }, data.client_id)),
      data.client_secret ? secretBox(data.client_secret) : h('p', { class: 'muted' }, 'A public client has no secret.'),
      (data.warnings || []).map((w) => h('p', { class: `warning ${w.level === 'high' ? 'high' : ''}` }, w.message)),
      h('div', { class: 'actions' },
        h('a', { class: 'button', href: `/console/clients/${encodeURIComponent(data.client_id)}`, 'data-nav': '', id: 'open-created' }, 'Open the client'),
        h('a', { class: 'button secondary', href: '/console/clients', 'data-nav': '' }, 'Back to the list')),
    ]);
    panel.querySelector('#copy-secret, #open-created').focus();
  }, 'Create client'));
  main.querySelector('#client_name').focus();
}
