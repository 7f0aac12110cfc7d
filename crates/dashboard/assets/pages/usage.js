// Traffic over time (GET /api/usage), summed over every OAuth client or one API's: a section
// with a bar chart and totals, for the overview and an API's page.

import * as api from '../api.js';
import { h } from '../dom.js';
import { barChart } from '../chart.js';

function pad(n) {
  return String(n).padStart(2, '0');
}

/** A bucket's label: local time of day for buckets under a day, else the date. */
function labelOf(start, bucketMinutes) {
  const date = new Date(start);
  if (Number.isNaN(date.getTime())) return String(start);
  if (bucketMinutes < 1440) return `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  return `${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/**
 * A section `id` showing `minutes` of traffic in `buckets` bars; `apiId` narrows it to one API.
 * Loads by itself: an error is shown in the section, not thrown.
 */
export function usageSection(id, { title, minutes, buckets, apiId }) {
  const body = h('div', { id: `${id}-body` }, h('p', { class: 'loading' }, 'Loading…'));
  const section = h('section', { class: 'card chart-card', id, 'aria-labelledby': `${id}-title` },
    h('h2', { id: `${id}-title` }, title), body);
  const bucketMinutes = Math.max(1, Math.round(minutes / buckets));
  const query = new URLSearchParams({ minutes: String(minutes), bucket_minutes: String(bucketMinutes) });
  if (apiId) query.set('api_id', apiId);
  api.get(`usage?${query}`).then((report) => {
    const points = ((report && report.buckets) || []).map((b) => ({
      key: b.start,
      label: labelOf(b.start, (report && report.bucket_minutes) || bucketMinutes),
      hits: b.hits || 0,
      errors: b.error || 0,
    }));
    const total = points.reduce((sum, p) => sum + p.hits, 0);
    const errors = points.reduce((sum, p) => sum + p.errors, 0);
    const clients = (report && report.clients) || 0;
    const all = (report && report.buckets) || [];
    // Status classes over the range, and the latency averaged over every request.
    const classes = ['2xx', '3xx', '4xx', '5xx'].map((c) => [c, all.reduce((sum, b) => sum + (b[`status_${c}`] || 0), 0)]);
    const latencyTotal = all.reduce((sum, b) => sum + (b.latency || 0) * (b.hits || 0), 0);
    const latency = total ? latencyTotal / total : 0;
    body.replaceChildren(
      h('p', { class: 'hint', id: `${id}-summary` },
        `${total} request${total === 1 ? '' : 's'}, ${errors} error${errors === 1 ? '' : 's'}, `,
        `from ${clients} OAuth client${clients === 1 ? '' : 's'}. Keyless traffic is not counted here.`),
      barChart(`${id}-chart`, points, title, bucketMinutes === 1 ? 'minutes' : `${bucketMinutes}-minute periods`),
      h('dl', { class: 'pairs usage-totals', id: `${id}-totals` },
        classes.map(([c, n]) => [h('dt', {}, c), h('dd', { dataset: { test: `usage-${c}` } }, String(n))]),
        h('dt', {}, 'Average latency'),
        h('dd', { dataset: { test: 'usage-latency' } }, total ? `${latency.toFixed(1)} ms` : '—')));
  }).catch((e) => {
    if (e.sessionEnded) return;
    body.replaceChildren(h('p', { class: 'form-error', id: `${id}-error`, role: 'alert' }, e.message));
  });
  return section;
}
