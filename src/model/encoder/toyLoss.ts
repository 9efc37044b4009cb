/**
 * A stand-in for the reconstruction loop's loss, for tests and benchmarks of the encoder: per image
 * the winner-take-all squared error of the M predicted poses to a target pose,
 *   L = sum_b min_m (|R_bm - Rt_b|^2 + |t_bm - tt_b|^2),
 * returned with dL/dR, dL/dt for each winning head (float64), in the `LossGradFn` shape.
 */
import type { LossGradFn } from '../encoder.js';

export function squaredErrorWtaLoss(B: number, M: number, targetR: Float64Array, targetT: Float64Array): LossGradFn {
  return (R, t) => {
    const winnerHead = new Int32Array(B);
    const dLdR = new Float64Array(9 * B);
    const dLdShift = new Float64Array(2 * B);
    let loss = 0;
    for (let b = 0; b < B; b++) {
      let best = Infinity;
      for (let m = 0; m < M; m++) {
        let l = 0;
        for (let k = 0; k < 9; k++) l += (R[(b * M + m) * 9 + k]! - targetR[9 * b + k]!) ** 2;
        for (let k = 0; k < 2; k++) l += (t[(b * M + m) * 2 + k]! - targetT[2 * b + k]!) ** 2;
        if (l < best) {
          best = l;
          winnerHead[b] = m;
        }
      }
      loss += best;
      const m = winnerHead[b]!;
      for (let k = 0; k < 9; k++) dLdR[9 * b + k] = 2 * (R[(b * M + m) * 9 + k]! - targetR[9 * b + k]!);
      for (let k = 0; k < 2; k++) dLdShift[2 * b + k] = 2 * (t[(b * M + m) * 2 + k]! - targetT[2 * b + k]!);
    }
    return { loss, winnerHead, dLdR, dLdShift };
  };
}
