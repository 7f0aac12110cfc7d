// Analytics: one client's requests per day over the last 30 days (UTC, as the control plane
// counts them), as a chart and tables.

import * as api from '../api.js';
import { go, link } from '../router.js';
import { h, pageHeader, table, cell, loading, field, select } from '../dom.js';
import { barChart } from '../chart.js';

const DAYS = 30;

function pad(n) {
  return String(n).padStart(2, '0');
}

/** The last DAYS days in UTC, oldest first: [{ key: 'YYYY-MM-DD', label: 'MM-DD', date }]. */
function lastDays(now = new Date()) {
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const days = [];
  for (let i = DAYS - 1; i >= 0; i -= 1) {
    const date = new Date(today - i * 86400000);
    const key = `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
    days.push({ key, label: key.slice(5), date });
  }
  return days;
}

function rangePath(clientId, days) {
  const first = days[0].date;
  const last = days[days.length - 1].date;
  const dmy = (d) => `${d.getUTCDate()}/${d.getUTCMonth() + 1}/${d.getUTCFullYear()}`;
  return `activity/oauthid/${api.seg(clientId)}/${dmy(first)}/${dmy(last)}?res=day`;
}

/** Sums the rows (one per endpoint, status and day) per day. */
function perDay(rows, days) {
  const byKey = new Map(days.map((d) => [d.key, { ...d, hits: 0, success: 0, errors: 0, latencyTotal: 0 }]));
  for (const row of rows) {
    const id = row.id || {};
    const key = `${id.year}-${pad(id.month)}-${pad(id.day)}`;
    const day = byKey.get(key);
    if (!day) continue;
    const hits = row.hits || 0;
    day.hits += hits;
    day.success += row.success || 0;
    day.errors += row.error || 0;
    day.latencyTotal += (row.latency || 0) * hits;
  }
  return [...byKey.values()];
}

/** Sums the rows per endpoint (API, method, path, status) over the range. */
function perEndpoint(rows) {
  const byKey = new Map();
  for (const row of rows) {
    const id = row.id || {};
    const key = [id.api_id, id.method, id.path, id.code].join(' ');
    const entry = byKey.get(key) || { id, hits: 0, errors: 0, lastHit: '' };
    entry.hits += row.hits || 0;
    entry.errors += row.error || 0;
    if ((row.last_hit || '') > entry.lastHit) entry.lastHit = row.last_hit;
    byKey.set(key, entry);
  }
  return [...byKey.values()].sort((a, b) => b.hits - a.hits);
}

function dayRow(d) {
  const latency = d.hits ? (d.latencyTotal / d.hits).toFixed(1) : '—';
  return h('tr', { dataset: { test: 'analytics-row', day: d.key } },
    cell('Day', h('time', { datetime: d.key }, d.key)),
    cell('Requests', String(d.hits)),
    cell('Success', String(d.success)),
    cell('Errors', String(d.errors)),
    cell('Average latency (ms)', latency));
}

function endpointRow(e) {
  return h('tr', { dataset: { test: 'endpoint-row' } },
    cell('API', e.id.api_name || e.id.api_id || ''),
    cell('Method', e.id.method || ''),
    cell('Path', h('code', {}, e.id.path || '')),
    cell('Status', String(e.id.code || '')),
    cell('Requests', String(e.hits)),
    cell('Last', e.lastHit ? new Date(e.lastHit).toLocaleString() : ''));
}

export async function render({ client: clientId }, view) {
  view.show(pageHeader('Analytics'), loading());
  const all = await api.listAllClients();
  all.sort((a, b) => (a.client.client_name || a.client.client_id).localeCompare(b.client.client_name || b.client.client_id));
  const options = [['', all.length ? 'Choose a client…' : 'No OAuth client yet'],
    ...all.map(({ api: a, client }) => [client.client_id, `${client.client_name || client.client_id} (${a.name || a.api_id})`])];
  const picker = select('analytics-client', options, clientId || '');
  picker.addEventListener('change', () => {
    if (picker.value) go('analytics', picker.value);
  });
  const header = pageHeader('Analytics');
  const chooser = h('div', { class: 'search' }, field('OAuth client', picker));
  if (!clientId) {
    view.show(header, chooser, h('p', { class: 'hint', id: 'analytics-empty' }, 'Choose a client to see its requests per day over the last 30 days.'));
    return;
  }
  view.show(header, chooser, loading());
  const days = lastDays();
  const answer = await api.get(rangePath(clientId, days));
  const rows = (answer && answer.data) || [];
  const daily = perDay(rows, days);
  const total = daily.reduce((sum, d) => sum + d.hits, 0);
  const errors = daily.reduce((sum, d) => sum + d.errors, 0);
  const owner = all.find((entry) => entry.client.client_id === clientId);
  const name = owner ? owner.client.client_name || clientId : clientId;
  view.show(
    header,
    chooser,
    owner ? h('p', { class: 'hint' }, 'Client ', h('a', { href: link('apis', owner.api.api_id, 'clients', clientId) }, name),
      ` of ${owner.api.name || owner.api.api_id}; days in UTC.`) : null,
    h('section', { class: 'stats', 'aria-label': 'Totals' },
      h('div', { class: 'stat' }, h('span', { class: 'stat-value', id: 'analytics-total-hits' }, String(total)),
        h('span', { class: 'stat-label' }, 'Requests in 30 days')),
      h('div', { class: 'stat' }, h('span', { class: 'stat-value', id: 'analytics-total-errors' }, String(errors)),
        h('span', { class: 'stat-label' }, 'Errors'))),
    h('figure', { class: 'card chart-card' },
      barChart('analytics-chart', daily, `Requests per day of ${name}, last 30 days`),
      h('figcaption', { class: 'hint' }, 'Bars: requests per day (UTC); red: errors (status 400 and above).')),
    h('h2', {}, 'Days with traffic'),
    table('analytics-table', ['Day', 'Requests', 'Success', 'Errors', 'Average latency (ms)'],
      daily.filter((d) => d.hits > 0).reverse().map(dayRow), 'No request in the last 30 days.'),
    h('h2', {}, 'Endpoints'),
    table('analytics-endpoints', ['API', 'Method', 'Path', 'Status', 'Requests', 'Last'],
      perEndpoint(rows).map(endpointRow), 'No request in the last 30 days.'));
}
