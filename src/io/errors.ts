/**
 * One error type for every reader and writer: it names the file, and where known the
 * record (particle / row index, 0-based unless stated) and the field, so the CLI can print
 * one clear line: `cryospin: <file>: record 12, field _rlnDefocusU: expected a number, got "abc"`.
 */
export class InputError extends Error {
  readonly file: string;
  readonly record: string | undefined;
  readonly field: string | undefined;

  constructor(file: string, message: string, opts: { record?: string | number; field?: string } = {}) {
    const where = [
      opts.record !== undefined ? `record ${opts.record}` : undefined,
      opts.field !== undefined ? `field ${opts.field}` : undefined,
    ].filter((s): s is string => s !== undefined);
    super(`${file}: ${where.length ? where.join(', ') + ': ' : ''}${message}`);
    this.name = 'InputError';
    this.file = file;
    this.record = opts.record !== undefined ? String(opts.record) : undefined;
    this.field = opts.field;
  }
}
