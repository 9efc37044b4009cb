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
  line: number;
}

/** Split the text into value tokens with line numbers (comments dropped, quotes removed). */
function tokenize(text: string, file: string): Token[] {
  const lines = (text.charCodeAt(0) === 0xfeff ? text.slice(1) : text).split(/\r\n|\r|\n/);
  const tokens: Token[] = [];
  for (let li = 0; li < lines.length; li++) {
    const line = lines[li];
    const lineNo = li + 1;
    if (line.startsWith(';')) {
      // Multi-line text field: up to the next line that starts with ';'.
      const parts = [line.slice(1)];
      let end = li + 1;
      while (end < lines.length && !lines[end].startsWith(';')) parts.push(lines[end++]);
      if (end >= lines.length) throw new InputError(file, `line ${lineNo}: text field opened with ';' is never closed`);
      tokens.push({ text: parts.join('\n'), quoted: true, line: lineNo });
      li = end; // the closing ';' line; anything after the ';' on it is read as more tokens below
      const rest = lines[end].slice(1);
      tokenizeLine(rest, end + 1, tokens, file);
      continue;
    }
    tokenizeLine(line, lineNo, tokens, file);
  }
  return tokens;
}

function isSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\v' || c === '\f';
}

function tokenizeLine(line: string, lineNo: number, out: Token[], file: string): void {
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && isSpace(line[i])) i++;
    if (i >= n) break;
    const c = line[i];
    if (c === '#') return; // comment to end of line
    if (c === "'" || c === '"') {
      // Closing quote = same quote char followed by whitespace or end of line.
      let j = i + 1;
      while (j < n && !(line[j] === c && (j + 1 >= n || isSpace(line[j + 1])))) j++;
      if (j >= n) throw new InputError(file, `line ${lineNo}: unterminated ${c} quote`);
      out.push({ text: line.slice(i + 1, j), quoted: true, line: lineNo });
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < n && !isSpace(line[j])) j++;
    out.push({ text: line.slice(i, j), quoted: false, line: lineNo });
    i = j;
  }
}

function isKeyword(t: Token, word: string): boolean {
  return !t.quoted && t.text.toLowerCase() === word;
}

function isDataHeader(t: Token): boolean {
  return !t.quoted && t.text.toLowerCase().startsWith('data_');
}

function isLabel(t: Token): boolean {
  return !t.quoted && t.text.startsWith('_');
}

function blockLabel(name: string): string {
  return `block "data_${name}"`;
}

/** Parse STAR text. `file` is used only in error messages. */
export function parseStar(text: string, file: string): StarFile {
  const tokens = tokenize(text, file);
  const blocks: StarBlock[] = [];
  let block: StarBlock | null = null;
  let i = 0;
  const need = (t: Token): StarBlock => {
    if (block === null) throw new InputError(file, `line ${t.line}: "${t.text}" before any data_ block`);
    return block;
  };
  while (i < tokens.length) {
    const t = tokens[i];
    if (isDataHeader(t)) {
      block = { name: t.text.slice(5), pairs: {}, loops: [] };
      blocks.push(block);
      i++;
    } else if (isKeyword(t, 'loop_')) {
      const b = need(t);
      i = parseLoop(tokens, i + 1, t.line, b, file);
    } else if (isLabel(t)) {
      const b = need(t);
      const v = tokens[i + 1];
      if (v === undefined || (!v.quoted && (isLabel(v) || isDataHeader(v) || isKeyword(v, 'loop_')))) {
        throw new InputError(file, `${blockLabel(b.name)}, line ${t.line}: key ${t.text} has no value`);
      }
      b.pairs[t.text] = v.text;
      i += 2;
    } else if (!t.quoted && /^(save_|global_)/i.test(t.text)) {
      throw new InputError(file, `line ${t.line}: "${t.text}" frames are not supported`);
    } else {
      const where = block ? `${blockLabel(block.name)}, ` : '';
      throw new InputError(file, `${where}line ${t.line}: unexpected value "${t.text}" outside a loop`);
    }
  }
  return { blocks };
}

/** Read a loop starting at tokens[i] (first label); returns the index after the loop. */
function parseLoop(tokens: Token[], i: number, loopLine: number, block: StarBlock, file: string): number {
  const columns: string[] = [];
  while (i < tokens.length && isLabel(tokens[i])) columns.push(tokens[i++].text);
  if (columns.length === 0) throw new InputError(file, `${blockLabel(block.name)}, line ${loopLine}: loop_ without column labels`);
  const ncol = columns.length;
  const values: Token[] = [];
  while (i < tokens.length) {
    const t = tokens[i];
    if (!t.quoted && (isLabel(t) || isDataHeader(t) || isKeyword(t, 'loop_'))) break;
    values.push(t);
    i++;
  }
  // RELION rule: rows sit on whole lines. Check each line's value count.
  let k = 0;
  while (k < values.length) {
    const line = values[k].line;
    let m = k;
    while (m < values.length && values[m].line === line) m++;
    const count = m - k;
    if (count % ncol !== 0) {
      throw new InputError(
        file,
        `${blockLabel(block.name)}, line ${line}: ragged row: ${count} values, expected ${ncol} (one per column)`,
        { record: Math.floor(k / ncol) },
      );
    }
    k = m;
  }
  const rows: string[][] = [];
  for (let r = 0; r < values.length; r += ncol) {
    const row = new Array<string>(ncol);
    for (let c = 0; c < ncol; c++) row[c] = values[r + c].text;
    rows.push(row);
  }
  block.loops.push({ columns, rows, line: loopLine });
  return i;
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
