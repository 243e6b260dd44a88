// /console/audit: the event list with the API's filters, cursor paging, a
// live tail (the SSE feed read through fetch, since EventSource cannot send
// a bearer token), export (NDJSON, CSV), chain verification and a signed
// checkpoint download.

import { accessToken } from './auth.js';
import { api, request } from './api.js';
import { append, clear, download, fmtTime, h, messageBox } from './dom.js';
import { actorName } from './actors.js';

export function auditPage(main, ctx) {
  clear(main);
  const message = messageBox('audit-page-message');
  const list = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary', id: 'audit-older', hidden: true }, 'Older events');
  const input = (id, label, type = 'text', placeholder = '') => h('div', { class: 'field' },
    h('label', { for: id }, label), h('input', { type, id, autocomplete: 'off', placeholder }));
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter events' },
    input('a-client', 'Client id'),
    input('a-actor', 'Actor', 'text', 'user:<id>, client:<id>, system'),
    input('a-type', 'Event type', 'text', 'ClientPaused'),
    input('a-since', 'Since', 'datetime-local'),
    input('a-until', 'Until', 'datetime-local'),
    h('div', { class: 'field end' }, h('button', { type: 'submit' }, 'Apply')));
  const live = h('input', { type: 'checkbox', id: 'a-live' });
  const verifyResult = h('span', { id: 'verify-result', role: 'status' });
  let cursor = null;
  let tail = null;

  const filters = () => {
    const p = new URLSearchParams();
    const v = (id) => form.querySelector(id).value.trim();
    if (v('#a-client')) p.set('client_id', v('#a-client'));
    if (v('#a-actor')) p.set('actor', v('#a-actor'));
    if (v('#a-type')) p.set('type', v('#a-type'));
    if (v('#a-since')) p.set('since', new Date(v('#a-since')).toISOString());
    if (v('#a-until')) p.set('until', new Date(v('#a-until')).toISOString());
    return p;
  };

  const summary = (s) => h('span', { class: 'summary' }, Object.entries(s || {})
    .filter(([, v]) => v !== null && !(Array.isArray(v) && !v.length))
    .map(([k, v]) => h('span', {}, h('span', { class: 'muted' }, `${k} `), typeof v === 'object' ? JSON.stringify(v) : String(v))));
  const row = (ev) => {
    const who = h('span', { class: 'actor', title: ev.actor.principal }, ev.actor.principal);
    actorName(ctx, ev.actor).then((name) => { who.textContent = name; });
    return h('tr', { 'data-position': ev.position },
      h('td', { class: 'num' }, String(ev.position)),
      h('td', { class: 'nowrap' }, fmtTime(ev.time)),
      h('td', {}, ev.type),
      h('td', {}, who, ev.actor.via_client ? h('span', { class: 'muted' }, ` via ${ev.actor.via_client}`) : null),
      h('td', {}, ev.client_id ? h('a', { href: `/console/clients/${encodeURIComponent(ev.client_id)}`, 'data-nav': '' }, ev.client_id) : '—'),
      h('td', {}, summary(ev.summary)));
  };

  async function load(older) {
    const p = filters();
    p.set('limit', '50');
    if (older && cursor) p.set('cursor', cursor);
    try {
      const { data } = await api('GET', `/api/audit/events?${p}`);
      if (!older) clear(list);
      append(list, data.items.map(row));
      cursor = data.next_cursor;
      more.hidden = !cursor;
      if (!older) message.show('');
    } catch (e) {
      message.show(`The events could not be read: ${e.message}`);
    }
  }

  async function follow() {
    const controller = new AbortController();
    tail = controller;
    try {
      const response = await fetch(`/api/audit/stream?${filters()}`, {
        headers: { Authorization: `Bearer ${accessToken()}`, Accept: 'text/event-stream' },
        signal: controller.signal,
      });
      if (!response.ok) throw new Error(`the live feed answered ${response.status}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
          if (data) list.prepend(row(JSON.parse(data)));
        }
      }
      if (tail === controller) message.show('The live feed ended (the token may have been refreshed); switch it on again.', 'note');
    } catch (e) {
      if (e.name !== 'AbortError') message.show(`Live tail stopped: ${e.message}`);
    }
    if (tail === controller) {
      tail = null;
      live.checked = false;
    }
  }

  live.addEventListener('change', () => {
    if (live.checked) follow();
    else if (tail) { tail.abort(); tail = null; }
  });
  form.addEventListener('submit', (e) => { e.preventDefault(); load(false); });
  more.addEventListener('click', () => load(true));
  ctx.cleanup.push(() => { if (tail) { const t = tail; tail = null; t.abort(); } });

  const exportButton = (format) => h('button', {
    type: 'button', class: 'secondary', id: `audit-export-${format}`,
    onclick: async () => {
      const p = filters();
      p.set('format', format);
      try {
        const response = await request('GET', `/api/audit/export?${p}`);
        download(await response.blob(), `audit.${format}`);
      } catch (e) {
        message.show(`Export failed: ${e.message}`);
      }
    },
  }, format.toUpperCase());

  append(main, [
    h('h1', {}, 'Audit'),
    form,
    h('div', { class: 'toolbar' },
      h('div', { class: 'group' }, h('label', { class: 'check' }, live, ' Live tail')),
      h('div', { class: 'group', role: 'group', 'aria-label': 'Export and verify' },
        h('span', { class: 'muted' }, 'Export'), exportButton('ndjson'), exportButton('csv'),
        h('button', {
          type: 'button', class: 'secondary', id: 'verify-chain',
          onclick: async () => {
            verifyResult.textContent = 'Verifying…';
            try {
              const { data } = await api('GET', '/api/audit/verify');
              verifyResult.textContent = data.intact
                ? `Chain intact: ${data.records} records, head ${data.head ? data.head.position : 0}.`
                : `Chain BROKEN at position ${data.broken.position}: ${data.broken.reason}`;
              verifyResult.className = data.intact ? 'ok' : 'bad';
            } catch (e) {
              verifyResult.textContent = `Verification failed: ${e.message}`;
              verifyResult.className = 'bad';
            }
          },
        }, 'Verify chain'),
        h('button', {
          type: 'button', class: 'secondary', id: 'checkpoint',
          onclick: async () => {
            try {
              const { data } = await api('GET', '/api/audit/checkpoint');
              download(new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' }), `authlog-checkpoint-${data.position}.json`);
            } catch (e) {
              message.show(`No checkpoint: ${e.message}`);
            }
          },
        }, 'Download checkpoint'))),
    verifyResult,
    message,
    h('div', { class: 'table-wrap' }, h('table', { id: 'audit-table' },
      h('thead', {}, h('tr', {}, ['#', 'Time', 'Type', 'Actor', 'Client', 'Summary'].map((t) => h('th', { scope: 'col' }, t)))),
      list)),
    h('div', { class: 'pager' }, more),
  ]);
  load(false);
}
