// A small inline-SVG line chart: x = call number, y = 0..100 %.
const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/**
 * series: [{id, label, color, dash?, width?, values: [number|null, ...] (0..100)}]
 * xLabels: one label per point; refLine: {value, label}
 */
export function lineChart({ series, xLabels, refLine, title, desc }) {
  const W = 960; const H = 320;
  const m = { l: 44, r: 28, t: 16, b: 36 };
  const n = Math.max(1, xLabels.length);
  const x = (i) => m.l + (n === 1 ? (W - m.l - m.r) / 2 : (i * (W - m.l - m.r)) / (n - 1));
  const y = (v) => m.t + (1 - v / 100) * (H - m.t - m.b);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-labelledby': 'chart-title chart-desc', preserveAspectRatio: 'xMidYMid meet' },
    s('title', { id: 'chart-title' }, title), s('desc', { id: 'chart-desc' }, desc));
  const grid = s('g', { class: 'grid' });
  for (const v of [0, 20, 40, 60, 80, 100]) {
    grid.append(s('line', { x1: m.l, x2: W - m.r, y1: y(v), y2: y(v) }));
    grid.append(s('text', { x: m.l - 8, y: y(v) + 4, 'text-anchor': 'end' }, String(v)));
  }
  const step = Math.ceil(n / 12);
  xLabels.forEach((label, i) => {
    if (i % step === 0 || i === n - 1) grid.append(s('text', { x: x(i), y: H - m.b + 18, 'text-anchor': 'middle' }, label));
  });
  svg.append(grid);
  if (refLine) {
    svg.append(s('line', { class: 'ref', x1: m.l, x2: W - m.r, y1: y(refLine.value), y2: y(refLine.value) }));
    svg.append(s('text', { class: 'ref-label', x: W - m.r - 4, y: y(refLine.value) - 5, 'text-anchor': 'end' }, refLine.label));
  }
  for (const se of series) {
    const g = s('g', { class: `series series-${se.id}`, 'data-series': se.id });
    let d = '';
    let pen = false;
    se.values.forEach((v, i) => {
      if (v === null || v === undefined) { pen = false; return; }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
      pen = true;
    });
    if (d) g.append(s('path', { d, fill: 'none', stroke: se.color, 'stroke-width': se.width || 2, 'stroke-dasharray': se.dash || null, 'stroke-linejoin': 'round', 'stroke-linecap': 'round' }));
    se.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      const dot = s('circle', { cx: x(i), cy: y(v), r: se.width && se.width > 2 ? 4.5 : 3.5, fill: se.color, stroke: '#fff', 'stroke-width': 1.5 });
      dot.append(s('title', {}, `${se.label} · ${xLabels[i]}: ${Math.round(v)}%`));
      g.append(dot);
    });
    svg.append(g);
  }
  return svg;
}
