/**
 * RELION side of the B1 race on its own: runs RELION 3.1's SGD de-novo initial model
 * (bench/relionAbinitio.ts) on a particle STAR, scores its map (and poses) against the ground
 * truth with our align/FSC/pose error, and writes bench/results/relion_<name>.json and .md.
 *
 *   nice -n 10 node --import tsx bench/relion-race.ts --star /tmp/b1s/particles.star \
 *     --gt-map /tmp/b1s/gt.mrc --gt-poses /tmp/b1s/particles.star --name b1s --max-wall-s 2280
 *
 * Box and pixel size are read from the STAR's optics group unless given.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../src/io/atomic.js';
import { getBlock, readStar } from '../src/io/star.js';
import { runRelionAbinitio, type RelionAbinitioOptions } from './relionAbinitio.js';

const { values: a } = parseArgs({
  options: {
    star: { type: 'string' }, 'gt-map': { type: 'string' }, 'gt-poses': { type: 'string' },
    name: { type: 'string' }, 'out-dir': { type: 'string' }, threads: { type: 'string', default: '2' },
    seed: { type: 'string', default: '0' }, 'max-iterations': { type: 'string' }, 'max-wall-s': { type: 'string' },
    'ini-resol': { type: 'string' }, 'fin-resol': { type: 'string' }, 'ini-subset': { type: 'string' },
    'fin-subset': { type: 'string' }, oversampling: { type: 'string' }, 'healpix-order': { type: 'string' },
    box: { type: 'string' }, apix: { type: 'string' }, 'results-dir': { type: 'string' },
  },
});
if (!a.star || !a['gt-map']) {
  process.stderr.write('usage: relion-race.ts --star particles.star --gt-map gt.mrc [--gt-poses truth.star] [--name N] [--max-iterations K] [--max-wall-s S]\n');
  process.exit(2);
}
const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const star = resolve(a.star);
const optics = getBlock(readStar(star), 'optics')?.loops[0];
const opt = (col: string): number | undefined => {
  const j = optics?.columns.indexOf(col) ?? -1;
  return optics && j >= 0 ? Number(optics.rows[0]![j]) : undefined;
};
const box = num(a.box) ?? opt('_rlnImageSize');
const apix = num(a.apix) ?? opt('_rlnImagePixelSize');
if (!box || !apix) { process.stderr.write('relion-race: box/pixel size not in the STAR; pass --box and --apix\n'); process.exit(2); }
const name = a.name ?? basename(dirname(star));
const outDir = resolve(a['out-dir'] ?? `/tmp/relion_${name}`);
const nParticles = (getBlock(readStar(star), 'particles')?.loops[0]?.rows.length) ?? 0;

const opts: RelionAbinitioOptions = {
  star, outDir, apixAngstrom: apix, box, seed: Number(a.seed), threads: Number(a.threads), gtMap: resolve(a['gt-map']),
  gtPosesStar: a['gt-poses'] ? resolve(a['gt-poses']) : undefined, maxIterations: num(a['max-iterations']),
  maxWallSeconds: num(a['max-wall-s']), iniResolAngstrom: num(a['ini-resol']), finResolAngstrom: num(a['fin-resol']),
  iniSubset: num(a['ini-subset']), finSubset: num(a['fin-subset']), oversampling: num(a.oversampling),
  healpixOrder: num(a['healpix-order']),
  onLog: (l) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${l}\n`),
};
const load0 = loadavg();
const started = new Date().toISOString();
const r = await runRelionAbinitio(opts);
const load1 = loadavg();
const machine = { cpus: cpus().length, cpu_model: cpus()[0]?.model ?? '?', loadavg_start: load0, loadavg_end: load1 };
const relionVersion = (() => { try { return readFileSync(join(outDir, 'run_it000_optimiser.star'), 'utf8').split('\n')[0]?.replace(/^#\s*/, '') ?? ''; } catch { return ''; } })();
const out = { name, star, n_particles: nParticles, box, apix_angstrom: apix, started, relion: relionVersion, machine,
  runner: `node --import tsx bench/relion-race.ts ${process.argv.slice(2).join(' ')}`, ...r };
const resultsDir = resolve(a['results-dir'] ?? join(dirname(fileURLToPath(import.meta.url)), 'results'));
mkdirSync(resultsDir, { recursive: true });
writeFileAtomic(join(resultsDir, `relion_${name}.json`), JSON.stringify(out, null, 2) + '\n');
const f = (x: number | null | undefined, d = 2): string => (x === undefined || x === null ? 'n/a' : x.toFixed(d));
const md = [
  `# RELION 3.1 SGD de-novo initial model on ${name}`,
  '',
  `${nParticles} particles, box ${box}, ${apix} A/px (${star}); started ${started}.`,
  `Machine: ${machine.cpus} cores (${machine.cpu_model}), load average ${load0.map((v) => v.toFixed(1)).join(' ')} at start, ` +
    `${load1.map((v) => v.toFixed(1)).join(' ')} at end (other jobs shared the cores: wall times are noisy).`,
  '',
  '| quantity | value |',
  '|---|---|',
  `| wall time (RELION run, s) | ${f(r.wall_s, 1)} |`,
  `| iterations done / planned | ${r.iterations} / ${r.iterations_planned}${r.stopped_by_cap ? ' (stopped by the time cap)' : ''} |`,
  `| FSC 0.5 vs ground truth (px) | ${f(r.res05_px_vs_gt)} (${f(r.res05_A_vs_gt, 1)} A) |`,
  `| FSC 0.143 vs ground truth (px) | ${f(r.res0143_px_vs_gt)} |`,
  `| alignment correlation / mirrored | ${f(r.align_correlation, 3)} / ${r.mirrored} |`,
  `| rotation error median / mean (deg) | ${f(r.rot_median_deg_vs_gt, 1)} / ${f(r.rot_mean_deg_vs_gt, 1)} over ${r.poses_scored ?? 0} particles RELION aligned |`,
  `| shift error median (px) | ${f(r.shift_median_px_vs_gt)} |`,
  `| scoring time (s) | ${f(r.score_s, 1)} |`,
  '',
  'RELION command (run in the output folder; input = a converted copy of the STAR with absolute image paths and',
  'no angles/origins, see bench/relionAbinitio.ts):',
  '```',
  r.command,
  '```',
  'Runner:',
  '```',
  `nice -n 10 ${out.runner}`,
  '```',
  '',
].join('\n');
writeFileAtomic(join(resultsDir, `relion_${name}.md`), md);
process.stdout.write(JSON.stringify(out) + '\n');
