// Microphone capture: getUserMedia -> AudioWorklet (downsample to 16 kHz mono s16le) -> onFrame.

export class MicError extends Error {
  constructor(kind, cause) {
    super(`${kind}: ${cause?.message || cause || ''}`);
    this.kind = kind; // denied | notfound | insecure | unsupported | other
  }
}

export const MIC_FORMAT = { sample_rate: 16000, format: 's16le', channels: 1 };

export class Mic {
  /** @param {AudioContext} ctx an AudioContext created in a user gesture */
  static async open(ctx, onFrame) {
    if (!window.isSecureContext) throw new MicError('insecure');
    if (!navigator.mediaDevices?.getUserMedia || !window.AudioWorkletNode) throw new MicError('unsupported');
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        video: false,
      });
    } catch (e) {
      if (e.name === 'NotAllowedError' || e.name === 'SecurityError') throw new MicError('denied', e);
      if (e.name === 'NotFoundError' || e.name === 'OverconstrainedError') throw new MicError('notfound', e);
      throw new MicError('other', e);
    }
    await ctx.audioWorklet.addModule(new URL('./mic-worklet.js', import.meta.url));
    const mic = new Mic(ctx, stream, onFrame);
    return mic;
  }

  constructor(ctx, stream, onFrame) {
    this.ctx = ctx;
    this.stream = stream;
    this.muted = false;
    this.level = 0;
    this.frames = 0;
    this.source = ctx.createMediaStreamSource(stream);
    this.node = new AudioWorkletNode(ctx, 'callcoach-mic', { numberOfInputs: 1, numberOfOutputs: 0, channelCount: 1, channelCountMode: 'explicit' });
    this.node.port.onmessage = (ev) => {
      const { pcm, rms } = ev.data;
      this.level = this.muted ? 0 : rms;
      this.frames += 1;
      // muted: the line carries silence (the server's turn detection keeps its clock)
      onFrame(this.muted ? new ArrayBuffer(pcm.byteLength) : pcm);
    };
    this.source.connect(this.node);
    const track = stream.getAudioTracks()[0];
    this.onEnded = null;
    track?.addEventListener('ended', () => this.onEnded?.());
  }

  setMuted(m) {
    this.muted = !!m;
    for (const tr of this.stream.getAudioTracks()) tr.enabled = !this.muted;
  }

  close() {
    try { this.source.disconnect(); } catch { /* already */ }
    try { this.node.port.onmessage = null; this.node.disconnect(); } catch { /* already */ }
    for (const tr of this.stream.getTracks()) tr.stop();
  }
}
