// The hash router: #/library, #/call/<scenario>, #/report/<session>, #/history.
import { getLang, setLang, t } from './i18n.js';
import { clear, relabel } from './dom.js';
import { askTrainee, getTrainee, renderTraineeButton } from './trainee.js';
import * as library from './pages/library.js';
import * as call from './pages/call.js';
import * as report from './pages/report.js';
import * as history from './pages/history.js';

const routes = { library, call, report, history };
let current = null; // {name, page, cleanup, onLang}

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const name = parts[0] || 'library';
  return { name, arg: parts[1] || null, query: new URLSearchParams(query) };
}

async function route() {
  const main = document.getElementById('main');
  const r = parseHash();
  const page = routes[r.name];
  if (!page) {
    location.replace('#/library');
    return;
  }
  if (current?.cleanup) {
    try { current.cleanup(); } catch (e) { console.error(e); }
  }
  current = null;
  clear(main);
  document.getElementById('global-status').textContent = '';
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === r.name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.body.dataset.page = r.name;
  const handle = { name: r.name, cleanup: null, onLang: null };
  current = handle;
  try {
    const result = await page.render(main, r);
    if (current === handle && result) {
      handle.cleanup = result.cleanup || null;
      handle.onLang = result.onLang || null;
    } else if (result?.cleanup) {
      result.cleanup();
    }
  } catch (e) {
    console.error(e);
    main.append(Object.assign(document.createElement('p'), { className: 'alert error', textContent: t('app.load_failed', { error: e.message }) }));
  }
  const h1 = main.querySelector('h1');
  if (h1) {
    document.title = `${h1.textContent} · CallCoach`;
    if (!r.query.has('nofocus')) { h1.tabIndex = -1; h1.focus({ preventScroll: false }); }
  }
}

function applyLang() {
  const btn = document.getElementById('lang-toggle');
  const other = getLang() === 'zh' ? 'en' : 'zh';
  btn.textContent = other === 'en' ? 'English' : '中文';
  btn.lang = other === 'en' ? 'en' : 'zh-CN';
  btn.setAttribute('aria-label', t('app.switch_lang'));
  relabel(document);
  renderTraineeButton();
}

function init() {
  setLang(getLang());
  applyLang();
  document.getElementById('lang-toggle').addEventListener('click', () => {
    setLang(getLang() === 'zh' ? 'en' : 'zh');
    applyLang();
    if (current?.onLang) current.onLang();
    else route();
  });
  document.getElementById('trainee-button').addEventListener('click', async () => {
    await askTrainee();
    if (current?.name === 'history') route();
  });
  window.addEventListener('hashchange', route);
  if (!location.hash) history_replace('#/library');
  route().then(() => {
    if (!getTrainee() && parseHash().name !== 'report') askTrainee({ required: true });
  });
}

function history_replace(hash) {
  window.history.replaceState(null, '', hash);
}

init();
