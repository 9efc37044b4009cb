/**
 * Run the cryospin CLI in-process (main()) with stdout and stderr captured, for tests of
 * commands' output and exit codes. It first lets the test runner's pending report writes (it
 * reports through process.stdout) go out, so none of them is captured.
 */
import { main } from '../../src/cli/main.js';

export async function cliInProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  await new Promise((ok) => setTimeout(ok, 100));
  const errWrite = process.stderr.write.bind(process.stderr);
  const outWrite = process.stdout.write.bind(process.stdout);
  const captured = { stdout: '', stderr: '' };
  process.stderr.write = ((c: string | Uint8Array) => { captured.stderr += String(c); return true; }) as typeof process.stderr.write;
  process.stdout.write = ((c: string | Uint8Array) => { captured.stdout += String(c); return true; }) as typeof process.stdout.write;
  try {
    return { code: await main(args), ...captured };
  } finally {
    process.stderr.write = errWrite;
    process.stdout.write = outWrite;
  }
}
