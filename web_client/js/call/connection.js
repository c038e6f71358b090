// The call websocket with automatic reconnect and resume.
//
// A socket that closes before `ended` is a drop: we reconnect with backoff and send
// `start {resume: session_id}`; the server answers `started` with the turns so far, and the page
// rebuilds its transcript from them. Agent lines typed while the socket was down (or sent into a
// dying socket) are re-sent after the resume if the server's transcript does not have them, so no
// turn is lost and none is doubled.

const BACKOFF_MS = [300, 700, 1500, 3000, 5000];

export class CallConnection {
  /**
   * @param {string} url ws URL of /ws/call
   * @param {object} handlers onMessage(msg), onBinary(ArrayBuffer), onStatus(status, detail)
   *   status: connecting | live | reconnecting | lost | closed
   */
  constructor(url, handlers, { graceS = 60 } = {}) {
    this.url = url;
    this.h = handlers;
    this.graceMs = Math.max(5000, graceS * 1000);
    this.ws = null;
    this.sessionId = null;
    this.startMsg = null;
    this.started = false; // `started` received on the current socket
    this.ended = false;
    this.intentional = false;
    this.attempt = 0;
    this.droppedAt = null;
    this.retryTimer = null;
    this.pingTimer = null;
    this.submitted = []; // every agent text line of this call, in order
    this.serverAgentLines = 0; // agent lines the server has (as far as we know)
    this.status = 'idle';
    this.statusLog = []; // every status change, for the page's messages and for tests
    this.reconnects = 0;
  }

  setStatus(s, detail) {
    this.status = s;
    this.statusLog.push(s);
    this.h.onStatus?.(s, detail);
  }

  /** Start a new call. */
  start(startMsg) {
    this.startMsg = startMsg;
    this.setStatus('connecting');
    this.open();
  }

  open() {
    const ws = new WebSocket(this.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.started = false;
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return;
      const msg = this.sessionId
        ? { type: 'start', resume: this.sessionId, ...(this.startMsg.audio ? { audio: this.startMsg.audio } : {}) }
        : this.startMsg;
      ws.send(JSON.stringify(msg));
    });
    ws.addEventListener('message', (ev) => {
      if (this.ws !== ws) return;
      if (typeof ev.data !== 'string') {
        this.h.onBinary?.(ev.data);
        return;
      }
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      this.onMessage(msg, ws);
    });
    ws.addEventListener('close', (ev) => {
      if (this.ws !== ws) return;
      this.onClose(ev);
    });
  }

  onMessage(msg, ws) {
    if (msg.type === 'started') {
      const resumed = !!this.sessionId;
      this.sessionId = msg.session_id;
      this.started = true;
      this.attempt = 0;
      this.droppedAt = null;
      if (resumed) this.reconnects += 1;
      this.h.onMessage?.(msg);
      if (Array.isArray(msg.turns)) this.resendMissing(msg.turns);
      this.setStatus('live', { resumed });
      this.startPing();
      return;
    }
    if (msg.type === 'ended') {
      this.ended = true;
      this.stopPing();
      this.h.onMessage?.(msg);
      this.setStatus('closed', { reason: msg.reason });
      return;
    }
    if (msg.type === 'error' && !this.started) {
      // an error before `started` on a resume attempt
      if (this.sessionId && msg.code === 'session_in_use') {
        // the server has not noticed the old socket is gone yet: try again shortly
        ws.close();
        return;
      }
      if (this.sessionId && (msg.code === 'session_closed' || msg.code === 'unknown_session')) {
        this.intentional = true;
        ws.close();
        this.setStatus('lost', { code: msg.code, message: msg.message });
        return;
      }
      // a failed fresh start (unknown scenario, bad audio ...): nothing to resume
      this.h.onMessage?.(msg);
      if (!this.sessionId) {
        this.intentional = true;
        ws.close();
        this.setStatus('failed', msg);
      }
      return;
    }
    this.h.onMessage?.(msg);
  }

  onClose(ev) {
    this.stopPing();
    this.started = false;
    if (this.ended || this.intentional) return;
    if (!this.sessionId && this.attempt >= 2) {
      this.setStatus('failed', { code: 'connect_failed', message: `websocket closed (${ev.code})` });
      return;
    }
    if (this.droppedAt === null) this.droppedAt = Date.now();
    if (Date.now() - this.droppedAt > this.graceMs) {
      this.setStatus('lost', { code: 'grace_expired' });
      return;
    }
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    this.setStatus('reconnecting', { attempt: this.attempt, delayMs: delay, code: ev.code });
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  /** After a resume: re-send the agent lines the server's transcript does not have. */
  resendMissing(turns) {
    const serverLines = turns.filter((t) => t.speaker === 'agent').map((t) => t.text);
    if (this.startMsg?.audio) { // spoken turns come from audio; nothing to replay
      this.submitted = serverLines;
      return;
    }
    const missing = this.submitted.slice(serverLines.length);
    this.submitted = serverLines.concat(missing);
    for (const text of missing) this.rawSend({ type: 'text', text });
    this.serverAgentLines = this.submitted.length;
  }

  get live() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN && this.started && !this.ended;
  }

  /** An agent text line: sent now, or after the resume if the socket is down. */
  sendText(text) {
    this.submitted.push(text);
    if (this.live) {
      this.rawSend({ type: 'text', text });
      this.serverAgentLines = this.submitted.length;
      return true;
    }
    return false; // queued: resendMissing() sends it after the resume
  }

  send(msg) {
    if (this.live) this.rawSend(msg);
  }

  rawSend(msg) {
    this.ws.send(JSON.stringify(msg));
  }

  sendBinary(buf) {
    if (this.live) this.ws.send(buf);
  }

  end() {
    if (this.live) this.rawSend({ type: 'end' });
  }

  startPing() {
    this.stopPing();
    this.pingTimer = setInterval(() => this.send({ type: 'ping' }), 20000);
  }

  stopPing() {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  /** Leave the call (page change): the server keeps it resumable for the grace period. */
  close() {
    this.intentional = true;
    this.stopPing();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000);
  }
}
