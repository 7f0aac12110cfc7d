// APIs: the list with search, create and edit, delete.

import * as api from '../api.js';
import { go, link } from '../router.js';
import {
  h, pageHeader, table, cell, loading, field, fieldset, input, checkbox, select, button, formError,
  clearErrors, showError, toast, confirmAction, saving,
} from '../dom.js';
import { usageSection } from './usage.js';

export const GRANTS = [
  ['authorization_code', 'Authorization code'],
  ['client_credentials', 'Client credentials'],
  ['password', 'Password (resource owners)'],
  ['refresh_token', 'Refresh token'],
];

/** API field names (as error messages name them) → the form's controls. */
const FIELDS = {
  name: 'api-name',
  api_id: 'api-id',
  listen_path: 'api-listen-path',
  upstream_url: 'api-upstream-url',
  strip_listen_path: 'api-strip-listen-path',
  oauth: 'api-oauth',
  allowed_grant_types: 'api-grants',
  allowed_authorize_types: 'api-grants',
  auth_login_redirect: 'api-login-redirect',
  access_token_ttl_seconds: 'api-access-ttl',
  refresh_token_ttl_seconds: 'api-refresh-ttl',
  code_ttl_seconds: 'api-code-ttl',
  token_auth: 'api-token-auth',
  auth_header_name: 'api-auth-header',
  auth_query_param: 'api-auth-query',
  auth_cookie_name: 'api-auth-cookie',
  strip_auth_data: 'api-strip-auth',
  versioning: 'api-versioned',
  'versioning.location': 'api-version-location',
  'versioning.key': 'api-version-key',
  'versioning.versions': 'api-versions',
  'versioning.default_version': 'api-default-version',
  'versioning.strip_versioning_data': 'api-strip-versioning',
};

export const VERSION_LOCATIONS = [
  ['header', 'A request header'],
  ['query_param', 'A query parameter'],
  ['url_segment', 'The first path segment under the listen path'],
];

/** A stored location in the form's terms (Tyk's "url-param" and "url" are accepted too). */
function locationOf(versioning) {
  const location = (versioning && versioning.location) || 'header';
  if (location === 'url-param') return 'query_param';
  if (location === 'url') return 'url_segment';
  return location;
}

/** "v1, v2" → ['v1', 'v2']. */
function listOf(text) {
  return text.split(/[\s,]+/).map((v) => v.trim()).filter(Boolean);
}

function authOf(item) {
  if (item.oauth) {
    const grants = (item.oauth.allowed_grant_types || []).join(', ');
    return `OAuth 2.0${grants ? ` (${grants})` : ''}${item.token_auth ? ' + token auth' : ''}`;
  }
  return item.token_auth ? 'Token auth' : 'Keyless';
}

function apiRow(item) {
  return h('tr', { dataset: { test: 'api-row', id: item.api_id } },
    cell('Name', h('a', { href: link('apis', item.api_id), dataset: { test: 'api-open' } },
      item.name || item.api_id)),
    cell('Id', h('code', {}, item.api_id)),
    cell('Listen path', h('code', {}, item.listen_path || '')),
    cell('Upstream', item.upstream_url || ''),
    cell('Authentication', authOf(item)),
    cell('Clients', item.oauth
      ? h('a', { href: link('apis', item.api_id, 'clients'), dataset: { test: 'api-clients' } }, 'Clients')
      : '—'));
}

function matches(item, query) {
  if (!query) return true;
  const q = query.toLowerCase();
  return [item.name, item.api_id, item.listen_path, item.upstream_url]
    .some((v) => (v || '').toLowerCase().includes(q));
}

export async function renderList(_params, view) {
  view.show(pageHeader('APIs'), loading());
  const apis = await api.listApis();
  apis.sort((a, b) => (a.name || a.api_id).localeCompare(b.name || b.api_id));
  const search = input('api-search', { type: 'search', placeholder: 'Name, id, listen path or upstream', autocomplete: 'off' });
  const holder = h('div', { id: 'api-list' });
  const status = h('p', { class: 'hint', id: 'api-count', role: 'status' });
  const draw = () => {
    const shown = apis.filter((a) => matches(a, search.value.trim()));
    status.textContent = `${shown.length} of ${apis.length} APIs`;
    holder.replaceChildren(table('api-table',
      ['Name', 'Id', 'Listen path', 'Upstream', 'Authentication', 'Clients'],
      shown.map(apiRow),
      apis.length ? 'No API matches the search.' : 'No API yet: create one or import a Tyk definition.'));
  };
  search.addEventListener('input', draw);
  draw();
  view.show(
    pageHeader('APIs',
      h('a', { class: 'button primary', href: '#/apis/new', id: 'api-new' }, 'New API'),
      h('a', { class: 'button secondary', href: '#/apis/import', id: 'api-import' }, 'Import Tyk OAS or Classic')),
    h('div', { class: 'search' }, field('Search APIs', search)),
    status,
    holder);
}

function numberInput(id, value) {
  return input(id, { type: 'number', min: '0', step: '1', inputmode: 'numeric', value: value ? String(value) : '' });
}

/** The form for `item` (a new API when `isNew`); `onSave(body)` sends it. */
function apiForm(item, isNew, onSave) {
  const oauth = item.oauth || {};
  const grants = new Set(oauth.allowed_grant_types || []);
  const controls = {
    name: input('api-name', { value: item.name || '', required: true, autocomplete: 'off' }),
    id: input('api-id', { value: item.api_id || '', disabled: !isNew, autocomplete: 'off', spellcheck: 'false' }),
    listenPath: input('api-listen-path', { value: item.listen_path || '', required: true, placeholder: '/my-api/', spellcheck: 'false' }),
    upstream: input('api-upstream-url', { type: 'url', value: item.upstream_url || '', required: true, placeholder: 'http://127.0.0.1:9000', spellcheck: 'false' }),
    strip: checkbox('api-strip-listen-path', isNew ? true : Boolean(item.strip_listen_path)),
    oauthOn: checkbox('api-oauth', Boolean(item.oauth) || isNew),
    grants: GRANTS.map(([grant]) => checkbox(`api-grant-${grant}`, grants.has(grant), { value: grant, dataset: { test: 'api-grant' } })),
    loginRedirect: input('api-login-redirect', { type: 'url', value: oauth.auth_login_redirect || '', spellcheck: 'false' }),
    accessTtl: numberInput('api-access-ttl', oauth.access_token_ttl_seconds),
    refreshTtl: numberInput('api-refresh-ttl', oauth.refresh_token_ttl_seconds),
    codeTtl: numberInput('api-code-ttl', oauth.code_ttl_seconds),
    tokenAuth: checkbox('api-token-auth', Boolean(item.token_auth)),
    authHeader: input('api-auth-header', { value: item.auth_header_name || '', placeholder: 'Authorization', autocomplete: 'off', spellcheck: 'false' }),
    authQuery: input('api-auth-query', { value: item.auth_query_param || '', autocomplete: 'off', spellcheck: 'false' }),
    authCookie: input('api-auth-cookie', { value: item.auth_cookie_name || '', autocomplete: 'off', spellcheck: 'false' }),
    stripAuth: checkbox('api-strip-auth', Boolean(item.strip_auth_data)),
    versioned: checkbox('api-versioned', Boolean(item.versioning)),
    versionLocation: select('api-version-location', VERSION_LOCATIONS, locationOf(item.versioning)),
    versionKey: input('api-version-key', { value: (item.versioning && item.versioning.key) || '', placeholder: 'x-api-version', autocomplete: 'off', spellcheck: 'false' }),
    versions: input('api-versions', { value: ((item.versioning && item.versioning.versions) || []).join(', '), placeholder: 'v1, v2', autocomplete: 'off', spellcheck: 'false' }),
    defaultVersion: input('api-default-version', { value: (item.versioning && item.versioning.default_version) || '', autocomplete: 'off', spellcheck: 'false' }),
    stripVersioning: checkbox('api-strip-versioning', Boolean(item.versioning && item.versioning.strip_versioning_data)),
  };
  const oauthFields = h('div', { id: 'api-oauth-fields', class: 'subfields' },
    fieldset('Grants the token endpoint accepts', 'api-grants',
      GRANTS.map(([grant, label], i) => field(label, controls.grants[i]))),
    field('Login redirect', controls.loginRedirect, 'The identity server\'s login page that /oauth/authorize sends the browser to (authorization code grant).'),
    h('div', { class: 'row3' },
      field('Access token lifetime (s)', controls.accessTtl, '0 or empty: 3600'),
      field('Refresh token lifetime (s)', controls.refreshTtl, '0 or empty: 14 days'),
      field('Authorization code lifetime (s)', controls.codeTtl, '0 or empty: 60')));
  const syncOauth = () => { oauthFields.hidden = !controls.oauthOn.checked; };
  controls.oauthOn.addEventListener('change', syncOauth);
  syncOauth();

  const credentialFields = h('fieldset', { id: 'api-credential', class: 'field' },
    h('legend', {}, 'Where requests carry their token'),
    h('p', { class: 'hint' }, 'For OAuth and token auth: Bearer <token> in a header, or the token alone in a query parameter or cookie, which take precedence when configured and present.'),
    h('div', { class: 'row3' },
      field('Header name', controls.authHeader, 'Empty: Authorization.'),
      field('Query parameter', controls.authQuery, 'Empty: none.'),
      field('Cookie', controls.authCookie, 'Empty: none.')),
    field('Remove the token before forwarding to the upstream', controls.stripAuth));

  const keyField = field('Header or parameter name', controls.versionKey, 'Not used when the version is a path segment.');
  const versioningFields = h('div', { id: 'api-versioning-fields', class: 'subfields' },
    h('div', { class: 'row2' },
      field('Where requests name their version', controls.versionLocation),
      keyField),
    h('div', { class: 'row2' },
      field('Versions', controls.versions, 'Comma-separated. A request naming another gets 403; policies grant versions.'),
      field('Default version', controls.defaultVersion, 'For requests that name none; empty: such requests are refused.')),
    field('Remove the version before forwarding to the upstream', controls.stripVersioning));
  const syncVersioning = () => {
    versioningFields.hidden = !controls.versioned.checked;
    keyField.hidden = controls.versionLocation.value === 'url_segment';
  };
  controls.versioned.addEventListener('change', syncVersioning);
  controls.versionLocation.addEventListener('change', syncVersioning);
  syncVersioning();

  const submit = h('button', { type: 'submit', id: 'api-save', class: 'primary' }, isNew ? 'Create API' : 'Save');
  const form = h('form', { id: 'api-form', class: 'card', novalidate: true },
    formError('api-form-error'),
    h('div', { class: 'row2' },
      field('Name', controls.name),
      field('API id', controls.id, isNew ? 'Optional: generated when empty.' : 'An API\'s id cannot change.')),
    h('div', { class: 'row2' },
      field('Listen path', controls.listenPath, 'The path prefix that routes requests to this API, e.g. /my-api/.'),
      field('Upstream URL', controls.upstream, 'Where the gateway forwards requests.')),
    field('Strip the listen path before forwarding', controls.strip),
    field('Protected by OAuth 2.0 (this API is an authorization server)', controls.oauthOn),
    oauthFields,
    field('Accept tokens issued for other APIs whose policy grants this one (token auth)', controls.tokenAuth),
    credentialFields,
    field('Versioned (requests name a version)', controls.versioned),
    versioningFields,
    h('div', { class: 'actions' }, submit));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = { ...item };
    delete body.warnings;
    body.name = controls.name.value.trim();
    if (isNew && controls.id.value.trim()) body.api_id = controls.id.value.trim();
    body.listen_path = controls.listenPath.value.trim();
    body.upstream_url = controls.upstream.value.trim();
    body.strip_listen_path = controls.strip.checked;
    body.token_auth = controls.tokenAuth.checked;
    body.auth_header_name = controls.authHeader.value.trim();
    body.auth_query_param = controls.authQuery.value.trim();
    body.auth_cookie_name = controls.authCookie.value.trim();
    body.strip_auth_data = controls.stripAuth.checked;
    if (controls.versioned.checked) {
      const location = controls.versionLocation.value;
      body.versioning = {
        ...(item.versioning || {}),
        location,
        key: location === 'url_segment' ? '' : controls.versionKey.value.trim(),
        versions: listOf(controls.versions.value),
        default_version: controls.defaultVersion.value.trim(),
        strip_versioning_data: controls.stripVersioning.checked,
      };
    } else {
      delete body.versioning;
    }
    if (controls.oauthOn.checked) {
      const next = { ...oauth };
      next.allowed_grant_types = controls.grants.filter((c) => c.checked).map((c) => c.value);
      const authorize = new Set(next.allowed_authorize_types || []);
      if (next.allowed_grant_types.includes('authorization_code')) authorize.add('code');
      else authorize.delete('code');
      next.allowed_authorize_types = [...authorize];
      next.auth_login_redirect = controls.loginRedirect.value.trim();
      for (const [key, control] of [['access_token_ttl_seconds', controls.accessTtl],
        ['refresh_token_ttl_seconds', controls.refreshTtl], ['code_ttl_seconds', controls.codeTtl]]) {
        const raw = control.value.trim();
        if (raw === '') next[key] = 0;
        else if (/^\d+$/.test(raw)) next[key] = Number(raw);
        else {
          showError(form, new Error(`${key}: must be a whole number of seconds`), FIELDS);
          return;
        }
      }
      body.oauth = next;
    } else {
      delete body.oauth;
    }
    await saving(form, submit, FIELDS, () => onSave(body));
  });
  return form;
}

function warningList(warnings) {
  if (!warnings || warnings.length === 0) return null;
  return h('div', { class: 'notice', id: 'api-warnings', role: 'status' },
    h('p', {}, 'Saved, with warnings:'),
    h('ul', {}, warnings.map((w) => h('li', { dataset: { test: 'api-warning' } }, w))));
}

export async function renderNew(_params, view) {
  const form = apiForm({}, true, async (body) => {
    const created = await api.post('apis', body);
    toast(`Created API ${created.name || created.api_id}.`);
    go('apis', created.api_id);
  });
  view.show(pageHeader('New API', h('a', { class: 'button secondary', href: '#/apis' }, 'Cancel')), form);
  document.getElementById('api-name').focus();
}

export async function renderEdit({ api: apiId }, view) {
  view.show(pageHeader('API'), loading());
  const item = await api.get(`apis/${api.seg(apiId)}`);
  const warnings = h('div', { id: 'api-save-result' });
  const form = apiForm(item, false, async (body) => {
    const saved = await api.put(`apis/${api.seg(apiId)}`, body);
    toast('Saved.');
    warnings.replaceChildren();
    const list = warningList(saved && saved.warnings);
    if (list) warnings.append(list);
  });
  const remove = button('Delete', {
    id: 'api-delete', class: 'danger',
    onClick: async () => {
      const ok = await confirmAction(`Delete the API "${item.name || item.api_id}"? Its clients and their tokens stop working.`);
      if (!ok) return;
      try {
        await api.del(`apis/${api.seg(apiId)}`);
        toast(`Deleted API ${item.name || item.api_id}.`);
        go('apis');
      } catch (e) {
        if (!e.sessionEnded) showError(form, e, FIELDS);
      }
    },
  });
  const session = api.session();
  const tokenUrl = item.oauth && session && session.gatewayUrl
    ? `${session.gatewayUrl.replace(/\/$/, '')}${(item.listen_path || '/').replace(/\/?$/, '/')}oauth/token`
    : null;
  view.show(
    pageHeader(item.name || item.api_id,
      item.oauth ? h('a', { class: 'button secondary', href: link('apis', apiId, 'clients'), id: 'api-clients-link' }, 'OAuth clients') : null,
      h('a', { class: 'button secondary', href: link('apis', apiId, 'export'), id: 'api-export' }, 'Export Tyk OAS'),
      h('a', { class: 'button secondary', href: link('apis', apiId, 'export', 'classic'), id: 'api-export-classic' }, 'Export Tyk Classic'),
      remove),
    h('p', { class: 'hint' }, 'Id ', h('code', { id: 'api-id-value' }, item.api_id),
      tokenUrl ? [' · token endpoint ', h('code', { id: 'api-token-url' }, tokenUrl)] : null),
    warnings,
    form,
    item.oauth || item.token_auth
      ? usageSection('api-usage', { title: 'Requests in the last 24 hours', minutes: 1440, buckets: 24, apiId })
      : null);
}
