// The agent's knowledge sheet: what the company allows the agent to offer. Trainee view only
// (the server builds it field by field: the customer's hidden facts never reach the browser).
import { h } from './dom.js';
import { t } from './i18n.js';
import { actLabel, directionLabel, levelLabel, skillLabel } from './labels.js';

export function badges(s) {
  return h('ul', { class: 'badges', 'aria-label': t('library.card_meta') },
    h('li', { class: `badge level level-${['初级', '中级', '高级'].indexOf(s.level) + 1}` }, levelLabel(s.level)),
    h('li', { class: `badge dir dir-${s.direction}` }, directionLabel(s.direction)),
    h('li', { class: 'badge industry' }, s.industry),
    h('li', { class: 'badge langs' }, s.languages.map((l) => (l === 'zh' ? '中文' : 'English')).join(' / ')),
  );
}

export function skillsList(s) {
  return h('ul', { class: 'skills', 'aria-label': t('library.skills') },
    s.skills.map((k) => h('li', { class: 'skill' }, skillLabel(k))));
}

/** The knowledge sheet as a <section>; `headingLevel` is 2 or 3. */
export function knowledgeSheet(s, headingLevel = 2) {
  const hx = `h${headingLevel}`;
  const hy = `h${headingLevel + 1}`;
  return h('section', { class: 'sheet', 'aria-labelledby': `sheet-title-${s.id}` },
    h(hx, { id: `sheet-title-${s.id}`, i18n: 'sheet.title' }),
    h('dl', { class: 'sheet-facts' },
      h('dt', { i18n: 'sheet.company' }), h('dd', {}, s.company),
      h('dt', { i18n: 'sheet.context' }), h('dd', {}, s.context),
      h('dt', { i18n: 'sheet.time_limit' }),
      h('dd', {}, t('sheet.minutes', { n: Math.round(s.time_limit_s / 60) })),
    ),
    h(hy, { i18n: 'sheet.policy' }),
    h('div', { class: 'sheet-policy' }, s.agent_sheet.trim()),
    s.offers.length ? [
      h(hy, { i18n: 'sheet.offers' }),
      h('ul', { class: 'offers' }, s.offers.map((o) => h('li', {}, o.label, o.description ? h('span', { class: 'muted' }, ` — ${o.description}`) : null))),
    ] : null,
    s.required_flow.length ? [
      h(hy, { i18n: 'sheet.flow' }),
      h('ol', { class: 'flow' }, s.required_flow.map((a) => h('li', {}, actLabel(a)))),
    ] : null,
  );
}
