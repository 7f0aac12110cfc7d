// Policies: list, create, edit, delete, and which clients and resource owners use one.

import * as api from '../api.js';
import { go, link } from '../router.js';
import {
  h, pageHeader, table, cell, loading, field, fieldset, input, checkbox, button, formError,
  clearErrors, showError, toast, confirmAction, rowList, saving,
} from '../dom.js';

const FIELDS = {
  name: 'policy-name',
  id: 'policy-id',
  rate: 'policy-rate',
  per: 'policy-per',
  quota_max: 'policy-quota-max',
  quota_renewal_rate: 'policy-quota-renewal',
  active: 'policy-active',
  key_expires_in: 'policy-key-expires',
  access_rights: 'policy-access',
  versions: 'policy-access',
  allowed_urls: 'policy-access',
};

/** One allowed URL of an access right: a regular expression and the methods it allows. */
function urlRow(apiIndex) {
  return (value, n) => {
    const id = `policy-url-${apiIndex}-${n}`;
    const url = input(id, { value: (value && value.url) || '', placeholder: '^/orders(/.*)?$', spellcheck: 'false', dataset: { test: 'policy-url' } });
    const methods = input(`${id}-methods`, {
      value: ((value && value.methods) || []).join(', '), placeholder: 'GET, POST', spellcheck: 'false',
      dataset: { test: 'policy-url-methods' },
    });
    return {
      node: h('div', { class: 'row2' },
        field('Path (regular expression under the listen path)', url),
        field('Methods (comma-separated)', methods)),
      first: url,
      name: `allowed URL ${n + 1}`,
      read: () => ({
        url: url.value.trim(),
        methods: methods.value.split(/[\s,]+/).map((m) => m.trim().toUpperCase()).filter(Boolean),
      }),
    };
  };
}

function rateText(p) {
  if (!p.rate) return 'unlimited';
  return `${p.rate} per ${p.per || 1} s`;
}

function quotaText(p) {
  if (!p.quota_max || p.quota_max < 0) return 'none';
  return `${p.quota_max} per ${p.quota_renewal_rate || 0} s`;
}

function policyRow(p, apisById) {
  const granted = Object.keys(p.access_rights || {}).map((id) => (apisById[id] && apisById[id].name) || id);
  return h('tr', { dataset: { test: 'policy-row', id: p.id } },
    cell('Name', h('a', { href: link('policies', p.id), dataset: { test: 'policy-open' } }, p.name || p.id)),
    cell('Id', h('code', {}, p.id)),
    cell('Rate', rateText(p)),
    cell('Quota', quotaText(p)),
    cell('State', p.active === false
      ? h('span', { class: 'badge badge-warn' }, 'inactive')
      : h('span', { class: 'badge badge-ok' }, 'active')),
    cell('APIs', granted.join(', ') || '—'));
}

export async function renderList(_params, view) {
  view.show(pageHeader('Policies'), loading());
  const [policies, apis] = await Promise.all([api.listPolicies(), api.listApis()]);
  const apisById = Object.fromEntries(apis.map((a) => [a.api_id, a]));
  policies.sort((a, b) => (a.name || a.id).localeCompare(b.name || b.id));
  view.show(
    pageHeader('Policies', h('a', { class: 'button primary', href: '#/policies/new', id: 'policy-new' }, 'New policy')),
    h('p', { class: 'hint' }, 'A policy sets the rate limit, quota and APIs of the tokens issued to the clients and resource owners that use it.'),
    table('policy-table', ['Name', 'Id', 'Rate', 'Quota', 'State', 'APIs'],
      policies.map((p) => policyRow(p, apisById)), 'No policy yet.'));
}

function numberInput(id, value, attrs = {}) {
  return input(id, { type: 'number', step: 'any', value: value === undefined || value === null ? '' : String(value), ...attrs });
}

/** One row of the access rights: a checkbox per API and the versions it grants. */
function accessRow(item, index, right) {
  const box = checkbox(`policy-access-${index}`, Boolean(right), { value: item.api_id, dataset: { test: 'policy-access', api: item.api_id } });
  const versions = input(`policy-versions-${index}`, {
    value: right ? (right.versions || []).join(', ') : '',
    placeholder: 'Default',
    dataset: { test: 'policy-versions', api: item.api_id },
    spellcheck: 'false',
  });
  const versionField = field(`Versions of ${item.name || item.api_id}`, versions, 'Comma-separated; empty: Default.');
  const urls = rowList(`policy-urls-${index}`, (right && right.allowed_urls) || [], urlRow(index), {
    test: 'policy-url', addLabel: 'Add an allowed URL', data: { api: item.api_id },
    empty: 'Every path and method of the API is allowed.',
  });
  const urlField = h('div', { class: 'subfields' }, h('p', { class: 'hint' }, `Allowed URLs of ${item.name || item.api_id}`), urls.node);
  const sync = () => {
    versionField.hidden = !box.checked;
    urlField.hidden = !box.checked;
  };
  box.addEventListener('change', sync);
  sync();
  return {
    node: h('div', { class: 'access-row' },
      field(h('span', {}, item.name || item.api_id, ' ', h('code', {}, item.listen_path || '')), box), versionField, urlField),
    read: () => {
      if (!box.checked) return null;
      const list = versions.value.split(',').map((v) => v.trim()).filter(Boolean);
      return {
        ...(right || {}),
        api_id: item.api_id,
        api_name: item.name || '',
        versions: list.length ? list : ['Default'],
        allowed_urls: urls.rows().map((r) => r.read()).filter((u) => u.url || u.methods.length),
      };
    },
  };
}

function policyForm(policy, apis, isNew, onSave) {
  const c = {
    name: input('policy-name', { value: policy.name || '', required: true, autocomplete: 'off' }),
    id: input('policy-id', { value: policy.id || '', disabled: !isNew, autocomplete: 'off', spellcheck: 'false' }),
    rate: numberInput('policy-rate', policy.rate ?? 0, { min: '0' }),
    per: numberInput('policy-per', policy.per ?? 1, { min: '0' }),
    quotaMax: numberInput('policy-quota-max', policy.quota_max ?? 0, { step: '1' }),
    quotaRenewal: numberInput('policy-quota-renewal', policy.quota_renewal_rate ?? 0, { min: '0', step: '1' }),
    keyExpires: numberInput('policy-key-expires', policy.key_expires_in ?? 0, { min: '0', step: '1' }),
    active: checkbox('policy-active', policy.active !== false),
  };
  const rights = policy.access_rights || {};
  const known = new Set(apis.map((a) => a.api_id));
  // Rights to APIs that no longer exist are kept as they are, not silently dropped.
  const orphans = Object.keys(rights).filter((id) => !known.has(id));
  const rows = apis.map((a, i) => accessRow(a, i, rights[a.api_id]));
  const submit = h('button', { type: 'submit', id: 'policy-save', class: 'primary' }, isNew ? 'Create policy' : 'Save');
  const form = h('form', { id: 'policy-form', class: 'card', novalidate: true },
    formError('policy-form-error'),
    h('div', { class: 'row2' },
      field('Name', c.name),
      field('Policy id', c.id, isNew ? 'Optional: generated when empty.' : 'A policy\'s id cannot change.')),
    h('div', { class: 'row2' },
      field('Rate (requests)', c.rate, '0: no rate limit.'),
      field('Per (seconds)', c.per)),
    h('div', { class: 'row2' },
      field('Quota (requests per period)', c.quotaMax, '0 or -1: no quota.'),
      field('Quota period (seconds)', c.quotaRenewal)),
    field('Token lifetime (seconds)', c.keyExpires, '0: the API\'s access token lifetime.'),
    field('Active (tokens under an inactive policy are refused)', c.active),
    fieldset('APIs this policy grants', 'policy-access',
      rows.length ? rows.map((r) => r.node) : h('p', { class: 'hint' }, 'No API yet.'),
      orphans.length ? h('p', { class: 'hint' }, `Also kept: rights to deleted APIs ${orphans.join(', ')}.`) : null),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = { ...policy };
    body.name = c.name.value.trim();
    if (isNew && c.id.value.trim()) body.id = c.id.value.trim();
    // Numbers as typed: a value that is not one is sent as text, so the control plane's error
    // names the field.
    const num = (control) => {
      const raw = control.value.trim();
      if (raw === '') return 0;
      const n = Number(raw);
      return Number.isFinite(n) ? n : raw;
    };
    body.rate = num(c.rate);
    body.per = num(c.per);
    body.quota_max = num(c.quotaMax);
    body.quota_renewal_rate = num(c.quotaRenewal);
    body.key_expires_in = num(c.keyExpires);
    body.active = c.active.checked;
    const access = {};
    for (const id of orphans) access[id] = rights[id];
    for (const row of rows) {
      const right = row.read();
      if (right) access[right.api_id] = right;
    }
    // A row with methods but no path would allow every path: refused here, not sent.
    const pathless = Object.values(access).find((r) => (r.allowed_urls || []).some((u) => !u.url));
    if (pathless) {
      showError(form, new Error(`allowed_urls: an allowed URL of ${pathless.api_id} has methods but no path`), FIELDS);
      return;
    }
    body.access_rights = access;
    await saving(form, submit, FIELDS, () => onSave(body));
  });
  return form;
}

export async function renderNew(_params, view) {
  view.show(pageHeader('New policy'), loading());
  const apis = await api.listApis();
  const form = policyForm({ active: true, rate: 0, per: 1 }, apis, true, async (body) => {
    const answer = await api.post('portal/policies', body);
    const id = (answer && answer.Message) || body.id;
    toast(`Created policy ${body.name || id}.`);
    go('policies', id);
  });
  view.show(pageHeader('New policy', h('a', { class: 'button secondary', href: '#/policies' }, 'Cancel')), form);
  document.getElementById('policy-name').focus();
}

/** Clients (on every OAuth API) and resource owners under policy `id`. */
function usedBy(id, apis, clients, users) {
  const mine = clients.filter(({ client }) => client.policy_id === id);
  const owners = users.filter((u) => u.policy_id === id);
  return h('section', { class: 'card', id: 'policy-used-by', 'aria-labelledby': 'policy-used-by-title' },
    h('h2', { id: 'policy-used-by-title' }, 'Used by'),
    mine.length || owners.length ? null : h('p', { id: 'policy-unused' }, 'No client or resource owner uses this policy.'),
    mine.length
      ? h('ul', { id: 'policy-clients' }, mine.map(({ api: a, client }) => h('li', { dataset: { test: 'policy-client', id: client.client_id } },
        h('a', { href: link('apis', a.api_id, 'clients', client.client_id) }, client.client_name || client.client_id),
        ` on ${a.name || a.api_id}`)))
      : null,
    owners.length
      ? h('ul', { id: 'policy-users' }, owners.map((u) => h('li', { dataset: { test: 'policy-user', id: u.username } },
        `Resource owner ${u.username}`)))
      : null);
}

export async function renderEdit({ policy: policyId }, view) {
  view.show(pageHeader('Policy'), loading());
  const [policy, apis, users] = await Promise.all([
    api.get(`portal/policies/${api.seg(policyId)}`), api.listApis(), api.listUsers(),
  ]);
  const clients = await api.listAllClients(apis);
  const form = policyForm(policy, apis, false, async (body) => {
    await api.put(`portal/policies/${api.seg(policyId)}`, body);
    toast('Saved.');
  });
  const remove = button('Delete', {
    id: 'policy-delete', class: 'danger',
    onClick: async () => {
      const ok = await confirmAction(`Delete the policy "${policy.name || policy.id}"?`);
      if (!ok) return;
      try {
        await api.del(`portal/policies/${api.seg(policyId)}`);
        toast('Policy deleted.');
        go('policies');
      } catch (e) {
        if (!e.sessionEnded) showError(form, e, FIELDS);
      }
    },
  });
  view.show(
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/policies' }, 'Policies'), ' / ', policy.name || policy.id),
    pageHeader(policy.name || policy.id, remove),
    h('p', { class: 'hint' }, 'Id ', h('code', { id: 'policy-id-value' }, policy.id)),
    form,
    usedBy(policy.id, apis, clients, users));
}
