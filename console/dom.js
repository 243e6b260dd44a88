// DOM helpers for the console: elements built with h() (never innerHTML,
// so API data is always text), dialogs, messages and the one-time secret box.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'for') {
      el.htmlFor = value;
    } else if (key === 'value') {
      el.value = value;
    } else if (key === 'checked') {
      el.checked = !!value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function badge(text, kind) {
  return h('span', { class: `badge ${kind || ''}` }, text);
}

// A message area (role=alert) showing an error or a note; empty hides it.
export function messageBox(id) {
  const el = h('div', { class: 'message', role: 'alert', id, hidden: true });
  el.show = (text, kind = 'error', action) => {
    clear(el);
    el.className = `message ${kind}`;
    el.hidden = !text;
    if (text) append(el, [h('span', {}, text), action || null]);
  };
  return el;
}

let dialogCount = 0;

// A modal confirmation. With `typeToConfirm`, the confirm button stays
// disabled until that exact text is typed. `extra` are more controls whose
// values the caller reads before the promise resolves. Resolves true/false.
export function confirmDialog({ title, text, confirmLabel, danger, typeToConfirm, extra }) {
  return new Promise((resolve) => {
    const n = ++dialogCount;
    const input = typeToConfirm
      ? h('input', { type: 'text', id: `confirm-text-${n}`, autocomplete: 'off', spellcheck: 'false' })
      : null;
    const ok = h('button', { type: 'submit', class: danger ? 'danger' : '', id: 'confirm-ok', disabled: !!typeToConfirm }, confirmLabel);
    const cancel = h('button', { type: 'button', class: 'secondary', id: 'confirm-cancel' }, 'Cancel');
    const form = h('form', { method: 'dialog' },
      h('h2', { id: `dialog-title-${n}` }, title),
      h('p', {}, text),
      extra || null,
      input ? [h('label', { for: input.id }, 'Type ', h('strong', {}, typeToConfirm), ' to confirm'), input] : null,
      h('div', { class: 'actions' }, ok, cancel));
    const dialog = h('dialog', { 'aria-labelledby': `dialog-title-${n}`, class: 'confirm' }, form);
    let answered = false;
    const finish = (value) => {
      if (answered) return;
      answered = true;
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    if (input) {
      input.addEventListener('input', () => { ok.disabled = input.value !== typeToConfirm; });
    }
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      if (!input || input.value === typeToConfirm) finish(true);
    });
    cancel.addEventListener('click', () => finish(false));
    dialog.addEventListener('cancel', () => finish(false));
    document.body.append(dialog);
    dialog.showModal();
    (input || ok).focus();
  });
}

// A secret shown once, with a copy button and the warning that it will not
// be shown again.
export function secretBox(secret, what = 'client secret') {
  const value = h('code', { id: 'secret-value', class: 'secret' }, secret);
  const status = h('span', { class: 'muted', role: 'status' });
  const copy = h('button', {
    type: 'button',
    class: 'secondary',
    id: 'copy-secret',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(secret);
        status.textContent = 'Copied.';
      } catch (e) {
        // Clipboard refused (permissions): select the text so it can be copied by hand.
        const range = document.createRange();
        range.selectNodeContents(value);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        status.textContent = 'Copy was refused by the browser; the secret is selected, press Ctrl+C.';
      }
    },
  }, 'Copy');
  return h('section', { class: 'secret-box', 'aria-label': `New ${what}` },
    h('p', { class: 'warning' }, h('strong', {}, 'Copy this ', what, ' now. '), 'It will not be shown again.'),
    h('div', { class: 'secret-row' }, value, copy),
    status);
}

// Downloads a Blob as a file.
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
