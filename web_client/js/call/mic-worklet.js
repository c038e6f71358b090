// AudioWorklet: microphone float32 at the context rate -> 16 kHz mono s16le frames of 20 ms,
// posted to the main thread in order (no per-block reversal).
import { Downsampler } from './pcm.js';

const OUT_RATE = 16000;
const FRAME = 320; // 20 ms at 16 kHz

class MicProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    // `sampleRate` is the AudioWorkletGlobalScope's context rate
    this.ds = new Downsampler(sampleRate, OUT_RATE);
    this.buf = new Int16Array(FRAME);
    this.fill = 0;
    this.sumSq = 0;
    this.count = 0;
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0 || !input[0]) return true;
    let mono = input[0];
    if (input.length > 1) {
      // mix down every channel
      mono = new Float32Array(input[0].length);
      for (const ch of input) for (let i = 0; i < ch.length; i++) mono[i] += ch[i] / input.length;
    }
    const pcm = this.ds.process(mono);
    for (let i = 0; i < pcm.length; i++) {
      this.buf[this.fill++] = pcm[i];
      this.sumSq += (pcm[i] / 32768) ** 2;
      this.count += 1;
      if (this.fill === FRAME) {
        const rms = Math.sqrt(this.sumSq / this.count);
        this.port.postMessage({ pcm: this.buf.buffer, rms }, [this.buf.buffer]);
        this.buf = new Int16Array(FRAME);
        this.fill = 0;
        this.sumSq = 0;
        this.count = 0;
      }
    }
    return true;
  }
}

registerProcessor('callcoach-mic', MicProcessor);
