/**
 * STAR files (the text tables RELION reads and writes): parse into blocks of `_key value` pairs
 * and `loop_` tables, and write them back in RELION 3.1 style.
 *
 * Hand-written because the format is small and no maintained STAR parser exists for Node.
 * What it accepts (a superset of what RELION 3.0/3.1/5 writes):
 * - `data_<name>` starts a block (`data_` alone is the block named ''); blocks keep file order.
 * - `# ...` comments anywhere a token may start (so the `#3` after a loop label is dropped).
 * - `loop_` followed by `_labels`, then rows until the next `_key`, `loop_`, `data_` or end of file.
 * - Values may be quoted with `'` or `"`; a quote closes only when followed by whitespace or the end
 *   of the line (STAR rule), so `'it's'` is one value; `''` is the empty string.
 * - `;` at the start of a line opens a multi-line text value closed by the next line starting with `;`.
 * - `\r\n` and `\r` line endings.
 * Departures from the STAR spec, deliberately following RELION: each loop row must sit on whole
 * lines (a line's value count must be a multiple of the column count) — anything else is reported
 * as a ragged row with its line number. `global_` and `save_` frames are not supported (RELION never
 * writes them); a `save_` token is reported as an error.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import { InputError } from './errors.js';

/** One `loop_` table: column labels (with their leading underscore) and rows of raw strings. */
export interface StarLoop {
  columns: string[];
  rows: string[][];
  /** 1-based line number of the `loop_` keyword (0 for tables built in memory). */
  line: number;
}

/** One `data_` block. */
export interface StarBlock {
  /** Block name without the `data_` prefix (`data_` alone gives ''). */
  name: string;
  /** Non-loop `_key value` items, keys with their leading underscore. */
  pairs: Record<string, string>;
  /** Loop tables in file order (RELION writes at most one per block). */
  loops: StarLoop[];
}

export interface StarFile {
  blocks: StarBlock[];
}

/** What `writeStar` accepts for one block: pairs and/or loop tables. */
export interface StarBlockInput {
  name: string;
  pairs?: Record<string, string>;
  loops?: Array<{ columns: string[]; rows: string[][] }>;
}

interface Token {
  text: string;
  quoted: boolean;
}

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\v' || c === '\f';
}

/** Tokens of one line (comments dropped, quotes removed). */
function tokenizeLine(line: string, lineNo: number, file: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && isSpace(line[i])) i++;
    if (i >= n) break;
    const c = line[i];
    if (c === '#') break; // comment to end of line
    if (c === "'" || c === '"') {
      // Closing quote = same quote char followed by whitespace or end of line.
      let j = i + 1;
      while (j < n && !(line[j] === c && (j + 1 >= n || isSpace(line[j + 1])))) j++;
      if (j >= n) throw new InputError(file, `line ${lineNo}: unterminated ${c} quote`);
      out.push({ text: line.slice(i + 1, j), quoted: true });
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < n && !isSpace(line[j])) j++;
    out.push({ text: line.slice(i, j), quoted: false });
    i = j;
  }
  return out;
}

const RESERVED = /^(data_|loop_|save_|global_|stop_)/i;
/** Lines that can take the fast path: no quotes, no comments. */
const NEEDS_TOKENIZER = /['"#]/;

/** A `_key`, `data_`, `loop_` (etc.) token, i.e. one that ends a loop's data. */
function isStructural(t: Token): boolean {
  return !t.quoted && (t.text.startsWith('_') || RESERVED.test(t.text));
}

function blockLabel(name: string): string {
  return `block "data_${name}"`;
}

/** Incremental parser state, fed line by line. */
class StarParser {
  readonly blocks: StarBlock[] = [];
  private block: StarBlock | null = null;
  private loop: StarLoop | null = null;
  private loopHasData = false;
  private pendingKey: { key: string; line: number } | null = null;
  private lineVals: string[] = [];

  constructor(private readonly file: string) {}

  private where(line: number): string {
    return this.block ? `${blockLabel(this.block.name)}, line ${line}` : `line ${line}`;
  }

  /** Rows from the values of one data line: their count must be a multiple of the columns. */
  addRowValues(vals: string[], line: number): void {
    const loop = this.loop!;
    const ncol = loop.columns.length;
    if (vals.length % ncol !== 0) {
      throw new InputError(this.file, `${this.where(line)}: ragged row: ${vals.length} values, expected ${ncol} (one per column)`,
        { record: loop.rows.length });
    }
    for (let r = 0; r < vals.length; r += ncol) loop.rows.push(vals.length === ncol ? vals : vals.slice(r, r + ncol));
  }

  /** True when the current loop is reading data rows (fast path allowed). */
  inLoopData(): boolean {
    return this.loop !== null && this.loopHasData && this.pendingKey === null;
  }

  endLine(line: number): void {
    if (this.lineVals.length > 0) {
      const vals = this.lineVals;
      this.lineVals = [];
      this.addRowValues(vals, line);
    }
  }

  private endLoop(line: number): void {
    this.endLine(line);
    this.loop = null;
    this.loopHasData = false;
  }

  feed(t: Token, line: number): void {
    if (this.pendingKey !== null) {
      const { key, line: keyLine } = this.pendingKey;
      if (isStructural(t)) throw new InputError(this.file, `${this.where(keyLine)}: key ${key} has no value`);
      this.block!.pairs[key] = t.text;
      this.pendingKey = null;
      return;
    }
    if (this.loop !== null) {
      if (!this.loopHasData && !t.quoted && t.text.startsWith('_')) {
        this.loop.columns.push(t.text);
        return;
      }
      if (!isStructural(t)) {
        this.loopHasData = true;
        this.lineVals.push(t.text);
        return;
      }
      this.endLoop(line); // and handle t below
    }
    const lower = t.quoted ? '' : t.text.toLowerCase();
    if (lower.startsWith('data_')) {
      this.block = { name: t.text.slice(5), pairs: {}, loops: [] };
      this.blocks.push(this.block);
    } else if (lower === 'loop_') {
      if (this.block === null) throw new InputError(this.file, `line ${line}: loop_ before any data_ block`);
      this.loop = { columns: [], rows: [], line };
      this.block.loops.push(this.loop);
    } else if (!t.quoted && t.text.startsWith('_')) {
      if (this.block === null) throw new InputError(this.file, `line ${line}: "${t.text}" before any data_ block`);
      this.pendingKey = { key: t.text, line };
    } else if (RESERVED.test(lower)) {
      throw new InputError(this.file, `line ${line}: "${t.text}" frames are not supported`);
    } else {
      throw new InputError(this.file, `${this.where(line)}: unexpected value "${t.text}" outside a loop`);
    }
  }

  finish(lastLine: number): StarFile {
    if (this.pendingKey !== null) {
      throw new InputError(this.file, `${this.where(this.pendingKey.line)}: key ${this.pendingKey.key} has no value`);
    }
    if (this.loop !== null) this.endLoop(lastLine);
    for (const b of this.blocks) {
      for (const l of b.loops) {
        if (l.columns.length === 0) throw new InputError(this.file, `${blockLabel(b.name)}, line ${l.line}: loop_ without column labels`);
      }
    }
    return { blocks: this.blocks };
  }
}

/** Parse STAR text. `file` is used only in error messages. */
export function parseStar(text: string, file: string): StarFile {
  const lines = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split(/\r\n|\r|\n/);
  const p = new StarParser(file);
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li];
    const lineNo = li + 1;
    if (line.startsWith(';')) {
      // Multi-line text field: up to the next line that starts with ';'.
      const parts = [line.slice(1)];
      let end = li + 1;
      while (end < lines.length && !lines[end].startsWith(';')) parts.push(lines[end++]);
      if (end >= lines.length) throw new InputError(file, `line ${lineNo}: text field opened with ';' is never closed`);
      p.feed({ text: parts.join('\n'), quoted: true }, lineNo);
      li = end; // the closing ';' line; anything after the ';' is read as more tokens
      for (const t of tokenizeLine(lines[end].slice(1), end + 1, file)) p.feed(t, end + 1);
      p.endLine(end + 1);
      continue;
    }
    if (p.inLoopData() && !NEEDS_TOKENIZER.test(line)) {
      // Fast path for plain data rows (the bulk of a particle file).
      const trimmed = line.trim();
      if (trimmed === '') continue;
      if (trimmed[0] !== '_' && !RESERVED.test(trimmed)) {
        p.addRowValues(trimmed.split(/[ \t\v\f]+/), lineNo);
        continue;
      }
    }
    for (const t of tokenizeLine(line, lineNo, file)) p.feed(t, lineNo);
    p.endLine(lineNo);
  }
  return p.finish(lines.length);
}

/** Read and parse a STAR file. */
export function readStar(path: string): StarFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(path, `cannot read: ${(e as Error).message}`);
  }
  return parseStar(text, path);
}

/** The block with this name (without `data_`), or undefined. */
export function getBlock(star: StarFile, name: string): StarBlock | undefined {
  return star.blocks.find((b) => b.name === name);
}

/** Format one value so that `parseStar` reads it back unchanged. */
export function formatStarValue(v: string): string {
  const plain =
    v.length > 0 &&
    !/\s/.test(v) &&
    !/^['"_#;$]/.test(v) &&
    !/^(data_|loop_|save_|global_|stop_)/i.test(v);
  if (plain) return v;
  if (/[\r\n]/.test(v)) throw new Error(`STAR value with a line break cannot be written: ${JSON.stringify(v)}`);
  // A quote char inside the value is harmless unless it is followed by whitespace.
  if (!/"(\s|$)/.test(v)) return `"${v}"`;
  if (!/'(\s|$)/.test(v)) return `'${v}'`;
  throw new Error(`STAR value cannot be quoted: ${JSON.stringify(v)}`);
}

/** Render blocks as RELION 3.1 style STAR text (`# version 30001` before each block). */
export function formatStar(blocks: StarBlockInput[]): string {
  const out: string[] = [];
  for (const b of blocks) {
    out.push('', '# version 30001', '', `data_${b.name}`, '');
    const pairs = Object.entries(b.pairs ?? {});
    if (pairs.length > 0) {
      const w = Math.max(...pairs.map(([k]) => k.length));
      for (const [k, v] of pairs) out.push(`${k.padEnd(w)} ${formatStarValue(v)}`);
      out.push('');
    }
    for (const loop of b.loops ?? []) {
      out.push('loop_ ');
      loop.columns.forEach((c, j) => out.push(`${c} #${j + 1} `));
      const cells = loop.rows.map((row, r) => {
        if (row.length !== loop.columns.length) {
          throw new Error(`block data_${b.name}: row ${r} has ${row.length} values for ${loop.columns.length} columns`);
        }
        return row.map(formatStarValue);
      });
      const widths = loop.columns.map((_, j) => Math.max(0, ...cells.map((row) => row[j].length)));
      for (const row of cells) out.push(row.map((s, j) => s.padStart(widths[j])).join(' ') + ' ');
      out.push(' ');
    }
  }
  out.push('');
  return out.join('\n');
}

/** Write blocks to `path` atomically (RELION 3.1 style). */
export function writeStar(path: string, blocks: StarBlockInput[]): void {
  writeFileAtomic(path, formatStar(blocks));
}
