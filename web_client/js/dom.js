// Tiny DOM helpers: every text goes in through textContent, never innerHTML.
import { t } from './i18n.js';

/**
 * h('button', {class: 'x', i18n: 'call.end', on: {click}}, child, ...)
 * attrs: class, text, i18n (message key for the text), i18nAttrs ({attr: key}), on ({event: fn}),
 * dataset ({k: v}), style (string), hidden (bool), and any other attribute (false/null skips it).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'i18n') { el.dataset.i18n = v; el.textContent = t(v); }
    else if (k === 'i18nVars') el.dataset.i18nVars = JSON.stringify(v);
    else if (k === 'i18nAttrs') {
      el.dataset.i18nAttr = JSON.stringify(v);
      for (const [a, key] of Object.entries(v)) el.setAttribute(a, t(key));
    } else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'hidden') el.hidden = !!v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'value') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  if (attrs && attrs.i18nVars && attrs.i18n) el.textContent = t(attrs.i18n, attrs.i18nVars);
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Re-label every element built with an i18n key (after a language switch). */
export function relabel(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const vars = el.dataset.i18nVars ? JSON.parse(el.dataset.i18nVars) : undefined;
    el.textContent = t(el.dataset.i18n, vars);
  }
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const [a, key] of Object.entries(JSON.parse(el.dataset.i18nAttr))) el.setAttribute(a, t(key));
  }
}

export function fmtClock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

export function fmtPoints(x) {
  if (x === null || x === undefined) return '—';
  const r = Math.round(x * 10) / 10;
  return Number.isInteger(r) ? String(r) : r.toFixed(1);
}

export function fmtDate(iso, lang) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB', {
    year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
  });
}
