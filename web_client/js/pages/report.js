// The report: scorecard (total, pass/fail, dimension bars, findings with tips), the transcript with
// each finding at its turn, and the recording (clicking a turn or a finding plays that moment).
import { ApiError, getJSON } from '../api.js';
import { clear, fmtClock, fmtDate, fmtPoints, h } from '../dom.js';
import { getLang, t } from '../i18n.js';
import { endReasonLabel, langName, modeLabel } from '../labels.js';

export async function render(main, route) {
  const sid = route.arg;
  main.append(h('p', { class: 'muted', role: 'status', i18n: 'app.loading' }));
  let session;
  try {
    session = await getJSON(`/api/sessions/${encodeURIComponent(sid)}`);
  } catch (e) {
    clear(main).append(h('h1', { i18n: 'report.title' }),
      h('p', { class: 'alert error', role: 'alert' }, e.status === 404 ? t('report.no_session') : t('app.load_failed', { error: e.message })),
      h('p', {}, h('a', { href: '#/library', i18n: 'nav.back_library' })));
    return {};
  }
  let card = null;
  let cardProblem = null;
  if (session.status === 'active') {
    cardProblem = t('report.still_active');
  } else {
    card = await fetchScorecard(sid).catch((e) => {
      cardProblem = e instanceof ApiError && e.status === 404 ? t('report.no_scorecard') : t('report.scorecard_failed', { error: e.message });
      return null;
    });
  }
  let title = card?.scenario_title;
  if (!title) {
    title = await getJSON(`/api/scenarios/${encodeURIComponent(session.scenario_id)}?lang=${getLang()}`)
      .then((s) => s.title).catch(() => session.scenario_id);
  }
  clear(main);
  const view = new ReportView(main, session, card, cardProblem, title);
  view.render();
  return { cleanup: () => view.destroy() };
}

async function fetchScorecard(sid) {
  // grading is inline when a call ends; a short retry covers a call that ended a moment ago
  let last;
  for (let i = 0; i < 4; i++) {
    try {
      return await getJSON(`/api/sessions/${encodeURIComponent(sid)}/scorecard`);
    } catch (e) {
      last = e;
      if (!(e instanceof ApiError) || e.status !== 409) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw last;
}

class ReportView {
  constructor(main, session, card, cardProblem, title) {
    this.main = main;
    this.s = session;
    this.card = card;
    this.problem = cardProblem;
    this.title = title;
    this.turnEls = new Map();
    this.audio = null;
  }

  render() {
    const s = this.s;
    const card = this.card;
    const main = this.main;
    main.append(
      h('nav', { class: 'crumbs no-print', 'aria-label': t('nav.breadcrumb') },
        h('a', { href: '#/library', i18n: 'nav.back_library' }), ' · ', h('a', { href: '#/history', i18n: 'nav.history' })),
      h('div', { class: 'page-head report-head' },
        h('h1', {}, t('report.heading', { title: this.title })),
        h('p', { class: 'call-meta' },
          [
            s.trainee ? t('report.trainee', { name: s.trainee }) : null,
            fmtDate(s.created_at.endsWith('Z') || s.created_at.includes('+') ? s.created_at : `${s.created_at}Z`, getLang()),
            modeLabel(s.mode),
            langName(s.language),
            t(s.channel === 'voice' ? 'call.input_voice' : 'call.input_text'),
            s.end_reason ? t('report.end_reason', { reason: endReasonLabel(s.end_reason) }) : null,
          ].filter(Boolean).join(' · ')),
        h('div', { class: 'report-actions no-print' },
          h('button', { type: 'button', class: 'secondary', id: 'print-report', on: { click: () => window.print() } },
            h('span', { i18n: 'report.print' })),
          h('a', { class: 'button primary', href: `#/call/${encodeURIComponent(s.scenario_id)}?mode=${s.mode}&lang=${s.language}`, i18n: 'report.again' }),
          card ? h('a', { class: 'button secondary', href: `/api/sessions/${encodeURIComponent(s.id)}/report`, target: '_blank', rel: 'noopener', i18n: 'report.server_report' }) : null)),
    );
    if (this.problem) main.append(h('p', { class: 'alert warn', role: 'status', id: 'scorecard-problem' }, this.problem));
    if (card) main.append(this.summary(card));
    const recording = this.recording();
    const layout = h('div', { class: card ? 'report-grid' : 'report-grid single' });
    if (card) layout.append(this.findings(card));
    layout.append(this.transcript(card));
    main.append(recording || '', layout);
  }

  summary(card) {
    const passed = card.passed;
    return h('section', { class: 'score-summary', 'aria-labelledby': 'score-title' },
      h('div', { class: `score-box ${passed ? 'pass' : 'fail'}` },
        h('h2', { id: 'score-title', class: 'sr-only', i18n: 'report.score' }),
        h('p', { class: 'score-total', id: 'score-total' },
          h('span', { class: 'score-number' }, fmtPoints(card.total)),
          h('span', { class: 'score-max' }, ` / ${fmtPoints(card.max_total)}`)),
        h('p', { class: `verdict ${passed ? 'pass' : 'fail'}`, id: 'verdict' },
          h('span', { 'aria-hidden': 'true' }, passed ? '✓ ' : '✗ '), t(passed ? 'report.passed' : 'report.failed')),
        h('p', { class: 'muted small' }, t('report.pass_mark', { mark: fmtPoints(card.pass_mark) }))),
      h('div', { class: 'dimensions' },
        h('h2', { i18n: 'report.dimensions' }),
        h('ul', { class: 'dim-bars', id: 'dimension-bars' },
          card.dimensions.map((d) => {
            const ratio = d.max ? d.score / d.max : 0;
            const level = ratio >= 0.8 ? 'good' : ratio >= 0.6 ? 'ok' : 'bad';
            return h('li', { class: 'dim' },
              h('span', { class: 'dim-name', id: `dim-${d.id}` }, d.name),
              h('span', { class: `bar ${level}`, role: 'meter', 'aria-labelledby': `dim-${d.id}`, 'aria-valuemin': '0', 'aria-valuemax': String(d.max), 'aria-valuenow': String(d.score), 'aria-valuetext': `${fmtPoints(d.score)} / ${fmtPoints(d.max)}` },
                h('span', { class: 'bar-fill', style: `width:${Math.round(ratio * 100)}%` })),
              h('span', { class: 'dim-score' }, `${fmtPoints(d.score)} / ${fmtPoints(d.max)}`));
          })),
        card.blockers?.length ? h('div', { class: 'blockers alert error', id: 'blockers' },
          h('h3', { i18n: 'report.blockers' }),
          h('ul', {}, card.blockers.map((b) => h('li', {},
            h('strong', {}, b.name), ' — ', b.message,
            b.quote ? h('blockquote', {}, `“${b.quote}”`) : null,
            h('p', { class: 'tip' }, h('strong', { i18n: 'report.tip' }), ' ', b.tip))))) : null,
      ));
  }

  findings(card) {
    const dimName = new Map(card.dimensions.map((d) => [d.id, d.name]));
    const items = [...card.findings].sort((a, b) => (a.turn ?? 1e9) - (b.turn ?? 1e9));
    const section = h('section', { class: 'findings', 'aria-labelledby': 'findings-title' },
      h('h2', { id: 'findings-title' }, t('report.findings', { n: items.length })));
    if (!items.length) {
      section.append(h('p', { class: 'muted', i18n: 'report.no_findings' }));
      return section;
    }
    const list = h('ol', { class: 'finding-list', id: 'findings' });
    items.forEach((f, i) => {
      const turnLabel = f.turn === null || f.turn === undefined ? t('report.no_turn') : t('report.turn_n', { n: f.turn + 1 });
      const btn = h('button', { type: 'button', class: 'finding-head', dataset: { turn: String(f.turn ?? '') },
        'aria-describedby': `finding-${i}-msg`, on: { click: () => this.goToTurn(f.turn, true) } },
        h('span', { class: `points ${f.blocker ? 'blocker' : ''}` }, f.blocker ? t('report.blocker') : t('report.points', { p: fmtPoints(f.points) })),
        h('span', { class: 'finding-dim' }, dimName.get(f.dimension) || f.dimension),
        h('span', { class: 'finding-turn' }, turnLabel, this.hasAudio() && this.turnStart(f.turn) !== null ? ` · ▶ ${fmtClock(this.turnStart(f.turn))}` : ''));
      list.append(h('li', { class: `finding ${f.blocker ? 'is-blocker' : ''}`, dataset: { turn: String(f.turn ?? '') } },
        btn,
        h('p', { class: 'finding-msg', id: `finding-${i}-msg` }, f.message),
        f.quote ? h('blockquote', { class: 'quote' }, `“${f.quote}”`) : null,
        h('p', { class: 'tip' }, h('strong', { i18n: 'report.tip' }), ' ', f.tip)));
    });
    section.append(list);
    return section;
  }

  hasAudio() {
    return this.s.channel === 'voice';
  }

  turnStart(turn) {
    const tr = this.s.turns.find((x) => x.turn === turn);
    return tr && typeof tr.start_s === 'number' ? tr.start_s : null;
  }

  recording() {
    if (!this.hasAudio()) return null;
    this.audio = h('audio', { controls: true, preload: 'metadata', id: 'recording', src: `/api/sessions/${encodeURIComponent(this.s.id)}/recording`, 'aria-describedby': 'recording-help' });
    const note = h('p', { class: 'help', id: 'recording-help', i18n: 'report.recording_help' });
    const box = h('section', { class: 'recording no-print', 'aria-labelledby': 'recording-title' },
      h('h2', { id: 'recording-title', i18n: 'report.recording' }), this.audio, note);
    this.audio.addEventListener('error', () => {
      note.dataset.i18n = 'report.recording_missing';
      note.textContent = t('report.recording_missing');
      note.className = 'alert warn';
    });
    this.audio.addEventListener('timeupdate', () => this.followAudio());
    return box;
  }

  transcript(card) {
    const byTurn = new Map();
    for (const f of card?.findings || []) {
      if (f.turn === null || f.turn === undefined) continue;
      if (!byTurn.has(f.turn)) byTurn.set(f.turn, []);
      byTurn.get(f.turn).push(f);
    }
    for (const b of card?.blockers || []) {
      if (!byTurn.has(b.turn)) byTurn.set(b.turn, []);
      byTurn.get(b.turn).push({ ...b, blocker: true, points: 0 });
    }
    const dimName = new Map((card?.dimensions || []).map((d) => [d.id, d.name]));
    const seekable = this.hasAudio();
    const list = h('ol', { class: 'report-transcript', id: 'report-transcript' });
    for (const turn of this.s.turns) {
      const fs = byTurn.get(turn.turn) || [];
      const text = h('span', { class: 'text' });
      highlight(text, turn.text, fs.map((f) => f.quote).filter(Boolean));
      const start = typeof turn.start_s === 'number' ? turn.start_s : null;
      const li = h('li', {
        class: `turn ${turn.speaker} ${fs.length ? 'has-finding' : ''} ${turn.interrupted ? 'interrupted' : ''}`.trim(),
        id: `turn-${turn.turn}`, dataset: { turn: String(turn.turn) },
      },
      h('span', { class: 'who' },
        turn.speaker === 'agent' ? t('call.you') : t('call.customer'),
        h('span', { class: 'at' }, ` · ${t('report.turn_n', { n: turn.turn + 1 })}`),
        seekable && start !== null ? h('span', { class: 'at' }, ` · ${fmtClock(start)}`) : null),
      text,
      fs.length ? h('ul', { class: 'turn-findings' }, fs.map((f) => h('li', { class: f.blocker ? 'blocker' : '' },
        f.blocker ? t('report.blocker') : t('report.points', { p: fmtPoints(f.points) }), ' · ',
        f.blocker ? f.name : (dimName.get(f.dimension) || f.dimension), ': ', f.message))) : null);
      if (seekable && start !== null) {
        li.tabIndex = 0;
        li.setAttribute('role', 'button');
        li.setAttribute('aria-label', t('report.play_turn', { n: turn.turn + 1, at: fmtClock(start) }));
        li.addEventListener('click', () => this.goToTurn(turn.turn, true));
        li.addEventListener('keydown', (ev) => {
          if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); this.goToTurn(turn.turn, true); }
        });
      }
      this.turnEls.set(turn.turn, li);
      list.append(li);
    }
    return h('section', { class: 'transcript-section', 'aria-labelledby': 'transcript-title' },
      h('h2', { id: 'transcript-title', i18n: 'report.transcript' }),
      seekable ? null : h('p', { class: 'muted small', i18n: 'report.no_recording_text' }),
      list);
  }

  goToTurn(turn, play) {
    if (turn === null || turn === undefined) return;
    const li = this.turnEls.get(turn);
    for (const el of this.main.querySelectorAll('.turn.current')) el.classList.remove('current');
    if (li) {
      li.classList.add('current');
      li.scrollIntoView({ block: 'center', behavior: 'smooth' });
    }
    const start = this.turnStart(turn);
    if (this.audio && start !== null) this.seek(start, play);
  }

  async seek(t, play) {
    const a = this.audio;
    if (a.readyState < 1) await new Promise((r) => a.addEventListener('loadedmetadata', r, { once: true }));
    if (!isSeekable(a, t) && !this.blobUrl) {
      // a server without range requests: the browser cannot seek a stream it cannot re-request,
      // so load the whole recording once (a blob is always seekable)
      try {
        const res = await fetch(a.currentSrc || a.src);
        if (res.ok) {
          this.blobUrl = URL.createObjectURL(await res.blob());
          a.src = this.blobUrl;
          await new Promise((r) => a.addEventListener('loadedmetadata', r, { once: true }));
        }
      } catch { /* keep the stream */ }
    }
    a.currentTime = t;
    if (play) a.play().catch(() => { /* autoplay refused: the position is set */ });
  }

  followAudio() {
    const now = this.audio.currentTime;
    let cur = null;
    for (const tr of this.s.turns) {
      if (typeof tr.start_s === 'number' && tr.start_s <= now + 0.05) cur = tr.turn;
    }
    for (const [turn, el] of this.turnEls) el.classList.toggle('playing', turn === cur);
  }

  destroy() {
    if (this.audio) { this.audio.pause(); this.audio.removeAttribute('src'); }
    if (this.blobUrl) URL.revokeObjectURL(this.blobUrl);
  }
}

function isSeekable(a, t) {
  for (let i = 0; i < a.seekable.length; i++) {
    if (a.seekable.start(i) <= t && t <= a.seekable.end(i)) return true;
  }
  return false;
}

/** Put `text` into `el`, wrapping each quote it contains in <mark>. */
function highlight(el, text, quotes) {
  const ranges = [];
  for (const q of quotes) {
    const i = text.indexOf(q);
    if (q && i >= 0) ranges.push([i, i + q.length]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const merged = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([...r]);
  }
  let pos = 0;
  for (const [a, b] of merged) {
    if (a > pos) el.append(text.slice(pos, a));
    el.append(h('mark', {}, text.slice(a, b)));
    pos = b;
  }
  if (pos < text.length) el.append(text.slice(pos));
}
