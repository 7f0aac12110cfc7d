// Overview: the gateways following this control plane and how much is configured.

import * as api from '../api.js';
import { h, pageHeader, table, cell, loading, ago, when, button } from '../dom.js';
import { usageSection } from './usage.js';

function count(id, label, value, href) {
  return h('a', { class: 'stat', href, id: `${id}-card` },
    h('span', { class: 'stat-value', id }, String(value)),
    h('span', { class: 'stat-label' }, label));
}

function revisionOf(value) {
  // 64-bit revisions arrive as strings (proto3 JSON) or numbers.
  if (value === undefined || value === null || value === '') return 0;
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

function gatewayRow(gateway, latest) {
  const applied = revisionOf(gateway.applied_revision);
  const sent = revisionOf(gateway.revision);
  const target = Math.max(latest, sent);
  // 0 applied: not reported yet (or an older gateway), unless there is nothing to apply.
  const lag = applied || target === 0 ? Math.max(0, target - applied) : null;
  let lagText = 'not reported';
  let lagClass = 'badge badge-muted';
  if (lag === 0) {
    lagText = 'up to date';
    lagClass = 'badge badge-ok';
  } else if (lag !== null) {
    lagText = `${lag} behind`;
    lagClass = 'badge badge-warn';
  }
  return h('tr', { dataset: { test: 'gateway-row', id: gateway.node_id || '' } },
    cell('Gateway', h('strong', {}, gateway.node_id || '(unnamed)')),
    cell('Address', gateway.address || ''),
    cell('Applied revision', applied ? String(applied) : '—'),
    cell('Lag', h('span', { class: lagClass, dataset: { test: 'gateway-lag' } }, lagText)),
    cell('Last seen', h('time', { datetime: gateway.last_seen || '', title: when(gateway.last_seen) },
      ago(gateway.last_seen))),
    cell('Connected', h('time', { datetime: gateway.connected_since || '' }, when(gateway.connected_since))),
    cell('Authenticated by', gateway.authenticated_by || ''));
}

/** Clients whose tokens the overview counts at most: each is one listing call. */
const TOKEN_COUNT_CLIENTS = 50;

/** Live tokens of the first clients (listings hold ids, never tokens); `more` when some were
 * left out. */
async function liveTokens(clients) {
  const counted = clients.slice(0, TOKEN_COUNT_CLIENTS);
  // A listing that fails (a token store away) leaves the count unknown, not the overview broken.
  const lists = await Promise.all(counted.map(({ api: item, client }) =>
    api.get(`apis/oauth/${api.seg(item.api_id)}/${api.seg(client.client_id)}/tokens`)
      .then((tokens) => (Array.isArray(tokens) ? tokens.length : 0), () => null)));
  const known = !lists.includes(null);
  return { total: known ? lists.reduce((sum, n) => sum + n, 0) : '—', more: clients.length > counted.length };
}

/** The control plane's readiness, as its /readyz probe answers it. */
async function readiness() {
  try {
    const response = await fetch('../readyz', { credentials: 'same-origin', cache: 'no-store' });
    return response.ok;
  } catch {
    return false;
  }
}

export async function render(_params, view) {
  view.show(pageHeader('Overview'), loading());
  const [apis, policies, users, fleet] = await Promise.all([
    api.listApis(), api.listPolicies(), api.listUsers(), api.listGateways(),
  ]);
  const clients = await api.listAllClients(apis);
  const [tokens, ready] = await Promise.all([liveTokens(clients), readiness()]);
  const latest = Math.max(revisionOf(fleet.revision), ...fleet.gateways.map((g) => revisionOf(g.revision)), 0);
  const session = api.session();
  const refresh = button('Refresh', { id: 'overview-refresh', class: 'secondary', onClick: () => render(_params, view) });
  view.show(
    pageHeader('Overview', refresh),
    h('section', { class: 'stats', 'aria-label': 'Configuration' },
      count('count-apis', 'APIs', apis.length, '#/apis'),
      count('count-clients', 'OAuth clients', clients.length, '#/apis'),
      count('count-policies', 'Policies', policies.length, '#/policies'),
      count('count-users', 'Resource owners', users.length, '#/users'),
      count('count-tokens', tokens.more ? `Live tokens (first ${TOKEN_COUNT_CLIENTS} clients)` : 'Live tokens',
        tokens.total, '#/apis')),
    h('p', { class: 'hint', id: 'control-plane-ready' }, 'Control plane: ',
      h('span', { class: ready ? 'badge badge-ok' : 'badge badge-warn', dataset: { test: 'readiness' } },
        ready ? 'ready' : 'not ready (its state store does not answer)')),
    usageSection('usage', { title: 'Requests in the last hour', minutes: 60, buckets: 60 }),
    h('section', { 'aria-labelledby': 'gateways-title' },
      h('h2', { id: 'gateways-title' }, `Gateways connected (${fleet.gateways.length})`),
      latest ? h('p', { class: 'hint', id: 'control-revision' }, `Latest configuration revision: ${latest}`) : null,
      session && session.gatewayUrl
        ? h('p', { class: 'hint', id: 'gateway-url' }, 'This dev process serves API traffic at ',
          h('code', {}, session.gatewayUrl), '.')
        : null,
      table('gateway-table',
        ['Gateway', 'Address', 'Applied revision', 'Lag', 'Last seen', 'Connected', 'Authenticated by'],
        fleet.gateways.map((g) => gatewayRow(g, latest)),
        'No gateway is connected to this control plane.')),
  );
}
