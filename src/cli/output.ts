/**
 * Shared CLI output helpers: `--json` prints exactly one JSON object on stdout; human-readable
 * text otherwise. Progress and logs go to stderr so stdout stays machine-readable.
 */
export function printResult(json: boolean, obj: object, human: () => string): void {
  if (json) process.stdout.write(JSON.stringify(obj) + '\n');
  else process.stdout.write(human() + '\n');
}

export function log(msg: string): void {
  process.stderr.write(msg + '\n');
}
