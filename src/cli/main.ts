/**
 * The `cryospin` command line: builds the commander program from the explicit command list
 * and turns errors into one clear line on stderr and a meaningful exit code:
 *   0 success, 1 runtime failure, 2 bad input or usage (InputError / commander usage errors).
 */
import { Command, CommanderError } from 'commander';
import { InputError } from '../io/errors.js';
import { COMMANDS } from './commands/index.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('cryospin')
    .description('Ab-initio single-particle cryo-EM reconstruction: simulate, reconstruct, measure.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const register of COMMANDS) register(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof InputError) {
      process.stderr.write(`cryospin: ${e.message}\n`);
      return 2;
    }
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`cryospin: error: ${msg}\n`);
    if (process.env['CRYOSPIN_DEBUG'] && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
    return 1;
  }
}

const isEntry = process.argv[1] !== undefined && /cryospin(\.js)?$|main\.(ts|js)$/.test(process.argv[1]);
if (isEntry) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
