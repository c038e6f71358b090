// The scenario library: cards, filters, search; "prepare" opens the call page's set-up screen
// with the knowledge sheet.
import { getJSON } from '../api.js';
import { clear, h } from '../dom.js';
import { getLang, t } from '../i18n.js';
import { LEVELS, directionLabel, levelLabel, skillLabel } from '../labels.js';
import { badges, knowledgeSheet, skillsList } from '../sheet.js';

let saved = { q: '', level: '', direction: '', industry: '', language: '' };

export async function render(main) {
  main.append(
    h('div', { class: 'page-head' },
      h('h1', { i18n: 'library.title' }),
      h('p', { class: 'lead', i18n: 'library.lead' })),
  );
  const status = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite', i18n: 'app.loading' });
  main.append(status);
  let scenarios;
  try {
    scenarios = await getJSON(`/api/scenarios?lang=${getLang()}`);
  } catch (e) {
    status.className = 'alert error';
    status.textContent = t('library.load_failed', { error: e.message });
    return {};
  }
  status.remove();
  // beginners first: by level, then title
  scenarios.sort((a, b) => (LEVELS.indexOf(a.level) - LEVELS.indexOf(b.level)) || a.title.localeCompare(b.title, getLang()));

  const industries = [...new Set(scenarios.map((s) => s.industry))].sort();
  const select = (id, key, options) => h('div', { class: 'field' },
    h('label', { for: id, i18n: key }),
    h('select', { id, name: id },
      h('option', { value: '', i18n: 'filter.all' }),
      options.map(([v, label]) => h('option', { value: v }, label))));

  const search = h('input', { id: 'f-q', type: 'search', name: 'q', i18nAttrs: { placeholder: 'filter.search_placeholder' }, autocomplete: 'off' });
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': t('filter.label'), on: { submit: (e) => e.preventDefault() } },
    h('div', { class: 'field grow' }, h('label', { for: 'f-q', i18n: 'filter.search' }), search),
    select('f-level', 'filter.level', LEVELS.map((l) => [l, levelLabel(l)])),
    select('f-direction', 'filter.direction', ['inbound', 'outbound'].map((d) => [d, directionLabel(d)])),
    select('f-industry', 'filter.industry', industries.map((i) => [i, i])),
    select('f-language', 'filter.language', [['zh', '中文'], ['en', 'English']]),
    h('button', { type: 'reset', class: 'secondary', i18n: 'filter.reset' }),
  );
  const count = h('p', { class: 'count', role: 'status', 'aria-live': 'polite', id: 'library-count' });
  const grid = h('ul', { class: 'cards', id: 'scenario-cards' });
  main.append(form, count, grid);

  const fields = { q: search, level: form.querySelector('#f-level'), direction: form.querySelector('#f-direction'),
    industry: form.querySelector('#f-industry'), language: form.querySelector('#f-language') };
  for (const [k, el] of Object.entries(fields)) el.value = saved[k] || '';

  const update = () => {
    saved = Object.fromEntries(Object.entries(fields).map(([k, el]) => [k, el.value]));
    const q = saved.q.trim().toLowerCase();
    const shown = scenarios.filter((s) => {
      if (saved.level && s.level !== saved.level) return false;
      if (saved.direction && s.direction !== saved.direction) return false;
      if (saved.industry && s.industry !== saved.industry) return false;
      if (saved.language && !s.languages.includes(saved.language)) return false;
      if (q) {
        const hay = [s.title, s.summary, s.industry, s.company, ...s.skills, ...s.skills.map(skillLabel)].join(' ').toLowerCase();
        if (!hay.includes(q)) return false;
      }
      return true;
    });
    clear(grid);
    for (const s of shown) grid.append(card(s));
    count.textContent = t('library.count', { shown: shown.length, total: scenarios.length });
    if (!shown.length) grid.append(h('li', { class: 'empty', i18n: 'library.none' }));
  };
  form.addEventListener('input', update);
  form.addEventListener('reset', () => setTimeout(update, 0));
  update();
  return {};
}

function card(s) {
  const titleId = `card-title-${s.id}`;
  return h('li', { class: 'card', 'data-scenario': s.id, 'aria-labelledby': titleId },
    h('h2', { id: titleId, class: 'card-title' }, s.title),
    badges(s),
    h('p', { class: 'summary' }, s.summary),
    skillsList(s),
    h('details', { class: 'card-sheet' },
      h('summary', { i18n: 'library.show_sheet' }),
      knowledgeSheet(s, 3)),
    h('div', { class: 'card-actions' },
      h('a', { class: 'button primary', href: `#/call/${encodeURIComponent(s.id)}`, 'aria-describedby': titleId, i18n: 'library.prepare' })),
  );
}
