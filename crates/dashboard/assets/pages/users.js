// Resource owners: the users of the password grant. List, create, delete.

import * as api from '../api.js';
import { link } from '../router.js';
import {
  h, pageHeader, table, cell, loading, field, input, select, button, formError, clearErrors,
  showError, toast, confirmAction,
} from '../dom.js';

const FIELDS = { username: 'user-username', password: 'user-password', policy_id: 'user-policy' };

export async function render(params, view) {
  view.show(pageHeader('Resource owners'), loading());
  const [users, policies, apis] = await Promise.all([api.listUsers(), api.listPolicies(), api.listApis()]);
  // Resource owners sign in only through an API that takes the password grant.
  const passwordApis = apis.filter((a) => a.oauth && (a.oauth.allowed_grant_types || []).includes('password'));
  const grantNote = h('p', { class: passwordApis.length ? 'hint' : 'notice', id: 'user-password-apis' },
    passwordApis.length
      ? ['The password grant is on for: ', passwordApis.map((a, i) => [i ? ', ' : '', h('a', { href: link('apis', a.api_id) }, a.name || a.api_id)])]
      : ['No API takes the password grant yet, so these users cannot sign in anywhere: turn it on in an ',
        h('a', { href: '#/apis' }, 'API'), '\'s OAuth grants.']);
  users.sort((a, b) => a.username.localeCompare(b.username));
  const policyName = (id) => {
    const p = policies.find((x) => x.id === id);
    return p && p.name ? p.name : id;
  };
  const listError = formError('user-list-error');
  const rows = users.map((u) => h('tr', { dataset: { test: 'user-row', id: u.username } },
    cell('Username', h('strong', {}, u.username)),
    cell('Policy', u.policy_id ? h('a', { href: link('policies', u.policy_id) }, policyName(u.policy_id)) : '—'),
    cell('', button('Delete', {
      class: 'danger small', dataset: { test: 'user-delete', id: u.username },
      onClick: async () => {
        const ok = await confirmAction(`Delete the resource owner ${u.username}? Their tokens stop working.`);
        if (!ok) return;
        try {
          await api.del(`users/${api.seg(u.username)}`);
          toast(`Deleted ${u.username}.`);
          render(params, view);
        } catch (e) {
          if (e.sessionEnded) return;
          listError.textContent = e.message;
          listError.hidden = false;
        }
      },
    }))));

  const c = {
    username: input('user-username', { autocomplete: 'off', spellcheck: 'false', required: true }),
    password: input('user-password', { type: 'password', autocomplete: 'new-password', required: true }),
    policy: select('user-policy', [['', '(no policy)'], ...policies.map((p) => [p.id, p.name ? `${p.name} (${p.id})` : p.id])], ''),
  };
  const submit = h('button', { type: 'submit', id: 'user-create', class: 'primary' }, 'Create resource owner');
  const form = h('form', { id: 'user-form', class: 'card', novalidate: true },
    h('h2', {}, 'New resource owner'),
    formError('user-form-error'),
    h('div', { class: 'row3' },
      field('Username', c.username),
      field('Password', c.password, 'At least 8 characters; stored as a hash.'),
      field('Policy', c.policy)),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const body = { username: c.username.value.trim(), password: c.password.value, policy_id: c.policy.value };
    submit.disabled = true;
    try {
      const created = await api.post('users', body);
      toast(`Created ${created.username}.`);
      render(params, view);
    } catch (e) {
      if (!e.sessionEnded) showError(form, e, FIELDS);
    } finally {
      submit.disabled = false;
    }
  });

  view.show(
    pageHeader('Resource owners'),
    h('p', { class: 'hint' }, 'Users who sign in with the password grant on an API that allows it.'),
    grantNote,
    listError,
    table('user-table', ['Username', 'Policy', ''], rows, 'No resource owner yet.'),
    form);
}
