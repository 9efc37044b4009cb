/**
 * Repeat `bench/kernels.ts` (the issue-3 kernel benchmark) several times in a row and report the
 * median over runs, so that one lucky or unlucky run on a shared machine does not decide a claim.
 * Each run writes bench/results/kernels.{json,md} as usual (the last run's stay there); this
 * script keeps every run's rows in bench/results/kernels_repeat.json and writes
 * bench/results/kernels_repeat.md: per kernel and D, the second core's speed-up (block-wise, the
 * issue's rows, and the alternating diagnostic) and the ratio to PyTorch, each run and the median,
 * with the load average before and after each run.
 *
 *   node --import tsx bench/kernelsRepeat.ts [--runs 3] [-- extra args for bench/kernels.ts]
 * (the encoder benchmark is not repeated: its rows come from bench/results/encoder.json.)
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { writeFileAtomic } from '../src/io/atomic.js';

interface Row { kernel: string; D: number; threads: number; median_ms: number; ratio?: number | null; speedup?: number | null; mode?: string }
interface Run { rows: Row[]; load_before: number[]; load_after: number[]; date: string; wall_s: number }

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const own = dash >= 0 ? argv.slice(0, dash) : argv, extra = dash >= 0 ? argv.slice(dash + 1) : [];
const ri = own.indexOf('--runs');
const runs = ri >= 0 ? Number(own[ri + 1]) : 3;
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${own[ri + 1]}`);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const all: Run[] = [];
for (let r = 0; r < runs; r++) {
  const before = loadavg(), t0 = Date.now();
  process.stderr.write(`kernelsRepeat: run ${r + 1}/${runs} (load ${before.map((x) => x.toFixed(2)).join(' ')})\n`);
  const p = spawnSync(process.execPath, ['--import', 'tsx', 'bench/kernels.ts', ...extra], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (p.status !== 0) throw new Error(`bench/kernels.ts run ${r + 1} failed (exit ${p.status})`);
  all.push({ rows: JSON.parse(readFileSync('bench/results/kernels.json', 'utf8')) as Row[], load_before: before, load_after: loadavg(),
    date: new Date().toISOString(), wall_s: (Date.now() - t0) / 1000 });
}
writeFileAtomic('bench/results/kernels_repeat.json', JSON.stringify(all, null, 1) + '\n');

const f2 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(2));
const find = (rows: Row[], kernel: string, D: number, threads: number): Row | undefined =>
  rows.find((x) => x.kernel === kernel && x.D === D && x.threads === threads && x.mode === undefined);
const lines: string[] = [
  '# Kernel benchmark repeated',
  '',
  `Command: \`node --import tsx bench/kernelsRepeat.ts --runs ${runs}${extra.length ? ' -- ' + extra.join(' ') : ''}\` (${runs} runs of \`bench/kernels.ts\` back to back, ${all[0]!.date.slice(0, 10)}).`,
  '',
  '| run | finished (UTC) | wall (s) | load before (1/5/15 min) | load after |',
  '|---|---|---|---|---|',
  ...all.map((r, i) => `| ${i + 1} | ${r.date.slice(11, 19)} | ${r.wall_s.toFixed(0)} | ${r.load_before.map((x) => x.toFixed(2)).join(' ')} | ${r.load_after.map((x) => x.toFixed(2)).join(' ')} |`),
  '',
  'Second core: wall time of 1 thread / 2 threads. Block-wise = the main table\'s rows (all 1-thread timings, then all',
  '2-thread ones); alternating = the diagnostic rows (1- and 2-thread calls alternate, so both see the same machine state).',
  'Target (issue 3): >= 1.6 on the slice kernels. Ratio = ours / torch on wall time (1 thread; < 1 means faster).',
  '',
  '| kernel | D | speed-up block-wise, per run | median | speed-up alternating, per run | median | ratio to torch (1 thread), per run | median |',
  '|---|---|---|---|---|---|---|---|',
];
for (const kernel of ['gather', 'scatter', 'rotgrad', 'fft3d', 'fft2d_batch']) {
  for (const D of [...new Set(all[0]!.rows.filter((x) => x.kernel === kernel).map((x) => x.D))]) {
    const block = all.map((r) => { const a = find(r.rows, kernel, D, 1), b = find(r.rows, kernel, D, 2); return a && b ? a.median_ms / b.median_ms : NaN; });
    const alt = all.map((r) => r.rows.find((x) => x.kernel === `${kernel}_alternating` && x.D === D)?.speedup ?? NaN);
    const ratio = all.map((r) => find(r.rows, kernel, D, 1)?.ratio ?? NaN);
    const cell = (xs: number[]): [string, string] => {
      const ok = xs.filter(Number.isFinite);
      return [xs.map(f2).join(' / '), ok.length ? f2(median(ok)) : '-'];
    };
    lines.push(`| ${kernel} | ${D} | ${cell(block).join(' | ')} | ${cell(alt).join(' | ')} | ${cell(ratio).join(' | ')} |`);
  }
}
const enc = all.map((r) => r.rows.filter((x) => x.kernel === 'encoder_step').map((x) => `D=${x.D}: ${f2(x.ratio ?? NaN)}`).join(', '));
lines.push('', `Encoder step ratio to torch (from bench/results/encoder.json, not re-measured per run): ${enc[0] ?? '-'}.`, '');
writeFileAtomic('bench/results/kernels_repeat.md', lines.join('\n'));
process.stderr.write('kernelsRepeat: wrote bench/results/kernels_repeat.{md,json}\n');
