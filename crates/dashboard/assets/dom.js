// DOM helpers. Every text that may come from the API is set with textContent (through h()),
// never parsed as HTML: API data is attacker-influenced, and the page's policy forbids inline
// script anyway.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === 'class') {
      el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    } else if (name === 'dataset') {
      for (const [k, v] of Object.entries(value)) el.dataset[k] = v;
    } else if (name === 'value' && 'value' in el && !(el instanceof SVGElement)) {
      el.value = value;
    } else if (name === 'checked' || name === 'selected' || name === 'disabled' || name === 'open') {
      el[name] = Boolean(value);
      if (value) el.setAttribute(name, '');
    } else if (name === 'style') {
      throw new Error('style attributes are not allowed by the page policy: use a class');
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Appends children: nodes, strings (as text), numbers, arrays of those; skips null/false. */
export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h('button', {id: 'x', onClick: fn}, 'Save'). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element, for the charts. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** The main region, where pages render. */
export function main() {
  return document.getElementById('main');
}

/** A labelled form field. `input` is the control (it must have an id); `hint` is help text. */
export function field(label, input, hint) {
  const id = input.id;
  const error = h('p', { class: 'field-error', id: `${id}-error`, role: 'alert', hidden: true });
  const help = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (help) input.setAttribute('aria-describedby', `${id}-hint ${id}-error`);
  else input.setAttribute('aria-describedby', `${id}-error`);
  const isCheck = input.type === 'checkbox' || input.type === 'radio';
  if (isCheck) {
    return h('div', { class: 'field field-check', dataset: { field: id } },
      h('label', { for: id }, input, ' ', label), help, error);
  }
  return h('div', { class: 'field', dataset: { field: id } },
    h('label', { for: id }, label), input, help, error);
}

/** A group of checkboxes with a legend. */
export function fieldset(legend, id, ...children) {
  return h('fieldset', { id, class: 'field' }, h('legend', {}, legend), ...children,
    h('p', { class: 'field-error', id: `${id}-error`, role: 'alert', hidden: true }));
}

export function input(id, attrs = {}) {
  return h('input', { id, name: id, type: 'text', ...attrs });
}

export function checkbox(id, checked, attrs = {}) {
  return h('input', { id, name: id, type: 'checkbox', checked, ...attrs });
}

export function select(id, options, selected, attrs = {}) {
  return h('select', { id, name: id, ...attrs },
    options.map(([value, label]) => h('option', { value, selected: value === selected }, label)));
}

export function button(label, attrs = {}) {
  return h('button', { type: 'button', ...attrs }, label);
}

/** A page heading plus optional actions on the right. */
export function pageHeader(title, ...actions) {
  return h('div', { class: 'page-header' }, h('h1', { id: 'page-title', tabindex: '-1' }, title),
    h('div', { class: 'actions' }, ...actions));
}

/** A table with a header row; `rows` are <tr> elements. Empty: a row saying `empty`. */
export function table(id, headings, rows, empty) {
  const body = h('tbody', {}, rows);
  if (rows.length === 0) {
    body.append(h('tr', { class: 'empty' }, h('td', { colspan: headings.length }, empty)));
  }
  return h('div', { class: 'table-wrap' },
    h('table', { id }, h('thead', {}, h('tr', {}, headings.map((t) => h('th', { scope: 'col' }, t)))),
      body));
}

/** A <td> with a label for the stacked phone layout. */
export function cell(label, ...children) {
  return h('td', { dataset: { label } }, ...children);
}

/** Clears every error shown in `form`. */
export function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error, .form-error')) {
    el.textContent = '';
    el.hidden = true;
  }
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

/** Runs `save` with the form's submit button disabled; an API error is shown next to the field
 * it names (see `showError`), unless the session ended, which the sign-in page says. */
export async function saving(form, submit, fields, save) {
  submit.disabled = true;
  try {
    await save();
  } catch (e) {
    if (!e.sessionEnded) showError(form, e, fields);
  } finally {
    submit.disabled = false;
  }
}

/** The field an API error message names: `field "rate": ...`, `listen_path: ...`,
 * `oauth.allowed_grant_types[0]: ...`, `access_rights.my-api.allowed_urls[1].url: ...`. */
export function namedField(message) {
  const quoted = /field "([^"]+)"/.exec(message);
  if (quoted) return quoted[1];
  const prefixed = /^([A-Za-z_][A-Za-z0-9_.~[\]-]*)\s*:/.exec(message);
  if (prefixed) return prefixed[1];
  const inside = /\b(?:field|JSON path)\s+`?([A-Za-z_][A-Za-z0-9_.[\]]*)`?/.exec(message);
  return inside ? inside[1] : null;
}

/** Shows `error` next to the field it names (through `fields`: API field name → control id),
 * else at the top of the form (`#<form id>-error`). A list item's own control is named with
 * its index ("allowed_urls[1].url"); without one, the list's control takes it. */
export function showError(form, error, fields = {}) {
  const message = error && error.message ? error.message : String(error);
  const named = namedField(message);
  let target = null;
  if (named) {
    // The longest suffix of the path the form knows: "oauth.allowed_grant_types" before
    // "allowed_grant_types"; first with the indices, then without.
    for (const path of [named, named.replace(/\[\d+\]/g, '')]) {
      const parts = path.split('.');
      for (let i = 0; i < parts.length && !target; i += 1) {
        const key = parts.slice(i).join('.');
        if (Object.hasOwn(fields, key)) target = fields[key];
      }
      if (target) break;
    }
  }
  const place = target ? document.getElementById(`${target}-error`) : null;
  if (place) {
    place.textContent = message;
    place.hidden = false;
    const control = document.getElementById(target);
    if (control) {
      control.setAttribute('aria-invalid', 'true');
      control.focus();
    }
    return;
  }
  const top = form.querySelector('.form-error');
  if (top) {
    top.textContent = message;
    top.hidden = false;
    top.focus();
  }
}

/** The form-level error paragraph (first child of every form). */
export function formError(id) {
  return h('p', { class: 'form-error', id, role: 'alert', tabindex: '-1', hidden: true });
}

let toastTimer = null;
/** A short status message, read out by screen readers. */
export function toast(message, kind = 'ok') {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = message;
  el.className = `toast toast-${kind}`;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

/** An in-page confirmation (the <dialog> in index.html): resolves true when confirmed. */
export function confirmAction(message, confirmLabel = 'Delete') {
  const dialog = document.getElementById('confirm-dialog');
  const ok = document.getElementById('confirm-ok');
  const cancel = document.getElementById('confirm-cancel');
  document.getElementById('confirm-message').textContent = message;
  ok.textContent = confirmLabel;
  return new Promise((resolve) => {
    const done = (answer) => {
      ok.removeEventListener('click', onOk);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onOk = () => done(true);
    const onCancel = (e) => { if (e) e.preventDefault(); done(false); };
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    cancel.focus();
  });
}

/** A loading placeholder for a page. */
export function loading() {
  return h('p', { class: 'loading', id: 'loading' }, 'Loading…');
}

/** A page-level error (the page could not load). */
export function pageError(error) {
  return h('p', { class: 'form-error', id: 'page-error', role: 'alert' },
    error && error.message ? error.message : String(error));
}

/** Time in a short local form; '' for empty. */
export function when(value) {
  if (!value) return '';
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString();
}

/** "3 s ago", "5 min ago" from an RFC 3339 time. */
export function ago(value) {
  if (!value) return 'never';
  const ms = Date.now() - new Date(value).getTime();
  if (Number.isNaN(ms)) return String(value);
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

/** Offers `text` as a file download (a blob URL: allowed by the policy, nothing inline). */
export function download(filename, text, type = 'application/json') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: filename, class: 'hidden' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/**
 * An editable list of rows with an Add button and a Remove button per row. `make(value, n)`
 * builds one row from a stored value (undefined for an added row); `n` is unique within the
 * list, for ids. It returns `{ node, read, first, name }`: the row's element, a function giving
 * its value, its first control (focused when added) and a name for its Remove button.
 * `test` prefixes the data-test attributes: `<test>-row`, `<test>-remove`, `<test>-add`.
 * Returns `{ node, rows }`: `rows()` lists the rows left, in order.
 */
export function rowList(id, values, make, { test, addLabel, empty, data = {} }) {
  const rows = [];
  let next = 0;
  const list = h('div', { class: 'row-list', id });
  const none = h('p', { class: 'hint', id: `${id}-empty` }, empty);
  const sync = () => { none.hidden = rows.length > 0; };
  const add = (value) => {
    const row = make(value, next);
    next += 1;
    row.node.classList.add('row-item');
    row.node.dataset.test = `${test}-row`;
    Object.assign(row.node.dataset, data);
    const remove = button('Remove', {
      class: 'secondary small row-remove', 'aria-label': `Remove ${row.name}`,
      dataset: { test: `${test}-remove`, ...data },
      onClick: () => {
        rows.splice(rows.indexOf(row), 1);
        row.node.remove();
        sync();
        addButton.focus();
      },
    });
    row.node.append(remove);
    rows.push(row);
    list.append(row.node);
    sync();
    return row;
  };
  const addButton = button(addLabel, {
    class: 'secondary small', id: `${id}-add`, dataset: { test: `${test}-add`, ...data },
    onClick: () => add(undefined).first.focus(),
  });
  for (const value of values) add(value);
  sync();
  return { node: h('div', { class: 'row-list-wrap' }, list, none, addButton), rows: () => [...rows] };
}
