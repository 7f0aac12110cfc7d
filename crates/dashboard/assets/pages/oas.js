// Tyk definitions: import one (Tyk OAS or Tyk Classic, pasted or from a file) and export an API
// in either format.

import * as api from '../api.js';
import { link } from '../router.js';
import {
  h, pageHeader, loading, field, fieldset, input, button, formError, clearErrors, showError, toast,
  download,
} from '../dom.js';

/** Largest file read into the text area: a definition is a few kilobytes. */
const MAX_FILE_BYTES = 5 * 1024 * 1024;

const FORMATS = {
  oas: { label: 'Tyk OAS', suffix: 'tyk-oas' },
  classic: { label: 'Tyk Classic', suffix: 'tyk-classic' },
};

/** The format a definition is in, when it parses and says so; else null. */
function detect(text) {
  let doc;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return null;
  if (typeof doc.openapi === 'string' || doc['x-tyk-api-gateway']) return 'oas';
  if (doc.api_definition || doc.proxy || 'use_keyless' in doc || 'use_oauth2' in doc) return 'classic';
  return null;
}

function importResult(created, format) {
  const warnings = created.warnings || [];
  return h('section', { class: 'card', id: 'oas-result', 'aria-labelledby': 'oas-result-title' },
    h('h2', { id: 'oas-result-title', tabindex: '-1' }, `Imported from ${FORMATS[format].label}`),
    h('p', {}, 'Created the API ',
      h('a', { href: link('apis', created.api_id), id: 'oas-result-link' }, created.name || created.api_id),
      ' at ', h('code', { id: 'oas-result-listen-path' }, created.listen_path || ''), '.'),
    warnings.length
      ? [h('p', { id: 'oas-warnings-title' },
        `${warnings.length} setting${warnings.length === 1 ? '' : 's'} could not be carried over:`),
      h('ul', { id: 'oas-warnings', class: 'warnings' },
        warnings.map((w) => h('li', { dataset: { test: 'oas-warning' } }, w)))]
      : h('p', { id: 'oas-no-warnings' }, 'Everything in the definition was carried over.'));
}

/** The request that imports `text` as `format`: Tyk OAS to its own route; Tyk Classic to
 * POST /api/apis, wrapped as the Dashboard takes it unless it already is. A text that does not
 * parse is sent as written, so the control plane's error names its line and column. */
function importRequest(text, format) {
  if (format === 'oas') return ['apis/oas', text];
  try {
    const doc = JSON.parse(text);
    if (doc && typeof doc === 'object' && !Array.isArray(doc) && !('api_definition' in doc)) {
      return ['apis', { api_definition: doc }];
    }
  } catch {
    // Sent as written: the error says where.
  }
  return ['apis', text];
}

export async function renderImport(_params, view) {
  const text = h('textarea', {
    id: 'oas-text', name: 'oas-text', rows: '18', spellcheck: 'false', class: 'code',
    placeholder: '{ "openapi": "3.0.3", "info": {…}, "x-tyk-api-gateway": {…} }  or  { "api_definition": { "proxy": {…}, … } }',
  });
  const radios = Object.entries(FORMATS).map(([value, { label }]) => input(`import-format-${value}`, {
    type: 'radio', name: 'import-format', value, checked: value === 'oas',
  }));
  const formatOf = () => (radios.find((r) => r.checked) || radios[0]).value;
  const file = input('oas-file', { type: 'file', accept: '.json,application/json' });
  const submit = h('button', { type: 'submit', id: 'oas-import', class: 'primary' }, 'Import');
  const result = h('div', { id: 'oas-result-holder' });
  const detected = h('p', { class: 'hint', id: 'import-format-detected', role: 'status' });
  const form = h('form', { id: 'oas-form', class: 'card', novalidate: true },
    formError('oas-error'),
    fieldset('Format', 'import-format',
      radios.map((r, i) => field(Object.values(FORMATS)[i].label, r)), detected),
    field('Definition (JSON)', text, 'Paste the document, or choose a file below. Tyk Classic: the definition bare or as {"api_definition": …}.'),
    field('…or a file', file),
    h('div', { class: 'actions' }, submit));
  // The format follows the text when the text says which it is.
  const follow = () => {
    const format = detect(text.value);
    if (!format) {
      detected.textContent = '';
      return;
    }
    for (const r of radios) r.checked = r.value === format;
    detected.textContent = `This looks like a ${FORMATS[format].label} definition.`;
  };
  text.addEventListener('input', follow);
  file.addEventListener('change', async () => {
    clearErrors(form);
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    if (chosen.size > MAX_FILE_BYTES) {
      showError(form, new Error(`${chosen.name} is larger than 5 MiB: not a Tyk definition.`));
      return;
    }
    text.value = await chosen.text();
    follow();
    toast(`Read ${chosen.name}.`);
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    result.replaceChildren();
    const format = formatOf();
    if (!text.value.trim()) {
      showError(form, new Error(`Paste a ${FORMATS[format].label} definition or choose a file.`));
      text.focus();
      return;
    }
    submit.disabled = true;
    try {
      const [path, body] = importRequest(text.value, format);
      const created = await api.post(path, body);
      result.append(importResult(created, format));
      toast(`Imported ${created.name || created.api_id}.`);
      document.getElementById('oas-result-title').focus();
    } catch (e) {
      if (!e.sessionEnded) showError(form, e);
    } finally {
      submit.disabled = false;
    }
  });
  view.show(
    pageHeader('Import a Tyk definition', h('a', { class: 'button secondary', href: '#/apis' }, 'Back to APIs')),
    h('p', { class: 'hint' }, 'Gatehouse creates an API from a Tyk OAS or Tyk Classic definition and lists every setting it could not carry over.'),
    form,
    result);
  text.focus();
}

async function renderExportAs(apiId, view, format) {
  view.show(pageHeader('Export'), loading());
  const [item, doc] = await Promise.all([
    api.get(`apis/${api.seg(apiId)}`),
    api.get(`apis/${format}/${api.seg(apiId)}`),
  ]);
  const json = JSON.stringify(doc, null, 2);
  const { label, suffix } = FORMATS[format];
  const name = `${(item.api_id || 'api').replace(/[^A-Za-z0-9._-]/g, '_')}.${suffix}.json`;
  const copied = h('span', { id: 'api-export-copied', role: 'status', class: 'hint' });
  const other = format === 'oas'
    ? h('a', { class: 'button secondary', href: link('apis', apiId, 'export', 'classic'), id: 'api-export-other' }, 'As Tyk Classic')
    : h('a', { class: 'button secondary', href: link('apis', apiId, 'export'), id: 'api-export-other' }, 'As Tyk OAS');
  view.show(
    pageHeader(`Export ${item.name || item.api_id} as ${label}`,
      h('a', { class: 'button secondary', href: link('apis', apiId) }, 'Back to the API'),
      other,
      button('Download', { id: 'api-export-download', class: 'primary', onClick: () => download(name, json) }),
      button('Copy', {
        id: 'api-export-copy', class: 'secondary',
        onClick: async () => {
          try {
            await navigator.clipboard.writeText(json);
            copied.textContent = 'Copied';
          } catch (e) {
            copied.textContent = `Could not copy: ${e.message}`;
          }
        },
      }),
      copied),
    h('p', { class: 'hint', id: 'api-export-format' }, format === 'oas'
      ? 'Settings Tyk has no field for travel in x-gatehouse, so importing this document back gives the same API.'
      : 'As the Tyk Dashboard answers GET /api/apis/{id}: POST /api/apis (or this dashboard\'s import) creates the same API from it.'),
    h('pre', { id: 'api-export-text', class: 'code', tabindex: '0' }, json));
}

export async function renderExport({ api: apiId }, view) {
  return renderExportAs(apiId, view, 'oas');
}

export async function renderExportClassic({ api: apiId }, view) {
  return renderExportAs(apiId, view, 'classic');
}
