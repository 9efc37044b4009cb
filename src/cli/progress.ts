/**
 * Progress of a long step as the user sees it: on a terminal a cli-progress bar with count,
 * rate and ETA on stderr; otherwise (a pipe, a batch job's log file) one `log()` line per ~10%
 * with the ETA, so the run log and cluster logs show it too. stdout is never touched.
 */
import cliProgress from 'cli-progress';
import { log } from './output.js';

export interface StepProgress {
  /** Report `done` of `total` units; extra fields show in the bar and in the log line. */
  update(done: number, extra?: Record<string, string>): void;
  /** Finish the step (clears the bar; logs the elapsed time if the step completed, so a step
   *  that failed half-way adds nothing after its error). */
  stop(): void;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 90) return `${s.toFixed(0)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** A progress reporter for `total` units named `unit` (e.g. "images"), labelled `label`. */
export function stepProgress(label: string, total: number, unit: string, opts: { quiet?: boolean; tty?: boolean } = {}): StepProgress {
  const t0 = Date.now();
  if (opts.quiet) return { update: () => undefined, stop: () => undefined };
  const tty = opts.tty ?? process.stderr.isTTY === true;
  if (tty) {
    const bar = new cliProgress.SingleBar({
      format: `${label} {bar} {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted} {extra}`,
      stream: process.stderr, hideCursor: false, etaBuffer: 50,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, 0, { rate: '-', extra: '' });
    let last = 0;
    return {
      update(done, extra) {
        last = done;
        const s = (Date.now() - t0) / 1000;
        bar.update(done, { rate: s > 0 ? (done / s).toFixed(1) : '-', extra: extra ? Object.entries(extra).map(([k, v]) => `${k} ${v}`).join(' ') : '' });
      },
      stop() {
        bar.stop();
        if (last >= total) log(`${label}: ${total} ${unit} in ${formatSeconds((Date.now() - t0) / 1000)}`);
      },
    };
  }
  let lastTenth = -1;
  let last = 0;
  return {
    update(done, extra) {
      last = done;
      const tenth = total > 0 ? Math.floor((10 * done) / total) : 10;
      if (tenth <= lastTenth || done <= 0) return;
      lastTenth = tenth;
      const s = (Date.now() - t0) / 1000;
      const eta = done < total ? ` | ETA ${formatSeconds((s / done) * (total - done))}` : '';
      const more = extra ? ' | ' + Object.entries(extra).map(([k, v]) => `${k} ${v}`).join(' ') : '';
      log(`${label}: ${done}/${total} ${unit} (${(done / Math.max(s, 1e-9)).toFixed(1)}/s)${eta}${more}`);
    },
    stop() {
      if (last >= total) log(`${label}: done in ${formatSeconds((Date.now() - t0) / 1000)}`);
    },
  };
}
