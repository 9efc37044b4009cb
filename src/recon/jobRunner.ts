/**
 * What every `reconstruct` mode (semi-amortized, amortized, heterogeneous) does around its
 * training loop, written once:
 *   - input handling: load and validate the particles (and ground-truth files) BEFORE the output
 *     folder exists, so bad input leaves nothing behind (loadJobInput, readPoseFile, readGtMap);
 *   - opening the output folder: create it, remove temporaries of killed runs (OUTDIR and
 *     OUTDIR/live/), call the caller's hook (e.g. start the dashboard), and on --resume read the
 *     checkpoint, refuse one written by another mode or with other settings
 *     (checkResumeCompatible), restore it and bring metrics.jsonl back in step (prepareRunLog);
 *     a fresh run empties metrics.jsonl and OUTDIR/live/;
 *   - the epoch loop: after each epoch one metrics.jsonl line, the checkpoint, and a live
 *     snapshot in OUTDIR/live/ for the dashboard (src/server/liveSnapshot.ts);
 *   - the run clock (wall seconds across resumes; evaluation can be left out of it);
 *   - finishing: no temporary left in OUTDIR or OUTDIR/live/.
 * The jobs (reconstructJob.ts, amortizedJob.ts, heterogeneousJob.ts) keep only what differs:
 * their trainer, per-epoch evaluation and output writers.
 */
import { appendFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { eulerToMatrix } from '../core/rotation.js';
import { fourierCropVolume } from '../core/resample.js';
import { removeStaleTempFiles } from '../io/atomic.js';
import { InputError } from '../io/errors.js';
import { readMrc } from '../io/mrc.js';
import { loadParticles, type ParticleSet } from '../io/particles.js';
import { writeLiveSnapshot, type LiveSnapshotInput } from '../server/liveSnapshot.js';
import { checkResumeCompatible, prepareRunLog, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { DiskSource } from './diskSource.js';
import type { ProgressInfo } from './semiAmortized.js';

export type JobMode = 'semi-amortized' | 'amortized' | 'heterogeneous';

/** Options every reconstruct job shares (input, preprocessing, output folder, resume, hooks). */
export interface JobBaseOptions {
  input: string;
  outdir: string;
  box?: number;
  ctfPkl?: string;
  apixAngstrom?: number;
  invert?: boolean;
  maskFraction?: number;
  resume?: boolean;
  allowOutside?: boolean;
  onProgress?: (p: ProgressInfo) => void;
  /**
   * Called once the input is validated and the output folder exists (before training): e.g.
   * `reconstruct --serve` starts its dashboard here, so bad input never creates the folder.
   */
  onOutdirReady?: (outdir: string) => void | Promise<void>;
}

/** The loaded, validated input of a job. */
export interface JobInput {
  set: ParticleSet;
  source: DiskSource;
  /** Working box (px). */
  D: number;
  /** Working box / input box (multiply input-pixel shifts by this to get working-pixel shifts). */
  scaleToWork: number;
}

/** Load the particles and open the on-disk source (throws InputError on bad input; creates nothing). */
export function loadJobInput(o: JobBaseOptions, seed: number): JobInput {
  const set = loadParticles(o.input, { ctfPkl: o.ctfPkl, apixAngstrom: o.apixAngstrom, allowOutside: o.allowOutside });
  const source = new DiskSource(set, { box: o.box, invert: o.invert, maskFraction: o.maskFraction, seed });
  return { set, source, D: source.D, scaleToWork: source.D / set.boxPx };
}

/** A ground-truth map Fourier-cropped to the working box D. */
export function readGtMap(path: string, D: number): Float32Array {
  const m = readMrc(path);
  if (m.nx !== m.ny || m.ny !== m.nz) throw new InputError(path, `map is not cubic (${m.nx}x${m.ny}x${m.nz})`);
  return m.nx === D ? m.data : fourierCropVolume(m.data, m.nx, D);
}

/** Rotations (RELION A, 9 per particle), origins (input px) and, when every particle has one, class numbers. */
export interface PoseFile { rots: Float64Array; origins: Float64Array; classes: Int32Array | null; boxPx: number }

/** Poses of a particle file with angles (metadata only: no image is read); `what` names it in errors. */
export function readPoseFile(path: string, n: number, what: string): PoseFile {
  const s = loadParticles(path, { checkStacks: false, allowOutside: true });
  if (s.particles.length !== n) throw new InputError(path, `has ${s.particles.length} particles, the input has ${n}`);
  const rots = new Float64Array(9 * n);
  const origins = new Float64Array(2 * n);
  const hasClass = s.particles.every((p) => p.classNumber !== undefined);
  const classes = hasClass ? new Int32Array(n) : null;
  s.particles.forEach((p, i) => {
    if (!p.eulerDeg) throw new InputError(path, `${what} particle has no angles`, { record: i });
    rots.set(eulerToMatrix(p.eulerDeg[0], p.eulerDeg[1], p.eulerDeg[2]), 9 * i);
    origins[2 * i] = p.originPx?.[0] ?? 0;
    origins[2 * i + 1] = p.originPx?.[1] ?? 0;
    if (classes) classes[i] = p.classNumber!;
  });
  return { rots, origins, classes, boxPx: s.boxPx };
}

/** Wall seconds of a run, continued across resumes; time spent in untimed() is left out. */
export class JobClock {
  private readonly t0 = performance.now();
  private before = 0;

  /** Continue from the wall time a checkpoint recorded. */
  continueFrom(seconds: number): void { this.before = seconds; }

  wall(): number { return this.before + (performance.now() - this.t0) / 1000; }

  /** Run `fn` without counting its time (e.g. evaluation against ground truth is not training time). */
  untimed<T>(fn: () => T): T {
    const a = this.wall();
    const r = fn();
    this.before -= this.wall() - a;
    return r;
  }
}

/** What every checkpoint holds besides the trainer's state. */
export interface CheckpointEnvelope { wall_s: number; options: object }

export interface OpenJobSpec<C extends CheckpointEnvelope> {
  /** Settings a resumed run must share with the checkpoint (compared key by key; `mode` is always compared). */
  settings: Record<string, unknown>;
  /** Apply a checkpoint's state; return the number of epochs it holds. */
  restore(ck: C): number;
  onOutdirReady?: JobBaseOptions['onOutdirReady'];
}

export interface EpochLoopSpec<C extends CheckpointEnvelope, M extends { epoch: number }> {
  done(): boolean;
  /** Train one epoch and evaluate it: its metrics.jsonl line. */
  runEpoch(clock: JobClock): M;
  /** The checkpoint's state (without wall_s and options, which the runner adds). */
  state(): Omit<C, 'wall_s' | 'options'>;
  /** Everything recorded in the checkpoint's options (the settings and more, e.g. for predict-poses). */
  checkpointOptions: Record<string, unknown>;
  /** The live snapshot of this epoch for the dashboard; null skips it. */
  live(m: M): LiveSnapshotInput | null;
  onEpoch?: (m: M) => void;
}

/** The mode a checkpoint was written by (checkpoints before the mode was recorded: guessed from their keys). */
function checkpointMode(options: Partial<Record<string, unknown>> | undefined): string {
  if (options === undefined) return 'unknown';
  if (typeof options['mode'] === 'string') return options['mode'];
  return 'zdim' in options ? 'heterogeneous' : 'semi-amortized';
}

/** The output folder of one reconstruct job: checkpoint, metrics log, live snapshots, run clock. */
export class JobRunner {
  readonly outdir: string;
  readonly clock = new JobClock();
  readonly ckptPath: string;
  readonly metricsPath: string;

  /** Start the clock (call first thing in a job); nothing is created yet. */
  constructor(outdir: string, private readonly mode: JobMode, private readonly resume: boolean) {
    this.outdir = resolve(outdir);
    this.ckptPath = join(this.outdir, 'checkpoint.json');
    this.metricsPath = join(this.outdir, 'metrics.jsonl');
  }

  private removeTemporaries(): void {
    removeStaleTempFiles(this.outdir); // temporaries of a killed earlier run
    removeStaleTempFiles(join(this.outdir, 'live'));
  }

  /**
   * Create the output folder (input already validated), then resume from its checkpoint if asked
   * and present. Returns the epochs restored (0 for a fresh run).
   */
  async open<C extends CheckpointEnvelope>(spec: OpenJobSpec<C>): Promise<number> {
    mkdirSync(this.outdir, { recursive: true });
    this.removeTemporaries();
    await spec.onOutdirReady?.(this.outdir);
    if (!this.resume || !existsSync(this.ckptPath)) {
      prepareRunLog(this.metricsPath, 0);
      rmSync(join(this.outdir, 'live'), { recursive: true, force: true }); // a fresh run starts a fresh dashboard
      return 0;
    }
    const ck = readCheckpoint<C>(this.ckptPath);
    const saved = ck.options as Record<string, unknown> | undefined;
    const savedMode = checkpointMode(saved);
    if (savedMode !== this.mode) {
      throw new InputError(this.ckptPath, `the checkpoint is from a ${savedMode} run, this run is ${this.mode}; ` +
        'resume with the same mode or start a new output folder', { field: 'mode' });
    }
    checkResumeCompatible(this.ckptPath, saved, spec.settings);
    const epochs = spec.restore(ck);
    this.clock.continueFrom(ck.wall_s);
    prepareRunLog(this.metricsPath, epochs); // drop lines of epochs the checkpoint does not have
    return epochs;
  }

  /** Train until done: after each epoch its metrics line, the checkpoint, the live snapshot, onEpoch. */
  runEpochs<C extends CheckpointEnvelope, M extends { epoch: number }>(spec: EpochLoopSpec<C, M>): M | null {
    let last: M | null = null;
    while (!spec.done()) {
      const m = spec.runEpoch(this.clock);
      appendFileSync(this.metricsPath, JSON.stringify(m) + '\n');
      writeCheckpoint(this.ckptPath, { ...spec.state(), wall_s: this.clock.wall(), options: { mode: this.mode, ...spec.checkpointOptions } });
      last = m;
      const snap = spec.live(m);
      if (snap) writeLiveSnapshot(this.outdir, snap); // dashboard (cryospin serve)
      spec.onEpoch?.(m);
    }
    return last;
  }

  /** After the final outputs: no temporary is left in OUTDIR or OUTDIR/live/. */
  finish(): void {
    this.removeTemporaries();
  }
}
