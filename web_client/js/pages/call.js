// The call page: set-up (knowledge sheet, mode, language, voice or text), then the live call.
import { getConfig, getJSON, wsUrl } from '../api.js';
import { append, clear, fmtClock, h } from '../dom.js';
import { getLang, t, tMaybe } from '../i18n.js';
import { langName, modeLabel } from '../labels.js';
import { badges, knowledgeSheet } from '../sheet.js';
import { ensureTrainee, getTrainee } from '../trainee.js';
import { CallConnection } from '../call/connection.js';
import { Mic, MIC_FORMAT, MicError } from '../call/mic.js';
import { Player } from '../call/player.js';

const ACTIVE_KEY = 'callcoach.activeCall';

function loadActive() {
  try { return JSON.parse(sessionStorage.getItem(ACTIVE_KEY) || 'null'); } catch { return null; }
}
function saveActive(v) {
  try {
    if (v) sessionStorage.setItem(ACTIVE_KEY, JSON.stringify(v));
    else sessionStorage.removeItem(ACTIVE_KEY);
  } catch { /* private mode */ }
}

export function errorText(code, fallback) {
  return tMaybe(`error.${code}`) || fallback || t('error.unknown');
}

const scenarioCache = new Map();
async function fetchScenario(id, lang) {
  const key = `${id}:${lang}`;
  if (!scenarioCache.has(key)) {
    scenarioCache.set(key, getJSON(`/api/scenarios/${encodeURIComponent(id)}?lang=${lang}`).catch((e) => {
      scenarioCache.delete(key);
      throw e;
    }));
  }
  return scenarioCache.get(key);
}

export async function render(main, route) {
  const scenarioId = route.arg;
  const q = route.query;
  const config = await getConfig();
  let scenario;
  try {
    scenario = await fetchScenario(scenarioId, getLang());
  } catch (e) {
    main.append(h('h1', { i18n: 'call.title_unknown' }),
      h('p', { class: 'alert error', role: 'alert' }, e.status === 404 ? t('call.no_scenario', { id: scenarioId }) : t('app.load_failed', { error: e.message })),
      h('p', {}, h('a', { href: '#/library', i18n: 'nav.back_library' })));
    return {};
  }
  const page = new CallPage(main, scenario, config, q);
  page.renderSetup();
  return { cleanup: () => page.destroy(), onLang: () => page.onLang() };
}

class CallPage {
  constructor(main, scenario, config, query) {
    this.main = main;
    this.scenario = scenario; // in the UI language (for the heading)
    this.config = config;
    this.query = query;
    this.conn = null;
    this.mic = null;
    this.player = null;
    this.audioCtx = null;
    this.timer = null;
    this.phase = 'setup';
    this.choice = {
      mode: query.get('mode') === 'exam' ? 'exam' : 'practice',
      language: scenario.languages.includes(query.get('lang')) ? query.get('lang')
        : (scenario.languages.includes(getLang()) ? getLang() : scenario.languages[0]),
      input: query.get('input') === 'text' || !config.voice ? 'text' : (query.get('input') || 'voice'),
    };
    this.beforeUnload = (ev) => {
      if (this.phase === 'live' || this.phase === 'reconnecting') { ev.preventDefault(); ev.returnValue = ''; }
    };
    window.addEventListener('beforeunload', this.beforeUnload);
  }

  onLang() {
    // labels built with i18n keys were relabelled already; rebuild only the set-up screen
    if (this.phase === 'setup') {
      fetchScenario(this.scenario.id, getLang()).then((s) => { this.scenario = s; this.renderSetup(); });
    } else {
      this.updateTimer();
    }
  }

  // ------------------------------------------------------------------ set-up
  renderSetup() {
    const s = this.scenario;
    clear(this.main);
    this.phase = 'setup';
    const active = loadActive();
    const sheetHolder = h('div', { class: 'sheet-holder' });
    const alert = h('div', { class: 'alert-slot', role: 'alert', 'aria-live': 'assertive' });
    this.setupAlert = alert;

    const radio = (name, value, labelKey, checked, { disabled = false, describe = null, label = null } = {}) => {
      const id = `opt-${name}-${value}`;
      return h('div', { class: 'radio' },
        h('input', { type: 'radio', id, name, value, checked, disabled, 'aria-describedby': describe }),
        h('label', { for: id }, label || t(labelKey)));
    };
    const form = h('form', { class: 'call-setup', id: 'call-setup', 'aria-labelledby': 'setup-title' },
      h('h2', { id: 'setup-title', i18n: 'call.setup_title' }),
      h('fieldset', {},
        h('legend', { i18n: 'call.mode' }),
        radio('mode', 'practice', 'mode.practice', this.choice.mode === 'practice', { describe: 'mode-practice-help' }),
        h('p', { class: 'help', id: 'mode-practice-help', i18n: 'call.mode_practice_help' }),
        radio('mode', 'exam', 'mode.exam', this.choice.mode === 'exam', { describe: 'mode-exam-help' }),
        h('p', { class: 'help', id: 'mode-exam-help', i18n: 'call.mode_exam_help' })),
      h('fieldset', {},
        h('legend', { i18n: 'call.language' }),
        s.languages.map((l) => radio('language', l, null, this.choice.language === l, { label: langName(l) }))),
      h('fieldset', {},
        h('legend', { i18n: 'call.input' }),
        radio('input', 'voice', 'call.input_voice', this.choice.input === 'voice', { disabled: !this.config.voice, describe: 'input-voice-help' }),
        h('p', { class: 'help', id: 'input-voice-help', i18n: this.config.voice ? 'call.input_voice_help' : 'call.voice_unavailable' }),
        radio('input', 'text', 'call.input_text', this.choice.input === 'text')),
      h('div', { class: 'setup-actions' },
        h('button', { type: 'submit', class: 'primary big', id: 'start-call' },
          h('span', { 'aria-hidden': 'true' }, '☎ '), h('span', { i18n: 'call.start' }))),
    );
    form.addEventListener('change', () => {
      const fd = new FormData(form);
      const prevLang = this.choice.language;
      this.choice = { mode: fd.get('mode'), language: fd.get('language'), input: fd.get('input') };
      if (this.choice.language !== prevLang) this.showSheet(sheetHolder);
    });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.startCall();
    });

    append(this.main, [
      h('nav', { class: 'crumbs', 'aria-label': t('nav.breadcrumb') }, h('a', { href: '#/library', i18n: 'nav.back_library' })),
      h('div', { class: 'page-head' }, h('h1', {}, s.title), badges(s), h('p', { class: 'lead' }, s.summary)),
      active && active.scenario === s.id ? h('div', { class: 'alert info' },
        h('p', { i18n: 'call.active_found' }),
        h('button', { type: 'button', class: 'primary', id: 'resume-call', on: { click: () => this.resumeCall(active) }, i18n: 'call.resume' }),
        ' ',
        h('button', { type: 'button', class: 'secondary', on: { click: () => { saveActive(null); this.renderSetup(); } }, i18n: 'call.discard' }),
      ) : null,
      alert,
      h('div', { class: 'setup-grid' }, sheetHolder, form),
    ]);
    this.showSheet(sheetHolder);
  }

  async showSheet(holder) {
    try {
      const s = await fetchScenario(this.scenario.id, this.choice.language);
      clear(holder).append(knowledgeSheet(s, 2));
      if (this.choice.language !== getLang()) {
        holder.prepend(h('p', { class: 'muted small', i18n: 'call.sheet_in_call_language', i18nVars: { lang: langName(this.choice.language) } }));
      }
    } catch (e) {
      clear(holder).append(h('p', { class: 'alert error' }, t('app.load_failed', { error: e.message })));
    }
  }

  setupError(text, action) {
    if (!this.setupAlert) return;
    clear(this.setupAlert).append(h('div', { class: 'alert error' }, h('p', {}, text), action || null));
  }

  // ------------------------------------------------------------------ starting
  async startCall({ resume = null } = {}) {
    const trainee = await ensureTrainee();
    if (!trainee) return;
    const btn = document.getElementById('start-call');
    if (btn) btn.disabled = true;
    const voice = this.choice.input === 'voice' && this.config.voice;
    if (voice) {
      try {
        this.audioCtx = new AudioContext({ latencyHint: 'interactive' });
        await this.audioCtx.resume();
        this.player = new Player(this.audioCtx, (m) => this.conn?.send(m));
        this.mic = await Mic.open(this.audioCtx, (buf) => this.conn?.sendBinary(buf));
      } catch (e) {
        this.releaseAudio();
        if (btn) btn.disabled = false;
        const kind = e instanceof MicError ? e.kind : 'other';
        this.setupError(t(`mic.${kind}`), h('button', {
          type: 'button', class: 'secondary', id: 'use-text-instead', i18n: 'mic.use_text',
          on: { click: () => { this.choice.input = 'text'; this.startCall({ resume }); } },
        }));
        return;
      }
    }
    const startMsg = {
      type: 'start', scenario: this.scenario.id, mode: this.choice.mode, language: this.choice.language, trainee,
    };
    const seed = this.query.get('seed');
    if (seed !== null && /^\d+$/.test(seed)) startMsg.seed = Number(seed);
    if (voice) startMsg.audio = MIC_FORMAT;
    this.voice = voice;
    this.renderLive();
    this.conn = new CallConnection(wsUrl('/ws/call'), {
      onMessage: (m) => this.onMessage(m),
      onBinary: (b) => this.player?.push(b),
      onStatus: (st, d) => this.onStatus(st, d),
    }, { graceS: this.config.resume_grace_s || 60 });
    window.__callcoach = { conn: this.conn, page: this }; // for tests and debugging
    if (resume) {
      this.conn.sessionId = resume;
      this.conn.startMsg = startMsg;
      this.conn.setStatus('connecting');
      this.conn.open();
    } else {
      this.conn.start(startMsg);
    }
  }

  resumeCall(active) {
    this.choice = { mode: active.mode, language: active.language, input: active.input };
    this.startCall({ resume: active.session_id });
  }

  releaseAudio() {
    this.mic?.close();
    this.mic = null;
    this.player?.close();
    this.player = null;
    if (this.audioCtx) this.audioCtx.close().catch(() => {});
    this.audioCtx = null;
  }

  // ------------------------------------------------------------------ the live page
  renderLive() {
    clear(this.main);
    this.phase = 'connecting';
    const practice = this.choice.mode === 'practice';
    this.els = {};
    const E = this.els;
    E.status = h('span', { class: 'conn-status', id: 'conn-status', role: 'status', 'aria-live': 'polite' });
    E.timer = h('span', { class: 'timer', id: 'call-timer' });
    E.timerBar = h('span', { class: 'timer-bar', 'aria-hidden': 'true' }, h('span', { class: 'timer-fill' }));
    E.alert = h('div', { class: 'alert-slot', id: 'call-alert', role: 'alert', 'aria-live': 'assertive' });
    E.transcript = h('ol', { class: 'transcript', id: 'transcript', role: 'log', 'aria-live': 'polite', 'aria-label': t('call.transcript') });
    E.partial = null;

    E.end = h('button', { type: 'button', class: 'danger', id: 'end-call', on: { click: () => this.endCall() } },
      h('span', { class: 'icon-hangup', 'aria-hidden': 'true' }), h('span', { i18n: 'call.end' }));

    let input;
    if (this.voice) {
      E.mute = h('button', { type: 'button', class: 'secondary', id: 'mute', 'aria-pressed': 'false', on: { click: () => this.toggleMute() } },
        h('span', { class: 'mute-label', i18n: 'call.mute' }));
      E.level = h('span', { class: 'level-meter', 'aria-hidden': 'true' }, h('span', { class: 'level-fill' }));
      E.voiceState = h('span', { class: 'voice-state', id: 'voice-state', i18n: 'call.listening' });
      input = h('div', { class: 'voice-controls', role: 'group', 'aria-label': t('call.voice_controls') },
        h('span', { class: 'mic-dot', 'aria-hidden': 'true' }), E.voiceState, E.level, E.mute, E.end);
    } else {
      E.text = h('textarea', { id: 'agent-text', name: 'text', rows: '2', maxlength: '4000', 'aria-describedby': 'composer-help', autocomplete: 'off' });
      E.send = h('button', { type: 'submit', class: 'primary', id: 'send-text', i18n: 'call.send' });
      E.text.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
          ev.preventDefault();
          E.composer.requestSubmit();
        }
      });
      E.composer = h('form', { class: 'composer', id: 'composer', on: { submit: (ev) => { ev.preventDefault(); this.sendText(); } } },
        h('label', { for: 'agent-text', class: 'composer-label', i18n: 'call.your_line' }),
        h('div', { class: 'composer-row' }, E.text, E.send),
        h('p', { class: 'help', id: 'composer-help', i18n: 'call.composer_help' }));
      input = h('div', { class: 'text-controls' }, E.composer, h('div', { class: 'end-row' }, E.end));
    }

    const aside = h('aside', { class: 'call-side', 'aria-label': t('call.side') });
    if (practice) {
      E.anger = meter('anger');
      E.trust = meter('trust');
      E.hint = h('p', { class: 'hint-text', id: 'hint-text', i18n: 'call.hint_none' });
      aside.append(
        h('section', { class: 'mood', id: 'mood-meter', 'aria-labelledby': 'mood-title' },
          h('h2', { id: 'mood-title', i18n: 'call.mood' }), E.anger.el, E.trust.el,
          E.moodExtra = h('p', { class: 'mood-extra muted small' })),
        h('section', { class: 'hints', id: 'hints', 'aria-labelledby': 'hints-title', 'aria-live': 'polite' },
          h('h2', { id: 'hints-title', i18n: 'call.hints' }), E.hint));
    } else {
      aside.append(h('p', { class: 'exam-note', id: 'exam-note', i18n: 'call.exam_note' }));
    }
    E.sheet = h('details', { class: 'side-sheet', open: true }, h('summary', { i18n: 'sheet.title' }), h('p', { class: 'muted', i18n: 'app.loading' }));
    aside.append(E.sheet);

    this.main.append(
      h('div', { class: 'call-head' },
        h('div', {},
          h('h1', {}, this.scenario.title),
          h('p', { class: 'call-meta' },
            h('span', { class: `badge mode-${this.choice.mode}`, id: 'mode-badge', i18n: `mode.${this.choice.mode}` }), ' ',
            h('span', { class: 'badge' }, langName(this.choice.language)), ' ',
            h('span', { class: 'badge', i18n: this.voice ? 'call.input_voice' : 'call.input_text' }))),
        h('div', { class: 'call-clock' }, h('span', { class: 'sr-only', i18n: 'call.timer_label' }), E.timer, E.timerBar, E.status)),
      E.alert,
      h('div', { class: 'call-grid' },
        h('section', { class: 'call-main', 'aria-labelledby': 'transcript-title' },
          h('h2', { id: 'transcript-title', class: 'sr-only', i18n: 'call.transcript' }),
          E.transcript, input),
        aside),
    );
    this.updateTimer();
    if (this.voice) this.levelTimer = setInterval(() => this.drawLevel(), 100);
  }

  onStatus(status, detail) {
    const E = this.els;
    if (!E) return;
    E.status.dataset.state = status;
    if (status === 'connecting') E.status.textContent = t('conn.connecting');
    if (status === 'live') {
      this.phase = 'live';
      E.status.textContent = t('conn.live');
      if (detail?.resumed) this.showAlert(t('conn.resumed'), 'info', 4000);
      this.setInputEnabled(true);
      if (this.pendingEnd) { this.pendingEnd = false; this.conn.end(); }
    }
    if (status === 'reconnecting') {
      this.phase = 'reconnecting';
      E.status.textContent = t('conn.reconnecting');
      this.showAlert(t('conn.dropped', { s: Math.round((detail?.delayMs || 0) / 100) / 10 }), 'warn');
      if (this.voice) this.setInputEnabled(false);
      if (this.player) this.player.stopAll();
    }
    if (status === 'lost') {
      this.phase = 'lost';
      E.status.textContent = t('conn.lost');
      this.setInputEnabled(false);
      const sid = this.conn?.sessionId;
      saveActive(null);
      this.showAlert(t(detail?.code === 'grace_expired' ? 'conn.lost_grace' : 'conn.lost_closed'), 'error', 0,
        sid ? h('a', { href: `#/report/${sid}`, class: 'button secondary', i18n: 'call.open_report' }) : null);
      this.stopTimers();
      this.releaseAudio();
    }
    if (status === 'failed') {
      this.phase = 'setup';
      const msg = detail?.code ? errorText(detail.code, detail.message) : t('error.unknown');
      this.releaseAudio();
      this.stopTimers();
      this.renderSetup();
      this.setupError(msg);
    }
  }

  onMessage(m) {
    switch (m.type) {
      case 'started': return this.onStarted(m);
      case 'customer_delta': return this.onDelta(m);
      case 'customer': return this.onCustomer(m);
      case 'state': return this.onState(m);
      case 'hint': return this.onHint(m);
      case 'transcript': return this.onTranscript(m);
      case 'interrupt': return this.onInterrupt(m);
      case 'audio_end': return this.player?.end(m.turn, m.duration_ms);
      case 'metrics': return this.onMetrics(m);
      case 'ended': return this.onEnded(m);
      case 'error': return this.showAlert(errorText(m.code, m.message), 'error', 8000);
      default: return undefined;
    }
  }

  onStarted(m) {
    this.sessionId = m.session_id;
    this.timeLimit = m.time_limit_s;
    this.clockBase = { elapsed: m.elapsed_s, at: performance.now() };
    saveActive({ session_id: m.session_id, scenario: this.scenario.id, mode: m.mode, language: m.language, input: this.voice ? 'voice' : 'text' });
    if (this.els.sheet && m.scenario) {
      const sheet = knowledgeSheet(m.scenario, 3);
      sheet.querySelector('h3')?.remove(); // the <summary> is the heading
      clear(this.els.sheet).append(h('summary', { i18n: 'sheet.title' }), sheet);
    }
    if (Array.isArray(m.turns)) {
      // resumed: rebuild the transcript from the server's record, then the lines still to send
      const tr = this.els.transcript;
      tr.setAttribute('aria-busy', 'true');
      clear(tr);
      this.els.partial = null;
      this.customerEls = new Map();
      for (const turn of m.turns) this.addTurn(turn.speaker, turn.text, turn.turn);
      const have = m.turns.filter((x) => x.speaker === 'agent').length;
      for (const text of this.conn.submitted.slice(have)) this.addTurn('agent', text, null);
      tr.removeAttribute('aria-busy');
    } else if (!this.customerEls) {
      this.customerEls = new Map();
      this.addTurn('customer', m.opening.text, m.opening.turn);
    }
    if (!this.timer) this.timer = setInterval(() => this.updateTimer(), 250);
    this.updateTimer();
    this.setInputEnabled(true);
    if (!this.voice) this.els.text?.focus();
  }

  addTurn(speaker, text, turn, { cls = '' } = {}) {
    const el = h('li', { class: `turn ${speaker} ${cls}`.trim(), dataset: { speaker, ...(turn !== null && turn !== undefined ? { turn: String(turn) } : {}) } },
      h('span', { class: 'who', i18n: speaker === 'agent' ? 'call.you' : 'call.customer' }),
      h('span', { class: 'text' }, text));
    this.els.transcript.append(el);
    if (speaker === 'customer' && turn !== null && turn !== undefined) this.customerEls.set(turn, el);
    this.scrollTranscript();
    return el;
  }

  scrollTranscript() {
    const tr = this.els.transcript;
    tr.scrollTop = tr.scrollHeight;
  }

  onDelta(m) {
    let el = this.customerEls.get(m.turn);
    if (!el) {
      el = this.addTurn('customer', '', m.turn, { cls: 'streaming' });
    }
    el.querySelector('.text').textContent += m.text;
    this.scrollTranscript();
  }

  onCustomer(m) {
    let el = this.customerEls.get(m.turn);
    if (!el) el = this.addTurn('customer', m.text, m.turn);
    el.classList.remove('streaming');
    el.querySelector('.text').textContent = m.text;
    for (const p of this.els.transcript.querySelectorAll('.turn.agent.queued')) p.classList.remove('queued');
    this.scrollTranscript();
  }

  onState(m) {
    const E = this.els;
    if (!E.anger) return;
    E.anger.set(m.anger);
    E.trust.set(m.trust);
    const bits = [];
    bits.push(t(m.verified ? 'call.verified_yes' : 'call.verified_no'));
    if (m.resolution) bits.push(t('call.resolution', { r: tMaybe(`resolution.${m.resolution}`) || m.resolution }));
    if (m.objections_open) bits.push(t('call.objections_open', { n: m.objections_open }));
    E.moodExtra.textContent = bits.join(' · ');
  }

  onHint(m) {
    if (!this.els.hint) return;
    this.els.hint.removeAttribute('data-i18n');
    this.els.hint.textContent = m.text;
    this.els.hint.classList.remove('flash');
    void this.els.hint.offsetWidth;
    this.els.hint.classList.add('flash');
  }

  onTranscript(m) {
    const E = this.els;
    if (m.final) {
      if (E.partial) { E.partial.remove(); E.partial = null; }
      if (m.text && m.text.trim()) this.addTurn('agent', m.text, null, { cls: 'spoken' });
    } else {
      if (!E.partial) {
        E.partial = h('li', { class: 'turn agent partial', 'aria-hidden': 'true', id: 'partial' },
          h('span', { class: 'who', i18n: 'call.you' }), h('span', { class: 'text' }));
        E.transcript.append(E.partial);
      }
      E.partial.querySelector('.text').textContent = m.text;
      E.transcript.append(E.partial); // keep it last
      this.scrollTranscript();
    }
  }

  onInterrupt(m) {
    this.player?.interrupt(m.turn);
    const el = this.customerEls?.get(m.turn);
    if (el && !el.classList.contains('interrupted')) {
      el.classList.add('interrupted');
      el.append(h('span', { class: 'tag', i18n: 'call.interrupted' }));
    }
  }

  onMetrics(m) {
    const el = this.customerEls?.get(m.turn);
    if (!el || m.total_ms === undefined || m.total_ms === null) return;
    let tag = el.querySelector('.latency');
    if (!tag) { tag = h('span', { class: 'latency muted small' }); el.append(tag); }
    tag.textContent = t('call.latency', { s: (m.total_ms / 1000).toFixed(1) });
  }

  onEnded(m) {
    this.phase = 'ended';
    saveActive(null);
    this.stopTimers();
    this.setInputEnabled(false);
    this.els.status.textContent = t('conn.ended');
    const reason = tMaybe(`end_reason.${m.reason}`) || m.reason;
    this.showAlert(t('call.ended_going', { reason }), 'info');
    this.mic?.close();
    this.mic = null;
    // let the customer's last words finish before the page changes
    const wait = this.player?.playing ? 1500 : 300;
    setTimeout(() => {
      this.releaseAudio();
      location.hash = `#/report/${m.session_id}`;
    }, wait);
  }

  // ------------------------------------------------------------------ actions
  sendText() {
    const E = this.els;
    const text = E.text.value.trim();
    if (!text || !this.conn || this.phase === 'ended' || this.phase === 'lost') return;
    const sentNow = this.conn.sendText(text);
    this.addTurn('agent', text, null, { cls: sentNow ? '' : 'queued' });
    E.text.value = '';
    E.text.focus();
  }

  toggleMute() {
    if (!this.mic) return;
    const muted = !this.mic.muted;
    this.mic.setMuted(muted);
    const E = this.els;
    E.mute.setAttribute('aria-pressed', String(muted));
    E.mute.classList.toggle('on', muted);
    const label = E.mute.querySelector('.mute-label');
    label.dataset.i18n = muted ? 'call.unmute' : 'call.mute';
    label.textContent = t(label.dataset.i18n);
    E.voiceState.dataset.i18n = muted ? 'call.muted' : 'call.listening';
    E.voiceState.textContent = t(E.voiceState.dataset.i18n);
  }

  drawLevel() {
    if (!this.mic || !this.els.level) return;
    const pct = Math.min(100, Math.round(Math.sqrt(this.mic.level) * 160));
    this.els.level.firstChild.style.width = `${pct}%`;
    const speaking = this.player?.playing;
    if (!this.mic.muted) {
      const key = speaking ? 'call.customer_speaking' : 'call.listening';
      if (this.els.voiceState.dataset.i18n !== key) {
        this.els.voiceState.dataset.i18n = key;
        this.els.voiceState.textContent = t(key);
      }
    }
  }

  endCall() {
    if (!this.conn || this.phase === 'ended') return;
    this.els.end.disabled = true;
    this.els.status.textContent = t('conn.ending');
    if (this.conn.live) this.conn.end();
    else if (this.conn.sessionId) this.pendingEnd = true; // after the resume
    else { this.conn.close(); this.releaseAudio(); this.renderSetup(); }
  }

  setInputEnabled(on) {
    const E = this.els;
    if (!E) return;
    const live = on && this.phase !== 'ended' && this.phase !== 'lost';
    if (E.end) E.end.disabled = !(live || this.phase === 'reconnecting');
    if (E.mute) E.mute.disabled = !live;
    // the text box stays usable while reconnecting: lines wait and go out after the resume
    if (E.text) E.text.disabled = !(live || this.phase === 'reconnecting');
    if (E.send) E.send.disabled = !(live || this.phase === 'reconnecting');
  }

  showAlert(text, kind = 'error', autoHideMs = 0, action = null) {
    const slot = this.els?.alert;
    if (!slot) return;
    clear(slot).append(h('div', { class: `alert ${kind}` }, h('p', {}, text), action));
    if (this.alertTimer) clearTimeout(this.alertTimer);
    if (autoHideMs) this.alertTimer = setTimeout(() => clear(slot), autoHideMs);
  }

  updateTimer() {
    const E = this.els;
    if (!E?.timer) return;
    const limit = this.timeLimit || this.scenario.time_limit_s;
    const elapsed = this.clockBase ? this.clockBase.elapsed + (performance.now() - this.clockBase.at) / 1000 : 0;
    E.timer.textContent = t('call.timer', { elapsed: fmtClock(elapsed), limit: fmtClock(limit) });
    const frac = Math.min(1, elapsed / limit);
    E.timerBar.firstChild.style.width = `${frac * 100}%`;
    const warn = limit - elapsed <= 60;
    E.timer.classList.toggle('warn', warn);
    E.timerBar.classList.toggle('warn', warn);
    if (warn && !this.warned && this.phase === 'live') {
      this.warned = true;
      this.showAlert(t('call.one_minute'), 'warn', 6000);
    }
  }

  stopTimers() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.levelTimer) clearInterval(this.levelTimer);
    this.levelTimer = null;
  }

  destroy() {
    window.removeEventListener('beforeunload', this.beforeUnload);
    this.stopTimers();
    this.conn?.close();
    this.releaseAudio();
    if (window.__callcoach?.page === this) delete window.__callcoach;
  }
}

function meter(kind) {
  const id = `meter-${kind}`;
  const fill = h('span', { class: 'meter-fill' });
  const value = h('span', { class: 'meter-value' });
  const bar = h('span', { class: `meter meter-${kind}`, role: 'meter', id, 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-labelledby': `${id}-label` }, fill);
  const el = h('div', { class: 'meter-row' },
    h('span', { class: 'meter-label', id: `${id}-label`, i18n: `call.${kind}` }), bar, value);
  let prev = null;
  return {
    el,
    set(v) {
      bar.setAttribute('aria-valuenow', String(v));
      fill.style.width = `${v}%`;
      const delta = prev === null ? '' : v > prev ? ` ▲${v - prev}` : v < prev ? ` ▼${prev - v}` : '';
      value.textContent = `${v}${delta}`;
      prev = v;
    },
  };
}
