/**
 * Adapts the tfjs multi-head encoder (src/model/encoder.ts) to the reconstruction loop's
 * PoseEncoder contract (src/recon/types.ts).
 */
import type { Encoder, EncoderState } from '../model/encoder.js';
import type { EncoderLossResult, EncoderPrediction, PoseEncoder } from './types.js';

export class EncoderAdapter implements PoseEncoder {
  constructor(readonly encoder: Encoder) {}

  get heads(): number { return this.encoder.config.heads; }

  predict(images: Float32Array, B: number): EncoderPrediction {
    const p = this.encoder.predict(images, B);
    return { rotations: p.rotations, shiftsPx: p.shiftsPx };
  }

  trainStep(images: Float32Array, B: number, lossGrad: (pred: EncoderPrediction) => EncoderLossResult): number {
    const r = this.encoder.trainStep(images, B, (rotations, shiftsPx) => lossGrad({ rotations, shiftsPx }));
    return r.loss;
  }

  /** The full encoder checkpoint (weights, Adam, BatchNorm statistics). */
  getEncoderState(): EncoderState { return this.encoder.getState(); }
  setEncoderState(s: EncoderState): void { this.encoder.setState(s); }

  dispose(): void { this.encoder.dispose(); }
}
