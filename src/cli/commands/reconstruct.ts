/**
 * `cryospin reconstruct`: ab-initio reconstruction from particles with CTF and no poses
 * (semi-amortized cryoSPIN). Thin: parses options and calls runReconstructJob.
 * The jobs (tfjs, kernels, report) are imported when the command runs, so `--help` starts fast.
 */
import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import type { SemiAmortizedOptions } from '../../recon/semiAmortized.js';
import type { EpochMetrics, ReconstructJobOptions } from '../../recon/reconstructJob.js';
import { log, printResult } from '../output.js';
import { JSON_DESCRIPTION } from '../options.js';
import { startServerProcess } from '../../server/serveProcess.js';

type SemiAmortizedBackend = SemiAmortizedOptions['backend'];

/** Slice-kernel threads when --threads is not given: both cores of a 2-core machine (results do not depend on it). */
function defaultThreads(): number {
  return Math.min(2, availableParallelism());
}

function num(name: string, int = false): (v: string) => number {
  return (v: string) => {
    const x = Number(v);
    if (!Number.isFinite(x) || (int && !Number.isInteger(x))) throw new InvalidArgumentError(`${name} expects ${int ? 'an integer' : 'a number'}, got "${v}"`);
    return x;
  };
}

interface ReconstructCli {
  outdir: string; mode: string; box?: number; heads: number; epochs: number; switchEpoch: number; autoSwitch?: boolean;
  batchSize: number; seed: number; ctf?: string; apix?: number; invert?: boolean; mask?: number; gtMap?: string; gtPoses?: string;
  resume?: boolean; allowOutside?: boolean; json?: boolean; report?: boolean; encoder: 'lean' | 'paper';
  marchStart: number; marchEpochs: number; lrEncoder: number; lrPose: number; poseSteps: number;
  decoder: string; symmetricLoss?: boolean; lrVolume?: number; clipGrad: number; shiftWarmupEpochs: number;
  init: string; searchIterations: number; searchRotations: number; searchRadius: string; searchShift: number;
  searchSubset: number; localIterations: number; localRadius: string; localStep: number; autodecodeVolume: string; localResearch?: boolean;
  backend: string; threads?: number;
  zdim: number; hetEpochs: number; consensusEpochs: number; initPoses?: string;
  hetDecoder?: string; zSource?: string; zWarmupEpochs?: number; hetRefit?: string; classes?: number;
  serve?: boolean; serveHost: string; servePort: number;
}

/** The end-of-run report (OUTDIR/report.html + PNGs); a failure here never fails the run. */
async function writeRunReport(outdir: string, wanted: boolean | undefined): Promise<void> {
  if (wanted === false) return;
  try {
    const { writeReport } = await import('../../report/report.js');
    log(`report: ${writeReport(outdir).html}`);
  } catch (e) {
    log(`report: not written (${e instanceof Error ? e.message : String(e)})`);
  }
}

export function register(program: Command): void {
  program
    .command('reconstruct')
    .description('Ab-initio reconstruction (map + poses) from a particle stack with CTF and no poses')
    .argument('<particles>', 'particles: RELION STAR (3.0/3.1/5), cryoSPARC .cs, or .mrcs with --ctf ctf.pkl')
    .requiredOption('-o, --outdir <dir>', 'output folder')
    .option('--mode <mode>', 'semi-amortized (cryoSPIN), amortized (cryoAI: single-head encoder trained with the decoder for the whole run) or heterogeneous (poses + conformation latent z per particle, z-conditioned decoder; see --zdim)', 'semi-amortized')
    .option('--decoder <kind>', 'amortized mode: volume decoder, grid (explicit Hartley grid) or fouriernet (cryoAI neural field)', 'grid')
    .option('--symmetric-loss', 'amortized mode: also score each image rotated in-plane by pi, keep the smaller error (cryoAI)')
    .option('--lr-volume <lr>', 'amortized mode: decoder step (grid: preconditioned step, default 0.3; fouriernet: Adam lr, default 1e-3)', num('--lr-volume'))
    .option('--clip-grad <norm>', 'amortized mode: encoder gradient-norm clip (0 = off)', num('--clip-grad'), 0)
    .option('--shift-warmup-epochs <n>', 'amortized mode and the --init encoder stage: hold every particle origin at 0 for the first n epochs (the shift head starts training after them)', num('--shift-warmup-epochs'), 0)
    .option('--box <N>', 'working box (Fourier downsampling on the fly)', num('--box', true))
    .option('--init <how>', 'initial poses: search (iterative global low-res pose search) or encoder (cryoSPIN multi-head encoder)', 'search')
    .option('--search-iterations <K>', 'search stage: iterations (epochs) before auto-decoding', num('--search-iterations', true), 8)
    .option('--search-rotations <J>', 'search stage: candidate rotations per search', num('--search-rotations', true), 3000)
    .option('--search-radius <r0,r1>', 'search stage: loss radius (Fourier px) of the first and last search', '3,10')
    .option('--search-shift <range>', 'search stage: origins searched within +-range px (step 1)', num('--search-shift'), 2)
    .option('--search-subset <N>', 'search stage: particles per search iteration (all in the last)', num('--search-subset', true), 4000)
    .option('--local-iterations <K>', 'local refinement iterations between the search and auto-decoding (0 = none)', num('--local-iterations', true), 2)
    .option('--local-radius <r0,r1>', 'local refinement: loss radius (Fourier px) of the first and last iteration', '12,20')
    .option('--local-step <deg>', 'local refinement: first rotation step (deg; halved per level and iteration)', num('--local-step'), 6)
    .option('--no-local-research', 'local refinement: skip the first global re-search of every particle against the Wiener volume')
    .option('--autodecode-volume <how>', 'auto-decoding volume update: wiener (closed form after each epoch) or sgd (per batch)', 'wiener')
    .option('--heads <M>', 'pose heads of the encoder', num('--heads', true), 7)
    .option('--epochs <E>', 'total epochs', num('--epochs', true), 18)
    .option('--switch-epoch <E>', 'epoch at which auto-decoding starts', num('--switch-epoch', true), 7)
    .option('--auto-switch', 'also switch early when the encoder poses stop changing (median change < 2 deg)')
    .option('--batch-size <B>', 'particles per batch', num('--batch-size', true), 32)
    .option('--seed <K>', 'random seed', num('--seed', true), 0)
    .option('--backend <name>', 'slice kernels: wasm (SIMD, default), ts (reference) or webgpu (WGSL via Dawn; a GPU, or Mesa llvmpipe)', 'wasm')
    .option('--threads <T>', 'semi-amortized mode and the heterogeneous consensus and class stages: worker threads of the wasm slice kernels (the same results as 1 thread, bit for bit; default: 2, or 1 on a one-core machine)', num('--threads', true))
    .option('--ctf <ctf.pkl>', 'cryoDRGN CTF pickle (for a .mrcs input)')
    .option('--apix <A>', 'pixel size when the particle file has none', num('--apix'))
    .option('--invert', 'multiply images by -1 (dark protein on a light background)')
    .option('--mask <fraction>', 'soft circular mask radius as a fraction of the half box (0 = none)', num('--mask'))
    .option('--march-start <px>', 'frequency marching: loss radius (Fourier px) at epoch 0 (0 = off)', num('--march-start'), 0)
    .option('--march-epochs <E>', 'frequency marching: epochs to reach Nyquist', num('--march-epochs'), 0)
    .option('--lr-pose <lr>', 'auto-decoding: per-particle pose Adam learning rate (rad, px)', num('--lr-pose'), 0.05)
    .option('--pose-steps <n>', 'auto-decoding: pose steps per batch', num('--pose-steps', true), 5)
    .option('--lr-encoder <lr>', 'encoder Adam learning rate', num('--lr-encoder'), 1e-4)
    .option('--encoder <preset>', 'encoder trunk: lean (CPU) or paper', 'lean')
    .option('--gt-map <mrc>', 'ground-truth map: report FSC resolution per epoch')
    .option('--gt-poses <star>', 'ground-truth poses: report rotation error per epoch')
    .option('--zdim <d>', 'heterogeneous mode: latent dimension', num('--zdim', true), 8)
    .option('--consensus-epochs <E>', 'heterogeneous mode: epochs of the consensus (pose search + auto-decoding) stage', num('--consensus-epochs', true), 12)
    .option('--het-epochs <E>', 'heterogeneous mode: epochs of the heterogeneous (z + decoder) stage', num('--het-epochs', true), 10)
    .option('--init-poses <star>', 'heterogeneous mode: start from these poses (e.g. a consensus refinement) instead of the pose search')
    .option('--het-decoder <kind>', 'heterogeneous mode: z-conditioned decoder, linear (mean + z-weighted basis grids; default) or mlp (coordinate network on the consensus volume; poses stay fixed)')
    .option('--z-source <how>', 'heterogeneous mode: z per particle, autodecode (free vectors; default) or encoder (predicted from each image by an MLP)')
    .option('--classes <K>', 'heterogeneous mode: discrete classes between the consensus and the heterogeneous stage (0 = none): K classes separated by a multi-class search, each class but the consensus\'s gets its own ab initio and is aligned into the consensus frame, z starts from the classes (for discrete states, e.g. two conformations; see docs/architecture.md)', num('--classes', true))
    .option('--het-refit <how>', 'heterogeneous mode, linear decoder: after the last epoch, wiener (refit the decoder grids in closed form: per-voxel regularised least squares given the poses and z) or none (default: wiener)')
    .option('--z-warmup-epochs <n>', 'heterogeneous mode: first heterogeneous epochs with z replaced by noise (default 0 for linear + autodecode, else 1)', num('--z-warmup-epochs', true))
    .option('--resume', 'continue from OUTDIR/checkpoint.json')
    .option('--allow-outside', 'accept image paths outside the particle file folder')
    .option('--serve', 'live dashboard of this run in the browser (a local read-only web server, URL printed on start; ends with the run: `cryospin serve OUTDIR` views it later)')
    .option('--serve-host <address>', 'dashboard address (default 127.0.0.1: this machine only)', '127.0.0.1')
    .option('--serve-port <N>', 'dashboard port (0 = a free port)', num('--serve-port', true), 0)
    .option('--no-report', 'do not write OUTDIR/report.html and its PNGs at the end')
    .option('--json', JSON_DESCRIPTION)
    .action(async (input: string, o: ReconstructCli) => {
      // the dashboard starts once the input is validated and the output folder exists (bad input creates nothing)
      const onOutdirReady = async (): Promise<void> => {
        if (o.serve) log(`dashboard: ${(await startServerProcess(o.outdir, { host: o.serveHost, port: o.servePort })).url}`);
      };
      if (o.init !== 'search' && o.init !== 'encoder') throw new InvalidArgumentError(`--init must be search or encoder, got "${o.init}"`);
      const radii = o.searchRadius.split(',').map(Number);
      if (radii.length !== 2 || radii.some((r) => !(r > 0))) throw new InvalidArgumentError(`--search-radius expects two positive numbers "r0,r1", got "${o.searchRadius}"`);
      if (o.autodecodeVolume !== 'sgd' && o.autodecodeVolume !== 'wiener') throw new InvalidArgumentError(`--autodecode-volume must be sgd or wiener, got "${o.autodecodeVolume}"`);
      const lradii = o.localRadius.split(',').map(Number);
      if (lradii.length !== 2 || lradii.some((r) => !(r > 0))) throw new InvalidArgumentError(`--local-radius expects two positive numbers "r0,r1", got "${o.localRadius}"`);
      if (o.threads !== undefined && !(o.threads >= 1)) throw new InvalidArgumentError(`--threads must be >= 1, got ${o.threads}`);
      if (o.mode === 'amortized' && o.threads !== undefined && o.threads !== 1) throw new InvalidArgumentError('--threads is available with --mode semi-amortized and heterogeneous (its consensus stage) only');
      if (o.mode === 'heterogeneous') {
        // its consensus stage is the search-initialised semi-amortized loop: the amortized and encoder-stage flags do not apply
        if (o.decoder !== 'grid' || o.symmetricLoss || o.shiftWarmupEpochs !== 0 || o.init !== 'search') {
          throw new InvalidArgumentError('--decoder, --symmetric-loss, --shift-warmup-epochs and --init encoder are not available with --mode heterogeneous (its consensus stage uses the pose search)');
        }
        if (!(o.zdim >= 1)) throw new InvalidArgumentError(`--zdim must be >= 1, got ${o.zdim}`);
        if (o.hetDecoder !== undefined && o.hetDecoder !== 'linear' && o.hetDecoder !== 'mlp') throw new InvalidArgumentError(`--het-decoder must be linear or mlp, got "${o.hetDecoder}"`);
        if (o.zSource !== undefined && o.zSource !== 'autodecode' && o.zSource !== 'encoder') throw new InvalidArgumentError(`--z-source must be autodecode or encoder, got "${o.zSource}"`);
        if (o.classes !== undefined && !(Number.isInteger(o.classes) && (o.classes === 0 || o.classes >= 2))) throw new InvalidArgumentError(`--classes must be 0 (none) or a whole number >= 2, got ${o.classes}`);
        if (o.hetRefit !== undefined && o.hetRefit !== 'wiener' && o.hetRefit !== 'none') throw new InvalidArgumentError(`--het-refit must be wiener or none, got "${o.hetRefit}"`);
        if (o.zWarmupEpochs !== undefined && !(o.zWarmupEpochs >= 0)) throw new InvalidArgumentError(`--z-warmup-epochs must be a whole number >= 0, got ${o.zWarmupEpochs}`);
        const { runHeterogeneousJob } = await import('../../recon/heterogeneousJob.js');
        const h = await runHeterogeneousJob({
          input, outdir: o.outdir, onOutdirReady, box: o.box, ctfPkl: o.ctf, apixAngstrom: o.apix, invert: o.invert, maskFraction: o.mask,
          gtPoses: o.gtPoses, resume: o.resume, allowOutside: o.allowOutside, seed: o.seed, batchSize: o.batchSize,
          zdim: o.zdim, consensusEpochs: o.consensusEpochs, hetEpochs: o.hetEpochs, initPoses: o.initPoses,
          // only the variants given (an undefined key would override the library's default)
          ...(o.hetDecoder !== undefined ? { hetDecoder: o.hetDecoder as 'linear' | 'mlp' } : {}),
          ...(o.zSource !== undefined ? { zSource: o.zSource as 'autodecode' | 'encoder' } : {}),
          ...(o.zWarmupEpochs !== undefined ? { zWarmupEpochs: o.zWarmupEpochs } : {}),
          ...(o.hetRefit !== undefined ? { hetRefit: o.hetRefit as 'wiener' | 'none' } : {}),
          ...(o.classes !== undefined ? { classes: o.classes } : {}),
          // the consensus stage is the semi-amortized loop: the same search / local refinement / auto-decoding options
          consensus: {
            searchIterations: o.searchIterations, searchRotations: o.searchRotations, searchRadiusStartPx: radii[0]!, searchRadiusEndPx: radii[1]!,
            searchShiftRangePx: o.searchShift, searchSubset: o.searchSubset, localIterations: o.localIterations, localRadiusStartPx: lradii[0]!,
            localRadiusEndPx: lradii[1]!, localRotStepDeg: o.localStep, localResearch: o.localResearch ?? false,
            autodecodeVolume: o.autodecodeVolume as 'sgd' | 'wiener', threads: o.threads ?? defaultThreads(),
          },
          onEpoch: (m) => log(`epoch ${m.epoch} [${m.stage}] loss ${m.loss.toFixed(4)} ${m.epoch_s.toFixed(1)} s` +
            (m.rot_median_deg !== undefined ? ` rot ${m.rot_median_deg.toFixed(2)} deg` : '') + (m.split_accuracy !== undefined ? ` split ${(100 * m.split_accuracy).toFixed(1)}%` : '')),
        });
        await writeRunReport(o.outdir, o.report);
        printResult(o.json ?? false, h, () => `z: ${h.z}\ndecoder: ${h.decoder}\nposes: ${h.poses}\nepochs: ${h.epochs}, ${h.wall_s.toFixed(1)} s`);
        return;
      }
      if (o.mode !== 'semi-amortized' && o.mode !== 'amortized') throw new InvalidArgumentError(`--mode must be semi-amortized or amortized, got "${o.mode}"`);
      if (o.hetDecoder !== undefined || o.zSource !== undefined || o.zWarmupEpochs !== undefined || o.hetRefit !== undefined || o.classes !== undefined) throw new InvalidArgumentError('--het-decoder, --z-source, --z-warmup-epochs, --het-refit and --classes are available with --mode heterogeneous only');
      if (o.decoder !== 'grid' && o.decoder !== 'fouriernet') throw new InvalidArgumentError(`--decoder must be grid or fouriernet, got "${o.decoder}"`);
      if (o.mode === 'semi-amortized' && (o.decoder !== 'grid' || o.symmetricLoss)) throw new InvalidArgumentError('--decoder fouriernet and --symmetric-loss are available with --mode amortized only');
      if (o.mode === 'semi-amortized' && o.init !== 'encoder' && o.shiftWarmupEpochs !== 0) throw new InvalidArgumentError('--shift-warmup-epochs applies to --mode amortized and to --init encoder (the encoder stage) only');
      if (!(Number.isInteger(o.shiftWarmupEpochs) && o.shiftWarmupEpochs >= 0)) throw new InvalidArgumentError(`--shift-warmup-epochs must be a whole number >= 0, got ${o.shiftWarmupEpochs}`);
      const { default: cliProgress } = await import('cli-progress');
      const bar = new cliProgress.SingleBar({
        format: 'epoch {epoch} [{stage}] {bar} {value}/{total} batches | loss {loss} | ETA {eta_formatted} | {res}',
        stream: process.stderr, hideCursor: false, noTTYOutput: false, etaBuffer: 50,
      }, cliProgress.Presets.shades_classic);
      let started = -1;
      let res = '';
      const { BACKEND_NAMES } = await import('../../core/backend/index.js');
      if (!(BACKEND_NAMES as readonly string[]).includes(o.backend)) throw new InvalidArgumentError(`--backend must be one of ${BACKEND_NAMES.join(', ')}, got "${o.backend}"`);
      const opts: ReconstructJobOptions = {
        // SemiAmortizedOptions.backend is typed 'ts' | 'wasm'; createSlicer accepts every BackendName (incl. 'webgpu')
        backend: o.backend as SemiAmortizedBackend, threads: o.threads ?? defaultThreads(),
        input, outdir: o.outdir, onOutdirReady, box: o.box, heads: o.heads, epochs: o.epochs, switchEpoch: o.switchEpoch, autoSwitch: o.autoSwitch ?? false,
        batchSize: o.batchSize, seed: o.seed, ctfPkl: o.ctf, apixAngstrom: o.apix, invert: o.invert, maskFraction: o.mask,
        gtMap: o.gtMap, gtPoses: o.gtPoses, resume: o.resume, allowOutside: o.allowOutside, encoderPreset: o.encoder,
        marchStartPx: o.marchStart, marchEpochs: o.marchEpochs, shiftWarmupEpochs: o.shiftWarmupEpochs, lrEncoder: o.lrEncoder, lrPose: o.lrPose, poseSteps: o.poseSteps,
        init: o.init as 'search' | 'encoder', searchIterations: o.searchIterations, searchRotations: o.searchRotations,
        searchRadiusStartPx: radii[0]!, searchRadiusEndPx: radii[1]!, searchShiftRangePx: o.searchShift,
        searchSubset: o.searchSubset, localIterations: o.localIterations, localRadiusStartPx: lradii[0]!, localRadiusEndPx: lradii[1]!,
        localRotStepDeg: o.localStep, autodecodeVolume: o.autodecodeVolume as 'sgd' | 'wiener', localResearch: o.localResearch ?? false,
        onProgress: (p) => {
          if (!process.stderr.isTTY) return;
          if (started !== p.epoch) { if (started >= 0) bar.stop(); bar.start(p.batches, 0, { epoch: p.epoch, stage: p.stage, loss: '-', res }); started = p.epoch; }
          bar.update(p.batch, { loss: p.loss.toFixed(4), stage: p.stage });
        },
        onEpoch: (m: EpochMetrics) => {
          if (process.stderr.isTTY && started >= 0) { bar.stop(); started = -1; }
          res = m.res05_px !== undefined ? `FSC0.5 vs gt ${m.res05_px.toFixed(2)} px` : '';
          const rot = m.rot_median_deg !== undefined ? ` rot ${m.rot_median_deg.toFixed(2)} deg` : '';
          log(`epoch ${m.epoch} [${m.stage}] loss ${m.loss.toFixed(4)} ${m.epoch_s.toFixed(1)} s${rot}${res ? ' ' + res : ''}${m.switched ? ' -> auto-decoding' : ''}`);
        },
      };
      const r = o.mode === 'amortized'
        ? await (await import('../../recon/amortizedJob.js')).runAmortizedJob({ ...opts, decoder: o.decoder as 'grid' | 'fouriernet', symmetricLoss: o.symmetricLoss ?? false, clipGradNorm: o.clipGrad, shiftWarmupEpochs: o.shiftWarmupEpochs,
          lrVolume: o.decoder === 'grid' ? o.lrVolume : undefined, lrFourierNet: o.decoder === 'fouriernet' ? o.lrVolume : undefined })
        : await (await import('../../recon/reconstructJob.js')).runReconstructJob(opts);
      await writeRunReport(o.outdir, o.report);
      printResult(o.json ?? false, r, () => `map: ${r.map}\nposes: ${r.poses}\nepochs: ${r.epochs}, ${r.wall_s.toFixed(1)} s` +
        (r.res05_px_vs_gt !== undefined ? `\nFSC 0.5 vs ground truth: ${r.res05_px_vs_gt.toFixed(2)} px` : '') +
        (r.rot_median_deg_vs_gt !== undefined ? `\nmedian rotation error: ${r.rot_median_deg_vs_gt.toFixed(2)} deg` : ''));
    });
}
