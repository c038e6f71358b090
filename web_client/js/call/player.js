// The customer's voice: a gapless playback queue of PCM frames per turn.
// `interrupt` stops it at once; positions are reported as `playback {turn, played_ms, done}`.
import { parseAudioFrame } from './pcm.js';

const REPORT_EVERY_MS = 250;

export class Player {
  /**
   * @param {AudioContext} ctx
   * @param {(msg: object) => void} report sends a `playback` message
   */
  constructor(ctx, report) {
    this.ctx = ctx;
    this.report = report;
    this.gain = ctx.createGain();
    this.gain.connect(ctx.destination);
    this.turns = new Map(); // turn -> {chunks: [{src, start, dur}], ended, done, cut, lastReport}
    this.cutBelow = -1; // frames of turns <= this are stale (interrupted)
    this.nextTime = 0;
    this.timer = setInterval(() => this.tick(), REPORT_EVERY_MS);
    this.framesPlayed = 0;
    this.onActivity = null; // (playing: boolean, turn) for the UI
  }

  entry(turn) {
    let e = this.turns.get(turn);
    if (!e) {
      e = { chunks: [], ended: false, done: false, cut: false, lastReported: -1, expectedMs: null };
      this.turns.set(turn, e);
    }
    return e;
  }

  /** A binary frame from the server. */
  push(buf) {
    const f = parseAudioFrame(buf);
    if (!f || f.samples.length === 0) return false;
    if (f.turn <= this.cutBelow) return false;
    const e = this.entry(f.turn);
    if (e.cut) return false;
    const ab = this.ctx.createBuffer(1, f.samples.length, f.sampleRate);
    ab.copyToChannel(f.samples, 0);
    const src = this.ctx.createBufferSource();
    src.buffer = ab;
    src.connect(this.gain);
    const start = Math.max(this.ctx.currentTime + 0.02, this.nextTime);
    src.start(start);
    this.nextTime = start + ab.duration;
    e.chunks.push({ src, start, dur: ab.duration });
    this.framesPlayed += 1;
    this.onActivity?.(true, f.turn);
    return true;
  }

  /** Milliseconds of `turn` heard so far. */
  playedMs(turn) {
    const e = this.turns.get(turn);
    if (!e) return 0;
    const now = e.cutAt ?? this.ctx.currentTime;
    let s = 0;
    for (const c of e.chunks) s += Math.min(c.dur, Math.max(0, now - c.start));
    return Math.round(s * 1000);
  }

  scheduledMs(turn) {
    const e = this.turns.get(turn);
    return e ? Math.round(e.chunks.reduce((a, c) => a + c.dur, 0) * 1000) : 0;
  }

  /** `audio_end {turn}`: no more frames for this turn. */
  end(turn, durationMs) {
    const e = this.entry(turn);
    e.ended = true;
    e.expectedMs = durationMs ?? null;
    this.tick();
  }

  /** `interrupt {turn}`: stop the customer's voice now (this turn and anything before it). */
  interrupt(turn) {
    const now = this.ctx.currentTime;
    this.cutBelow = Math.max(this.cutBelow, turn);
    for (const [t, e] of this.turns) {
      if (t > turn || e.done || e.cut) continue;
      e.cutAt = now;
      for (const c of e.chunks) {
        try { c.src.stop(); } catch { /* not started */ }
        c.src.disconnect();
      }
      e.cut = true;
      e.done = true;
      this.report({ type: 'playback', turn: t, played_ms: this.playedMs(t), done: false });
    }
    this.nextTime = now;
    this.onActivity?.(false, turn);
  }

  /** Stop everything (call ended or page left). */
  stopAll() {
    for (const e of this.turns.values()) {
      for (const c of e.chunks) { try { c.src.stop(); } catch { /* */ } }
    }
    this.turns.clear();
    this.nextTime = 0;
  }

  get playing() {
    const now = this.ctx.currentTime;
    for (const e of this.turns.values()) {
      if (!e.done && e.chunks.some((c) => c.start + c.dur > now)) return true;
    }
    return false;
  }

  tick() {
    const now = this.ctx.currentTime;
    for (const [turn, e] of this.turns) {
      if (e.done || e.chunks.length === 0) continue;
      const played = this.playedMs(turn);
      const last = e.chunks[e.chunks.length - 1];
      const finished = e.ended && now >= last.start + last.dur;
      if (finished) {
        e.done = true;
        this.report({ type: 'playback', turn, played_ms: this.scheduledMs(turn), done: true });
        if (!this.playing) this.onActivity?.(false, turn);
      } else if (played !== e.lastReported && played > 0) {
        e.lastReported = played;
        this.report({ type: 'playback', turn, played_ms: played, done: false });
      }
    }
  }

  close() {
    clearInterval(this.timer);
    this.stopAll();
    try { this.gain.disconnect(); } catch { /* */ }
  }
}
