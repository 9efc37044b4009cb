import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseMmcif, parsePdb, readAtomicModel, elementFromAtomName, superposeByCa } from '../../src/sim/atomicModel.js';
import { InputError } from '../../src/io/errors.js';

const DATA = join(process.cwd(), '../shared/data/atomic_models_adk_and_misc');
const have = existsSync(DATA);

function pdbLine(rec: string, serial: number, name4: string, alt: string, res: string, chain: string, seq: number,
  x: number, y: number, z: number, el: string): string {
  return `${rec.padEnd(6)}${String(serial).padStart(5)} ${name4}${alt}${res.padStart(3)} ${chain}${String(seq).padStart(4)}    ` +
    `${x.toFixed(3).padStart(8)}${y.toFixed(3).padStart(8)}${z.toFixed(3).padStart(8)}  1.00  0.00          ${el.padStart(2)}`;
}

test('PDB: altlocs keep the first conformer, only MODEL 1, waters dropped, element from name', () => {
  const text = [
    'MODEL        1',
    pdbLine('ATOM', 1, ' N  ', ' ', 'ALA', 'A', 1, 1, 2, 3, 'N'),
    pdbLine('ATOM', 2, ' CA ', 'A', 'ALA', 'A', 1, 4, 5, 6, 'C'),
    pdbLine('ATOM', 3, ' CA ', 'B', 'ALA', 'A', 1, 40, 50, 60, 'C'),
    pdbLine('HETATM', 4, 'FE  ', ' ', 'HEM', 'A', 2, 7, 8, 9, '').slice(0, 66),
    pdbLine('HETATM', 5, ' O  ', ' ', 'HOH', 'A', 3, 0, 0, 0, 'O'),
    'ENDMDL',
    'MODEL        2',
    pdbLine('ATOM', 1, ' N  ', ' ', 'ALA', 'A', 1, 99, 99, 99, 'N'),
    'ENDMDL',
  ].join('\n');
  const m = parsePdb(text, 'x.pdb');
  assert.equal(m.atoms.length, 3);
  assert.deepEqual(m.atoms.map((a) => a.element), ['N', 'C', 'Fe']);
  assert.equal(m.atoms[1]!.xAngstrom, 4);
  assert.equal(m.atoms[2]!.zAngstrom, 9);
  assert.equal(parsePdb(text, 'x.pdb', { dropWaters: false }).atoms.length, 4);
  assert.equal(parsePdb(text, 'x.pdb', { proteinOnly: true }).atoms.length, 2);
});

test('PDB element inference from atom names follows column justification', () => {
  assert.equal(elementFromAtomName(' CA ', false), 'C');
  assert.equal(elementFromAtomName('CA  ', true), 'Ca');
  assert.equal(elementFromAtomName('1HB ', false), 'H');
  assert.equal(elementFromAtomName('HG21', false), 'H');
  assert.equal(elementFromAtomName(' OG1', false), 'O');
});

test('PDB: a bad coordinate is an InputError naming the line', () => {
  const text = ['REMARK x', pdbLine('ATOM', 1, ' N  ', ' ', 'ALA', 'A', 1, 1, 2, 3, 'N').replace('   1.000', '   1.0x0')].join('\n');
  assert.throws(() => parsePdb(text, 'bad.pdb'), (e: unknown) => e instanceof InputError && /line 2/.test(e.message) && /bad\.pdb/.test(e.message));
  assert.throws(() => parsePdb('HEADER only\n', 'empty.pdb'), InputError);
});

test('mmCIF: quoted values, text fields, first model, altlocs, chain filter', () => {
  const text = `data_TEST
_struct.title
;A multi-line title
with loop_ inside
;
_cell.length_a 1.0
loop_
_atom_site.group_PDB
_atom_site.id
_atom_site.type_symbol
_atom_site.label_atom_id
_atom_site.label_alt_id
_atom_site.label_comp_id
_atom_site.label_asym_id
_atom_site.Cartn_x
_atom_site.Cartn_y
_atom_site.Cartn_z
_atom_site.auth_seq_id
_atom_site.auth_asym_id
_atom_site.pdbx_PDB_model_num
ATOM 1 N N . GLY A 1.5 2.5 3.5 1 X 1
ATOM 2 C "CA" A GLY A 4.0 5.0 6.0 1 X 1
ATOM 3 C CA B GLY A 40 50 60 1 X 1
HETATM 4 ZN 'ZN' . ZN B 7 8 9 2 Y 1
ATOM 5 N N . GLY A 99 99 99 1 X 2
#
loop_
_other.x
1
`;
  const m = parseMmcif(text, 't.cif');
  assert.equal(m.atoms.length, 3);
  assert.deepEqual(m.atoms.map((a) => a.element), ['N', 'C', 'Zn']);
  assert.deepEqual(m.atoms.map((a) => a.chain), ['X', 'X', 'Y']);
  assert.equal(m.atoms[0]!.xAngstrom, 1.5);
  assert.equal(m.atoms[1]!.yAngstrom, 5);
  assert.equal(parseMmcif(text, 't.cif', { chains: ['Y'] }).atoms.length, 1);
  assert.equal(parseMmcif(text, 't.cif', { chains: ['A'] }).atoms.length, 2, 'label_asym_id also matches');
  assert.equal(parseMmcif(text, 't.cif', { proteinOnly: true }).atoms.length, 2);
  assert.throws(() => parseMmcif(text.replace('4.0 5.0', '4.0 abc'), 't.cif'),
    (e: unknown) => e instanceof InputError && /line 22/.test(e.message));
  assert.throws(() => parseMmcif(text.replace('ATOM 5 N N . GLY A 99 99 99 1 X 2', 'ATOM 5 N'), 't.cif'), InputError);
});

test('real models: atom counts and chains match gemmi (shared data)', { skip: !have && 'shared data absent' }, () => {
  const adkText = readFileSync(join(DATA, '4ake_mdanalysis.pdb'), 'utf8');
  const adk = readAtomicModel(join(DATA, '4ake_mdanalysis.pdb'), { dropWaters: false });
  assert.equal(adk.atoms.length, 3459);
  // The file stores 147 waters as ATOM records; the default drops them (B2 uses protein atoms only).
  const nWater = adkText.split('\n').filter((l) => l.startsWith('ATOM') && l.slice(17, 20) === 'HOH').length;
  assert.equal(nWater, 147);
  assert.equal(readAtomicModel(join(DATA, '4ake_mdanalysis.pdb')).atoms.length, 3459 - nWater);
  assert.equal(readAtomicModel(join(DATA, '4ake_mdanalysis.pdb'), { proteinOnly: true, dropWaters: false }).atoms.length, 3459 - nWater);
  assert.deepEqual([...new Set(adk.atoms.map((a) => a.chain))], ['A', 'B']);
  assert.equal(readAtomicModel(join(DATA, '4ake_mdanalysis.pdb'), { chains: ['A'] }).atoms.every((a) => a.chain === 'A'), true);
  // First ATOM record of the file, read independently of the parser.
  const first = adkText.split('\n').find((l) => l.startsWith('ATOM'))!;
  assert.equal(adk.atoms[0]!.xAngstrom, Number(first.slice(30, 38)));
  assert.equal(readAtomicModel(join(DATA, '1akeA.pdb')).atoms.length, 1651);
  const cif = readAtomicModel(join(DATA, '8zpm.cif'));
  assert.equal(cif.atoms.length, 3222);
  assert.deepEqual([...new Set(cif.atoms.map((a) => a.chain))].sort(), ['N', 'R']);
  // 82 HETATM (ligand + cholesterol) are not standard residues.
  assert.equal(readAtomicModel(join(DATA, '8zpm.cif'), { proteinOnly: true }).atoms.length, 3222 - 82);
  const chig = readAtomicModel(join(DATA, '1uao.pdb'));
  assert.equal(chig.atoms.length, 138);
  assert.equal(readAtomicModel(join(DATA, '1uao.pdb'), { dropHydrogens: true }).atoms.length, 138 - 61);
});

test('superposeByCa recovers a rigid motion exactly; closed vs open adenylate kinase ~7 A', () => {
  const ca = (i: number, x: number, y: number, z: number) =>
    pdbLine('ATOM', i, ' CA ', ' ', 'ALA', 'A', i, x, y, z, 'C');
  const pts = [[0, 0, 0], [3.8, 0, 0], [5, 3.6, 0], [4, 5, 3.3], [1, 7, 4]];
  const target = parsePdb(pts.map((p, i) => ca(i + 1, p[0]!, p[1]!, p[2]!)).join('\n'), 't.pdb');
  // Rotate by 90 degrees about z and translate: (x, y, z) -> (-y + 10, x - 4, z + 2).
  const mobile = parsePdb(pts.map((p, i) => ca(i + 1, -p[1]! + 10, p[0]! - 4, p[2]! + 2)).join('\n'), 'm.pdb');
  const s = superposeByCa(mobile, target);
  assert.equal(s.matched, 5);
  assert.ok(s.rmsdAngstrom < 1e-3, `rmsd ${s.rmsdAngstrom}`);
  s.model.atoms.forEach((a, i) => {
    assert.ok(Math.hypot(a.xAngstrom - pts[i]![0]!, a.yAngstrom - pts[i]![1]!, a.zAngstrom - pts[i]![2]!) < 1e-3);
  });
  assert.throws(() => superposeByCa(parsePdb(ca(1, 0, 0, 0), 'one.pdb'), target), InputError);
});

test('real: 1AKE chain A (closed) onto 4AKE chain A (open)', { skip: !have && 'shared data absent' }, () => {
  const closed = readAtomicModel(join(DATA, '1akeA.pdb'));
  const open = readAtomicModel(join(DATA, '4ake_mdanalysis.pdb'), { chains: ['A'] });
  const s = superposeByCa(closed, open);
  assert.equal(s.matched, 213);
  // Published C-alpha RMSDs between the closed and open crystal structures are about 7 A.
  assert.ok(s.rmsdAngstrom > 6.5 && s.rmsdAngstrom < 7.7, `rmsd ${s.rmsdAngstrom}`);
});
