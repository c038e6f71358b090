// PCM helpers shared by the microphone worklet and the player.

/**
 * Streaming downsampler float32 at `inRate` -> int16 at `outRate` (mono).
 * Each output sample is the mean of the input samples that fall in its period (a box filter:
 * cheap anti-aliasing, good enough for speech), with the fractional position carried across
 * calls, so any block size and any ratio (48000/16000, 44100/16000 ...) work and the samples
 * keep their order. For inRate <= outRate it interpolates linearly.
 */
export class Downsampler {
  constructor(inRate, outRate = 16000) {
    this.inRate = inRate;
    this.outRate = outRate;
    this.ratio = inRate / outRate;
    this.acc = 0;
    this.n = 0;
    this.pos = 0; // input samples consumed into the current output period
    this.prev = 0; // last input sample (for upsampling)
    this.t = 0; // upsampling phase
  }

  /** @param {Float32Array} input @returns {Int16Array} */
  process(input) {
    const out = [];
    if (this.ratio >= 1) {
      for (let i = 0; i < input.length; i++) {
        this.acc += input[i];
        this.n += 1;
        this.pos += 1;
        if (this.pos >= this.ratio) {
          this.pos -= this.ratio;
          out.push(this.acc / this.n);
          this.acc = 0;
          this.n = 0;
        }
      }
    } else {
      for (let i = 0; i < input.length; i++) {
        const x = input[i];
        while (this.t < 1) {
          out.push(this.prev + (x - this.prev) * this.t);
          this.t += this.ratio;
        }
        this.t -= 1;
        this.prev = x;
      }
    }
    const pcm = new Int16Array(out.length);
    for (let i = 0; i < out.length; i++) {
      const v = Math.max(-1, Math.min(1, out[i]));
      pcm[i] = v < 0 ? Math.round(v * 32768) : Math.round(v * 32767);
    }
    return pcm;
  }
}

export const AUDIO_MAGIC = 'CCAU';

/** Parse a customer audio frame: "CCAU" + u32 turn + u32 seq + u32 sample_rate + s16le PCM. */
export function parseAudioFrame(buf) {
  if (!(buf instanceof ArrayBuffer) || buf.byteLength < 16) return null;
  const head = new Uint8Array(buf, 0, 4);
  if (String.fromCharCode(...head) !== AUDIO_MAGIC) return null;
  const dv = new DataView(buf);
  const turn = dv.getUint32(4, true);
  const seq = dv.getUint32(8, true);
  const sampleRate = dv.getUint32(12, true);
  const n = Math.floor((buf.byteLength - 16) / 2);
  const samples = new Float32Array(n);
  for (let i = 0; i < n; i++) samples[i] = dv.getInt16(16 + 2 * i, true) / 32768;
  return { turn, seq, sampleRate, samples };
}
