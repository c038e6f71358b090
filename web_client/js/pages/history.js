// My history: past calls with their scores over time, per dimension, as a chart and a table.
import { getJSON } from '../api.js';
import { clear, fmtDate, fmtPoints, h } from '../dom.js';
import { getLang, t } from '../i18n.js';
import { langName, modeLabel } from '../labels.js';
import { lineChart } from '../chart.js';
import { askTrainee, getTrainee } from '../trainee.js';

// distinguishable for colour-blind readers (Okabe-Ito), each line also has its own dash
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9'];
const DASHES = ['6 4', '2 4', '10 4 2 4', '1 3', '8 2', '4 4'];

export async function render(main) {
  main.append(h('div', { class: 'page-head' }, h('h1', { i18n: 'history.title' })));
  const trainee = getTrainee();
  if (!trainee) {
    main.append(h('p', { i18n: 'history.need_name' }),
      h('button', { type: 'button', class: 'primary', on: { click: async () => { if (await askTrainee()) location.reload(); } }, i18n: 'history.set_name' }));
    return {};
  }
  main.querySelector('.page-head').append(h('p', { class: 'lead' }, t('history.lead', { name: trainee })));
  let data;
  try {
    data = await getJSON(`/api/web/history?trainee=${encodeURIComponent(trainee)}`);
  } catch (e) {
    main.append(h('p', { class: 'alert error', role: 'alert' }, t('app.load_failed', { error: e.message })));
    return {};
  }
  const calls = data.calls;
  if (!calls.length) {
    main.append(h('p', { class: 'empty', i18n: 'history.none' }), h('a', { class: 'button primary', href: '#/library', i18n: 'history.go_library' }));
    return {};
  }
  const scored = calls.filter((c) => c.total !== null && c.total !== undefined);
  main.append(summary(scored, calls));
  if (scored.length) main.append(chart(scored, data.dimension_names || {}));
  main.append(table(calls));
  return {};
}

function summary(scored, calls) {
  const best = scored.length ? Math.max(...scored.map((c) => c.total)) : null;
  const last = scored.length ? scored[scored.length - 1].total : null;
  const passes = scored.filter((c) => c.passed).length;
  const stat = (key, value) => h('div', { class: 'stat' }, h('dt', { i18n: key }), h('dd', {}, value));
  return h('dl', { class: 'stats', id: 'history-stats' },
    stat('history.calls', String(calls.length)),
    stat('history.passes', `${passes} / ${scored.length}`),
    stat('history.best', fmtPoints(best)),
    stat('history.latest', fmtPoints(last)));
}

function chart(scored, names) {
  const dimIds = [];
  const dimNames = new Map();
  for (const c of scored) {
    for (const d of c.dimensions) {
      if (!dimNames.has(d.id)) dimIds.push(d.id);
      dimNames.set(d.id, names[d.id]?.[getLang()] || d.name); // in the UI language when the rubric says it
    }
  }
  const series = [{
    id: 'total', label: t('history.total'), color: '#1f2937', width: 3.5,
    values: scored.map((c) => c.total),
  }];
  dimIds.forEach((id, i) => {
    series.push({
      id, label: dimNames.get(id), color: PALETTE[i % PALETTE.length], dash: DASHES[i % DASHES.length],
      values: scored.map((c) => {
        const d = c.dimensions.find((x) => x.id === id);
        return d && d.max ? (100 * d.score) / d.max : null;
      }),
    });
  });
  const mark = scored[scored.length - 1].pass_mark ?? 60;
  const svg = lineChart({
    series,
    xLabels: scored.map((c, i) => `#${i + 1}`),
    refLine: { value: mark, label: t('history.pass_line', { mark: fmtPoints(mark) }) },
    title: t('history.chart_title'),
    desc: t('history.chart_desc', { n: scored.length }),
  });
  const legend = h('ul', { class: 'legend', 'aria-label': t('history.legend') }, series.map((se) => {
    const sw = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    sw.setAttribute('width', '28'); sw.setAttribute('height', '10'); sw.setAttribute('aria-hidden', 'true');
    const ln = document.createElementNS('http://www.w3.org/2000/svg', 'line');
    Object.entries({ x1: 1, x2: 27, y1: 5, y2: 5, stroke: se.color, 'stroke-width': se.width || 2.5 }).forEach(([k, v]) => ln.setAttribute(k, v));
    if (se.dash) ln.setAttribute('stroke-dasharray', se.dash);
    sw.append(ln);
    return h('li', {}, sw, ' ', se.label);
  }));
  return h('section', { class: 'history-chart', 'aria-labelledby': 'chart-heading' },
    h('h2', { id: 'chart-heading', i18n: 'history.chart_heading' }),
    h('p', { class: 'muted small', i18n: 'history.chart_note' }),
    h('figure', { id: 'history-chart' }, svg, h('figcaption', {}, legend)));
}

function table(calls) {
  const rows = [...calls].reverse(); // newest first
  return h('section', { 'aria-labelledby': 'calls-heading' },
    h('h2', { id: 'calls-heading', i18n: 'history.table_heading' }),
    h('div', { class: 'table-wrap' },
      h('table', { class: 'history-table', id: 'history-table' },
        h('thead', {}, h('tr', {},
          ['history.col_n', 'history.col_date', 'history.col_scenario', 'history.col_mode', 'history.col_score', 'history.col_result', 'history.col_report']
            .map((k) => h('th', { scope: 'col', i18n: k })))),
        h('tbody', {}, rows.map((c) => {
          const n = calls.indexOf(c) + 1;
          const title = c.title?.[getLang()] || c.title?.zh || c.scenario_id;
          const result = c.total === null || c.total === undefined
            ? h('span', { class: 'muted' }, c.status === 'active' ? t('history.in_progress') : t('history.not_scored'))
            : h('span', { class: c.passed ? 'pass-text' : 'fail-text' }, c.passed ? `✓ ${t('report.passed')}` : `✗ ${t('report.failed')}`);
          return h('tr', {},
            h('td', {}, `#${n}`),
            h('td', {}, fmtDate(c.created_at, getLang())),
            h('td', {}, title),
            h('td', {}, `${modeLabel(c.mode)} · ${langName(c.language)} · ${t(c.channel === 'voice' ? 'call.input_voice' : 'call.input_text')}`),
            h('td', { class: 'num' }, fmtPoints(c.total)),
            h('td', {}, result),
            h('td', {}, c.status === 'active' ? '' : h('a', { href: `#/report/${c.session_id}`, 'aria-label': t('history.open_report_n', { n }) , i18n: 'history.open_report' })));
        })))));
}
