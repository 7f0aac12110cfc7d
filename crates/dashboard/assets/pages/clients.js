// OAuth clients of one API: list, create (the secret shown once), edit, rotate, delete, and
// the client's live tokens with revocation.

import * as api from '../api.js';
import { go, link } from '../router.js';
import { tryPanel } from './try.js';
import {
  h, pageHeader, table, cell, loading, field, fieldset, input, checkbox, select, button, formError,
  clearErrors, showError, toast, confirmAction, when, rowList, saving,
} from '../dom.js';

const FIELDS = {
  client_name: 'client-name',
  description: 'client-description',
  redirect_uri: 'client-redirect-uris',
  redirect_uris: 'client-redirect-uris',
  policy_id: 'client-policy',
  public_client: 'client-public',
  client_id: 'client-id',
  meta_data: 'client-meta',
};

/** One metadata entry of a client: a key and its value. */
function metaRow(value, n) {
  const key = input(`client-meta-key-${n}`, { value: value ? value[0] : '', autocomplete: 'off', spellcheck: 'false', dataset: { test: 'client-meta-key' } });
  const val = input(`client-meta-value-${n}`, { value: value ? value[1] : '', autocomplete: 'off', spellcheck: 'false', dataset: { test: 'client-meta-value' } });
  return {
    node: h('div', { class: 'row2' }, field('Key', key), field('Value', val)),
    first: key,
    name: `metadata entry ${n + 1}`,
    read: () => [key.value.trim(), val.value],
  };
}

function policyOptions(policies) {
  return [['', '(no policy)'], ...policies.map((p) => [p.id, p.name ? `${p.name} (${p.id})` : p.id])];
}

function policyName(policies, id) {
  if (!id) return '—';
  const policy = policies.find((p) => p.id === id);
  return policy && policy.name ? policy.name : id;
}

function tokenEndpoint(item) {
  const session = api.session();
  if (!session || !session.gatewayUrl) return null;
  return `${session.gatewayUrl.replace(/\/$/, '')}${(item.listen_path || '/').replace(/\/?$/, '/')}oauth/token`;
}

function crumbs(item, ...rest) {
  return h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' },
    h('a', { href: '#/apis' }, 'APIs'), ' / ',
    h('a', { href: link('apis', item.api_id) }, item.name || item.api_id), ' / ',
    h('a', { href: link('apis', item.api_id, 'clients') }, 'Clients'),
    rest.length ? [' / ', rest] : null);
}

function clientRow(item, client, policies) {
  return h('tr', { dataset: { test: 'client-row', id: client.client_id } },
    cell('Name', h('a', { href: link('apis', item.api_id, 'clients', client.client_id), dataset: { test: 'client-open' } },
      client.client_name || client.client_id)),
    cell('Client id', h('code', {}, client.client_id)),
    cell('Policy', policyName(policies, client.policy_id)),
    cell('Redirect URIs', (client.redirect_uris || []).join(' ')),
    cell('Type', client.public_client ? 'Public (PKCE)' : 'Confidential'),
    cell('Analytics', h('a', { href: link('analytics', client.client_id) }, 'Requests')));
}

export async function renderList({ api: apiId }, view) {
  view.show(pageHeader('Clients'), loading());
  const [item, clients, policies] = await Promise.all([
    api.get(`apis/${api.seg(apiId)}`), api.listClients(apiId), api.listPolicies(),
  ]);
  view.show(
    crumbs(item),
    pageHeader(`OAuth clients of ${item.name || item.api_id}`,
      h('a', { class: 'button primary', href: link('apis', apiId, 'clients', 'new'), id: 'client-new' }, 'New client')),
    table('client-table', ['Name', 'Client id', 'Policy', 'Redirect URIs', 'Type', 'Analytics'],
      clients.map((c) => clientRow(item, c, policies)),
      'No client yet.'));
}

/** The panel that shows a secret once, with a Copy button. */
function secretPanel(item, client, title) {
  const copied = h('span', { id: 'client-secret-copied', class: 'copied', role: 'status' });
  const endpoint = tokenEndpoint(item);
  return h('section', { class: 'card secret-panel', id: 'client-secret-panel', 'aria-labelledby': 'client-secret-title' },
    h('h2', { id: 'client-secret-title', tabindex: '-1' }, title),
    h('p', { class: 'warning-text' }, 'Copy the secret now: Gatehouse stores only a hash and cannot show it again.'),
    h('dl', { class: 'pairs' },
      h('dt', {}, 'Client id'), h('dd', {}, h('code', { id: 'client-id-value' }, client.client_id)),
      h('dt', {}, 'Client secret'), h('dd', {}, h('code', { id: 'client-secret-value', class: 'secret' }, client.secret || '')),
      endpoint ? [h('dt', {}, 'Token endpoint'), h('dd', {}, h('code', { id: 'client-token-endpoint' }, endpoint))] : null),
    h('div', { class: 'actions' },
      button('Copy secret', {
        id: 'client-secret-copy', class: 'primary',
        onClick: async () => {
          try {
            await navigator.clipboard.writeText(client.secret || '');
            copied.textContent = 'Copied';
          } catch (e) {
            copied.textContent = `Could not copy (${e.message}): select the secret and copy it.`;
          }
        },
      }),
      copied,
      h('a', { class: 'button secondary', href: link('apis', item.api_id, 'clients', client.client_id), id: 'client-secret-done' },
        'I have stored it')),
    tryPanel(item, client, client.secret));
}

function clientForm(client, policies, isNew, onSave) {
  const controls = {
    name: input('client-name', { value: client.client_name || '', autocomplete: 'off' }),
    description: h('textarea', { id: 'client-description', name: 'client-description', rows: '2' }),
    redirects: h('textarea', { id: 'client-redirect-uris', name: 'client-redirect-uris', rows: '3', spellcheck: 'false', class: 'code' }),
    policy: select('client-policy', policyOptions(policies), client.policy_id || ''),
    id: isNew ? input('client-id', { autocomplete: 'off', spellcheck: 'false' }) : null,
    public: isNew ? checkbox('client-public', false) : null,
  };
  const meta = rowList('client-meta-list', Object.entries(client.meta_data || {}).sort(), metaRow, {
    test: 'client-meta', addLabel: 'Add metadata', empty: 'No metadata.',
  });
  controls.description.value = client.description || '';
  controls.redirects.value = (client.redirect_uris || (client.redirect_uri ? [client.redirect_uri] : [])).join('\n');
  const submit = h('button', { type: 'submit', id: 'client-save', class: 'primary' }, isNew ? 'Create client' : 'Save');
  const form = h('form', { id: 'client-form', class: 'card', novalidate: true },
    formError('client-form-error'),
    h('div', { class: 'row2' },
      field('Name', controls.name),
      isNew ? field('Client id', controls.id, 'Optional: generated when empty.') : null),
    field('Description', controls.description),
    field('Redirect URIs', controls.redirects, 'One per line. An authorization request must name one of them exactly.'),
    field('Policy', controls.policy, 'Rate limits, quota and the APIs its tokens may call. Changing it revokes the client\'s tokens.'),
    fieldset('Metadata', 'client-meta', meta.node),
    isNew ? field('Public client (no secret; PKCE required)', controls.public) : null,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = {
      client_name: controls.name.value.trim(),
      description: controls.description.value.trim(),
      redirect_uris: controls.redirects.value.split(/\s+/).map((u) => u.trim()).filter(Boolean),
      policy_id: controls.policy.value,
    };
    // Every metadata row is kept or refused, never dropped silently.
    const entries = meta.rows().map((r) => r.read()).filter(([k, v]) => k || v);
    const keys = entries.map(([k]) => k);
    if (keys.some((k) => !k)) {
      showError(form, new Error('meta_data: every value needs a key'), FIELDS);
      return;
    }
    const repeated = keys.find((k, i) => keys.indexOf(k) !== i);
    if (repeated) {
      showError(form, new Error(`meta_data: the key ${repeated} is given twice`), FIELDS);
      return;
    }
    body.meta_data = Object.fromEntries(entries);
    if (isNew && controls.id.value.trim()) body.client_id = controls.id.value.trim();
    if (isNew && controls.public.checked) body.public_client = true;
    await saving(form, submit, FIELDS, () => onSave(body));
  });
  return form;
}

export async function renderNew({ api: apiId }, view) {
  view.show(pageHeader('New client'), loading());
  const [item, policies] = await Promise.all([api.get(`apis/${api.seg(apiId)}`), api.listPolicies()]);
  const holder = h('div', { id: 'client-new-holder' });
  const form = clientForm({}, policies, true, async (body) => {
    const created = await api.post(`apis/oauth/${api.seg(apiId)}`, body);
    toast(`Created client ${created.client_name || created.client_id}.`);
    if (created.secret) {
      holder.replaceChildren(secretPanel(item, created, 'Client created'));
      document.getElementById('client-secret-title').focus();
    } else {
      go('apis', apiId, 'clients', created.client_id);
    }
  });
  holder.append(form);
  view.show(crumbs(item, 'New'), pageHeader(`New client of ${item.name || item.api_id}`), holder);
  document.getElementById('client-name').focus();
}

function tokenRow(code, expires, onRevoke) {
  const kind = code.startsWith('fam:') ? 'Refresh token family' : 'Access token';
  return h('tr', { dataset: { test: 'token-row', id: code } },
    cell('Token id', h('code', { class: 'token-id' }, code)),
    cell('Kind', kind),
    cell('Expires', h('time', { datetime: expires ? new Date(expires * 1000).toISOString() : '' }, expires ? when(expires) : '—')),
    cell('', button('Revoke', { class: 'danger small', dataset: { test: 'token-revoke', id: code }, onClick: onRevoke })));
}

/** Revokes `token` (a token, or an id as listed) of the client: the server's message, or an
 * ApiError. An answer of "no such live token" is an error here: the admin meant one. */
async function revoke(clientId, token, hint) {
  const body = { token, client_id: clientId };
  if (hint) body.token_type_hint = hint;
  const answer = await api.post(`apis/oauth/${api.seg(clientId)}/revoke`, body);
  const message = (answer && answer.Message) || 'revoked';
  if (/no such/i.test(message)) throw new api.ApiError(404, `Not revoked: ${message}.`);
  return message;
}

function tokensSection(apiId, clientId) {
  const holder = h('div', { id: 'tokens-holder' }, loading());
  const status = h('p', { class: 'hint', id: 'token-count', role: 'status' });
  const error = formError('tokens-error');
  const fail = (e) => {
    if (e.sessionEnded) return;
    error.textContent = e.message;
    error.hidden = false;
    error.focus();
  };
  const section = h('section', { class: 'card', id: 'tokens', 'aria-labelledby': 'tokens-title' });
  const load = async () => {
    let tokens;
    try {
      tokens = (await api.get(`apis/oauth/${api.seg(apiId)}/${api.seg(clientId)}/tokens`)) || [];
    } catch (e) {
      fail(e);
      return;
    }
    status.textContent = tokens.length === 1 ? '1 live token' : `${tokens.length} live tokens`;
    holder.replaceChildren(table('token-table', ['Token id', 'Kind', 'Expires', ''],
      tokens.map((t) => tokenRow(t.code, t.expires, async () => {
        const ok = await confirmAction(`Revoke the token ${t.code}? Requests carrying it are refused from now on.`, 'Revoke');
        if (!ok) return;
        error.hidden = true;
        try {
          toast(await revoke(clientId, t.code, t.code.startsWith('fam:') ? 'refresh_token' : 'access_token'));
        } catch (e) {
          fail(e);
        }
        await load();
      })),
      'No live token: tokens appear here when the client gets one.'));
  };

  // A token known by its value (from a log, a leak report): RFC 7009 revocation by the admin.
  const byValue = input('token-revoke-value', { type: 'password', autocomplete: 'off', spellcheck: 'false' });
  const byValueForm = h('form', { id: 'token-revoke-form', class: 'inline-form', novalidate: true },
    field('Revoke a token by its value', byValue, 'An access or refresh token of this client, e.g. one that leaked.'),
    h('button', { type: 'submit', id: 'token-revoke-submit', class: 'danger' }, 'Revoke token'));
  byValueForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    if (!byValue.value.trim()) {
      fail(new Error('Paste the token to revoke.'));
      byValue.focus();
      return;
    }
    try {
      toast(await revoke(clientId, byValue.value.trim()));
      byValue.value = '';
    } catch (e) {
      fail(e);
    }
    await load();
  });

  // The session authorizes revoke-all; a client secret, when given, is checked as Tyk does.
  const allSecret = input('tokens-revoke-all-secret', { type: 'password', autocomplete: 'off', spellcheck: 'false' });
  const allForm = h('form', { id: 'tokens-revoke-all-form', class: 'inline-form', novalidate: true },
    field('Client secret (optional)', allSecret, 'Leave it empty: your session is enough. If given, it must be the client\'s, as Tyk\'s revoke-all requires. Deleting the client or changing its policy revokes its tokens too.'),
    h('button', { type: 'submit', id: 'tokens-revoke-all', class: 'danger' }, 'Revoke all'));
  allForm.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    const ok = await confirmAction('Revoke every token of this client?', 'Revoke all');
    if (!ok) return;
    try {
      const body = { client_id: clientId };
      if (allSecret.value) body.client_secret = allSecret.value;
      await api.post(`apis/oauth/${api.seg(clientId)}/revoke_all`, body);
      allSecret.value = '';
      toast('Every token of the client is revoked.');
    } catch (e) {
      fail(e);
    }
    await load();
  });

  section.append(
    h('div', { class: 'section-header' },
      h('h2', { id: 'tokens-title' }, 'Live tokens'),
      h('div', { class: 'actions' }, button('Refresh', { id: 'tokens-refresh', class: 'secondary', onClick: load }))),
    h('p', { class: 'hint' }, 'Gatehouse stores tokens as hashes: these are their ids, never the tokens.'),
    error, status, holder, byValueForm, allForm);
  load();
  return section;
}

export async function renderEdit({ api: apiId, client: clientId }, view) {
  view.show(pageHeader('Client'), loading());
  const [item, client, policies] = await Promise.all([
    api.get(`apis/${api.seg(apiId)}`),
    api.get(`apis/oauth/${api.seg(apiId)}/${api.seg(clientId)}`),
    api.listPolicies(),
  ]);
  const rotated = h('div', { id: 'client-rotated-holder' });
  const form = clientForm(client, policies, false, async (body) => {
    await api.put(`apis/oauth/${api.seg(apiId)}/${api.seg(clientId)}`, body);
    toast('Saved.');
  });
  const rotate = button('Rotate secret', {
    id: 'client-rotate', class: 'secondary',
    onClick: async () => {
      const ok = await confirmAction('Rotate the secret? The current one stops working at once.', 'Rotate');
      if (!ok) return;
      try {
        const answer = await api.put(`apis/oauth/${api.seg(apiId)}/${api.seg(clientId)}/rotate`);
        rotated.replaceChildren(secretPanel(item, answer, 'New secret'));
        document.getElementById('client-secret-title').focus();
      } catch (e) {
        if (!e.sessionEnded) showError(form, e, FIELDS);
      }
    },
  });
  const remove = button('Delete', {
    id: 'client-delete', class: 'danger',
    onClick: async () => {
      const ok = await confirmAction(`Delete the client ${client.client_name || client.client_id}? Its tokens are revoked.`);
      if (!ok) return;
      try {
        await api.del(`apis/oauth/${api.seg(apiId)}/${api.seg(clientId)}`);
        toast('Client deleted.');
        go('apis', apiId, 'clients');
      } catch (e) {
        if (!e.sessionEnded) showError(form, e, FIELDS);
      }
    },
  });
  const endpoint = tokenEndpoint(item);
  view.show(
    crumbs(item, client.client_name || client.client_id),
    pageHeader(client.client_name || client.client_id,
      h('a', { class: 'button secondary', href: link('analytics', clientId), id: 'client-analytics' }, 'Analytics'),
      rotate, remove),
    h('p', { class: 'hint' }, 'Client id ', h('code', { id: 'client-id-shown' }, client.client_id),
      client.public_client ? ' · public client (PKCE)' : null,
      endpoint ? [' · token endpoint ', h('code', {}, endpoint)] : null),
    rotated,
    form,
    tryPanel(item, client, null),
    tokensSection(apiId, clientId));
}
