/**
 * The `cryospin` command line: builds the commander program from the explicit command list
 * and turns errors into one clear line on stderr and a meaningful exit code:
 *   0 success, 1 runtime failure, 2 bad input or usage (InputError / commander usage errors).
 * A command with `-o/--outdir` keeps OUTDIR/run.log (see output.ts).
 */
import { Command, CommanderError } from 'commander';
import { InputError } from '../io/errors.js';
import { COMMANDS } from './commands/index.js';
import { endRunLog, startRunLog } from './output.js';

const VERSION = '0.1.0';

export function buildProgram(onErrorWritten?: () => void): Command {
  const program = new Command();
  // commander prints its own parse errors; remember that it did, so main() prints the ones it does not
  // (an InvalidArgumentError thrown by a command's action) exactly once
  program.configureOutput({ writeErr: (s) => { onErrorWritten?.(); process.stderr.write(s); } });
  program
    .name('cryospin')
    .description('Ab-initio single-particle cryo-EM reconstruction: simulate, reconstruct, measure.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of COMMANDS) register(program);
  program.hook('preAction', (_root, action) => {
    const outdir = action.opts()['outdir'];
    if (typeof outdir === 'string' && outdir.length > 0) {
      startRunLog(outdir, `cryospin ${VERSION} (node ${process.version}, pid ${process.pid}): cryospin ${action.name()} ${action.args.join(' ')} ${rawArgs(action)}`.trimEnd());
    }
  });
  return program;
}

/** The options as the user typed them (for the run log). */
function rawArgs(action: Command): string {
  return Object.entries(action.opts())
    .filter(([, v]) => v !== undefined && v !== false)
    .map(([k, v]) => `--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}${v === true ? '' : ' ' + String(v)}`)
    .join(' ');
}

export async function main(argv: string[]): Promise<number> {
  let commanderPrinted = false;
  const program = buildProgram(() => { commanderPrinted = true; });
  const t0 = Date.now();
  const finish = (code: number, why: string): number => {
    endRunLog(`exit ${code} after ${((Date.now() - t0) / 1000).toFixed(1)} s${why ? ': ' + why : ''}`);
    return code;
  };
  try {
    await program.parseAsync(argv, { from: 'user' });
    return finish(0, '');
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      if (e.exitCode !== 0 && !commanderPrinted) process.stderr.write(`cryospin: ${e.message}\n`);
      return finish(e.exitCode === 0 ? 0 : 2, e.message);
    }
    if (e instanceof InputError) {
      process.stderr.write(`cryospin: ${e.message}\n`);
      return finish(2, e.message);
    }
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`cryospin: error: ${msg}\n`);
    if (process.env['CRYOSPIN_DEBUG'] && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    return finish(1, msg);
  }
}

const isEntry = process.argv[1] !== undefined && /cryospin(\.js)?$|main\.(ts|js)$/.test(process.argv[1]);
if (isEntry) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
