// A bar chart of requests per day, drawn as SVG (no library): one bar of hits per day with its
// errors over it, an axis with a few ticks, and a title and description for screen readers.
// Colours come from classes in style.css, never from style attributes.

import { s } from './dom.js';

const WIDTH = 960;
const HEIGHT = 240;
const MARGIN = { top: 16, right: 12, bottom: 36, left: 44 };

/** A round step for `max` split in about `count` ticks. */
function niceStep(max, count) {
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const scaled = raw / magnitude;
  const nice = scaled <= 1 ? 1 : scaled <= 2 ? 2 : scaled <= 5 ? 5 : 10;
  return Math.max(1, nice * magnitude);
}

/**
 * `days`: [{ label: '12-05', hits, errors }], oldest first: one bar each (days, or any
 * buckets: `span` names them in the description, e.g. 'minutes').
 * Returns an <svg id=`id`> that scales to its container (viewBox).
 */
export function barChart(id, days, title, span = 'days') {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const peak = Math.max(0, ...days.map((d) => d.hits));
  const step = niceStep(Math.max(peak, 1), 4);
  const top = Math.max(step, Math.ceil(Math.max(peak, 1) / step) * step);
  const y = (v) => MARGIN.top + plotH - (v / top) * plotH;
  const slot = plotW / Math.max(days.length, 1);
  const barW = Math.max(2, slot * 0.7);
  const total = days.reduce((sum, d) => sum + d.hits, 0);
  const errors = days.reduce((sum, d) => sum + d.errors, 0);

  const svg = s('svg', {
    id, class: 'chart', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img',
    'aria-labelledby': `${id}-title ${id}-desc`, preserveAspectRatio: 'xMidYMid meet',
  },
  s('title', { id: `${id}-title` }, title),
  s('desc', { id: `${id}-desc` }, `${total} requests over ${days.length} ${span}, ${errors} of them errors.`));

  const grid = s('g', { class: 'chart-grid' });
  for (let v = 0; v <= top; v += step) {
    grid.append(
      s('line', { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(v), y2: y(v) }),
      s('text', { x: MARGIN.left - 6, y: y(v) + 4, class: 'chart-label chart-label-y' }, String(v)));
  }
  svg.append(grid);

  const bars = s('g', { class: 'chart-bars' });
  days.forEach((d, i) => {
    const x = MARGIN.left + i * slot + (slot - barW) / 2;
    const group = s('g', { class: 'chart-day', 'data-test': 'chart-day', 'data-day': d.label, 'data-hits': d.hits, 'data-errors': d.errors });
    group.append(s('title', {}, `${d.label}: ${d.hits} requests, ${d.errors} errors`));
    if (d.hits > 0) {
      group.append(s('rect', { class: 'bar-hits', x, width: barW, y: y(d.hits), height: Math.max(1, y(0) - y(d.hits)) }));
    }
    if (d.errors > 0) {
      group.append(s('rect', { class: 'bar-errors', x, width: barW, y: y(d.errors), height: Math.max(1, y(0) - y(d.errors)) }));
    }
    // A transparent full-height target so the tooltip shows on empty days too.
    group.append(s('rect', { class: 'bar-target', x: MARGIN.left + i * slot, width: slot, y: MARGIN.top, height: plotH }));
    bars.append(group);
    const every = Math.max(1, Math.ceil(days.length / 8));
    // A label every few bars, and on the last, never two crowded together.
    if (i === days.length - 1 || (i % every === 0 && days.length - 1 - i >= every / 2)) {
      svg.append(s('text', { x: x + barW / 2, y: HEIGHT - MARGIN.bottom + 16, class: 'chart-label chart-label-x' }, d.label));
    }
  });
  svg.append(bars);
  svg.append(s('line', { class: 'chart-axis', x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(0), y2: y(0) }));

  const legend = s('g', { class: 'chart-legend' });
  legend.append(
    s('rect', { class: 'bar-hits', x: MARGIN.left, y: HEIGHT - 14, width: 10, height: 10 }),
    s('text', { x: MARGIN.left + 14, y: HEIGHT - 5, class: 'chart-label' }, 'Requests'),
    s('rect', { class: 'bar-errors', x: MARGIN.left + 90, y: HEIGHT - 14, width: 10, height: 10 }),
    s('text', { x: MARGIN.left + 104, y: HEIGHT - 5, class: 'chart-label' }, 'Errors'));
  svg.append(legend);
  return svg;
}
