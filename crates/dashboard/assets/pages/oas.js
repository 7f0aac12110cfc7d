// Tyk OAS: import a definition (pasted or from a file) and export one.

import * as api from '../api.js';
import { link } from '../router.js';
import {
  h, pageHeader, loading, field, input, button, formError, clearErrors, showError, toast, download,
} from '../dom.js';

/** Largest file read into the text area: a definition is a few kilobytes. */
const MAX_FILE_BYTES = 5 * 1024 * 1024;

function importResult(created) {
  const warnings = created.warnings || [];
  return h('section', { class: 'card', id: 'oas-result', 'aria-labelledby': 'oas-result-title' },
    h('h2', { id: 'oas-result-title', tabindex: '-1' }, 'Imported'),
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

export async function renderImport(_params, view) {
  const text = h('textarea', {
    id: 'oas-text', name: 'oas-text', rows: '18', spellcheck: 'false', class: 'code',
    placeholder: '{ "openapi": "3.0.3", "info": {…}, "x-tyk-api-gateway": {…} }',
  });
  const file = input('oas-file', { type: 'file', accept: '.json,application/json' });
  const submit = h('button', { type: 'submit', id: 'oas-import', class: 'primary' }, 'Import');
  const result = h('div', { id: 'oas-result-holder' });
  const form = h('form', { id: 'oas-form', class: 'card', novalidate: true },
    formError('oas-error'),
    field('Tyk OAS definition (JSON)', text, 'Paste the document, or choose a file below.'),
    field('…or a file', file),
    h('div', { class: 'actions' }, submit));
  file.addEventListener('change', async () => {
    clearErrors(form);
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    if (chosen.size > MAX_FILE_BYTES) {
      showError(form, new Error(`${chosen.name} is larger than 5 MiB: not a Tyk OAS definition.`));
      return;
    }
    text.value = await chosen.text();
    toast(`Read ${chosen.name}.`);
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    result.replaceChildren();
    if (!text.value.trim()) {
      showError(form, new Error('Paste a Tyk OAS definition or choose a file.'));
      text.focus();
      return;
    }
    submit.disabled = true;
    try {
      // Sent as written: the control plane's error names the line and column of a syntax
      // error, or the JSON path of a field it refuses.
      const created = await api.post('apis/oas', text.value);
      result.append(importResult(created));
      toast(`Imported ${created.name || created.api_id}.`);
      document.getElementById('oas-result-title').focus();
    } catch (e) {
      if (!e.sessionEnded) showError(form, e);
    } finally {
      submit.disabled = false;
    }
  });
  view.show(
    pageHeader('Import a Tyk OAS definition', h('a', { class: 'button secondary', href: '#/apis' }, 'Back to APIs')),
    h('p', { class: 'hint' }, 'Gatehouse creates an API from the definition and lists every setting it could not carry over.'),
    form,
    result);
  text.focus();
}

export async function renderExport({ api: apiId }, view) {
  view.show(pageHeader('Export'), loading());
  const [item, doc] = await Promise.all([
    api.get(`apis/${api.seg(apiId)}`),
    api.get(`apis/oas/${api.seg(apiId)}`),
  ]);
  const json = JSON.stringify(doc, null, 2);
  const name = `${(item.api_id || 'api').replace(/[^A-Za-z0-9._-]/g, '_')}.tyk-oas.json`;
  const copied = h('span', { id: 'api-export-copied', role: 'status', class: 'hint' });
  view.show(
    pageHeader(`Export ${item.name || item.api_id} as Tyk OAS`,
      h('a', { class: 'button secondary', href: link('apis', apiId) }, 'Back to the API'),
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
    h('p', { class: 'hint' }, 'Settings Tyk has no field for travel in x-gatehouse, so importing this document back gives the same API.'),
    h('pre', { id: 'api-export-text', class: 'code', tabindex: '0' }, json));
}
