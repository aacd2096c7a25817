// Plots as inline SVG (no library): bars for storage per node, lines for request rates.

import { bytes } from './lib.js';

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Horizontal bars: used and total per node. */
export function barChart(items) {
  const w = 600;
  const row = 26;
  const el = svg('svg', { width: w, height: row * items.length + 10, role: 'img', 'aria-label': 'storage per node' });
  items.forEach((it, i) => {
    const y = i * row + 4;
    const frac = it.total ? (it.total - it.avail) / it.total : 0;
    el.append(
      svg('text', { x: 0, y: y + 14 }, it.label),
      svg('rect', { x: 150, y, width: 260, height: 16, fill: '#dde1e7' }),
      svg('rect', { x: 150, y, width: Math.max(1, 260 * frac), height: 16, fill: '#e8590c' }),
      svg('text', { x: 418, y: y + 13 }, `${bytes(it.total - it.avail)} / ${bytes(it.total)}`),
    );
  });
  return el;
}

/** A line chart of per-minute counts. */
export function lineChart(series) {
  const w = 520;
  const ht = 160;
  const pad = 30;
  const el = svg('svg', { width: w, height: ht + 20, role: 'img', 'aria-label': 'requests per minute' });
  const max = Math.ceil(Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1]))));
  const t0 = Math.min(...series.flatMap((s) => s.points.map((p) => p[0])), Date.now() - 3600_000);
  const t1 = Date.now();
  const x = (t) => pad + ((t - t0) / Math.max(1, t1 - t0)) * (w - pad - 10);
  const y = (v) => ht - (v / max) * (ht - 10);
  el.append(
    svg('line', { x1: pad, y1: ht, x2: w - 10, y2: ht, stroke: '#dde1e7' }),
    svg('text', { x: 0, y: 12 }, String(max)),
    svg('text', { x: 0, y: ht }, '0'),
    svg('text', { x: pad, y: ht + 16 }, '1 hour ago'),
    svg('text', { x: w - 40, y: ht + 16 }, 'now'),
  );
  series.forEach((s, i) => {
    if (s.points.length)
      el.append(
        svg('polyline', {
          fill: 'none',
          stroke: s.color,
          'stroke-width': 2,
          points: s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' '),
        }),
      );
    el.append(svg('text', { x: w - 160 + i * 80, y: 12, fill: s.color }, s.name));
  });
  return el;
}
