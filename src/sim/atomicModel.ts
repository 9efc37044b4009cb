/**
 * Atomic models: reads PDB (ATOM/HETATM records) and mmCIF (the `_atom_site` loop) into a flat
 * list of atoms with Cartesian coordinates in Angstrom, the element, chain and residue name.
 *
 * Rules (both formats): only the first model (PDB `MODEL 1` up to its `ENDMDL`; mmCIF the first
 * `pdbx_PDB_model_num` seen); alternate locations keep the first conformer listed for each atom;
 * options filter chains, keep only standard amino-acid residues, drop hydrogens and waters.
 * PDB elements come from columns 77-78, or, when those are blank, from the atom name (columns
 * 13-16, PDB justification rules). Malformed records throw InputError naming the line number.
 *
 * Hand-written because only a few fields are needed and the npm structure readers (Mol*, NGL)
 * are large viewer libraries; the mmCIF tokenizer here covers the CIF 1.1 lexical rules used by
 * PDB files (quoted strings, semicolon text fields, comments), not save frames or CIF 2 lists.
 */
import { readFileSync } from 'node:fs';
import { InputError } from '../io/errors.js';
import { nearestRotation } from '../core/rotation.js';

export interface Atom {
  xAngstrom: number;
  yAngstrom: number;
  zAngstrom: number;
  /** Element symbol, capitalised ("C", "Fe"). */
  element: string;
  /** Chain id (PDB column 22; mmCIF auth_asym_id, else label_asym_id). */
  chain: string;
  /** mmCIF label_asym_id when read from mmCIF (else equal to chain). */
  labelChain: string;
  resName: string;
  /** Residue number (PDB columns 23-26; mmCIF auth_seq_id, else label_seq_id); NaN if none. */
  resSeq: number;
  atomName: string;
  hetero: boolean;
}

export interface AtomicModel {
  file: string;
  atoms: Atom[];
}

export interface ReadModelOptions {
  /** Keep only these chains (matched against auth and label chain ids). */
  chains?: string[];
  /** Keep only standard amino-acid residues (default false). */
  proteinOnly?: boolean;
  /** Drop hydrogen and deuterium atoms (default false). */
  dropHydrogens?: boolean;
  /** Drop waters HOH/WAT/DOD/H2O (default true). */
  dropWaters?: boolean;
}

/** The 20 standard amino acids plus common variant names (selenomethionine, protonation states). */
export const STANDARD_RESIDUES: ReadonlySet<string> = new Set([
  'ALA', 'ARG', 'ASN', 'ASP', 'CYS', 'GLN', 'GLU', 'GLY', 'HIS', 'ILE',
  'LEU', 'LYS', 'MET', 'PHE', 'PRO', 'SER', 'THR', 'TRP', 'TYR', 'VAL',
  'MSE', 'SEC', 'PYL', 'HID', 'HIE', 'HIP', 'HSD', 'HSE', 'HSP', 'CYX',
]);

const WATERS: ReadonlySet<string> = new Set(['HOH', 'WAT', 'DOD', 'H2O', 'TIP', 'TIP3', 'SOL']);

/** Two-letter element symbols that can appear in biological models (for atom-name inference). */
const TWO_LETTER: ReadonlySet<string> = new Set([
  'FE', 'ZN', 'MG', 'CA', 'MN', 'CU', 'CO', 'NI', 'NA', 'CL', 'BR', 'SE', 'CD', 'HG', 'PT', 'AU',
  'AG', 'LI', 'AL', 'SI', 'GA', 'AS', 'RB', 'SR', 'MO', 'RU', 'RH', 'PD', 'SN', 'SB', 'CS', 'BA',
  'LA', 'GD', 'YB', 'W', 'OS', 'IR', 'PB', 'BI', 'TL', 'XE', 'KR', 'AR', 'NE', 'HE', 'BE', 'TB', 'EU',
]);

function capitalise(el: string): string {
  const t = el.trim();
  if (t.length === 0) return t;
  return t[0]!.toUpperCase() + t.slice(1).toLowerCase();
}

/** Element from a PDB atom name field (columns 13-16, untrimmed), used when columns 77-78 are blank. */
export function elementFromAtomName(name4: string, hetero: boolean): string {
  const padded = (name4 + '    ').slice(0, 4);
  const c0 = padded[0]!;
  const letters = padded.replace(/[^A-Za-z]/g, '').toUpperCase();
  if (letters.length === 0) return '';
  // Column 13 blank or a digit: a one-letter element in column 14 (" CA " is an alpha carbon).
  if (c0 === ' ' || (c0 >= '0' && c0 <= '9')) return capitalise(letters[0]!);
  // Column 13 used: a two-letter element for hetero groups ("FE  ", "CA  " calcium), otherwise
  // a left-justified name whose first letter is the element (e.g. "HG21" hydrogen in proteins).
  const two = letters.slice(0, 2);
  if (hetero && TWO_LETTER.has(two)) return capitalise(two);
  return capitalise(letters[0]!);
}

function keepAtom(a: Atom, opts: ReadModelOptions, chainSet: Set<string> | null): boolean {
  if (chainSet && !chainSet.has(a.chain) && !chainSet.has(a.labelChain)) return false;
  if ((opts.dropWaters ?? true) && WATERS.has(a.resName)) return false;
  if (opts.proteinOnly && !STANDARD_RESIDUES.has(a.resName)) return false;
  if (opts.dropHydrogens && (a.element === 'H' || a.element === 'D')) return false;
  return true;
}

function finish(file: string, atoms: Atom[], opts: ReadModelOptions): AtomicModel {
  const chainSet = opts.chains && opts.chains.length > 0 ? new Set(opts.chains) : null;
  const kept = atoms.filter((a) => keepAtom(a, opts, chainSet));
  if (kept.length === 0) {
    throw new InputError(file, `no atoms left after filtering (read ${atoms.length} atoms` +
      (chainSet ? `; chains asked: ${[...chainSet].join(',')}` : '') + ')');
  }
  return { file, atoms: kept };
}

function parseCoord(s: string, file: string, line: number, field: string): number {
  const v = Number(s.trim());
  if (s.trim() === '' || !Number.isFinite(v)) {
    throw new InputError(file, `expected a number, got "${s.trim()}"`, { record: `line ${line}`, field });
  }
  return v;
}

/** Parse PDB text (first model only). */
export function parsePdb(text: string, file: string, opts: ReadModelOptions = {}): AtomicModel {
  const lines = text.split(/\r?\n/);
  const atoms: Atom[] = [];
  const seenAlt = new Set<string>();
  let sawModel = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const rec = line.slice(0, 6);
    if (rec === 'MODEL ') {
      if (sawModel) break;
      sawModel = true;
      continue;
    }
    if (rec === 'ENDMDL') break;
    if (rec !== 'ATOM  ' && rec !== 'HETATM') continue;
    const lineNo = i + 1;
    if (line.length < 54) {
      throw new InputError(file, `ATOM/HETATM record too short (${line.length} columns, need >= 54)`, { record: `line ${lineNo}` });
    }
    const hetero = rec === 'HETATM';
    const name4 = line.slice(12, 16);
    const altLoc = line[16] ?? ' ';
    const resName = line.slice(17, 20).trim();
    const chain = (line[21] ?? ' ').trim();
    const resSeq = line.slice(22, 27);
    if (altLoc !== ' ') {
      const key = `${chain}|${resSeq}|${name4}`;
      if (seenAlt.has(key)) continue;
      seenAlt.add(key);
    }
    const x = parseCoord(line.slice(30, 38), file, lineNo, 'x (columns 31-38)');
    const y = parseCoord(line.slice(38, 46), file, lineNo, 'y (columns 39-46)');
    const z = parseCoord(line.slice(46, 54), file, lineNo, 'z (columns 47-54)');
    let element = capitalise(line.length >= 77 ? line.slice(76, 78) : '');
    if (element === '' || /[^A-Za-z]/.test(element)) element = elementFromAtomName(name4, hetero);
    if (element === '') {
      throw new InputError(file, `cannot determine the element of atom "${name4.trim()}"`, { record: `line ${lineNo}` });
    }
    atoms.push({ xAngstrom: x, yAngstrom: y, zAngstrom: z, element, chain, labelChain: chain, resName,
      resSeq: resSeq.slice(0, 4).trim() === '' ? NaN : Number(resSeq.slice(0, 4)), atomName: name4.trim(), hetero });
  }
  if (atoms.length === 0) throw new InputError(file, 'no ATOM/HETATM records found (is this a PDB file?)');
  return finish(file, atoms, opts);
}

interface CifToken {
  value: string;
  line: number;
  /** True when the token was quoted or a text field (so "loop_" etc. are values, not keywords). */
  quoted: boolean;
}

/** Tokenize CIF 1.1 text: whitespace-separated values, quotes, semicolon text fields, # comments. */
function* cifTokens(text: string, file: string): Generator<CifToken> {
  const n = text.length;
  let i = 0;
  let line = 1;
  let atLineStart = true;
  while (i < n) {
    const c = text[i]!;
    if (c === '\n') { line++; i++; atLineStart = true; continue; }
    if (c === ' ' || c === '\t' || c === '\r') { i++; atLineStart = false; continue; }
    if (c === '#') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === ';' && atLineStart) {
      const start = line;
      const end = text.indexOf('\n;', i + 1);
      if (end < 0) throw new InputError(file, 'unterminated semicolon text field', { record: `line ${start}` });
      const value = text.slice(i + 1, end);
      for (let k = i; k < end + 2; k++) if (text[k] === '\n') line++;
      i = end + 2;
      atLineStart = false;
      yield { value, line: start, quoted: true };
      continue;
    }
    atLineStart = false;
    if (c === "'" || c === '"') {
      // A quoted value ends at the same quote followed by whitespace or end of line.
      let j = i + 1;
      while (j < n) {
        if (text[j] === '\n') break;
        if (text[j] === c && (j + 1 >= n || /\s/.test(text[j + 1]!))) break;
        j++;
      }
      if (j >= n || text[j] !== c) throw new InputError(file, 'unterminated quoted string', { record: `line ${line}` });
      yield { value: text.slice(i + 1, j), line, quoted: true };
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < n && !/\s/.test(text[j]!)) j++;
    yield { value: text.slice(i, j), line, quoted: false };
    i = j;
  }
}

function isKeyword(t: CifToken): boolean {
  if (t.quoted) return false;
  const v = t.value.toLowerCase();
  return v.startsWith('_') || v === 'loop_' || v.startsWith('data_') || v.startsWith('save_') ||
    v === 'global_' || v === 'stop_';
}

/** Parse mmCIF text (the `_atom_site` loop; first model only). */
export function parseMmcif(text: string, file: string, opts: ReadModelOptions = {}): AtomicModel {
  let tags: string[] = [];
  const rows: CifToken[][] = [];
  {
    const it = cifTokens(text, file);
    let tok = it.next();
    let found = false;
    while (!tok.done && !found) {
      const t = tok.value;
      if (!t.quoted && t.value.toLowerCase() === 'loop_') {
        const loopTags: string[] = [];
        tok = it.next();
        while (!tok.done && !tok.value.quoted && tok.value.value.startsWith('_')) {
          loopTags.push(tok.value.value.toLowerCase());
          tok = it.next();
        }
        const isAtomSite = loopTags.length > 0 && loopTags[0]!.startsWith('_atom_site.');
        let row: CifToken[] = [];
        while (!tok.done && !isKeyword(tok.value)) {
          if (isAtomSite) {
            row.push(tok.value);
            if (row.length === loopTags.length) { rows.push(row); row = []; }
          }
          tok = it.next();
        }
        if (isAtomSite) {
          if (row.length !== 0) {
            throw new InputError(file, `_atom_site loop: ${row.length} values left over (expected a multiple of ${loopTags.length})`,
              { record: `line ${row[0]!.line}` });
          }
          tags = loopTags;
          found = true;
        }
        continue;
      }
      tok = it.next();
    }
  }
  if (tags.length === 0) throw new InputError(file, 'no _atom_site loop found (is this an mmCIF file?)');
  const col = (name: string): number => tags.indexOf(`_atom_site.${name}`);
  const cx = col('cartn_x'), cy = col('cartn_y'), cz = col('cartn_z');
  if (cx < 0 || cy < 0 || cz < 0) throw new InputError(file, '_atom_site loop lacks Cartn_x/y/z', { field: '_atom_site.Cartn_x' });
  const cType = col('type_symbol'), cGroup = col('group_pdb'), cModel = col('pdbx_pdb_model_num');
  const cAuthAsym = col('auth_asym_id'), cLabelAsym = col('label_asym_id');
  const cComp = col('label_comp_id') >= 0 ? col('label_comp_id') : col('auth_comp_id');
  const cAtom = col('label_atom_id') >= 0 ? col('label_atom_id') : col('auth_atom_id');
  const cAlt = col('label_alt_id');
  const cSeq = col('auth_seq_id') >= 0 ? col('auth_seq_id') : col('label_seq_id');
  const val = (r: CifToken[], c: number): string => {
    if (c < 0) return '';
    const v = r[c]!.value;
    return !r[c]!.quoted && (v === '.' || v === '?') ? '' : v;
  };
  const atoms: Atom[] = [];
  const seenAlt = new Set<string>();
  let firstModel: string | null = null;
  for (const r of rows) {
    const lineNo = r[0]!.line;
    const model = val(r, cModel);
    if (firstModel === null) firstModel = model;
    if (model !== firstModel) continue;
    const labelChain = val(r, cLabelAsym);
    const chain = val(r, cAuthAsym) || labelChain;
    const atomName = val(r, cAtom);
    const alt = val(r, cAlt);
    if (alt !== '') {
      const key = `${chain}|${val(r, cSeq)}|${atomName}`;
      if (seenAlt.has(key)) continue;
      seenAlt.add(key);
    }
    const num = (c: number, name: string): number => {
      const s = val(r, c);
      const v = Number(s);
      if (s === '' || !Number.isFinite(v)) {
        throw new InputError(file, `expected a number, got "${r[c]!.value}"`, { record: `line ${r[c]!.line}`, field: name });
      }
      return v;
    };
    const hetero = val(r, cGroup).toUpperCase() === 'HETATM';
    let element = capitalise(val(r, cType));
    if (element === '') element = elementFromAtomName(` ${atomName}`, hetero);
    if (element === '') throw new InputError(file, 'atom without type_symbol', { record: `line ${lineNo}`, field: '_atom_site.type_symbol' });
    atoms.push({
      xAngstrom: num(cx, '_atom_site.Cartn_x'), yAngstrom: num(cy, '_atom_site.Cartn_y'), zAngstrom: num(cz, '_atom_site.Cartn_z'),
      element, chain, labelChain: labelChain || chain, resName: val(r, cComp).toUpperCase(),
      resSeq: val(r, cSeq) === '' ? NaN : Number(val(r, cSeq)), atomName, hetero,
    });
  }
  if (atoms.length === 0) throw new InputError(file, '_atom_site loop is empty');
  return finish(file, atoms, opts);
}

/** Read a PDB or mmCIF file; the format is chosen by extension (.cif/.mmcif) or by content. */
export function readAtomicModel(path: string, opts: ReadModelOptions = {}): AtomicModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(path, `cannot read: ${e instanceof Error ? e.message : String(e)}`);
  }
  const lower = path.toLowerCase();
  const looksCif = lower.endsWith('.cif') || lower.endsWith('.mmcif') ||
    (!lower.endsWith('.pdb') && !lower.endsWith('.ent') && /^\s*data_/m.test(text.slice(0, 4096)) && text.includes('_atom_site.'));
  return looksCif ? parseMmcif(text, path, opts) : parsePdb(text, path, opts);
}

export interface Superposition {
  /** The mobile model, rotated and translated onto the target. */
  model: AtomicModel;
  /** C-alpha atoms matched by residue number (and chain when either model has several). */
  matched: number;
  /** RMSD of the matched C-alpha atoms after superposition, Angstrom. */
  rmsdAngstrom: number;
}

/**
 * Least-squares superposition (Kabsch; the rotation from rotation.nearestRotation, Horn's
 * quaternion method) of `mobile` onto `target` using their C-alpha atoms paired by residue
 * number, and by chain too unless each model has a single chain. Needs >= 3 pairs.
 */
export function superposeByCa(mobile: AtomicModel, target: AtomicModel): Superposition {
  const ca = (m: AtomicModel) => m.atoms.filter((a) => a.atomName === 'CA' && a.element === 'C' && Number.isFinite(a.resSeq));
  const cm = ca(mobile), ct = ca(target);
  const oneChain = new Set(cm.map((a) => a.chain)).size <= 1 && new Set(ct.map((a) => a.chain)).size <= 1;
  const key = (a: Atom) => (oneChain ? `${a.resSeq}` : `${a.chain}|${a.resSeq}`);
  const byKey = new Map(ct.map((a) => [key(a), a]));
  const pairs: Array<[Atom, Atom]> = [];
  for (const a of cm) { const b = byKey.get(key(a)); if (b) pairs.push([a, b]); }
  if (pairs.length < 3) {
    throw new InputError(mobile.file, `only ${pairs.length} C-alpha atoms pair with ${target.file} by residue number; cannot superpose`);
  }
  const mean = (k: 0 | 1) => {
    const m = [0, 0, 0];
    for (const p of pairs) { m[0] += p[k].xAngstrom; m[1] += p[k].yAngstrom; m[2] += p[k].zAngstrom; }
    return m.map((v) => v / pairs.length);
  };
  const pm = mean(0), pt = mean(1);
  // M = sum q p^T (q target, p mobile, both centred): R = argmax tr(R^T M).
  const M = new Float64Array(9);
  for (const [a, b] of pairs) {
    const p = [a.xAngstrom - pm[0]!, a.yAngstrom - pm[1]!, a.zAngstrom - pm[2]!];
    const q = [b.xAngstrom - pt[0]!, b.yAngstrom - pt[1]!, b.zAngstrom - pt[2]!];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) M[3 * i + j] += q[i]! * p[j]!;
  }
  const R = nearestRotation(M);
  const move = (a: Atom): Atom => {
    const x = a.xAngstrom - pm[0]!, y = a.yAngstrom - pm[1]!, z = a.zAngstrom - pm[2]!;
    return { ...a, xAngstrom: R[0]! * x + R[1]! * y + R[2]! * z + pt[0]!, yAngstrom: R[3]! * x + R[4]! * y + R[5]! * z + pt[1]!,
      zAngstrom: R[6]! * x + R[7]! * y + R[8]! * z + pt[2]! };
  };
  let ss = 0;
  for (const [a, b] of pairs) {
    const m = move(a);
    ss += (m.xAngstrom - b.xAngstrom) ** 2 + (m.yAngstrom - b.yAngstrom) ** 2 + (m.zAngstrom - b.zAngstrom) ** 2;
  }
  return { model: { file: mobile.file, atoms: mobile.atoms.map(move) }, matched: pairs.length, rmsdAngstrom: Math.sqrt(ss / pairs.length) };
}
