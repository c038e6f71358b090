// UI language: Chinese by default, English by the toggle, remembered in localStorage.
import { messages } from './messages.js';

const KEY = 'callcoach.lang';
let lang = (() => {
  try {
    const saved = localStorage.getItem(KEY);
    return saved === 'en' || saved === 'zh' ? saved : 'zh';
  } catch { return 'zh'; }
})();

export function getLang() { return lang; }

export function setLang(next) {
  lang = next === 'en' ? 'en' : 'zh';
  try { localStorage.setItem(KEY, lang); } catch { /* private mode */ }
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
}

/** t('call.turn', {n: 3}) -> the message in the UI language, {vars} filled in. */
export function t(key, vars) {
  let s = messages[lang]?.[key] ?? messages.zh[key];
  if (s === undefined) {
    console.warn('missing message', key);
    s = key;
  }
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] !== undefined ? String(vars[k]) : m));
  return s;
}

/** A message if it exists, else undefined (for optional labels such as skills). */
export function tMaybe(key) {
  return messages[lang]?.[key] ?? messages.zh[key];
}
