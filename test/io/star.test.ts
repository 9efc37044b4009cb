/**
 * STAR parser/writer tests: every STAR file in ../shared/data parses to the blocks, row counts and
 * column labels listed in its folder's PROVENANCE.md (an independent Python scan), plus quoting,
 * empty/one-row loops, block order, CRLF, ragged-row errors with line numbers, and write -> read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatStar, getBlock, parseStar, readStar, writeStar } from '../../src/io/star.js';
import { InputError } from '../../src/io/errors.js';

const DATA = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/data');
const haveData = existsSync(DATA);

interface ExpectedBlock { name: string; rows: number; cols: string[] }

/** Parse the "block data_X: rows=R cols(C)=a b c" listings of one PROVENANCE.md. */
function provenanceListings(folder: string): Map<string, ExpectedBlock[]> {
  const text = readFileSync(join(folder, 'PROVENANCE.md'), 'utf8');
  const out = new Map<string, ExpectedBlock[]>();
  let current: ExpectedBlock[] | null = null;
  for (const line of text.split('\n')) {
    const f = /^(\S+\.star): size=\d+/.exec(line);
    if (f) {
      current = [];
      out.set(f[1], current);
      continue;
    }
    const b = /^\s+block data_(\S*): rows=(\d+) cols\((\d+)\)=(.*)$/.exec(line);
    if (b && current) {
      const cols = b[4].trim().split(/\s+/).filter((s) => s.length > 0);
      assert.equal(cols.length, Number(b[3]));
      current.push({ name: b[1], rows: Number(b[2]), cols });
    } else if (!/^\s/.test(line)) {
      current = null;
    }
  }
  return out;
}

function findStarFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...findStarFiles(p));
    else if (e.name.endsWith('.star')) out.push(p);
  }
  return out;
}

test('every STAR file in shared/data matches its PROVENANCE.md listing', (t) => {
  if (!haveData) return t.skip('shared/data absent');
  const files = findStarFiles(DATA);
  assert.ok(files.length >= 25, `found ${files.length} STAR files`);
  let checkedBlocks = 0;
  for (const f of files) {
    // PROVENANCE lists files by name relative to the top folder (relion_tutorial/... by basename).
    const top = join(DATA, f.slice(DATA.length + 1).split('/')[0]);
    const listing = provenanceListings(top);
    const expected = listing.get(basename(f));
    assert.ok(expected, `no PROVENANCE listing for ${f}`);
    const star = readStar(f);
    assert.deepEqual(star.blocks.map((b) => b.name), expected.map((e) => e.name), f);
    star.blocks.forEach((b, i) => {
      const e = expected[i];
      if (b.loops.length > 0) {
        assert.equal(b.loops.length, 1, `${f} ${b.name}`);
        assert.equal(b.loops[0].rows.length, e.rows, `${f} ${b.name} rows`);
        assert.deepEqual(b.loops[0].columns, e.cols, `${f} ${b.name} columns`);
        for (const row of b.loops[0].rows) assert.equal(row.length, e.cols.length);
      } else {
        // The Python scan lists non-loop blocks as rows=0 with the keys as columns.
        assert.equal(e.rows, 0);
        assert.deepEqual(Object.keys(b.pairs), e.cols, `${f} ${b.name} keys`);
      }
      checkedBlocks++;
    });
  }
  assert.ok(checkedBlocks >= 45, `checked ${checkedBlocks} blocks`);
});

test('spot values from real files', (t) => {
  if (!haveData) return t.skip('shared/data absent');
  const pf = readStar(join(DATA, 'star_and_cs_formats/FinalRefinement-OriginalParticles-PfCRT.star'));
  const loop = pf.blocks[0].loops[0];
  const row4 = loop.rows[4];
  assert.equal(row4[loop.columns.indexOf('_rlnAngleRot')], '-115.40303');
  assert.equal(row4[loop.columns.indexOf('_rlnImageName')], '000005@Extract/job012/FinalRefinement-OriginalParticles-PfCRT.mrcs');
  const pp = readStar(join(DATA, 'star_and_cs_formats/postprocess.star'));
  assert.equal(getBlock(pp, 'general')?.pairs['_rlnFinalResolution'] !== undefined, true);
  const r5 = readStar(join(DATA, 'star_and_cs_formats/relion5.star'));
  const opt = getBlock(r5, 'optics')!.loops[0];
  assert.equal(opt.rows[0][opt.columns.indexOf('_rlnImageSize')], '448');
  assert.ok(opt.rows[0][opt.columns.indexOf('_rlnOddZernike')].startsWith('[0.0680480107376,'));
});

test('quoting: single, double, spaces, empty strings', (t) => {
  const s = parseStar(
    "data_\n\n_no_quote_string noquote\n_quote_string 'quote string'\n_whitespace_string ' '\n_empty_string ''\n_apos 'it's ok'\n",
    'mem.star',
  );
  assert.deepEqual(s.blocks[0].pairs, {
    _no_quote_string: 'noquote',
    _quote_string: 'quote string',
    _whitespace_string: ' ',
    _empty_string: '',
    _apos: "it's ok",
  });
  if (!haveData) return t.skip('shared/data absent');
  const d = readStar(join(DATA, 'star_and_cs_formats/loop_double_quote.star')).blocks[0].loops[0];
  assert.deepEqual(d.rows[0], ['noquote', 'quote string', ' ', '', '4.0', '5.0', '6.0', '']);
  assert.deepEqual(d.rows[1], ['noquote', 'quote string', ' ', '', 'noquote', '', '7.0', 'test']);
  const q = readStar(join(DATA, 'star_and_cs_formats/basic_single_quote.star')).blocks[0].pairs;
  assert.deepEqual(q, { _no_quote_string: 'noquote', _quote_string: 'quote string', _whitespace_string: ' ', _empty_string: '' });
});

test('empty loop, one-row loops, empty block name, CRLF, comments', () => {
  const e = parseStar('\ndata_\n\nloop_\n_rlnCoordinateX #1\n\n', 'e.star');
  assert.equal(e.blocks[0].name, '');
  assert.deepEqual(e.blocks[0].loops[0], { columns: ['_rlnCoordinateX'], rows: [], line: 4 });
  const crlf = parseStar('# hi\r\ndata_a\r\nloop_\r\n_x #1\r\n_y #2\r\n1 2 # trailing\r\n3 4\r\n\r\ndata_b\r\nloop_\r\n_z\r\nq', 'c.star');
  assert.deepEqual(crlf.blocks.map((b) => [b.name, b.loops[0].rows]), [
    ['a', [['1', '2'], ['3', '4']]],
    ['b', [['q']]],
  ]);
  // A loop ends at the next key; pairs and loops can share a block.
  const mixed = parseStar('data_m\nloop_\n_a\n1\n2\n_k v\n', 'm.star');
  assert.deepEqual(mixed.blocks[0].loops[0].rows, [['1'], ['2']]);
  assert.deepEqual(mixed.blocks[0].pairs, { _k: 'v' });
  // Multi-line text field.
  const semi = parseStar('data_s\n_t\n;line one\nline two\n;\n_u 5\n', 's.star');
  assert.deepEqual(semi.blocks[0].pairs, { _t: 'line one\nline two', _u: '5' });
});

test('blocks in either order', (t) => {
  if (!haveData) return t.skip('shared/data absent');
  const s = readStar(join(DATA, 'star_and_cs_formats/cryojax_test_starfile.star'));
  assert.deepEqual(s.blocks.map((b) => b.name), ['particles', 'optics']);
  const a = readStar(join(DATA, 'cryodrgn_relion31_real/relion31.star'));
  const b = readStar(join(DATA, 'cryodrgn_relion31_real/relion31.v2.star'));
  assert.deepEqual(getBlock(a, 'particles')!.loops[0].rows, getBlock(b, 'particles')!.loops[0].rows);
  assert.deepEqual(getBlock(a, 'optics')!.loops[0].rows, getBlock(b, 'optics')!.loops[0].rows);
});

test('ragged rows: InputError naming file, block and line', () => {
  const text = 'data_particles\n\nloop_\n_a #1\n_b #2\n_c #3\n1 2 3\n4 5\n6 7 8\n';
  assert.throws(
    () => parseStar(text, 'bad.star'),
    (e: unknown) => e instanceof InputError && e.file === 'bad.star' && /data_particles/.test(e.message) && /line 8\b/.test(e.message),
  );
  // Compensating ragged lines (5 + 1 values for 3 columns) are still refused, at the first bad line.
  assert.throws(() => parseStar('data_x\nloop_\n_a\n_b\n_c\n1 2 3 4 5\n6\n', 'r.star'), /line 6\b/);
  assert.throws(() => parseStar('data_x\nloop_\n_a\n_b\n1 2\n"x y" 2 3\n', 'q.star'), /line 6: ragged row: 3 values, expected 2/);
  assert.throws(() => parseStar("data_\n_k 'open\n", 'q.star'), /line 2: unterminated/);
  assert.throws(() => parseStar('data_\n_k\n', 'k.star'), /key _k has no value/);
});

test('write -> read round trip (quoting, alignment, pairs and loops)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'star-'));
  try {
    const blocks = [
      { name: 'general', pairs: { _rlnFinalResolution: '3.5', _rlnMaskName: 'my mask.mrc', _empty: '' } },
      {
        name: 'optics',
        loops: [{ columns: ['_rlnOpticsGroup', '_rlnOpticsGroupName', '_rlnVoltage'], rows: [['1', 'opticsGroup1', '300.000000']] }],
      },
      {
        name: 'particles',
        loops: [{
          columns: ['_rlnImageName', '_rlnNote', '_rlnAngleRot'],
          rows: [
            ['000001@Extract/a.mrcs', "it's two words", '-12.5'],
            ['000002@Extract/a.mrcs', '"quoted"', '7'],
            ['000003@Extract/a.mrcs', '_underscore', '#hash'],
            ['000004@Extract/a.mrcs', 'data_like', 'loop_'],
          ],
        }],
      },
      { name: '', loops: [{ columns: ['_x'], rows: [] }] },
    ];
    const path = join(dir, 'out.star');
    writeStar(path, blocks);
    const text = readFileSync(path, 'utf8');
    assert.match(text, /^\n# version 30001\n\ndata_general\n/);
    assert.match(text, /_rlnOpticsGroup #1 \n/);
    const back = readStar(path);
    assert.deepEqual(back.blocks.map((b) => b.name), ['general', 'optics', 'particles', '']);
    assert.deepEqual(back.blocks[0].pairs, blocks[0].pairs);
    for (const i of [1, 2, 3]) {
      assert.deepEqual(back.blocks[i].loops[0].columns, blocks[i].loops![0].columns);
      assert.deepEqual(back.blocks[i].loops[0].rows, blocks[i].loops![0].rows);
    }
    // Columns are aligned: every row line of the particles table has the same length.
    const lines = formatStar([blocks[2]]).split('\n').filter((l) => l.includes('@Extract'));
    assert.equal(new Set(lines.map((l) => l.length)).size, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
