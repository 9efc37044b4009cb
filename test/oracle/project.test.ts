/**
 * RELION tier: our projector (src/core/project.ts) against `relion_project` (RELION 3.1) on the
 * same volume, angles, origins and CTFs, for an even (64) and an odd (65) box; and against the
 * ASPIRE-Python RELION projection stacks in ../shared/data/aspire_70S_synthetic as a second
 * check of the angle and shift conventions. Skips when relion_project or the data is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareProjector, projectMany } from '../../src/core/project.js';
import { eulerToMatrix } from '../../src/core/rotation.js';
import type { CtfParams } from '../../src/core/ctf.js';
import { Rng } from '../../src/core/rng.js';

const hasRelion = spawnSync('relion_project', ['--version'], { encoding: 'utf8' }).status === 0;
const DATA = join(import.meta.dirname, '..', '..', '..', 'shared', 'data', 'aspire_70S_synthetic');
const VERBOSE = process.env.CRYOSPIN_ORACLE_VERBOSE === '1';

/** Minimal float32 MRC writer (volume) for feeding RELION. */
function writeMrcF32(path: string, data: Float32Array, nx: number, ny: number, nz: number, apix: number): void {
  const h = Buffer.alloc(1024);
  h.writeInt32LE(nx, 0); h.writeInt32LE(ny, 4); h.writeInt32LE(nz, 8); h.writeInt32LE(2, 12);
  h.writeInt32LE(nx, 28); h.writeInt32LE(ny, 32); h.writeInt32LE(nz, 36);
  h.writeFloatLE(nx * apix, 40); h.writeFloatLE(ny * apix, 44); h.writeFloatLE(nz * apix, 48);
  h.writeFloatLE(90, 52); h.writeFloatLE(90, 56); h.writeFloatLE(90, 60);
  h.writeInt32LE(1, 64); h.writeInt32LE(2, 68); h.writeInt32LE(3, 72);
  h.writeInt32LE(1, 88);
  h.write('MAP ', 208, 'latin1');
  h.writeUInt32LE(0x00004444, 212);
  writeFileSync(path, Buffer.concat([h, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

/** Minimal float32 MRC reader (mode 2, no axis permutation): returns nx, ny, nz and data. */
function readMrcF32(path: string): { nx: number; ny: number; nz: number; data: Float32Array } {
  const b = readFileSync(path);
  const nx = b.readInt32LE(0), ny = b.readInt32LE(4), nz = b.readInt32LE(8);
  assert.equal(b.readInt32LE(12), 2, `${path}: expected mode 2`);
  const off = 1024 + b.readInt32LE(92);
  const data = new Float32Array(nx * ny * nz);
  for (let i = 0; i < data.length; i++) data[i] = b.readFloatLE(off + 4 * i);
  return { nx, ny, nz, data };
}

function corr(a: Float32Array, b: Float32Array): number {
  let ma = 0, mb = 0;
  for (let i = 0; i < a.length; i++) { ma += a[i]!; mb += b[i]!; }
  ma /= a.length; mb /= b.length;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/** Least-squares scale s minimising |s·a - b|. */
function scaleOf(a: Float32Array, b: Float32Array): number {
  let ab = 0, aa = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i]! * b[i]!; aa += a[i]! * a[i]!; }
  return ab / aa;
}

/** A smooth test volume: random Gaussian blobs inside a sphere of radius D/3. */
function blobVolume(D: number, rng: Rng): Float32Array {
  const c = Math.floor(D / 2);
  const blobs = Array.from({ length: 12 }, () => ({
    m: [rng.range(-D / 4, D / 4), rng.range(-D / 4, D / 4), rng.range(-D / 4, D / 4)],
    s: rng.range(1.5, 3.5), w: rng.range(-0.5, 1),
  }));
  const v = new Float32Array(D ** 3);
  for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    let s = 0;
    for (const b of blobs) {
      s += b.w * Math.exp(-((x - c - b.m[0]!) ** 2 + (y - c - b.m[1]!) ** 2 + (z - c - b.m[2]!) ** 2) / (2 * b.s * b.s));
    }
    v[(z * D + y) * D + x] = s;
  }
  return v;
}

/** Circular shift: out[y][x] = img[y - sy][x - sx]. */
function roll(img: Float32Array, D: number, sx: number, sy: number): Float32Array {
  const out = new Float32Array(D * D);
  for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
    out[y * D + x] = img[((y - sy + D) % D) * D + ((x - sx + D) % D)]!;
  }
  return out;
}

interface Particle { rot: number; tilt: number; psi: number; ox: number; oy: number; ctf: CtfParams }

function runRelion(dir: string, vol: Float32Array, D: number, apix: number, parts: Particle[], withCtf: boolean): Float32Array {
  writeMrcF32(join(dir, 'vol.mrc'), vol, D, D, D, apix);
  // RELION 3.1 format (version 30001, optics + particles) so relion_project does not try to
  // convert a 3.0 file (which needs the images). RELION 3.1.3's relion_project reads the origin
  // from _rlnOriginXAngst/YAngst (it ignores a pixel _rlnOriginX here) and takes the CTF from the
  // particle table, so every CTF column is given per particle.
  const lines = [
    '# version 30001', 'data_optics', 'loop_', '_rlnOpticsGroup #1', '_rlnOpticsGroupName #2',
    '_rlnVoltage #3', '_rlnSphericalAberration #4', '_rlnAmplitudeContrast #5', '_rlnImagePixelSize #6',
    '_rlnImageSize #7', '_rlnImageDimensionality #8', `1 optics1 300 2.7 0.1 ${apix} ${D} 2`, '',
    '# version 30001', 'data_particles', 'loop_',
    '_rlnAngleRot #1', '_rlnAngleTilt #2', '_rlnAnglePsi #3', '_rlnOriginXAngst #4', '_rlnOriginYAngst #5',
    '_rlnDefocusU #6', '_rlnDefocusV #7', '_rlnDefocusAngle #8', '_rlnVoltage #9',
    '_rlnSphericalAberration #10', '_rlnAmplitudeContrast #11', '_rlnPhaseShift #12', '_rlnCtfBfactor #13',
    '_rlnOpticsGroup #14', '_rlnImageName #15',
  ];
  parts.forEach((p, i) => {
    const c = p.ctf;
    lines.push([p.rot, p.tilt, p.psi, p.ox * apix, p.oy * apix, c.defocusUAngstrom, c.defocusVAngstrom, c.defocusAngleDeg,
      c.voltageKv, c.csMm, c.amplitudeContrast, c.phaseShiftDeg, c.bFactor].map((v) => v.toFixed(6)).join(' ') +
      ` 1 ${i + 1}@none.mrcs`);
  });
  writeFileSync(join(dir, 'ang.star'), lines.join('\n') + '\n');
  const args = ['--i', 'vol.mrc', '--o', 'out', '--ang', 'ang.star', '--angpix', String(apix)];
  if (withCtf) args.push('--ctf');
  const r = spawnSync('relion_project', args, { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, `relion_project failed: ${r.stderr}`);
  const out = readMrcF32(join(dir, 'out.mrcs'));
  assert.equal(out.nx, D);
  assert.equal(out.nz, parts.length);
  return out.data;
}

for (const D of [64, 65]) {
  for (const withCtf of [false, true]) {
    test(`relion_project agrees with projectMany: D=${D}, shifts, ${withCtf ? 'with' : 'without'} CTF`, { skip: !hasRelion && 'relion_project not installed' }, () => {
      const rng = new Rng(100 + D);
      const apix = 2.5;
      const vol = blobVolume(D, rng);
      const parts: Particle[] = Array.from({ length: 6 }, (_, i) => ({
        rot: rng.range(-180, 180), tilt: rng.range(0, 180), psi: rng.range(-180, 180),
        ox: i === 0 ? 0 : rng.range(-5, 5), oy: i === 0 ? 0 : rng.range(-5, 5),
        ctf: {
          defocusUAngstrom: rng.range(8000, 20000), defocusVAngstrom: rng.range(8000, 20000),
          defocusAngleDeg: rng.range(-90, 90), voltageKv: 300, csMm: 2.7, amplitudeContrast: 0.1,
          phaseShiftDeg: i === 5 ? 30 : 0, bFactor: i === 4 ? 80 : 0,
        },
      }));
      const dir = mkdtempSync(join(tmpdir(), 'cryospin-oracle-'));
      try {
        const ref = runRelion(dir, vol, D, apix, parts, withCtf);
        const rots = new Float64Array(9 * parts.length);
        parts.forEach((p, b) => rots.set(eulerToMatrix(p.rot, p.tilt, p.psi), 9 * b));
        const ours = projectMany(prepareProjector(vol, D, 2), rots, {
          origins: parts.flatMap((p) => [p.ox, p.oy]),
          ctfs: withCtf ? parts.map((p) => p.ctf) : undefined,
          apixAngstrom: apix,
        });
        parts.forEach((_, b) => {
          let a = ours.subarray(b * D * D, (b + 1) * D * D);
          // RELION quirk for ODD boxes: relion_project's final inverse CenterFFT puts the image
          // centre at ceil(D/2) instead of floor(D/2), i.e. its output is our projection moved by
          // +1 pixel in x and y (an identity-rotation projection matches exactly after that roll).
          // cryospin keeps floor(D/2) everywhere (grid.ts, conventions.md); we compare after the roll.
          if (D % 2 === 1) {
            const unrolled = corr(a, ref.subarray(b * D * D, (b + 1) * D * D));
            a = roll(a, D, 1, 1);
            if (VERBOSE) console.log(`D=${D} image ${b}: corr without the +1 px roll ${unrolled.toFixed(4)}`);
          }
          const r = ref.subarray(b * D * D, (b + 1) * D * D);
          const c = corr(a, r);
          const s = scaleOf(a, r);
          if (VERBOSE) console.log(`D=${D} ctf=${withCtf} image ${b}: corr ${c.toFixed(6)} scale ${s.toFixed(5)}`);
          assert.ok(c >= 0.999, `image ${b}: correlation ${c}`);
          assert.ok(Math.abs(s - 1) < 0.01, `image ${b}: amplitude scale ${s}`);
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
}
